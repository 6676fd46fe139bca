"""Tracing: Tempo (single binary, local storage, retention) and the OpenTelemetry collector tenants send
OTLP to (``otel-collector.monitoring.svc:4317`` gRPC, ``:4318`` HTTP); every tenant environment may reach
the collector on those two ports and nothing else of the namespace."""

from __future__ import annotations

from typing import Any

from enclii_iac.models._base import StrictModel
from enclii_iac.services._plan import Context, Egress, Plan, Planned, helm_chart
from enclii_iac.services.versions import OTEL_COLLECTOR, TEMPO

OTLP_PORTS = (4317, 4318)
COLLECTOR_POD_LABELS = {"app.kubernetes.io/name": "opentelemetry-collector"}


def collector_endpoint(ctx: Context) -> str:
    """What tenants set as ``OTEL_EXPORTER_OTLP_ENDPOINT`` (gRPC)."""
    return f"http://otel-collector.{ctx.services.namespace}.svc.cluster.local:{OTLP_PORTS[0]}"


class TempoValues(StrictModel):
    fullname_override: str = "tempo"
    tempo: dict[str, Any]
    persistence: dict[str, Any]


class CollectorValues(StrictModel):
    """The values of the OpenTelemetry collector chart the layer sets (deployment mode, traces to Tempo)."""

    fullname_override: str = "otel-collector"
    mode: str = "deployment"
    replica_count: int = 1
    image: dict[str, str]
    resources: dict[str, dict[str, str]]
    ports: dict[str, dict[str, bool]]
    config: dict[str, Any]


def tempo_values(ctx: Context) -> TempoValues:
    tr = ctx.services.tracing
    return TempoValues(
        tempo={"retention": tr.retention, "reportingEnabled": False, "resources": tr.tempo.resources()},
        persistence={"enabled": True, "size": tr.storage, "storageClassName": "local-path"},
    )


def collector_values(ctx: Context) -> CollectorValues:
    tr = ctx.services.tracing
    tempo = f"tempo.{ctx.services.namespace}.svc.cluster.local:4317"
    return CollectorValues(
        image={"repository": "otel/opentelemetry-collector-k8s"},
        resources=tr.collector.resources(),
        ports={name: {"enabled": False} for name in ("jaeger-compact", "jaeger-thrift", "jaeger-grpc", "zipkin")},
        config={
            "receivers": {"otlp": {"protocols": {
                "grpc": {"endpoint": "${env:MY_POD_IP}:4317"}, "http": {"endpoint": "${env:MY_POD_IP}:4318"}}}},
            "processors": {"batch": {}, "memory_limiter": {"check_interval": "5s", "limit_percentage": 80,
                                                            "spike_limit_percentage": 25}},
            "exporters": {"otlp/tempo": {"endpoint": tempo, "tls": {"insecure": True}}},
            "service": {"pipelines": {
                "traces": {"receivers": ["otlp"], "processors": ["memory_limiter", "batch"],
                           "exporters": ["otlp/tempo"]},
            }},
        },
    )


def plan(ctx: Context) -> Plan:
    if not ctx.services.tracing.enabled:
        return Plan("tracing")
    ns = ctx.services.namespace
    tempo = helm_chart("tempo", TEMPO, ns, tempo_values(ctx).model_dump(mode="json", by_alias=True))
    collector = helm_chart("otel-collector", OTEL_COLLECTOR, ns,
                           collector_values(ctx).model_dump(mode="json", by_alias=True))
    return Plan(
        "tracing",
        [Planned("tempo", tempo, ("namespaces/monitoring",)),
         Planned("collector", collector, ("namespaces/monitoring", "tracing/tempo"))],
        egress=[Egress("otel-collector", ns, COLLECTOR_POD_LABELS, OTLP_PORTS)],
    )

"""The platform services spec: what runs in the cluster for every tenant (``PlatformSpec.services``).

Ingress (k3s's Traefik, configured as the tunnel's origin), monitoring (Prometheus Operator, Prometheus,
Alertmanager, node-exporter, kube-state-metrics), logging (Loki and a node log agent), Grafana with
dashboards as code, tracing (Tempo and an OpenTelemetry collector), KEDA and metrics-server. Each section has
``enabled``; sizes are requests and limits for one AX41 and the layer's total is checked against
``budget``. No Pulumi here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from enclii_iac.models._base import (
    CpuQuantity,
    DnsLabel,
    Duration,
    MemoryQuantity,
    StrictModel,
    cpu_millis,
    memory_bytes,
)
from enclii_iac.models.host import Cidr

if TYPE_CHECKING:
    from enclii_iac.models.platform import PlatformSpec

Operator = Literal["prometheus-operator", "keda", "traefik"]
"""Operators whose custom resources tenants use: ServiceMonitor/PrometheusRule, ScaledObject, IngressRoute."""


class Size(StrictModel):
    """Requests and limits of one component's container (every pod of the layer gets both)."""

    cpu: CpuQuantity = Field(description="CPU request.")
    memory: MemoryQuantity = Field(description="Memory request.")
    cpu_limit: CpuQuantity = Field(description="CPU limit.")
    memory_limit: MemoryQuantity = Field(description="Memory limit.")

    @model_validator(mode="after")
    def _limits_above_requests(self) -> Size:
        if cpu_millis(self.cpu_limit) < cpu_millis(self.cpu):
            raise ValueError(f"cpuLimit {self.cpu_limit} is below the request {self.cpu}")
        if memory_bytes(self.memory_limit) < memory_bytes(self.memory):
            raise ValueError(f"memoryLimit {self.memory_limit} is below the request {self.memory}")
        return self

    def resources(self) -> dict[str, dict[str, str]]:
        """The Kubernetes ``resources`` block."""
        return {
            "requests": {"cpu": self.cpu, "memory": self.memory},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


def _size(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Size:
    return Size(cpu=cpu, memory=memory, cpu_limit=cpu_limit, memory_limit=memory_limit)


class TraefikSpec(StrictModel):
    """k3s's packaged Traefik, reconfigured (``HelmChartConfig``) as the Cloudflare Tunnel's origin."""

    enabled: bool = Field(True, description="Configure k3s's Traefik. Default: on (k3s ships it).")
    access_logs: bool = Field(True, description="JSON access logs on stdout (collected into Loki). Default: on.")
    trusted_cidrs: list[Cidr] | None = Field(
        None,
        description="Sources whose X-Forwarded-* headers Traefik trusts: the pod network, which only cloudflared "
        "may reach Traefik from (the layer's NetworkPolicy). Default: the cluster's clusterCidr.",
    )
    size: Size = Field(default_factory=lambda: _size("100m", "128Mi", "1", "256Mi"))


class AlertmanagerSpec(StrictModel):
    """Alertmanager: one replica, its receiver a webhook whose URL is a Pulumi secret."""

    webhook_secret: str = Field(
        "alertWebhookUrl",
        pattern=r"^[A-Za-z][A-Za-z0-9]{0,62}$",
        description="Stack config key (enclii:<key>, a secret) holding the receiver's webhook URL (Slack, "
        "PagerDuty, ...). Unset: alerts go to a null receiver and `pulumi up` warns. Default: alertWebhookUrl.",
    )
    size: Size = Field(default_factory=lambda: _size("25m", "64Mi", "200m", "128Mi"))


class MonitoringSpec(StrictModel):
    """kube-prometheus-stack sized for one AX41."""

    enabled: bool = Field(True, description="Install Prometheus Operator and friends. Default: on.")
    retention: str = Field("15d", pattern=r"^[1-9][0-9]{0,4}(h|d|w|y)$",
                           description="How long Prometheus keeps samples (Prometheus units: h, d, w, y). "
                           "Default: 15d.")
    retention_size: MemoryQuantity = Field(
        "18Gi", description="Prometheus deletes the oldest blocks above this size. Default: 18Gi (of a 20Gi volume).")
    storage: MemoryQuantity = Field("20Gi", description="Prometheus volume (local-path). Default: 20Gi.")
    prometheus: Size = Field(default_factory=lambda: _size("250m", "1536Mi", "2", "3Gi"))
    operator: Size = Field(default_factory=lambda: _size("25m", "64Mi", "200m", "128Mi"))
    node_exporter: Size = Field(default_factory=lambda: _size("25m", "32Mi", "200m", "64Mi"))
    kube_state_metrics: Size = Field(default_factory=lambda: _size("25m", "64Mi", "200m", "128Mi"))
    alertmanager: AlertmanagerSpec = Field(default_factory=AlertmanagerSpec)

    @model_validator(mode="after")
    def _retention_fits(self) -> MonitoringSpec:
        if memory_bytes(self.retention_size) >= memory_bytes(self.storage):
            raise ValueError(f"retentionSize {self.retention_size} must be below storage {self.storage} (Prometheus "
                             "needs head room for the WAL and compaction)")
        return self


class LoggingSpec(StrictModel):
    """Loki (single binary, filesystem on the node) and Grafana Alloy tailing every pod's logs through the
    Kubernetes API."""

    enabled: bool = Field(True, description="Install Loki and the log agent. Default: on.")
    retention: Duration = Field("168h", description="How long logs are kept. Default: 168h (7 days).")
    storage: MemoryQuantity = Field("20Gi", description="Loki volume (local-path). Default: 20Gi.")
    loki: Size = Field(default_factory=lambda: _size("100m", "256Mi", "1", "1Gi"))
    agent: Size = Field(default_factory=lambda: _size("50m", "64Mi", "500m", "256Mi"))


class GrafanaSpec(StrictModel):
    """Grafana with datasources and dashboards as code (ConfigMaps the layer declares)."""

    enabled: bool = Field(True, description="Install Grafana. Default: on.")
    size: Size = Field(default_factory=lambda: _size("50m", "128Mi", "500m", "256Mi"))
    sidecar: Size = Field(default_factory=lambda: _size("10m", "48Mi", "100m", "96Mi"),
                          description="The dashboard sidecar (loads the dashboard ConfigMaps).")


class TracingSpec(StrictModel):
    """Tempo and the OpenTelemetry collector tenants send OTLP to."""

    enabled: bool = Field(True, description="Install Tempo and the collector. Default: on.")
    retention: Duration = Field("72h", description="How long traces are kept. Default: 72h.")
    storage: MemoryQuantity = Field("10Gi", description="Tempo volume (local-path). Default: 10Gi.")
    tempo: Size = Field(default_factory=lambda: _size("50m", "128Mi", "500m", "512Mi"))
    collector: Size = Field(default_factory=lambda: _size("50m", "96Mi", "500m", "256Mi"))


class KedaSpec(StrictModel):
    """KEDA (operator, metrics API server, admission webhooks)."""

    enabled: bool = Field(True, description="Install KEDA. Default: on.")
    size: Size = Field(default_factory=lambda: _size("50m", "96Mi", "500m", "256Mi"))


class MetricsServerSpec(StrictModel):
    """metrics-server, for HPAs: k3s ships one; the layer installs it only where the cluster disables k3s's."""

    size: Size = Field(default_factory=lambda: _size("50m", "64Mi", "500m", "128Mi"))


class BudgetSpec(StrictModel):
    """The share of one node's allocatable the platform's own requests may take (checked at validation)."""

    cpu_fraction: float = Field(0.25, gt=0, le=1, description="Default: a quarter of the node's CPU.")
    memory_fraction: float = Field(0.25, gt=0, le=1, description="Default: a quarter of the node's memory.")
    node_cpu: CpuQuantity = Field("12", description="The node the budget is for. Default: an AX41 (12 threads).")
    node_memory: MemoryQuantity = Field("64Gi", description="Default: an AX41 (64Gi).")


class ServicesSpec(StrictModel):
    """The platform's in-cluster services, installed after the cluster and before any tenant."""

    namespace: DnsLabel = Field("monitoring", description="Namespace of Prometheus, Grafana, Loki, Tempo and the "
                                "collector. Default: monitoring.")
    node_namespace: DnsLabel = Field(
        "monitoring-node", description="Namespace of the node agents (node-exporter, the log agent), the only one "
        "of the layer with Pod Security 'privileged' (they read the host). Default: monitoring-node.")
    keda_namespace: DnsLabel = Field("keda", description="Namespace of KEDA. Default: keda.")
    ingress: TraefikSpec = Field(default_factory=TraefikSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    logging: LoggingSpec = Field(default_factory=LoggingSpec)
    grafana: GrafanaSpec = Field(default_factory=GrafanaSpec)
    tracing: TracingSpec = Field(default_factory=TracingSpec)
    keda: KedaSpec = Field(default_factory=KedaSpec)
    metrics_server: MetricsServerSpec = Field(default_factory=MetricsServerSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    existing_operators: list[Operator] = Field(
        default_factory=list,
        description="Operators an existing cluster (spec.cluster: null) already runs; there the layer installs "
        "nothing and a tenant feature whose operator is not listed is refused. Ignored when the platform manages "
        "the cluster. Default: none.",
    )

    @model_validator(mode="after")
    def _namespaces_differ(self) -> ServicesSpec:
        names = [self.namespace, self.node_namespace, self.keda_namespace]
        if len(set(names)) != len(names):
            raise ValueError(f"namespace, nodeNamespace and kedaNamespace must differ (got {names})")
        if "kube-system" in names:
            raise ValueError("the layer's namespaces cannot be kube-system")
        return self

    @model_validator(mode="after")
    def _grafana_has_sources(self) -> ServicesSpec:
        if self.grafana.enabled and not self.monitoring.enabled:
            raise ValueError("grafana.enabled needs monitoring.enabled (its dashboards query Prometheus)")
        if self.tracing.enabled and not self.monitoring.enabled:
            raise ValueError("tracing.enabled needs monitoring.enabled (the collector is scraped by Prometheus)")
        return self


FEATURE_OPERATORS: dict[str, Operator] = {
    "spec.metrics": "prometheus-operator",
    "spec.slo": "prometheus-operator",
    "spec.autoscale.keda": "keda",
    "spec.deploy.canary": "traefik",
}
"""Tenant service fields → the operator whose custom resource they declare (ServiceMonitor, PrometheusRule,
ScaledObject, IngressRoute + TraefikService)."""

_ENABLE = {"prometheus-operator": "services.monitoring.enabled", "keda": "services.keda.enabled",
           "traefik": "services.ingress.enabled"}


def operator_available(spec: PlatformSpec, op: Operator) -> bool:
    """Whether the cluster of ``spec`` will run ``op``: the layer installs it (a managed cluster with that
    section enabled) or the existing cluster lists it in ``services.existingOperators``."""
    s = spec.services
    if spec.cluster is not None:
        return {"prometheus-operator": s.monitoring.enabled, "keda": s.keda.enabled,
                "traefik": s.ingress.enabled}[op]
    return op in s.existing_operators


def operator_issues(
    services: ServicesSpec, tenants: dict[str, object], *, managed_cluster: bool
) -> list[tuple[tuple[str | int, ...], str]]:
    """Tenant features whose operator the cluster will not have, each at the feature's field path.

    On a cluster the platform manages the layer installs an operator unless its section is disabled; on an
    existing cluster (``spec.cluster: null``) only ``services.existingOperators`` are there. A feature without
    its operator would be declared only to fail at ``pulumi up`` with "no matches for kind", so it is refused
    here instead.
    """
    from enclii_iac.models.tenant import ProjectSpec

    if managed_cluster:  # traefik counts as off when the cluster disables k3s's (see platform_services_issues)
        available = {op for op, on in (("prometheus-operator", services.monitoring.enabled),
                                       ("keda", services.keda.enabled), ("traefik", services.ingress.enabled)) if on}
    else:
        available = set(services.existing_operators)
    issues: list[tuple[tuple[str | int, ...], str]] = []
    for project, pspec in sorted(tenants.items()):
        assert isinstance(pspec, ProjectSpec)
        for svc_name, svc in sorted(pspec.services.items()):
            used: dict[str, bool] = {
                "spec.metrics": svc.metrics is not None and svc.listen_port is not None,
                "spec.slo": svc.slo is not None,
                "spec.autoscale.keda": svc.autoscale is not None and bool(svc.autoscale.keda),
                "spec.deploy.canary": svc.deploy.strategy == "canary" and bool(svc.routes),
            }
            for field, on in used.items():
                op = FEATURE_OPERATORS[field]
                if not on or op in available:
                    continue
                if managed_cluster:
                    fix = f"enable {_ENABLE[op]} or drop the feature"
                else:
                    fix = (f"the existing cluster runs no {op} (services.existingOperators lists "
                           f"{sorted(available) or 'none'}); install it and add {op!r} there, or drop the feature")
                path = ("tenants", project, "services", svc_name, *field.split(".")[1:])
                issues.append((path, f"{field.removeprefix('spec.')} needs {op}: {fix}"))
    return issues


def service_requests(services: ServicesSpec, disabled: frozenset[str] = frozenset()) -> list[tuple[str, int, Size]]:
    """``(component, pods, size)`` of every pod the layer runs on the node (what its budget sums)."""
    s = services
    out: list[tuple[str, int, Size]] = []
    if s.ingress.enabled and "traefik" not in disabled:
        out.append(("traefik (k3s)", 1, s.ingress.size))
    if s.monitoring.enabled:
        m = s.monitoring
        out += [("prometheus", 1, m.prometheus), ("prometheus-operator", 1, m.operator),
                ("alertmanager", 1, m.alertmanager.size), ("node-exporter", 1, m.node_exporter),
                ("kube-state-metrics", 1, m.kube_state_metrics)]
    if s.logging.enabled:
        out += [("loki", 1, s.logging.loki), ("alloy (log agent)", 1, s.logging.agent)]
    if s.grafana.enabled:
        out += [("grafana", 1, s.grafana.size), ("grafana dashboard sidecar", 1, s.grafana.sidecar)]
    if s.tracing.enabled:
        out += [("tempo", 1, s.tracing.tempo), ("otel-collector", 1, s.tracing.collector)]
    if s.keda.enabled:
        out.append(("keda (operator, metrics server, webhooks)", 3, s.keda.size))
    if "metrics-server" in disabled:
        out.append(("metrics-server", 1, s.metrics_server.size))
    return out


def budget_totals(services: ServicesSpec, disabled: frozenset[str] = frozenset()) -> tuple[int, int]:
    """(CPU millicores, memory bytes) the layer requests in total."""
    rows = service_requests(services, disabled)
    return (sum(n * cpu_millis(size.cpu) for _, n, size in rows),
            sum(n * memory_bytes(size.memory) for _, n, size in rows))


def platform_services_issues(spec: object) -> list[tuple[tuple[str | int, ...], str]]:
    """Every problem of ``spec.services`` against the rest of the platform spec (a PlatformSpec)."""
    from enclii_iac.models.platform import PlatformSpec

    assert isinstance(spec, PlatformSpec)
    managed = spec.cluster is not None
    disabled = frozenset(spec.cluster.disabled_components) if spec.cluster is not None else frozenset()
    s = spec.services
    if managed and "traefik" in disabled and s.ingress.enabled:
        s = s.model_copy(update={"ingress": s.ingress.model_copy(update={"enabled": False})})
    issues = operator_issues(s, dict(spec.tenants), managed_cluster=managed)
    if spec.metering.enabled and spec.stage == "production" and not operator_available(spec, "prometheus-operator"):
        fix = ("enable services.monitoring.enabled" if managed else
               "install it on the existing cluster and add 'prometheus-operator' to services.existingOperators")
        issues.append((("metering", "enabled"), "usage metering declares a ServiceMonitor and a PrometheusRule, "
                                                f"which need prometheus-operator: {fix}, or turn metering off"))
    if managed:
        cpu, mem = budget_totals(s, disabled)
        b = s.budget
        cpu_cap, mem_cap = cpu_millis(b.node_cpu) * b.cpu_fraction, memory_bytes(b.node_memory) * b.memory_fraction
        if cpu > cpu_cap:
            issues.append((("services", "budget", "cpuFraction"),
                           f"the platform's services request {cpu}m CPU, above {b.cpu_fraction:g} of {b.node_cpu} "
                           f"({cpu_cap:.0f}m); lower their sizes or raise the fraction"))
        if mem > mem_cap:
            issues.append((("services", "budget", "memoryFraction"),
                           f"the platform's services request {mem // 2**20}Mi memory, above {b.memory_fraction:g} "
                           f"of {b.node_memory} ({mem_cap / 2**20:.0f}Mi); lower their sizes or raise the fraction"))
    return issues

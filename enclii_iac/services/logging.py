"""Logging: Loki (single binary, filesystem on the node, retention) and Grafana Alloy tailing every pod's logs
through the Kubernetes API (no host mounts, so it runs under the observability namespace's Pod Security)."""

from __future__ import annotations

from typing import Any

from enclii_iac.models._base import StrictModel
from enclii_iac.services._plan import Context, Plan, Planned, helm_chart
from enclii_iac.services.versions import ALLOY, LOKI

LOKI_PORT = 3100


def loki_url(ctx: Context) -> str:
    return f"http://loki.{ctx.services.namespace}.svc.cluster.local:{LOKI_PORT}"


class LokiValues(StrictModel):
    """The values of the Loki chart the layer sets (single binary, no caches, no gateway, no canary)."""

    deployment_mode: str = "SingleBinary"
    fullname_override: str = "loki"
    loki: dict[str, Any]
    single_binary: dict[str, Any]
    backend: dict[str, int]
    read: dict[str, int]
    write: dict[str, int]
    chunks_cache: dict[str, bool]
    results_cache: dict[str, bool]
    gateway: dict[str, bool]
    loki_canary: dict[str, bool]
    test: dict[str, bool]


class AlloyValues(StrictModel):
    """The values of the Alloy chart the layer sets."""

    fullname_override: str = "alloy-logs"
    controller: dict[str, Any]
    alloy: dict[str, Any]


def loki_values(ctx: Context) -> LokiValues:
    log = ctx.services.logging
    zero = {"replicas": 0}
    off = {"enabled": False}
    return LokiValues(
        loki={
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "storage": {"type": "filesystem"},
            "schemaConfig": {"configs": [{"from": "2024-04-01", "store": "tsdb", "object_store": "filesystem",
                                          "schema": "v13", "index": {"prefix": "index_", "period": "24h"}}]},
            "limits_config": {"retention_period": log.retention},
            "compactor": {"retention_enabled": True, "delete_request_store": "filesystem"},
        },
        single_binary={"replicas": 1, "resources": log.loki.resources(),
                       "persistence": {"size": log.storage, "storageClass": "local-path"}},
        backend=zero, read=zero, write=zero,
        chunks_cache=off, results_cache=off, gateway=off, loki_canary=off, test=off,
    )


def alloy_config(ctx: Context) -> str:
    """Alloy's configuration: every pod's logs, labelled with namespace, pod and container, pushed to Loki."""
    return "\n".join([
        'discovery.kubernetes "pods" {',
        '  role = "pod"',
        "}",
        'discovery.relabel "pods" {',
        "  targets = discovery.kubernetes.pods.targets",
        *(f'  rule {{\n    source_labels = ["__meta_kubernetes_{src}"]\n    target_label  = "{dst}"\n  }}'
          for src, dst in (("namespace", "namespace"), ("pod_name", "pod"), ("pod_container_name", "container"))),
        "}",
        'loki.source.kubernetes "pods" {',
        "  targets    = discovery.relabel.pods.output",
        "  forward_to = [loki.write.default.receiver]",
        "}",
        'loki.write "default" {',
        "  endpoint {",
        f'    url = "{loki_url(ctx)}/loki/api/v1/push"',
        "  }",
        "}",
        "",
    ])


def alloy_values(ctx: Context) -> AlloyValues:
    return AlloyValues(
        controller={"type": "deployment", "replicas": 1},
        alloy={"configMap": {"create": True, "content": alloy_config(ctx)},
               "resources": ctx.services.logging.agent.resources(),
               "mounts": {"varlog": False, "dockercontainers": False}},
    )


def plan(ctx: Context) -> Plan:
    if not ctx.services.logging.enabled:
        return Plan("logging")
    ns = ctx.services.namespace
    loki = helm_chart("loki", LOKI, ns, loki_values(ctx).model_dump(mode="json", by_alias=True))
    alloy = helm_chart("alloy-logs", ALLOY, ns, alloy_values(ctx).model_dump(mode="json", by_alias=True))
    return Plan("logging", [
        Planned("loki", loki, ("namespaces/monitoring",)),
        Planned("agent", alloy, ("namespaces/monitoring", "logging/loki")),
    ])

"""Monitoring: kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, node-exporter,
kube-state-metrics) sized for one AX41, its CRDs declared from the pinned operator version.

The chart runs with ``crds.enabled: false``: the operator's CRDs (v0.85.0, ``crds/``) are Pulumi resources,
so every ServiceMonitor and PrometheusRule (the tenants' and the layer's) depends on the CRD it needs.
Alertmanager's configuration is a Secret whose receiver URL is the Pulumi secret ``enclii:alertWebhookUrl``.
Prometheus selects every ServiceMonitor, PodMonitor and PrometheusRule of the cluster (tenants included).
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import Field

from enclii_iac.models._base import StrictModel
from enclii_iac.services._plan import Context, Plan, Planned, crd_objects, helm_chart, labels
from enclii_iac.services.versions import KUBE_PROMETHEUS_STACK

GROUP = "monitoring.coreos.com"
RELEASE = "kube-prometheus-stack"
ALERTMANAGER_SECRET = "alertmanager-config"
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}
"""Labels the operator puts on Prometheus's pods (who may scrape tenants)."""


class PrometheusSpecValues(StrictModel):
    replicas: int = 1
    retention: str
    retention_size: str
    resources: dict[str, dict[str, str]]
    storage_spec: dict[str, Any]
    service_monitor_selector_nil_uses_helm_values: bool = False
    pod_monitor_selector_nil_uses_helm_values: bool = False
    rule_selector_nil_uses_helm_values: bool = False
    probe_selector_nil_uses_helm_values: bool = False
    scrape_config_selector_nil_uses_helm_values: bool = False


class AlertmanagerSpecValues(StrictModel):
    replicas: int = 1
    config_secret: str = ALERTMANAGER_SECRET
    resources: dict[str, dict[str, str]]


class KubePrometheusStackValues(StrictModel):
    """The values of kube-prometheus-stack the layer sets, typed (the chart's defaults keep the rest)."""

    crds: dict[str, bool] = Field(default_factory=lambda: {"enabled": False})
    fullname_override: str = "kps"
    grafana: dict[str, bool] = Field(default_factory=lambda: {"enabled": False})
    kube_etcd: dict[str, bool] = Field(default_factory=lambda: {"enabled": False})
    kube_scheduler: dict[str, bool] = Field(default_factory=lambda: {"enabled": False})
    kube_controller_manager: dict[str, bool] = Field(default_factory=lambda: {"enabled": False})
    kube_proxy: dict[str, bool] = Field(default_factory=lambda: {"enabled": False})
    prometheus_operator: dict[str, Any]
    prometheus: dict[str, PrometheusSpecValues]
    alertmanager: dict[str, AlertmanagerSpecValues]
    prometheus_node_exporter: dict[str, Any] = Field(alias="prometheus-node-exporter")
    kube_state_metrics: dict[str, Any] = Field(alias="kube-state-metrics")


def values(ctx: Context) -> KubePrometheusStackValues:
    mon = ctx.services.monitoring
    volume = {"volumeClaimTemplate": {"spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
        "resources": {"requests": {"storage": mon.storage}}}}}
    return KubePrometheusStackValues(
        prometheus_operator={
            # the CRD schemas validate custom resources; no webhook (and no certificate jobs) to keep running
            "admissionWebhooks": {"enabled": False},
            "tls": {"enabled": False},
            "resources": mon.operator.resources(),
        },
        prometheus={"prometheusSpec": PrometheusSpecValues(
            retention=mon.retention, retention_size=prometheus_size(mon.retention_size),
            resources=mon.prometheus.resources(), storage_spec=volume)},
        alertmanager={"alertmanagerSpec": AlertmanagerSpecValues(resources=mon.alertmanager.size.resources())},
        **{
            "prometheus-node-exporter": {"namespaceOverride": ctx.services.node_namespace,
                                         "resources": mon.node_exporter.resources()},
            "kube-state-metrics": {"resources": mon.kube_state_metrics.resources()},
        },
    )


def prometheus_size(quantity: str) -> str:
    """A Kubernetes memory quantity (``18Gi``) in Prometheus's size units (``18GB``, which are powers of 2)."""
    for suffix in ("Ki", "Mi", "Gi", "Ti"):
        if quantity.endswith(suffix):
            return quantity[: -len(suffix)] + suffix[0] + "B"
    return quantity + "B"


def alertmanager_config(webhook_url: str | None) -> dict[str, str]:
    """``alertmanager.yaml`` routing every alert to the webhook (none: to a receiver that drops them)."""
    default: dict[str, Any] = {"name": "default"}
    if webhook_url:
        default["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
    config = {
        "route": {"receiver": "default", "group_by": ["alertname", "namespace"], "group_wait": "30s",
                  "group_interval": "5m", "repeat_interval": "4h",
                  "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]},
        "receivers": [default, {"name": "null"}],
    }
    return {"alertmanager.yaml": yaml.safe_dump(config, sort_keys=True)}


def traefik_monitor() -> dict[str, Any]:
    """Scrape k3s's Traefik: the tenants' SLO alerts are written on its request metrics."""
    return {
        "apiVersion": f"{GROUP}/v1", "kind": "ServiceMonitor",
        "metadata": {"name": "traefik", "namespace": "kube-system", "labels": labels("monitoring")},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
            "namespaceSelector": {"matchNames": ["kube-system"]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
        },
    }


def plan(ctx: Context) -> Plan:
    mon = ctx.services.monitoring
    if not mon.enabled:
        return Plan("monitoring")
    crds, groups = crd_objects([GROUP], (), ctx.protect)
    ns = ctx.services.namespace
    secret = {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": ALERTMANAGER_SECRET, "namespace": ns, "labels": labels("alertmanager")},
        "stringData": alertmanager_config(None),
    }
    crd_refs = tuple(f"monitoring/{k}" for keys in groups.values() for k in keys)
    chart = helm_chart(RELEASE, KUBE_PROMETHEUS_STACK, ns, values(ctx).model_dump(mode="json", by_alias=True))
    objects = [
        *crds,
        Planned("alertmanager-config", secret, ("namespaces/monitoring",),
                secret_input=mon.alertmanager.webhook_secret, secret_render=alertmanager_config),
        Planned("chart", chart, ("namespaces/monitoring", "namespaces/node", "monitoring/alertmanager-config",
                                 *crd_refs)),
    ]
    if ctx.services.ingress.enabled and "traefik" not in ctx.disabled:
        monitor_crd = tuple(f"monitoring/{k}" for k in groups[f"{GROUP}/ServiceMonitor"])
        objects.append(Planned("traefik-monitor", traefik_monitor(), monitor_crd))
    return Plan("monitoring", objects, crd_groups=groups, scrape=(ns, PROMETHEUS_POD_LABELS))


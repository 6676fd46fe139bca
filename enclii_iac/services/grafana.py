"""Grafana with datasources (Prometheus, Loki, Tempo) and dashboards as code.

Three dashboards, each a ConfigMap the chart's sidecar loads (label ``grafana_dashboard: "1"``): platform
health (node, pods, scrape targets), tenants (per namespace: requests, errors, p95 latency from Traefik's
metrics, and CPU/memory saturation against requests and limits) and tenants' SLOs (one row per service
that declares ``slo``: the objective next to what was measured over its window). Dashboards are plain JSON
built here, deterministic (keys sorted), so a change shows up in review and in the golden files.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from enclii_iac.models._base import StrictModel, duration_seconds
from enclii_iac.render import kube as m
from enclii_iac.services._plan import Context, Plan, Planned, helm_chart, labels
from enclii_iac.services.logging import loki_url
from enclii_iac.services.versions import GRAFANA

DASHBOARD_LABEL = "grafana_dashboard"


class GrafanaValues(StrictModel):
    """The values of the Grafana chart the layer sets."""

    fullname_override: str = "grafana"
    resources: dict[str, dict[str, str]]
    persistence: dict[str, bool]
    test_framework: dict[str, bool]
    sidecar: dict[str, Any]
    datasources: dict[str, Any]
    grafana_ini: dict[str, Any] = Field(alias="grafana.ini")


def values(ctx: Context) -> GrafanaValues:
    g = ctx.services.grafana
    ns = ctx.services.namespace
    sources = [
        {"name": "Prometheus", "uid": "prometheus", "type": "prometheus", "isDefault": True,
         "url": f"http://kps-prometheus.{ns}.svc.cluster.local:9090"},
    ]
    if ctx.services.logging.enabled:
        sources.append({"name": "Loki", "uid": "loki", "type": "loki", "url": loki_url(ctx)})
    if ctx.services.tracing.enabled:
        sources.append({"name": "Tempo", "uid": "tempo", "type": "tempo",
                        "url": f"http://tempo.{ns}.svc.cluster.local:3200"})
    return GrafanaValues(
        resources=g.size.resources(),
        persistence={"enabled": False},
        test_framework={"enabled": False},
        sidecar={"resources": g.sidecar.resources(),
                 "dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1",
                                "searchNamespace": ns}},
        datasources={"datasources.yaml": {"apiVersion": 1, "datasources": sources}},
        grafana_ini={"analytics": {"reporting_enabled": False, "check_for_updates": False},
                     "users": {"allow_sign_up": False}, "auth.anonymous": {"enabled": False}},
    )


def _panel(pid: int, title: str, exprs: dict[str, str], unit: str, x: int, y: int, w: int = 12) -> dict[str, Any]:
    return {
        "id": pid, "title": title, "type": "timeseries", "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + i), "expr": e, "legendFormat": legend}
                    for i, (legend, e) in enumerate(exprs.items())],
    }


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]], templating: list[dict[str, Any]] | None = None,
               ) -> dict[str, Any]:
    return {"uid": uid, "title": title, "tags": ["enclii"], "schemaVersion": 39, "editable": False,
            "time": {"from": "now-6h", "to": "now"}, "refresh": "1m", "panels": panels,
            "templating": {"list": templating or []}}


def platform_health() -> dict[str, Any]:
    return _dashboard("enclii-platform", "Enclii / Platform health", [
        _panel(1, "Node CPU", {"busy": '1 - avg(rate(node_cpu_seconds_total{mode="idle"}[5m]))'}, "percentunit",
               0, 0),
        _panel(2, "Node memory", {"used": "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes"},
               "percentunit", 12, 0),
        _panel(3, "Root filesystem free", {
            "free": 'node_filesystem_avail_bytes{mountpoint="/"} / node_filesystem_size_bytes{mountpoint="/"}'},
            "percentunit", 0, 8),
        _panel(4, "Pods not ready", {"{{namespace}}": 'sum by (namespace) (kube_pod_status_ready{condition="false"})'},
               "short", 12, 8),
        _panel(5, "Container restarts (1h)", {
            "{{namespace}}": "sum by (namespace) (increase(kube_pod_container_status_restarts_total[1h]))"},
            "short", 0, 16),
        _panel(6, "Scrape targets down", {"{{job}}": "sum by (job) (up == 0)"}, "short", 12, 16),
    ])


def tenants_red() -> dict[str, Any]:
    sel = 'service=~"$namespace-.*"'
    ns = 'namespace="$namespace",container!=""'
    variable = {"name": "namespace", "type": "query", "datasource": {"type": "prometheus", "uid": "prometheus"},
                "query": 'label_values(kube_namespace_labels{label_enclii_dev_project!=""}, namespace)',
                "refresh": 2}
    return _dashboard("enclii-tenants", "Enclii / Tenants: requests, errors, latency, saturation", [
        _panel(1, "Requests", {"{{service}}": f"sum by (service) (rate(traefik_service_requests_total{{{sel}}}[5m]))"},
               "reqps", 0, 0),
        _panel(2, "Errors (5xx ratio)", {"{{service}}": (
            f'sum by (service) (rate(traefik_service_requests_total{{{sel},code=~"5.."}}[5m])) / '
            f"sum by (service) (rate(traefik_service_requests_total{{{sel}}}[5m]))")}, "percentunit", 12, 0),
        _panel(3, "Latency p95", {"{{service}}": (
            "histogram_quantile(0.95, sum by (service, le) "
            f"(rate(traefik_service_request_duration_seconds_bucket{{{sel}}}[5m])))")}, "s", 0, 8),
        _panel(4, "CPU / requests", {"{{pod}}": (
            f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{ns}}}[5m])) / "
            f'sum by (pod) (kube_pod_container_resource_requests{{namespace="$namespace",resource="cpu"}})')},
            "percentunit", 12, 8),
        _panel(5, "Memory / limits", {"{{pod}}": (
            f"sum by (pod) (container_memory_working_set_bytes{{{ns}}}) / "
            f'sum by (pod) (kube_pod_container_resource_limits{{namespace="$namespace",resource="memory"}})')},
            "percentunit", 0, 16),
    ], [variable])


def tenant_slos(ctx: Context) -> dict[str, Any]:
    """One row of panels per (project, environment, service) that declares an SLO and is routed there."""
    panels: list[dict[str, Any]] = []
    y = 0
    for project, pspec in sorted(ctx.tenants.items()):
        for env in sorted(pspec.environments):
            for svc_name, svc in sorted(pspec.services_in(env).items()):
                if svc.slo is None or not svc.routes:
                    continue
                ref = m.Ref(pspec.identity(project), env, pspec.service_identity(svc_name))
                sel = f'service=~"{ref.namespace}-{ref.name()}-.*"'
                total = f"sum(rate(traefik_service_requests_total{{{sel}}}[{svc.slo.window}]))"
                exprs: dict[str, str] = {}
                if svc.slo.availability is not None:
                    exprs[f"availability (objective {svc.slo.availability}%)"] = (
                        f'1 - sum(rate(traefik_service_requests_total{{{sel},code=~"5.."}}[{svc.slo.window}])) / '
                        f"{total}")
                if svc.slo.error_rate is not None:
                    exprs[f"error ratio (objective {svc.slo.error_rate})"] = (
                        f'sum(rate(traefik_service_requests_total{{{sel},code=~"[45]..",code!="404"}}'
                        f"[{svc.slo.window}])) / {total}")
                if svc.slo.latency_p95 is not None:
                    le = f"{duration_seconds(svc.slo.latency_p95):g}"
                    exprs[f"requests under {svc.slo.latency_p95} (objective 95%)"] = (
                        f'sum(rate(traefik_service_request_duration_seconds_bucket{{{sel},le="{le}"}}'
                        f"[{svc.slo.window}])) / sum(rate(traefik_service_request_duration_seconds_count{{{sel}}}"
                        f"[{svc.slo.window}]))")
                title = f"{project}/{svc_name} ({env}), {svc.slo.window}"
                panels.append(_panel(len(panels) + 1, title, exprs, "percentunit", 0, y, w=24))
                y += 8
    return _dashboard("enclii-slos", "Enclii / Tenant SLOs", panels)


def dashboards(ctx: Context) -> dict[str, dict[str, Any]]:
    return {"platform": platform_health(), "tenants": tenants_red(), "slos": tenant_slos(ctx)}


def plan(ctx: Context) -> Plan:
    if not ctx.services.grafana.enabled:
        return Plan("grafana")
    ns = ctx.services.namespace
    objects = [Planned("chart", helm_chart("grafana", GRAFANA, ns, values(ctx).model_dump(mode="json", by_alias=True)),
                       ("namespaces/monitoring",))]
    for key, board in dashboards(ctx).items():
        objects.append(Planned(f"dashboard-{key}", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"grafana-dashboard-{key}", "namespace": ns,
                         "labels": {**labels("grafana"), DASHBOARD_LABEL: "1"}},
            "data": {f"enclii-{key}.json": json.dumps(board, sort_keys=True, indent=1) + "\n"},
        }, ("namespaces/monitoring",)))
    return Plan("grafana", objects)

"""PlatformServices under the recording mocks, and its Plans offline: what the layer declares, exactly."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from enclii_iac.kube import TenantProject
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.models.tenant import ProjectSpec
from enclii_iac.services import PlatformServices, context, plans
from enclii_iac.services.versions import CHARTS
from enclii_iac.testing import Recorder, reveal
from tests.conftest import DIGEST, checkov_failures, kubernetes_validate
from tests.crd_schemas import validate_pinned

Record = Callable[..., Recorder]
IMG = "ghcr.io/acme/api" + DIGEST
HELM = "kubernetes:helm.cattle.io/v1:HelmChart"
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"

PLATFORM = {
    "domain": "example.com",
    "hosts": {"dedicated": {"ax41": {
        "address": "203.0.113.10",
        "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderHostKeyReplaceWithKeyscanOutput",
        "adminSshKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderDeployKeyReplaceWithYourPublicKey d@x"],
        "sshAllowCidrs": ["198.51.100.7/32"], "kubeApiAllowCidrs": ["198.51.100.7/32"],
    }}},
    "cluster": {"servers": ["ax41"]},
}
TENANT = {
    "environments": {"prod": {}},
    "services": {"api": {
        "image": IMG, "routes": [{"host": "api.shop.example.com"}], "replicas": {"min": 2, "max": 4},
        "metrics": {"port": 9090}, "slo": {"availability": 99.9, "latencyP95": "300ms"},
        "autoscale": {"keda": [{"type": "cron", "metadata": {"timezone": "UTC", "start": "0 8 * * *",
                                                             "end": "0 20 * * *", "desiredReplicas": "3"}}]},
    }},
}


def spec(**over: Any) -> PlatformSpec:
    return PlatformSpec.model_validate({**PLATFORM, "tenants": {"shop": TENANT}, **over})


def provider() -> k8s.Provider:
    return k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("apiVersion: v1"))


def run_layer(record: Record, platform: PlatformSpec, secrets: dict[str, Any] | None = None,
              tenants: bool = True) -> Recorder:
    def program() -> None:
        p = provider()
        layer = PlatformServices("enclii-services", platform, provider=p, secrets=secrets)
        if tenants:
            for name, project in platform.tenants.items():
                TenantProject(f"enclii-{name}", project, provider=p, project=name, hooks=layer.hooks,
                              protect=platform.protect)

    return record(program)


def all_manifests(platform: PlatformSpec) -> list[dict[str, Any]]:
    return [o.manifest for p in plans(context(platform)) for o in p.objects]


def test_every_module_is_one_component_under_the_layer(record: Record) -> None:
    rec = run_layer(record, spec(), tenants=False)
    layer = rec.one("enclii:index:PlatformServices", "enclii-services")
    modules = {r.name for r in rec.of_type("enclii:index:PlatformService")}
    assert modules == {f"enclii-services-{m}" for m in
                       ("namespaces", "ingress", "monitoring", "logging", "tracing", "grafana", "keda", "network")}
    for r in rec.of_type("enclii:index:PlatformService"):
        assert rec.parent_of(r) == layer
    for r in rec:
        if r.type.startswith("kubernetes:"):
            parent = rec.parent_of(r)
            assert parent is not None and parent.type == "enclii:index:PlatformService", r.name
            assert r.name.startswith(parent.name + "-")
            assert r.provider_name == "k8s", r.name  # the cluster's provider, never an ambient default


def test_charts_are_pinned_helm_controller_objects_with_crds_off(record: Record) -> None:
    rec = run_layer(record, spec(), tenants=False)
    charts = {r.inputs["metadata"]["name"]: r for r in rec.of_type(HELM)}
    assert set(charts) == {"kube-prometheus-stack", "loki", "alloy-logs", "grafana", "tempo", "otel-collector",
                           "keda"}
    pinned = {c.name: c.version for c in CHARTS}
    for r in charts.values():
        s = r.inputs["spec"]
        assert r.inputs["metadata"]["namespace"] == "kube-system"
        assert s["version"] == pinned[s["chart"]]
        assert s["repo"].startswith("https://")
        assert s["failurePolicy"] == "abort"
    kps = yaml.safe_load(charts["kube-prometheus-stack"].inputs["spec"]["valuesContent"])
    assert kps["crds"] == {"enabled": False}
    assert kps["prometheus"]["prometheusSpec"]["retention"] == "15d"
    assert kps["prometheus"]["prometheusSpec"]["retentionSize"] == "18GB"
    assert kps["prometheus"]["prometheusSpec"]["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert kps["alertmanager"]["alertmanagerSpec"]["configSecret"] == "alertmanager-config"
    assert kps["prometheus-node-exporter"]["namespaceOverride"] == "monitoring-node"
    keda = yaml.safe_load(charts["keda"].inputs["spec"]["valuesContent"])
    assert keda["crds"] == {"install": False}
    loki = yaml.safe_load(charts["loki"].inputs["spec"]["valuesContent"])
    assert loki["loki"]["limits_config"]["retention_period"] == "168h"
    assert loki["deploymentMode"] == "SingleBinary"


def test_charts_wait_for_their_crds_and_namespaces(record: Record) -> None:
    rec = run_layer(record, spec(), tenants=False)
    kps = next(r for r in rec.of_type(HELM) if r.inputs["metadata"]["name"] == "kube-prometheus-stack")
    crds = {r.urn for r in rec.of_type(CRD) if r.inputs["spec"]["group"] == "monitoring.coreos.com"}
    assert len(crds) == 10
    assert crds <= set(kps.dependencies)
    ns = rec.one("kubernetes:core/v1:Namespace", "enclii-services-namespaces-monitoring")
    secret = rec.one("kubernetes:core/v1:Secret", "enclii-services-monitoring-alertmanager-config")
    assert {ns.urn, secret.urn} <= set(kps.dependencies)
    keda = next(r for r in rec.of_type(HELM) if r.inputs["metadata"]["name"] == "keda")
    assert {r.urn for r in rec.of_type(CRD) if r.inputs["spec"]["group"].endswith("keda.sh")} <= set(keda.dependencies)


def test_tenant_custom_resources_depend_on_the_crd_that_defines_them(record: Record) -> None:
    rec = run_layer(record, spec())
    crd = {r.inputs["spec"]["names"]["kind"]: r.urn for r in rec.of_type(CRD)}
    for type_, kind in (("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "ServiceMonitor"),
                        ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "PrometheusRule"),
                        ("kubernetes:keda.sh/v1alpha1:ScaledObject", "ScaledObject")):
        tenant = [r for r in rec.of_type(type_) if r.name.startswith("enclii-shop-")]
        assert tenant, type_
        for r in tenant:
            assert crd[kind] in r.dependencies, (r.name, kind)


def test_canary_routes_wait_for_the_traefik_configuration(record: Record) -> None:
    canary = {**TENANT["services"]["api"], "deploy": {"strategy": "canary", "canary": {"image": IMG}}}
    rec = run_layer(record, spec(tenants={"shop": {**TENANT, "services": {"api": canary}}}))
    config = rec.one("kubernetes:helm.cattle.io/v1:HelmChartConfig", "enclii-services-ingress-traefik-config")
    for type_ in ("kubernetes:traefik.io/v1alpha1:IngressRoute", "kubernetes:traefik.io/v1alpha1:TraefikService"):
        (r,) = rec.of_type(type_)
        assert config.urn in r.dependencies


def test_traefik_is_the_tunnels_clusterip_origin(record: Record) -> None:
    rec = run_layer(record, spec(), tenants=False)
    config = rec.one("kubernetes:helm.cattle.io/v1:HelmChartConfig", "enclii-services-ingress-traefik-config")
    assert config.inputs["metadata"] == {"name": "traefik", "namespace": "kube-system", "labels": config.inputs[
        "metadata"]["labels"]}
    values = yaml.safe_load(config.inputs["spec"]["valuesContent"])
    assert values["service"] == {"type": "ClusterIP"}
    assert values["providers"]["kubernetesIngress"]["publishedService"] == {"enabled": False}
    assert ("--providers.kubernetesingress.ingressendpoint.hostname=traefik.kube-system.svc.cluster.local"
            in values["additionalArguments"])
    assert values["logs"]["access"] == {"enabled": True, "format": "json"}
    assert values["ports"]["web"]["forwardedHeaders"] == {"trustedIPs": ["10.42.0.0/16"], "insecure": False}
    assert values["metrics"]["prometheus"]["entryPoint"] == "metrics"
    policy = rec.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "enclii-services-network-traefik")
    ingress = policy.inputs["spec"]["ingress"]
    assert ingress[0] == {"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "cloudflared"}}}], "ports": [{"protocol": "TCP", "port": 8000}]}
    assert ingress[1]["ports"] == [{"protocol": "TCP", "port": 9100}]


def test_alertmanager_receiver_is_a_pulumi_secret(record: Record) -> None:
    url = "https://hooks.example.com/services/T0/B0/canary-'quote\"-$(id)"
    rec = run_layer(record, spec(), secrets={"alertWebhookUrl": pulumi.Output.secret(url)}, tenants=False)
    secret = rec.one("kubernetes:core/v1:Secret", "enclii-services-monitoring-alertmanager-config")
    assert "stringData" in secret.secret_inputs
    assert {"data", "stringData"} <= set(secret.additional_secret_outputs)
    config = yaml.safe_load(reveal(secret.inputs["stringData"])["alertmanager.yaml"])
    assert config["receivers"][0] == {"name": "default", "webhook_configs": [{"url": url, "send_resolved": True}]}
    for r in rec:
        if r is not secret:
            assert "canary-'quote" not in json.dumps(r.inputs, default=str), r.name


def test_without_the_webhook_alerts_go_nowhere_and_it_says_so(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    rec.logger = logging.getLogger("enclii-services-test")
    with caplog.at_level(logging.WARNING, logger="enclii-services-test"):
        rec.run(lambda: PlatformServices("enclii-services", spec(), provider=provider()))
    secret = rec.one("kubernetes:core/v1:Secret", "enclii-services-monitoring-alertmanager-config")
    config = yaml.safe_load(reveal(secret.inputs["stringData"])["alertmanager.yaml"])
    assert config["receivers"][0] == {"name": "default"}
    assert any("enclii:alertWebhookUrl is unset" in r.getMessage() for r in caplog.records)


def test_production_protects_crds_and_namespaces_preview_nothing(record: Record) -> None:
    rec = run_layer(record, spec(), tenants=False)
    for r in [*rec.of_type(CRD), *rec.of_type("kubernetes:core/v1:Namespace")]:
        assert r.protect and r.retain_on_delete, r.name
    assert not any(r.protect for r in rec.of_type(HELM))
    rec = run_layer(record, spec(stage="preview"), tenants=False)
    assert not any(r.protect for r in rec)


def test_tenants_reach_the_collector_and_admit_prometheus_on_the_metrics_port(record: Record) -> None:
    rec = run_layer(record, spec())
    egress = rec.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "enclii-shop-prod-netpol-allow-otel-collector")
    assert egress.inputs["metadata"]["namespace"] == "shop-prod"
    assert egress.inputs["spec"]["egress"] == [{
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "opentelemetry-collector"}}}],
        "ports": [{"protocol": "TCP", "port": 4317}, {"protocol": "TCP", "port": 4318}]}]
    scrape = rec.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "enclii-shop-prod-api-netpol-scrape")
    rule = scrape.inputs["spec"]["ingress"]
    assert rule == [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                               "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}],
                     "ports": [{"protocol": "TCP", "port": 9090}]}]
    otlp = rec.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "enclii-services-network-monitoring-otlp")
    assert otlp.inputs["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 4317},
                                                          {"protocol": "TCP", "port": 4318}]


def test_a_tenant_without_the_layer_gets_no_platform_allowances(record: Record) -> None:
    project = ProjectSpec.model_validate(TENANT)
    rec = record(lambda: TenantProject("shop", project, provider=provider()))
    names = {r.name for r in rec.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    assert not any("otel" in n or "scrape" in n for n in names)
    for r in rec.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor"):
        assert not any("CustomResourceDefinition" in d for d in r.dependencies)


def test_disabled_sections_declare_nothing(record: Record) -> None:
    off = {"enabled": False}
    platform = spec(tenants={}, services={"logging": off, "tracing": off, "grafana": off, "keda": off})
    rec = run_layer(record, platform, tenants=False)
    assert {r.inputs["metadata"]["name"] for r in rec.of_type(HELM)} == {"kube-prometheus-stack"}
    assert not any(r.inputs["spec"]["group"].endswith("keda.sh") for r in rec.of_type(CRD))
    assert {r.inputs["metadata"]["name"] for r in rec.of_type("kubernetes:core/v1:Namespace")} == {
        "monitoring", "monitoring-node"}


def test_metrics_server_only_where_the_cluster_disables_k3s_own(record: Record) -> None:
    assert not any(o.manifest["metadata"]["name"] == "metrics-server" for o in
                   next(p for p in plans(context(spec())) if p.module == "metrics-server").objects)
    cluster = {**PLATFORM["cluster"], "disable": ["metrics-server"]}
    rec = run_layer(record, spec(cluster=cluster), tenants=False)
    (chart,) = [r for r in rec.of_type(HELM) if r.inputs["metadata"]["name"] == "metrics-server"]
    assert chart.inputs["spec"]["targetNamespace"] == "kube-system"


def test_dashboards_as_code_cover_platform_tenants_and_their_slos() -> None:
    grafana = next(p for p in plans(context(spec())) if p.module == "grafana")
    boards = {o.key: json.loads(next(iter(o.manifest["data"].values()))) for o in grafana.objects
              if o.manifest["kind"] == "ConfigMap"}
    assert set(boards) == {"dashboard-platform", "dashboard-tenants", "dashboard-slos"}
    for o in grafana.objects:
        if o.manifest["kind"] == "ConfigMap":
            assert o.manifest["metadata"]["labels"]["grafana_dashboard"] == "1"
    red = json.dumps(boards["dashboard-tenants"])
    for metric in ("traefik_service_requests_total", "traefik_service_request_duration_seconds_bucket",
                   "container_cpu_usage_seconds_total", "container_memory_working_set_bytes"):
        assert metric in red
    (slo_panel,) = boards["dashboard-slos"]["panels"]
    assert slo_panel["title"] == "shop/api (prod), 30d"
    legends = [t["legendFormat"] for t in slo_panel["targets"]]
    assert legends == ["availability (objective 99.9%)", "requests under 300ms (objective 95%)"]
    assert 'service=~"shop-prod-api-.*"' in slo_panel["targets"][0]["expr"]
    assert 'le="0.3"' in slo_panel["targets"][1]["expr"]


def test_the_same_spec_gives_the_same_manifests_byte_for_byte() -> None:
    a = json.dumps(all_manifests(spec()), sort_keys=True)
    b = json.dumps(all_manifests(spec()), sort_keys=True)
    assert a == b


def test_every_object_passes_kubernetes_validate_and_the_pinned_crds() -> None:
    docs = all_manifests(spec())
    builtin = [d for d in docs if "." not in d["apiVersion"].split("/")[0] or d["apiVersion"].startswith(
        ("networking.k8s.io", "apiextensions.k8s.io"))]
    custom = [d for d in docs if d not in builtin]
    assert kubernetes_validate(builtin) == []
    assert {d["kind"] for d in custom} == {"HelmChart", "HelmChartConfig", "ServiceMonitor"}
    for d in custom:
        assert validate_pinned(d) == [], d["metadata"]["name"]


def test_the_pinned_helm_chart_schema_catches_a_misspelt_field() -> None:
    chart = next(d for d in all_manifests(spec()) if d["kind"] == "HelmChart")
    bad = {**chart, "spec": {**chart["spec"], "valuesContnet": "x: 1"}}
    assert any("valuesContnet" in e for e in validate_pinned(bad) or [])


@pytest.mark.slow
def test_checkov_reports_no_failures_on_the_layers_objects(tmp_path: Path) -> None:
    docs = [d for d in all_manifests(spec()) if d["kind"] not in ("CustomResourceDefinition",)]
    (tmp_path / "services.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=True))
    failed = checkov_failures(tmp_path, skip=[])
    assert [(f["check_id"], f["resource"]) for f in failed] == []

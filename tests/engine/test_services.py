"""The platform-services layer through the real engine, provider and API server.

A Pulumi program declares the layer of stacks/production (its CRDs, namespaces, network policies, dashboards,
Alertmanager's Secret, and the HelmChart / HelmChartConfig objects k3s's helm-controller would install) and,
after it, a tenant that uses every operator: a ServiceMonitor, a PrometheusRule, a ScaledObject and a
canary's IngressRoute + TraefikService. The local cluster has no k3s, so the helm-controller's CRDs are
applied first (k3s brings them; ``tools/engine/build.sh helmcrds``) and the charts themselves never run.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from tests.engine.conftest import apply_crds, new_pulumi
from tests.engine.harness import ROOT, EngineMissing, LocalCluster, engine_cache

pytestmark = pytest.mark.engine

DIGEST = "@sha256:" + "ab" * 32
TENANT = {
    "environments": {"prod": {}},
    "services": {"api": {
        "image": "ghcr.io/acme/api" + DIGEST, "routes": [{"host": "api.svc.example.com"}],
        "replicas": {"min": 2, "max": 4}, "metrics": {"port": 9090}, "slo": {"availability": 99.9},
        "autoscale": {"keda": [{"type": "cron", "metadata": {"timezone": "UTC", "start": "0 8 * * *",
                                                             "end": "0 20 * * *", "desiredReplicas": "3"}}]},
        "deploy": {"strategy": "canary", "canary": {"image": "ghcr.io/acme/api" + DIGEST, "steps": [10, 50]}},
    }},
}
WEBHOOK = "https://hooks.example.com/services/T0/B0/engine-canary"

PROGRAM = f'''"""The platform-services layer of stacks/production, then a tenant using every operator."""
import json

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac.kube import TenantProject
from enclii_iac.models.loader import load_platform
from enclii_iac.models.tenant import ProjectSpec
from enclii_iac.services import PlatformServices

# stage preview: nothing protected, so the test can destroy what it declared
spec = load_platform({str(ROOT / "stacks" / "production" / "platform.yaml")!r})
spec = spec.model_copy(update={{"stage": "preview"}})
config = pulumi.Config("enclii")
cluster = k8s.Provider("cluster", kubeconfig=config.require_secret("kubeconfig"), enable_server_side_apply=True)
layer = PlatformServices("enclii-services", spec, provider=cluster,
                         secrets={{"alertWebhookUrl": config.require_secret("alertWebhookUrl")}})
tenant = ProjectSpec.model_validate(json.loads({json.dumps(json.dumps(TENANT))}))
TenantProject("enclii-svc", tenant, provider=cluster, project="svc", ingress=spec.ingress, hooks=layer.hooks)
pulumi.export("namespaces", layer.namespaces)
pulumi.export("charts", layer.charts)
'''


def _program(base: Path) -> Path:
    project = base / "services"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(yaml.safe_dump({
        "name": "enclii-services-engine",
        "runtime": {"name": "python", "options": {"virtualenv": str(ROOT / ".venv")}},
    }))
    (project / "__main__.py").write_text(PROGRAM)
    return project


def _helm_controller_crds(cluster: LocalCluster) -> None:
    files = sorted((engine_cache() / "helm-crds").glob("*.yaml"))
    if not files:
        raise EngineMissing(f"no helm-controller CRDs in {engine_cache() / 'helm-crds'}; run "
                            "`bash tools/engine/build.sh helmcrds`")
    for f in files:
        cluster.kubectl("apply", "--server-side", "-f", str(f))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/helmcharts.helm.cattle.io",
                    "crd/helmchartconfigs.helm.cattle.io")


def _without_the_sessions_operator_crds(cluster: LocalCluster) -> None:
    """A cluster the platform manages has no operator CRDs but the layer's: drop the ones the session applied
    (with kubectl, as an existing cluster's operators would have) so Pulumi creates them; the session's are
    put back at the end."""
    from enclii_iac.services._plan import vendored_crds

    names = [c["metadata"]["name"] for c in vendored_crds()]
    cluster.kubectl("delete", "crd", "--ignore-not-found", "--wait=true", *names, timeout=300)


def _items(cluster: LocalCluster, kind: str, namespace: str) -> list[dict[str, object]]:
    out = cluster.kubectl("get", kind, "-n", namespace, "-o", "json").stdout
    return list(json.loads(out)["items"])


def test_the_layer_and_a_tenant_using_every_operator_go_up_in_order(cluster: LocalCluster, tmp_path: Path) -> None:
    _helm_controller_crds(cluster)
    _without_the_sessions_operator_crds(cluster)
    p = new_pulumi(_program(tmp_path), tmp_path)
    p.run("stack", "init", "engine")
    p.run("config", "set", "--secret", "enclii:kubeconfig", input=cluster.kubeconfig_path.read_text())
    p.run("config", "set", "--secret", "enclii:alertWebhookUrl", WEBHOOK)
    try:
        p.run("up", "--yes", "--skip-preview", timeout=1500)
        outputs = p.outputs()
        assert outputs["namespaces"] == ["keda", "monitoring", "monitoring-node"]
        assert "kube-prometheus-stack@77.0.0" in outputs["charts"]

        # the operators' CRDs of the pinned versions, declared by Pulumi, are established
        crds = json.loads(cluster.kubectl("get", "crd", "-o", "json").stdout)["items"]
        ours = {c["metadata"]["name"] for c in crds if c["metadata"].get("annotations", {}).get("enclii.dev/source")}
        assert {"prometheuses.monitoring.coreos.com", "servicemonitors.monitoring.coreos.com",
                "scaledobjects.keda.sh", "cloudeventsources.eventing.keda.sh"} <= ours
        # the charts as helm-controller objects, pinned, and Traefik's configuration
        charts = {c["metadata"]["name"]: c["spec"] for c in _items(cluster, "helmcharts.helm.cattle.io",
                                                                    "kube-system")}
        assert charts["kube-prometheus-stack"]["version"] == "77.0.0"
        assert charts["keda"]["targetNamespace"] == "keda"
        (traefik,) = _items(cluster, "helmchartconfigs.helm.cattle.io", "kube-system")
        assert yaml.safe_load(traefik["spec"]["valuesContent"])["service"] == {"type": "ClusterIP"}
        # Alertmanager's receiver from the Pulumi secret
        secret = cluster.api("GET", "/api/v1/namespaces/monitoring/secrets/alertmanager-config")
        config = yaml.safe_load(base64.b64decode(secret["data"]["alertmanager.yaml"]))
        assert config["receivers"][0]["webhook_configs"][0]["url"] == WEBHOOK
        # the namespaces' Pod Security levels and the layer's network policies were admitted
        node_ns = cluster.api("GET", "/api/v1/namespaces/monitoring-node")
        assert node_ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
        policies = {n["metadata"]["name"] for n in _items(cluster, "networkpolicies", "monitoring")}
        assert policies == {"default-deny-ingress", "allow-same-namespace", "allow-otlp-from-tenants"}
        assert [c["metadata"]["name"] for c in _items(cluster, "configmaps", "monitoring")
                if c["metadata"]["name"].startswith("grafana-dashboard-")] == [
            "grafana-dashboard-platform", "grafana-dashboard-slos", "grafana-dashboard-tenants"]

        # the tenant's custom resources were accepted by the API server
        for kind in ("servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com",
                     "scaledobjects.keda.sh", "ingressroutes.traefik.io", "traefikservices.traefik.io"):
            assert _items(cluster, kind, "svc-prod"), kind
        tenant_policies = {n["metadata"]["name"] for n in _items(cluster, "networkpolicies", "svc-prod")}
        assert {"allow-otel-collector", "api-from-monitoring"} <= tenant_policies

        p.run("preview", "--expect-no-changes")
    finally:
        p.run("destroy", "--yes", "--skip-preview", timeout=900, check=False)
        # destroying the layer deleted CRDs the session's other tests rely on: put the session's back
        apply_crds(cluster)

"""TenantProject / TenantEnvironment / TenantService under the recording mocks: what is declared, exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from enclii_iac.errors import SpecError
from enclii_iac.kube import TenantEnvironment, TenantProject, TenantService
from enclii_iac.models.service import ServiceSpec
from enclii_iac.models.tenant import EnvironmentSpec, ProjectSpec
from enclii_iac.testing import Recorder, reveal
from tests.conftest import DIGEST, kubernetes_validate

IMG = "ghcr.io/acme/api" + DIGEST
CANARY = "ghcr.io/acme/api@sha256:" + "cd" * 32
Record = Callable[..., Recorder]


def provider() -> k8s.Provider:
    return k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("apiVersion: v1"))


def project(services: dict[str, Any], **kw: Any) -> ProjectSpec:
    return ProjectSpec.model_validate({"environments": {"prod": {}}, "services": services, **kw})


def run_project(
    record: Record, spec: ProjectSpec, secrets: dict[str, Any] | None = None, protect: bool = True
) -> Recorder:
    return record(lambda: TenantProject("shop", spec, provider=provider(), secret_values=secrets, protect=protect))


def pod(rec: Recorder, type_: str, name: str) -> dict[str, Any]:
    spec = rec.one(type_, name).plain_inputs["spec"]
    if type_.endswith("CronJob"):
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def test_environment_declares_namespace_guards_and_rbac(record: Record) -> None:
    spec = project(
        {}, members=[{"kind": "Group", "name": "shop-owners", "role": "owner"}, {"name": "v@x.io", "role": "viewer"}]
    )
    rec = run_project(record, spec)
    ns = rec.one("kubernetes:core/v1:Namespace", "shop-prod-ns")
    labels = ns.inputs["metadata"]["labels"]
    assert ns.inputs["metadata"]["name"] == "shop-prod"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["enclii.dev/stage"] == "prod"
    assert ns.protect and ns.retain_on_delete
    env = rec.one("enclii:index:TenantEnvironment", "shop-prod")
    assert rec.parent_of(ns) == env
    assert rec.parent_of(env) == rec.one("enclii:index:TenantProject", "shop")
    deny = rec.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "shop-prod-netpol-default-deny")
    assert deny.inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = rec.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "shop-prod-netpol-allow-dns")
    assert dns.inputs["spec"]["egress"][0]["ports"] == [
        {"protocol": "UDP", "port": 53},
        {"protocol": "TCP", "port": 53},
    ]
    assert {r.inputs["metadata"]["name"] for r in rec.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")} == {
        "enclii-owner",
        "enclii-admin",
        "enclii-developer",
        "enclii-viewer",
    }
    owner = rec.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "shop-prod-binding-owner")
    assert owner.inputs["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "shop-owners"}
    ]
    assert owner.inputs["roleRef"]["kind"] == "Role"  # never a ClusterRole binding for tenants
    assert rec.count("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding") == 0
    quota = rec.one("kubernetes:core/v1:ResourceQuota", "shop-prod-quota")
    assert quota.inputs["spec"]["hard"]["services.nodeports"] == "0"
    for r in rec:
        if r.type.startswith("kubernetes:") and r.custom:
            assert r.provider_name == "k8s", r.name  # the explicit provider, inherited through parents


def test_web_service_secure_defaults(record: Record) -> None:
    spec = project({"api": {"image": IMG, "routes": [{"host": "api.example.com"}], "health": {"path": "/healthz"}}})
    rec = run_project(record, spec)
    dep = rec.one("kubernetes:apps/v1:Deployment", "shop-prod-api-deployment")
    d = dep.inputs["spec"]
    assert d["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    ps = d["template"]["spec"]
    assert ps["automountServiceAccountToken"] is False and ps["serviceAccountName"] == "api"
    assert ps["securityContext"]["runAsNonRoot"] is True
    c = ps["containers"][0]
    assert c["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert c["resources"]["limits"]["memory"] == "512Mi" and c["resources"]["requests"]["cpu"] == "100m"
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    # liveness is the lighter check (is it listening?), so an outage behind /healthz restarts nothing
    assert c["livenessProbe"]["tcpSocket"] == {"port": "http"} and "httpGet" not in c["livenessProbe"]
    assert c["livenessProbe"]["failureThreshold"] == 2 * c["readinessProbe"]["failureThreshold"]
    assert "startupProbe" in c
    sa = rec.one("kubernetes:core/v1:ServiceAccount", "shop-prod-api-sa")
    assert sa.inputs["automountServiceAccountToken"] is False
    svc = rec.one("kubernetes:core/v1:Service", "shop-prod-api-svc")
    assert svc.inputs["spec"]["selector"] == {"enclii.dev/project": "shop", "enclii.dev/service": "api"}
    ing = rec.one("kubernetes:networking.k8s.io/v1:Ingress", "shop-prod-api-ingress")
    assert ing.inputs["spec"]["ingressClassName"] == "traefik"
    assert ing.inputs["spec"]["rules"][0]["host"] == "api.example.com"
    assert rec.count("kubernetes:policy/v1:PodDisruptionBudget") == 0  # one replica: no PDB
    assert not kubernetes_validate([reveal(o) for o in rec.kubernetes_objects()])
    assert rec.parent_of(dep) == rec.one("enclii:index:TenantService", "shop-prod-api")
    assert any(d.endswith("::shop-prod-api-sa") for d in dep.dependencies)


def test_secrets_are_pulumi_secrets_and_referenced(record: Record) -> None:
    spec = project({"api": {"image": IMG, "secrets": ["DATABASE_URL"]}})
    rec = run_project(record, spec, secrets={"api": {"DATABASE_URL": "postgres://canary-7f3a"}})
    sec = rec.one("kubernetes:core/v1:Secret", "shop-prod-api-env")
    assert sec.secret_inputs == ["stringData"]
    assert reveal(sec.inputs["stringData"]) == {"DATABASE_URL": "postgres://canary-7f3a"}
    assert "stringData" in sec.additional_secret_outputs
    env = pod(rec, "kubernetes:apps/v1:Deployment", "shop-prod-api-deployment")["containers"][0]["env"]
    assert env == [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "api-env", "key": "DATABASE_URL"}}}]
    dep = rec.one("kubernetes:apps/v1:Deployment", "shop-prod-api-deployment")
    assert "postgres://canary-7f3a" not in repr(dep.inputs)


def test_missing_secret_value_fails_before_any_kubernetes_object(record: Record) -> None:
    spec = project({"api": {"image": IMG, "secrets": ["DATABASE_URL"]}, "web": {"image": IMG, "secrets": ["TOKEN"]}})
    rec = Recorder()
    with pytest.raises(SpecError) as err:
        rec.run(lambda: TenantProject("shop", spec, provider=provider(), secret_values={"api": {"DATABSE_URL": "x"}}))
    text = str(err.value)
    # every problem of every service at once, and nothing declared but the provider the caller made
    assert "DATABASE_URL" in text and "TOKEN" in text and "'x'" not in text
    assert [r.type for r in rec.records] == ["pulumi:providers:kubernetes"]


@pytest.mark.parametrize(
    ("kind", "extra", "expected"),
    [
        ("worker", {"command": ["./w"], "health": {"command": ["./w", "--check"]}}, "kubernetes:apps/v1:Deployment"),
        ("cron", {"schedule": "*/5 * * * *"}, "kubernetes:batch/v1:CronJob"),
        ("job", {}, "kubernetes:batch/v1:Job"),
        ("tcp", {"port": 5432}, "kubernetes:core/v1:Service"),
    ],
)
def test_every_type(record: Record, kind: str, extra: dict[str, Any], expected: str) -> None:
    rec = run_project(record, project({"x": {"type": kind, "image": IMG, **extra}}))
    assert rec.count(expected) == 1
    objs = [reveal(o) for o in rec.kubernetes_objects()]
    assert not kubernetes_validate(objs)
    assert rec.count("kubernetes:networking.k8s.io/v1:Ingress") == 0
    if kind == "worker":
        assert rec.count("kubernetes:core/v1:Service") == 0
        c = pod(rec, expected, "shop-prod-x-deployment")["containers"][0]
        assert c["livenessProbe"]["exec"] == {"command": ["./w", "--check"]}
    if kind == "cron":
        cj = rec.one(expected, "shop-prod-x-cronjob").inputs["spec"]
        assert cj["concurrencyPolicy"] == "Forbid" and cj["startingDeadlineSeconds"] == 300
        assert cj["successfulJobsHistoryLimit"] == 3 and cj["jobTemplate"]["spec"]["backoffLimit"] == 3
        # a cron run's Job (and its pods' logs) is kept a week, so a failed night run is seen on Monday
        assert cj["jobTemplate"]["spec"]["ttlSecondsAfterFinished"] == 7 * 24 * 3600
        assert cj["failedJobsHistoryLimit"] == 3
    if kind == "job":
        job = rec.one(expected, "shop-prod-x-job")
        # the stack owns a one-off Job: no TTL, or a refresh would find it gone and run it again
        assert "ttlSecondsAfterFinished" not in job.inputs["spec"]
        assert job.delete_before_replace
    if kind == "tcp":
        assert rec.one(expected, "shop-prod-x-svc").inputs["spec"]["ports"][0]["port"] == 80


def test_scaling_pdb_volumes_and_spread(record: Record) -> None:
    spec = project(
        {
            "api": {
                "image": IMG,
                "replicas": {"min": 2, "max": 6},
                "autoscale": {"targetCPU": 60, "targetMemory": 75},
            },
            "db": {"type": "tcp", "image": IMG, "volumes": [{"name": "data", "mountPath": "/data", "size": "2Gi"}]},
            "w": {
                "type": "worker",
                "image": IMG,
                "replicas": {"min": 1, "max": 3},
                "autoscale": {
                    "keda": [
                        {
                            "type": "prometheus",
                            "metadata": {"serverAddress": "http://p:9090", "query": "sum(q)", "threshold": "5"},
                        }
                    ]
                },
            },
        }
    )
    rec = run_project(record, spec)
    hpa = rec.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "shop-prod-api-hpa").inputs["spec"]
    assert hpa["minReplicas"] == 2 and hpa["maxReplicas"] == 6
    assert [m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]] == [60, 75]
    dep = rec.one("kubernetes:apps/v1:Deployment", "shop-prod-api-deployment")
    assert dep.ignore_changes == ["spec.replicas"]  # the HPA owns replicas
    pdb = rec.one("kubernetes:policy/v1:PodDisruptionBudget", "shop-prod-api-pdb").inputs["spec"]
    assert pdb["maxUnavailable"] == 1 and pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    pvc = rec.one("kubernetes:core/v1:PersistentVolumeClaim", "shop-prod-db-pvc-data")
    assert pvc.inputs["spec"]["resources"]["requests"]["storage"] == "2Gi" and pvc.protect and pvc.retain_on_delete
    db = rec.one("kubernetes:apps/v1:Deployment", "shop-prod-db-deployment").inputs["spec"]
    assert db["strategy"] == {"type": "Recreate"}  # a ReadWriteOnce claim is never used by two pods at once
    assert dep.inputs["spec"]["strategy"]["type"] == "RollingUpdate"
    spread = dep.inputs["spec"]["template"]["spec"]["topologySpreadConstraints"][0]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    scaler = rec.one("kubernetes:keda.sh/v1alpha1:ScaledObject", "shop-prod-w-scaler").inputs
    assert scaler["spec"]["triggers"][0]["type"] == "prometheus"
    assert scaler["spec"]["scaleTargetRef"] == {"name": "w"}


def test_canary_weights_follow_steps(record: Record) -> None:
    def spec(step: int, abort: bool = False) -> ProjectSpec:
        return project(
            {
                "web": {
                    "image": IMG,
                    "routes": [{"host": "shop.example.com"}],
                    "replicas": {"min": 2},
                    "deploy": {
                        "strategy": "canary",
                        "canary": {"image": CANARY, "steps": [10, 50], "currentStep": step, "abort": abort},
                    },
                }
            }
        )

    for step, weights in ((0, [90, 10]), (1, [50, 50])):
        rec = run_project(record, spec(step))
        split = rec.one("kubernetes:traefik.io/v1alpha1:TraefikService", "shop-prod-web-split").inputs["spec"]
        assert [s["weight"] for s in split["weighted"]["services"]] == weights
        assert [s["name"] for s in split["weighted"]["services"]] == ["web-stable", "web-canary"]
    rec = run_project(record, spec(1, abort=True))
    split = rec.one("kubernetes:traefik.io/v1alpha1:TraefikService", "shop-prod-web-split").inputs["spec"]
    assert [s["weight"] for s in split["weighted"]["services"]] == [100, 0]
    can = rec.one("kubernetes:apps/v1:Deployment", "shop-prod-web-canary").inputs
    assert can["spec"]["template"]["spec"]["containers"][0]["image"] == CANARY
    assert can["spec"]["selector"]["matchLabels"]["enclii.dev/track"] == "canary"
    route = rec.one("kubernetes:traefik.io/v1alpha1:IngressRoute", "shop-prod-web-route").inputs["spec"]
    assert route["routes"][0]["match"] == "Host(`shop.example.com`)"
    assert rec.count("kubernetes:networking.k8s.io/v1:Ingress") == 0


def test_blue_green_switches_the_service_selector(record: Record) -> None:
    green = "ghcr.io/acme/api@sha256:" + "ef" * 32
    for active, inactive in (("blue", "green"), ("green", "blue")):
        rec = run_project(
            record,
            project(
                {
                    "app": {
                        "image": IMG,
                        "routes": [{"host": "blog.example.com"}],
                        "deploy": {
                            "strategy": "blue-green",
                            "blueGreen": {"active": active, "blueImage": IMG, "greenImage": green},
                        },
                    }
                }
            ),
        )
        assert (
            rec.one("kubernetes:core/v1:Service", "shop-prod-app-svc").inputs["spec"]["selector"]["enclii.dev/color"]
            == active
        )
        assert (
            rec.one("kubernetes:core/v1:Service", "shop-prod-app-svc-preview").inputs["spec"]["selector"][
                "enclii.dev/color"
            ]
            == inactive
        )
        images = {
            c: rec.one("kubernetes:apps/v1:Deployment", f"shop-prod-app-{c}").plain_inputs["spec"]["template"]["spec"][
                "containers"
            ][0]["image"]
            for c in ("blue", "green")
        }
        assert images == {"blue": IMG, "green": green}  # the previous colour stays for instant rollback


def test_slo_rules_and_service_monitor(record: Record) -> None:
    rec = run_project(
        record,
        project(
            {
                "api": {
                    "image": IMG,
                    "routes": [{"host": "api.example.com"}],
                    "metrics": {},
                    "slo": {"availability": 99.9, "latencyP95": "300ms", "errorRate": "1%"},
                }
            }
        ),
    )
    rule = rec.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "shop-prod-api-slo").inputs["spec"]
    alerts = [r["alert"] for r in rule["groups"][0]["rules"]]
    assert alerts[:4] == [
        "AvailabilityBurnRate1h",
        "AvailabilityBurnRate6h",
        "AvailabilityBurnRate1d",
        "AvailabilityBurnRate3d",
    ]
    assert len(alerts) == 12
    first = rule["groups"][0]["rules"][0]
    assert "> 0.0144" in first["expr"] and "[1h]" in first["expr"] and "[5m]" in first["expr"]
    assert first["labels"]["severity"] == "page"
    mon = rec.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "shop-prod-api-monitor").inputs["spec"]
    assert mon["endpoints"] == [{"path": "/metrics", "interval": "30s", "port": "http"}]


def test_isolated_environment_allows_only_declared_dependencies(record: Record) -> None:
    spec = ProjectSpec.model_validate(
        {
            "environments": {"prod": {"isolateServices": True}},
            "services": {"api": {"image": IMG}, "web": {"image": IMG, "dependsOn": ["api"]}},
        }
    )
    rec = run_project(record, spec)
    names = {r.name for r in rec.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    assert "shop-prod-netpol-allow-environment" not in names
    to = rec.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "shop-prod-netpol-web-to-api").inputs["spec"]
    assert to["podSelector"]["matchLabels"]["enclii.dev/service"] == "web"
    assert to["egress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]
    frm = rec.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "shop-prod-netpol-api-from").inputs["spec"]
    assert frm["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["enclii.dev/service"] == "web"


def test_preview_environment_is_not_protected(record: Record) -> None:
    spec = ProjectSpec.model_validate(
        {
            "environments": {"preview-pr-3": {}},
            "services": {"api": {"image": IMG, "volumes": [{"name": "d", "mountPath": "/d"}]}},
        }
    )
    rec = run_project(record, spec, protect=False)
    assert not any(r.protect for r in rec)
    assert (
        rec.one("kubernetes:core/v1:Namespace", "shop-preview-pr-3-ns").inputs["metadata"]["labels"]["enclii.dev/stage"]
        == "preview"
    )


def test_a_preview_namespace_carries_its_ttl_and_expiry(record: Record) -> None:
    spec = ProjectSpec.model_validate(
        {
            "environments": {"preview-pr-3": {"ttlHours": 48, "expiresAt": "2026-12-03T12:00:00Z"}},
            "services": {"api": {"image": IMG}},
        }
    )
    ns = run_project(record, spec, protect=False).one("kubernetes:core/v1:Namespace", "shop-preview-pr-3-ns")
    meta = ns.inputs["metadata"]
    assert meta["labels"]["enclii.dev/ttl-hours"] == "48"
    assert meta["labels"]["enclii.dev/expires-at"] == "1796299200"  # 2026-12-03T12:00:00Z in Unix seconds
    assert meta["annotations"]["enclii.dev/expires-at"] == "2026-12-03T12:00:00Z"
    assert kubernetes_validate([{"apiVersion": "v1", "kind": "Namespace", "metadata": meta}]) == []
    with pytest.raises(ValueError, match="expiresAt"):
        EnvironmentSpec.model_validate({"expiresAt": "2026-12-03 12:00"})


def test_components_are_usable_one_by_one(record: Record) -> None:
    def program() -> None:
        env = TenantEnvironment("acme-dev", EnvironmentSpec(), project="acme", environment="dev", provider=provider())
        TenantService("acme-dev-api", ServiceSpec(image=IMG), environment=env, service="api")

    rec = record(program)
    assert rec.one("enclii:index:TenantService", "acme-dev-api").parent_urn.endswith("::acme-dev")
    assert rec.one("kubernetes:apps/v1:Deployment", "acme-dev-api-deployment").inputs["metadata"] == {
        "name": "api",
        "namespace": "acme-dev",
        "labels": {
            "app.kubernetes.io/managed-by": "enclii-iac",
            "app.kubernetes.io/part-of": "acme",
            "enclii.dev/project": "acme",
            "enclii.dev/environment": "dev",
            "enclii.dev/stage": "dev",
            "app.kubernetes.io/name": "api",
            "enclii.dev/service": "api",
        },
    }

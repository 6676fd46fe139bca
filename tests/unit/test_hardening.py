"""Regression tests of the adversarial review (issue 10): each finding is refused with its field path, before
anything is declared; the guards it needed are rendered as intended.

The cluster-side half (admission policies, RBAC against a real API server) is tests/engine/test_admission.py;
the stack-level half (synth, policy, secrets in files) is tests/components/test_hardening_stacks.py; the R2
tools are tests/integration/test_r2_hardening.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from enclii_iac.errors import SpecError, SpecIssue
from enclii_iac.kube import TenantProject
from enclii_iac.models.capacity import capacity_report
from enclii_iac.models.loader import build_platform, load_documents, validate_model
from enclii_iac.models.service import ServiceSpec
from enclii_iac.models.tenant import ProjectSpec
from enclii_iac.platform import EncliiPlatform, PlatformProviders
from enclii_iac.policy import firewall, tenancy
from enclii_iac.render import admission
from enclii_iac.render import host as r
from enclii_iac.render import kube as m
from enclii_iac.testing import Recorder, assert_golden, reveal
from tests.conftest import DIGEST, GOLDEN
from tests.unit.host_fixtures import DEPLOY_KEY, HOST_KEY, OPS_KEY

IMG = "ghcr.io/acme/app" + DIGEST
ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE_ID = "fedcba9876543210fedcba9876543210"


def web(host: str, path: str = "/", **extra: Any) -> dict[str, Any]:
    return {"image": IMG, "routes": [{"host": host, "path": path}], **extra}


def project(services: dict[str, Any], envs: tuple[str, ...] = ("prod",), **extra: Any) -> dict[str, Any]:
    return {"environments": {e: {} for e in envs}, "services": services, **extra}


def platform(tenants: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"domain": "example.com", "stage": "production", "tenants": tenants or {}, **extra}


def refuse(data: dict[str, Any]) -> list[SpecIssue]:
    """Build and declare the platform ``data`` under the recorder: it must be refused with nothing declared."""
    rec = Recorder()

    def program() -> None:
        spec = build_platform(data, None, "platform")
        EncliiPlatform("enclii", spec, providers=PlatformProviders(
            kubernetes=k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("x"))))

    with pytest.raises(SpecError) as err:
        rec.run(program)
    assert rec.records == [], "something was declared before the refusal"
    return err.value.issues


def one(issues: list[SpecIssue], path: str, fragment: str) -> SpecIssue:
    found = [i for i in issues if i.path == path and fragment in i.message]
    assert found, [f"{i.path}: {i.message}" for i in issues]
    return found[0]


def accept(data: dict[str, Any]) -> Any:
    return build_platform(data, None, "platform")


# --- 1 & 5: a host belongs to one tenant environment ---------------------------------------------------------


def test_one_host_served_by_two_environments_of_a_project_is_refused() -> None:
    issues = refuse(platform({"shop": project({"web": web("shop.example.com")}, ("prod", "dev"))}))
    one(issues, "tenants.shop.services.web.routes[0].host", "is served in environments dev, prod")
    one(issues, "tenants.shop.services.web.routes[0].host", "environments: [prod]")


def test_routes_limited_to_one_environment_and_domains_dropped_elsewhere_are_accepted() -> None:
    spec = accept(platform({"shop": {
        "environments": {"prod": {}, "dev": {"overrides": {"web": {"domains": []}}}},
        "services": {"web": {"image": IMG, "domains": ["shop.customer.com"], "routes": [
            {"host": "shop.example.com", "environments": ["prod"]},
            {"host": "dev.shop.example.com", "environments": ["dev"]}]}}}}))
    from enclii_iac.models.guards import namespace_hosts

    assert namespace_hosts(spec) == {"shop-dev": ["dev.shop.example.com"],
                                     "shop-prod": ["shop.customer.com", "shop.example.com"]}


def test_a_domain_served_by_two_environments_is_refused() -> None:
    issues = refuse(platform({"shop": project({"web": {"image": IMG, "domains": ["shop.customer.com"], "routes": [
        {"host": "shop.example.com", "environments": ["prod"]},
        {"host": "dev.shop.example.com", "environments": ["dev"]}]}}, ("prod", "dev"))}))
    one(issues, "tenants.shop.services.web.domains[0]", "shop.customer.com is served in environments dev, prod")


@pytest.mark.parametrize(("theirs", "path"), [("/", "/"), ("/", "/admin"), ("/api", "/")])
def test_another_tenants_host_is_refused_whatever_the_path(theirs: str, path: str) -> None:
    issues = refuse(platform({"shop": project({"web": web("shop.example.com", theirs)}),
                              "rival": project({"web": web("shop.example.com", path)})}))
    one(issues, "tenants.shop.services.web.routes[0].host", "is already served by namespace rival-prod")


def test_another_tenants_custom_domain_is_refused() -> None:
    issues = refuse(platform({"a": project({"w": web("a.example.com", domains=["x.customer.com"])}),
                              "b": project({"w": web("b.example.com", domains=["x.customer.com"])})}))
    one(issues, "tenants.b.services.w.domains[0]", "x.customer.com is already served by namespace a-prod")


def _cluster_platform(tenants: dict[str, Any], **cluster: Any) -> dict[str, Any]:
    return platform(tenants, hosts={"dedicated": {"ax41": {
        "address": "203.0.113.10", "hostKey": HOST_KEY, "adminSshKeys": [OPS_KEY, DEPLOY_KEY],
        "sshAllowCidrs": ["198.51.100.7/32"], "kubeApiAllowCidrs": ["198.51.100.7/32"]}}},
        cluster={"servers": ["ax41"], "apiEndpoint": "api.enclii.example.com",
                 "apiAccess": {"dnsRecord": False}, **cluster})


@pytest.mark.parametrize(("host", "what"), [("api.enclii.example.com", "cluster.apiEndpoint"),
                                            ("k8s.example.com", "cluster.tlsSans[0]")])
def test_a_tenant_route_may_not_claim_the_kubernetes_api(host: str, what: str) -> None:
    data = _cluster_platform({"shop": project({"web": web(host)})}, tlsSans=["k8s.example.com"])
    issues = refuse_spec(data)
    one(issues, "tenants.shop.services.web.routes[0].host", f"is {what} (the Kubernetes API)")


def refuse_spec(data: dict[str, Any]) -> list[SpecIssue]:
    with pytest.raises(SpecError) as err:
        build_platform(data, None, "platform")
    return err.value.issues


def _edge(**extra: Any) -> dict[str, Any]:
    # the preview wildcard is two labels deep: a certificate pack covers it (docs/edge-tls.md)
    return {"accountId": ACCOUNT, "zoneId": ZONE_ID, "r2": None,
            "certificatePacks": {"previews": {"hosts": ["*.preview"]}}, **extra}


def test_a_production_route_may_not_take_a_preview_url() -> None:
    # previews live at <service>-<project>-pr-<n>.preview.<zone>, routed by production's wildcard
    issues = refuse_spec(platform({"shop": project({"web": web("web-shop-pr-42.preview.example.com")})},
                                  edge=_edge()))
    one(issues, "tenants.shop.services.web.routes[0].host", "inside *.preview.example.com")


def test_a_route_may_not_claim_a_platform_host() -> None:
    issues = refuse_spec(platform({"shop": project({"web": web("app.example.com")})}, edge=_edge(
        hosts={"app": {"subdomain": "app", "service": "ui", "namespace": "enclii"}})))
    one(issues, "tenants.shop.services.web.routes[0].host", "is a platform host (edge.hosts.app)")


# --- 5: two project+environment pairs, one namespace; platform namespaces --------------------------------------


def test_two_project_environments_mapping_to_one_namespace_are_refused() -> None:
    issues = refuse(platform({"a-preview": project({}, ("preview-b",)), "a": project({}, ("preview-preview-b",))}))
    one(issues, "tenants.a-preview.environments.preview-b", "is also the namespace of a preview-preview-b")


def test_a_tenant_namespace_may_not_be_a_platform_namespace() -> None:
    issues = refuse(platform({"shop": project({})}, ingress={"tunnelNamespace": "shop-prod"}))
    one(issues, "tenants.shop.environments.prod", "is a platform namespace (ingress.tunnelNamespace)")
    issues = refuse(platform({"shop": project({})}, edge=_edge(
        hosts={"api": {"subdomain": "api", "service": "api", "namespace": "shop-prod"}})))
    one(issues, "edge.hosts.api.namespace", "shop-prod is a tenant namespace")


def test_production_may_not_declare_a_pull_requests_preview_environment() -> None:
    issues = refuse(platform({"shop": project({}, ("prod", "preview-pr-42"))}))
    one(issues, "tenants.shop.environments.preview-pr-42", "preview stacks create for that pull request")
    accept(platform({"shop": project({}, ("prod", "preview-demo"))}))  # a long-lived preview-* is the tenant's


def test_a_tenant_namespace_may_not_be_exempt_from_pod_security() -> None:
    data = _cluster_platform({"shop": project({})}, hardening={"podSecurityExemptNamespaces": ["kube-system",
                                                                                                "shop-prod"]})
    one(refuse_spec(data), "cluster.hardening.podSecurityExemptNamespaces[1]", "shop-prod is a tenant namespace")


@pytest.mark.parametrize("name", ["system:masters", "system:authenticated", "system:serviceaccount:x:y",
                                  "SYSTEM:masters"])
def test_system_identities_are_not_project_members(name: str) -> None:
    issues = refuse(platform({"shop": project({}, members=[{"kind": "Group", "name": name, "role": "owner"}])}))
    one(issues, "tenants.shop.members[0]", "is a Kubernetes system identity")


# --- 5: allowed registries ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("svc", "env_override", "path"),
    [
        ({"image": "docker.io/library/nginx" + DIGEST}, None, "tenants.shop.services.web.image"),
        ({"image": "ghcr.io/acmeevil/x" + DIGEST}, None, "tenants.shop.services.web.image"),
        ({"image": IMG}, {"image": "quay.io/x/y" + DIGEST}, "tenants.shop.environments.prod.overrides.web.image"),
        ({"image": IMG, "deploy": {"strategy": "canary", "canary": {"image": "quay.io/x/y" + DIGEST}}}, None,
         "tenants.shop.services.web.deploy.canary.image"),
        ({"image": IMG, "deploy": {"strategy": "blue-green", "blueGreen": {"blueImage": IMG,
                                                                          "greenImage": "nginx" + DIGEST}}},
         None, "tenants.shop.services.web.deploy.blueGreen.greenImage"),
    ],
)
def test_images_outside_the_allowed_registries_are_refused(
    svc: dict[str, Any], env_override: dict[str, Any] | None, path: str
) -> None:
    envs: dict[str, Any] = {"prod": {"overrides": {"web": env_override}} if env_override else {}}
    data = platform({"shop": {"environments": envs, "services": {"web": {"type": "worker", **svc}}}},
                    policy={"allowedRegistries": ["ghcr.io/acme"]})
    one(refuse(data), path, "is not from an allowed registry (ghcr.io/acme/")


def test_allowed_registries_must_be_registry_prefixes() -> None:
    issues = refuse(platform(policy={"allowedRegistries": ["ghcr.io/acme/', 'x"]}))
    assert issues[0].path == "policy.allowedRegistries[0]"


def test_the_registries_reach_the_namespace_and_the_policy_rule() -> None:
    def program() -> None:
        TenantProject("shop", ProjectSpec.model_validate(project({"w": {"type": "worker", "image": IMG}})),
                      provider=k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("x")),
                      allowed_registries=["ghcr.io/acme/"])

    rec = Recorder().run(program)
    ns = rec.one("kubernetes:core/v1:Namespace", "shop-prod-ns").inputs["metadata"]["annotations"]
    assert ns == {m.ALLOWED_HOSTS_ANNOTATION: "", m.ALLOWED_REGISTRIES_ANNOTATION: "ghcr.io/acme/"}
    assert tenancy.allowed_registries(rec.records) == []
    dep = rec.one("kubernetes:apps/v1:Deployment", "shop-prod-w-deployment")
    dep.inputs["spec"]["template"]["spec"]["containers"][0]["image"] = "quay.io/evil/x:1"
    [v] = tenancy.allowed_registries(rec.records)
    assert v.rule == "allowed-registries" and "quay.io/evil/x:1" in v.message


# --- 5: absurd quantities ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "path", "fragment"),
    [
        ({"cpu": "5000", "cpuLimit": "5000"}, "spec.resources.cpu", "more CPU than any node has"),
        ({"cpu": "8", "cpuLimit": "8"}, "spec.resources", "cpu: 8 is above the 4 CPU one container may use"),
        ({"memory": "64Gi", "memoryLimit": "64Gi"}, "spec.resources", "memory: 64Gi is above the 16Gi"),
        ({"memory": "9999999Ti"}, "spec.resources.memory", "more than any node or volume holds"),
        ({"cpu": "1" * 40}, "spec.resources.cpu", "is not a CPU quantity"),
    ],
)
def test_absurd_container_resources_are_refused(resources: dict[str, str], path: str, fragment: str) -> None:
    doc = {"apiVersion": "enclii.dev/v1", "kind": "Service", "metadata": {"name": "api", "project": "shop"},
           "spec": {"image": IMG, "resources": resources}}
    with pytest.raises(SpecError) as err:
        load_documents([("enclii.yaml", yaml.safe_dump(doc))])
    one(err.value.issues, path, fragment)


def test_env_values_beyond_what_a_process_and_an_object_take_are_refused() -> None:
    big = "x" * (64 * 1024 + 1)
    with pytest.raises(SpecError) as err:
        validate_model(ServiceSpec, {"image": IMG, "env": {"BIG": big}}, "shop/api", "spec")
    one(err.value.issues, "spec.env.BIG", "above 64 KiB")
    assert big not in str(err.value)
    many = {f"V{i}": "y" * 60000 for i in range(5)}
    with pytest.raises(SpecError) as err:
        validate_model(ServiceSpec, {"image": IMG, "env": many}, "shop/api", "spec")
    one(err.value.issues, "spec", "env: 300")
    with pytest.raises(SpecError) as err:
        validate_model(ProjectSpec, {"environments": {"prod": {"overrides": {"api": {"env": {"1BAD": "v"}}}}},
                                     "services": {"api": {"image": IMG}}}, "shop")
    assert any(i.path.startswith("environments.prod.overrides.api.env") for i in err.value.issues)


def test_an_override_that_breaks_a_service_is_refused_at_its_path_before_anything_is_declared() -> None:
    data = platform({"shop": {"environments": {"prod": {"overrides": {"api": {"replicasMin": 5}}}},
                              "services": {"api": {"image": IMG, "replicas": {"min": 1, "max": 3}}}}})
    one(refuse(data), "tenants.shop.environments.prod.overrides.api", "min must be <= max (got 5 > 3)")


# --- 9: quotas and containers against the node ---------------------------------------------------------------


def test_the_ax41_budget_after_reservations() -> None:
    report = capacity_report({})
    [node] = report.nodes
    assert (node.cpu_m, node.memory) == (12000, 64 * 2**30)
    # 12 threads - 0.5 system - 1 k3s; 64Gi - 1Gi - 2Gi - 500Mi eviction; minus the platform's own pods
    assert (node.allocatable_cpu_m, node.allocatable_memory) == (10500, 64 * 2**30 - 3 * 2**30 - 500 * 2**20)
    assert (report.budget_cpu_m, report.budget_pods) == (10000, 100)


def test_production_quotas_that_do_not_fit_the_node_are_refused() -> None:
    big = {"quota": {"cpu": "8", "memory": "8Gi", "cpuLimit": "8", "memoryLimit": "16Gi"}}
    data = platform({"a": {"environments": {"prod": big}, "services": {}},
                     "b": {"environments": {"prod": big}, "services": {}}})
    issue = one(refuse(data), "tenants.a.environments.prod.quota", "production quotas ask for 16 CPU of CPU requests")
    assert "lower the prod quotas or add a node" in issue.message


def test_oversubscribed_development_environments_are_reported_not_refused() -> None:
    from enclii_iac.models.guards import platform_warnings

    spec = accept(platform({"a": project({}, ("prod", "dev", "stage")), "b": project({}, ("prod", "dev"))}))
    [warning] = platform_warnings(spec)
    assert "oversubscribed" in warning and "production quotas fit" in warning


def test_a_container_larger_than_the_node_is_refused() -> None:
    data = platform({"shop": project({"w": {"type": "worker", "image": IMG,
                                            "resources": {"cpu": "3", "cpuLimit": "3"}}})},
                    hosts={"cloud": {"w1": {"serverType": "cpx22", "sshKeys": [OPS_KEY], "sshAllowCidrs":
                                            ["198.51.100.7/32"], "kubeApiAllowCidrs": ["198.51.100.7/32"]}}},
                    cluster={"servers": ["w1"], "apiAccess": {}, "etcdSnapshots": {"enabled": False}})
    issues = refuse_spec(data)
    one(issues, "tenants.shop.services.w.resources.cpu", "more than a node offers pods (0.5 CPU allocatable on w1)")


def test_kubelet_reserves_the_control_plane_and_the_os_and_evicts_early() -> None:
    from enclii_iac.models.cluster import K3sClusterSpec

    spec = K3sClusterSpec(servers=["ax41"])
    node = r.K3sNodeConfig(name="ax41", role="server", node_ip="203.0.113.10", init=True)
    cfg = r.k3s_config(spec, node, token="t", agent_token="a")
    assert {"system-reserved=cpu=500m,memory=1Gi", "kube-reserved=cpu=1,memory=2Gi,ephemeral-storage=10Gi",
            "eviction-hard=memory.available<500Mi,nodefs.available<10%,imagefs.available<15%,nodefs.inodesFree<5%",
            "eviction-soft=memory.available<1Gi", "eviction-soft-grace-period=memory.available=90s"} <= set(
        cfg["kubelet-arg"])
    assert "enable-admission-plugins=NodeRestriction,DenyServiceExternalIPs,EventRateLimit" in cfg[
        "kube-apiserver-arg"]


# --- 4: world exposure ---------------------------------------------------------------------------------------


def _host(**extra: Any) -> dict[str, Any]:
    return {"address": "203.0.113.10", "hostKey": HOST_KEY, "adminSshKeys": [OPS_KEY],
            "sshAllowCidrs": ["198.51.100.7/32"], **extra}


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"sshAllowCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}, "hosts.dedicated.ax41.sshAllowCidrs"),
        ({"sshAllowCidrs": ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]},
         "hosts.dedicated.ax41.sshAllowCidrs"),
        ({"kubeApiAllowCidrs": ["::/1", "8000::/1"]}, "hosts.dedicated.ax41.kubeApiAllowCidrs"),
        ({"kubeApiAllowCidrs": ["2000::/4", "3000::/4"]}, "hosts.dedicated.ax41.kubeApiAllowCidrs"),
        ({"openPorts": [{"port": "10000-11000", "sourceCidrs": ["0.0.0.0/1"]},
                        {"port": "10250", "sourceCidrs": ["128.0.0.0/1"]}]}, "hosts.dedicated.ax41.openPorts[0]"),
        ({"kubeApiAllowCidrs": ["0.0.0.0/1"], "openPorts": [{"port": "6443", "sourceCidrs": ["128.0.0.0/1"]}]},
         "hosts.dedicated.ax41.openPorts[0]"),
    ],
)
def test_allow_lists_that_together_cover_the_internet_are_refused(extra: dict[str, Any], path: str) -> None:
    issues = refuse_spec(platform(hosts={"dedicated": {"ax41": _host(**extra)}}))
    assert any(i.path.startswith(path) and "admit" in i.message for i in issues), issues


def test_private_and_small_public_allow_lists_are_accepted() -> None:
    accept(platform(hosts={"dedicated": {"ax41": _host(
        sshAllowCidrs=["198.51.100.0/24", "10.0.0.0/8", "2001:db8::/48"],
        openPorts=[{"port": "443", "sourceCidrs": ["0.0.0.0/0"]}])}}))


@pytest.mark.parametrize(("field", "value"), [("clusterCidr", "8.8.0.0/16"), ("clusterCidr", "0.0.0.0/1"),
                                              ("serviceCidr", "1.0.0.0/16"), ("clusterCidr", "2001:db8::/48")])
def test_public_pod_and_service_ranges_are_refused(field: str, value: str) -> None:
    data = _cluster_platform({}, **{field: value})
    one(refuse_spec(data), f"cluster.{field}", "is not a private range")


def test_the_pod_rule_is_bound_to_the_cni_and_reverse_paths_are_strict() -> None:
    text = r.render_nftables("ax41", [], cluster_cidr="10.42.0.0/16")
    assert 'iifname { "cni0", "flannel-wg" } ip saddr 10.42.0.0/16 accept' in text
    assert "\n    ip saddr 10.42.0.0/16 accept" not in text  # never from any interface
    assert "fib saddr . mark . iif oif missing drop" in text
    assert ("net.ipv4.conf.all.rp_filter", "1") in r.HARDENING_SYSCTLS


def test_the_firewall_rule_judges_the_union_of_sources() -> None:
    rules = [r.InboundRule("tcp", "10250", ("0.0.0.0/1",), "a"), r.InboundRule("tcp", "10250", ("128.0.0.0/1",), "b")]
    [v] = firewall.check_rules("fw", rules)
    assert v.rule == firewall.RULE_WORLD and "the kubelet API" in v.message and "public IPv4 addresses" in v.message


# --- 8: data loss --------------------------------------------------------------------------------------------


def _r2(buckets: dict[str, Any]) -> dict[str, Any]:
    return platform(edge=_edge(r2={"buckets": buckets}))


@pytest.mark.parametrize(
    ("bucket", "path", "fragment"),
    [
        ({"lifecycle": {"old": {"expireAfterDays": 30}}}, "edge.r2.buckets.state.lifecycle.old.expireAfterDays",
         "deletes it"),
        ({"lifecycle": {"old": {"prefix": ".pulumi/", "expireAfterDays": 90}}},
         "edge.r2.buckets.state.lifecycle.old.expireAfterDays", "holds every stack's state"),
        ({"lock": {"all": {"retentionDays": 1}}}, "edge.r2.buckets.state.lock", "would make `pulumi up` fail"),
        ({"stateful": False}, "edge.r2.buckets.state.stateful", "must stay protected"),
    ],
)
def test_the_state_bucket_never_loses_objects(bucket: dict[str, Any], path: str, fragment: str) -> None:
    one(refuse_spec(_r2({"state": {"name": "enclii-pulumi-state", **bucket}})), path, fragment)


def test_one_writer_per_bucket() -> None:
    tokens = {"etcd": {"prefix": "etcd/"}, "postgres": {"prefix": "postgres/"}}
    issues = refuse_spec(_r2({"backups": {"name": "enclii-backups", "tokens": tokens}}))
    one(issues, "edge.r2.buckets.backups", "R2 API tokens are scoped to a bucket, not to a prefix")


def test_etcd_snapshots_need_an_object_lock_in_production() -> None:
    data = _cluster_platform({}, etcdSnapshots={"bucket": "enclii-etcd"})
    data["edge"] = _edge(r2={"buckets": {"etcd": {"name": "enclii-etcd", "tokens": {"etcd": {"prefix": "etcd/"}}}}})
    one(refuse_spec(data), "cluster.etcdSnapshots.bucket", "are not under an object lock")
    data["edge"]["r2"]["buckets"]["etcd"]["lock"] = {"etcd": {"prefix": "etcd/", "retentionDays": 3}}
    accept(data)


def test_a_renamed_volume_keeps_its_claim() -> None:
    svc = ServiceSpec.model_validate({"type": "tcp", "image": IMG, "volumes": [
        {"name": "index", "mountPath": "/data", "renamedFrom": ["data"]}]})
    ref = m.Ref("blog", "prod", "search")
    assert m.pvc(ref, svc, "index")["metadata"]["name"] == "search-data"
    assert m.pod_spec(ref, svc, IMG, False)["volumes"][1] == {
        "name": "index", "persistentVolumeClaim": {"claimName": "search-data"}}
    with pytest.raises(SpecError) as err:
        validate_model(ServiceSpec, {"type": "tcp", "image": IMG, "volumes": [
            {"name": "a", "mountPath": "/a"}, {"name": "b", "mountPath": "/b", "renamedFrom": ["a"]}]}, "x", "spec")
    one(err.value.issues, "spec", "volumes: 'a' names both 'a' and 'b'")


def test_a_renamed_volume_takes_an_alias_and_claims_are_retained() -> None:
    spec = ProjectSpec.model_validate(project({"db": {"type": "tcp", "image": IMG, "volumes": [
        {"name": "index", "mountPath": "/data", "renamedFrom": ["data"]}]}}))

    def program() -> None:
        TenantProject("blog", spec, provider=k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("x")))

    rec = Recorder().run(program)
    pvc = rec.one("kubernetes:core/v1:PersistentVolumeClaim", "blog-prod-db-pvc-index")
    assert "blog-prod-db-pvc-data" in pvc.aliases and pvc.retain_on_delete and not pvc.protect


# --- 10: workload defaults -----------------------------------------------------------------------------------


def test_liveness_is_lighter_than_readiness() -> None:
    svc = ServiceSpec.model_validate({"image": IMG, "health": {"path": "/healthz"}})
    p = m.probes(svc)
    assert p["readinessProbe"]["httpGet"]["path"] == "/healthz" and p["livenessProbe"]["tcpSocket"]
    assert p["livenessProbe"]["failureThreshold"] == 2 * p["readinessProbe"]["failureThreshold"]
    live = m.probes(ServiceSpec.model_validate({"image": IMG, "health": {"path": "/ready", "livenessPath": "/livez"}}))
    assert live["livenessProbe"]["httpGet"]["path"] == "/livez"
    worker = m.probes(ServiceSpec.model_validate({"type": "worker", "image": IMG, "health": {"command": ["./c"]}}))
    assert worker["livenessProbe"] != worker["readinessProbe"]


def test_readwriteonce_volumes_roll_with_recreate_and_one_replica() -> None:
    svc = ServiceSpec.model_validate({"type": "tcp", "image": IMG, "volumes": [{"name": "d", "mountPath": "/d"}]})
    assert m.strategy(svc) == {"type": "Recreate"}
    for extra, field in (({"replicas": {"min": 2}}, "replicas"),
                         ({"replicas": {"min": 1, "max": 3}, "autoscale": {}}, "replicas")):
        with pytest.raises(SpecError) as err:
            validate_model(ServiceSpec, {"type": "tcp", "image": IMG, "volumes": [
                {"name": "d", "mountPath": "/d"}], **extra}, "x", "spec")
        one(err.value.issues, "spec", f"{field}: a service with volumes runs one pod")
    with pytest.raises(SpecError) as err:
        validate_model(ServiceSpec, {"image": IMG, "volumes": [{"name": "d", "mountPath": "/d"}], "deploy": {
            "strategy": "blue-green", "blueGreen": {"blueImage": IMG, "greenImage": IMG}}}, "x", "spec")
    one(err.value.issues, "spec", "deploy.strategy: blue-green runs two Deployments")


def test_disruption_budgets_never_block_a_drain_on_a_crash_looping_pod() -> None:
    assert m.pdb(m.Ref("a", "prod", "b"))["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_failed_runs_are_kept_long_enough_to_be_seen() -> None:
    cron = ServiceSpec.model_validate({"type": "cron", "image": IMG, "schedule": "@daily"})
    spec = m.cron_job(m.Ref("a", "prod", "c"), cron, False)["spec"]
    assert spec["jobTemplate"]["spec"]["ttlSecondsAfterFinished"] == 7 * 86400 and spec["failedJobsHistoryLimit"]
    with pytest.raises(SpecError) as err:
        validate_model(ServiceSpec, {"type": "cron", "image": IMG, "schedule": "@daily", "jobTtl": "5m"}, "x", "spec")
    one(err.value.issues, "spec", "jobTtl: 5m would delete a failed run before anyone sees it")
    job = m.job(m.Ref("a", "prod", "j"), ServiceSpec.model_validate({"type": "job", "image": IMG}), False)
    assert "ttlSecondsAfterFinished" not in job["spec"]  # a one-off Job stays while declared
    assert r.TERMINATED_POD_GC_THRESHOLD >= 1000


# --- 2 and 3: edge ingress and roles --------------------------------------------------------------------------


def test_only_the_ingress_controller_reaches_a_routed_service_and_only_on_its_port() -> None:
    pol = m.edge_policy(m.Ref("shop", "prod", "api"), 8080, ingress_namespace="kube-system",
                        ingress_pod_labels={"app.kubernetes.io/name": "traefik"})
    [rule] = pol["spec"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                             "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert pol["spec"]["podSelector"] == {"matchLabels": {"enclii.dev/project": "shop", "enclii.dev/service": "api"}}
    names = [p["metadata"]["name"] for p in m.network_policies("shop", "prod")]
    assert "allow-edge" not in names  # no namespace-wide allowance from kube-system or the tunnel


def test_a_tcp_service_is_not_routed_and_no_policy_admits_whole_namespaces() -> None:
    spec = ProjectSpec.model_validate(project({"db": {"type": "tcp", "image": IMG, "port": 5432},
                                               "web": web("shop.example.com", port=3000)}))

    def program() -> None:
        TenantProject("shop", spec, provider=k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("x")))

    rec = Recorder().run(program)
    netpols = rec.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    pols = {p.inputs["metadata"]["name"]: p.inputs for p in netpols}
    assert "db-from-edge" not in pols and pols["web-from-edge"]["spec"]["ingress"][0]["ports"] == [
        {"protocol": "TCP", "port": 3000}]
    labels = rec.one("kubernetes:apps/v1:Deployment", "shop-prod-db-deployment").inputs["metadata"]["labels"]
    assert "enclii.dev/routed" not in labels
    assert tenancy.edge_ingress(rec.records) == [] and tenancy.assigned_hosts(rec.records) == []
    old = copy.deepcopy(rec.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "shop-prod-netpol-default-deny"))
    old.inputs["spec"] = {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cloudflared"}}}]}]}
    [v] = tenancy.edge_ingress([*rec.records, old])
    assert v.rule == "edge-ingress" and "every pod of namespace cloudflared" in v.message


def _pairs(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(g, res, v) for rule in rules for g in rule["apiGroups"] for res in rule["resources"]
            for v in rule["verbs"]}


@pytest.mark.parametrize("stage", ["prod", "dev", "preview"])
def test_each_role_is_within_the_owners_so_owners_can_bind_it(stage: str) -> None:
    owner = _pairs(m.role_rules("owner", stage))
    for role in ("admin", "developer", "viewer"):
        assert _pairs(m.role_rules(role, stage)) <= owner, role


def test_developers_cannot_change_what_runs_in_production() -> None:
    prod, dev = _pairs(m.role_rules("developer", "prod")), _pairs(m.role_rules("developer", "dev"))
    for pair in (("batch", "jobs", "create"), ("apps", "deployments", "patch"), ("", "pods/portforward", "create")):
        assert pair not in prod and pair in dev
    assert ("apps", "deployments/scale", "patch") in prod and ("", "pods", "delete") in prod
    for role in m.ROLES:
        for stage in ("prod", "dev"):
            pairs = _pairs(m.role_rules(role, stage))
            assert not {p for p in pairs if p[1] in ("endpoints", "endpointslices") and p[2] != "get"
                        and p[2] not in ("list", "watch")}, role
            assert ("", "secrets", "get") not in pairs or role in ("admin", "owner")


# --- 1: the admission policies and the namespace annotations ------------------------------------------------


def test_admission_policies_golden() -> None:
    assert_golden(GOLDEN / "kube" / "admission.yaml", yaml.safe_dump_all(admission.manifests(), sort_keys=False,
                                                                           width=120))


def test_every_policy_binds_every_tenant_namespace_and_denies() -> None:
    docs = admission.manifests()
    policies = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicy"]
    bindings = {d["spec"]["policyName"]: d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"}
    assert set(bindings) == {p["metadata"]["name"] for p in policies}
    for b in bindings.values():
        assert b["spec"]["validationActions"] == ["Deny"]
        assert b["spec"]["matchResources"]["namespaceSelector"] == admission.TENANT_NAMESPACES
    assert all(p["spec"]["failurePolicy"] == "Fail" for p in policies)


def test_namespaces_carry_exactly_their_hosts() -> None:
    spec = ProjectSpec.model_validate({
        "environments": {"prod": {}, "dev": {"overrides": {"web": {"domains": []}}}},
        "services": {"web": {"image": IMG, "domains": ["shop.customer.com"], "routes": [
            {"host": "shop.example.com", "environments": ["prod"]},
            {"host": "dev.shop.example.com", "environments": ["dev"]}]}}})

    def program() -> None:
        TenantProject("shop", spec, provider=k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("x")))

    rec = Recorder().run(program)
    hosts = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["annotations"][m.ALLOWED_HOSTS_ANNOTATION]
             for r in rec.of_type("kubernetes:core/v1:Namespace")}
    assert hosts == {"shop-prod": "shop.customer.com,shop.example.com", "shop-dev": "dev.shop.example.com"}
    assert tenancy.assigned_hosts(rec.records) == []
    ing = rec.one("kubernetes:networking.k8s.io/v1:Ingress", "shop-dev-web-ingress")
    ing.inputs["spec"]["rules"][0]["host"] = "shop.example.com"
    [v] = tenancy.assigned_hosts(rec.records)
    assert v.rule == "assigned-hosts" and "shop.example.com is not a host assigned to namespace shop-dev" in v.message
    assert reveal(rec.stack_outputs) == {}


def test_preview_stacks_declare_no_admission_policies_production_does() -> None:
    def program(stage: str) -> Any:
        def run() -> None:
            spec = build_platform(platform({"shop": project({"web": web("shop.example.com")})}, stage=stage,
                                           policy={"requireDigests": False}), None, "p")
            EncliiPlatform("enclii", spec, providers=PlatformProviders(
                kubernetes=k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("x"))))
        return run

    prod = Recorder().run(program("production"))
    assert prod.count("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy") == len(
        admission.policies())
    adm = prod.one("enclii:index:TenantAdmission", "enclii-admission")
    assert prod.parent_of(adm) == prod.one("enclii:index:EncliiPlatform", "enclii")
    assert all(r.protect for r in prod.records if r.type.startswith("kubernetes:admissionregistration"))
    preview = Recorder().run(program("preview"))
    assert preview.count("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy") == 0


def test_the_policy_notices_a_tenant_namespace_exempt_from_pod_security() -> None:
    from dataclasses import dataclass, field

    from enclii_iac.models.cluster import K3sHardeningSpec

    @dataclass
    class Rec:
        type: str
        name: str
        inputs: dict[str, Any] = field(default_factory=dict)

    ns = Rec("kubernetes:core/v1:Namespace", "shop-prod-ns", m.namespace("shop", "prod"))
    script = r.render_k3s_install_script(version="v1.33.4+k3s1", role="server", config={"node-name": "ax41"},
                                         hardening=K3sHardeningSpec(), extra_exempt=["shop-prod"])
    step = Rec("command:remote:Command", "enclii-k3s-ax41-k3s", {"stdin": script})
    [v] = tenancy.pod_security_exemptions([ns, step])  # type: ignore[list-item]
    assert v.rule == "psa-exemption" and "tenant namespace shop-prod is exempt" in v.message
    clean = r.render_k3s_install_script(version="v1.33.4+k3s1", role="server", config={"node-name": "ax41"},
                                        hardening=K3sHardeningSpec())
    assert tenancy.pod_security_exemptions([ns, Rec(step.type, step.name, {"stdin": clean})]) == []  # type: ignore[list-item]

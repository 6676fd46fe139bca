"""Tenant isolation in a real kube-apiserver: the admission policies, the tenant roles and node capacity.

Two tenants, ``alpha`` (the victim) and ``bravo`` (the attacker), are declared exactly as a production stack
declares them: ``TenantAdmission`` and ``TenantProject`` run under the recorder and every object they declare
is applied, server-side, by the cluster admin (the platform). Then bravo's owner and admin, impersonated with
``kubectl --as/--as-group``, try every way the review found to take alpha's traffic; each attempt must be
refused by the named policy (or by RBAC), name the field, and leave nothing behind. The legal objects (all of
the platform's own, and bravo's use of its own hosts) are admitted.

The module removes what it applied (policies, bindings, namespaces), so the other engine tests start clean.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from enclii_iac.kube.admission import TenantAdmission
from enclii_iac.kube.tenant import TenantProject
from enclii_iac.models.capacity import capacity_report
from enclii_iac.models.tenant import ProjectSpec
from enclii_iac.render import admission
from enclii_iac.render import kube as m
from enclii_iac.testing import Recorder, reveal
from tests.engine.harness import NODE_CAPACITY, NODE_NAME, LocalCluster

pytestmark = [
    pytest.mark.engine,
    # harness.LocalCluster.api() leaves the socket of an HTTPError response open (its start-up polls get 404s);
    # the warning surfaces, when it is collected, in whichever test first uses the cluster (reported to the lead)
    pytest.mark.filterwarnings("ignore:Exception ignored in.*SSLSocket:pytest.PytestUnraisableExceptionWarning"),
]

DIGEST = "@sha256:" + "ab" * 32
REGISTRIES = ["ghcr.io/acme/"]
ALPHA = ProjectSpec.model_validate({
    "environments": {"prod": {}, "dev": {"overrides": {"web": {"domains": []}}}},
    "members": [
        {"kind": "Group", "name": "alpha-owners", "role": "owner"},
        {"name": "alpha-dev@acme.example", "role": "developer"},
        {"name": "alpha-viewer@acme.example", "role": "viewer"},
        {"name": "alpha-admin@acme.example", "role": "admin"},
    ],
    "services": {
        "web": {
            "image": "ghcr.io/acme/alpha-web" + DIGEST,
            "routes": [{"host": "alpha.example.com", "environments": ["prod"]},
                       {"host": "dev.alpha.example.com", "environments": ["dev"]}],
            "domains": ["alpha-customer.com"],
            "health": {"path": "/healthz"},
        },
        "api": {
            "image": "ghcr.io/acme/alpha-api" + DIGEST,
            "routes": [{"host": "api.alpha.example.com", "path": "/v1", "environments": ["prod"]}],
            "environments": ["prod"],
            "deploy": {"strategy": "canary", "canary": {"image": "ghcr.io/acme/alpha-api@sha256:" + "cd" * 32}},
        },
        "db": {"type": "tcp", "image": "ghcr.io/acme/alpha-db" + DIGEST, "port": 5432,
               "volumes": [{"name": "data", "mountPath": "/data"}]},
        "nightly": {"type": "cron", "image": "ghcr.io/acme/alpha-web" + DIGEST, "schedule": "30 2 * * *"},
    },
})
BRAVO = ProjectSpec.model_validate({
    "environments": {"prod": {}},
    "members": [{"name": "bravo-owner@evil.example", "role": "owner"},
                {"name": "bravo-admin@evil.example", "role": "admin"}],
    "services": {"web": {"image": "ghcr.io/acme/bravo-web" + DIGEST,
                         "routes": [{"host": "bravo.example.com"}]}},
})
OWNER = ("bravo-owner@evil.example",)
ADMIN = ("bravo-admin@evil.example",)
NS = "bravo-prod"
VICTIM = "alpha-prod"


def _declared() -> list[dict[str, Any]]:
    """Every Kubernetes object a production stack declares for the two tenants (secrets none)."""
    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("apiVersion: v1"))
        adm = TenantAdmission("enclii-admission", provider=provider)
        for name, spec in (("alpha", ALPHA), ("bravo", BRAVO)):
            TenantProject(name, spec, provider=provider, allowed_registries=REGISTRIES, admission=adm)

    rec = Recorder(project="enclii-production", stack="production").run(program)
    return [dict(reveal(o)) for o in rec.kubernetes_objects()]


def _apply(c: LocalCluster, docs: list[dict[str, Any]]) -> None:
    if docs:
        c.kubectl("apply", "--server-side", "--field-manager=enclii-engine-admission", "-f", "-",
                  input=yaml.safe_dump_all(docs))


def _who(user: tuple[str, ...]) -> list[str]:
    if not user:
        return []
    return [f"--as={user[0]}", *[f"--as-group={g}" for g in user[1:]]]


def attempt(c: LocalCluster, doc: dict[str, Any], user: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``kubectl create`` of ``doc`` as ``user`` (the cluster admin when empty)."""
    return c.kubectl(*_who(user), "create", "-f", "-", input=yaml.safe_dump(doc), check=False)


def refused(res: subprocess.CompletedProcess[str], policy: str, *fields: str) -> None:
    assert res.returncode != 0, f"admitted: {res.stdout}"
    assert f"ValidatingAdmissionPolicy '{policy}' with binding '{policy}' denied request" in res.stderr, res.stderr
    for f in fields:
        assert f in res.stderr, res.stderr


def rbac_refused(res: subprocess.CompletedProcess[str]) -> None:
    assert res.returncode != 0 and "is forbidden: User" in res.stderr and "cannot create" in res.stderr, res.stderr


def absent(c: LocalCluster, kind: str, name: str, ns: str = NS) -> None:
    res = c.kubectl("get", kind, name, "-n", ns, "--ignore-not-found", "-o", "name", check=False)
    assert res.returncode == 0 and res.stdout.strip() == "", f"{kind}/{name} was created: {res.stdout}"


def admitted(c: LocalCluster, res: subprocess.CompletedProcess[str], kind: str, name: str, ns: str = NS) -> None:
    assert res.returncode == 0, res.stderr
    c.kubectl("delete", kind, name, "-n", ns, "--wait=false")


def meta(name: str, ns: str = NS) -> dict[str, Any]:
    return {"name": name, "namespace": ns}


def ingress(name: str, rules: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    backend = {"service": {"name": "web", "port": {"name": "http"}}}
    for r in rules:
        r.setdefault("http", {"paths": [{"path": r.pop("path", "/"), "pathType": "Prefix", "backend": backend}]})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta(name),
            "spec": {"ingressClassName": "traefik", "rules": rules, **spec}}


def ingress_route(name: str, match: str, **service: Any) -> dict[str, Any]:
    return {"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute", "metadata": meta(name),
            "spec": {"entryPoints": ["web"], "routes": [
                {"kind": "Rule", "match": match, "services": [{"name": "web", "port": 80, **service}]}]}}


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name),
            "spec": {"ports": [{"port": 80, "targetPort": 8080}], **spec}}


@dataclass
class Tenants:
    cluster: LocalCluster
    declared: list[dict[str, Any]]


def _wait_enforced(c: LocalCluster) -> None:
    """Policies take effect once the API server has compiled them: poll a dry-run hijack until refused."""
    probe = ingress("probe", [{"host": "alpha.example.com"}])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        res = c.kubectl("create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(probe), check=False)
        if res.returncode != 0 and "ValidatingAdmissionPolicy" in res.stderr:
            return
        time.sleep(1)
    raise AssertionError(f"the admission policies were not enforced after 90 s: {res.stderr or res.stdout}")


@pytest.fixture(scope="module")
def tenants(cluster: LocalCluster) -> Iterator[Tenants]:
    docs = _declared()
    first = [d for d in docs if d["kind"].startswith("ValidatingAdmissionPolicy")]
    namespaces = [d for d in docs if d["kind"] == "Namespace"]
    rest = [d for d in docs if d not in first and d not in namespaces]
    try:
        _apply(cluster, [d for d in first if d["kind"] == "ValidatingAdmissionPolicy"])
        _apply(cluster, [d for d in first if d["kind"] == "ValidatingAdmissionPolicyBinding"])
        _apply(cluster, namespaces)
        _wait_enforced(cluster)
        for ns in namespaces:  # the default service account, which ad-hoc pods below use
            name = ns["metadata"]["name"]
            deadline = time.monotonic() + 60
            while not cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0:
                assert time.monotonic() < deadline, f"no default service account in {name}"
                time.sleep(0.5)
        _apply(cluster, rest)  # the platform's own objects: every one of them passes its policies
        yield Tenants(cluster, docs)
    finally:
        names = [d["metadata"]["name"] for d in namespaces]
        cluster.kubectl("delete", "namespace", *names, "--ignore-not-found", "--wait=false", check=False)
        for d in first:
            kind = "validatingadmissionpolicybinding" if d["kind"].endswith("Binding") else "validatingadmissionpolicy"
            cluster.kubectl("delete", kind, d["metadata"]["name"], "--ignore-not-found", check=False)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            left = cluster.kubectl("get", "namespace", *names, "--ignore-not-found", "-o", "name", check=False)
            if not left.stdout.strip():
                break
            time.sleep(1)


# --- the platform's own objects ------------------------------------------------------------------------------


def test_every_declared_object_was_admitted_and_the_workloads_run(tenants: Tenants) -> None:
    c = tenants.cluster
    for d in tenants.declared:
        md = d["metadata"]
        args = ["get", d["kind"].lower(), md["name"], "-o", "name"]
        if "namespace" in md:
            args += ["-n", md["namespace"]]
        assert c.kubectl(*args, check=False).returncode == 0, f"{d['kind']}/{md['name']} is missing"
    annotations = c.api("GET", f"/api/v1/namespaces/{VICTIM}")["metadata"]["annotations"]
    assert annotations[m.ALLOWED_HOSTS_ANNOTATION] == (
        "alpha-customer.com,alpha.example.com,api.alpha.example.com")
    assert annotations[m.ALLOWED_REGISTRIES_ANNOTATION] == "ghcr.io/acme/"
    dev = c.api("GET", "/api/v1/namespaces/alpha-dev")["metadata"]["annotations"]
    assert dev[m.ALLOWED_HOSTS_ANNOTATION] == "dev.alpha.example.com"  # prod's hosts are prod's alone
    for ns in (VICTIM, NS):
        for d in c.api("GET", f"/apis/apps/v1/namespaces/{ns}/deployments")["items"]:
            c.kubectl("rollout", "status", f"deployment/{d['metadata']['name']}", "-n", ns, "--timeout=240s",
                      timeout=300)
        events = c.api("GET", f"/api/v1/namespaces/{ns}/events")["items"]
        assert not [e["message"] for e in events if e.get("reason") == "FailedCreate"]
    # the Kubernetes endpoint controllers still write Endpoints and EndpointSlices for tenant Services
    deadline = time.monotonic() + 60
    while not c.kubectl("get", "endpointslices", "-n", VICTIM, "-l", "kubernetes.io/service-name=web", "-o",
                        "name").stdout.strip():
        assert time.monotonic() < deadline, "no EndpointSlice for alpha's web Service"
        time.sleep(1)
    assert c.kubectl("get", "endpoints", "web", "-n", VICTIM, check=False).returncode == 0


# --- hosts ---------------------------------------------------------------------------------------------------

HOSTS = "enclii-tenant-ingress-hosts"


@pytest.mark.parametrize(
    ("case", "rules", "spec", "fields"),
    [
        ("other-host", [{"host": "alpha.example.com"}], {}, ["spec.rules[].host: alpha.example.com", NS]),
        ("longer-path", [{"host": "alpha.example.com", "path": "/admin"}], {}, ["spec.rules[].host"]),
        ("custom-domain", [{"host": "alpha-customer.com"}], {}, ["alpha-customer.com is not a host"]),
        ("beside-own", [{"host": "bravo.example.com"}, {"host": "api.alpha.example.com"}], {},
         ["api.alpha.example.com"]),
        ("no-host", [{}], {}, ["(no host: every host)"]),
        ("default-backend", [{"host": "bravo.example.com"}],
         {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}, ["spec.defaultBackend"]),
        ("tls-cert", [{"host": "bravo.example.com"}], {"tls": [{"hosts": ["alpha.example.com"], "secretName": "x"}]},
         ["spec.tls[].hosts: alpha.example.com"]),
    ],
)
def test_an_ingress_for_another_tenants_host_is_refused(
    tenants: Tenants, case: str, rules: list[dict[str, Any]], spec: dict[str, Any], fields: list[str]
) -> None:
    c = tenants.cluster
    for user in (ADMIN, OWNER):
        refused(attempt(c, ingress(f"hijack-{case}", rules, **spec), user), HOSTS, *fields)
        absent(c, "ingress", f"hijack-{case}")


def test_an_ingress_for_the_tenants_own_hosts_is_admitted(tenants: Tenants) -> None:
    c = tenants.cluster
    doc = ingress("own", [{"host": "bravo.example.com", "path": "/shop"}],
                  tls=[{"hosts": ["bravo.example.com"], "secretName": "web-tls"}])
    admitted(c, attempt(c, doc, ADMIN), "ingress", "own")


def test_unchanged_objects_pass_after_a_host_is_withdrawn_but_changes_do_not(tenants: Tenants) -> None:
    c = tenants.cluster
    assert attempt(c, ingress("kept", [{"host": "bravo.example.com"}]), ADMIN).returncode == 0
    key = m.ALLOWED_HOSTS_ANNOTATION
    c.kubectl("annotate", "namespace", NS, f"{key}=", "--overwrite")
    try:
        assert c.kubectl(*_who(ADMIN), "label", "ingress", "kept", "-n", NS, "team=web").returncode == 0
        backend = {"service": {"name": "web", "port": {"number": 80}}}
        patch = json.dumps({"spec": {"rules": [{"host": "bravo.example.com", "http": {"paths": [
            {"path": "/new", "pathType": "Prefix", "backend": backend}]}}]}})
        res = c.kubectl(*_who(ADMIN), "patch", "ingress", "kept", "-n", NS, "--type=merge", "-p", patch, check=False)
        refused(res, HOSTS, "bravo.example.com is not a host of namespace bravo-prod (allowed: none)")
    finally:
        c.kubectl("annotate", "namespace", NS, f"{key}=bravo.example.com", "--overwrite")
        c.kubectl("delete", "ingress", "kept", "-n", NS, "--wait=false")


ROUTES = "enclii-tenant-ingressroute-hosts"


@pytest.mark.parametrize(
    ("case", "match", "extra", "fields"),
    [
        ("other-host", "Host(`alpha.example.com`)", {}, ["spec.routes[].match: Host(`alpha.example.com`)"]),
        ("no-host", "PathPrefix(`/`)", {}, ["PathPrefix(`/`) is not Host"]),
        ("or", "Host(`bravo.example.com`) || Host(`alpha.example.com`)", {}, ["spec.routes[].match"]),
        ("regexp", "HostRegexp(`^.+$`)", {}, ["spec.routes[].match"]),
        ("header", "Host(`bravo.example.com`) && Header(`X`, `y`)", {}, ["spec.routes[].match"]),
        ("cross-namespace", "Host(`bravo.example.com`)", {"namespace": VICTIM}, ["spec.routes[].services"]),
    ],
)
def test_an_ingressroute_for_another_tenants_host_or_namespace_is_refused(
    tenants: Tenants, case: str, match: str, extra: dict[str, Any], fields: list[str]
) -> None:
    c = tenants.cluster
    doc = ingress_route(f"hijack-{case}", match, **extra)
    rbac_refused(attempt(c, doc, OWNER))  # tenants have no Traefik permissions at all
    refused(attempt(c, doc), ROUTES, *fields)  # and even the platform's identity may not write one
    absent(c, "ingressroute", f"hijack-{case}")


def test_the_platforms_ingressroute_shape_is_admitted(tenants: Tenants) -> None:
    c = tenants.cluster
    doc = ingress_route("own", "Host(`bravo.example.com`) && PathPrefix(`/v1`)")
    admitted(c, attempt(c, doc), "ingressroute", "own")
    declared = c.api("GET", f"/apis/traefik.io/v1alpha1/namespaces/{VICTIM}/ingressroutes/api")
    assert declared["spec"]["routes"][0]["match"] == "Host(`api.alpha.example.com`) && PathPrefix(`/v1`)"


def test_tcp_routes_and_cross_namespace_splits_are_refused(tenants: Tenants) -> None:
    c = tenants.cluster
    tcp = {"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRouteTCP", "metadata": meta("grab-all"),
           "spec": {"entryPoints": ["web"], "routes": [{"match": "HostSNI(`*`)", "services": [
               {"name": "web", "port": 80}]}]}}
    refused(attempt(c, tcp), "enclii-tenant-traefik-kinds", "kind IngressRouteTCP: not in a tenant namespace")
    absent(c, "ingressroutetcp", "grab-all")
    split = {"apiVersion": "traefik.io/v1alpha1", "kind": "TraefikService", "metadata": meta("steal"),
             "spec": {"weighted": {"services": [{"name": "web-stable", "namespace": VICTIM, "port": 80}]}}}
    refused(attempt(c, split), "enclii-tenant-traefikservice-namespace", "spec.weighted.services[].namespace")
    absent(c, "traefikservice", "steal")


# --- exposure past the tunnel --------------------------------------------------------------------------------

SERVICES = "enclii-tenant-services"


@pytest.mark.parametrize(
    ("case", "spec", "fields"),
    [
        ("nodeport", {"type": "NodePort"}, ["spec.type: NodePort"]),
        ("loadbalancer", {"type": "LoadBalancer"}, ["spec.type: LoadBalancer"]),
        ("externalname", {"type": "ExternalName", "externalName": "web.alpha-prod.svc.cluster.local",
                          "ports": []}, ["spec.type: ExternalName"]),
        ("externalips", {"externalIPs": ["203.0.113.10"]}, ["spec.externalIPs"]),
    ],
)
def test_services_past_the_tunnel_are_refused(tenants: Tenants, case: str, spec: dict[str, Any],
                                              fields: list[str]) -> None:
    c = tenants.cluster
    refused(attempt(c, service(f"expose-{case}", **spec), ADMIN), SERVICES, *fields)
    absent(c, "service", f"expose-{case}")


def test_a_cluster_ip_service_is_admitted(tenants: Tenants) -> None:
    c = tenants.cluster
    admitted(c, attempt(c, service("internal", selector={"app": "x"}), ADMIN), "service", "internal")


ENDPOINTS = "enclii-tenant-endpoints"


def test_hand_written_endpoints_are_refused_to_tenants_and_to_the_platform(tenants: Tenants) -> None:
    c = tenants.cluster
    # a Service without a selector plus hand-written addresses would send bravo's route to alpha's pods
    assert attempt(c, service("decoy"), ADMIN).returncode == 0
    pod_ip = "10.42.0.10"
    eps = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta("decoy"),
           "subsets": [{"addresses": [{"ip": pod_ip}], "ports": [{"port": 8080}]}]}
    sl = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
          "metadata": {**meta("decoy-x"), "labels": {"kubernetes.io/service-name": "decoy"}},
          "addressType": "IPv4", "endpoints": [{"addresses": [pod_ip]}], "ports": [{"port": 8080}]}
    for doc, kind in ((eps, "endpoints"), (sl, "endpointslice")):
        for user in (ADMIN, OWNER):
            rbac_refused(attempt(c, doc, user))
        refused(attempt(c, doc), ENDPOINTS, "written by Kubernetes from Service selectors only")
        absent(c, kind, doc["metadata"]["name"])
    c.kubectl("delete", "service", "decoy", "-n", NS, "--wait=false")


# --- role bindings -------------------------------------------------------------------------------------------

BINDINGS = "enclii-tenant-rolebindings"


def binding(name: str, subjects: list[dict[str, Any]], role: str = "enclii-viewer",
            kind: str = "Role") -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": subjects}


def test_role_bindings_to_system_identities_or_other_namespaces_are_refused(tenants: Tenants) -> None:
    c = tenants.cluster
    group = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group"}
    for name, subjects, fields in (
        ("everyone", [{**group, "name": "system:authenticated"}], ["Group system:authenticated"]),
        ("all-sas", [{**group, "name": "system:serviceaccounts"}], ["Group system:serviceaccounts"]),
        ("victim-sa", [{"kind": "ServiceAccount", "name": "web", "namespace": VICTIM}], ["ServiceAccount web"]),
    ):
        refused(attempt(c, binding(name, subjects), OWNER), BINDINGS, "subjects: ", *fields)
        absent(c, "rolebinding", name)
    res = attempt(c, binding("cluster-role", [{**group, "name": "friends"}], role="view", kind="ClusterRole"), OWNER)
    assert res.returncode != 0 and ("roleRef.kind" in res.stderr or "forbidden" in res.stderr), res.stderr
    absent(c, "rolebinding", "cluster-role")
    ok = binding("friend", [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "friend@evil.example"}])
    admitted(c, attempt(c, ok, OWNER), "rolebinding", "friend")


# --- registries ----------------------------------------------------------------------------------------------


def _pod_spec(image: str) -> dict[str, Any]:
    from enclii_iac.models.service import ServiceSpec

    spec = m.pod_spec(m.Ref("bravo", "prod", "web"), ServiceSpec(type="worker", image=image), image, False)
    spec["serviceAccountName"] = "default"
    return spec


@pytest.mark.parametrize("image", ["docker.io/library/busybox:1.36", "ghcr.io/acmeevil/x:1", "nginx:1.27"])
def test_images_from_other_registries_are_refused(tenants: Tenants, image: str) -> None:
    c = tenants.cluster
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta("intruder"), "spec": _pod_spec(image)}
    template = {"metadata": {"labels": {"app": "intruder"}}, "spec": _pod_spec(image)}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("intruder"),
                  "spec": {"selector": {"matchLabels": {"app": "intruder"}}, "template": template}}
    cron_template = {**template, "spec": {**template["spec"], "restartPolicy": "Never"}}
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta("intruder"),
            "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": cron_template}}}}
    for doc, policy in ((pod, "enclii-tenant-registries-pods"), (deployment, "enclii-tenant-registries-workloads"),
                        (cron, "enclii-tenant-registries-cronjobs")):
        refused(attempt(c, doc, ADMIN), policy, f"image {image} is not from an allowed registry (ghcr.io/acme/")
        absent(c, doc["kind"].lower(), "intruder")


def test_an_image_from_the_allowed_registry_is_admitted(tenants: Tenants) -> None:
    c = tenants.cluster
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta("allowed"),
           "spec": _pod_spec("ghcr.io/acme/bravo-web" + DIGEST)}
    admitted(c, attempt(c, pod, ADMIN), "pod", "allowed")


def test_workloads_admitted_before_the_allow_list_changed_still_scale_down_but_no_new_pod_is_admitted(
    tenants: Tenants,
) -> None:
    c = tenants.cluster
    template = {"metadata": {"labels": {"app": "steady"}}, "spec": _pod_spec("ghcr.io/acme/bravo-web" + DIGEST)}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("steady"),
                  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "steady"}}, "template": template}}
    assert attempt(c, deployment, ADMIN).returncode == 0
    key = m.ALLOWED_REGISTRIES_ANNOTATION
    try:
        c.kubectl("rollout", "status", "deployment/steady", "-n", NS, "--timeout=120s", timeout=150)
        c.kubectl("annotate", "namespace", NS, f"{key}=quay.io/elsewhere/", "--overwrite")
        # the deployment controller resizes the ReplicaSet: an UPDATE of its spec, not of its pod template
        c.kubectl(*_who(ADMIN), "scale", "deployment/steady", "-n", NS, "--replicas=1")
        c.kubectl("rollout", "status", "deployment/steady", "-n", NS, "--timeout=120s", timeout=150)
        # a new pod is judged by the new list, and so is a new pod template
        c.kubectl(*_who(ADMIN), "scale", "deployment/steady", "-n", NS, "--replicas=2")
        deadline = time.monotonic() + 60
        while True:
            events = c.api("GET", f"/api/v1/namespaces/{NS}/events")["items"]
            refusals = [e["message"] for e in events if e.get("reason") == "FailedCreate"
                        and "enclii-tenant-registries-pods" in e.get("message", "")]
            if refusals or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert refusals and "is not from an allowed registry (quay.io/elsewhere/" in refusals[0]
        res = c.kubectl(*_who(ADMIN), "set", "env", "deployment/steady", "-n", NS, "X=1", check=False)
        refused(res, "enclii-tenant-registries-workloads", "is not from an allowed registry (quay.io/elsewhere/")
    finally:
        c.kubectl("annotate", "namespace", NS, f"{key}=ghcr.io/acme/", "--overwrite")
        c.kubectl("delete", "deployment", "steady", "-n", NS, "--wait=false")


# --- the RBAC boundary (docs/tenant-project.md) --------------------------------------------------------------

DEV = ("alpha-dev@acme.example",)
VIEWER = ("alpha-viewer@acme.example",)
ALPHA_ADMIN = ("alpha-admin@acme.example",)
ALPHA_OWNER = ("someone@acme.example", "alpha-owners")

CAN_I = [
    # (who, verb, resource, environment, allowed)
    (DEV, "get", "secrets", "prod", False),
    (DEV, "create", "jobs", "prod", False),  # a Job could mount the namespace's Secrets and print them
    (DEV, "patch", "deployments", "prod", False),  # so could a patched pod template
    (DEV, "create", "pods", "prod", False),
    (DEV, "create", "pods/portforward", "prod", False),
    (DEV, "patch", "deployments/scale", "prod", True),
    (DEV, "delete", "pods", "prod", True),  # restarts
    (DEV, "get", "pods/log", "prod", True),
    (DEV, "create", "jobs", "dev", True),  # outside production, developers change what runs
    (DEV, "patch", "deployments", "dev", True),
    (DEV, "create", "pods/portforward", "dev", True),
    (DEV, "get", "secrets", "dev", False),
    (VIEWER, "list", "pods", "prod", True),
    (VIEWER, "get", "secrets", "prod", False),
    (VIEWER, "patch", "deployments/scale", "prod", False),
    (ALPHA_ADMIN, "create", "secrets", "prod", True),
    (ALPHA_ADMIN, "create", "endpoints", "prod", False),
    (ALPHA_ADMIN, "create", "endpointslices.discovery.k8s.io", "prod", False),
    (ALPHA_ADMIN, "create", "rolebindings", "prod", False),
    (ALPHA_ADMIN, "create", "ingressroutes.traefik.io", "prod", False),
    (ALPHA_ADMIN, "create", "pods/exec", "prod", False),
    (ALPHA_OWNER, "create", "rolebindings", "prod", True),
    (ALPHA_OWNER, "update", "roles", "prod", False),
    (ALPHA_OWNER, "update", "networkpolicies", "prod", False),
    (ALPHA_OWNER, "update", "resourcequotas", "prod", False),
    (ALPHA_OWNER, "patch", "namespaces", "prod", False),
    (ALPHA_OWNER, "create", "serviceaccounts", "prod", False),
    (ADMIN, "get", "pods", "prod-of-alpha", False),  # bravo reaches nothing in alpha's namespaces
]


@pytest.mark.parametrize(("who", "verb", "resource", "env", "allowed"), CAN_I)
def test_tenant_roles_can_exactly_what_the_docs_say(tenants: Tenants, who: tuple[str, ...], verb: str,
                                                    resource: str, env: str, allowed: bool) -> None:
    ns = VICTIM if env == "prod-of-alpha" else f"alpha-{env}"
    kind, _, sub = resource.partition("/")  # `can-i verb pods/exec` would ask about a pod *named* exec
    args = [kind] + ([f"--subresource={sub}"] if sub else [])
    res = tenants.cluster.kubectl("auth", "can-i", verb, *args, "-n", ns, *_who(who), check=False)
    assert res.stdout.strip() == ("yes" if allowed else "no"), (who, verb, resource, ns, res.stdout, res.stderr)


# --- node capacity (item 9) ----------------------------------------------------------------------------------


def test_quotas_are_judged_against_what_the_node_offers(tenants: Tenants) -> None:
    from enclii_iac.models._base import cpu_millis, memory_bytes
    from enclii_iac.models.capacity import allocatable, cluster_nodes
    from enclii_iac.models.cluster import NodeReservationsSpec

    node = tenants.cluster.api("GET", f"/api/v1/nodes/{NODE_NAME}")
    capacity = node["status"]["capacity"]
    assert (capacity["cpu"], capacity["memory"]) == (NODE_CAPACITY["cpu"], NODE_CAPACITY["memory"])
    # the model's reference node is the node the cluster reports
    [ref] = cluster_nodes(None, None)[0]
    assert (ref.cpu_m, ref.memory) == (cpu_millis(capacity["cpu"]), memory_bytes(capacity["memory"]))
    # what the kubelet would offer with the AX41 reservations, and the two tenants' production quotas in it
    cpu, mem = allocatable(ref.cpu_m, ref.memory, NodeReservationsSpec())
    assert cpu < ref.cpu_m and mem < ref.memory
    report = capacity_report({"alpha": ALPHA, "bravo": BRAVO})
    assert not report.errors and report.prod_cpu_m <= report.budget_cpu_m <= cpu
    # the quota the API server enforces is the one the model judged
    quota = tenants.cluster.api("GET", f"/api/v1/namespaces/{VICTIM}/resourcequotas/quota")
    assert quota["spec"]["hard"]["requests.cpu"] == ALPHA.environments["prod"].quota.cpu
    # and a container above what one may use is refused by the namespace's LimitRange, as validate refuses it
    big = _pod_spec("ghcr.io/acme/bravo-web" + DIGEST)
    big["containers"][0]["resources"]["limits"]["cpu"] = "8"
    big["containers"][0]["resources"]["requests"]["cpu"] = "8"
    res = attempt(tenants.cluster, {"apiVersion": "v1", "kind": "Pod", "metadata": meta("greedy"), "spec": big},
                  ADMIN)
    assert res.returncode != 0 and "maximum cpu usage per Container is 4" in res.stderr, res.stderr
    absent(tenants.cluster, "pod", "greedy")


def test_the_policies_are_rendered_from_the_module_the_component_uses(tenants: Tenants) -> None:
    declared = {d["metadata"]["name"] for d in tenants.declared if d["kind"] == "ValidatingAdmissionPolicy"}
    assert declared == {p["metadata"]["name"] for p in admission.policies()}
    listed = tenants.cluster.api("GET", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies")
    assert declared <= {p["metadata"]["name"] for p in listed["items"]}

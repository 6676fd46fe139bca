"""OIDC for the Kubernetes API through a real kube-apiserver: the flags enclii_iac renders for k3s, an OIDC
issuer on loopback, the tenant RoleBindings enclii_iac declares, and `kubectl auth can-i` with its tokens.

The issuer is a small HTTPS server run by the test (its own CA, passed with --oidc-ca-file): discovery
(`/.well-known/openid-configuration`) and a JWKS with one RSA key; ID tokens are RS256 JWTs signed with
the `cryptography` package. The API server's OIDC flags are `oidc_apiserver_args`, the function that
writes them into k3s's `kube-apiserver-arg`, so the flags proven here are the deployed ones.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from enclii_iac.identity.render import oidc_apiserver_args
from enclii_iac.kube.tenant import TenantProject
from enclii_iac.models.identity import OidcSpec
from enclii_iac.models.tenant import ProjectSpec
from enclii_iac.render.kube import role_rules
from enclii_iac.testing import Recorder
from tests.engine.harness import LocalCluster, engine_bin, free_port, make_certs

pytestmark = pytest.mark.engine

CLIENT_ID = "kubernetes"
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(n: int) -> str:
    return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


@dataclass
class Issuer:
    """An OIDC issuer on loopback over HTTPS: discovery, JWKS, and RS256 ID tokens."""

    url: str
    ca_file: Path
    key: rsa.RSAPrivateKey
    kid: str = "enclii-test-1"

    def token(self, email: str, groups: list[str], *, key: rsa.RSAPrivateKey | None = None,
              audience: str = CLIENT_ID, ttl: int = 3600) -> str:
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        claims = {"iss": self.url, "aud": audience, "sub": email.split("@")[0], "email": email,
                  "email_verified": True, "groups": groups, "iat": now, "nbf": now - 5, "exp": now + ttl}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = (key or self.key).sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"


def _serve_issuer(pki: Path, key: rsa.RSAPrivateKey) -> tuple[ThreadingHTTPServer, Issuer]:
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    pub = key.public_key().public_numbers()
    issuer = Issuer(url=url, ca_file=pki / "ca.crt", key=key)
    documents = {
        "/.well-known/openid-configuration": {
            "issuer": url, "jwks_uri": f"{url}/keys", "authorization_endpoint": f"{url}/authorize",
            "token_endpoint": f"{url}/token", "response_types_supported": ["code"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
        },
        "/keys": {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": issuer.kid,
                            "n": _uint(pub.n), "e": _uint(pub.e)}]},
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            doc = documents.get(self.path)
            body = json.dumps(doc).encode() if doc is not None else b"{}"
            self.send_response(200 if doc is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki / "apiserver.crt"), str(pki / "apiserver.key"))  # SAN 127.0.0.1
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="oidc-issuer", daemon=True).start()
    return server, issuer


def _tenants() -> dict[str, ProjectSpec]:
    return {
        "shop": ProjectSpec.model_validate({
            "environments": {"dev": {}, "prod": {}},
            "members": [{"kind": "Group", "name": "shop-devs", "role": "developer"},
                        {"kind": "User", "name": "owner@acme.example", "role": "owner"}],
        }),
        "blog": ProjectSpec.model_validate({
            "environments": {"dev": {}},
            "members": [{"kind": "Group", "name": "blog-devs", "role": "developer"}],
        }),
    }


def declared_objects(oidc: OidcSpec) -> list[dict[str, Any]]:
    """Every Kubernetes object the two TenantProjects declare (namespaces, quotas, Roles, RoleBindings...)."""

    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("apiVersion: v1"))
        for name, spec in _tenants().items():
            TenantProject(name, spec, provider=provider, oidc=oidc)

    return Recorder(project="enclii", stack="identity").run(program).kubernetes_objects()


def audit_args(tmp: Path) -> list[str]:
    """The audit flags and policy a k3s server gets (k3s_config, audit_policy), with this test's paths."""
    from enclii_iac import host_defaults as hd
    from enclii_iac.models.cluster import K3sClusterSpec
    from enclii_iac.render.host import K3sNodeConfig, audit_policy, dump_yaml, k3s_config

    (tmp / "audit-policy.yaml").write_text(dump_yaml(audit_policy()))
    node = K3sNodeConfig(name="ax41", role="server", node_ip="10.0.0.2", init=True)
    args = k3s_config(K3sClusterSpec(servers=["ax41"]), node, token="t", agent_token="a")["kube-apiserver-arg"]
    paths = {hd.K3S_AUDIT_POLICY_PATH: str(tmp / "audit-policy.yaml"), hd.K3S_AUDIT_LOG_PATH: str(tmp / "audit.log")}
    out = []
    for arg in args:
        if arg.startswith("audit-"):
            key, _, value = arg.partition("=")
            out.append(f"{key}={paths.get(value, value)}")
    assert len(out) == 5, args
    return out


@dataclass
class Env:
    cluster: LocalCluster
    issuer: Issuer
    oidc: OidcSpec
    objects: list[dict[str, Any]]
    tmp: Path
    api_args: list[str]

    def kubeconfig_for(self, token: str, name: str) -> Path:
        path = self.tmp / f"kubeconfig-{name}"
        ca = base64.b64encode((self.cluster.workdir / "pki" / "ca.crt").read_bytes()).decode()
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": self.cluster.server, "certificate-authority-data": ca}}],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": name}}], "current-context": "c",
        }))
        path.chmod(0o600)
        return path

    def kubectl_as(self, kubeconfig: Path, *args: str) -> tuple[int, str]:
        import subprocess

        res = subprocess.run([str(engine_bin() / "kubectl"), "--kubeconfig", str(kubeconfig), *args],
                             capture_output=True, text=True, timeout=60)
        return res.returncode, (res.stdout + res.stderr).strip()


@pytest.fixture(scope="module")
def env(engine: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("identity")
    pki = tmp / "issuer-pki"
    make_certs(pki)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server, issuer = _serve_issuer(pki, key)
    oidc = OidcSpec(issuer_url=issuer.url, client_id=CLIENT_ID, ca_pem=issuer.ca_file.read_text())
    # the function that writes k3s's kube-apiserver-arg; only the CA's path differs (a file of this test)
    api_args = oidc_apiserver_args(oidc, ca_file=str(issuer.ca_file))
    cluster = LocalCluster(tmp / "cluster", extra_apiserver_args=[f"--{a}" for a in api_args + audit_args(tmp)])
    try:
        cluster.start()
        objects = declared_objects(oidc)
        cluster.kubectl("apply", "--server-side", "-f", "-", input="\n---\n".join(yaml.safe_dump(o) for o in objects))
        yield Env(cluster, issuer, oidc, objects, tmp, api_args)
    finally:
        cluster.stop()
        server.shutdown()
        server.server_close()


def test_the_api_server_runs_with_the_flags_k3s_gets(env: Env) -> None:
    from enclii_iac.models.cluster import K3sClusterSpec
    from enclii_iac.render.host import K3sNodeConfig, k3s_config

    node = K3sNodeConfig(name="ax41", role="server", node_ip="10.0.0.2", init=True)
    k3s = k3s_config(K3sClusterSpec(servers=["ax41"]), node, token="t", agent_token="a", oidc=env.oidc)
    # the k3s config carries the same flags (the CA at its path on the server)
    assert [a for a in k3s["kube-apiserver-arg"] if a.startswith("oidc-")] == oidc_apiserver_args(env.oidc)
    assert [a for a in env.api_args if not a.startswith("oidc-ca-file=")] == \
        [a for a in oidc_apiserver_args(env.oidc) if not a.startswith("oidc-ca-file=")]
    assert f"oidc-issuer-url={env.issuer.url}" in env.api_args and "oidc-groups-prefix=oidc:" in env.api_args
    bindings = [o for o in env.objects if o["kind"] == "RoleBinding" and o["metadata"]["namespace"] == "shop-dev"]
    subjects = sorted(s["name"] for b in bindings for s in b["subjects"])
    assert subjects == ["oidc:owner@acme.example", "oidc:shop-devs"]


def _wait_authenticated(env: Env, kubeconfig: Path) -> str:
    # the authenticator fetches discovery and JWKS in the background after the API server starts
    deadline = time.monotonic() + 60
    out = ""
    while time.monotonic() < deadline:
        rc, out = env.kubectl_as(kubeconfig, "auth", "whoami", "-o", "json")
        if rc == 0:
            return out
        time.sleep(1)
    raise AssertionError(f"the OIDC token was never accepted: {out}")


def test_a_token_of_the_issuer_authenticates_with_the_prefixes(env: Env) -> None:
    kc = env.kubeconfig_for(env.issuer.token("alice@acme.example", ["shop-devs"]), "alice")
    who = json.loads(_wait_authenticated(env, kc))["status"]["userInfo"]
    assert who["username"] == "oidc:alice@acme.example"
    assert "oidc:shop-devs" in who["groups"] and "system:authenticated" in who["groups"]


@pytest.mark.parametrize("case", ["foreign key", "other audience", "expired"])
def test_tokens_the_issuer_did_not_sign_for_this_cluster_are_refused(env: Env, case: str) -> None:
    good = env.kubeconfig_for(env.issuer.token("alice@acme.example", ["shop-devs"]), "alice")
    _wait_authenticated(env, good)
    if case == "foreign key":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = env.issuer.token("mallory@acme.example", ["shop-devs"], key=other)
    elif case == "other audience":
        token = env.issuer.token("mallory@acme.example", ["shop-devs"], audience="grafana")
    else:
        token = env.issuer.token("mallory@acme.example", ["shop-devs"], ttl=-120)
    rc, out = env.kubectl_as(env.kubeconfig_for(token, "mallory"), "auth", "can-i", "get", "pods", "-n", "shop-dev")
    assert rc != 0 and "Unauthorized" in out, out


def _resource_args(group: str, resource: str) -> list[str]:
    base, _, sub = resource.partition("/")
    args = [f"{base}.{group}" if group else base]
    return args + ([f"--subresource={sub}"] if sub else [])


def _can(env: Env, kc: Path, verb: str, group: str, resource: str, *where: str) -> bool:
    rc, out = env.kubectl_as(kc, "auth", "can-i", verb, *_resource_args(group, resource), *where)
    out = out.splitlines()[0] if out else ""  # a warning ("not namespace scoped") may follow the answer
    if rc not in (0, 1) or out not in ("yes", "no"):
        raise AssertionError(f"kubectl auth can-i {verb} {resource} {where}: rc={rc} {out}")
    return rc == 0


def _granted(role: str, stage: str) -> set[tuple[str, str, str]]:
    return {(g, r, v) for rule in role_rules(role, stage) for g in rule["apiGroups"]
            for r in rule["resources"] for v in rule["verbs"]}


@pytest.mark.parametrize(("env_name", "stage"), [("dev", "dev"), ("prod", "prod")])
def test_a_group_member_has_exactly_the_roles_rights(env: Env, env_name: str, stage: str) -> None:
    kc = env.kubeconfig_for(env.issuer.token("alice@acme.example", ["shop-devs"]), "alice")
    _wait_authenticated(env, kc)
    granted = _granted("developer", stage)
    owner = _granted("owner", stage)
    universe = sorted({(g, r, v) for g, r, _ in owner | granted for v in VERBS})
    ns = f"shop-{env_name}"
    with ThreadPoolExecutor(max_workers=4) as pool:
        own = dict(zip(universe, pool.map(lambda t: _can(env, kc, t[2], t[0], t[1], "-n", ns), universe),
                       strict=True))
        granted_list = sorted(granted)
        other = list(pool.map(lambda t: _can(env, kc, t[2], t[0], t[1], "-n", "blog-dev"), granted_list))
        cluster_wide = list(pool.map(lambda t: _can(env, kc, t[2], t[0], t[1], "--all-namespaces"), granted_list))
    wrong = [f"{v} {g or 'core'}/{r}: {'allowed' if ok else 'refused'}" for (g, r, v), ok in own.items()
             if ok != ((g, r, v) in granted)]
    assert not wrong, f"{ns}: rights differ from the developer Role:\n" + "\n".join(wrong)
    assert not [t for t, ok in zip(granted_list, other, strict=True) if ok], "another tenant's namespace"
    assert not [t for t, ok in zip(granted_list, cluster_wide, strict=True) if ok], "cluster-wide"
    assert not _can(env, kc, "get", "", "secrets", "-n", ns)  # developers never read Secrets directly
    assert not _can(env, kc, "list", "", "namespaces")
    assert not _can(env, kc, "create", "rbac.authorization.k8s.io", "rolebindings", "-n", ns)


def test_the_same_name_without_the_group_gets_nothing_and_a_user_binding_works(env: Env) -> None:
    outsider = env.kubeconfig_for(env.issuer.token("bob@acme.example", ["blog-devs"]), "bob")
    _wait_authenticated(env, outsider)
    assert not _can(env, outsider, "get", "", "pods", "-n", "shop-dev")
    assert _can(env, outsider, "get", "", "pods", "-n", "blog-dev")
    # a token claiming the unprefixed Kubernetes group gets the prefix too: it cannot pass for system:masters
    forged = env.kubeconfig_for(env.issuer.token("eve@acme.example", ["system:masters"]), "eve")
    who = json.loads(_wait_authenticated(env, forged))["status"]["userInfo"]
    assert "system:masters" not in who["groups"] and "oidc:system:masters" in who["groups"]
    assert not _can(env, forged, "get", "", "secrets", "--all-namespaces")
    owner = env.kubeconfig_for(env.issuer.token("owner@acme.example", []), "owner")
    _wait_authenticated(env, owner)
    assert _can(env, owner, "create", "rbac.authorization.k8s.io", "rolebindings", "-n", "shop-prod")
    assert not _can(env, owner, "create", "rbac.authorization.k8s.io", "rolebindings", "-n", "blog-dev")


def test_the_audit_log_names_the_oidc_user_and_the_decision(env: Env) -> None:
    kc = env.kubeconfig_for(env.issuer.token("carol@acme.example", ["shop-devs"]), "carol")
    _wait_authenticated(env, kc)
    assert env.kubectl_as(kc, "get", "pods", "-n", "shop-dev")[0] == 0
    rc, out = env.kubectl_as(kc, "get", "pods", "-n", "blog-dev")
    assert rc != 0 and "Forbidden" in out, out
    log = env.tmp / "audit.log"
    deadline = time.monotonic() + 30
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        events = [e for e in map(json.loads, lines) if e.get("user", {}).get("username") == "oidc:carol@acme.example"
                  and e.get("objectRef", {}).get("resource") == "pods" and e.get("verb") == "list"]
        if {e["objectRef"].get("namespace") for e in events} >= {"shop-dev", "blog-dev"}:
            break
        time.sleep(1)
    by_ns = {e["objectRef"]["namespace"]: e for e in events}
    assert set(by_ns) >= {"shop-dev", "blog-dev"}, events
    assert "oidc:shop-devs" in by_ns["shop-dev"]["user"]["groups"]
    assert by_ns["shop-dev"]["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert by_ns["blog-dev"]["annotations"]["authorization.k8s.io/decision"] == "forbid"
    assert all(e["level"] == "Metadata" and "requestObject" not in e for e in events)  # never bodies


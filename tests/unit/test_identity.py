"""identity: the OIDC spec and the API server flags it renders into k3s's config, hostile values, Janua's
placement, Access's spec, and tenant RoleBindings with the OIDC prefixes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from enclii_iac.errors import RenderError, SpecError
from enclii_iac.identity.render import OIDC_CA_PATH, oidc_apiserver_args, oidc_kubeconfig
from enclii_iac.models.identity import AccessSpec, IdentitySpec, JanuaSpec, OidcSpec
from enclii_iac.models.loader import build_platform
from enclii_iac.models.tenant import Member
from enclii_iac.render import host as r
from enclii_iac.render.kube import role_binding
from enclii_iac.testing import assert_golden
from tests.unit.host_fixtures import single_node_cluster

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "identity"
ISSUER = "https://auth.example.com"
CA = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBszCCAVmgAwIBAgIUQ2VydGlmaWNhdGVPZkFUZXN0Q0EwCgYIKoZIzj0EAwIw\n"
    "-----END CERTIFICATE-----\n"
)
ACCESS: dict[str, Any] = {
    "clientId": "cloudflare-access",
    "januaAuthUrl": f"{ISSUER}/oauth/authorize",
    "januaTokenUrl": f"{ISSUER}/oauth/token",
    "januaCertsUrl": f"{ISSUER}/.well-known/jwks.json",
}


def oidc(**kw: Any) -> OidcSpec:
    return OidcSpec.model_validate({"issuerUrl": ISSUER, "clientId": "kubernetes", **kw})


# --- the API server's flags ----------------------------------------------------------------------------


def test_the_flags_name_issuer_client_claims_prefixes_and_algorithms() -> None:
    assert oidc_apiserver_args(oidc()) == [
        "oidc-issuer-url=https://auth.example.com",
        "oidc-client-id=kubernetes",
        "oidc-username-claim=email",
        "oidc-username-prefix=oidc:",
        "oidc-groups-claim=groups",
        "oidc-groups-prefix=oidc:",
        "oidc-signing-algs=RS256",
    ]


def test_a_ca_and_required_claims_add_their_flags() -> None:
    spec = oidc(caPem=CA, requiredClaims={"tenant": "acme", "hd": "acme.example"}, signingAlgs=["RS256", "ES256"])
    args = oidc_apiserver_args(spec)
    assert args[-3:] == [f"oidc-ca-file={OIDC_CA_PATH}", "oidc-required-claim=hd=acme.example",
                         "oidc-required-claim=tenant=acme"]
    assert "oidc-signing-algs=RS256,ES256" in args
    assert oidc_apiserver_args(spec, ca_file="/tmp/ca.pem")[-3] == "oidc-ca-file=/tmp/ca.pem"
    with pytest.raises(RenderError, match="CA file's path"):
        oidc_apiserver_args(spec, ca_file=None)


def test_the_k3s_server_config_carries_the_flags_and_the_install_step_writes_the_ca() -> None:
    spec = oidc(caPem=CA)
    node = r.K3sNodeConfig(name="ax41", role="server", node_ip="203.0.113.10", init=True)
    config = r.k3s_config(single_node_cluster(), node, token="T" * 48, agent_token="A" * 48, oidc=spec)
    text = r.render_k3s_config(config)
    assert_golden(GOLDEN / "k3s-server-config-oidc.yaml", text)
    api_args = yaml.safe_load(text)["kube-apiserver-arg"]
    assert api_args[-len(oidc_apiserver_args(spec)):] == oidc_apiserver_args(spec)
    assert "anonymous-auth=false" in api_args  # OIDC adds a way in, nothing else changes
    script = r.render_k3s_install_script(version="v1.33.4+k3s1", role="server", config=config,
                                         hardening=single_node_cluster().hardening, oidc_ca_pem=spec.ca_pem)
    files = r.files_in_script(script)
    assert files[OIDC_CA_PATH] == CA
    assert yaml.safe_load(files["/etc/rancher/k3s/config.yaml"])["kube-apiserver-arg"] == api_args


def test_without_oidc_the_k3s_config_has_no_oidc_flag() -> None:
    node = r.K3sNodeConfig(name="ax41", role="server", node_ip="203.0.113.10", init=True)
    config = r.k3s_config(single_node_cluster(), node, token="T" * 48, agent_token="A" * 48)
    assert not [a for a in config["kube-apiserver-arg"] if a.startswith("oidc-")]


HOSTILE = [
    "x\n- --token-auth-file=/etc/passwd",
    "x --authorization-mode=AlwaysAllow",
    "x,y=z",
    "x\" y",
    "x'y",
    "$(id)",
    "x\x00y",
    "x: y",
    "#x",
    "",
]


@pytest.mark.parametrize("field", ["clientId", "usernameClaim", "usernamePrefix", "groupsClaim", "groupsPrefix"])
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_refused_by_the_spec(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as err:
        oidc(**{field: value})
    assert err.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize("issuer", [
    "http://auth.example.com", "https://auth.example.com?x=1", "https://auth.example.com#f",
    "https://user:pw@auth.example.com", "https://auth.example.com/a b", "https://auth.example.com\n--x",
    "https://auth.example.com/--x=$(id)", "file:///etc/passwd", "https://",
])
def test_issuers_other_than_plain_https_urls_are_refused(issuer: str) -> None:
    with pytest.raises(ValidationError, match="issuerUrl"):
        oidc(issuerUrl=issuer)


@pytest.mark.parametrize("value", ["x\n- --a", "a=b,c", "a b", "$(id)"])
def test_required_claims_cannot_smuggle_a_flag(value: str) -> None:
    with pytest.raises(ValidationError):
        oidc(requiredClaims={"tenant": value})
    with pytest.raises(ValidationError):
        oidc(requiredClaims={value: "acme"})


@pytest.mark.parametrize("value", ["x\n- --token-auth-file=/etc/passwd", "a b", "a\"b", "x\x00"])
def test_the_renderer_refuses_what_the_spec_would_have(value: str) -> None:
    # a spec built around validation (model_construct) still cannot reach the command line
    spec = OidcSpec.model_construct(issuer_url=ISSUER, client_id=value, username_claim="email",
                                    username_prefix="oidc:", groups_claim="groups", groups_prefix="oidc:",
                                    ca_pem=None, signing_algs=["RS256"], required_claims={})
    with pytest.raises(RenderError, match="oidc-client-id"):
        oidc_apiserver_args(spec)


def test_system_prefixes_and_bad_cas_are_refused() -> None:
    with pytest.raises(ValidationError, match="system:masters"):
        oidc(groupsPrefix="system:")
    with pytest.raises(ValidationError, match="system:"):
        oidc(usernamePrefix="System:x")
    with pytest.raises(ValidationError, match="caPem"):
        oidc(caPem="not a certificate")
    with pytest.raises(ValidationError, match="caPem"):
        oidc(caPem=CA + "\nrm -rf /\n")
    with pytest.raises(ValidationError, match="listed twice"):
        oidc(signingAlgs=["RS256", "RS256"])
    with pytest.raises(ValidationError):
        oidc(signingAlgs=["none"])
    with pytest.raises(ValidationError):
        oidc(signingAlgs=["HS256"])  # symmetric: the client secret would sign tokens


def test_the_oidc_kubeconfig_holds_no_secret() -> None:
    kc = oidc_kubeconfig(oidc(), server_url="https://127.0.0.1:6443", ca_data="Q0E=", name="enclii")
    user = kc["users"][0]["user"]
    assert set(user) == {"exec"} and "--oidc-issuer-url=https://auth.example.com" in user["exec"]["args"]
    assert kc["contexts"][0]["context"] == {"cluster": "enclii", "user": "enclii-oidc"}


# --- tenant RoleBindings -------------------------------------------------------------------------------


def test_role_bindings_name_members_as_the_api_server_sees_them() -> None:
    members = [Member(kind="Group", name="shop-devs", role="developer"),
               Member(kind="User", name="alice@acme.example", role="developer")]
    plain = role_binding("shop", "dev", "developer", members)
    assert [s["name"] for s in plain["subjects"]] == ["shop-devs", "alice@acme.example"]
    spec = oidc(usernamePrefix="janua:", groupsPrefix="janua-group:")
    bound = role_binding("shop", "dev", "developer", members, user_prefix=spec.username_prefix,
                         group_prefix=spec.groups_prefix)
    assert bound["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "janua-group:shop-devs"},
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "janua:alice@acme.example"},
    ]
    assert spec.group("shop-devs") == "janua-group:shop-devs" and spec.user("a@b.c") == "janua:a@b.c"


# --- Janua and Access in the platform spec ---------------------------------------------------------------


def platform(identity: dict[str, Any], **extra: Any) -> Any:
    data: dict[str, Any] = {"domain": "example.com", "stage": "preview", "identity": identity, **extra}
    return build_platform(data)


def test_janua_outside_the_platform_is_the_default() -> None:
    spec = platform({"oidc": {"issuerUrl": ISSUER, "clientId": "kubernetes"}})
    assert spec.identity is not None and spec.identity.janua.placement == "external"


def test_janua_on_the_platform_without_its_database_is_refused_with_the_way_out() -> None:
    janua = {"placement": "platform", "image": "ghcr.io/madfam/janua@sha256:" + "a" * 64, "database": "janua"}
    with pytest.raises(SpecError) as err:
        platform({"oidc": {"issuerUrl": ISSUER, "clientId": "kubernetes"}, "janua": janua})
    text = str(err.value)
    assert "identity.janua.database" in text and "PostgreSQL database 'janua'" in text
    assert "placement: external" in text


@pytest.mark.parametrize(("janua", "message"), [
    ({"placement": "platform", "database": "janua"}, "pinned by digest"),
    ({"placement": "platform", "image": "ghcr.io/madfam/janua:1.0", "database": "janua"}, "pinned by digest"),
    ({"placement": "platform", "image": "ghcr.io/madfam/janua@sha256:" + "a" * 64}, "database: placement"),
    ({"placement": "external", "database": "janua"}, "database: only used with placement: platform"),
])
def test_janua_fields_follow_its_placement(janua: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        JanuaSpec.model_validate(janua)


@pytest.mark.parametrize(("access", "message"), [
    ({"apps": {"dash": {"hostname": "dash"}}}, "lets no one in"),
    ({"apps": {"dash": {"hostname": "dash", "serviceTokens": ["ci"]}}}, "no service token 'ci'"),
    ({"apps": {"dash": {"hostname": "dash", "allowGroups": ["ops"]}}, "serviceTokens": {"ci": {}}},
     "serviceTokens.ci: opens no app"),
    ({"apps": {"dash": {"hostname": "dash", "allowGroups": ["ops", "ops"]}}}, "'ops' is listed twice"),
    ({"apps": {"dash": {"hostname": "dash", "allowGroups": ["ops"], "paths": ["admin"]}}}, "paths"),
    ({"januaAuthUrl": "http://auth.example.com/authorize"}, "https"),
    ({"sessionDuration": "forever"}, "sessionDuration"),
])
def test_access_specs_that_cannot_work_are_refused(access: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AccessSpec.model_validate({**ACCESS, **access})


def test_access_needs_oidc_and_the_edge() -> None:
    with pytest.raises(ValidationError, match="set identity.oidc"):
        IdentitySpec.model_validate({"access": ACCESS})
    apps = {**ACCESS, "apps": {"dash": {"hostname": "dash", "allowGroups": ["ops"]}}}
    with pytest.raises(SpecError, match="identity.access: Cloudflare Access needs the edge"):
        platform({"oidc": {"issuerUrl": ISSUER, "clientId": "kubernetes"}, "access": apps})


def test_two_apps_on_one_path_are_refused() -> None:
    apps = {"a": {"hostname": "dash", "allowGroups": ["ops"]}, "b": {"hostname": "dash", "allowGroups": ["dev"]}}
    edge = {"accountId": "0" * 32, "zoneId": "f" * 32, "r2": None, "customDomains": {"enabled": False}}
    with pytest.raises(SpecError, match="dash .all paths. is already protected by apps.a"):
        platform({"oidc": {"issuerUrl": ISSUER, "clientId": "kubernetes"}, "access": {**ACCESS, "apps": apps}},
                 edge=edge)
    with pytest.raises(SpecError, match="kubeApiGroups: only used when the Kubernetes API is reached through"):
        platform({"oidc": {"issuerUrl": ISSUER, "clientId": "kubernetes"},
                  "access": {**ACCESS, "kubeApiGroups": ["ops"]}}, edge=edge)


def test_enclii_iac_validate_refuses_janua_on_a_platform_without_its_database(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from enclii_iac.cli import main

    janua = {"placement": "platform", "image": "ghcr.io/madfam/janua@sha256:" + "a" * 64, "database": "janua"}
    doc = {"apiVersion": "enclii.dev/v1", "kind": "Platform", "metadata": {"name": "enclii"},
           "spec": {"domain": "example.com", "identity": {
               "oidc": {"issuerUrl": ISSUER, "clientId": "kubernetes"}, "janua": janua}}}
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(doc))
    assert main(["validate", str(tmp_path / "platform.yaml")]) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert "identity.janua.database" in text and "run Janua outside the platform" in text
    assert "Traceback" not in text

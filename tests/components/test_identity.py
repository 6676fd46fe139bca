"""identity in EncliiPlatform: OIDC flags in every server's k3s config, tenant RoleBindings with the prefixes,
Cloudflare Access (Janua as the OIDC login, apps, policies by group and email domain, least-scope service
tokens) and the Kubernetes API's Access application, declared under mocks."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from enclii_iac.errors import SpecError
from enclii_iac.identity.render import OIDC_CA_PATH, oidc_apiserver_args
from enclii_iac.models.loader import build_platform
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.platform import EncliiPlatform, PlatformProviders
from enclii_iac.render.host import files_in_script
from enclii_iac.testing import Recorder, reveal
from tests.components.test_api_access import TUNNEL, spec_data
from tests.unit.host_fixtures import HOST_PRIVATE
from tests.unit.test_identity import ACCESS, CA, ISSUER

APP = "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication"
POLICY = "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy"
IDP = "cloudflare:index/zeroTrustAccessIdentityProvider:ZeroTrustAccessIdentityProvider"
TOKEN = "cloudflare:index/zeroTrustAccessServiceToken:ZeroTrustAccessServiceToken"
COMMAND = "command:remote:Command"

IDENTITY: dict[str, Any] = {
    "oidc": {"issuerUrl": ISSUER, "clientId": "kubernetes", "caPem": CA},
    "access": {
        **ACCESS,
        "apps": {
            "dashboard": {"hostname": "dash", "allowGroups": ["platform-admins"],
                          "allowEmailDomains": ["acme.example"]},
            "grafana": {"hostname": "grafana", "allowGroups": ["platform-admins", "sre"], "sessionDuration": "1h"},
            "api-admin": {"hostname": "api", "paths": ["/admin", "/internal"], "allowGroups": ["platform-admins"],
                          "serviceTokens": ["ci"]},
        },
        "serviceTokens": {"ci": {"duration": "720h"}},
        "kubeApiGroups": ["platform-admins"],
    },
}
TENANTS = {"shop": {"environments": {"dev": {}}, "members": [
    {"kind": "Group", "name": "shop-devs", "role": "developer"},
    {"kind": "User", "name": "owner@acme.example", "role": "owner"}]}}


def spec(identity: dict[str, Any] | None = None) -> PlatformSpec:
    data = spec_data(TUNNEL)
    data["identity"] = IDENTITY if identity is None else identity
    data["tenants"] = TENANTS
    return build_platform(data)


def declare(platform_spec: PlatformSpec, secret: str | None = "janua-client-secret") -> Recorder:
    from enclii_iac.cloudflare import cf

    def program() -> None:
        EncliiPlatform("enclii", platform_spec,
                       providers=PlatformProviders(cloudflare=cf.Provider("cf", api_token="t")),
                       ssh_private_key=HOST_PRIVATE, janua_client_secret=secret)

    return Recorder(project="enclii", stack="test").run(program)


@pytest.fixture(scope="module")
def rec() -> Recorder:
    return declare(spec())


def test_every_server_starts_the_api_server_with_the_oidc_flags_and_its_ca(rec: Recorder) -> None:
    install = rec.one(COMMAND, "enclii-k3s-ax41-k3s")
    assert "stdin" in install.secret_inputs
    files = files_in_script(str(reveal(install.inputs["stdin"])))
    config = yaml.safe_load(files["/etc/rancher/k3s/config.yaml"])
    platform_spec = spec()
    assert platform_spec.identity is not None and platform_spec.identity.oidc is not None
    expected = oidc_apiserver_args(platform_spec.identity.oidc)
    assert config["kube-apiserver-arg"][-len(expected):] == expected
    assert files[OIDC_CA_PATH] == CA


def test_tenant_role_bindings_bind_the_prefixed_oidc_names(rec: Recorder) -> None:
    bindings = {r.name: r.plain_inputs for r in rec.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")}
    assert bindings["enclii-shop-dev-binding-developer"]["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "oidc:shop-devs"}]
    assert bindings["enclii-shop-dev-binding-owner"]["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "oidc:owner@acme.example"}]


def test_janua_is_the_oidc_login_and_its_client_secret_stays_secret(rec: Recorder) -> None:
    idp = rec.one(IDP, "enclii-access-idp")
    parent = rec.parent_of(idp)
    assert parent is not None and parent.type == "enclii:index:IdentityAccess"
    assert idp.provider_name == "cf"
    assert idp.plain_inputs["type"] == "oidc" and idp.plain_inputs["name"] == "Janua"
    config = idp.inputs["config"]
    assert idp.secret_inputs == ["config"]  # the whole config carries the secret
    revealed = reveal(config)
    assert revealed["clientSecret"] == "janua-client-secret"
    assert revealed["authUrl"] == f"{ISSUER}/oauth/authorize" and revealed["clientId"] == "cloudflare-access"
    assert revealed["pkceEnabled"] is True and revealed["claims"] == ["groups", "email"]
    assert "config" in idp.additional_secret_outputs


def test_each_app_admits_its_groups_and_domains_through_janua_only(rec: Recorder) -> None:
    dash = rec.one(APP, "enclii-access-dashboard").plain_inputs
    assert dash["type"] == "self_hosted" and dash["domain"] == "dash.example.com"
    assert dash["allowedIdps"] == ["enclii-access-idp-id"] and dash["autoRedirectToIdentity"] is True
    assert dash["policies"] == [{"id": "enclii-access-dashboard-people-id", "precedence": 1}]
    assert dash["sessionDuration"] == "8h"
    people = rec.one(POLICY, "enclii-access-dashboard-people").plain_inputs
    assert people["decision"] == "allow"
    assert people["includes"] == [
        {"oidc": {"claimName": "groups", "claimValue": "platform-admins",
                  "identityProviderId": "enclii-access-idp-id"}},
        {"emailDomain": {"domain": "acme.example"}}]
    assert people["requires"] == [{"loginMethod": {"id": "enclii-access-idp-id"}}]
    grafana = rec.one(APP, "enclii-access-grafana").plain_inputs
    assert grafana["sessionDuration"] == "1h" and grafana["domain"] == "grafana.example.com"


def test_the_api_admin_paths_are_protected_and_only_they_admit_the_ci_token(rec: Recorder) -> None:
    admin = rec.one(APP, "enclii-access-api-admin").plain_inputs
    assert admin["destinations"] == [{"type": "public", "uri": "api.example.com/admin"},
                                     {"type": "public", "uri": "api.example.com/internal"}]
    assert admin["policies"] == [{"id": "enclii-access-api-admin-people-id", "precedence": 1},
                                 {"id": "enclii-access-api-admin-tokens-id", "precedence": 2}]
    tokens = rec.one(POLICY, "enclii-access-api-admin-tokens").plain_inputs
    assert tokens["decision"] == "non_identity"
    assert tokens["includes"] == [{"serviceToken": {"tokenId": "enclii-access-token-ci-id"}}]
    token = rec.one(TOKEN, "enclii-access-token-ci")
    assert token.plain_inputs["duration"] == "720h" and "clientSecret" in token.additional_secret_outputs
    # least scope: no other app's policy names the token
    naming = [r.name for r in rec.of_type(POLICY) if "enclii-access-token-ci-id" in str(r.inputs)]
    assert naming == ["enclii-access-api-admin-tokens"]


def test_the_kubernetes_api_app_admits_the_janua_groups_after_its_own_policies(rec: Recorder) -> None:
    kube = rec.one(APP, "enclii-api-app").plain_inputs
    assert kube["policies"] == [{"id": "enclii-api-operators-id", "precedence": 1},
                                {"id": "enclii-api-ci-id", "precedence": 2},
                                {"id": "enclii-access-kube-groups-id", "precedence": 3}]
    groups = rec.one(POLICY, "enclii-access-kube-groups").plain_inputs
    assert groups["includes"][0]["oidc"]["claimValue"] == "platform-admins"
    assert groups["requires"] == [{"loginMethod": {"id": "enclii-access-idp-id"}}]


def test_without_identity_nothing_changes() -> None:
    data = spec_data(TUNNEL)
    data["tenants"] = TENANTS
    plain = declare(build_platform(data), secret=None)
    assert not plain.of_type(IDP) and not [r for r in plain.of_type(POLICY) if "access" in r.name]
    binding = plain.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "enclii-shop-dev-binding-developer")
    assert binding.plain_inputs["subjects"][0]["name"] == "shop-devs"
    install = plain.one(COMMAND, "enclii-k3s-ax41-k3s")
    assert "oidc-" not in files_in_script(str(reveal(install.inputs["stdin"])))["/etc/rancher/k3s/config.yaml"]


def test_access_without_the_janua_client_secret_is_refused_before_anything_is_declared() -> None:
    from enclii_iac.cloudflare import cf

    platform_spec = spec()

    def program() -> None:
        EncliiPlatform("enclii", platform_spec,
                       providers=PlatformProviders(cloudflare=cf.Provider("cf", api_token="t")),
                       ssh_private_key=HOST_PRIVATE)

    rec = Recorder(project="enclii", stack="test")
    with pytest.raises(SpecError, match="config enclii:januaClientSecret"):
        rec.run(program)
    assert [r.type for r in rec.records if not r.type.startswith("pulumi:")] == []


def _stack(tmp_path: Any) -> Any:
    doc = {"apiVersion": "enclii.dev/v1", "kind": "Platform", "metadata": {"name": "enclii"},
           "spec": {**spec_data(TUNNEL), "identity": IDENTITY, "tenants": TENANTS}}
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    (tmp_path / "__main__.py").write_text(
        "from pathlib import Path\nfrom enclii_iac.platform import build_platform\n"
        "from enclii_iac.stack import load_stack_settings\n"
        "build_platform(load_stack_settings(Path(__file__).parent))\n")
    return tmp_path


def test_synth_marks_the_unset_janua_secret_and_check_names_the_command(tmp_path: Any) -> None:
    from enclii_iac.check import check_stack
    from enclii_iac.synth import run_stack

    stack = _stack(tmp_path)
    result = run_stack(stack)
    assert any("enclii:januaClientSecret is unset" in w for w in result.warnings), result.warnings
    idp = result.recorder.one(IDP, "enclii-access-idp")
    assert idp.secret_inputs == ["config"] and reveal(idp.inputs["config"])["clientSecret"] == "[unset]"
    outputs = result.recorder.stack_outputs
    assert outputs["accessApplications"]["api-admin"] == ["api.example.com/admin", "api.example.com/internal"]
    report = check_stack(stack, "dev", tools=False)
    janua = [f for f in report["findings"] if "januaClientSecret" in f["message"]]
    assert janua and janua[0]["status"] == "fail"
    assert janua[0]["fix"] == "pulumi config set --secret enclii:januaClientSecret <client-secret>"


def test_people_get_an_oidc_kubeconfig_without_credentials(tmp_path: Any) -> None:
    from enclii_iac.synth import run_stack

    result = run_stack(_stack(tmp_path))
    outputs = result.recorder.stack_outputs
    admin = yaml.safe_load(reveal(outputs["kubeconfig"]))
    login = yaml.safe_load(outputs["oidcKubeconfig"])  # a plain output: it holds no secret
    assert login["clusters"][0]["cluster"] == admin["clusters"][0]["cluster"]
    user = login["users"][0]["user"]
    assert set(user) == {"exec"} and "--oidc-client-id=kubernetes" in user["exec"]["args"]
    credentials = [str(v) for v in admin["users"][0]["user"].values()]
    assert credentials and not [c for c in credentials if c in str(login)]

"""cluster.apiAccess: the way pulumi up, operators and CI reach the Kubernetes API, declared and checked."""

from __future__ import annotations

import base64
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from enclii_iac.errors import SpecError
from enclii_iac.models.cluster import ApiAccessSpec
from enclii_iac.models.loader import build_platform
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.platform import EncliiPlatform, PlatformProviders
from enclii_iac.policy.run import check_records
from enclii_iac.render.api_access import CONNECTOR_MANIFEST_PATH, CONNECTOR_TOKEN_PATH, connector_pod
from enclii_iac.testing import Recorder, reveal
from tests.conftest import kubernetes_validate, require, shellcheck
from tests.unit.host_fixtures import HOST_KEY, HOST_PRIVATE, OPS_KEY

ZONE = "example.com"
ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE_ID = "fedcba9876543210fedcba9876543210"
RECORD = "cloudflare:index/dnsRecord:DnsRecord"
COMMAND = "command:remote:Command"


def spec_data(access: dict[str, Any] | None = None, *, kube_api: list[str] | None = None, edge: bool = True,
              endpoint: str | None = "api.enclii.example.com") -> dict[str, Any]:
    host: dict[str, Any] = {"address": "203.0.113.10", "hostKey": HOST_KEY, "adminSshKeys": [OPS_KEY],
                            "sshAllowCidrs": ["198.51.100.7/32"]}
    if kube_api is not None:
        host["kubeApiAllowCidrs"] = kube_api
    cluster: dict[str, Any] = {"servers": ["ax41"]}
    if endpoint:
        cluster["apiEndpoint"] = endpoint
    if access is not None:
        cluster["apiAccess"] = access
    data: dict[str, Any] = {"domain": ZONE, "stage": "preview", "hosts": {"dedicated": {"ax41": host}},
                            "cluster": cluster}
    if edge:
        data["edge"] = {"accountId": ACCOUNT, "zoneId": ZONE_ID, "r2": None, "customDomains": {"enabled": False}}
    return data


def spec(access: dict[str, Any] | None = None, **kw: Any) -> PlatformSpec:
    return build_platform(spec_data(access, **kw))


def declare(platform_spec: PlatformSpec) -> Recorder:
    from enclii_iac.cloudflare import cf

    def program() -> None:
        EncliiPlatform("enclii", platform_spec,
                       providers=PlatformProviders(cloudflare=cf.Provider("cf", api_token="t")),
                       ssh_private_key=HOST_PRIVATE)

    return Recorder(project="enclii", stack="test").run(program)


TUNNEL = {"mode": "tunnel", "allowEmails": ["ops@example.com"], "allowEmailDomains": ["acme.example"],
          "serviceTokens": ["ci"]}


# --- refused before anything is declared ------------------------------------------------------------------


def test_a_cluster_with_no_way_in_is_refused_with_the_fix() -> None:
    with pytest.raises(SpecError) as err:
        spec()  # allowlist (the default) and kubeApiAllowCidrs empty: nftables drops 6443
    text = str(err.value)
    assert "cluster.apiAccess.mode: no way in to the Kubernetes API" in text
    assert "hosts.dedicated.ax41.kubeApiAllowCidrs is empty" in text
    assert "kubeApiAllowCidrs: [198.51.100.7/32]" in text and "mode: tunnel" in text


def test_the_refusal_comes_from_validate_and_synth_before_any_resource(tmp_path: Path) -> None:
    from enclii_iac.cli import main
    from enclii_iac.synth import run_stack

    doc = {"apiVersion": "enclii.dev/v1", "kind": "Platform", "metadata": {"name": "enclii"},
           "spec": {**spec_data(), "stage": "production"}}
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(doc))
    assert main(["validate", str(tmp_path / "platform.yaml")]) == 1
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    (tmp_path / "__main__.py").write_text(
        "from pathlib import Path\nfrom enclii_iac.platform import build_production\n"
        "from enclii_iac.stack import load_stack_settings\n"
        "build_production(load_stack_settings(Path(__file__).parent))\n")
    with pytest.raises(SpecError) as err:
        run_stack(tmp_path)
    assert err.value.declared == 0 and "no way in" in str(err.value)


def test_an_endpoint_without_a_record_is_refused_unless_you_say_you_manage_it() -> None:
    with pytest.raises(SpecError, match="no DNS record is declared for it .there is no edge"):
        spec(kube_api=["198.51.100.7/32"], edge=False)
    ok = spec({"mode": "allowlist", "dnsRecord": False}, kube_api=["198.51.100.7/32"], edge=False)
    assert ok.cluster is not None and ok.cluster.api_access.dns_record is False
    with pytest.raises(SpecError, match="outside the zone example.com"):
        spec(kube_api=["198.51.100.7/32"], endpoint="k8s.other.org")
    with pytest.raises(SpecError, match="cannot declare a record for apiEndpoint 'k8s.other.org'"):
        spec({"mode": "allowlist", "dnsRecord": True}, kube_api=["198.51.100.7/32"], endpoint="k8s.other.org")


@pytest.mark.parametrize(("access", "message"), [
    ({"mode": "tunnel"}, "lets no one in: list allowEmails, allowEmailDomains or serviceTokens"),
    ({"mode": "allowlist", "serviceTokens": ["ci"]}, "serviceTokens: only used with mode: tunnel"),
    ({"mode": "tunnel", "serviceTokens": ["ci"], "dnsRecord": True}, "dnsRecord: only used with mode: allowlist"),
    ({"mode": "tunnel", "allowEmails": ["not-an-email"]}, "allowEmails[0]"),
    ({"mode": "tunnel", "serviceTokens": ["ci", "ci"]}, "serviceTokens: 'ci' is listed twice"),
    ({"mode": "tunnel", "serviceTokens": ["ci"], "connectorImage": "cloudflare/cloudflared:latest"},
     "connectorImage: must be pinned by digest"),
    ({"mode": "wireguard"}, "cluster.apiAccess.mode"),
])
def test_api_access_fields_are_validated(access: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as err:
        spec(access)
    assert message in str(err.value)


def test_tunnel_needs_the_edge_and_a_name_of_its_own() -> None:
    with pytest.raises(SpecError, match="tunnel needs the Cloudflare edge"):
        spec(TUNNEL, edge=False)
    data = spec_data({**TUNNEL, "hostname": "api"})
    data["edge"]["hosts"] = {"api": {"subdomain": "api", "service": "enclii-api", "namespace": "enclii"}}
    with pytest.raises(SpecError, match="api.example.com is already used by edge.hosts.api"):
        build_platform(data)
    with pytest.raises(SpecError, match="inside the preview wildcard"):
        spec({**TUNNEL, "hostname": "kube.preview"})


# --- allowlist: DNS-only records ---------------------------------------------------------------------------


def test_allowlist_declares_a_dns_only_record_per_server_and_the_kubeconfig_points_at_it() -> None:
    rec = declare(spec(kube_api=["198.51.100.7/32"]))
    record = rec.one(RECORD, "enclii-api-record-ax41")
    assert record.plain_inputs == {
        "zoneId": ZONE_ID, "name": "api.enclii.example.com", "type": "A", "content": "203.0.113.10",
        "proxied": False, "ttl": 300, "comment": "enclii-iac: Kubernetes API (DNS only; 6443 open to the allow-list)",
    }
    assert rec.parent_of(record).type == "enclii:index:ClusterApiAccess"  # type: ignore[union-attr]
    provider = rec.one("pulumi:providers:kubernetes", "enclii-k3s-provider")
    kubeconfig = yaml.safe_load(reveal(provider.inputs["kubeconfig"]))
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://api.enclii.example.com:6443"
    assert provider.plain_inputs["clusterIdentifier"] == "enclii-k3s"  # a new server URL never replaces it
    from enclii_iac.render.host import files_in_script

    harden = rec.one(COMMAND, "enclii-hosts-ax41-harden")
    ruleset = files_in_script(str(reveal(harden.inputs["stdin"])))["/etc/enclii/nftables.conf"]
    assert [ln.strip() for ln in ruleset.splitlines() if "6443" in ln and "198.51.100.7/32" in ln]
    assert not rec.of_type("cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication")
    assert check_records(rec.records) == []  # the record is the declared exception to tunnel-only DNS


def test_allowlist_without_an_endpoint_uses_the_first_server_and_declares_no_record() -> None:
    rec = declare(spec(kube_api=["198.51.100.7/32"], endpoint=None))
    assert not [r for r in rec.of_type(RECORD) if "api-record" in r.name]
    kubeconfig = yaml.safe_load(reveal(rec.one("pulumi:providers:kubernetes", "enclii-k3s-provider")
                                       .inputs["kubeconfig"]))
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://203.0.113.10:6443"


# --- tunnel: Access, the API tunnel and its connector ------------------------------------------------------


@pytest.fixture(scope="module")
def tunnel() -> Recorder:
    return declare(spec(TUNNEL))


def test_tunnel_declares_access_with_people_and_a_service_token(tunnel: Recorder) -> None:
    app = tunnel.one("cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication", "enclii-api-app")
    inputs = app.plain_inputs
    assert inputs["type"] == "self_hosted" and inputs["domain"] == "kube.example.com"
    assert inputs["destinations"] == [{"type": "public", "uri": "kube.example.com"}]
    assert inputs["policies"] == [{"id": "enclii-api-operators-id", "precedence": 1},
                                  {"id": "enclii-api-ci-id", "precedence": 2}]
    people = tunnel.one("cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy", "enclii-api-operators")
    assert people.plain_inputs["decision"] == "allow"
    assert people.plain_inputs["includes"] == [{"email": {"email": "ops@example.com"}},
                                               {"emailDomain": {"domain": "acme.example"}}]
    ci = tunnel.one("cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy", "enclii-api-ci")
    assert ci.plain_inputs["decision"] == "non_identity"
    assert ci.plain_inputs["includes"] == [{"serviceToken": {"tokenId": "enclii-api-token-ci-id"}}]
    token = tunnel.one("cloudflare:index/zeroTrustAccessServiceToken:ZeroTrustAccessServiceToken",
                       "enclii-api-token-ci")
    assert token.plain_inputs["name"] == "enclii-api-ci" and "clientSecret" in token.additional_secret_outputs


def test_tunnel_routes_only_the_api_hostname_to_the_local_api_server(tunnel: Recorder) -> None:
    api_tunnel = tunnel.one("cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared",
                            "enclii-api-tunnel")
    assert api_tunnel.plain_inputs["name"] == "enclii-api" and api_tunnel.secret_inputs == ["tunnelSecret"]
    config = tunnel.one("cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig",
                        "enclii-api-config")
    assert config.plain_inputs["config"]["ingresses"] == [
        {"hostname": "kube.example.com", "service": "tcp://127.0.0.1:6443"}, {"service": "http_status:404"}]
    record = tunnel.one(RECORD, "enclii-api-record")
    assert record.plain_inputs["type"] == "CNAME" and record.plain_inputs["proxied"] is True
    assert record.plain_inputs["content"] == "enclii-api-tunnel-id.cfargotunnel.com"
    assert not [r for r in tunnel.of_type(RECORD) if r.plain_inputs.get("type") == "A"]
    assert check_records(tunnel.records) == []


def test_the_connector_runs_on_each_server_and_the_kubeconfig_goes_through_it(tunnel: Recorder) -> None:
    step = tunnel.one(COMMAND, "enclii-k3s-ax41-api-connector")
    install = tunnel.one(COMMAND, "enclii-k3s-ax41-k3s")
    assert install.urn in step.dependencies
    assert step.secret_inputs and "stdin" in step.secret_inputs  # it carries the connector token
    script = str(reveal(step.inputs["stdin"]))
    from enclii_iac.render.host import files_in_script

    files = files_in_script(script)
    assert files[CONNECTOR_TOKEN_PATH].startswith("mock-tunnel-token-")
    pod = yaml.safe_load(files[CONNECTOR_MANIFEST_PATH])
    assert pod == connector_pod(ApiAccessSpec().connector_image)
    provider = tunnel.one("pulumi:providers:kubernetes", "enclii-k3s-provider")
    assert step.urn in provider.dependencies
    kubeconfig = yaml.safe_load(reveal(provider.inputs["kubeconfig"]))
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"


def test_the_connector_pod_is_valid_hardened_and_the_script_passes_shellcheck(tmp_path: Path) -> None:
    pod = connector_pod(ApiAccessSpec().connector_image)
    assert kubernetes_validate([pod]) == []
    container = pod["spec"]["containers"][0]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert "--token-file" in container["args"] and not container.get("env")  # the token never in the pod spec
    from enclii_iac.render.api_access import render_connector_script

    script = render_connector_script(token="tok'en; rm -rf /", image=ApiAccessSpec().connector_image)
    path = tmp_path / "connector.sh"
    path.write_text(script)
    proc = shellcheck(path)
    require(proc.returncode != 127, "shellcheck")
    assert proc.returncode == 0, proc.stdout
    payload = [w for w in shlex.split([ln for ln in script.splitlines() if "/token 0400" in ln][0])][3]
    assert base64.b64decode(payload).decode() == "tok'en; rm -rf /"  # file content travels base64-encoded


def test_stack_outputs_name_the_commands_and_keep_the_service_token_secret(tmp_path: Path) -> None:
    from enclii_iac.synth import run_stack
    from enclii_iac.testing import is_secret_value

    doc = {"apiVersion": "enclii.dev/v1", "kind": "Platform", "metadata": {"name": "enclii"}, "spec": spec_data(TUNNEL)}
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    (tmp_path / "__main__.py").write_text(
        "from pathlib import Path\nfrom enclii_iac.platform import build_platform\n"
        "from enclii_iac.stack import load_stack_settings\n"
        "build_platform(load_stack_settings(Path(__file__).parent))\n")
    outputs = run_stack(tmp_path).recorder.stack_outputs
    assert outputs["apiServerUrl"] == "https://127.0.0.1:6443"
    assert outputs["apiAccess"]["commands"]["operator"] == (
        "cloudflared access tcp --hostname kube.example.com --url 127.0.0.1:6443")
    assert outputs["apiAccess"]["commands"]["ci"].startswith("TUNNEL_SERVICE_TOKEN_ID=<client id> ")
    assert is_secret_value(outputs["apiServiceTokens"])
    assert set(reveal(outputs["apiServiceTokens"])["ci"]) == {"clientId", "clientSecret"}


def test_k3s_cluster_alone_refuses_a_tunnel_without_its_token() -> None:
    from enclii_iac.k3s import K3sCluster
    from enclii_iac.models.cluster import K3sClusterSpec

    with pytest.raises(SpecError, match="pass api_tunnel_token=ClusterApiAccess"):
        Recorder().run(lambda: K3sCluster("k", K3sClusterSpec(servers=["ax41"], api_access=ApiAccessSpec(
            mode="tunnel", service_tokens=["ci"])), nodes={}))


@pytest.mark.parametrize("mode", ["allowlist", "tunnel"])
def test_production_protects_the_api_records(mode: str) -> None:
    access = TUNNEL if mode == "tunnel" else None
    allow = ["198.51.100.7/32"] if mode == "allowlist" else None
    data = spec_data(access, kube_api=allow)
    data["stage"] = "production"
    rec = declare(build_platform(data))
    records = [r for r in rec.of_type(RECORD) if r.name.startswith("enclii-api-record")]
    assert records and all(r.protect for r in records)
    preview = declare(spec(access, kube_api=allow))
    assert not any(r.protect for r in preview.of_type(RECORD))

"""DedicatedHost, CloudServer, Hosts and K3sCluster under Pulumi mocks: what each declares, exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_hcloud as hcloud
import pytest

from enclii_iac import host_defaults as hd
from enclii_iac.errors import SpecError
from enclii_iac.hetzner import CloudServer, DedicatedHost, Hosts
from enclii_iac.k3s import EtcdS3Credentials, K3sCluster
from enclii_iac.k3s._mocks import FAKE_KUBECONFIG
from enclii_iac.models.cluster import K3sClusterSpec
from enclii_iac.policy.firewall import check_records
from enclii_iac.render import host as r
from enclii_iac.testing import Recorder, ResourceRecord, is_secret_value, reveal
from tests.components.conftest import make_recorder
from tests.unit.host_fixtures import ax41, ha_cluster, ha_hosts, single_node_cluster, single_node_hosts, worker

CMD = "command:remote:Command"
SERVER = "hcloud:index/server:Server"
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nOPERATOR-KEY\n-----END OPENSSH PRIVATE KEY-----\n"
R2 = dict(endpoint="0123456789abcdef.r2.cloudflarestorage.com", bucket="enclii-backups")


def creds() -> EtcdS3Credentials:
    return EtcdS3Credentials(**R2, access_key_id="r2-access-id", secret_access_key="r2-secret-key")


def production(protect: bool = True, upgrade: bool = False) -> Recorder:
    def program() -> None:
        hosts = Hosts("enclii-hosts", single_node_hosts(), ssh_private_key=PRIVATE_KEY, protect=protect)
        spec = single_node_cluster(upgrade={"enabled": upgrade})
        cluster = K3sCluster("enclii-k3s", spec, nodes=hosts.nodes, etcd_s3=creds(), protect=protect)
        pulumi.export("kubeconfig", cluster.kubeconfig)
        pulumi.export("api", cluster.api_server_url)

    return make_recorder("production").run(program)


def preview_ha() -> Recorder:
    def program() -> None:
        provider = hcloud.Provider("hcloud", token=pulumi.Output.secret("hcloud-token"))
        hosts = Hosts("pr-7-hosts", ha_hosts(), ssh_private_key=pulumi.Output.secret(PRIVATE_KEY),
                      hcloud_provider=provider, protect=False)
        cluster = K3sCluster("pr-7-k3s", ha_cluster(), nodes=hosts.nodes)
        pulumi.export("kubeconfig", cluster.kubeconfig)

    return make_recorder("pr-7").run(program)


def deps(rec: Recorder, record: ResourceRecord) -> set[str]:
    return {d.name for d in (rec.by_urn(u) for u in record.dependencies) if d is not None}


def parent(rec: Recorder, record: ResourceRecord) -> tuple[str, str]:
    p = rec.parent_of(record)
    assert p is not None
    return p.type, p.name


# --- single node: the AX41 -------------------------------------------------------------------------


def test_single_node_tree() -> None:
    rec = production()
    assert rec.tree() == sorted([
        "enclii:index:Hosts enclii-hosts <- (stack)",
        "enclii:index:DedicatedHost enclii-hosts-ax41 <- enclii:index:Hosts enclii-hosts",
        f"{CMD} enclii-hosts-ax41-admin <- enclii:index:DedicatedHost enclii-hosts-ax41",
        f"{CMD} enclii-hosts-ax41-harden <- enclii:index:DedicatedHost enclii-hosts-ax41",
        "enclii:index:K3sCluster enclii-k3s <- (stack)",
        "random:index/randomPassword:RandomPassword enclii-k3s-token <- enclii:index:K3sCluster enclii-k3s",
        "random:index/randomPassword:RandomPassword enclii-k3s-agent-token <- enclii:index:K3sCluster enclii-k3s",
        f"{CMD} enclii-k3s-ax41-k3s <- enclii:index:K3sCluster enclii-k3s",
        f"{CMD} enclii-k3s-kubeconfig <- enclii:index:K3sCluster enclii-k3s",
        "pulumi:providers:kubernetes enclii-k3s-provider <- enclii:index:K3sCluster enclii-k3s",
    ])


def test_dedicated_steps_connect_with_pinned_host_key_and_secret_key() -> None:
    rec = production()
    spec = ax41()
    admin = rec.one(CMD, "enclii-hosts-ax41-admin")
    harden = rec.one(CMD, "enclii-hosts-ax41-harden")
    for step, user in ((admin, "root"), (harden, "enclii")):
        assert "connection" in step.secret_inputs  # the whole connection is sent as a secret
        conn = reveal(step.inputs["connection"])
        assert conn == {"host": "203.0.113.10", "port": 22, "user": user, "privateKey": PRIVATE_KEY,
                        "hostKey": spec.host_key, "dialErrorLimit": hd.SSH_DIAL_ERROR_LIMIT, "perDialTimeout": 15}
        assert "delete" not in step.inputs and "update" not in step.inputs
    assert admin.inputs["create"] == "/bin/sh -s"
    assert harden.inputs["create"] == "sudo -n /bin/sh -s"
    assert admin.inputs["stdin"] == r.render_admin_script("enclii", spec.admin_ssh_keys)
    assert harden.inputs["stdin"] == r.render_harden_script(r.dedicated_hardening_files("ax41", spec))
    # a new script is an in-place update of the (protected) step, never a replacement
    assert "triggers" not in admin.inputs and "triggers" not in harden.inputs
    assert deps(rec, harden) == {"enclii-hosts-ax41-admin"}


def test_production_protects_the_server_steps_and_tokens() -> None:
    rec = production(protect=True)
    for name in ("enclii-hosts-ax41-admin", "enclii-hosts-ax41-harden", "enclii-k3s-ax41-k3s"):
        step = rec.one(CMD, name)
        assert step.protect and step.retain_on_delete
    for name in ("enclii-k3s-token", "enclii-k3s-agent-token"):
        assert rec.one("random:index/randomPassword:RandomPassword", name).protect
    preview = production(protect=False)
    assert not any(rec.protect for rec in preview)


def test_k3s_after_host_hardening_and_kubeconfig_after_k3s() -> None:
    rec = production()
    k3s = rec.one(CMD, "enclii-k3s-ax41-k3s")
    assert {"enclii-hosts-ax41-harden", "enclii-k3s-token", "enclii-k3s-agent-token"} <= deps(rec, k3s)
    kc = rec.one(CMD, "enclii-k3s-kubeconfig")
    assert "enclii-k3s-ax41-k3s" in deps(rec, kc)
    assert kc.inputs["create"] == "sudo -n cat /etc/rancher/k3s/k3s.yaml"
    assert kc.inputs["logging"] == "none"
    assert "stdout" in kc.additional_secret_outputs
    assert "delete" not in kc.inputs


def test_k3s_step_is_secret_and_carries_the_hardened_config() -> None:
    rec = production()
    k3s = rec.one(CMD, "enclii-k3s-ax41-k3s")
    assert {"stdin", "connection"} <= set(k3s.secret_inputs)
    assert "triggers" not in k3s.inputs  # a changed script updates the protected step in place
    script = reveal(k3s.inputs["stdin"])
    assert k3s.inputs["create"] == "sudo -n /bin/sh -s"
    files = r.files_in_script(script)
    import yaml

    cfg = yaml.safe_load(files[hd.K3S_CONFIG_PATH])
    token = rec.one("random:index/randomPassword:RandomPassword", "enclii-k3s-token").outputs["result"]
    agent = rec.one("random:index/randomPassword:RandomPassword", "enclii-k3s-agent-token").outputs["result"]
    assert cfg["token"] == reveal(token) and cfg["agent-token"] == reveal(agent)
    assert cfg["cluster-init"] is True and cfg["node-name"] == "ax41" and cfg["node-ip"] == "203.0.113.10"
    assert cfg["tls-san"] == ["api.enclii.example.com", "203.0.113.10"]
    assert cfg["etcd-s3-access-key"] == "r2-access-id" and cfg["etcd-s3-secret-key"] == "r2-secret-key"
    assert cfg["etcd-s3-bucket"] == "enclii-backups" and cfg["etcd-s3-bucket-lookup-type"] == "path"
    assert cfg["etcd-s3-region"] == "auto" and cfg["etcd-s3-endpoint"] == R2["endpoint"]
    assert set(files) == {hd.K3S_CONFIG_PATH, hd.K3S_AUDIT_POLICY_PATH, hd.K3S_PSA_CONFIG_PATH}
    assert "INSTALL_K3S_VERSION=\"$version\"" in script and "version=v1.33.4+k3s1" in script


def test_tokens_are_random_secrets() -> None:
    rec = production()
    for name in ("enclii-k3s-token", "enclii-k3s-agent-token"):
        token = rec.one("random:index/randomPassword:RandomPassword", name)
        assert token.inputs == {"length": 48, "special": False}
        assert is_secret_value(token.outputs["result"])


def test_kubeconfig_is_a_secret_output_with_the_address_rewritten() -> None:
    rec = production()
    kube = rec.stack_outputs["kubeconfig"]
    assert is_secret_value(kube)
    text = reveal(kube)
    assert "https://api.enclii.example.com:6443" in text and "127.0.0.1" not in text
    assert text == r.rewrite_kubeconfig(FAKE_KUBECONFIG, "https://api.enclii.example.com:6443", "enclii-k3s")
    assert rec.stack_outputs["api"] == "https://api.enclii.example.com:6443"
    provider = rec.one("pulumi:providers:kubernetes", "enclii-k3s-provider")
    assert "kubeconfig" in provider.secret_inputs and reveal(provider.inputs["kubeconfig"]) == text


def test_upgrades_are_opt_in_and_pinned() -> None:
    assert production().count("kubernetes:upgrade.cattle.io/v1:Plan") == 0
    rec = production(upgrade=True)
    crd = rec.one("kubernetes:yaml/v2:ConfigFile", "enclii-k3s-suc-crd")
    suc = rec.one("kubernetes:yaml/v2:ConfigFile", "enclii-k3s-suc")
    base = "https://github.com/rancher/system-upgrade-controller/releases/download/v0.16.1/"
    assert crd.inputs["file"] == base + "crd.yaml" and suc.inputs["file"] == base + "system-upgrade-controller.yaml"
    plan = rec.one("kubernetes:upgrade.cattle.io/v1:Plan", "enclii-k3s-plan-server")
    assert plan.inputs["spec"]["version"] == "v1.33.4+k3s1" and "channel" not in plan.inputs["spec"]
    assert plan.provider_name == "enclii-k3s-provider"
    assert deps(rec, plan) >= {"enclii-k3s-suc"}
    assert deps(rec, suc) >= {"enclii-k3s-suc-crd", "enclii-k3s-kubeconfig"}
    for r_ in (crd, suc):
        assert r_.providers.get("kubernetes", "").split("::")[-2] == "enclii-k3s-provider"
    script = reveal(rec.one(CMD, "enclii-k3s-ax41-k3s").inputs["stdin"])
    import yaml

    psa = yaml.safe_load(r.files_in_script(script)[hd.K3S_PSA_CONFIG_PATH])
    assert psa["plugins"][0]["configuration"]["exemptions"]["namespaces"] == ["kube-system", "system-upgrade"]


def test_no_ambient_providers_for_hcloud_or_kubernetes() -> None:
    for rec in (production(upgrade=True), preview_ha()):
        for record in rec:
            if record.type.startswith("hcloud:index/"):
                assert record.provider_name == "hcloud", record.name
            if record.type.startswith("kubernetes:") and record.custom:
                assert record.provider_name.endswith("-k3s-provider"), record.name


# --- HA on Hetzner Cloud ---------------------------------------------------------------------------


def test_ha_servers_join_in_order_and_agents_after_all_servers() -> None:
    rec = preview_ha()
    d = {n: deps(rec, rec.one(CMD, f"pr-7-k3s-{n}-k3s")) for n in ("cp1", "cp2", "cp3", "w1")}
    assert "pr-7-hosts-cp1" in d["cp1"] and not any(x.endswith("-k3s") for x in d["cp1"])
    assert {"pr-7-hosts-cp2", "pr-7-k3s-cp1-k3s"} <= d["cp2"]
    assert {"pr-7-hosts-cp3", "pr-7-k3s-cp2-k3s"} <= d["cp3"]
    assert {"pr-7-hosts-w1", "pr-7-hosts-w1-vol-data-attach", "pr-7-k3s-cp1-k3s", "pr-7-k3s-cp2-k3s",
            "pr-7-k3s-cp3-k3s"} <= d["w1"]


def test_ha_configs_join_over_the_private_network() -> None:
    import yaml

    rec = preview_ha()

    def cfg(node: str) -> dict[str, Any]:
        script = reveal(rec.one(CMD, f"pr-7-k3s-{node}-k3s").inputs["stdin"])
        return dict(yaml.safe_load(r.files_in_script(script)[hd.K3S_CONFIG_PATH]))

    token = reveal(rec.one("random:index/randomPassword:RandomPassword", "pr-7-k3s-token").outputs["result"])
    agent = reveal(rec.one("random:index/randomPassword:RandomPassword", "pr-7-k3s-agent-token").outputs["result"])
    assert cfg("cp1")["cluster-init"] is True and "server" not in cfg("cp1")
    for node, ip in (("cp2", "10.0.1.12"), ("cp3", "10.0.1.13")):
        assert cfg(node)["server"] == "https://10.0.1.11:6443" and cfg(node)["node-ip"] == ip
        assert cfg(node)["token"] == token and "cluster-init" not in cfg(node)
    assert cfg("w1") == cfg("w1") and cfg("w1")["token"] == agent and cfg("w1")["server"] == "https://10.0.1.11:6443"
    assert "etcd-s3" not in cfg("cp1")  # no credentials given
    assert "kube-apiserver-arg" not in cfg("w1")


def test_cloud_server_arguments() -> None:
    rec = preview_ha()
    srv = rec.one(SERVER, "pr-7-hosts-cp1")
    inputs = srv.plain_inputs
    assert parent(rec, srv) == ("enclii:index:CloudServer", "pr-7-hosts-cp1")
    assert inputs["name"] == "pr-7-hosts-cp1" and inputs["serverType"] == "cpx32"
    assert inputs["image"] == "debian-12" and inputs["location"] == "fsn1"
    assert inputs["labels"] == {"managed-by": "enclii-iac", "node": "cp1"}
    assert inputs["deleteProtection"] is False and inputs["rebuildProtection"] is False and not srv.protect
    fw = rec.one("hcloud:index/firewall:Firewall", "pr-7-hosts-cp1-fw")
    net = rec.one("hcloud:index/network:Network", "pr-7-hosts-net")
    pg = rec.one("hcloud:index/placementGroup:PlacementGroup", "pr-7-hosts-pg-control-plane")
    ipv4 = rec.one("hcloud:index/primaryIp:PrimaryIp", "pr-7-hosts-cp1-ipv4")
    rid = {x.name: int(rec.resources[x.urn].id) for x in (fw, net, pg, ipv4)}
    assert inputs["firewallIds"] == [rid["pr-7-hosts-cp1-fw"]]
    assert inputs["networks"] == [{"networkId": rid["pr-7-hosts-net"], "ip": "10.0.1.11"}]
    assert inputs["placementGroupId"] == rid["pr-7-hosts-pg-control-plane"]
    assert inputs["publicNets"][0]["ipv4"] == rid["pr-7-hosts-cp1-ipv4"] and inputs["publicNets"][0]["ipv6Enabled"]
    assert "pr-7-hosts-net-subnet" in deps(rec, srv)  # attach only once the subnet exists
    ssh_key = rec.of_type("hcloud:index/sshKey:SshKey")
    assert len(ssh_key) == 2  # shared by all servers: Hetzner rejects a public key twice
    assert sorted(inputs["sshKeys"]) == sorted(rec.resources[k.urn].id for k in ssh_key)
    assert ipv4.plain_inputs == {"name": "pr-7-hosts-cp1-ipv4", "type": "ipv4", "assigneeType": "server",
                                 "autoDelete": False, "location": "fsn1", "labels": {"managed-by": "enclii-iac"},
                                 "deleteProtection": False}
    assert net.plain_inputs["ipRange"] == "10.0.0.0/16"
    subnet = rec.one("hcloud:index/networkSubnet:NetworkSubnet", "pr-7-hosts-net-subnet").plain_inputs
    assert subnet == {"networkId": rid["pr-7-hosts-net"], "type": "cloud", "networkZone": "eu-central",
                      "ipRange": "10.0.1.0/24"}
    assert pg.plain_inputs["type"] == "spread"


def test_cloud_user_data_is_secret_and_pins_the_generated_host_key() -> None:
    import yaml

    rec = preview_ha()
    srv = rec.one(SERVER, "pr-7-hosts-cp1")
    assert "userData" in srv.secret_inputs
    data = yaml.safe_load(reveal(srv.inputs["userData"]))
    key = rec.one("tls:index/privateKey:PrivateKey", "pr-7-hosts-cp1-host-key")
    assert key.inputs == {"algorithm": "ED25519"}
    assert data["ssh_keys"]["ed25519_private"] == reveal(key.outputs["privateKeyOpenssh"])
    step = rec.one(CMD, "pr-7-k3s-cp1-k3s")
    conn = reveal(step.inputs["connection"])
    assert conn["hostKey"] == key.outputs["publicKeyOpenssh"].strip() == data["ssh_keys"]["ed25519_public"]
    assert conn["host"] == srv.outputs["ipv4Address"] and conn["user"] == "enclii"
    assert conn["privateKey"] == PRIVATE_KEY
    assert set(data) <= r.CLOUD_INIT_KEYS and data["hostname"] == "cp1"


def test_cloud_firewalls_closed_by_default() -> None:
    rec = preview_ha()
    assert rec.one("hcloud:index/firewall:Firewall", "pr-7-hosts-cp1-fw").plain_inputs["rules"] == []
    assert rec.one("hcloud:index/firewall:Firewall", "pr-7-hosts-w1-fw").plain_inputs["rules"] == [
        {"direction": "in", "protocol": "tcp", "port": "22", "sourceIps": ["198.51.100.7/32"],
         "description": "SSH from the allow-list"}]
    assert check_records(rec.records, ha_hosts()) == []


def test_volumes_are_attached_and_protected_in_production() -> None:
    def program() -> None:
        provider = hcloud.Provider("hcloud", token="t")
        CloudServer("db", worker(volumes={"pg": {"sizeGb": 100, "format": "xfs"}}), provider=provider,
                    ssh_private_key=PRIVATE_KEY, protect=True)

    rec = make_recorder().run(program)
    vol = rec.one("hcloud:index/volume:Volume", "db-vol-pg")
    assert vol.protect and vol.retain_on_delete
    assert vol.plain_inputs == {"name": "db-vol-pg", "size": 100, "location": "fsn1", "format": "xfs",
                                "labels": {"managed-by": "enclii-iac"}, "deleteProtection": True}
    att = rec.one("hcloud:index/volumeAttachment:VolumeAttachment", "db-vol-pg-attach").plain_inputs
    assert att["automount"] is True and att["volumeId"] == int(rec.resources[vol.urn].id)
    srv = rec.one(SERVER, "db")
    assert srv.protect and srv.plain_inputs["deleteProtection"] and srv.plain_inputs["rebuildProtection"]
    assert rec.one("hcloud:index/primaryIp:PrimaryIp", "db-ipv4").protect
    assert rec.one("tls:index/privateKey:PrivateKey", "db-host-key").protect
    assert len(rec.of_type("hcloud:index/sshKey:SshKey")) == 2  # standalone: its own keys


# --- validation before any resource ----------------------------------------------------------------


def run_failing(program: Callable[[], Any]) -> tuple[Recorder, SpecError]:
    rec = make_recorder()
    with pytest.raises(Exception) as info:
        rec.run(program)
    err: BaseException | None = info.value
    while err is not None and not isinstance(err, SpecError):
        err = err.__cause__ or err.__context__
    assert isinstance(err, SpecError), info.value
    return rec, err


def test_cluster_rejects_unknown_hosts_before_declaring_anything() -> None:
    def program() -> None:
        K3sCluster("k", K3sClusterSpec(servers=["nope"]), nodes={})

    rec, err = run_failing(program)
    assert err.issues[0].path == "cluster.servers[0]"
    assert rec.records == []


def test_snapshot_bucket_without_credentials_is_rejected() -> None:
    def program() -> None:
        hosts = Hosts("h", single_node_hosts(), ssh_private_key="k")
        K3sCluster("k", single_node_cluster(), nodes=hosts.nodes)

    rec, err = run_failing(program)
    assert err.issues[0].path == "cluster.etcdSnapshots.bucket" and "EtcdS3Credentials" in err.issues[0].message
    assert not any(x.type.startswith("random:") for x in rec.records)


def test_credentials_must_match_the_spec() -> None:
    def program() -> None:
        hosts = Hosts("h", single_node_hosts(), ssh_private_key="k")
        K3sCluster("k", single_node_cluster(), nodes=hosts.nodes,
                   etcd_s3=EtcdS3Credentials(endpoint="https://x.example.com/", bucket="other",
                                             access_key_id="a", secret_access_key="b", folder="f"))

    _, err = run_failing(program)
    assert [i.path for i in err.issues] == ["etcd_s3.endpoint", "cluster.etcdSnapshots.bucket",
                                            "cluster.etcdSnapshots.folder"]


def test_cloud_servers_need_an_hcloud_provider() -> None:
    def program() -> None:
        Hosts("h", ha_hosts(), ssh_private_key="k")

    rec, err = run_failing(program)
    assert err.issues[0].path == "hosts.cloud" and rec.records == []


def test_dedicated_host_alone_and_custom_users() -> None:
    def program() -> None:
        DedicatedHost("ax41", ax41(bootstrapUser="enclii", adminUser="enclii", sshPort=2222),
                      ssh_private_key=PRIVATE_KEY, protect=False)

    rec = make_recorder().run(program)
    admin = rec.one(CMD, "ax41-admin")
    assert admin.inputs["create"] == "sudo -n /bin/sh -s"  # bootstrap user is no longer root
    assert reveal(admin.inputs["connection"])["port"] == 2222
    harden = rec.one(CMD, "ax41-harden")
    assert "Port 2222" in r.files_in_script(harden.inputs["stdin"])[hd.SSHD_DROPIN_PATH]
    assert parent(rec, harden) == ("enclii:index:DedicatedHost", "ax41")

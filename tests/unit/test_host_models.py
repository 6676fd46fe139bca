"""Host and cluster specs: secure defaults, and bad input rejected with the field path."""

from __future__ import annotations

from typing import Any

import pytest

from enclii_iac import defaults
from enclii_iac.errors import SpecError
from enclii_iac.models.cluster import K3sClusterSpec, cluster_host_issues
from enclii_iac.models.host import CloudServerSpec, DedicatedHostSpec, HostsSpec, PortRule
from enclii_iac.models.loader import validate_model
from tests.unit.host_fixtures import HOST_KEY, OPS_KEY, ax41, ha_cluster, ha_hosts, single_node_hosts, worker


def issues(model: type[Any], data: Any) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        validate_model(model, data, "spec")
    return [(i.path, i.message) for i in info.value.issues]


def ax41_data(**extra: Any) -> dict[str, Any]:
    return {"address": "203.0.113.10", "hostKey": HOST_KEY, "adminSshKeys": [OPS_KEY],
            "sshAllowCidrs": ["198.51.100.7/32"], **extra}


# --- defaults ---------------------------------------------------------------------------------------


def test_dedicated_defaults_are_closed() -> None:
    spec = ax41()
    assert spec.kube_api_allow_cidrs == [] and spec.open_ports == []
    assert spec.bootstrap_user == "root" and spec.admin_user == "enclii" and spec.ssh_port == 22
    assert spec.unattended_upgrades is True and spec.automatic_reboot is False


def test_cloud_defaults() -> None:
    spec = worker()
    assert spec.server_type == "cpx32" and spec.image == "debian-12" and spec.location == "fsn1"
    assert spec.ssh_allow_cidrs == [] and spec.kube_api_allow_cidrs == [] and spec.open_ports == []
    assert spec.private_ip is None and spec.volumes == {} and spec.backups is False


def test_hosts_spec_is_empty_by_default_and_frozen() -> None:
    spec = HostsSpec()
    assert spec.dedicated == {} and spec.cloud == {} and spec.network is None
    with pytest.raises(Exception, match="frozen"):
        spec.network = None


def test_cluster_defaults_follow_the_hardening_guide() -> None:
    spec = K3sClusterSpec(servers=["ax41"])
    assert spec.version == defaults.K3S_VERSION
    h = spec.hardening
    assert h.secrets_encryption and h.protect_kernel_defaults and h.audit_log and h.event_rate_limit
    assert h.pod_security == "restricted" and h.pod_security_exempt_namespaces == ["kube-system"]
    assert spec.disabled_components == ["servicelb"]
    snaps = spec.etcd_snapshots
    assert snaps.enabled and snaps.schedule == "0 */6 * * *" and snaps.retention == 28
    assert snaps.bucket_lookup_type == "path" and snaps.region == "auto" and snaps.bucket is None
    assert spec.upgrade.enabled is False
    assert spec.nodes == ["ax41"]


def test_yaml_and_python_names_are_both_accepted() -> None:
    a = DedicatedHostSpec.model_validate(ax41_data(kubeApiAllowCidrs=["198.51.100.0/24"]))
    b = DedicatedHostSpec(address="203.0.113.10", host_key=HOST_KEY, admin_ssh_keys=[OPS_KEY],
                          ssh_allow_cidrs=["198.51.100.7/32"], kube_api_allow_cidrs=["198.51.100.0/24"])
    assert a == b
    assert b.to_data()["kubeApiAllowCidrs"] == ["198.51.100.0/24"]


# --- rejected input, with the field path ----------------------------------------------------------


@pytest.mark.parametrize(("data", "path", "fragment"), [
    (ax41_data(address="203.0.113.300"), "address", "not an IPv4 or IPv6 address"),
    (ax41_data(address="2001:DB8::1"), "address", "canonical form"),
    (ax41_data(hostKey="ssh-ed25519 AAAA' ; rm -rf /"), "hostKey", "not an SSH host key"),
    (ax41_data(hostKey=HOST_KEY + " comment"), "hostKey", "not an SSH host key"),
    (ax41_data(adminSshKeys=[OPS_KEY + "\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIevilevilevilevil x"]),
     "adminSshKeys[0]", "not an OpenSSH public key"),
    (ax41_data(adminSshKeys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnk $(reboot)"]), "adminSshKeys[0]",
     "not an OpenSSH public key"),
    (ax41_data(adminSshKeys=[]), "adminSshKeys", "at least 1"),
    (ax41_data(adminUser="root"), "adminUser", "cannot be root"),
    (ax41_data(adminUser="ops'; id"), "adminUser", "not a POSIX user name"),
    (ax41_data(adminUser="`id`"), "adminUser", "not a POSIX user name"),
    (ax41_data(bootstrapUser="$(id)"), "bootstrapUser", "not a POSIX user name"),
    (ax41_data(sshAllowCidrs=["0.0.0.0/0"]), "sshAllowCidrs[0]", "whole internet"),
    (ax41_data(sshAllowCidrs=["::/0"]), "sshAllowCidrs[0]", "whole internet"),
    (ax41_data(sshAllowCidrs=["198.51.100.7/24"]), "sshAllowCidrs[0]", "host bits zero"),
    (ax41_data(sshAllowCidrs=[]), "", "sshAllowCidrs: a dedicated host needs at least one network"),
    (ax41_data(kubeApiAllowCidrs=["0.0.0.0/0"]), "kubeApiAllowCidrs[0]", "whole internet"),
    (ax41_data(sshPort=0), "sshPort", "greater than or equal to 1"),
    (ax41_data(automaticRebootTime="25:00"), "automaticRebootTime", "pattern"),
    (ax41_data(bogus=1), "bogus", "unknown field"),
    (ax41_data(openPorts=[{"port": "6443", "sourceCidrs": ["0.0.0.0/0"]}]), "openPorts[0]",
     "the Kubernetes API (tcp 6443) to the whole internet"),
    (ax41_data(openPorts=[{"port": "10000-10300", "sourceCidrs": ["::/0"]}]), "openPorts[0]", "kubelet"),
    (ax41_data(openPorts=[{"port": "2380", "sourceCidrs": ["0.0.0.0/0"]}]), "openPorts[0]", "etcd"),
    (ax41_data(openPorts=[{"port": "31000", "protocol": "udp", "sourceCidrs": ["0.0.0.0/0"]}]), "openPorts[0]",
     "NodePorts"),
    (ax41_data(openPorts=[{"port": "22", "sourceCidrs": ["198.51.100.0/24"]}]), "openPorts[0]",
     "SSH is opened through sshAllowCidrs"),
    (ax41_data(openPorts=[{"port": "443"}]), "openPorts[0].sourceCidrs", "required"),
    (ax41_data(openPorts=[{"port": "70000", "sourceCidrs": ["198.51.100.0/24"]}]), "openPorts[0].port", "1-65535"),
    (ax41_data(openPorts=[{"port": "443", "sourceCidrs": ["10.0.0.0/8"], "description": 'a"b'}]),
     "openPorts[0].description", "pattern"),
])
def test_dedicated_rejections(data: dict[str, Any], path: str, fragment: str) -> None:
    found = issues(DedicatedHostSpec, data)
    assert any(p == path and fragment in m for p, m in found), found


@pytest.mark.parametrize(("data", "path", "fragment"), [
    ({"sshKeys": [OPS_KEY], "serverType": "cpx31"}, "", "serverType: 'cpx31' was deprecated"),
    ({"sshKeys": [OPS_KEY], "serverType": "CPX32"}, "serverType", "pattern"),
    ({"sshKeys": []}, "sshKeys", "at least 1"),
    ({"sshKeys": [OPS_KEY], "location": "mars"}, "location", "fsn1"),
    ({"sshKeys": [OPS_KEY], "volumes": {"data": {"sizeGb": 5}}}, "volumes.data.sizeGb", "greater than or equal"),
    ({"sshKeys": [OPS_KEY], "volumes": {"Bad_Key": {"sizeGb": 10}}}, "volumes.Bad_Key", "not a DNS label"),
    ({"sshKeys": [OPS_KEY], "image": "debian-12; reboot"}, "image", "pattern"),
])
def test_cloud_rejections(data: dict[str, Any], path: str, fragment: str) -> None:
    found = issues(CloudServerSpec, data)
    assert any(p == path and fragment in m for p, m in found), found


def test_hosts_cross_checks() -> None:
    w = {"sshKeys": [OPS_KEY]}
    found = issues(HostsSpec, {"dedicated": {"ax41": ax41_data()}, "cloud": {"ax41": w}})
    assert found == [("", "cloud.ax41: the key 'ax41' is also a dedicated host; node names are unique")]
    found = issues(HostsSpec, {"cloud": {"w1": {**w, "privateIp": "10.0.1.5"}}})
    assert found == [("", "cloud.w1.privateIp: set hosts.network to attach servers to a private network")]
    found = issues(HostsSpec, {"network": {}, "cloud": {"w1": {**w, "privateIp": "10.0.2.5"}}})
    assert "must be inside subnet 10.0.1.0/24" in found[0][1]
    found = issues(HostsSpec, {"network": {}, "cloud": {"w1": {**w, "privateIp": "10.0.1.1"}}})
    assert "gateway" in found[0][1]
    found = issues(HostsSpec, {"network": {}, "cloud": {"a": {**w, "privateIp": "10.0.1.5"},
                                                        "b": {**w, "privateIp": "10.0.1.5"}}})
    assert found[0][1] == "cloud.b.privateIp: 10.0.1.5 is also used by cloud.a"
    found = issues(HostsSpec, {"dedicated": {"a": ax41_data(), "b": ax41_data()}})
    assert found[0][1].startswith("dedicated.b.address: 203.0.113.10 is also the address of dedicated.a")
    found = issues(HostsSpec, {"network": {"ipRange": "10.0.0.0/16", "subnet": "10.1.0.0/24"}})
    assert found[0][0] == "network" and "subnet of ipRange" in found[0][1]
    found = issues(HostsSpec, {"dedicated": {"Bad Key": ax41_data()}})
    assert found[0][0] == "dedicated.Bad Key" and "not a DNS label" in found[0][1]


@pytest.mark.parametrize(("data", "path", "fragment"), [
    ({"servers": []}, "servers", "at least 1"),
    ({"servers": ["a", "b"]}, "", "servers: use 1 server or an odd number"),
    ({"servers": ["a"], "agents": ["a"]}, "", "agents[0]: host 'a' is listed twice"),
    ({"servers": ["a"], "version": "stable"}, "version", "channels such as 'stable' are not accepted"),
    ({"servers": ["a"], "version": "v1.33.4"}, "version", "not an exact k3s release"),
    ({"servers": ["a"], "serviceCidr": "10.42.0.0/16"}, "", "overlaps clusterCidr"),
    ({"servers": ["a"], "etcdSnapshots": {"schedule": "0 */6 * * * ; reboot"}}, "etcdSnapshots.schedule",
     "not a 5-field cron"),
    ({"servers": ["a"], "etcdSnapshots": {"bucket": "Enclii_Backups"}}, "etcdSnapshots.bucket", "pattern"),
    ({"servers": ["a"], "etcdSnapshots": {"bucketLookupType": "virtual"}}, "etcdSnapshots.bucketLookupType", "path"),
    ({"servers": ["a"], "disable": ["kube-proxy"]}, "disable[0]", "traefik"),
    ({"servers": ["a"], "upgrade": {"windowStart": "05:00", "windowEnd": "03:00"}}, "", "windowEnd"),
    ({"servers": ["a"], "upgrade": {"controllerVersion": "latest"}}, "upgrade.controllerVersion", "pattern"),
    ({"servers": ["a"], "hardening": {"podSecurity": "none"}}, "hardening.podSecurity", "restricted"),
    ({"servers": ["a"], "apiEndpoint": "API.example.com"}, "apiEndpoint", "lower-case DNS hostname"),
    ({"servers": ["a"], "tlsSans": ["$(id)"]}, "tlsSans[0]", ""),
    ({"servers": ["a'b"]}, "servers[0]", "not a DNS label"),
])
def test_cluster_rejections(data: dict[str, Any], path: str, fragment: str) -> None:
    found = issues(K3sClusterSpec, data)
    assert any(p == path and fragment in m for p, m in found), found


def test_cluster_shapes() -> None:
    assert ha_cluster().nodes == ["cp1", "cp2", "cp3", "w1"]
    assert K3sClusterSpec(servers=["a"], disable=["traefik", "servicelb"]).disabled_components == [
        "servicelb", "traefik"]


def test_cluster_host_cross_checks() -> None:
    assert cluster_host_issues(ha_cluster(), ha_hosts()) == []
    assert cluster_host_issues(K3sClusterSpec(servers=["ax41"]), single_node_hosts()) == []
    bad = cluster_host_issues(K3sClusterSpec(servers=["nope"], agents=["ax41"]), single_node_hosts())
    assert [(i.path, i.message) for i in bad] == [
        ("cluster.servers[0]", "no host 'nope' in hosts.dedicated or hosts.cloud")]
    mixed = HostsSpec(dedicated={"ax41": ax41()}, cloud={"w1": worker()})
    found = cluster_host_issues(K3sClusterSpec(servers=["ax41"], agents=["w1"]), mixed)
    assert [i.path for i in found] == ["cluster.agents", "hosts.cloud.w1.privateIp"]
    assert cluster_host_issues(K3sClusterSpec(servers=["x"]), None)[0].path == "cluster.servers[0]"


def test_port_rule_allows_world_on_ordinary_ports() -> None:
    rule = PortRule(port="443", source_cidrs=["0.0.0.0/0", "::/0"], description="https")
    assert rule.protocol == "tcp"

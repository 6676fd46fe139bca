"""Specs shared by the host/cluster tests (built in Python, as the brief asks)."""

from __future__ import annotations

from enclii_iac.models.cluster import K3sClusterSpec
from enclii_iac.models.host import CloudServerSpec, DedicatedHostSpec, HostsSpec

OPS_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@example"
DEPLOY_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKZ7bX1nVzYl0m0tZGVwbG95LWtleS1mb3ItdGVzdHM deploy@ci"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789ab"
HOST_PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nTEST-ONLY-NOT-A-KEY\n-----END OPENSSH PRIVATE KEY-----\n"


def ax41(**extra: object) -> DedicatedHostSpec:
    data: dict[str, object] = {
        "address": "203.0.113.10",
        "hostKey": HOST_KEY,
        "adminSshKeys": [OPS_KEY, DEPLOY_KEY],
        "sshAllowCidrs": ["198.51.100.7/32", "2001:db8:7::/48"],
        **extra,
    }
    return DedicatedHostSpec.model_validate(data)


def worker(**extra: object) -> CloudServerSpec:
    return CloudServerSpec.model_validate({"sshKeys": [OPS_KEY, DEPLOY_KEY], **extra})


def single_node_hosts() -> HostsSpec:
    return HostsSpec(dedicated={"ax41": ax41()})


def ha_hosts(kube_api_allow: tuple[str, ...] = ()) -> HostsSpec:
    """Three control-plane servers and a worker; ``kube_api_allow`` opens 6443 on the servers to those networks
    (what a PlatformSpec with ``apiAccess.mode: allowlist`` needs)."""
    extra: dict[str, object] = {"kubeApiAllowCidrs": list(kube_api_allow)} if kube_api_allow else {}
    cloud = {
        f"cp{i}": worker(privateIp=f"10.0.1.{10 + i}", placementGroup="control-plane", **extra)
        for i in (1, 2, 3)
    }
    cloud["w1"] = worker(privateIp="10.0.1.21", volumes={"data": {"sizeGb": 50}},
                         sshAllowCidrs=["198.51.100.7/32"])
    return HostsSpec.model_validate({"cloud": cloud, "network": {}})


def single_node_cluster(**extra: object) -> K3sClusterSpec:
    return K3sClusterSpec.model_validate({
        "servers": ["ax41"], "apiEndpoint": "api.enclii.example.com",
        "etcdSnapshots": {"bucket": "enclii-backups"}, **extra})


def ha_cluster(**extra: object) -> K3sClusterSpec:
    return K3sClusterSpec.model_validate({"servers": ["cp1", "cp2", "cp3"], "agents": ["w1"],
                                          "upgrade": {"enabled": True}, **extra})

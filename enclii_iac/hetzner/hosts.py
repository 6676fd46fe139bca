"""Hosts: every machine of a HostsSpec (dedicated and cloud), with the shared network and groups."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import pulumi

from enclii_iac import host_defaults as hd
from enclii_iac import providers
from enclii_iac._lazy import LazyModule
from enclii_iac.errors import SpecError, SpecIssue
from enclii_iac.hetzner import helpers as h
from enclii_iac.hetzner.cloud import CloudServer
from enclii_iac.hetzner.dedicated import DedicatedHost
from enclii_iac.hetzner.node import ClusterNode
from enclii_iac.models.host import HostsSpec
from enclii_iac.naming import child_name, type_token
from enclii_iac.render import host as r

if TYPE_CHECKING:
    import pulumi_hcloud as hcloud
else:
    hcloud = LazyModule("pulumi_hcloud")

TYPE_HOSTS = type_token("Hosts")


def _host_cidr(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"{ip}/{32 if ip.version == 4 else 128}"


def dedicated_peers(spec: HostsSpec, key: str) -> list[str]:
    """Addresses (as /32 or /128) of the other dedicated hosts: the k3s peers of ``key``."""
    return [_host_cidr(d.address) for k, d in sorted(spec.dedicated.items()) if k != key]


def cloud_peers(spec: HostsSpec, key: str) -> list[str]:
    """The private network range when ``key`` and at least one other cloud server are attached to it."""
    srv = spec.cloud[key]
    attached = [k for k, s in spec.cloud.items() if s.private_ip is not None]
    if spec.network is None or srv.private_ip is None or len(attached) < 2:
        return []
    return [spec.network.ip_range]


class Hosts(pulumi.ComponentResource):
    """Every host of the platform: DedicatedHost per ``dedicated`` entry, CloudServer per ``cloud`` entry.

    Cloud servers share one private network, their placement groups and the hcloud SSH keys
    (Hetzner rejects the same public key twice in a project). ``nodes`` maps each host key to the
    ClusterNode that K3sCluster consumes.

    >>> hosts = Hosts("enclii-hosts", spec.hosts, ssh_private_key=key, hcloud_provider=hcloud_provider,
    ...               protect=spec.protect)
    >>> K3sCluster("enclii-k3s", spec.cluster, nodes=hosts.nodes, protect=spec.protect)
    """

    addresses: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: HostsSpec, opts: pulumi.ResourceOptions | None = None, *,
                 ssh_private_key: pulumi.Input[str], hcloud_provider: hcloud.Provider | None = None,
                 cluster_cidr: str = hd.CLUSTER_CIDR, protect: bool = False) -> None:
        """Declare every host of ``args`` and what cloud servers share.

        :param name: logical name; hosts are ``<name>-<host key>``, the network ``<name>-net``.
        :param args: the hosts spec (dedicated and cloud servers, the private network).
        :param opts: resource options; ``opts.providers`` may carry the hcloud (and command) providers.
        :param ssh_private_key: the deploy key Pulumi logs in with (a secret).
        :param hcloud_provider: the Hetzner Cloud provider (default: the one in ``opts.providers``); needed
            only for cloud servers.
        :param cluster_cidr: the pod range the host firewalls admit.
        :param protect: protect the servers, addresses, volumes and steps (production).
        """
        spec = args
        hcloud_provider = providers.resolve(hcloud_provider, opts, "hcloud")
        if spec.cloud and hcloud_provider is None:
            raise SpecError([SpecIssue("", "hosts.cloud",
                                       "cloud servers need an hcloud provider (pass hcloud_provider=hcloud.Provider"
                                       "(..., token=<secret>) or opts=pulumi.ResourceOptions(providers=[...]))")])
        if hcloud_provider is not None:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers=[hcloud_provider]))
        super().__init__(TYPE_HOSTS, name, None, opts)
        self.spec = spec
        self.dedicated: dict[str, DedicatedHost] = {}
        self.cloud: dict[str, CloudServer] = {}
        self.network: hcloud.Network | None = None
        self.subnet: hcloud.NetworkSubnet | None = None
        self.placement_groups: dict[str, hcloud.PlacementGroup] = {}
        self.ssh_keys: dict[str, hcloud.SshKey] = {}

        for key, ded in spec.dedicated.items():
            self.dedicated[key] = DedicatedHost(
                child_name(name, key), ded, pulumi.ResourceOptions(parent=self), ssh_private_key=ssh_private_key,
                node_name=key, peers=dedicated_peers(spec, key), cluster_cidr=cluster_cidr, protect=protect)

        if spec.cloud:
            assert hcloud_provider is not None
            if spec.network is not None:
                self.network, self.subnet = h.private_network(child_name(name, "net"), spec.network, parent=self,
                                                              protect=protect)
            for group in sorted({s.placement_group for s in spec.cloud.values() if s.placement_group}):
                self.placement_groups[group] = h.placement_group(child_name(name, "pg", group), parent=self)
            for pub in sorted({k for s in spec.cloud.values() for k in s.ssh_keys}):
                digest = r.sha256_hex(pub)[:8]
                self.ssh_keys[pub] = hcloud.SshKey(
                    child_name(name, "ssh", digest), name=f"{name}-{digest}", public_key=pub,
                    labels=dict(h.MANAGED_LABELS), opts=pulumi.ResourceOptions(parent=self))
            for key, srv in spec.cloud.items():
                self.cloud[key] = CloudServer(
                    child_name(name, key), srv, pulumi.ResourceOptions(parent=self), provider=hcloud_provider,
                    ssh_private_key=ssh_private_key, node_name=key,
                    network=self.network if srv.private_ip else None, subnet=self.subnet if srv.private_ip else None,
                    placement_group=self.placement_groups.get(srv.placement_group or ""),
                    ssh_keys=[self.ssh_keys[k] for k in srv.ssh_keys], peers=cloud_peers(spec, key),
                    cluster_cidr=cluster_cidr, protect=protect)

        self.nodes: dict[str, ClusterNode] = {
            **{k: v.node for k, v in self.dedicated.items()},
            **{k: v.node for k, v in self.cloud.items()},
        }
        self.addresses = pulumi.Output.all(
            **{k: n.public_address for k, n in sorted(self.nodes.items())}
        ).apply(lambda v: {k: str(a) for k, a in v.items()})
        self.register_outputs({"addresses": self.addresses})

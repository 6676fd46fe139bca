"""Hetzner hosts: the adopted dedicated server (AX41) and Hetzner Cloud servers, with their helpers."""

from enclii_iac.hetzner import _mocks
from enclii_iac.hetzner.cloud import TYPE_CLOUD_SERVER, CloudServer
from enclii_iac.hetzner.dedicated import TYPE_DEDICATED_HOST, DedicatedHost
from enclii_iac.hetzner.helpers import hcloud_firewall_rules, hcloud_id
from enclii_iac.hetzner.hosts import TYPE_HOSTS, Hosts, cloud_peers, dedicated_peers
from enclii_iac.hetzner.node import ClusterNode, ssh_connection

_mocks.install()

__all__ = [
    "TYPE_CLOUD_SERVER",
    "TYPE_DEDICATED_HOST",
    "TYPE_HOSTS",
    "CloudServer",
    "ClusterNode",
    "DedicatedHost",
    "Hosts",
    "cloud_peers",
    "dedicated_peers",
    "hcloud_firewall_rules",
    "hcloud_id",
    "ssh_connection",
]

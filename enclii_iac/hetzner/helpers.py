"""Small Hetzner Cloud building blocks: firewall rules, network, placement group, volume, primary IP.

Each helper declares one resource as a child of ``parent`` (which carries the hcloud provider) and
returns it; the pure ``hcloud_firewall_rules`` turns enclii inbound rules into hcloud rule data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pulumi

from enclii_iac._lazy import LazyModule
from enclii_iac.models.host import PrivateNetworkSpec, VolumeSpec
from enclii_iac.render.host import InboundRule

if TYPE_CHECKING:
    import pulumi_hcloud as hcloud
else:
    hcloud = LazyModule("pulumi_hcloud")

MANAGED_LABELS: dict[str, str] = {"managed-by": "enclii-iac"}
"""Labels on every hcloud resource enclii_iac declares."""


def hcloud_id(resource: pulumi.CustomResource) -> pulumi.Output[int]:
    """The numeric id other hcloud resources reference (the provider reports ids as decimal strings)."""
    return resource.id.apply(int)


def hcloud_firewall_rules(rules: Sequence[InboundRule]) -> list[hcloud.FirewallRuleArgs]:
    """hcloud Firewall rules (inbound only: outbound stays open) from enclii inbound rules."""
    return [
        hcloud.FirewallRuleArgs(direction="in", protocol=r.protocol, port=r.ports, source_ips=list(r.sources),
                                description=r.description[:255])
        for r in rules
    ]


def firewall(name: str, rules: Sequence[InboundRule], *, parent: pulumi.Resource,
             labels: Mapping[str, str]) -> hcloud.Firewall:
    """An hcloud Firewall closed by default: no rule means no inbound traffic at all."""
    return hcloud.Firewall(
        name, name=name, rules=hcloud_firewall_rules(rules), labels={**MANAGED_LABELS, **labels},
        opts=pulumi.ResourceOptions(parent=parent))


def private_network(name: str, spec: PrivateNetworkSpec, *, parent: pulumi.Resource,
                    protect: bool) -> tuple[hcloud.Network, hcloud.NetworkSubnet]:
    """The private network and its cloud subnet."""
    network = hcloud.Network(
        name, name=name, ip_range=spec.ip_range, labels=dict(MANAGED_LABELS), delete_protection=protect,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect))
    subnet = hcloud.NetworkSubnet(
        f"{name}-subnet", network_id=hcloud_id(network), type="cloud", network_zone=spec.network_zone,
        ip_range=spec.subnet, opts=pulumi.ResourceOptions(parent=parent, protect=protect))
    return network, subnet


def placement_group(name: str, *, parent: pulumi.Resource) -> hcloud.PlacementGroup:
    """A spread placement group: its servers run on different physical hosts."""
    return hcloud.PlacementGroup(name, name=name, type="spread", labels=dict(MANAGED_LABELS),
                                 opts=pulumi.ResourceOptions(parent=parent))


def primary_ip(name: str, *, ip_type: str, location: str, parent: pulumi.Resource,
               protect: bool) -> hcloud.PrimaryIp:
    """A primary IP that outlives its server (auto_delete off), so a replaced server keeps its address."""
    return hcloud.PrimaryIp(
        name, name=name, type=ip_type, assignee_type="server", auto_delete=False, location=location,
        labels=dict(MANAGED_LABELS), delete_protection=protect,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect))


def volume(name: str, spec: VolumeSpec, *, location: str, server: hcloud.Server, parent: pulumi.Resource,
           protect: bool) -> tuple[hcloud.Volume, hcloud.VolumeAttachment]:
    """A volume and its attachment; the volume is stateful and protected in production."""
    vol = hcloud.Volume(
        name, name=name, size=spec.size_gb, location=location, format=spec.format,
        labels=dict(MANAGED_LABELS), delete_protection=protect,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect))
    attachment = hcloud.VolumeAttachment(
        f"{name}-attach", volume_id=hcloud_id(vol), server_id=hcloud_id(server), automount=spec.automount,
        opts=pulumi.ResourceOptions(parent=parent))
    return vol, attachment

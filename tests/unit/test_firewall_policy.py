"""The firewall policy over rendered hcloud rules and nftables rulesets."""

from __future__ import annotations

import pulumi
import pulumi_hcloud as hcloud

from enclii_iac.hetzner import Hosts
from enclii_iac.policy.firewall import (
    FIREWALL_RULES,
    RULE_DEFAULT_DROP,
    RULE_UNDECLARED,
    RULE_WORLD,
    check_nftables,
    check_records,
    check_rules,
    hcloud_rules,
    parse_nftables,
)
from enclii_iac.render import host as r
from enclii_iac.testing import Recorder
from tests.components.conftest import make_recorder
from tests.unit.host_fixtures import ax41, ha_hosts, single_node_hosts

WORLD = ("0.0.0.0/0", "::/0")


def rule(proto: str, ports: str, *sources: str) -> r.InboundRule:
    return r.InboundRule(proto, ports, tuple(sources), "t")


def test_sensitive_ports_never_open_to_the_world() -> None:
    for proto, ports in (("tcp", "6443"), ("tcp", "10250"), ("tcp", "10255"), ("tcp", "2379"), ("tcp", "2380"),
                         ("tcp", "2000-3000"), ("tcp", "30080"), ("udp", "32767"), ("tcp", "any")):
        for world in WORLD:
            found = check_rules("fw", [rule(proto, ports, "198.51.100.0/24", world)])
            assert [v.rule for v in found] == [RULE_WORLD], (proto, ports, world)
            assert world in found[0].message


def test_sensitive_ports_from_networks_and_ordinary_ports_from_the_world_pass() -> None:
    assert check_rules("fw", [rule("tcp", "6443", "198.51.100.0/24"), rule("tcp", "443", *WORLD),
                              rule("udp", "10250", *WORLD), rule("tcp", "29999", *WORLD)]) == []


def test_undeclared_ports_are_reported() -> None:
    declared = r.dedicated_inbound_rules(ax41())
    assert check_rules("fw", [rule("tcp", "22", "198.51.100.7/32")], declared) == []
    found = check_rules("fw", [rule("tcp", "8080", "198.51.100.7/32"), rule("tcp", "22", "10.0.0.0/8")], declared)
    assert [v.rule for v in found] == [RULE_UNDECLARED, RULE_UNDECLARED]


def test_parse_rendered_nftables() -> None:
    spec = ax41(kubeApiAllowCidrs=["198.51.100.0/24"])
    text = r.render_nftables("ax41", r.dedicated_inbound_rules(spec, ["203.0.113.11/32"]))
    rules, problems = parse_nftables(text)
    assert problems == []
    assert ("tcp", "22", ("198.51.100.7/32",)) in [(x.protocol, x.ports, x.sources) for x in rules]
    assert ("tcp", "6443", ("198.51.100.0/24",)) in [(x.protocol, x.ports, x.sources) for x in rules]
    assert check_nftables("ax41", text, r.dedicated_inbound_rules(spec, ["203.0.113.11/32"])) == []


def test_hand_edited_nftables_are_caught() -> None:
    text = r.render_nftables("ax41", r.dedicated_inbound_rules(ax41()))
    opened = text.replace('    iifname "lo" accept\n', '    iifname "lo" accept\n    tcp dport 6443 accept\n')
    found = check_nftables("ax41", opened)
    assert [v.rule for v in found] == [RULE_WORLD]
    found = check_nftables("ax41", text.replace("policy drop;", "policy accept;"))
    assert [v.rule for v in found] == [RULE_DEFAULT_DROP]
    world = text.replace("ip saddr { 198.51.100.7/32 } tcp dport 22", "ip saddr { 0.0.0.0/0 } tcp dport 10250")
    assert [v.rule for v in check_nftables("ax41", world)] == [RULE_WORLD]


def test_hcloud_rules_from_inputs() -> None:
    rules = hcloud_rules({"rules": [
        {"direction": "in", "protocol": "tcp", "port": "6443", "sourceIps": ["0.0.0.0/0"]},
        {"direction": "out", "protocol": "tcp", "port": "6443", "destinationIps": ["0.0.0.0/0"]},
        {"direction": "in", "protocol": "icmp", "sourceIps": ["0.0.0.0/0"]},
    ]})
    assert rules == [r.InboundRule("tcp", "6443", ("0.0.0.0/0",), "")]


def record(program: object) -> Recorder:
    return make_recorder().run(program)


def test_records_of_the_rendered_hosts_pass() -> None:
    def program() -> None:
        provider = hcloud.Provider("hcloud", token="t")
        Hosts("ded", single_node_hosts(), ssh_private_key="k")
        Hosts("cld", ha_hosts(), ssh_private_key="k", hcloud_provider=provider)

    rec = record(program)
    assert check_records(rec.records) == []
    assert check_records(rec.records, ha_hosts()) != []  # the dedicated host is not in ha_hosts: undeclared
    assert FIREWALL_RULES[0](rec.records) == []


def test_records_with_a_world_open_api_fail() -> None:
    def program() -> None:
        provider = hcloud.Provider("hcloud", token="t")
        hcloud.Firewall("bad", name="bad", rules=[
            hcloud.FirewallRuleArgs(direction="in", protocol="tcp", port="6443", source_ips=["0.0.0.0/0", "::/0"]),
            hcloud.FirewallRuleArgs(direction="in", protocol="udp", port="30000-32767", source_ips=["::/0"]),
        ], opts=pulumi.ResourceOptions(provider=provider))

    found = check_records(record(program).records)
    assert [(v.rule, v.resource) for v in found] == [(RULE_WORLD, "hcloud:index/firewall:Firewall bad")] * 2
    assert {v.message.split(" exposes ")[1].split(";")[0] for v in found} == {
        "the Kubernetes API (tcp 6443)", "Kubernetes NodePorts (udp 30000-32767)"}

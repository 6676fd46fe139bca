"""Policy over rendered firewalls: hcloud Firewall rules and the hosts' nftables rulesets.

Two rules, usable on plain data (unit tests, ``enclii-iac policy``) and on recorded resources:

- ``firewall/sensitive-port-open-to-world``: 6443, 10250, 10255, 2379-2380 and the NodePort range
  30000-32767 are never reachable from ``0.0.0.0/0`` or ``::/0``;
- ``firewall/undeclared-port``: no inbound port is open unless the host spec declares it (when the
  hosts spec is given), and an nftables input chain must drop by default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from enclii_iac import host_defaults as hd
from enclii_iac.models.host import (
    SENSITIVE_PORTS,
    HostsSpec,
    is_world,
    network_within,
    port_range,
    sensitive_overlap,
    world_like,
)
from enclii_iac.policy.base import Violation
from enclii_iac.render.host import InboundRule, Protocol, cloud_inbound_rules, dedicated_inbound_rules, files_in_script

RULE_WORLD = "firewall/sensitive-port-open-to-world"
RULE_UNDECLARED = "firewall/undeclared-port"
RULE_DEFAULT_DROP = "firewall/default-drop"

FIREWALL_TYPE = "hcloud:index/firewall:Firewall"
SERVER_TYPE = "hcloud:index/server:Server"
COMMAND_TYPE = "command:remote:Command"


FirewallViolation = Violation
"""Violations are the toolkit's common :class:`enclii_iac.policy.base.Violation` (rule, resource, message)."""


def _ports(value: str) -> tuple[int, int]:
    if value in ("", "any"):
        return 1, 65535
    return port_range(value)


def _world(sources: Iterable[str]) -> list[str]:
    out = []
    for src in sources:
        try:
            if is_world(src):
                out.append(src)
        except ValueError:
            continue
    return out


def _valid(sources: Iterable[str]) -> list[str]:
    out = []
    for src in sources:
        try:
            is_world(src)
        except ValueError:
            continue
        out.append(src)
    return out


def check_rules(resource: str, rules: Sequence[InboundRule],
                declared: Sequence[InboundRule] | None = None) -> list[FirewallViolation]:
    """Violations of the inbound ``rules`` of one firewall; ``declared`` enables the undeclared-port rule."""
    out: list[FirewallViolation] = []
    reported: set[tuple[str, int]] = set()
    for rule in rules:
        low, high = _ports(rule.ports)
        world = _world(rule.sources)
        if world:
            what = sensitive_overlap(rule.protocol, low, high)
            if what:
                out.append(FirewallViolation(RULE_WORLD, resource,
                                             f"{rule.protocol} {rule.ports} from {world[0]} exposes {what}; "
                                             "allow only the networks that need it"))
                reported |= {(p, s_low) for p, s_low, s_high, _ in SENSITIVE_PORTS
                             if p == rule.protocol and low <= s_high and s_low <= high}
        if declared is not None and not _covered(rule, declared):
            out.append(FirewallViolation(RULE_UNDECLARED, resource,
                                         f"{rule.protocol} {rule.ports} from {', '.join(rule.sources)} is not "
                                         "declared in the host spec"))
    # the same judged on the union of every rule reaching a sensitive port: 0.0.0.0/1 + 128.0.0.0/1 is the world
    for proto, s_low, s_high, what in SENSITIVE_PORTS:
        if (proto, s_low) in reported:
            continue
        sources = [src for rule in rules if rule.protocol == proto
                   and _ports(rule.ports)[0] <= s_high and s_low <= _ports(rule.ports)[1] for src in rule.sources]
        why = world_like(_valid(sources))
        if why:
            ports = f"{s_low}-{s_high}" if s_low != s_high else str(s_low)
            out.append(FirewallViolation(RULE_WORLD, resource, f"{proto} {ports} ({what}): {why}; allow only the "
                                                               "networks that need it"))
    return out


def _covered(rule: InboundRule, declared: Sequence[InboundRule]) -> bool:
    low, high = _ports(rule.ports)
    srcs = set(rule.sources)
    for d in declared:
        d_low, d_high = _ports(d.ports)
        if d.protocol != rule.protocol or not (d_low <= low and high <= d_high):
            continue
        if all(any(network_within(s, ds) for ds in d.sources) for s in srcs):
            return True
    return False


# --- parsing -----------------------------------------------------------------------------------------

_NFT_RULE = re.compile(
    r"^\s*(?P<fam>ip|ip6) saddr \{ (?P<srcs>[^}]*) \} (?P<proto>tcp|udp) dport (?P<ports>[0-9]+(?:-[0-9]+)?) accept\b"
)
_NFT_OPEN = re.compile(r"^\s*(?P<proto>tcp|udp) dport (?P<ports>\S+) accept\b")
_NFT_POLICY = re.compile(r"type filter hook input priority \S+; policy (?P<policy>accept|drop);")


def _protocol(text: str) -> Protocol:
    if text == "tcp":
        return "tcp"
    if text == "udp":
        return "udp"
    raise ValueError(f"unexpected protocol {text!r} in an nftables rule")


def parse_nftables(text: str) -> tuple[list[InboundRule], list[str]]:
    """Inbound accept rules of the input chain of an enclii nftables ruleset, and structural problems."""
    rules: list[InboundRule] = []
    problems: list[str] = []
    in_input = False
    saw_policy = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("chain "):
            in_input = stripped.startswith("chain input")
            continue
        if not in_input:
            continue
        m_pol = _NFT_POLICY.search(stripped)
        if m_pol:
            saw_policy = m_pol.group("policy")
            continue
        m = _NFT_RULE.match(line)
        if m:
            sources = tuple(s.strip() for s in m.group("srcs").split(",") if s.strip())
            rules.append(InboundRule(_protocol(m.group("proto")), m.group("ports"), sources, "nftables"))
            continue
        m_open = _NFT_OPEN.match(line)
        if m_open:  # an accept without a source match: open to everyone
            world = ("0.0.0.0/0", "::/0")
            ports = m_open.group("ports")
            rules.append(InboundRule(_protocol(m_open.group("proto")), ports if ports[0].isdigit() else "any", world,
                                     "nftables"))
    if saw_policy != "drop":
        problems.append(f"the input chain's policy is {saw_policy or 'missing'}, not drop")
    return rules, problems


def hcloud_rules(inputs: Mapping[str, Any]) -> list[InboundRule]:
    """Inbound rules of a recorded hcloud Firewall (camelCase inputs)."""
    out: list[InboundRule] = []
    for rule in inputs.get("rules") or []:
        if rule.get("direction") != "in":
            continue
        proto = rule.get("protocol", "")
        if proto not in ("tcp", "udp"):
            continue
        out.append(InboundRule(proto, str(rule.get("port") or "any"), tuple(rule.get("sourceIps") or ()),
                               str(rule.get("description") or "")))
    return out


def check_nftables(resource: str, text: str, declared: Sequence[InboundRule] | None = None) -> list[FirewallViolation]:
    rules, problems = parse_nftables(text)
    out = [FirewallViolation(RULE_DEFAULT_DROP, resource, p) for p in problems]
    return out + check_rules(resource, rules, declared)


def _declared(hosts: HostsSpec | None, node: str) -> list[InboundRule] | None:
    if hosts is None:
        return None
    from enclii_iac.hetzner.hosts import cloud_peers, dedicated_peers

    if node in hosts.dedicated:
        return dedicated_inbound_rules(hosts.dedicated[node], dedicated_peers(hosts, node))
    if node in hosts.cloud:
        return cloud_inbound_rules(hosts.cloud[node], cloud_peers(hosts, node))
    return []


_HOST_LINE = re.compile(r"^# host: (?P<node>\S+)$", re.M)


def _rulesets(record: Any) -> list[str]:
    inputs = record.plain_inputs
    texts: list[str] = []
    if record.type == COMMAND_TYPE and isinstance(inputs.get("stdin"), str):
        content = files_in_script(inputs["stdin"]).get(hd.FIREWALL_RULESET_PATH)
        if content:
            texts.append(content)
    elif record.type == SERVER_TYPE and isinstance(inputs.get("userData"), str):
        import yaml

        data = yaml.safe_load(inputs["userData"]) or {}
        for f in data.get("write_files") or []:
            if f.get("path") == hd.FIREWALL_RULESET_PATH:
                texts.append(str(f.get("content", "")))
    return texts


def check_records(records: Iterable[Any], hosts: HostsSpec | None = None) -> list[FirewallViolation]:
    """Both rules over recorded resources (``enclii_iac.testing.ResourceRecord``): every hcloud Firewall,
    every nftables ruleset a hardening step or a cloud server's user data writes.

    With ``hosts``, rules not declared by that host's spec are reported too (hcloud firewalls are
    matched to hosts by their ``node`` label, rulesets by their ``# host:`` line).
    """
    out: list[FirewallViolation] = []
    for rec in records:
        if rec.type == FIREWALL_TYPE:
            inputs = rec.plain_inputs
            node = str((inputs.get("labels") or {}).get("node", ""))
            declared = _declared(hosts, node)
            if declared is not None and hosts is not None and node in hosts.cloud:
                declared = cloud_inbound_rules(hosts.cloud[node])  # peers use the private network
            out += check_rules(f"{rec.type} {rec.name}", hcloud_rules(inputs), declared)
        for text in _rulesets(rec):
            m = _HOST_LINE.search(text)
            node = m.group("node") if m else ""
            out += check_nftables(f"{rec.type} {rec.name} {hd.FIREWALL_RULESET_PATH}", text, _declared(hosts, node))
    return sorted(set(out))


def firewall_rule(records: list[Any]) -> list[Violation]:
    """The firewall rules over recorded resources, without a hosts spec (the CLI ``policy`` hook)."""
    return check_records(records)


FIREWALL_RULES = [firewall_rule]
"""Rules to add to ``enclii_iac.policy.run.all_rules``."""

"""Pure renderers of everything a host and a k3s node are configured with.

Structured configuration is built as data and dumped (cloud-init, k3s ``config.yaml``, audit policy,
Pod Security admission config); small line-based files (sshd, sysctl, nftables, apt) are built from
data line by line; only the shell scripts are Jinja2 templates (see :mod:`enclii_iac.render.shell`).
Every function is deterministic: the same input gives the same bytes.
"""

from __future__ import annotations

import hashlib
import ipaddress
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from enclii_iac import host_defaults as hd
from enclii_iac.errors import RenderError
from enclii_iac.models.cluster import K3sClusterSpec, K3sHardeningSpec, NodeReservationsSpec
from enclii_iac.models.host import CloudServerSpec, DedicatedHostSpec, PortRule
from enclii_iac.models.identity import OidcSpec
from enclii_iac.render.shell import quote, render_script

HEADER = "# Managed by enclii-iac: changes made here are overwritten on the next apply.\n"


def sha256_hex(*parts: str) -> str:
    """Content hash used as a step trigger: a step re-runs exactly when what it applies changes."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


# --- YAML ------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Safe dumper that writes multi-line strings as literal blocks (readable cloud-init)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    """Deterministic YAML: keys in the order given, block style, no line folding."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100000,
                     allow_unicode=False)


# --- files -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostFile:
    """A file a step writes: path, octal mode, content, and an optional validator run on it first."""

    path: str
    mode: str
    content: str
    validator: str = ""
    validator_args: tuple[str, ...] = ()


def _line_safe(value: str, what: str) -> str:
    if any(c in value for c in "\n\r\x00"):
        raise RenderError(f"{what}: {value[:40]!r} contains a line break or NUL")
    return value


def render_sshd_dropin(admin_user: str, port: int = hd.SSH_PORT) -> str:
    """sshd drop-in: keys only, no root, no passwords, only the admin user, no forwarding."""
    _line_safe(admin_user, "admin user")
    if not admin_user or any(c.isspace() for c in admin_user):
        raise RenderError(f"admin user {admin_user!r} cannot be written into sshd_config")
    lines = [
        f"Port {int(port)}",
        "PermitRootLogin no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitEmptyPasswords no",
        "PubkeyAuthentication yes",
        "AuthenticationMethods publickey",
        f"AllowUsers {admin_user}",
        "X11Forwarding no",
        "AllowAgentForwarding no",
        "AllowTcpForwarding no",
        "PermitTunnel no",
        "MaxAuthTries 3",
        "LoginGraceTime 30",
        "ClientAliveInterval 300",
        "ClientAliveCountMax 2",
    ]
    return HEADER + "\n".join(lines) + "\n"


KUBELET_SYSCTLS: tuple[tuple[str, str], ...] = (
    ("vm.panic_on_oom", "0"),
    ("vm.overcommit_memory", "1"),
    ("kernel.panic", "10"),
    ("kernel.panic_on_oops", "1"),
    ("net.ipv4.ip_forward", "1"),
    ("net.ipv6.conf.all.forwarding", "1"),
    ("net.bridge.bridge-nf-call-iptables", "1"),
    ("net.bridge.bridge-nf-call-ip6tables", "1"),
    ("fs.inotify.max_user_instances", "8192"),
    ("fs.inotify.max_user_watches", "524288"),
)
"""Kernel parameters kubelet's protect-kernel-defaults expects (k3s CIS guide) plus pod networking."""

HARDENING_SYSCTLS: tuple[tuple[str, str], ...] = (
    ("kernel.kptr_restrict", "2"),
    ("kernel.dmesg_restrict", "1"),
    ("kernel.unprivileged_bpf_disabled", "1"),
    ("net.core.bpf_jit_harden", "2"),
    ("fs.protected_hardlinks", "1"),
    ("fs.protected_symlinks", "1"),
    ("fs.suid_dumpable", "0"),
    ("net.ipv4.tcp_syncookies", "1"),
    ("net.ipv4.conf.all.accept_redirects", "0"),
    ("net.ipv4.conf.default.accept_redirects", "0"),
    ("net.ipv6.conf.all.accept_redirects", "0"),
    ("net.ipv6.conf.default.accept_redirects", "0"),
    ("net.ipv4.conf.all.send_redirects", "0"),
    ("net.ipv4.conf.all.accept_source_route", "0"),
    ("net.ipv6.conf.all.accept_source_route", "0"),
    ("net.ipv4.conf.all.log_martians", "1"),
    # strict reverse-path filtering (a packet is accepted only on the interface its source is routed through);
    # systemd's 50-default.conf sets existing interfaces to loose (2), so the firewall's rpfilter chain is
    # what enforces it on every interface and for IPv6 too
    ("net.ipv4.conf.all.rp_filter", "1"),
    ("net.ipv4.conf.default.rp_filter", "1"),
    ("net.ipv4.icmp_echo_ignore_broadcasts", "1"),
)
"""Kernel and network hardening that does not interfere with Kubernetes."""


def render_sysctl(params: Iterable[tuple[str, str]]) -> str:
    return HEADER + "".join(f"{k} = {v}\n" for k, v in params)


KERNEL_MODULES: tuple[str, ...] = ("overlay", "br_netfilter", "wireguard")
MODULES_PATH = "/etc/modules-load.d/enclii-k3s.conf"


def render_modules() -> str:
    return HEADER + "".join(f"{m}\n" for m in KERNEL_MODULES)


def render_apt_auto_upgrades(enabled: bool) -> str:
    flag = "1" if enabled else "0"
    return HEADER + f'APT::Periodic::Update-Package-Lists "{flag}";\nAPT::Periodic::Unattended-Upgrade "{flag}";\n'


def render_unattended_upgrades(automatic_reboot: bool, reboot_time: str) -> str:
    if not (len(reboot_time) == 5 and reboot_time[2] == ":" and reboot_time.replace(":", "").isdigit()):
        raise RenderError(f"reboot time {reboot_time!r} is not HH:MM")
    return HEADER + (
        'Unattended-Upgrade::Origins-Pattern {\n'
        '        "origin=Debian,codename=${distro_codename},label=Debian-Security";\n'
        '        "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";\n'
        '};\n'
        'Unattended-Upgrade::Remove-Unused-Kernel-Packages "true";\n'
        f'Unattended-Upgrade::Automatic-Reboot "{"true" if automatic_reboot else "false"}";\n'
        f'Unattended-Upgrade::Automatic-Reboot-Time "{reboot_time}";\n'
    )


def render_sudoers(admin_user: str) -> str:
    _line_safe(admin_user, "admin user")
    if not admin_user or any(c in admin_user for c in " \t,:=()!#\\\"'"):
        raise RenderError(f"admin user {admin_user!r} cannot be written into a sudoers rule")
    return HEADER + f"{admin_user} ALL=(ALL:ALL) NOPASSWD: ALL\n"


def render_authorized_keys(keys: Sequence[str]) -> str:
    if not keys:
        raise RenderError("authorized_keys: at least one key is required")
    for key in keys:
        _line_safe(key, "SSH key")
    return HEADER + "".join(f"{k}\n" for k in keys)


def render_firewall_unit() -> str:
    """systemd unit loading the enclii nftables table at boot, before any network interface is up."""
    return HEADER + (
        "[Unit]\n"
        "Description=enclii host firewall (nftables table inet enclii)\n"
        "DefaultDependencies=no\n"
        "Wants=network-pre.target\n"
        "Before=network-pre.target shutdown.target\n"
        "Conflicts=shutdown.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        f"ExecStart=/usr/sbin/nft -f {hd.FIREWALL_RULESET_PATH}\n"
        "\n"
        "[Install]\n"
        "WantedBy=sysinit.target\n"
    )


# --- firewall --------------------------------------------------------------------------------------

Protocol = Literal["tcp", "udp"]


@dataclass(frozen=True)
class InboundRule:
    """One allowed inbound flow: protocol, port or range, source networks, and why."""

    protocol: Protocol
    ports: str
    sources: tuple[str, ...]
    description: str


K3S_PEER_PORTS: tuple[tuple[Protocol, str, str], ...] = (
    ("tcp", "6443", "k3s API from cluster peers"),
    ("tcp", "10250", "kubelet from cluster peers"),
    ("tcp", "2379-2380", "etcd between servers"),
    ("udp", "51820", "flannel WireGuard (IPv4) between nodes"),
    ("udp", "51821", "flannel WireGuard (IPv6) between nodes"),
)
"""Ports cluster nodes need from each other (k3s docs, installation/requirements)."""


def inbound_rules(*, ssh_port: int, ssh_allow: Sequence[str], kube_api_allow: Sequence[str],
                  open_ports: Sequence[PortRule], peers: Sequence[str]) -> list[InboundRule]:
    """Every inbound flow a host allows; anything else is dropped. Empty lists open nothing."""
    rules: list[InboundRule] = []
    if ssh_allow:
        rules.append(InboundRule("tcp", str(ssh_port), tuple(ssh_allow), "SSH from the allow-list"))
    if kube_api_allow:
        rules.append(InboundRule("tcp", str(hd.API_PORT), tuple(kube_api_allow), "Kubernetes API from the allow-list"))
    if peers:
        for proto, ports, why in K3S_PEER_PORTS:
            rules.append(InboundRule(proto, ports, tuple(peers), why))
    for rule in open_ports:
        rules.append(InboundRule(rule.protocol, rule.port, tuple(rule.source_cidrs), rule.description or "declared"))
    return rules


def dedicated_inbound_rules(spec: DedicatedHostSpec, peers: Sequence[str] = ()) -> list[InboundRule]:
    return inbound_rules(ssh_port=spec.ssh_port, ssh_allow=spec.ssh_allow_cidrs,
                         kube_api_allow=spec.kube_api_allow_cidrs, open_ports=spec.open_ports, peers=peers)


def cloud_inbound_rules(spec: CloudServerSpec, peers: Sequence[str] = ()) -> list[InboundRule]:
    return inbound_rules(ssh_port=hd.SSH_PORT, ssh_allow=spec.ssh_allow_cidrs,
                         kube_api_allow=spec.kube_api_allow_cidrs, open_ports=spec.open_ports, peers=peers)


def _nft_ports(ports: str) -> str:
    low, _, high = ports.partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        raise RenderError(f"{ports!r} is not a port or port range")
    return ports


def _split_families(sources: Iterable[str]) -> tuple[list[str], list[str]]:
    v4: list[str] = []
    v6: list[str] = []
    for src in sources:
        try:
            net = ipaddress.ip_network(src, strict=False)
        except ValueError:
            raise RenderError(f"{src!r} is not a network in CIDR form") from None
        (v4 if net.version == 4 else v6).append(str(net))
    return v4, v6


def _comment(text: str) -> str:
    safe = "".join(c for c in text if c.isalnum() or c in " ._:/()-")
    return safe[:100]


CNI_INTERFACES_V4: tuple[str, ...] = ("cni0", "flannel-wg")
CNI_INTERFACES_V6: tuple[str, ...] = ("cni0", "flannel-wg-v6")
"""Where pod traffic reaches a node: the local pods' bridge and flannel's WireGuard links to the other nodes."""


def _ifaces(names: Sequence[str]) -> str:
    return "{ " + ", ".join(f'"{n}"' for n in names) + " }"


def render_nftables(node: str, rules: Sequence[InboundRule], *, cluster_cidr: str = hd.CLUSTER_CIDR) -> str:
    """The host firewall as an nftables ruleset in its own table ``inet enclii``.

    Inbound is dropped unless a rule allows it: established flows, loopback, ICMP needed by IPv4/IPv6,
    pod traffic to the host (only from the pod range *and* only on the CNI interfaces, so a spoofed pod
    source on the public interface is dropped), and the rules given. A packet whose source is not routed
    back through the interface it came in on is dropped first (strict reverse-path filtering, both
    families). NodePorts are dropped before kube-proxy's DNAT unless they come from pods, loopback or an
    explicit rule, so they never reach the internet. Other tables (k3s, kube-proxy, flannel) are left
    alone: the file deletes and redefines only its own table, atomically.
    """
    pods_v4, pods_v6 = _split_families([cluster_cidr])
    cni4, cni6 = _ifaces(CNI_INTERFACES_V4), _ifaces(CNI_INTERFACES_V6)
    out = [
        "#!/usr/sbin/nft -f",
        HEADER.rstrip("\n"),
        f"# host: {_comment(node)}",
        f"table inet {hd.FIREWALL_TABLE}",
        f"delete table inet {hd.FIREWALL_TABLE}",
        f"table inet {hd.FIREWALL_TABLE} {{",
        "  chain input {",
        "    type filter hook input priority filter; policy drop;",
        "    ct state established,related accept",
        "    ct state invalid drop",
        '    iifname "lo" accept',
        "    icmp type { echo-request, destination-unreachable, time-exceeded, parameter-problem } accept",
        "    icmpv6 type { echo-request, destination-unreachable, packet-too-big, time-exceeded, parameter-problem, "
        "nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept",
    ]
    for net in pods_v4:
        out.append(f'    iifname {cni4} ip saddr {net} accept comment "pods to the host"')
    for net in pods_v6:
        out.append(f'    iifname {cni6} ip6 saddr {net} accept comment "pods to the host"')
    nodeport_rules: list[str] = []
    for rule in rules:
        ports = _nft_ports(rule.ports)
        v4, v6 = _split_families(rule.sources)
        for fam, nets in (("ip", v4), ("ip6", v6)):
            if not nets:
                continue
            line = (f"{fam} saddr {{ {', '.join(nets)} }} {rule.protocol} dport {ports} accept "
                    f'comment "{_comment(rule.description)}"')
            out.append(f"    {line}")
            low, _, high = ports.partition("-")
            if int(low) <= 32767 and int(high or low) >= 30000:
                nodeport_rules.append(line)
    out += [
        "  }",
        "  chain nodeports {",
        "    type filter hook prerouting priority -150; policy accept;",
        "    fib daddr type != local return",
        '    iifname "lo" return',
    ]
    for net in pods_v4:
        out.append(f"    iifname {cni4} ip saddr {net} return")
    for net in pods_v6:
        out.append(f"    iifname {cni6} ip6 saddr {net} return")
    for line in nodeport_rules:
        out.append("    " + line.replace(" accept ", " return ", 1))
    out += [
        '    meta l4proto { tcp, udp } th dport 30000-32767 drop comment "NodePorts stay inside"',
        "  }",
        "  chain rpfilter {",
        "    type filter hook prerouting priority raw; policy accept;",
        '    iifname "lo" accept',
        "    meta nfproto ipv4 udp sport 67 udp dport 68 accept comment \"DHCP offers before an address\"",
        "    meta nfproto ipv6 icmpv6 type { nd-router-advert, nd-neighbor-solicit } accept",
        '    fib saddr . mark . iif oif missing drop comment "strict reverse path"',
        "  }",
        "}",
    ]
    return "\n".join(out) + "\n"


# --- host hardening steps --------------------------------------------------------------------------


def render_admin_script(admin_user: str, admin_keys: Sequence[str]) -> str:
    """Step 1 (as the bootstrap user): the admin user, its authorized keys and its sudo rule."""
    return render_script(
        "admin.sh.j2",
        admin_user=admin_user,
        authorized_keys=render_authorized_keys(admin_keys),
        sudoers_path=hd.SUDOERS_PATH,
        sudoers=render_sudoers(admin_user),
    )


def hardening_files(*, node: str, admin_user: str, ssh_port: int, rules: Sequence[InboundRule],
                    cluster_cidr: str, unattended_upgrades: bool, automatic_reboot: bool = False,
                    automatic_reboot_time: str = "03:30") -> list[HostFile]:
    """Every file the hardening step writes, in order (the same files go into cloud-init)."""
    return [
        HostFile(hd.SSHD_DROPIN_PATH, "0600", render_sshd_dropin(admin_user, ssh_port)),
        HostFile(hd.SYSCTL_KUBELET_PATH, "0644", render_sysctl(KUBELET_SYSCTLS)),
        HostFile(hd.SYSCTL_HARDENING_PATH, "0644", render_sysctl(HARDENING_SYSCTLS)),
        HostFile(MODULES_PATH, "0644", render_modules()),
        HostFile(hd.FIREWALL_RULESET_PATH, "0600", render_nftables(node, rules, cluster_cidr=cluster_cidr),
                 "nft", ("-c", "-f")),
        HostFile(f"/etc/systemd/system/{hd.FIREWALL_UNIT}", "0644", render_firewall_unit()),
        HostFile(hd.APT_AUTO_UPGRADES_PATH, "0644", render_apt_auto_upgrades(unattended_upgrades)),
        HostFile(hd.APT_UNATTENDED_PATH, "0644", render_unattended_upgrades(automatic_reboot, automatic_reboot_time)),
    ]


def dedicated_hardening_files(node: str, spec: DedicatedHostSpec, *, peers: Sequence[str] = (),
                              cluster_cidr: str = hd.CLUSTER_CIDR) -> list[HostFile]:
    return hardening_files(node=node, admin_user=spec.admin_user, ssh_port=spec.ssh_port,
                           rules=dedicated_inbound_rules(spec, peers), cluster_cidr=cluster_cidr,
                           unattended_upgrades=spec.unattended_upgrades, automatic_reboot=spec.automatic_reboot,
                           automatic_reboot_time=spec.automatic_reboot_time)


def cloud_hardening_files(node: str, spec: CloudServerSpec, *, peers: Sequence[str] = (),
                          cluster_cidr: str = hd.CLUSTER_CIDR) -> list[HostFile]:
    return hardening_files(node=node, admin_user=spec.admin_user, ssh_port=hd.SSH_PORT,
                           rules=cloud_inbound_rules(spec, peers), cluster_cidr=cluster_cidr,
                           unattended_upgrades=spec.unattended_upgrades)


def render_harden_script(files: Sequence[HostFile], packages: Sequence[str] = hd.HOST_PACKAGES) -> str:
    """Step 2 (as the admin user, through sudo): packages, files, validation, reloads."""
    return render_script(
        "harden.sh.j2",
        packages=list(packages),
        files=list(files),
        sshd_dropin_path=hd.SSHD_DROPIN_PATH,
        firewall_unit=hd.FIREWALL_UNIT,
        modules_path=MODULES_PATH,
    )


def files_in_script(script: str) -> dict[str, str]:
    """The files a rendered script writes, by path (for policy checks and ``synth`` output)."""
    import base64

    out: dict[str, str] = {}
    for line in script.splitlines():
        if not line.startswith("write_file "):
            continue
        words = shlex.split(line)
        if len(words) < 4 or words[1].startswith("$") or '"' in words[1]:
            continue
        out[words[1]] = base64.b64decode(words[3]).decode("utf-8")
    return out


# --- cloud-init ------------------------------------------------------------------------------------

CLOUD_INIT_KEYS: frozenset[str] = frozenset({
    "hostname", "preserve_hostname", "users", "disable_root", "ssh_pwauth", "ssh_deletekeys", "ssh_keys",
    "package_update", "packages", "write_files", "runcmd",
})
"""Top-level keys enclii's cloud-init may use (cloud-init 22.4 does not reject unknown keys)."""


def cloud_init_data(*, hostname: str, admin_user: str, ssh_keys: Sequence[str], host_key_private: str,
                    host_key_public: str, files: Sequence[HostFile],
                    packages: Sequence[str] = hd.HOST_PACKAGES) -> dict[str, Any]:
    """cloud-init user data as data: admin user, pinned host key, packages, hardening files.

    The host key is generated by Pulumi, so the host key Pulumi checks is known before the server
    boots; it makes the user data a secret. With ``ssh_keys`` given, cloud-init generates no other
    host keys, and ``ssh_deletekeys`` removes the image's.
    """
    for key in ssh_keys:
        _line_safe(key, "SSH key")
    host_key_public = _line_safe(host_key_public.strip(), "host key")
    data: dict[str, Any] = {
        "hostname": hostname,
        "preserve_hostname": False,
        "users": [{
            "name": admin_user,
            "shell": "/bin/bash",
            "lock_passwd": True,
            "sudo": "ALL=(ALL:ALL) NOPASSWD:ALL",
            "ssh_authorized_keys": list(ssh_keys),
        }],
        "disable_root": True,
        "ssh_pwauth": False,
        "ssh_deletekeys": True,
        "ssh_keys": {"ed25519_private": host_key_private, "ed25519_public": host_key_public},
        "package_update": True,
        "packages": list(packages),
        "write_files": [
            {"path": f.path, "content": f.content, "owner": "root:root", "permissions": f.mode, "defer": True}
            for f in files
        ],
        "runcmd": [
            ["systemctl", "daemon-reload"],
            ["systemctl", "restart", "systemd-modules-load.service"],
            ["sysctl", "--system"],
            ["nft", "-c", "-f", hd.FIREWALL_RULESET_PATH],
            ["systemctl", "enable", "--now", hd.FIREWALL_UNIT],
            ["systemctl", "restart", "ssh"],
        ],
    }
    unknown = set(data) - CLOUD_INIT_KEYS
    if unknown:  # pragma: no cover - guards future edits
        raise RenderError(f"cloud-init keys outside the allow-list: {sorted(unknown)}")
    return data


def render_cloud_init(data: Mapping[str, Any]) -> str:
    """``#cloud-config`` followed by the data as YAML."""
    unknown = sorted(set(data) - CLOUD_INIT_KEYS)
    if unknown:
        raise RenderError(f"cloud-init keys outside the allow-list: {unknown}")
    return "#cloud-config\n" + dump_yaml(dict(data))


# --- k3s -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EtcdS3Settings:
    """Resolved etcd snapshot target (plain values; credentials are filled in inside an apply)."""

    endpoint: str
    bucket: str
    folder: str
    region: str
    bucket_lookup_type: str
    access_key: str
    secret_key: str


@dataclass(frozen=True)
class K3sNodeConfig:
    """What differs between nodes of one cluster."""

    name: str
    role: Literal["server", "agent"]
    node_ip: str
    external_ip: str | None = None
    init: bool = False
    join_url: str | None = None
    tls_sans: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


TERMINATED_POD_GC_THRESHOLD = 1000
"""Terminated pods kept cluster-wide before the oldest are collected (Kubernetes' default is 12500)."""


def kubelet_reservation_args(r: NodeReservationsSpec) -> list[str]:
    """kubelet flags keeping the OS and k3s their share of the node and evicting pods before it runs out."""
    return [
        f"system-reserved=cpu={r.system_reserved_cpu},memory={r.system_reserved_memory}",
        f"kube-reserved=cpu={r.kube_reserved_cpu},memory={r.kube_reserved_memory},"
        f"ephemeral-storage={r.kube_reserved_ephemeral_storage}",
        f"eviction-hard=memory.available<{r.eviction_hard_memory},nodefs.available<{r.eviction_hard_nodefs},"
        f"imagefs.available<{r.eviction_hard_imagefs},nodefs.inodesFree<{r.eviction_hard_inodes}",
        f"eviction-soft=memory.available<{r.eviction_soft_memory}",
        f"eviction-soft-grace-period=memory.available={r.eviction_soft_grace_period}",
        "eviction-max-pod-grace-period=60",
    ]


def k3s_config(spec: K3sClusterSpec, node: K3sNodeConfig, *, token: str, agent_token: str,
               etcd_s3: EtcdS3Settings | None = None, oidc: OidcSpec | None = None) -> dict[str, Any]:
    """k3s ``config.yaml`` of one node as data (keys are the flags without dashes). ``oidc``: the API
    server's OIDC authenticator (servers only; see :func:`enclii_iac.identity.render.oidc_apiserver_args`)."""
    h = spec.hardening
    cfg: dict[str, Any] = {"node-name": node.name, "node-ip": node.node_ip}
    if node.external_ip and node.external_ip != node.node_ip:
        cfg["node-external-ip"] = node.external_ip
    labels = [f"enclii.dev/{k}={v}" for k, v in sorted(node.labels.items())]
    if labels:
        cfg["node-label"] = labels
    kubelet_args = [
        "streaming-connection-idle-timeout=5m",
        f"pod-max-pids={h.pod_max_pids}",
        *kubelet_reservation_args(spec.reservations),
        "make-iptables-util-chains=true",
        "event-qps=0",
        "tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,"
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    ]
    if node.role == "agent":
        if not node.join_url:
            raise RenderError(f"agent {node.name}: a join URL (the first server) is required")
        cfg["server"] = node.join_url
        cfg["token"] = agent_token
        if h.protect_kernel_defaults:
            cfg["protect-kernel-defaults"] = True
        cfg["kubelet-arg"] = kubelet_args
        return cfg
    if node.init:
        cfg["cluster-init"] = True
    else:
        if not node.join_url:
            raise RenderError(f"server {node.name}: a join URL (the first server) is required")
        cfg["server"] = node.join_url
    cfg["token"] = token
    cfg["agent-token"] = agent_token
    cfg["tls-san"] = list(node.tls_sans)
    cfg["write-kubeconfig-mode"] = "0600"
    cfg["disable"] = spec.disabled_components
    cfg["flannel-backend"] = "wireguard-native"
    cfg["cluster-cidr"] = spec.cluster_cidr
    cfg["service-cidr"] = spec.service_cidr
    cfg["secrets-encryption"] = h.secrets_encryption
    if h.protect_kernel_defaults:
        cfg["protect-kernel-defaults"] = True
    # DenyServiceExternalIPs: no Service may claim an external address (tenants' are refused by admission
    # policy too; this covers every namespace)
    plugins = ["NodeRestriction", "DenyServiceExternalIPs"] + (["EventRateLimit"] if h.event_rate_limit else [])
    api_args = [
        f"enable-admission-plugins={','.join(plugins)}",
        f"admission-control-config-file={hd.K3S_PSA_CONFIG_PATH}",
        "service-account-extend-token-expiration=false",
        "anonymous-auth=false",
        "profiling=false",
    ]
    if h.audit_log:
        api_args += [
            f"audit-policy-file={hd.K3S_AUDIT_POLICY_PATH}",
            f"audit-log-path={hd.K3S_AUDIT_LOG_PATH}",
            f"audit-log-maxage={h.audit_log_max_age_days}",
            f"audit-log-maxbackup={h.audit_log_max_backups}",
            f"audit-log-maxsize={h.audit_log_max_size_mb}",
        ]
    if oidc is not None:
        from enclii_iac.identity.render import oidc_apiserver_args

        api_args += oidc_apiserver_args(oidc)
    cfg["kube-apiserver-arg"] = api_args
    # CIS 1.3.1 wants a threshold; 1000 keeps failed Job and cron pods (and their logs) long enough to be read
    cfg["kube-controller-manager-arg"] = [f"terminated-pod-gc-threshold={TERMINATED_POD_GC_THRESHOLD}",
                                          "profiling=false"]
    cfg["kube-scheduler-arg"] = ["profiling=false"]
    cfg["kubelet-arg"] = kubelet_args
    snaps = spec.etcd_snapshots
    if snaps.enabled:
        cfg["etcd-snapshot-schedule-cron"] = snaps.schedule
        cfg["etcd-snapshot-retention"] = snaps.retention
        cfg["etcd-snapshot-compress"] = snaps.compress
        if etcd_s3 is not None:
            cfg["etcd-s3"] = True
            cfg["etcd-s3-endpoint"] = etcd_s3.endpoint
            cfg["etcd-s3-bucket"] = etcd_s3.bucket
            cfg["etcd-s3-folder"] = etcd_s3.folder
            cfg["etcd-s3-region"] = etcd_s3.region
            cfg["etcd-s3-bucket-lookup-type"] = etcd_s3.bucket_lookup_type
            cfg["etcd-s3-access-key"] = etcd_s3.access_key
            cfg["etcd-s3-secret-key"] = etcd_s3.secret_key
    else:
        cfg["etcd-disable-snapshots"] = True
    return cfg


def render_k3s_config(config: Mapping[str, Any]) -> str:
    return HEADER + dump_yaml(dict(config))


def audit_policy() -> dict[str, Any]:
    """API audit policy: metadata of every request, never request or response bodies (no secrets in logs)."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"],
             "resources": [{"group": "", "resources": ["endpoints", "services", "services/status"]}]},
            {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version"]},
            {"level": "None", "userGroups": ["system:nodes"], "verbs": ["get"],
             "resources": [{"group": "", "resources": ["nodes", "nodes/status"]}]},
            {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets", "configmaps"]},
                                                {"group": "authentication.k8s.io", "resources": ["tokenreviews"]}]},
            {"level": "Metadata"},
        ],
    }


def psa_config(hardening: K3sHardeningSpec, extra_exempt: Sequence[str] = ()) -> dict[str, Any]:
    """AdmissionConfiguration: cluster-wide Pod Security level plus EventRateLimit (CIS 1.2.9)."""
    level = hardening.pod_security
    plugins: list[dict[str, Any]] = [{
        "name": "PodSecurity",
        "configuration": {
            "apiVersion": "pod-security.admission.config.k8s.io/v1",
            "kind": "PodSecurityConfiguration",
            "defaults": {"enforce": level, "enforce-version": "latest", "audit": level,
                         "audit-version": "latest", "warn": level, "warn-version": "latest"},
            "exemptions": {"usernames": [], "runtimeClasses": [],
                           "namespaces": sorted({*hardening.pod_security_exempt_namespaces, *extra_exempt})},
        },
    }]
    if hardening.event_rate_limit:
        plugins.append({
            "name": "EventRateLimit",
            "configuration": {
                "apiVersion": "eventratelimit.admission.k8s.io/v1alpha1",
                "kind": "Configuration",
                "limits": [{"type": "Server", "qps": 5000, "burst": 20000}],
            },
        })
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration", "plugins": plugins}


def k3s_installer_url(version: str) -> str:
    return hd.K3S_INSTALLER_URL.format(version=version)


def render_k3s_install_script(*, version: str, role: Literal["server", "agent"], config: Mapping[str, Any],
                              hardening: K3sHardeningSpec | None = None, extra_exempt: Sequence[str] = (),
                              installer_url: str | None = None, oidc_ca_pem: str | None = None) -> str:
    """Step 3 (as the admin user, through sudo): k3s files, the pinned installer, readiness.

    ``oidc_ca_pem``: the OIDC issuer's CA (servers), written where ``--oidc-ca-file`` reads it."""
    files = [HostFile(hd.K3S_CONFIG_PATH, "0600", render_k3s_config(config))]
    dirs: list[dict[str, str]] = [{"path": "/etc/rancher/k3s", "mode": "0755"}]
    if role == "server":
        if hardening is None:
            raise RenderError("a server's install script needs the hardening spec")
        dirs += [{"path": hd.K3S_SERVER_DIR, "mode": "0700"},
                 {"path": hd.K3S_AUDIT_LOG_PATH.rsplit("/", 1)[0], "mode": "0700"}]
        files += [
            HostFile(hd.K3S_AUDIT_POLICY_PATH, "0600", HEADER + dump_yaml(audit_policy())),
            HostFile(hd.K3S_PSA_CONFIG_PATH, "0600", HEADER + dump_yaml(psa_config(hardening, extra_exempt))),
        ]
        if oidc_ca_pem is not None:
            from enclii_iac.identity.render import OIDC_CA_PATH

            files.append(HostFile(OIDC_CA_PATH, "0644", oidc_ca_pem))
    return render_script(
        "k3s-install.sh.j2",
        version=version,
        role=role,
        service="k3s" if role == "server" else "k3s-agent",
        installer_url=installer_url or k3s_installer_url(version),
        dirs=dirs,
        files=files,
        tls_dir=f"{hd.K3S_SERVER_DIR}/tls",
    )


def kubeconfig_read_command(path: str = hd.K3S_KUBECONFIG_PATH) -> str:
    return f"sudo -n cat {quote(path)}"


def rewrite_kubeconfig(text: str, server_url: str, name: str) -> str:
    """k3s's kubeconfig with the server address rewritten and ``default`` renamed to ``name``."""
    data = yaml.safe_load(text) if text else None
    if not isinstance(data, dict) or not data.get("clusters"):
        raise RenderError("the kubeconfig read from the first server is empty or not a kubeconfig")
    for cluster in data["clusters"]:
        cluster["name"] = name
        cluster["cluster"]["server"] = server_url
    for user in data.get("users") or []:
        user["name"] = name
    for ctx in data.get("contexts") or []:
        ctx["name"] = name
        ctx["context"]["cluster"] = name
        ctx["context"]["user"] = name
    data["current-context"] = name
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100000)


def shell_for(user: str) -> str:
    """Command a step runs its script (given on stdin) with: root directly, anyone else through sudo."""
    return "/bin/sh -s" if user == "root" else "sudo -n /bin/sh -s"

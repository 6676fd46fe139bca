"""Host specs: the adopted AX41 dedicated server and Hetzner Cloud servers. Pure data, no Pulumi.

Closed by default: SSH and Kubernetes API allow-lists start empty, no inbound port opens unless it is
declared, and the sensitive Kubernetes ports can never be opened to the whole internet.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from enclii_iac import host_defaults as hd
from enclii_iac.models._base import DnsLabel, ShortLabel, StrictModel
from enclii_iac.models._issues import Loc, raise_if

# --- scalar types -----------------------------------------------------------------------------------


def _ip_address(value: str) -> str:
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address (e.g. 203.0.113.10)") from None
    if str(addr) != value:
        raise ValueError(f"{value!r}: write the address in its canonical form {str(addr)!r}")
    return value


IpAddress = Annotated[str, AfterValidator(_ip_address)]
"""An IPv4 or IPv6 address in canonical form."""


def _cidr(value: str) -> str:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a network in CIDR form with host bits zero (e.g. 198.51.100.7/32 or 2001:db8::/48)"
        ) from None
    if str(net) != value:
        raise ValueError(f"{value!r}: write the network in its canonical form {str(net)!r}")
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]


def network_within(inner: str, outer: str) -> bool:
    """True when network ``inner`` lies inside network ``outer`` (never across IPv4/IPv6)."""
    a = ipaddress.ip_network(inner, strict=False)
    b = ipaddress.ip_network(outer, strict=False)
    if isinstance(a, ipaddress.IPv4Network) and isinstance(b, ipaddress.IPv4Network):
        return a.subnet_of(b)
    if isinstance(a, ipaddress.IPv6Network) and isinstance(b, ipaddress.IPv6Network):
        return a.subnet_of(b)
    return False
"""A network in canonical CIDR form (``198.51.100.7/32``)."""


_NON_PUBLIC_V4 = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
))
"""IPv4 ranges no internet host connects from (RFC 1918, CGNAT, loopback, link-local, multicast, reserved)."""
_PUBLIC_V6 = ipaddress.IPv6Network("2000::/3")
"""Global unicast: every routed IPv6 source on the internet."""
WORLD_V4_PREFIX = 8
WORLD_V6_PREFIX = 32
"""An allow-list may cover at most a /8 of public IPv4 (16.7 M addresses) and a /32 of IPv6 (an ISP's
allocation), summed over all of its networks: more is the internet in slices."""


def public_addresses(cidrs: Iterable[str]) -> tuple[int, int]:
    """``(IPv4, IPv6)`` public addresses the union of ``cidrs`` covers (overlaps and private ranges excluded)."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for c in cidrs:
        net = ipaddress.ip_network(c, strict=False)
        if isinstance(net, ipaddress.IPv4Network):
            v4.append(net)
        else:
            v6.append(net)
    n4 = 0
    for net4 in ipaddress.collapse_addresses(v4):
        if any(net4.subnet_of(p) for p in _NON_PUBLIC_V4):
            continue
        n4 += net4.num_addresses - sum(p.num_addresses for p in _NON_PUBLIC_V4 if p.subnet_of(net4))
    n6 = 0
    for net6 in ipaddress.collapse_addresses(v6):
        if net6.subnet_of(_PUBLIC_V6):
            n6 += net6.num_addresses
        elif _PUBLIC_V6.subnet_of(net6):
            n6 += _PUBLIC_V6.num_addresses
    return n4, n6


def world_like(cidrs: Iterable[str]) -> str | None:
    """Why the union of ``cidrs`` is as good as the whole internet, or None when it is a real allow-list."""
    n4, n6 = public_addresses(cidrs)
    if n4 > 2 ** (32 - WORLD_V4_PREFIX):
        share = 100 * n4 / 2**32
        return f"together they admit {n4:,} public IPv4 addresses ({share:.1f}% of the address space, more than a /8)"
    if n6 > 2 ** (128 - WORLD_V6_PREFIX):
        return "together they admit more public IPv6 space than a /32"
    return None


def _restricted_cidr(value: str) -> str:
    _cidr(value)
    if ipaddress.ip_network(value).prefixlen == 0:
        raise ValueError(
            f"{value!r} is the whole internet: allow-lists name the networks that may connect (e.g. your "
            "office or CI egress address as /32)"
        )
    return value


RestrictedCidr = Annotated[str, AfterValidator(_restricted_cidr)]
"""A CIDR that is not ``0.0.0.0/0`` or ``::/0`` (for SSH and Kubernetes API allow-lists)."""

_SSH_KEY = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|"
    r"sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]{16,}={0,3}"
    r"( [A-Za-z0-9@._+:-]{1,100})?$"
)


def _ssh_public_key(value: str) -> str:
    if "PRIVATE KEY" in value or "\n" in value:
        # never echo it: it may be the private half pasted by mistake
        raise ValueError("this is not an OpenSSH public key line (it looks like a private key or spans lines): "
                         "give the contents of the .pub file")
    if not _SSH_KEY.fullmatch(value):
        raise ValueError(
            f"{value[:40]!r} is not an OpenSSH public key on one line ('<type> <base64> [comment]', e.g. "
            "'ssh-ed25519 AAAAC3... ops@example'; the comment may use letters, digits and @ . _ + : -)"
        )
    return value


SshPublicKey = Annotated[str, AfterValidator(_ssh_public_key)]
"""An OpenSSH public key line: ``ssh-ed25519 AAAA... comment``."""

_HOST_KEY = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]{16,}={0,3}$"
)


def _ssh_host_key(value: str) -> str:
    if not _HOST_KEY.fullmatch(value):
        raise ValueError(
            f"{value[:40]!r} is not an SSH host key ('<type> <base64>', no comment; read it with "
            "`ssh-keyscan -t ed25519 <address>` and drop the address in front)"
        )
    return value


SshHostKey = Annotated[str, AfterValidator(_ssh_host_key)]
"""The server's SSH host public key, ``<type> <base64>``: pinned, so host-key checking stays on."""

_POSIX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def _posix_user(value: str) -> str:
    if not _POSIX_USER.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a POSIX user name (lower-case letter or '_' first, then letters, digits, '_', '-'; "
            "at most 32 characters)"
        )
    return value


PosixUser = Annotated[str, AfterValidator(_posix_user)]


def _admin_user(value: str) -> str:
    _posix_user(value)
    if value == "root":
        raise ValueError("the admin user cannot be root: root login is closed by the hardening step")
    return value


AdminUser = Annotated[str, AfterValidator(_admin_user)]

_PORTS = re.compile(r"^([0-9]{1,5})(?:-([0-9]{1,5}))?$")


def port_range(value: str) -> tuple[int, int]:
    """``"443"`` → (443, 443), ``"30000-32767"`` → (30000, 32767)."""
    m = _PORTS.fullmatch(value)
    if not m:
        raise ValueError(f"{value!r} is not a port or port range (e.g. 443 or 8000-8080)")
    low = int(m.group(1))
    high = int(m.group(2) or low)
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"{value!r}: ports are 1-65535 and a range goes from low to high")
    return low, high


def _ports(value: str) -> str:
    port_range(value)
    return value


PortRange = Annotated[str, AfterValidator(_ports)]

SENSITIVE_PORTS: tuple[tuple[str, int, int, str], ...] = (
    ("tcp", 6443, 6443, "the Kubernetes API"),
    ("tcp", 10250, 10250, "the kubelet API"),
    ("tcp", 10255, 10255, "the kubelet read-only API"),
    ("tcp", 2379, 2380, "etcd"),
    ("tcp", 30000, 32767, "Kubernetes NodePorts"),
    ("udp", 30000, 32767, "Kubernetes NodePorts"),
)
"""(protocol, low, high, what): ports never opened to 0.0.0.0/0 or ::/0."""


def sensitive_overlap(protocol: str, low: int, high: int) -> str | None:
    """What a port range exposes among SENSITIVE_PORTS, or None."""
    for proto, s_low, s_high, what in SENSITIVE_PORTS:
        if proto == protocol and low <= s_high and s_low <= high:
            return f"{what} ({proto} {s_low}-{s_high})" if s_low != s_high else f"{what} ({proto} {s_low})"
    return None


def is_world(cidr: str) -> bool:
    """True for ``0.0.0.0/0`` and ``::/0``."""
    return ipaddress.ip_network(cidr, strict=False).prefixlen == 0


# --- specs -----------------------------------------------------------------------------------------


class PortRule(StrictModel):
    """One declared inbound port: what it is for and which networks may reach it."""

    protocol: Literal["tcp", "udp"] = Field("tcp", description="tcp or udp.")
    port: PortRange = Field(description="A port (443) or an inclusive range (8000-8080).")
    source_cidrs: list[Cidr] = Field(min_length=1, description="Networks allowed to connect; required.")
    description: str = Field("", max_length=100, pattern=r"^[A-Za-z0-9 ._:/()-]*$",
                             description="Why the port is open (shown in firewall rules).")

    @model_validator(mode="after")
    def _never_world_on_sensitive(self) -> PortRule:
        low, high = port_range(self.port)
        what = sensitive_overlap(self.protocol, low, high)
        world = [c for c in self.source_cidrs if is_world(c)]
        if what and world:
            raise ValueError(
                f"sourceCidrs: {world[0]} would open {what} to the whole internet; list the networks that need it"
            )
        slices = world_like(self.source_cidrs)
        if what and slices:
            raise ValueError(f"sourceCidrs: {slices}, which opens {what} to the internet; list the networks that "
                             "need it")
        if low <= hd.SSH_PORT <= high and self.protocol == "tcp":
            raise ValueError("port: SSH is opened through sshAllowCidrs, not openPorts")
        return self


def exposure_issues(ssh_allow: list[str], kube_api_allow: list[str],
                    open_ports: list[PortRule]) -> list[tuple[Loc, str]]:
    """World exposure judged on the union of every range that reaches each sensitive port (SSH, the API,
    kubelet, etcd, NodePorts), so an allow-list split into slices (0.0.0.0/1 + 128.0.0.0/1) is refused too."""
    issues: list[tuple[Loc, str]] = []
    why = world_like(ssh_allow)
    if why:
        issues.append((("sshAllowCidrs",), f"{why}; SSH must stay closed to the internet (list your office or CI "
                                           "egress, e.g. 198.51.100.7/32)"))
    why = world_like(kube_api_allow)
    if why:
        issues.append((("kubeApiAllowCidrs",), f"{why}; the Kubernetes API must stay closed to the internet"))
    for proto, s_low, s_high, what in SENSITIVE_PORTS:
        sources: list[str] = list(kube_api_allow) if proto == "tcp" and s_low <= hd.API_PORT <= s_high else []
        first: int | None = None
        for i, rule in enumerate(open_ports):
            low, high = port_range(rule.port)
            if rule.protocol == proto and low <= s_high and s_low <= high:
                sources += rule.source_cidrs
                first = i if first is None else first
        why = world_like(sources) if first is not None else None
        if why and first is not None:
            issues.append((("openPorts", first, "sourceCidrs"), f"{why} to {what} (counting every rule and "
                                                                 "allow-list that reaches it); list the networks "
                                                                 "that need it"))
    return issues


class DedicatedHostSpec(StrictModel):
    """A dedicated server (Hetzner AX41-NVME) ordered outside any API and adopted over SSH.

    Pulumi logs in once as ``bootstrapUser`` (root after installimage) to create ``adminUser``; every
    later step logs in as ``adminUser`` and uses sudo. The host key is pinned, so a man in the middle
    fails the connection instead of receiving the private key's signature.
    """

    address: IpAddress = Field(description="Public address Pulumi connects to (the AX41's main IPv4).")
    host_key: SshHostKey = Field(description="The server's SSH host key (`ssh-keyscan -t ed25519 <address>`).")
    ssh_port: int = Field(hd.SSH_PORT, ge=1, le=65535, description="sshd port. Default: 22.")
    bootstrap_user: PosixUser = Field(
        hd.BOOTSTRAP_USER,
        description="Account of the first login, which creates the admin user. Default: root (installimage). "
                    "After the first apply root login is closed; set this to the admin user to re-run that step.",
    )
    admin_user: AdminUser = Field(hd.ADMIN_USER, description="Login with passwordless sudo. Default: enclii.")
    admin_ssh_keys: list[SshPublicKey] = Field(
        min_length=1,
        description="Keys allowed to log in as the admin user; include the public half of the key Pulumi uses.",
    )
    ssh_allow_cidrs: list[RestrictedCidr] = Field(
        default_factory=list,
        description="Networks allowed to reach sshd. Default: none; a dedicated host needs at least one "
                    "(Pulumi manages it over SSH).",
    )
    kube_api_allow_cidrs: list[RestrictedCidr] = Field(
        default_factory=list,
        description="Networks allowed to reach the Kubernetes API (6443). Default: none (only cluster peers).",
    )
    open_ports: list[PortRule] = Field(
        default_factory=list,
        description="Other inbound ports. Default: none (the Cloudflare Tunnel connects outbound).",
    )
    unattended_upgrades: bool = Field(True, description="Install security updates daily. Default: on.")
    automatic_reboot: bool = Field(
        False, description="Reboot after updates that need it, at automaticRebootTime. Default: off.")
    automatic_reboot_time: str = Field("03:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
                                       description="Local time of automatic reboots (HH:MM).")
    cpu: int = Field(hd.AX41_CPU, ge=1, le=1024,
                     description="Logical CPUs the kernel reports (quotas are checked against them). Default: 12 "
                                 "(the AX41's 6 cores, 12 threads).")
    memory: str = Field(hd.AX41_MEMORY, pattern=r"^[0-9]{1,5}Gi$",
                        description="Memory the kernel reports. Default: 64Gi (the AX41).")

    @model_validator(mode="after")
    def _exposure(self) -> DedicatedHostSpec:
        raise_if(type(self).__name__, exposure_issues(self.ssh_allow_cidrs, self.kube_api_allow_cidrs,
                                                       self.open_ports))
        return self

    @model_validator(mode="after")
    def _reachable(self) -> DedicatedHostSpec:
        if not self.ssh_allow_cidrs:
            raise ValueError(
                "sshAllowCidrs: a dedicated host needs at least one network allowed to reach sshd, because "
                "Pulumi manages it over SSH and the firewall drops every other source (e.g. [198.51.100.7/32], "
                "the address `pulumi up` runs from)"
            )
        return self


class VolumeSpec(StrictModel):
    """A Hetzner Cloud volume attached to one cloud server."""

    size_gb: int = Field(ge=10, le=10240, description="Size in GB (10-10240).")
    format: Literal["ext4", "xfs"] = Field("ext4", description="Filesystem created on first attach.")
    automount: bool = Field(True, description="Mount under /mnt/HC_Volume_<id> on attach.")


class CloudServerSpec(StrictModel):
    """A Hetzner Cloud server, created by Pulumi and configured by cloud-init (data, not text)."""

    server_type: str = Field(hd.CLOUD_SERVER_TYPE, pattern=r"^[a-z]+[0-9]+[a-z]*$",
                             description="Hetzner server type. Default: cpx32 (4 vCPU, 8 GB).")
    image: str = Field(hd.CLOUD_IMAGE, pattern=r"^[a-z0-9][a-z0-9.-]{0,62}$",
                       description="OS image. Default: debian-12 (same OS as the AX41).")
    location: Literal["fsn1", "nbg1", "hel1", "ash", "hil", "sin"] = Field(
        hd.CLOUD_LOCATION, description="Location. Default: fsn1 (next to the AX41).")
    admin_user: AdminUser = Field(hd.ADMIN_USER, description="Login with passwordless sudo. Default: enclii.")
    ssh_keys: list[SshPublicKey] = Field(
        min_length=1,
        description="Keys of the admin user (also registered with Hetzner, so no root password is mailed); "
                    "include the public half of the key Pulumi uses.",
    )
    ssh_allow_cidrs: list[RestrictedCidr] = Field(
        default_factory=list, description="Networks allowed to reach sshd. Default: none.")
    kube_api_allow_cidrs: list[RestrictedCidr] = Field(
        default_factory=list, description="Networks allowed to reach 6443. Default: none (only cluster peers).")
    open_ports: list[PortRule] = Field(default_factory=list, description="Other inbound ports. Default: none.")
    private_ip: IpAddress | None = Field(
        None, description="Address in the private network's subnet. Default: not attached to the network.")
    placement_group: ShortLabel | None = Field(
        None, description="Spread placement group (servers in one group run on different hosts).")
    volumes: dict[DnsLabel, VolumeSpec] = Field(default_factory=dict, description="Volumes by stable key.")
    ipv6: bool = Field(True, description="Assign a public IPv6 /64 too.")
    backups: bool = Field(False, description="Hetzner's daily server backups (+20% of the server price).")
    labels: dict[ShortLabel, ShortLabel] = Field(default_factory=dict, description="Extra hcloud labels.")
    unattended_upgrades: bool = Field(True, description="Install security updates daily. Default: on.")

    @model_validator(mode="after")
    def _exposure(self) -> CloudServerSpec:
        raise_if(type(self).__name__, exposure_issues(self.ssh_allow_cidrs, self.kube_api_allow_cidrs,
                                                       self.open_ports))
        return self

    @model_validator(mode="after")
    def _orderable(self) -> CloudServerSpec:
        if self.server_type in hd.DEPRECATED_SERVER_TYPES:
            raise ValueError(
                f"serverType: {self.server_type!r} was deprecated by Hetzner on 2025-10-16 and can no longer be "
                f"ordered; use its successor (e.g. cpx32 for cpx31)"
            )
        return self


class PrivateNetworkSpec(StrictModel):
    """The private network cloud servers join (one network, one cloud subnet)."""

    ip_range: Cidr = Field(hd.NETWORK_IP_RANGE, description="Network range. Default: 10.0.0.0/16.")
    subnet: Cidr = Field(hd.NETWORK_SUBNET, description="Subnet cloud servers attach to. Default: 10.0.1.0/24.")
    network_zone: Literal["eu-central", "us-east", "us-west", "ap-southeast"] = Field(hd.NETWORK_ZONE)

    @model_validator(mode="after")
    def _inside(self) -> PrivateNetworkSpec:
        v4 = ipaddress.ip_network(self.ip_range).version == 4
        if not v4 or not network_within(self.subnet, self.ip_range):
            raise ValueError(f"subnet: {self.subnet} must be an IPv4 subnet of ipRange {self.ip_range}")
        return self


class HostsSpec(StrictModel):
    """Every machine of the platform, keyed by stable keys (the keys become node and resource names)."""

    dedicated: dict[ShortLabel, DedicatedHostSpec] = Field(
        default_factory=dict, description="Adopted dedicated servers (the AX41), by key.")
    cloud: dict[ShortLabel, CloudServerSpec] = Field(
        default_factory=dict, description="Hetzner Cloud servers, by key.")
    network: PrivateNetworkSpec | None = Field(
        None, description="Private network for cloud servers. Default: none.")

    @model_validator(mode="after")
    def _consistent(self) -> HostsSpec:
        both = sorted(set(self.dedicated) & set(self.cloud))
        if both:
            raise ValueError(f"cloud.{both[0]}: the key {both[0]!r} is also a dedicated host; node names are unique")
        seen: dict[str, str] = {}
        for key, ded in self.dedicated.items():
            if ded.address in seen:
                raise ValueError(f"dedicated.{key}.address: {ded.address} is also the address of {seen[ded.address]}")
            seen[ded.address] = f"dedicated.{key}"
        for key, srv in self.cloud.items():
            if srv.private_ip is None:
                continue
            where = f"cloud.{key}.privateIp"
            if self.network is None:
                raise ValueError(f"{where}: set hosts.network to attach servers to a private network")
            subnet = ipaddress.ip_network(self.network.subnet)
            ip = ipaddress.ip_address(srv.private_ip)
            if ip not in subnet or ip in (subnet.network_address, subnet.network_address + 1,
                                          subnet.broadcast_address):
                raise ValueError(
                    f"{where}: {srv.private_ip} must be inside subnet {self.network.subnet} and not its network, "
                    "gateway (first) or broadcast address"
                )
            if srv.private_ip in seen:
                raise ValueError(f"{where}: {srv.private_ip} is also used by {seen[srv.private_ip]}")
            seen[srv.private_ip] = f"cloud.{key}"
        return self

    def node_names(self) -> list[str]:
        """Every host key, dedicated first, each group sorted."""
        return sorted(self.dedicated) + sorted(self.cloud)

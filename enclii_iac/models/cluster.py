"""k3s cluster spec: which hosts are servers and agents, hardening, etcd snapshots, upgrades. Pure data.

Defaults follow the k3s CIS hardening guide: secrets encryption, protect-kernel-defaults, an audit
log, Pod Security "restricted" admission, servicelb off, WireGuard between nodes, a pinned version.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from enclii_iac import defaults
from enclii_iac import host_defaults as hd
from enclii_iac.errors import SpecIssue
from enclii_iac.models._base import (
    CpuQuantity,
    CronSchedule,
    DnsLabel,
    Duration,
    Hostname,
    Image,
    MemoryQuantity,
    ShortLabel,
    StrictModel,
    image_digest,
    memory_bytes,
)
from enclii_iac.models.edge import CLOUDFLARED_IMAGE
from enclii_iac.models.host import Cidr, HostsSpec, IpAddress

_K3S_VERSION = re.compile(r"^v1\.[0-9]{2}\.[0-9]{1,3}\+k3s[0-9]{1,2}$")


def _k3s_version(value: str) -> str:
    if not _K3S_VERSION.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an exact k3s release (e.g. {defaults.K3S_VERSION}); channels such as 'stable' "
            "are not accepted, so upgrades are deliberate"
        )
    return value


K3sVersion = Annotated[str, AfterValidator(_k3s_version)]


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_UPGRADE_DAYS: tuple[Weekday, ...] = ("tuesday", "wednesday", "thursday")

Component = Literal["traefik", "servicelb", "local-storage", "metrics-server", "coredns"]


class K3sHardeningSpec(StrictModel):
    """CIS hardening of the k3s servers and kubelets. Every default is the hardened choice."""

    secrets_encryption: bool = Field(True, description="Encrypt Secrets at rest in etcd. Default: on.")
    protect_kernel_defaults: bool = Field(
        True, description="kubelet refuses to start if kernel parameters differ from what it needs. Default: on.")
    audit_log: bool = Field(True, description="API audit log (Metadata level) on every server. Default: on.")
    audit_log_max_age_days: int = Field(hd.AUDIT_LOG_MAX_AGE_DAYS, ge=1, le=3650)
    audit_log_max_backups: int = Field(hd.AUDIT_LOG_MAX_BACKUPS, ge=1, le=1000)
    audit_log_max_size_mb: int = Field(hd.AUDIT_LOG_MAX_SIZE_MB, ge=1, le=10000)
    pod_security: Literal["restricted", "baseline", "privileged"] = Field(
        "restricted", description="Cluster-wide Pod Security level (enforce, audit, warn). Default: restricted.")
    pod_security_exempt_namespaces: list[DnsLabel] = Field(
        default_factory=lambda: ["kube-system"],
        description="Namespaces exempt from the cluster-wide level (label them instead where possible).",
    )
    event_rate_limit: bool = Field(True, description="EventRateLimit admission plugin (CIS 1.2.9). Default: on.")
    pod_max_pids: int = Field(hd.POD_MAX_PIDS, ge=256, le=4194304, description="PID limit per pod.")


_PERCENT = r"^[0-9]{1,2}%$"


class NodeReservationsSpec(StrictModel):
    """What every node keeps back from pods (kubelet ``system-reserved``, ``kube-reserved``, eviction), sized
    for the AX41, where one machine carries the OS, the whole control plane (k3s runs the API server, etcd,
    the controllers, kubelet and containerd in one process) and every tenant.

    Allocatable = capacity - systemReserved - kubeReserved - evictionHardMemory; tenant quotas are checked
    against it after ``platformPods`` (the requests of Traefik, CoreDNS, metrics-server, the local-path
    provisioner and cloudflared)."""

    system_reserved_cpu: CpuQuantity = Field("500m", description="OS daemons (sshd, journald, apt). Default: 500m.")
    system_reserved_memory: MemoryQuantity = Field("1Gi", description="OS daemons. Default: 1Gi.")
    kube_reserved_cpu: CpuQuantity = Field("1", description="k3s (API server, etcd, kubelet, containerd). Default: 1.")
    kube_reserved_memory: MemoryQuantity = Field("2Gi", description="k3s and etcd. Default: 2Gi.")
    kube_reserved_ephemeral_storage: MemoryQuantity = Field("10Gi", description="Images and logs. Default: 10Gi.")
    eviction_hard_memory: MemoryQuantity = Field(
        "500Mi", description="Pods are evicted at once below this much free memory. Default: 500Mi.")
    eviction_soft_memory: MemoryQuantity = Field(
        "1Gi", description="Pods are evicted after evictionSoftGracePeriod below this much. Default: 1Gi.")
    eviction_soft_grace_period: Duration = Field("90s", description="Default: 90s.")
    eviction_hard_nodefs: str = Field("10%", pattern=_PERCENT, description="Free root filesystem. Default: 10%.")
    eviction_hard_imagefs: str = Field("15%", pattern=_PERCENT, description="Free image filesystem. Default: 15%.")
    eviction_hard_inodes: str = Field("5%", pattern=_PERCENT, description="Free inodes. Default: 5%.")
    platform_pods_cpu: CpuQuantity = Field("500m", description="Requests of the platform's own pods. Default: 500m.")
    platform_pods_memory: MemoryQuantity = Field(
        "1Gi", description="Requests of the platform's own pods. Default: 1Gi.")

    @model_validator(mode="after")
    def _order(self) -> NodeReservationsSpec:
        if memory_bytes(self.eviction_soft_memory) <= memory_bytes(self.eviction_hard_memory):
            raise ValueError(
                f"evictionSoftMemory must be above evictionHardMemory (got {self.eviction_soft_memory} <= "
                f"{self.eviction_hard_memory}): the soft threshold gives pods a graceful eviction first"
            )
        return self


PRIVATE_RANGES_V4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
PRIVATE_RANGES_V6 = ("fc00::/7",)
"""Where pod and service ranges may lie: the host firewall accepts pod traffic from the pod range, so a
public range would accept those internet sources on every port."""


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def subnet_within(net: IPNetwork, outer: IPNetwork) -> bool:
    """``net`` lies inside ``outer`` (False across IP versions)."""
    if isinstance(net, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return net.subnet_of(outer)
    if isinstance(net, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return net.subnet_of(outer)
    return False


def _private_range(value: str) -> str:
    net = ipaddress.ip_network(value, strict=False)
    allowed = PRIVATE_RANGES_V4 if net.version == 4 else PRIVATE_RANGES_V6
    if not any(subnet_within(net, ipaddress.ip_network(r)) for r in allowed):
        raise ValueError(
            f"{value!r} is not a private range: pod and service ranges must lie inside {', '.join(allowed)} "
            "(the host firewall trusts pod sources; a public range would open every port to it)"
        )
    return value


PrivateCidr = Annotated[Cidr, AfterValidator(_private_range)]


class EtcdSnapshotSpec(StrictModel):
    """Scheduled etcd snapshots, kept on the servers and copied to an S3-compatible bucket (R2)."""

    enabled: bool = Field(True, description="Take scheduled snapshots. Default: on.")
    schedule: CronSchedule = Field(hd.ETCD_SNAPSHOT_SCHEDULE, description="Cron schedule. Default: every 6 hours.")
    retention: int = Field(hd.ETCD_SNAPSHOT_RETENTION, ge=1, le=1000, description="Snapshots kept. Default: 28.")
    compress: bool = Field(True, description="zip snapshots before upload. Default: on.")
    bucket: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$",
        description="Bucket snapshots are copied to. Default: none (local only) unless credentials are "
                    "passed to K3sCluster, whose bucket is then used; when both are set they must agree.",
    )
    folder: str = Field(hd.ETCD_S3_FOLDER, pattern=r"^[a-z0-9][a-z0-9/_-]{0,62}$",
                        description="Key prefix inside the bucket. Default: etcd.")
    region: str = Field("auto", pattern=r"^[a-z0-9-]{1,30}$", description="S3 region. Default: auto (R2).")
    bucket_lookup_type: Literal["path", "dns", "auto"] = Field(
        "path", description="S3 addressing. Default: path (R2 answers 400 to DNS-style bucket lookups).")


class UpgradePlanSpec(StrictModel):
    """system-upgrade-controller and a Plan that moves every node to the pinned version (opt-in)."""

    enabled: bool = Field(False, description="Install the controller and the Plans. Default: off (opt-in).")
    controller_version: str = Field(hd.SYSTEM_UPGRADE_CONTROLLER_VERSION, pattern=r"^v[0-9]+\.[0-9]+\.[0-9]+$",
                                    description="Pinned system-upgrade-controller release.")
    concurrency: int = Field(1, ge=1, le=10, description="Nodes upgraded at a time. Default: 1.")
    window_days: list[Weekday] = Field(default_factory=lambda: list(_UPGRADE_DAYS),
                                       description="Days upgrades may start on. Default: Tuesday to Thursday.")
    window_start: str = Field("03:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM UTC.")
    window_end: str = Field("05:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM UTC.")


_EMAIL = r"^[A-Za-z0-9._%+-]{1,64}@([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
_EMAIL_DOMAIN = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
_SESSION = r"^[0-9]{1,4}(m|h)$"


class ApiAccessSpec(StrictModel):
    """How ``pulumi up``, operators and CI reach the Kubernetes API: an allow-list, or a tunnel behind Access.

    Port 6443 is closed to the internet unless you open it, so every cluster says which way in it has; a
    spec with none is refused before anything is declared.

    - ``allowlist``: 6443 is open to the servers' ``kubeApiAllowCidrs`` only, and ``apiEndpoint`` gets a
      DNS-only A record per server (Cloudflare does not proxy 6443). The kubeconfig points at
      ``https://<apiEndpoint>:6443``. Works from the first ``pulumi up``.
    - ``tunnel``: no inbound port. A second Cloudflare Tunnel (``<tunnel.name>-api``), with a connector on each
      server that does not depend on the cluster's own workloads, serves ``<hostname>.<zone>`` behind
      Cloudflare Access. Operators and CI run ``cloudflared access tcp --hostname <hostname>.<zone> --url
      127.0.0.1:<localPort>``; the kubeconfig points at ``https://127.0.0.1:<localPort>``. The first
      ``pulumi up`` of a new cluster has no tunnel yet: bootstrap with ``allowlist`` and switch (see
      docs/api-access.md).
    """

    mode: Literal["allowlist", "tunnel"] = Field(
        "allowlist", description="allowlist (6443 open to kubeApiAllowCidrs) or tunnel (Cloudflare Access). "
                                 "Default: allowlist.")
    dns_record: bool | None = Field(
        None, description="allowlist: declare the DNS-only A records of apiEndpoint in the zone. Default: when the "
                          "spec has an edge and apiEndpoint is in its zone; set false when you manage that name.")
    hostname: str = Field(
        "kube", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$",
        description="tunnel: name of the API in the zone (kube → kube.<zone>), behind Cloudflare Access.")
    local_port: int = Field(
        hd.API_PORT, ge=1024, le=65535,
        description="tunnel: port `cloudflared access tcp` listens on locally; the kubeconfig points at "
                    "https://127.0.0.1:<localPort>. Default: 6443.")
    allow_emails: list[Annotated[str, Field(pattern=_EMAIL)]] = Field(
        default_factory=list, description="tunnel: people allowed through Access (their identity provider login).")
    allow_email_domains: list[Annotated[str, Field(pattern=_EMAIL_DOMAIN)]] = Field(
        default_factory=list, description="tunnel: email domains allowed through Access (e.g. example.com).")
    service_tokens: list[ShortLabel] = Field(
        default_factory=list, description="tunnel: Access service tokens to create, by name (e.g. ci), for "
                                          "non-interactive clients; their id and secret are secret stack outputs.")
    session_duration: str = Field("12h", pattern=_SESSION, description="tunnel: Access session length (e.g. 30m, "
                                                                       "12h). Default: 12h.")
    connector_image: Image = Field(
        CLOUDFLARED_IMAGE, description="tunnel: cloudflared image of the connector on the servers, pinned by digest. "
                                       "Default: the tunnel connector's image.")

    @model_validator(mode="after")
    def _mode_fields(self) -> ApiAccessSpec:
        if image_digest(self.connector_image) is None:
            raise ValueError(f"connectorImage: must be pinned by digest (got {self.connector_image!r}; add "
                             "@sha256:<digest>)")
        tunnel_only = {"allow_emails": self.allow_emails, "allow_email_domains": self.allow_email_domains,
                       "service_tokens": self.service_tokens}
        if self.mode == "allowlist":
            given = [k for k, v in tunnel_only.items() if v]
            if given:
                from pydantic.alias_generators import to_camel

                raise ValueError(f"{to_camel(given[0])}: only used with mode: tunnel (this cluster uses allowlist)")
        else:
            if self.dns_record is not None:
                raise ValueError("dnsRecord: only used with mode: allowlist (the tunnel declares its own record)")
            if not any(tunnel_only.values()):
                raise ValueError(
                    "mode: tunnel lets no one in: list allowEmails, allowEmailDomains or serviceTokens (CI) that "
                    "Cloudflare Access admits")
        for name, values in tunnel_only.items():
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                from pydantic.alias_generators import to_camel

                raise ValueError(f"{to_camel(name)}: {dupes[0]!r} is listed twice")
        return self


class K3sClusterSpec(StrictModel):
    """The k3s cluster: one server (the AX41) or three servers, plus agents, by host key."""

    version: K3sVersion = Field(defaults.K3S_VERSION, description="Exact k3s release on every node.")
    servers: list[ShortLabel] = Field(
        min_length=1, description="Host keys of the servers: one, or three for HA (the first initialises).")
    agents: list[ShortLabel] = Field(default_factory=list, description="Host keys of the agents (workers).")
    api_endpoint: Hostname | None = Field(
        None, description="DNS name of the API put in the TLS SANs and the kubeconfig. Default: the first "
                          "server's address.")
    tls_sans: list[Hostname | IpAddress] = Field(default_factory=list, description="Extra TLS SANs.")
    cluster_cidr: PrivateCidr = Field(hd.CLUSTER_CIDR, description="Pod range (private). Default: 10.42.0.0/16.")
    service_cidr: PrivateCidr = Field(hd.SERVICE_CIDR, description="Service range (private). Default: 10.43.0.0/16.")
    reservations: NodeReservationsSpec = Field(
        default_factory=NodeReservationsSpec,
        description="kubelet system-reserved, kube-reserved and eviction thresholds on every node (AX41 sizing).")
    disable: list[Component] = Field(
        default_factory=list, description="Packaged components to leave out; servicelb is always left out.")
    hardening: K3sHardeningSpec = Field(default_factory=K3sHardeningSpec)
    etcd_snapshots: EtcdSnapshotSpec = Field(default_factory=EtcdSnapshotSpec)
    upgrade: UpgradePlanSpec = Field(default_factory=UpgradePlanSpec)
    node_labels: dict[ShortLabel, ShortLabel] = Field(
        default_factory=dict, description="Extra labels on every node (enclii.dev/<key>=<value>).")
    api_access: ApiAccessSpec = Field(
        default_factory=ApiAccessSpec,
        description="How pulumi up, operators and CI reach the Kubernetes API (allowlist or tunnel).")

    @model_validator(mode="after")
    def _shape(self) -> K3sClusterSpec:
        if len(self.servers) not in (1, 3, 5):
            raise ValueError(
                f"servers: use 1 server or an odd number for HA (3 or 5), got {len(self.servers)}: etcd needs a "
                "majority to stay writable"
            )
        seen: set[str] = set()
        for field, keys in (("servers", self.servers), ("agents", self.agents)):
            for i, key in enumerate(keys):
                if key in seen:
                    raise ValueError(f"{field}[{i}]: host {key!r} is listed twice (as server or agent)")
                seen.add(key)
        pods = ipaddress.ip_network(self.cluster_cidr)
        svcs = ipaddress.ip_network(self.service_cidr)
        if pods.overlaps(svcs):
            raise ValueError(f"serviceCidr: {self.service_cidr} overlaps clusterCidr {self.cluster_cidr}")
        if self.upgrade.window_start >= self.upgrade.window_end:
            raise ValueError("upgrade.windowEnd: must be after windowStart (same day, UTC)")
        return self

    @property
    def nodes(self) -> list[str]:
        """Servers then agents, in declared order."""
        return [*self.servers, *self.agents]

    @property
    def disabled_components(self) -> list[str]:
        """Components k3s leaves out: servicelb always, then the declared ones, sorted."""
        return sorted({"servicelb", *self.disable})


def api_server_url(cluster: K3sClusterSpec, first_server_address: str | None = None) -> str | None:
    """The URL the kubeconfig points at: ``https://127.0.0.1:<localPort>`` through the tunnel, else
    ``https://<apiEndpoint>:6443``, else the first server's address (None when it is not known yet)."""
    if cluster.api_access.mode == "tunnel":
        return f"https://127.0.0.1:{cluster.api_access.local_port}"
    if cluster.api_endpoint:
        return f"https://{cluster.api_endpoint}:{hd.API_PORT}"
    if first_server_address is None:
        return None
    host = f"[{first_server_address}]" if ":" in first_server_address else first_server_address
    return f"https://{host}:{hd.API_PORT}"


def _in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def declares_api_record(cluster: K3sClusterSpec, zone: str | None) -> bool:
    """True when the allow-list mode declares DNS-only A records for ``apiEndpoint`` (in ``zone``)."""
    access = cluster.api_access
    if access.mode != "allowlist" or cluster.api_endpoint is None or zone is None or access.dns_record is False:
        return False
    return _in_zone(cluster.api_endpoint, zone)


def api_access_issues(cluster: K3sClusterSpec, hosts: HostsSpec | None, zone: str | None,
                      prefix: str = "cluster") -> list[SpecIssue]:
    """Why nothing could reach the cluster's API, each with the fix (``zone``: the edge's zone, None without
    an edge). Checked by PlatformSpec before anything is declared."""
    access = cluster.api_access
    where = f"{prefix}.apiAccess"
    issues: list[SpecIssue] = []
    if access.mode == "tunnel":
        if zone is None:
            issues.append(SpecIssue("", f"{where}.mode",
                                    "tunnel needs the Cloudflare edge (spec.edge: account and zone) for the tunnel and "
                                    "Access; declare the edge or use mode: allowlist"))
        return issues
    closed: list[str] = []
    for key in cluster.servers:
        allow: list[str] | None = None
        kind = ""
        if hosts is not None and key in hosts.dedicated:
            allow, kind = hosts.dedicated[key].kube_api_allow_cidrs, "dedicated"
        elif hosts is not None and key in hosts.cloud:
            allow, kind = hosts.cloud[key].kube_api_allow_cidrs, "cloud"
        if allow is not None and not allow:
            closed.append(f"hosts.{kind}.{key}.kubeApiAllowCidrs")
    if closed:
        issues.append(SpecIssue(
            "", f"{where}.mode",
            f"no way in to the Kubernetes API: with mode allowlist the firewall drops 6443 except from "
            f"kubeApiAllowCidrs, and {', '.join(closed)} {'is' if len(closed) == 1 else 'are'} empty; add the "
            "networks `pulumi up`, operators and CI connect from (e.g. kubeApiAllowCidrs: [198.51.100.7/32]), or "
            "use apiAccess: {mode: tunnel, allowEmails: [...]} (Cloudflare Access, no open port)"))
    endpoint = cluster.api_endpoint
    if endpoint is not None:
        if access.dns_record is True and (zone is None or not _in_zone(endpoint, zone)):
            why = "there is no edge (spec.edge) to declare it in" if zone is None else f"it is not in the zone {zone}"
            issues.append(SpecIssue("", f"{where}.dnsRecord",
                                    f"cannot declare a record for apiEndpoint {endpoint!r}: {why}; set dnsRecord: "
                                    "false and create the name yourself, or pick a name in the zone"))
        elif access.dns_record is None and not declares_api_record(cluster, zone):
            why = "there is no edge (spec.edge)" if zone is None else f"it is outside the zone {zone}"
            issues.append(SpecIssue("", f"{prefix}.apiEndpoint",
                                    f"the kubeconfig points at {endpoint!r} but no DNS record is declared for it "
                                    f"({why}); set apiAccess.dnsRecord: false if you manage that name elsewhere, "
                                    "or drop apiEndpoint to use the first server's address"))
    return issues


def cluster_host_issues(cluster: K3sClusterSpec, hosts: HostsSpec | None, prefix: str = "cluster") -> list[SpecIssue]:
    """Cross-checks of a cluster against the hosts it runs on (for PlatformSpec and K3sCluster).

    Every node key names a host; a multi-node cluster of cloud servers needs their private addresses
    (the firewall admits peers by address); dedicated and cloud hosts are not mixed in one cluster
    (that needs a Robot vSwitch, which enclii_iac does not manage yet).
    """
    issues: list[SpecIssue] = []
    known = set(hosts.dedicated) | set(hosts.cloud) if hosts is not None else set()
    for field, keys in (("servers", cluster.servers), ("agents", cluster.agents)):
        for i, key in enumerate(keys):
            if key not in known:
                issues.append(SpecIssue("", f"{prefix}.{field}[{i}]",
                                        f"no host {key!r} in hosts.dedicated or hosts.cloud"))
    if issues or hosts is None:
        return issues
    kinds = {"dedicated" if k in hosts.dedicated else "cloud" for k in cluster.nodes}
    if len(kinds) > 1:
        issues.append(SpecIssue("", f"{prefix}.agents",
                                "a cluster cannot mix dedicated and cloud hosts yet (their private traffic needs a "
                                "Robot vSwitch); use separate clusters"))
    if len(cluster.nodes) > 1:
        for key in cluster.nodes:
            srv = hosts.cloud.get(key)
            if srv is not None and srv.private_ip is None:
                issues.append(SpecIssue("", f"hosts.cloud.{key}.privateIp",
                                        "set a private address: nodes of a multi-node cluster talk over the "
                                        "private network"))
    return issues

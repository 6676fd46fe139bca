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
from enclii_iac.models._base import CronSchedule, DnsLabel, Hostname, ShortLabel, StrictModel
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
    cluster_cidr: Cidr = Field(hd.CLUSTER_CIDR, description="Pod range. Default: 10.42.0.0/16.")
    service_cidr: Cidr = Field(hd.SERVICE_CIDR, description="Service range. Default: 10.43.0.0/16.")
    disable: list[Component] = Field(
        default_factory=list, description="Packaged components to leave out; servicelb is always left out.")
    hardening: K3sHardeningSpec = Field(default_factory=K3sHardeningSpec)
    etcd_snapshots: EtcdSnapshotSpec = Field(default_factory=EtcdSnapshotSpec)
    upgrade: UpgradePlanSpec = Field(default_factory=UpgradePlanSpec)
    node_labels: dict[ShortLabel, ShortLabel] = Field(
        default_factory=dict, description="Extra labels on every node (enclii.dev/<key>=<value>).")

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

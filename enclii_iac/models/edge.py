"""The Cloudflare edge spec: tunnel, DNS and zone settings, custom domains (Cloudflare for SaaS), R2.

Pure pydantic: no Pulumi import. ``EdgeSpec`` is what ``PlatformSpec.edge`` holds::

    edge:
      accountId: 0123456789abcdef0123456789abcdef
      zoneId: fedcba9876543210fedcba9876543210
      hosts:
        api: {subdomain: api, service: enclii-api, namespace: enclii}

Names inside the zone are given relative to it (``api`` → ``api.<zone>``, ``@`` → the apex), so one
spec works for any zone and never points outside it by accident.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from enclii_iac.models._base import (
    CpuQuantity,
    DnsLabel,
    Duration,
    Image,
    MemoryQuantity,
    ShortLabel,
    StrictModel,
    UrlPath,
    cpu_millis,
    image_digest,
    memory_bytes,
)
from enclii_iac.models._issues import Loc, raise_if
from enclii_iac.models.edge_tls import CertificatePacks

# --- pinned edge defaults (each with its reason) ------------------------------------------------------

CLOUDFLARED_IMAGE: Final = (
    "docker.io/cloudflare/cloudflared:2026.3.0@sha256:6b599ca3e974349ead3286d178da61d291961182ec3fe9c505e1dd02c8ac31b0"
)
"""cloudflared connector image: a release tag plus its digest (the digest is what is pulled)."""

CLOUDFLARED_UID: Final = 65532
"""UID of the distroless ``nonroot`` user the cloudflared image runs as (above 10000: CKV_K8S_40)."""

CLOUDFLARED_METRICS_PORT: Final = 2000
"""Port of cloudflared's metrics server, which also serves the ``/ready`` readiness endpoint."""

TUNNEL_EDGE_PORT: Final = 7844
"""Port cloudflared dials on Cloudflare's edge (QUIC over UDP, or HTTP/2 over TCP)."""

TRAEFIK_SERVICE: Final = "traefik"
"""Service name of the Traefik that k3s ships (tenant routes are served by it)."""
TRAEFIK_PORT: Final = 80
"""Service port of Traefik's ``web`` entrypoint."""
TRAEFIK_TARGET_PORT: Final = 8000
"""Container port behind it (k3s's Traefik chart: ``ports.web.port``); NetworkPolicies match pod ports."""
TRAEFIK_POD_LABELS: Final = {"app.kubernetes.io/name": "traefik"}
"""Labels of the Traefik pods (k3s chart), used to narrow cloudflared's egress."""

INCLUDED_CUSTOM_HOSTNAMES: Final = 100
"""Custom hostnames included in Cloudflare for SaaS at no charge; each one above costs extra."""

R2_TOKEN_PERMISSION_GROUPS: Final = {
    "read": ("Workers R2 Storage Bucket Item Read",),
    "write": ("Workers R2 Storage Bucket Item Read", "Workers R2 Storage Bucket Item Write"),
}
"""Cloudflare permission groups of an R2 token scoped to one bucket, by access level."""

# --- scalar types -------------------------------------------------------------------------------------

_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_RELATIVE = re.compile(rf"^(@|(\*\.)?{_LABEL}(\.{_LABEL})*)$")


def _relative_name(value: str) -> str:
    if not _RELATIVE.fullmatch(value) or len(value) > 190:
        raise ValueError(
            f"{value!r} is not a name inside the zone: give it relative to the zone (api → api.<zone>, "
            "app.eu → app.eu.<zone>, @ → the zone apex), lower-case"
        )
    if value.startswith("*."):
        raise ValueError(f"{value!r}: wildcards are not allowed here (the preview wildcard is previewWildcard)")
    return value


RelativeName = Annotated[str, AfterValidator(_relative_name)]
"""A DNS name relative to the zone: ``api``, ``app.eu`` or ``@`` (the apex)."""

_ACCOUNT_ID = r"^[0-9a-f]{32}$"

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def _bucket_name(value: str) -> str:
    if not _BUCKET.fullmatch(value) or "--" in value:
        raise ValueError(
            f"{value!r} is not an R2 bucket name: 3-63 lower-case letters, digits and single '-', "
            "starting and ending with a letter or digit"
        )
    return value


BucketName = Annotated[str, AfterValidator(_bucket_name)]

_PREFIX = re.compile(r"^([A-Za-z0-9!_.*'()-]+/)*$")


def _key_prefix(value: str) -> str:
    if not _PREFIX.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an object key prefix: path segments ending in '/' (e.g. etcd/ or db/daily/), "
            "or empty for the whole bucket"
        )
    return value


KeyPrefix = Annotated[str, AfterValidator(_key_prefix)]
"""An object key prefix: ``""`` (whole bucket) or segments each ending in ``/`` (``etcd/``)."""

R2Location = Literal["apac", "eeur", "enam", "weur", "wnam", "oc"]
R2Jurisdiction = Literal["default", "eu", "fedramp"]
HttpMethod = Literal["GET", "PUT", "POST", "DELETE", "HEAD"]


def _read_methods() -> list[HttpMethod]:
    return ["GET", "HEAD"]


def _unique(values: list[str], what: str) -> list[str]:
    dupes = sorted({v for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"{what} listed twice: {', '.join(dupes)}")
    return values


# --- tunnel -------------------------------------------------------------------------------------------


class TunnelSpec(StrictModel):
    """The Cloudflare Tunnel (remotely managed) and its cloudflared connector in the cluster."""

    name: DnsLabel = Field("enclii", description="Tunnel name in the Cloudflare account. Default: enclii.")
    replicas: int = Field(2, ge=1, le=10, description="Connector pods. Default: 2 (one survives a drain).")
    image: Image = Field(CLOUDFLARED_IMAGE, description="cloudflared image, pinned by digest.")
    protocol: Literal["auto", "quic", "http2"] = Field(
        "auto", description="Transport to Cloudflare's edge. Default: auto (QUIC, falling back to HTTP/2)."
    )
    log_level: Literal["debug", "info", "warn", "error"] = "info"
    secret_bytes: int = Field(32, ge=32, le=128, description="Random tunnel secret length. Default: 32 bytes.")
    metrics_port: int = Field(
        CLOUDFLARED_METRICS_PORT, ge=1024, le=65535, description="Metrics and /ready port. Default: 2000."
    )
    metrics_namespaces: list[DnsLabel] = Field(
        default_factory=list, description="Namespaces allowed to scrape metrics (e.g. monitoring). Default: none."
    )
    cpu: CpuQuantity = "50m"
    memory: MemoryQuantity = "64Mi"
    cpu_limit: CpuQuantity = "500m"
    memory_limit: MemoryQuantity = "256Mi"

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if image_digest(value) is None:
            raise ValueError(f"the connector image must be pinned by digest (got {value!r}; add @sha256:<digest>)")
        return value

    @field_validator("metrics_namespaces")
    @classmethod
    def _unique_ns(cls, value: list[str]) -> list[str]:
        return _unique(value, "namespace")

    @model_validator(mode="after")
    def _limits(self) -> TunnelSpec:
        if cpu_millis(self.cpu) > cpu_millis(self.cpu_limit):
            raise ValueError(f"cpu must be <= cpuLimit (got {self.cpu} > {self.cpu_limit})")
        if memory_bytes(self.memory) > memory_bytes(self.memory_limit):
            raise ValueError(f"memory must be <= memoryLimit (got {self.memory} > {self.memory_limit})")
        return self


class PlatformHostSpec(StrictModel):
    """A platform hostname (API, UI, ...) served through the tunnel by an in-cluster Service."""

    subdomain: RelativeName = Field(description="Name in the zone: api → api.<zone>; @ → the apex.")
    path: UrlPath = Field("/", description="Path prefix routed to the service. Default: / (everything).")
    service: DnsLabel = Field(description="Kubernetes Service name.")
    namespace: DnsLabel = Field(description="Namespace of the Service.")
    port: int = Field(80, ge=1, le=65535, description="Service port. Default: 80.")
    target_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Container port behind the Service (cloudflared's NetworkPolicy allows it). Default: port.",
    )
    pod_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels of the Service's pods; narrows cloudflared's egress to them. Default: the namespace.",
    )
    scheme: Literal["http", "https"] = Field(
        "http", description="Protocol cloudflared speaks to the Service. Default: http."
    )

    @property
    def container_port(self) -> int:
        return self.target_port if self.target_port is not None else self.port

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.service}.{self.namespace}.svc.cluster.local:{self.port}"


class ZoneSettingsSpec(StrictModel):
    """Zone-wide TLS settings, one Cloudflare ``ZoneSetting`` each."""

    ssl: Literal["strict", "full"] = Field(
        "strict", description="SSL mode. Default: strict (Full (strict): origins need a valid certificate)."
    )
    min_tls_version: Literal["1.2", "1.3"] = Field("1.2", description="Minimum TLS version. Default: 1.2.")
    always_use_https: bool = Field(True, description="Redirect http:// to https://. Default: on.")


class CustomDomainsSpec(StrictModel):
    """Tenant vanity domains through Cloudflare for SaaS (custom hostnames on the zone)."""

    enabled: bool = Field(True, description="Declare the fallback origin and one custom hostname per domain.")
    fallback_origin: RelativeName = Field(
        "fallback", description="Fallback origin in the zone; tenants CNAME their domain to it. Default: fallback."
    )
    ssl_method: Literal["http", "txt"] = Field(
        "http", description="Certificate validation. Default: http (works once the tenant's CNAME is in place)."
    )
    min_tls_version: Literal["1.0", "1.1", "1.2", "1.3"] = "1.2"
    warn_at: int = Field(90, ge=1, description="Warn when this many custom hostnames are declared. Default: 90.")
    max_hostnames: int = Field(
        INCLUDED_CUSTOM_HOSTNAMES,
        ge=1,
        le=50000,
        description="Hard cap: more custom hostnames are a spec error. Default: 100 (the included number).",
    )

    @model_validator(mode="after")
    def _thresholds(self) -> CustomDomainsSpec:
        if self.warn_at > self.max_hostnames:
            raise ValueError(f"warnAt must be <= maxHostnames (got {self.warn_at} > {self.max_hostnames})")
        return self


# --- R2 -----------------------------------------------------------------------------------------------


class LifecycleRuleSpec(StrictModel):
    """What happens to objects under one prefix as they age (R2 counts ages in seconds; we take days)."""

    prefix: KeyPrefix = Field("", description="Objects the rule applies to. Default: the whole bucket.")
    expire_after_days: int | None = Field(None, ge=1, le=36500, description="Delete objects this old.")
    infrequent_access_after_days: int | None = Field(
        None, ge=30, le=36500, description="Move objects this old to Infrequent Access (minimum 30 days)."
    )
    abort_multipart_after_days: int | None = Field(
        7, ge=1, le=36500, description="Abort unfinished multipart uploads this old. Default: 7."
    )
    enabled: bool = True

    @model_validator(mode="after")
    def _actions(self) -> LifecycleRuleSpec:
        if (
            self.expire_after_days is None
            and self.infrequent_access_after_days is None
            and self.abort_multipart_after_days is None
        ):
            raise ValueError("give at least one of expireAfterDays, infrequentAccessAfterDays, abortMultipartAfterDays")
        if (
            self.expire_after_days is not None
            and self.infrequent_access_after_days is not None
            and self.infrequent_access_after_days >= self.expire_after_days
        ):
            raise ValueError(
                f"infrequentAccessAfterDays must be < expireAfterDays (got "
                f"{self.infrequent_access_after_days} >= "
                f"{self.expire_after_days})"
            )
        return self


_ORIGIN = re.compile(r"^(\*|https?://(\*\.)?[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?(:[0-9]{1,5})?)$")


def _origin(value: str) -> str:
    if not _ORIGIN.fullmatch(value):
        raise ValueError(f"{value!r} is not a CORS origin (e.g. https://app.example.com, or *)")
    return value


class CorsRuleSpec(StrictModel):
    """One CORS rule: which browser origins may use which methods on the bucket."""

    origins: list[Annotated[str, AfterValidator(_origin)]] = Field(min_length=1)
    methods: list[HttpMethod] = Field(default_factory=_read_methods, min_length=1)
    headers: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9*-]{1,128}$")]] = Field(default_factory=list)
    expose_headers: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,128}$")]] = Field(default_factory=list)
    max_age_seconds: int = Field(3600, ge=0, le=86400, description="Preflight cache. Default: 1 hour.")

    @field_validator("origins", "methods", "headers", "expose_headers")
    @classmethod
    def _no_dupes(cls, value: list[str]) -> list[str]:
        return _unique(list(value), "value")


class LockRuleSpec(StrictModel):
    """Object lock (WORM) under a prefix: objects cannot be deleted or overwritten until old enough."""

    prefix: KeyPrefix = ""
    retention_days: int = Field(ge=1, le=3650, description="Objects are locked for this many days.")
    enabled: bool = True


class R2TokenSpec(StrictModel):
    """An API token scoped to this one bucket, handed to one consumer as S3 credentials."""

    access: Literal["read", "write"] = Field("write", description="Object read, or read and write. Default: write.")
    prefix: KeyPrefix = Field("", description="Where the consumer writes (e.g. etcd/); passed along with the keys.")
    schedule: Duration | None = Field(
        None,
        description="How often the consumer writes under prefix; `backups verify` fails past twice this.",
    )


class R2BucketSpec(StrictModel):
    """One R2 bucket with its lifecycle, CORS, lock rules and scoped tokens."""

    name: BucketName
    stateful: bool = Field(True, description="Protected (and retained on delete) in production. Default: true.")
    adopt: bool = Field(
        False, description="The bucket already exists (e.g. from `enclii-iac state bootstrap`): import, don't create."
    )
    location: R2Location | None = Field(None, description="Location hint. Default: chosen by Cloudflare.")
    jurisdiction: R2Jurisdiction = Field("default", description="Data jurisdiction. Default: none (global).")
    storage_class: Literal["Standard", "InfrequentAccess"] = "Standard"
    lifecycle: dict[ShortLabel, LifecycleRuleSpec] = Field(default_factory=dict, description="Rules by id.")
    cors: dict[ShortLabel, CorsRuleSpec] = Field(default_factory=dict, description="CORS rules by id.")
    lock: dict[ShortLabel, LockRuleSpec] = Field(default_factory=dict, description="Bucket lock rules by id.")
    tokens: dict[ShortLabel, R2TokenSpec] = Field(default_factory=dict, description="Scoped tokens by consumer.")

    @model_validator(mode="after")
    def _rules(self) -> R2BucketSpec:
        if self.location is not None and self.jurisdiction != "default":
            raise ValueError(
                f"location: a location hint cannot be combined with jurisdiction {self.jurisdiction!r}; drop one"
            )
        prefixes = [r.prefix for r in self.lifecycle.values()]
        dupes = sorted({p for p in prefixes if prefixes.count(p) > 1})
        if dupes:
            raise ValueError(f"lifecycle: two rules for the same prefix {dupes[0]!r}; merge them")
        if self.adopt and (self.location is not None or self.storage_class != "Standard"):
            raise ValueError("adopt: an adopted bucket keeps its settings; leave location and storageClass unset")
        writers = sorted(k for k, t in self.tokens.items() if t.access == "write")
        if len(writers) > 1:
            raise ValueError(
                f"tokens: {', '.join(writers)} all write to {self.name}: R2 API tokens are scoped to a bucket, not "
                "to a prefix, so each could overwrite or delete the others' objects; give each writer its own bucket"
            )
        return self

    @property
    def schedules(self) -> dict[str, str]:
        """Expected write interval per prefix, from the tokens that declare one."""
        return {t.prefix: t.schedule for _, t in sorted(self.tokens.items()) if t.schedule is not None}


def _default_buckets() -> dict[str, R2BucketSpec]:
    return {
        # one writer per bucket: an R2 token reaches its whole bucket, so etcd's cannot touch PostgreSQL's backups
        "etcd": R2BucketSpec(
            name="enclii-etcd",
            lifecycle={"etcd": LifecycleRuleSpec(prefix="etcd/", expire_after_days=30, abort_multipart_after_days=1)},
            lock={"etcd": LockRuleSpec(prefix="etcd/", retention_days=3)},
            tokens={"etcd": R2TokenSpec(access="write", prefix="etcd/", schedule="6h")},
        ),
        "backups": R2BucketSpec(
            name="enclii-backups",
            lifecycle={
                "postgres": LifecycleRuleSpec(prefix="postgres/", expire_after_days=30, abort_multipart_after_days=1),
            },
            tokens={"postgres": R2TokenSpec(access="write", prefix="postgres/", schedule="24h")},
        ),
        "state": R2BucketSpec(
            name="enclii-pulumi-state",
            adopt=True,
            lifecycle={"multipart": LifecycleRuleSpec(abort_multipart_after_days=1)},
            tokens={"pulumi": R2TokenSpec(access="write")},
        ),
        "artifacts": R2BucketSpec(
            name="enclii-artifacts",
            stateful=False,
            lifecycle={"expire": LifecycleRuleSpec(expire_after_days=90)},
        ),
    }


class R2Spec(StrictModel):
    """R2 buckets by stable key. Default: etcd, backups, state (adopted) and artifacts."""

    buckets: dict[ShortLabel, R2BucketSpec] = Field(default_factory=_default_buckets)
    state_bucket: ShortLabel | None = Field(
        "state",
        description="Key of the bucket holding the Pulumi state: nothing may expire or lock its objects, and it "
        "stays protected. Default: state.",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> R2Spec:
        seen: dict[tuple[str, str], str] = {}
        for key, bucket in self.buckets.items():
            ident = (bucket.jurisdiction, bucket.name)
            if ident in seen:
                raise ValueError(f"buckets.{key}.name: {bucket.name!r} is already used by buckets.{seen[ident]}")
            seen[ident] = key
        state = self.buckets.get(self.state_bucket or "")
        if state is not None:
            issues: list[tuple[Loc, str]] = []
            where = ("buckets", str(self.state_bucket))
            for rule_id, rule in sorted(state.lifecycle.items()):
                if rule.expire_after_days is not None:
                    issues.append(
                        ((*where, "lifecycle", rule_id, "expireAfterDays"),
                         f"the state bucket {state.name} holds every stack's state and history: a rule that expires "
                         "objects deletes it; abort multipart uploads only")
                    )
            if state.lock:
                issues.append(((*where, "lock"), f"Pulumi rewrites its state in {state.name} on every update; a lock "
                                                 "would make `pulumi up` fail"))
            if not state.stateful:
                issues.append(
                    ((*where, "stateful"), f"the state bucket {state.name} must stay protected in production")
                )
            raise_if("R2Spec", issues)
        return self


# --- the edge -----------------------------------------------------------------------------------------


class EdgeSpec(StrictModel):
    """The Cloudflare edge of one platform: tunnel, DNS, zone settings, custom domains and R2."""

    account_id: str = Field(pattern=_ACCOUNT_ID, description="Cloudflare account id (32 hex).")
    zone_id: str = Field(pattern=_ACCOUNT_ID, description="Zone id of the platform domain (32 hex).")
    tunnel: TunnelSpec = Field(default_factory=TunnelSpec)
    hosts: dict[ShortLabel, PlatformHostSpec] = Field(
        default_factory=dict, description="Platform hostnames by stable key (api, app, ...). Default: none."
    )
    preview_wildcard: bool = Field(True, description="Route *.<previewSubdomain>.<zone> to the ingress. Default: on.")
    preview_subdomain: RelativeName = Field("preview", description="Subdomain of preview URLs. Default: preview.")
    zone_settings: ZoneSettingsSpec | None = Field(
        default_factory=ZoneSettingsSpec, description="Zone TLS settings; null leaves the zone's settings alone."
    )
    custom_domains: CustomDomainsSpec = Field(default_factory=CustomDomainsSpec)
    r2: R2Spec | None = Field(default_factory=R2Spec, description="R2 buckets; null declares none.")
    certificate_packs: CertificatePacks = Field(
        default_factory=dict,
        description="Advanced certificate packs for names Universal SSL does not cover (two or more labels under "
        "the zone, e.g. *.preview, api.shop); every routed name is checked against them (docs/edge-tls.md). "
        "Default: none.",
    )

    @model_validator(mode="after")
    def _names(self) -> EdgeSpec:
        claimed: dict[tuple[str, str], str] = {}
        for key, host in self.hosts.items():
            ident = (host.subdomain, host.path)
            if ident in claimed:
                raise ValueError(
                    f"hosts.{key}: {host.subdomain} {host.path} is already routed by hosts.{claimed[ident]}"
                )
            claimed[ident] = key
        subs = {h.subdomain for h in self.hosts.values()}
        if self.custom_domains.enabled and self.custom_domains.fallback_origin in subs:
            raise ValueError(
                f"customDomains.fallbackOrigin: {self.custom_domains.fallback_origin!r} is also a platform "
                f"host; "
                "give the fallback origin its own name"
            )
        if self.preview_wildcard:
            for key, host in self.hosts.items():
                if host.subdomain.endswith("." + self.preview_subdomain):
                    raise ValueError(
                        f"hosts.{key}.subdomain: {host.subdomain!r} is inside the preview wildcard "
                        f"*.{self.preview_subdomain}; pick a name outside it"
                    )
        return self

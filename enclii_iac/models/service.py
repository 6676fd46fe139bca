"""The tenant service spec (``apiVersion: enclii.dev/v1``, ``kind: Service``), a user-facing contract."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from enclii_iac import defaults
from enclii_iac.models._base import (
    CpuQuantity,
    CronSchedule,
    DnsLabel,
    Duration,
    EnvName,
    EnvValue,
    Hostname,
    Image,
    MemoryQuantity,
    MountPath,
    ShortLabel,
    StrictModel,
    UrlPath,
    cpu_millis,
    duration_seconds,
    memory_bytes,
)

ENV_TOTAL_MAX_BYTES = 256 * 1024
"""Environment, command and args of one service together: far below the ~1.5 MiB the API server stores per
object and the 2 MiB Linux passes to a process at exec."""


class ServiceType(StrEnum):
    """What kind of workload a service is."""

    WEB = "web"  # Deployment + Service + HTTP route
    WORKER = "worker"  # Deployment, no Service
    CRON = "cron"  # CronJob on `schedule`
    JOB = "job"  # one-off Job, kept while the stack declares it
    TCP = "tcp"  # Deployment + Service, no HTTP route


class Replicas(StrictModel):
    """Replica bounds. ``max > min`` turns on the HorizontalPodAutoscaler."""

    min: int = Field(defaults.REPLICAS_MIN, ge=0, le=100, description="Pods kept running. Default: 1.")
    max: int | None = Field(None, ge=0, le=100, description="Upper bound for autoscaling. Default: equal to min.")

    @model_validator(mode="after")
    def _bounds(self) -> Replicas:
        if self.max is not None and self.min > self.max:
            raise ValueError(f"min must be <= max (got {self.min} > {self.max})")
        return self

    @property
    def upper(self) -> int:
        return self.max if self.max is not None else self.min


class KedaTrigger(StrictModel):
    """One KEDA trigger (queue, cron or Prometheus), passed to a ScaledObject."""

    type: Literal["cron", "prometheus", "redis", "redis-sentinel", "rabbitmq", "kafka", "aws-sqs-queue", "postgresql"]
    metadata: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9]{0,62}$")], str] = Field(
        description="Trigger metadata exactly as KEDA documents it for this trigger type."
    )


class Autoscale(StrictModel):
    """Autoscaling between ``replicas.min`` and ``replicas.max``: HPA on CPU/memory, or KEDA triggers."""

    target_cpu: int = Field(70, ge=1, le=100, alias="targetCPU", description="Average CPU utilisation target, %.")
    target_memory: int | None = Field(
        None, ge=1, le=100, alias="targetMemory", description="Average memory utilisation target, %. Default: not used."
    )
    keda: list[KedaTrigger] = Field(
        default_factory=list, description="KEDA triggers; when set a ScaledObject replaces the HPA."
    )


class Resources(StrictModel):
    """Requests (``cpu``, ``memory``) and limits for every container of the service."""

    cpu: CpuQuantity = defaults.CONTAINER_CPU_REQUEST
    memory: MemoryQuantity = defaults.CONTAINER_MEMORY_REQUEST
    cpu_limit: CpuQuantity = defaults.CONTAINER_CPU_LIMIT
    memory_limit: MemoryQuantity | None = Field(
        None, description="Memory limit. Default: the larger of the request and 512Mi."
    )

    @model_validator(mode="after")
    def _limits(self) -> Resources:
        cpu_max, mem_max = defaults.CONTAINER_CPU_MAX, defaults.CONTAINER_MEMORY_MAX
        for name, cpu in (("cpu", self.cpu), ("cpuLimit", self.cpu_limit)):
            if cpu_millis(cpu) > cpu_millis(cpu_max):
                raise ValueError(f"{name}: {cpu} is above the {cpu_max} CPU one container may use (the namespace's "
                                 "LimitRange refuses the pod); split the work or lower it")
        for name, mem in (("memory", self.memory), ("memoryLimit", self.memory_limit)):
            if mem is not None and memory_bytes(mem) > memory_bytes(mem_max):
                raise ValueError(f"{name}: {mem} is above the {mem_max} one container may use (the namespace's "
                                 "LimitRange refuses the pod)")
        if cpu_millis(self.cpu) > cpu_millis(self.cpu_limit):
            raise ValueError(f"cpu must be <= cpuLimit (got {self.cpu} > {self.cpu_limit})")
        if self.memory_limit is not None and memory_bytes(self.memory) > memory_bytes(self.memory_limit):
            raise ValueError(f"memory must be <= memoryLimit (got {self.memory} > {self.memory_limit})")
        return self

    @property
    def effective_memory_limit(self) -> str:
        if self.memory_limit is not None:
            return self.memory_limit
        if memory_bytes(self.memory) > memory_bytes(defaults.CONTAINER_MEMORY_LIMIT):
            return self.memory
        return defaults.CONTAINER_MEMORY_LIMIT


class Health(StrictModel):
    """Probes. Readiness is the real check: an HTTP GET of ``path``, else TCP on the port (or ``command`` for
    workers). Liveness is lighter, so an outage of a dependency the readiness check touches takes replicas out
    of the Service instead of restarting all of them at once: TCP on the port (or GET ``livenessPath``), and it
    fails only after twice as many misses; a worker's exec check is its only signal and is reused that way."""

    path: UrlPath | None = None
    liveness_path: UrlPath | None = Field(
        None, description="Cheap HTTP endpoint for the liveness probe (e.g. /livez). Default: TCP on the port."
    )
    command: list[Annotated[str, Field(min_length=1, max_length=1024)]] | None = Field(
        None, description="Exec probe for services without a port (workers)."
    )
    initial_delay: Duration = f"{defaults.HEALTH_INITIAL_DELAY_S}s"
    period: Duration = f"{defaults.HEALTH_PERIOD_S}s"
    timeout: Duration = "2s"
    failure_threshold: int = Field(3, ge=1, le=30)
    startup_timeout: Duration = Field("60s", description="How long the startup probe lets the process boot.")

    @model_validator(mode="after")
    def _one_kind(self) -> Health:
        if self.path is not None and self.command is not None:
            raise ValueError("set either path (HTTP probe) or command (exec probe), not both")
        if self.liveness_path is not None and self.command is not None:
            raise ValueError("livenessPath is an HTTP probe: it needs a port, not an exec command")
        for name in ("initial_delay", "period", "timeout", "startup_timeout"):
            if duration_seconds(getattr(self, name)) < 1:
                raise ValueError(f"{name}: probes work in whole seconds; use at least 1s")
        return self


class Route(StrictModel):
    """An HTTP route to the service: a hostname and a path prefix, in some or all of its environments.

    A hostname is served by exactly one namespace (one environment of one project): Traefik is shared, so
    the same host in two namespaces would let either answer the other's traffic."""

    host: Hostname
    path: UrlPath = "/"
    environments: list[DnsLabel] | None = Field(
        None,
        description="Environments the route is served in. Default: every environment the service runs in "
        "(which must then be one, since a host belongs to one environment).",
    )


class Volume(StrictModel):
    """A persistent volume claim (ReadWriteOnce) mounted into the service's containers.

    The claim is named after the volume's oldest name (``renamedFrom``): renaming a volume keeps its claim
    and data. It is retained when removed from the spec (and protected in production)."""

    name: ShortLabel
    mount_path: MountPath
    size: MemoryQuantity = "1Gi"
    storage_class: DnsLabel = Field("local-path", description="StorageClass. Default: k3s local-path.")
    renamed_from: list[ShortLabel] = Field(
        default_factory=list,
        description="Earlier names of this volume, oldest first: its claim keeps the oldest name, so the data "
        "stays. Default: never renamed.",
    )

    backup: None = Field(
        None,
        description="Not supported, and refused with the reason: k3s's local-path volumes are host directories "
        "with no CSI snapshots, and a copy taken while the service writes is not consistent. Keep data that "
        "must survive the box in the platform's PostgreSQL (continuous backup to R2, restore drills) or in an "
        "R2 bucket. Default: none.",
    )

    @field_validator("backup", mode="before")
    @classmethod
    def _no_volume_backup(cls, value: object) -> None:
        if value is not None:
            raise ValueError(
                "volume backups are not supported: k3s's local-path volumes are host directories with no CSI "
                "snapshots, and copying files a running service writes gives no consistent backup; keep data "
                "that must survive the box in the platform's PostgreSQL (data.postgres: continuous backup to "
                "R2, restore drills) or in an R2 bucket, and remove `backup` (docs/data-services.md"
                "#tenant-volumes)"
            )
        return None

    @property
    def identity(self) -> str:
        """The name the claim derives from: the oldest name."""
        return self.renamed_from[0] if self.renamed_from else self.name


class CanaryStrategy(StrictModel):
    """A canary: ``image`` runs beside the stable image and gets ``steps[currentStep]`` % of traffic."""

    image: Image
    steps: list[Annotated[int, Field(ge=1, le=100)]] = Field(default_factory=lambda: [10, 25, 50])
    current_step: int = Field(0, ge=0, description="Index into steps. Promote: raise it; finish: set image.")
    abort: bool = Field(False, description="Send 0 % to the canary (rollback) and keep its pods for inspection.")
    replicas: int = Field(1, ge=1, le=20)

    @model_validator(mode="after")
    def _steps(self) -> CanaryStrategy:
        if not self.steps:
            raise ValueError("steps: give at least one weight, e.g. [10, 50]")
        if list(self.steps) != sorted(set(self.steps)):
            raise ValueError(f"steps must be strictly increasing (got {self.steps})")
        if self.current_step >= len(self.steps):
            raise ValueError(f"currentStep must be < {len(self.steps)} (the number of steps), got {self.current_step}")
        return self

    @property
    def weight(self) -> int:
        return 0 if self.abort else self.steps[self.current_step]


Color = Literal["blue", "green"]


class BlueGreenStrategy(StrictModel):
    """Blue-green: two colours, the Service selects ``active``; the other colour stays for instant rollback."""

    active: Color = "blue"
    blue_image: Image
    green_image: Image


class Deploy(StrictModel):
    """How new versions roll out."""

    strategy: Literal["rolling", "canary", "blue-green"] = "rolling"
    canary: CanaryStrategy | None = None
    blue_green: BlueGreenStrategy | None = None

    @model_validator(mode="after")
    def _matching(self) -> Deploy:
        if self.strategy == "canary" and self.canary is None:
            raise ValueError("strategy canary needs a canary block: {image: ..., steps: [10, 50]}")
        if self.strategy == "blue-green" and self.blue_green is None:
            raise ValueError(
                "strategy blue-green needs a blueGreen block: {active: blue, blueImage: ..., greenImage: ...}"
            )
        if self.strategy != "canary" and self.canary is not None:
            raise ValueError(f"canary block given but strategy is {self.strategy!r}; set strategy: canary")
        if self.strategy != "blue-green" and self.blue_green is not None:
            raise ValueError(f"blueGreen block given but strategy is {self.strategy!r}; set strategy: blue-green")
        return self


def _percent(value: float | str) -> float:
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)?%?", text):
            raise ValueError(f"{value!r} is not a percentage (e.g. 1% or 0.5)")
        value = float(text.rstrip("%"))
    if not 0 < value < 100:
        raise ValueError(f"a percentage must be between 0 and 100 (got {value})")
    return float(value)


Percent = Annotated[float | str, AfterValidator(_percent)]


class Slo(StrictModel):
    """Service-level objectives, turned into multi-window burn-rate alerts."""

    availability: float | None = Field(None, ge=90.0, lt=100.0, description="Target success ratio, %.")
    latency_p95: Duration | None = Field(None, alias="latencyP95")
    error_rate: Percent | None = Field(None, description="Maximum error ratio, % (e.g. 1%).")
    window: Literal["7d", "28d", "30d"] = "30d"




class Metrics(StrictModel):
    """Prometheus scraping of the service (a ServiceMonitor)."""

    path: UrlPath = "/metrics"
    port: int | None = Field(None, ge=1, le=65535, description="Default: the service port.")
    interval: Duration = "30s"


class ServiceSpec(StrictModel):
    """One tenant service: what runs, how it is reached, how it scales and rolls out."""

    type: ServiceType = Field(ServiceType.WEB, description="web | worker | cron | job | tcp. Default: web.")
    image: Image = Field(description="OCI image; pinned by digest in production.")
    command: list[Annotated[str, Field(min_length=1, max_length=4096)]] | None = Field(
        None, description="Entrypoint override. Default: the image's."
    )
    args: list[Annotated[str, Field(max_length=4096)]] | None = Field(
        None, description="Arguments. Default: the image's."
    )
    port: int | None = Field(None, ge=1, le=65535, description="Container port. Default: 8080 for web and tcp.")
    replicas: Replicas = Field(default_factory=Replicas, description="Replica bounds. Default: 1.")
    autoscale: Autoscale | None = Field(None, description="HPA or KEDA scaling. Default: fixed replicas.")
    resources: Resources = Field(default_factory=Resources, description="Requests and limits. Default: 100m/128Mi.")
    health: Health = Field(default_factory=Health, description="Probes. Default: TCP on the port.")
    env: dict[EnvName, EnvValue] = Field(default_factory=dict, description="Plain environment variables.")
    secrets: list[EnvName] = Field(default_factory=list, description="Secret names; values come from Pulumi secrets.")
    routes: list[Route] = Field(default_factory=list, description="HTTP routes (host + path prefix).")
    domains: list[Hostname] = Field(default_factory=list, description="Tenant custom domains (Cloudflare for SaaS).")
    volumes: list[Volume] = Field(default_factory=list, description="Persistent volumes.")
    deploy: Deploy = Field(default_factory=Deploy, description="Rollout strategy. Default: rolling.")
    slo: Slo | None = Field(None, description="SLOs, alerted with multi-window burn rates. Default: none.")
    metrics: Metrics | None = Field(None, description="Prometheus scraping (ServiceMonitor). Default: none.")
    schedule: CronSchedule | None = Field(None, description="Cron services: 5-field schedule, UTC.")
    depends_on: list[DnsLabel] = Field(default_factory=list, description="Services of the same project it calls.")
    environments: list[DnsLabel] | None = Field(None, description="Environments it runs in. Default: all.")
    renamed_from: list[DnsLabel] = Field(
        default_factory=list,
        description="Earlier names of this service, oldest first. Its Kubernetes names and labels keep deriving "
        "from the oldest and its Pulumi resources take aliases from each, so a rename neither replaces nor "
        "deletes anything. Default: never renamed.",
    )
    job_ttl: Duration | None = Field(
        None,
        description="Crons: how long the Job of a finished run (and its pods' logs) is kept; at least 1h, so a "
        "failed run can still be looked at. Default: 168h (a week). A one-off job (type job) "
        "takes none: its Job is kept while the stack declares it, so `pulumi up --refresh` never re-runs it.",
    )
    backoff_limit: int = Field(3, ge=0, le=20, description="Jobs and crons: retries before failing.")
    concurrency: Literal["Forbid", "Replace", "Allow"] = Field("Forbid", description="Crons: overlapping runs.")

    @field_validator("secrets", "depends_on", "renamed_from")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            raise ValueError(f"duplicates: {', '.join(dupes)}")
        return value

    @model_validator(mode="after")
    def _by_type(self) -> ServiceSpec:
        t = self.type
        if t in (ServiceType.CRON,) and self.schedule is None:
            raise ValueError("type cron needs a schedule, e.g. schedule: '*/5 * * * *'")
        if t is not ServiceType.CRON and self.schedule is not None:
            raise ValueError(f"schedule is only for type cron (this service is {t.value})")
        if t in (ServiceType.WORKER, ServiceType.CRON, ServiceType.JOB):
            if self.routes:
                raise ValueError(f"routes: a {t.value} service has no port to route to; use type web")
            if self.domains:
                raise ValueError(f"domains: a {t.value} service has no port to route to; use type web")
            if self.port is not None and t is not ServiceType.WORKER:
                raise ValueError(f"port: a {t.value} service does not listen; remove port")
        if t is ServiceType.TCP and self.routes:
            raise ValueError("routes: tcp services are not routed over HTTP; use type web")
        if t is ServiceType.TCP and self.domains:
            raise ValueError("domains: tcp services are not routed over HTTP; use type web")
        if self.domains and not self.routes:
            raise ValueError("domains need at least one route (the custom domain is served by that route's service)")
        if self.job_ttl is not None and duration_seconds(self.job_ttl) < 3600:
            raise ValueError(
                f"jobTtl: {self.job_ttl} would delete a failed run before anyone sees it; keep runs at least 1h"
            )
        if t is not ServiceType.CRON and self.job_ttl is not None:
            raise ValueError(
                f"jobTtl: only cron services take one (this service is {t.value}); a one-off job's Job is owned by "
                "the stack: deleted by a TTL, the next `pulumi up --refresh` would create it and run it again"
            )
        if t in (ServiceType.CRON, ServiceType.JOB):
            if self.autoscale is not None:
                raise ValueError(f"autoscale: a {t.value} runs to completion and does not scale")
            if self.deploy.strategy != "rolling":
                raise ValueError(f"deploy.strategy: a {t.value} has no rollout; remove deploy")
            if self.slo is not None:
                raise ValueError(f"slo: a {t.value} serves no requests; remove slo")
        if self.autoscale is not None and self.replicas.upper <= self.replicas.min:
            raise ValueError(
                f"autoscale needs replicas.max > replicas.min (got min={self.replicas.min}, max={self.replicas.max})"
            )
        if self.health.path is not None and self.listen_port is None:
            raise ValueError("health.path needs a port (HTTP probes go to the service's port)")
        if self.metrics is not None and self.listen_port is None and self.metrics.port is None:
            raise ValueError("metrics needs a port: set port or metrics.port")
        if self.slo is not None and not self.routes:
            raise ValueError("slo: SLOs are measured on routed HTTP traffic; add a route")
        if self.slo is not None and self.slo.latency_p95 is not None and self.listen_port is None:
            raise ValueError("slo.latencyP95 needs a port")
        overlap = sorted(set(self.env) & set(self.secrets))
        if overlap:
            raise ValueError(f"{', '.join(overlap)}: named in both env and secrets; keep one")
        mounts = [v.mount_path for v in self.volumes]
        if len(set(mounts)) != len(mounts) or "/tmp" in mounts:
            raise ValueError("volumes: mount paths must be unique and not /tmp (a writable /tmp is always mounted)")
        names = [v.name for v in self.volumes]
        if len(set(names)) != len(names):
            raise ValueError("volumes: names must be unique")
        owner: dict[str, str] = {}
        for v in self.volumes:
            if v.name in v.renamed_from:
                raise ValueError(f"volumes: {v.name}.renamedFrom lists the volume's own name")
            for n in (v.name, *v.renamed_from):
                if owner.setdefault(n, v.name) != v.name:
                    raise ValueError(f"volumes: {n!r} names both {owner[n]!r} and {v.name!r}; each name is one claim")
        if self.volumes:
            if self.replicas.upper > 1:
                raise ValueError(
                    f"replicas: a service with volumes runs one pod (its ReadWriteOnce claims cannot be shared by "
                    f"{self.replicas.upper} replicas); set replicas: {{min: 1}} or keep state elsewhere"
                )
            if self.deploy.strategy != "rolling":
                raise ValueError(
                    f"deploy.strategy: {self.deploy.strategy} runs two Deployments, which cannot share a "
                    "ReadWriteOnce volume; use rolling (a service with volumes is replaced with Recreate)"
                )
        if self.health.liveness_path is not None and self.listen_port is None:
            raise ValueError("health.livenessPath needs a port (HTTP probes go to the service's port)")
        size = sum(len(k) + len(v.encode()) for k, v in self.env.items())
        size += sum(len(a.encode()) for a in [*(self.command or []), *(self.args or [])])
        if size > ENV_TOTAL_MAX_BYTES:
            raise ValueError(
                f"env: {size} bytes of environment, command and args; at most {ENV_TOTAL_MAX_BYTES // 1024} KiB "
                "(every pod template carries them; keep large configuration in a volume or an image)"
            )
        return self

    def routes_in(self, environment: str) -> list[Route]:
        """The routes served in ``environment``."""
        return [r for r in self.routes if r.environments is None or environment in r.environments]

    @property
    def listen_port(self) -> int | None:
        """The container port: ``port``, or 8080 for web and tcp services."""
        if self.port is not None:
            return self.port
        if self.type in (ServiceType.WEB, ServiceType.TCP):
            return 8080
        return None

    @property
    def is_long_running(self) -> bool:
        return self.type in (ServiceType.WEB, ServiceType.WORKER, ServiceType.TCP)


class ServiceMetadata(StrictModel):
    name: ShortLabel
    project: ShortLabel


class ServiceDocument(StrictModel):
    """An ``enclii.yaml`` Service document."""

    api_version: Literal["enclii.dev/v1"]
    kind: Literal["Service"]
    metadata: ServiceMetadata
    spec: ServiceSpec

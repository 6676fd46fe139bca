"""Data services of the platform: PostgreSQL through CloudNativePG, its backups to R2 and the restore drill.

Plain, frozen, validated data (no Pulumi). ``PlatformSpec.data`` holds a :class:`DataSpec`; the components
are in ``enclii_iac.data``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from enclii_iac.models._base import (
    CpuQuantity,
    CronSchedule,
    DnsLabel,
    Image,
    MemoryQuantity,
    ShortLabel,
    StrictModel,
    duration_seconds,
)

RPO_ARCHIVE_TIMEOUT_S = 300
"""WAL is archived at least this often (seconds), so at most 5 minutes of commits are lost (RPO <= 5 min)."""

CheckQuery = Annotated[str, Field(min_length=1, max_length=2000, pattern=r"^[^\x00-\x08\x0b-\x1f]+$")]


class PostgresBackupSpec(StrictModel):
    """Continuous WAL archiving and scheduled base backups to one R2 bucket (barman-cloud layout)."""

    bucket: str = Field(
        description="Name of the R2 bucket (edge.r2.buckets.<key>.name) holding the backups; it needs a write token "
        "for <folder>/ (the one writer of the bucket)."
    )
    folder: ShortLabel = Field("postgres", description="Key prefix of the backups in the bucket. Default: postgres.")
    server_name: ShortLabel | None = Field(
        None,
        description="Folder of this cluster's archive under <folder>/. Default: the cluster name. A cluster restored "
        "from the archive writes a new one (e.g. enclii-pg-2): barman never archives into a used folder.",
    )
    schedule: CronSchedule = Field("0 3 * * *", description="Base backups, 5-field cron, UTC. Default: daily 03:00.")
    retention_days: int = Field(30, ge=1, le=3650, description="Backups and WAL kept (barman retention). Default: 30.")
    archive_timeout: str = Field(
        "5min",
        pattern=r"^[0-9]+(s|min)$",
        description="PostgreSQL archive_timeout: a WAL segment is archived at least this often. Default: 5min "
        "(RPO <= 5 min); at most 5min.",
    )

    @property
    def archive_timeout_seconds(self) -> int:
        value = self.archive_timeout
        return int(value[:-3]) * 60 if value.endswith("min") else int(value[:-1])

    @model_validator(mode="after")
    def _rpo(self) -> PostgresBackupSpec:
        seconds = self.archive_timeout_seconds
        if not 1 <= seconds <= RPO_ARCHIVE_TIMEOUT_S:
            raise ValueError(
                f"archiveTimeout: must be between 1s and 5min so WAL reaches R2 within the 5 minute RPO "
                f"(got {self.archive_timeout})"
            )
        return self


class PostgresSpec(StrictModel):
    """The platform's PostgreSQL cluster (CloudNativePG ``Cluster``), the Enclii API's database."""

    image: Image = Field(
        description="PostgreSQL operand image with barman-cloud (a CloudNativePG 'system' image, e.g. "
        "ghcr.io/cloudnative-pg/postgresql:17.6-system-bookworm@sha256:...); pinned by digest in production."
    )
    namespace: ShortLabel = Field("enclii-data", description="Namespace of the cluster. Default: enclii-data.")
    name: ShortLabel = Field("enclii-pg", description="Cluster name (pods, services, R2 folder). Default: enclii-pg.")
    instances: int = Field(1, ge=1, le=5, description="PostgreSQL instances. Default: 1 (one AX41).")
    database: DnsLabel = Field("enclii", description="Database created at bootstrap. Default: enclii.")
    owner: DnsLabel = Field("enclii", description="Its owner; credentials in the Secret <name>-app. Default: enclii.")
    storage_size: MemoryQuantity = Field("20Gi", description="Volume per instance. Default: 20Gi.")
    storage_class: DnsLabel = Field("local-path", description="StorageClass. Default: k3s local-path.")
    cpu: CpuQuantity = Field("500m", description="CPU request. Default: 500m.")
    cpu_limit: CpuQuantity = Field("2", description="CPU limit. Default: 2 cores (a third of the AX41).")
    memory: MemoryQuantity = Field("1Gi", description="Memory request and limit. Default: 1Gi.")
    install_operator: bool = Field(
        True,
        description="Install the pinned CloudNativePG operator (its release manifest). false: the cluster already "
        "runs it. Default: true.",
    )
    client_namespaces: list[DnsLabel] = Field(
        default_factory=list,
        description="Namespaces whose pods may connect to port 5432 (the Enclii API's among them). Default: none.",
    )
    backup: PostgresBackupSpec | None = Field(None, description="Backups to R2. Default: none (a warning).")


class DrillSpec(StrictModel):
    """The weekly restore drill: newest base backup + WAL into a scratch server, check query, metrics."""

    image: Image = Field(
        description="Image with python3, boto3 and the PostgreSQL server binaries of the cluster's major version; "
        "pinned by digest in production."
    )
    token: str = Field(
        description="Key of a read token of the backup bucket (edge.r2.buckets.<key>.tokens.<token>): the drill "
        "never holds the writer's key."
    )
    namespace: ShortLabel = Field("enclii-drill", description="Scratch namespace of the drill. Default: enclii-drill.")
    schedule: CronSchedule = Field("30 4 * * 0", description="When the drill runs, UTC. Default: Sundays 04:30.")
    freshness_schedule: CronSchedule = Field(
        "17 * * * *", description="When the newest backup of each kind is measured. Default: hourly."
    )
    check_query: CheckQuery = Field(
        "SELECT count(*) FROM pg_catalog.pg_class",
        description="Query run on the restored server; a non-empty result passes. Default: counts pg_class.",
    )
    database: DnsLabel = Field("postgres", description="Database the check query runs in. Default: postgres.")
    pg_bin: str = Field(
        "/usr/lib/postgresql/17/bin", pattern=r"^/[A-Za-z0-9._/-]+$", description="pg_ctl and psql in the image."
    )
    pushgateway_url: str | None = Field(
        None,
        pattern=r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$",
        description="Prometheus Pushgateway the results are pushed to. Default: none (logs only).",
    )
    timeout: str = Field("45m", description="Longest a drill may take (activeDeadlineSeconds). Default: 45m.")
    scratch_size: MemoryQuantity = Field("40Gi", description="emptyDir the scratch server restores into.")
    memory: MemoryQuantity = Field("1Gi", description="Memory of the drill pod. Default: 1Gi.")

    @property
    def timeout_seconds(self) -> int:
        return int(duration_seconds(self.timeout))

    @model_validator(mode="after")
    def _timeout(self) -> DrillSpec:
        if not 60 <= self.timeout_seconds <= 6 * 3600:
            raise ValueError(f"timeout: between 1m and 6h (got {self.timeout})")
        return self


class RedisSpec(StrictModel):
    """Redis with three Sentinels (one StatefulSet, master name ``enclii``), AOF persistence on a volume per pod."""

    image: Image = Field(
        description="Redis image with redis-server, redis-sentinel, redis-cli and sh (e.g. redis:8.2-alpine@sha256:"
        "...); pinned by digest in production."
    )
    namespace: ShortLabel = Field("enclii-data", description="Namespace. Default: enclii-data (PostgreSQL's).")
    name: ShortLabel = Field("enclii-redis", description="StatefulSet and Service prefix. Default: enclii-redis.")
    storage_size: MemoryQuantity = Field("2Gi", description="Volume per pod (AOF and RDB). Default: 2Gi.")
    storage_class: DnsLabel = Field("local-path", description="StorageClass. Default: k3s local-path.")
    memory: MemoryQuantity = Field("256Mi", description="Memory request and limit per container. Default: 256Mi.")
    client_namespaces: list[DnsLabel] = Field(
        default_factory=list, description="Namespaces whose pods may connect (6379, 26379). Default: none."
    )


class DataSpec(StrictModel):
    """Data services: the platform PostgreSQL and the restore drill that proves its backups."""

    postgres: PostgresSpec | None = Field(None, description="The platform PostgreSQL. Default: none.")
    drill: DrillSpec | None = Field(None, description="The restore drill (needs postgres.backup). Default: none.")
    redis: RedisSpec | None = Field(None, description="Redis with Sentinel. Default: none.")

    @model_validator(mode="after")
    def _drill_needs_backups(self) -> DataSpec:
        if self.drill is not None and (self.postgres is None or self.postgres.backup is None):
            raise ValueError("drill: needs postgres.backup (there is nothing to restore without backups)")
        return self


def unpinned_images(data: DataSpec) -> list[tuple[str, str]]:
    """``(field path, image)`` of every data image not pinned by digest (refused in production)."""
    from enclii_iac.models._base import image_digest

    images = []
    if data.postgres is not None:
        images.append(("data.postgres.image", data.postgres.image))
    if data.drill is not None:
        images.append(("data.drill.image", data.drill.image))
    if data.redis is not None:
        images.append(("data.redis.image", data.redis.image))
    return [(path, image) for path, image in images if image_digest(image) is None]


def archive_folder(spec: PostgresSpec) -> str:
    """``<folder>/<server name>/``: where barman-cloud writes this cluster's base backups and WAL."""
    assert spec.backup is not None
    return f"{spec.backup.folder}/{spec.backup.server_name or spec.name}/"

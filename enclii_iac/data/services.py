"""DataServices: the data layer of EncliiPlatform (PostgreSQL and its restore drill), from ``PlatformSpec.data``.

``data_issues(spec)`` finds every problem (missing bucket, token or schedule) before anything is declared;
``EncliiPlatform`` reports them with its other preflight checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac.errors import SpecIssue
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.models.services import operator_available
from enclii_iac.naming import child_name, type_token

if TYPE_CHECKING:
    from enclii_iac.cloudflare.r2 import R2Storage
    from enclii_iac.data.postgres import PlatformPostgres
    from enclii_iac.kube.hooks import PlatformHooks

TYPE_DATA_SERVICES: Final = type_token("DataServices")


@dataclass(frozen=True)
class DataPlan:
    """The R2 tokens the data layer uses, by ``(bucket key, token key)``."""

    backup_writer: tuple[str, str] | None = None
    backup_interval: str | None = None
    drill_reader: tuple[str, str] | None = None
    etcd_reader: tuple[str, str] | None = None
    etcd_interval: str | None = None


def _bucket_key(spec: PlatformSpec, name: str) -> str | None:
    r2 = spec.edge.r2 if spec.edge is not None else None
    for key, bucket in sorted((r2.buckets if r2 else {}).items()):
        if bucket.name == name:
            return key
    return None


def plan(spec: PlatformSpec) -> tuple[DataPlan, list[SpecIssue]]:
    """Resolve the buckets and tokens of ``spec.data``; issues name the field and the fix."""
    issues: list[SpecIssue] = []
    data = spec.data
    pg = data.postgres if data is not None else None
    if data is None or pg is None or pg.backup is None:
        return DataPlan(), issues
    backup = pg.backup
    key = _bucket_key(spec, backup.bucket)
    if key is None or spec.edge is None or spec.edge.r2 is None:
        issues.append(SpecIssue("platform", "data.postgres.backup.bucket",
                                f"no R2 bucket named {backup.bucket!r} in edge.r2.buckets"))
        return DataPlan(), issues
    bucket = spec.edge.r2.buckets[key]
    writer = next((k for k, t in sorted(bucket.tokens.items())
                   if t.access == "write" and t.prefix in (f"{backup.folder}/", "")), None)
    if writer is None:
        issues.append(SpecIssue("platform", "data.postgres.backup.bucket",
                                f"bucket {backup.bucket!r} has no write token for {backup.folder}/ (add tokens: "
                                f"{{postgres: {{access: write, prefix: {backup.folder}/, schedule: 24h}}}})"))
        return DataPlan(), issues
    interval = bucket.tokens[writer].schedule
    result = DataPlan(backup_writer=(key, writer), backup_interval=interval)
    drill = data.drill
    if drill is None:
        return result, issues
    if interval is None:
        issues.append(SpecIssue("platform", f"edge.r2.buckets.{key}.tokens.{writer}.schedule",
                                "the restore drill alerts on base backups older than twice this schedule: set it "
                                "(e.g. 24h for daily base backups)"))
    token = bucket.tokens.get(drill.token)
    if token is None or token.access != "read":
        issues.append(SpecIssue("platform", "data.drill.token",
                                f"bucket {backup.bucket!r} has no read token {drill.token!r} (add tokens: "
                                f"{{{drill.token}: {{access: read, prefix: {backup.folder}/}}}})"))
    etcd_reader = None
    etcd_interval = None
    snaps = spec.cluster.etcd_snapshots if spec.cluster is not None else None
    if snaps is not None and snaps.enabled and snaps.bucket:
        ekey = _bucket_key(spec, snaps.bucket)
        if ekey is not None:
            ebucket = spec.edge.r2.buckets[ekey]
            reader = next((k for k, t in sorted(ebucket.tokens.items())
                           if t.access == "read" and t.prefix in (f"{snaps.folder}/", "")), None)
            etcd_interval = next((t.schedule for _, t in sorted(ebucket.tokens.items())
                                  if t.access == "write" and t.schedule), None)
            if reader is None:
                issues.append(SpecIssue("platform", f"edge.r2.buckets.{ekey}.tokens",
                                        "the restore drill measures the etcd snapshots too: add a read token "
                                        f"(tokens: {{drill: {{access: read, prefix: {snaps.folder}/}}}})"))
            else:
                etcd_reader = (ekey, reader)
    return DataPlan(result.backup_writer, interval, (key, drill.token), etcd_reader, etcd_interval), issues


def data_issues(spec: PlatformSpec) -> list[SpecIssue]:
    return plan(spec)[1]


class DataServices(pulumi.ComponentResource):
    """PlatformPostgres and RestoreDrill of one platform (children ``<name>-postgres``, ``<name>-drill``)."""

    namespaces: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        args: PlatformSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: k8s.Provider,
        r2: R2Storage | None = None,
        protect: bool = False,
        hooks: PlatformHooks | None = None,
    ) -> None:
        """``r2``: the platform's R2Storage (its ``credentials_for``); needed with ``data.postgres.backup``.
        ``hooks``: the platform-services layer's (the drill's PrometheusRule waits for its CRD); without a
        layer the alerts are declared only where the existing cluster runs the Prometheus Operator."""
        from enclii_iac.errors import SpecError

        spec = args
        resolved, issues = plan(spec)
        if resolved.backup_writer is not None and r2 is None:
            issues.append(SpecIssue("platform", "data.postgres.backup", "backups to R2 need edge.r2 declared"))
        if issues:
            raise SpecError(issues)
        super().__init__(TYPE_DATA_SERVICES, name, None, opts)
        here = pulumi.ResourceOptions(parent=self)
        self.postgres: Any = None
        self.drill: Any = None
        self.redis: Any = None
        data = spec.data
        pg = data.postgres if data is not None else None
        namespaces: list[str] = []
        self._hooks = hooks
        if data is not None and pg is not None:
            namespaces = self._postgres(name, spec, pg, resolved, provider, r2, protect)
        if data is not None and data.redis is not None:
            from enclii_iac.data.redis import PlatformRedis

            postgres: PlatformPostgres | None = self.postgres
            shared = None
            if postgres is not None and pg is not None and pg.namespace == data.redis.namespace:
                shared = postgres.ns
            self.redis = PlatformRedis(
                child_name(name, "redis"), data.redis, here, provider=provider, namespace=shared, protect=protect,
            )
            namespaces.append(data.redis.namespace)
        self.namespaces = pulumi.Output.from_input(sorted(set(namespaces)))
        self.register_outputs({"namespaces": self.namespaces})

    def _postgres(self, name: str, spec: PlatformSpec, pg: Any, resolved: DataPlan, provider: k8s.Provider,
                  r2: R2Storage | None, protect: bool) -> list[str]:
        here = pulumi.ResourceOptions(parent=self)
        data = spec.data
        assert data is not None
        from enclii_iac.data.postgres import BackupTarget, PlatformPostgres

        target = None
        keys = None
        creds = None
        if resolved.backup_writer is not None and pg.backup is not None and r2 is not None:
            creds = r2.credentials_for(*resolved.backup_writer)
            target = BackupTarget(endpoint=creds.endpoint, bucket=creds.bucket, folder=pg.backup.folder)
            keys = (creds.access_key_id, creds.secret_access_key)
        self.postgres = PlatformPostgres(
            child_name(name, "postgres"), pg, here,
            provider=provider, backup_target=target, backup_keys=keys, protect=protect,
        )
        namespaces = [pg.namespace]
        if data.drill is not None and resolved.drill_reader is not None and creds is not None and r2 is not None:
            from enclii_iac.data.drills import FreshnessCheck, RestoreDrill, secret_name
            from enclii_iac.r2.backups import parse_interval

            assert pg.backup is not None and resolved.backup_interval is not None
            reader = r2.credentials_for(*resolved.drill_reader)
            read_keys = {reader.bucket: (reader.access_key_id, reader.secret_access_key)}
            from enclii_iac.models.data import archive_folder

            checks = [FreshnessCheck("postgres", reader.bucket, f"{archive_folder(pg)}base/",
                                     parse_interval(resolved.backup_interval), secret_name(reader.bucket))]
            if resolved.etcd_reader is not None and spec.cluster is not None:
                etcd = r2.credentials_for(*resolved.etcd_reader)
                read_keys[etcd.bucket] = (etcd.access_key_id, etcd.secret_access_key)
                checks.append(FreshnessCheck("etcd", etcd.bucket, f"{spec.cluster.etcd_snapshots.folder}/",
                                             parse_interval(resolved.etcd_interval or "12h"), secret_name(etcd.bucket)))
            self.drill = RestoreDrill(
                child_name(name, "drill"), data.drill, here, postgres=pg, provider=provider,
                bucket=reader.bucket, endpoint=creds.endpoint, read_keys=read_keys, checks=checks,
                monitoring=operator_available(spec, "prometheus-operator"),
                after=self._hooks.installs("monitoring.coreos.com/v1", "PrometheusRule") if self._hooks else (),
            )
            namespaces.append(data.drill.namespace)
        return namespaces

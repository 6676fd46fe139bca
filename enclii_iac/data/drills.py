"""RestoreDrill: a CronJob that proves the PostgreSQL backups restore, and alerts on stale backups.

Weekly (``DrillSpec.schedule``) the drill pod, in its own scratch namespace, restores the newest base backup
plus WAL from R2 into a scratch PostgreSQL inside the pod (``drill_program.py restore``), runs the check
query, pushes ``enclii_restore_drill_*`` metrics and deletes the scratch data. Hourly
(``freshness_schedule``) it measures the newest object of each backup kind (PostgreSQL base backups, etcd
snapshots) as ``enclii_backup_*`` metrics. A PrometheusRule alerts when a kind's newest backup is older than
twice its schedule, or the last drill failed or never reported.

Every value reaches the program as one element of the container's argument vector: no shell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Final

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac import defaults
from enclii_iac.models.data import DrillSpec, PostgresSpec, archive_folder
from enclii_iac.naming import child_name, type_token
from enclii_iac.render.kube import Manifest, meta, psa_labels, restricted_security_context
from enclii_iac.render.kube import resource_args as _args

TYPE_RESTORE_DRILL: Final = type_token("RestoreDrill")
PROGRAM_KEY: Final = "drill_program.py"
PROGRAM_DIR: Final = "/opt/enclii-drill"
SCRATCH_DIR: Final = "/scratch"
NAME: Final = "restore-drill"


@dataclass(frozen=True)
class FreshnessCheck:
    """One backup kind the hourly job measures: ``kind`` (postgres, etcd), its bucket, prefix and interval."""

    kind: str
    bucket: str
    prefix: str
    interval_seconds: float
    secret: str
    """Name of the Secret (in the drill namespace) with that bucket's read keys."""


def program_text() -> str:
    """The drill program shipped in the ConfigMap (the file tested against a real PostgreSQL)."""
    return resources.files("enclii_iac.data").joinpath(PROGRAM_KEY).read_text(encoding="utf-8")


def labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": defaults.MANAGED_BY,
        "app.kubernetes.io/part-of": "enclii",
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/component": component,
    }


def namespace_manifest(drill: DrillSpec) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": meta(drill.namespace, None, {**labels("namespace"), **psa_labels()})}


def network_policy(drill: DrillSpec) -> Manifest:
    """Nothing reaches the drill pods (the scratch server listens on a private socket only)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta("default-deny-ingress", drill.namespace, labels("network")),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def config_map(drill: DrillSpec) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": meta(f"{NAME}-program", drill.namespace, labels("program")),
            "data": {PROGRAM_KEY: program_text()}}


def _container(name: str, drill: DrillSpec, args: list[str], secret: str, endpoint: str) -> Manifest:
    keys = {"AWS_ACCESS_KEY_ID": "ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY": "ACCESS_SECRET_KEY"}
    env: list[Manifest] = [{"name": "DRILL_S3_ENDPOINT", "value": endpoint},
                           {"name": "AWS_DEFAULT_REGION", "value": "auto"},
                           {"name": "HOME", "value": "/tmp"}]
    env += [{"name": k, "valueFrom": {"secretKeyRef": {"name": secret, "key": v}}} for k, v in keys.items()]
    return {
        "name": name,
        "image": drill.image,
        "imagePullPolicy": defaults.IMAGE_PULL_POLICY,
        "command": ["python3", f"{PROGRAM_DIR}/{PROGRAM_KEY}"],
        "args": args,
        "env": env,
        "resources": {
            "requests": {"cpu": "250m", "memory": drill.memory, "ephemeral-storage": "64Mi"},
            "limits": {"cpu": "1", "memory": drill.memory, "ephemeral-storage": defaults.EPHEMERAL_STORAGE_LIMIT},
        },
        "securityContext": restricted_security_context(),
        "volumeMounts": [{"name": "program", "mountPath": PROGRAM_DIR, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"},
                         {"name": "scratch", "mountPath": SCRATCH_DIR}],
    }


def _cron_job(name: str, drill: DrillSpec, schedule: str, containers: list[Manifest], deadline: int,
              scratch: str) -> Manifest:
    pod: Manifest = {
        "serviceAccountName": NAME,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "runAsUser": defaults.RUN_AS_USER,
                            "runAsGroup": defaults.RUN_AS_GROUP, "fsGroup": defaults.RUN_AS_GROUP,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": containers,
        "volumes": [
            {"name": "program", "configMap": {"name": f"{NAME}-program", "defaultMode": 0o444}},
            {"name": "tmp", "emptyDir": {"sizeLimit": defaults.TMP_VOLUME_SIZE}},
            {"name": "scratch", "emptyDir": {"sizeLimit": scratch}},
        ],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta(name, drill.namespace, labels(name)),
        "spec": {
            "schedule": schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels(name)},
                "spec": {
                    "backoffLimit": 0,
                    "activeDeadlineSeconds": deadline,
                    "ttlSecondsAfterFinished": 7 * 86400,
                    "template": {"metadata": {"labels": labels(name)}, "spec": pod},
                },
            },
        },
    }


def restore_cron_job(drill: DrillSpec, postgres: PostgresSpec, *, bucket: str, endpoint: str,
                     secret: str) -> Manifest:
    assert postgres.backup is not None
    args = ["restore", "--bucket", bucket, "--prefix", archive_folder(postgres),
            "--workdir", SCRATCH_DIR, "--pg-bin", drill.pg_bin, "--user", "postgres",
            "--database", drill.database, "--check-query", drill.check_query,
            "--timeout", str(max(drill.timeout_seconds - 120, 60))]
    if drill.pushgateway_url:
        args += ["--pushgateway", drill.pushgateway_url]
    container = _container("restore", drill, args, secret, endpoint)
    return _cron_job(NAME, drill, drill.schedule, [container], drill.timeout_seconds, drill.scratch_size)


def freshness_cron_job(drill: DrillSpec, checks: list[FreshnessCheck], endpoint: str) -> Manifest:
    by_bucket: dict[str, list[FreshnessCheck]] = {}
    for check in checks:
        by_bucket.setdefault(check.bucket, []).append(check)
    containers = []
    for bucket, group in sorted(by_bucket.items()):
        args = ["freshness", "--bucket", bucket]
        for check in sorted(group, key=lambda c: c.kind):
            args += ["--check", f"{check.kind}={check.prefix}={check.interval_seconds:g}"]
        if drill.pushgateway_url:
            args += ["--pushgateway", drill.pushgateway_url]
        containers.append(_container(f"freshness-{group[0].kind}", drill, args, group[0].secret, endpoint))
    return _cron_job("backup-freshness", drill, drill.freshness_schedule, containers, 600, "64Mi")


def prometheus_rule(drill: DrillSpec) -> Manifest:
    by = "kind, bucket, prefix"
    rules = [
        {
            "alert": "EncliiBackupStale",
            "expr": f"time() - max by ({by}) (enclii_backup_newest_timestamp_seconds) > 2 * max by ({by}) "
                    "(enclii_backup_interval_seconds)",
            "for": "15m",
            "labels": {"severity": "critical"},
            "annotations": {"summary": "the newest {{ $labels.kind }} backup in {{ $labels.bucket }}/"
                                       "{{ $labels.prefix }} is older than twice its schedule",
                            "runbook": "docs/disaster-recovery.md#alerts"},
        },
        {
            "alert": "EncliiBackupMissing",
            "expr": f"max by ({by}) (enclii_backup_interval_seconds) unless max by ({by}) "
                    "(enclii_backup_newest_timestamp_seconds)",
            "for": "15m",
            "labels": {"severity": "critical"},
            "annotations": {"summary": "no {{ $labels.kind }} backup at all in {{ $labels.bucket }}/"
                                       "{{ $labels.prefix }}",
                            "runbook": "docs/disaster-recovery.md#alerts"},
        },
        {
            "alert": "EncliiRestoreDrillFailed",
            "expr": "max by (bucket, prefix) (enclii_restore_drill_success) == 0",
            "labels": {"severity": "critical"},
            "annotations": {"summary": "the last restore drill of {{ $labels.bucket }}/{{ $labels.prefix }} failed",
                            "runbook": "docs/disaster-recovery.md#alerts"},
        },
        {
            "alert": "EncliiRestoreDrillMissing",
            "expr": "absent(enclii_restore_drill_success)",
            "for": "8d",
            "labels": {"severity": "warning"},
            "annotations": {"summary": "no restore drill has reported for 8 days",
                            "runbook": "docs/disaster-recovery.md#alerts"},
        },
    ]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": meta("backups", drill.namespace, labels("alerts")),
        "spec": {"groups": [{"name": "enclii-backups", "rules": rules}]},
    }


class RestoreDrill(pulumi.ComponentResource):
    """The restore drill and backup-freshness CronJobs, their namespace, program, keys and alerts.

    ``read_keys`` maps a bucket name to ``(access key id, secret key)`` of a read token of that bucket;
    ``bucket`` is the PostgreSQL backup bucket (restored weekly), ``checks`` every kind measured hourly.
    """

    namespace: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: DrillSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        postgres: PostgresSpec,
        provider: k8s.Provider,
        bucket: str,
        endpoint: str,
        read_keys: Mapping[str, tuple[pulumi.Input[str], pulumi.Input[str]]],
        checks: list[FreshnessCheck],
        monitoring: bool = True,
        after: Sequence[pulumi.Resource] = (),
    ) -> None:
        """``monitoring``: declare the PrometheusRule (the cluster runs the Prometheus Operator); ``after``: the
        resources that install its CRD, which the rule waits for."""
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers=[provider]))
        super().__init__(TYPE_RESTORE_DRILL, name, None, opts)
        drill = args
        here = pulumi.ResourceOptions(parent=self)
        self.ns = k8s.core.v1.Namespace(child_name(name, "ns"), **_args(namespace_manifest(drill)), opts=here)
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[self.ns])
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            child_name(name, "netpol"), **_args(network_policy(drill)), opts=after_ns
        )
        self.service_account = k8s.core.v1.ServiceAccount(
            child_name(name, "sa"), metadata=meta(NAME, drill.namespace, labels("identity")),
            automount_service_account_token=False, opts=after_ns,
        )
        self.program = k8s.core.v1.ConfigMap(child_name(name, "program"), **_args(config_map(drill)), opts=after_ns)
        self.secrets: dict[str, k8s.core.v1.Secret] = {}
        for bucket_name, (key_id, secret_key) in sorted(read_keys.items()):
            self.secrets[bucket_name] = k8s.core.v1.Secret(
                child_name(name, "r2", bucket_name),
                metadata=meta(secret_name(bucket_name), drill.namespace, labels("credentials")),
                type="Opaque",
                string_data={"ACCESS_KEY_ID": pulumi.Output.secret(key_id),
                             "ACCESS_SECRET_KEY": pulumi.Output.secret(secret_key)},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ns],
                                            additional_secret_outputs=["data", "stringData"]),
            )
        deps: list[pulumi.Resource] = [self.service_account, self.program, *self.secrets.values()]
        self.restore = k8s.batch.v1.CronJob(
            child_name(name, "restore"),
            **_args(restore_cron_job(drill, postgres, bucket=bucket, endpoint=endpoint, secret=secret_name(bucket))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=deps),
        )
        self.freshness = k8s.batch.v1.CronJob(
            child_name(name, "freshness"), **_args(freshness_cron_job(drill, checks, endpoint)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=deps),
        )
        self.alerts: k8s.apiextensions.CustomResource | None = None
        if monitoring:
            rule = prometheus_rule(drill)
            self.alerts = k8s.apiextensions.CustomResource(
                child_name(name, "alerts"), api_version=rule["apiVersion"], kind=rule["kind"],
                metadata=rule["metadata"], spec=rule["spec"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ns, *after]),
            )
        self.namespace = pulumi.Output.from_input(drill.namespace)
        self.register_outputs({"namespace": self.namespace})


def secret_name(bucket: str) -> str:
    """The drill's Secret with a read token of ``bucket``."""
    from enclii_iac.naming import dns_label

    return dns_label("r2", bucket)

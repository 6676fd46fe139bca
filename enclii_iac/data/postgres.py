"""PlatformPostgres: the platform's PostgreSQL through CloudNativePG, WAL and base backups to R2.

The manifests are pure functions of the spec (``cluster_manifest``, ``scheduled_backup_manifest``,
``network_policies``), so tests and the engine tier check exactly what the component declares.

>>> PlatformPostgres("enclii-pg", PostgresSpec(image="ghcr.io/cloudnative-pg/postgresql@sha256:..."),
...                  provider=k8s_provider, backup_credentials=r2.credentials_for("backups", "postgres"))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac import defaults
from enclii_iac.models.data import PostgresSpec
from enclii_iac.naming import child_name, type_token
from enclii_iac.render.kube import Manifest, meta, psa_labels
from enclii_iac.render.kube import resource_args as _args

TYPE_PLATFORM_POSTGRES: Final = type_token("PlatformPostgres")

CNPG_VERSION: Final = "1.30.0"
"""CloudNativePG operator release; its CRDs are the schema the Cluster and ScheduledBackup are checked against
(tools/engine/versions.env CNPG_VERSION, tests/data/cnpg/)."""
CNPG_MANIFEST_URL: Final = (
    f"https://raw.githubusercontent.com/cloudnative-pg/cloudnative-pg/release-1.30/releases/cnpg-{CNPG_VERSION}.yaml"
)
"""The operator's release manifest (CRDs, RBAC, the operator Deployment in cnpg-system), as its docs install it."""
CNPG_NAMESPACE: Final = "cnpg-system"
"""Namespace the release manifest runs the operator in; it reaches the instances' status port."""
CNPG_STATUS_PORT: Final = 8000
POSTGRES_PORT: Final = 5432
BACKUP_SECRET_KEYS: Final = ("ACCESS_KEY_ID", "ACCESS_SECRET_KEY")


@dataclass(frozen=True)
class BackupTarget:
    """Where barman-cloud writes: ``s3://<bucket>/<folder>/<cluster name>/`` on ``endpoint``."""

    endpoint: str
    bucket: str
    folder: str

    @property
    def destination(self) -> str:
        return f"s3://{self.bucket}/{self.folder}"


def labels(spec: PostgresSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": defaults.MANAGED_BY,
        "app.kubernetes.io/part-of": "enclii",
        "app.kubernetes.io/name": "postgresql",
        "app.kubernetes.io/instance": spec.name,
    }


def backup_secret_name(spec: PostgresSpec) -> str:
    return f"{spec.name}-r2"


def namespace_manifest(spec: PostgresSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta(spec.namespace, None, {**labels(spec), **psa_labels()}),
    }


def cron6(schedule: str) -> str:
    """CloudNativePG's ScheduledBackup takes a 6-field cron (seconds first); macros pass through."""
    return schedule if schedule.startswith("@") else f"0 {schedule}"


def cluster_manifest(spec: PostgresSpec, target: BackupTarget | None) -> Manifest:
    """The CloudNativePG ``Cluster``: instances, storage, bootstrap database, archive_timeout, barman to R2."""
    body: Manifest = {
        "instances": spec.instances,
        "imageName": spec.image,
        "imagePullPolicy": defaults.IMAGE_PULL_POLICY,
        "primaryUpdateStrategy": "unsupervised",
        "storage": {"size": spec.storage_size, "storageClass": spec.storage_class},
        "bootstrap": {"initdb": {"database": spec.database, "owner": spec.owner}},
        "enableSuperuserAccess": False,
        "resources": {
            "requests": {"cpu": spec.cpu, "memory": spec.memory},
            "limits": {"cpu": spec.cpu_limit, "memory": spec.memory},
        },
        "postgresql": {"parameters": {"archive_timeout": spec.backup.archive_timeout if spec.backup else "5min"}},
    }
    if spec.backup is not None and target is not None:
        secret = backup_secret_name(spec)
        body["backup"] = {
            "retentionPolicy": f"{spec.backup.retention_days}d",
            "barmanObjectStore": {
                "destinationPath": target.destination,
                "endpointURL": target.endpoint,
                "s3Credentials": {
                    "accessKeyId": {"name": secret, "key": BACKUP_SECRET_KEYS[0]},
                    "secretAccessKey": {"name": secret, "key": BACKUP_SECRET_KEYS[1]},
                },
                "serverName": spec.backup.server_name or spec.name,
                "wal": {"compression": "gzip", "maxParallel": 2},
                "data": {"compression": "gzip", "jobs": 2},
            },
        }
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": meta(spec.name, spec.namespace, labels(spec)),
        "spec": body,
    }


def scheduled_backup_manifest(spec: PostgresSpec) -> Manifest:
    assert spec.backup is not None
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "ScheduledBackup",
        "metadata": meta(f"{spec.name}-daily", spec.namespace, labels(spec)),
        "spec": {
            "schedule": cron6(spec.backup.schedule),
            "immediate": True,
            "backupOwnerReference": "self",
            "method": "barmanObjectStore",
            "cluster": {"name": spec.name},
        },
    }


def network_policies(spec: PostgresSpec) -> list[Manifest]:
    """Default-deny ingress for the namespace; the instances admit each other, the operator on its status
    port and the client namespaces on 5432."""
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta("default-deny-ingress", spec.namespace, labels(spec)),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    sources: list[Manifest] = [
        {"podSelector": {"matchLabels": {"cnpg.io/cluster": spec.name}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": CNPG_NAMESPACE}}},
    ]
    ingress: list[Manifest] = [{"from": sources, "ports": [{"protocol": "TCP", "port": POSTGRES_PORT},
                                                          {"protocol": "TCP", "port": CNPG_STATUS_PORT}]}]
    if spec.client_namespaces:
        ingress.append({
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
                     for ns in sorted(spec.client_namespaces)],
            "ports": [{"protocol": "TCP", "port": POSTGRES_PORT}],
        })
    allow = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(f"{spec.name}-ingress", spec.namespace, labels(spec)),
        "spec": {
            "podSelector": {"matchLabels": {"cnpg.io/cluster": spec.name}},
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }
    return [deny, allow]


class PlatformPostgres(pulumi.ComponentResource):
    """The platform PostgreSQL: namespace, (operator), R2 credentials, Cluster, ScheduledBackup, policies.

    In production (``protect=True``) the namespace and the Cluster are protected and retained on delete.
    """

    app_secret_name: pulumi.Output[str]
    """Secret (in ``namespace``) with the owner's credentials and ``uri``, written by the operator."""
    namespace: pulumi.Output[str]
    host: pulumi.Output[str]
    """Read-write service of the cluster: ``<name>-rw.<namespace>.svc``."""

    def __init__(
        self,
        name: str,
        args: PostgresSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: k8s.Provider,
        backup_target: BackupTarget | None = None,
        backup_keys: tuple[pulumi.Input[str], pulumi.Input[str]] | None = None,
        protect: bool = False,
    ) -> None:
        """``backup_target`` and ``backup_keys`` (access key id, secret key of the bucket's write token) are
        required together with ``args.backup``."""
        spec = args
        if (spec.backup is not None) != (backup_target is not None and backup_keys is not None):
            from enclii_iac.errors import SpecError, SpecIssue

            raise SpecError([SpecIssue("platform", "data.postgres.backup",
                                       "backups need the R2 bucket's endpoint and write token (and only with backup)")])
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers=[provider]))
        super().__init__(TYPE_PLATFORM_POSTGRES, name, None, opts)
        self.spec = spec
        self.ns = k8s.core.v1.Namespace(
            child_name(name, "ns"),
            **_args(namespace_manifest(spec)),
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
        )
        deps: list[pulumi.Resource] = [self.ns]
        self.operator: k8s.yaml.v2.ConfigFile | None = None
        if spec.install_operator:
            self.operator = k8s.yaml.v2.ConfigFile(
                child_name(name, "operator"), file=CNPG_MANIFEST_URL, opts=pulumi.ResourceOptions(parent=self)
            )
            deps.append(self.operator)
        self.backup_secret: k8s.core.v1.Secret | None = None
        if backup_keys is not None:
            self.backup_secret = k8s.core.v1.Secret(
                child_name(name, "r2"),
                metadata=meta(backup_secret_name(spec), spec.namespace, labels(spec)),
                type="Opaque",
                string_data={k: pulumi.Output.secret(v) for k, v in zip(BACKUP_SECRET_KEYS, backup_keys, strict=True)},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ns],
                                            additional_secret_outputs=["data", "stringData"]),
            )
            deps.append(self.backup_secret)
        self.network_policies = {
            pol["metadata"]["name"]: k8s.networking.v1.NetworkPolicy(
                child_name(name, "netpol", pol["metadata"]["name"]), **_args(pol),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ns]),
            )
            for pol in network_policies(spec)
        }
        cluster = cluster_manifest(spec, backup_target)
        self.cluster = k8s.apiextensions.CustomResource(
            child_name(name, "cluster"),
            api_version=cluster["apiVersion"],
            kind=cluster["kind"],
            metadata=cluster["metadata"],
            spec=cluster["spec"],
            # bootstrap only matters when the cluster is created: a cluster restored from the archive
            # (docs/disaster-recovery.md) is not drift, and re-applying initdb would be refused
            opts=pulumi.ResourceOptions(parent=self, depends_on=deps, ignore_changes=["spec.bootstrap",
                                                                                      "spec.externalClusters"],
                                        protect=protect, retain_on_delete=protect),
        )
        self.scheduled_backup: k8s.apiextensions.CustomResource | None = None
        if spec.backup is not None:
            sched = scheduled_backup_manifest(spec)
            self.scheduled_backup = k8s.apiextensions.CustomResource(
                child_name(name, "backup"),
                api_version=sched["apiVersion"],
                kind=sched["kind"],
                metadata=sched["metadata"],
                spec=sched["spec"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster]),
            )
        self.app_secret_name = pulumi.Output.from_input(f"{spec.name}-app")
        self.namespace = pulumi.Output.from_input(spec.namespace)
        self.host = pulumi.Output.from_input(f"{spec.name}-rw.{spec.namespace}.svc")
        self.register_outputs({"app_secret_name": self.app_secret_name, "namespace": self.namespace,
                               "host": self.host})

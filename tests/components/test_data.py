"""The data layer (PlatformSpec.data): PostgreSQL through CloudNativePG, backups to R2, the restore drill.

Declared through EncliiPlatform with Pulumi's mocks; the CloudNativePG custom resources are validated
against the operator's own CRD schemas (tests/data/cnpg-v1.30.0), every other object with
kubernetes-validate --strict and checkov.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from enclii_iac.data import drill_program
from enclii_iac.data.drills import program_text
from enclii_iac.errors import SpecError
from enclii_iac.models.loader import build_platform
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.platform import EncliiPlatform, PlatformProviders
from enclii_iac.testing import Recorder, ResourceRecord, reveal
from tests.conftest import STACKS, checkov_failures, kubernetes_validate
from tests.crd_schemas import UPSTREAM_CRDS, validate_custom
from tests.unit.host_fixtures import HOST_PRIVATE

DIGEST = "@sha256:" + "a" * 64
PG_IMAGE = "ghcr.io/cloudnative-pg/postgresql:17.6-system-bookworm" + DIGEST
DRILL_IMAGE = "ghcr.io/acme/pg-drill:17" + DIGEST
REDIS_IMAGE = "docker.io/library/redis:8.2-alpine" + DIGEST
CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
SCHEDULED = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
CRONJOB = "kubernetes:batch/v1:CronJob"
SECRET = "kubernetes:core/v1:Secret"
HOSTILE_QUERY = "SELECT count(*) FROM pg_class; -- '$(reboot)' `id` \"x\""


def platform_data(**data: Any) -> dict[str, Any]:
    raw = yaml.safe_load((STACKS / "production" / "platform.yaml").read_text())
    spec = copy.deepcopy(raw["spec"])
    buckets = spec["edge"]["r2"]["buckets"]
    buckets["backups"]["tokens"]["drill"] = {"access": "read", "prefix": "postgres/"}
    buckets["etcd"]["tokens"]["drill"] = {"access": "read", "prefix": "etcd/"}
    spec["data"] = data or {
        "postgres": {"image": PG_IMAGE, "clientNamespaces": ["enclii-system"],
                     "backup": {"bucket": "enclii-backups"}},
        "drill": {"image": DRILL_IMAGE, "token": "drill", "checkQuery": HOSTILE_QUERY,
                  "pushgatewayUrl": "http://pushgateway.monitoring.svc:9091"},
        "redis": {"image": REDIS_IMAGE, "clientNamespaces": ["enclii-system"]},
    }
    return spec


def declare(spec: PlatformSpec) -> Recorder:
    from enclii_iac.cloudflare import cf

    def program() -> None:
        EncliiPlatform("enclii", spec, providers=PlatformProviders(cloudflare=cf.Provider("cf", api_token="t")),
                       ssh_private_key=HOST_PRIVATE)

    return Recorder(project="enclii", stack="production").run(program)


@pytest.fixture(scope="module")
def rec() -> Recorder:
    return declare(build_platform(platform_data()))


def data_records(rec: Recorder) -> list[ResourceRecord]:
    root = rec.one("enclii:index:DataServices", "enclii-data")
    out: list[ResourceRecord] = []
    todo = [root]
    while todo:
        node = todo.pop()
        kids = rec.children_of(node)
        out += kids
        todo += kids
    return out


def _ints(value: Any) -> Any:
    """Numbers come back from the mock monitor as floats (protobuf Struct); manifests carry integers."""
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def test_the_data_layer_is_declared_after_the_cluster_under_the_platform(rec: Recorder) -> None:
    data = rec.one("enclii:index:DataServices", "enclii-data")
    assert rec.parent_of(data).type == "enclii:index:EncliiPlatform"
    names = sorted((r.type, r.name) for r in data_records(rec))
    assert ("enclii:index:PlatformPostgres", "enclii-data-postgres") in names
    assert ("enclii:index:RestoreDrill", "enclii-data-drill") in names
    assert (CLUSTER, "enclii-data-postgres-cluster") in names
    assert (SCHEDULED, "enclii-data-postgres-backup") in names
    assert ("kubernetes:yaml/v2:ConfigFile", "enclii-data-postgres-operator") in names
    k3s = rec.one("pulumi:providers:kubernetes", "enclii-k3s-provider")
    for r in data_records(rec):
        if r.type.startswith("kubernetes:"):
            assert r.provider_name == k3s.name, r.name  # the cluster's explicit provider, never a default


def test_the_cluster_archives_wal_to_r2_within_the_rpo_and_is_protected(rec: Recorder) -> None:
    cluster = rec.one(CLUSTER, "enclii-data-postgres-cluster")
    assert cluster.protect and cluster.retain_on_delete
    assert rec.one("kubernetes:core/v1:Namespace", "enclii-data-postgres-ns").protect
    spec = cluster.inputs["spec"]
    assert spec["imageName"] == PG_IMAGE
    assert spec["postgresql"]["parameters"]["archive_timeout"] == "5min"
    store = spec["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == "s3://enclii-backups/postgres"
    assert store["endpointURL"] == "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
    assert store["s3Credentials"]["accessKeyId"] == {"name": "enclii-pg-r2", "key": "ACCESS_KEY_ID"}
    assert spec["backup"]["retentionPolicy"] == "30d"
    assert store["serverName"] == "enclii-pg"
    assert sorted(cluster.ignore_changes) == ["spec.bootstrap", "spec.externalClusters"]  # a restored cluster
    assert spec["enableSuperuserAccess"] is False
    sched = rec.one(SCHEDULED, "enclii-data-postgres-backup").inputs["spec"]
    assert sched == {"schedule": "0 0 3 * * *", "immediate": True, "backupOwnerReference": "self",
                     "method": "barmanObjectStore", "cluster": {"name": "enclii-pg"}}


def test_r2_keys_are_secrets_and_the_drill_holds_only_read_tokens(rec: Recorder) -> None:
    writer = rec.one(SECRET, "enclii-data-postgres-r2")
    assert writer.secret_inputs == ["stringData"]
    readers = [r for r in rec.of_type(SECRET) if r.name.startswith("enclii-data-drill-r2-")]
    assert sorted(r.inputs["metadata"]["name"] for r in readers) == ["r2-enclii-backups", "r2-enclii-etcd"]
    writer_keys = reveal(writer.inputs["stringData"])
    assert sorted(writer_keys) == ["ACCESS_KEY_ID", "ACCESS_SECRET_KEY"]
    for r in readers:
        assert r.secret_inputs == ["stringData"]
        assert reveal(r.inputs["stringData"])["ACCESS_KEY_ID"] != writer_keys["ACCESS_KEY_ID"]


def test_the_drill_cronjob_passes_every_value_as_one_argument(rec: Recorder) -> None:
    job = rec.one(CRONJOB, "enclii-data-drill-restore").inputs
    assert job["metadata"]["namespace"] == "enclii-drill"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python3", "/opt/enclii-drill/drill_program.py"]
    assert container["args"] == [
        "restore", "--bucket", "enclii-backups", "--prefix", "postgres/enclii-pg/", "--workdir", "/scratch",
        "--pg-bin", "/usr/lib/postgresql/17/bin", "--user", "postgres", "--database", "postgres",
        "--check-query", HOSTILE_QUERY, "--timeout", "2580", "--pushgateway", "http://pushgateway.monitoring.svc:9091",
    ]
    assert job["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 2700
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    assert pod["automountServiceAccountToken"] is False
    fresh = rec.one(CRONJOB, "enclii-data-drill-freshness").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    args = {c["name"]: c["args"] for c in fresh["containers"]}
    assert args["freshness-postgres"][:4] == ["freshness", "--bucket", "enclii-backups", "--check"]
    assert args["freshness-postgres"][4] == "postgres=postgres/enclii-pg/base/=86400"
    assert args["freshness-etcd"][4] == "etcd=etcd/=21600"


def test_the_configmap_ships_the_tested_program_verbatim(rec: Recorder) -> None:
    cm = rec.one("kubernetes:core/v1:ConfigMap", "enclii-data-drill-program").inputs
    assert cm["data"]["drill_program.py"] == Path(drill_program.__file__).read_text() == program_text()


def test_alerts_cover_stale_backups_of_every_kind_and_failed_drills(rec: Recorder) -> None:
    rule = rec.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "enclii-data-drill-alerts").inputs
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert sorted(alerts) == ["EncliiBackupMissing", "EncliiBackupStale", "EncliiRestoreDrillFailed",
                              "EncliiRestoreDrillMissing"]
    assert "> 2 * max by (kind, bucket, prefix) (enclii_backup_interval_seconds)" in alerts["EncliiBackupStale"]["expr"]
    assert alerts["EncliiRestoreDrillFailed"]["expr"] == "max by (bucket, prefix) (enclii_restore_drill_success) == 0"


def test_every_data_object_passes_its_schema_and_checkov(rec: Recorder, tmp_path: Path) -> None:
    docs = []
    for r in data_records(rec):
        if r.type.startswith("kubernetes:") and r.type != "kubernetes:yaml/v2:ConfigFile":
            docs.append(_ints(reveal(r.inputs)))
    kinds = sorted({d["kind"] for d in docs})
    assert kinds == ["Cluster", "ConfigMap", "CronJob", "Namespace", "NetworkPolicy", "PodDisruptionBudget",
                     "PrometheusRule", "ScheduledBackup", "Secret", "Service", "ServiceAccount", "StatefulSet"]
    assert kubernetes_validate(docs) == []
    for i, doc in enumerate(docs):
        (tmp_path / f"{i:02d}.yaml").write_text(yaml.safe_dump(doc))
    failed = checkov_failures(tmp_path, ["CKV_K8S_35"])
    assert [(f["check_id"], f["resource"]) for f in failed] == []


def test_the_upstream_schema_rejects_a_misspelt_field_and_the_vendored_crds_are_unmodified() -> None:
    spec = build_platform(platform_data())
    from enclii_iac.data.postgres import BackupTarget, cluster_manifest

    assert spec.data is not None and spec.data.postgres is not None
    good = cluster_manifest(spec.data.postgres, BackupTarget("https://r2.example", "b", "postgres"))
    assert validate_custom(good) == []
    bad = copy.deepcopy(good)
    bad["spec"]["backup"]["barmanObjectStore"]["walArchive"] = {"compression": "gzip"}
    bad["spec"]["instances"] = "one"
    errors = validate_custom(bad)
    assert any("walArchive" in e for e in errors) and any("instances" in e for e in errors)
    readme = (UPSTREAM_CRDS / "README.md").read_text()
    for path in sorted(UPSTREAM_CRDS.glob("*.yaml")):
        assert f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}" in readme


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["data"]["postgres"]["backup"].update(archiveTimeout="10min"),
         "archiveTimeout: must be between 1s and 5min"),
        (lambda d: d["data"]["postgres"].update(image="ghcr.io/cloudnative-pg/postgresql:17"),
         "data.postgres.image: production images must be pinned by digest"),
        (lambda d: d["data"].pop("postgres"), "drill: needs postgres.backup"),
    ],
)
def test_invalid_data_specs_fail_naming_the_field(change: Any, message: str) -> None:
    data = platform_data()
    change(data)
    with pytest.raises(SpecError) as err:
        build_platform(data)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda d: d["edge"]["r2"]["buckets"]["backups"]["tokens"].pop("drill"), "data.drill.token",
         "has no read token 'drill'"),
        (lambda d: d["edge"]["r2"]["buckets"]["etcd"]["tokens"].pop("drill"), "edge.r2.buckets.etcd.tokens",
         "measures the etcd snapshots too"),
        (lambda d: d["data"]["postgres"]["backup"].update(bucket="nope"), "data.postgres.backup.bucket",
         "no R2 bucket named 'nope'"),
    ],
)
def test_missing_tokens_fail_before_anything_is_declared(change: Any, path: str, message: str) -> None:
    data = platform_data()
    change(data)
    spec = build_platform(data)
    rec = Recorder(project="enclii", stack="production")
    with pytest.raises(SpecError) as err:
        from enclii_iac.cloudflare import cf

        rec.run(lambda: EncliiPlatform("enclii", spec,
                                       providers=PlatformProviders(cloudflare=cf.Provider("cf", api_token="t")),
                                       ssh_private_key=HOST_PRIVATE))
    assert any(i.path == path and message in i.message for i in err.value.issues), err.value.issues
    assert [r.type for r in rec if r.type.startswith("kubernetes:")] == []


def test_a_restored_cluster_archives_into_a_new_folder_and_the_drill_follows_it() -> None:
    data = platform_data()
    data["data"]["postgres"]["backup"]["serverName"] = "enclii-pg-2"
    rec = declare(build_platform(data))
    store = rec.one(CLUSTER, "enclii-data-postgres-cluster").inputs["spec"]["backup"]["barmanObjectStore"]
    assert store["serverName"] == "enclii-pg-2"
    args = rec.one(CRONJOB, "enclii-data-drill-restore").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"][0]["args"]
    assert args[args.index("--prefix") + 1] == "postgres/enclii-pg-2/"
    fresh = rec.one(CRONJOB, "enclii-data-drill-freshness").inputs["spec"]["jobTemplate"]["spec"]["template"][
        "spec"]["containers"]
    assert "postgres=postgres/enclii-pg-2/base/=86400" in fresh[1]["args"] + fresh[0]["args"]


def test_a_preview_platform_protects_nothing_and_declares_no_drill_without_one() -> None:
    data = platform_data(postgres={"image": "ghcr.io/cloudnative-pg/postgresql:17", "installOperator": False})
    data["stage"] = "preview"
    rec = declare(build_platform(data))
    cluster = rec.one(CLUSTER, "enclii-data-postgres-cluster")
    assert not cluster.protect and "backup" not in cluster.inputs["spec"]
    assert rec.count(SCHEDULED) == 0 and rec.count(CRONJOB) == 0
    assert rec.count("kubernetes:yaml/v2:ConfigFile") == 0


def test_redis_runs_three_sentinels_with_persistence_and_a_secret_password(rec: Recorder, tmp_path: Path) -> None:
    from enclii_iac.data.redis import redis_script, sentinel_script
    from tests.conftest import shellcheck

    sts = rec.one("kubernetes:apps/v1:StatefulSet", "enclii-data-redis-sts")
    assert sts.protect and sts.retain_on_delete
    assert rec.parent_of(sts).type == "enclii:index:PlatformRedis"
    spec = sts.inputs["spec"]
    assert spec["replicas"] == 3 and spec["serviceName"] == "enclii-redis-headless"
    assert [c["name"] for c in spec["template"]["spec"]["containers"]] == ["redis", "sentinel"]
    assert spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    auth = rec.one(SECRET, "enclii-data-redis-auth")
    assert auth.secret_inputs == ["stringData"]
    password = rec.one("random:index/randomPassword:RandomPassword", "enclii-data-redis-password")
    assert password.inputs["special"] is False and password.provider_name == "enclii-random"
    # the namespace is PostgreSQL's: declared once
    assert [r.inputs["metadata"]["name"] for r in rec.of_type("kubernetes:core/v1:Namespace")
            if r.name.startswith("enclii-data-")].count("enclii-data") == 1
    assert rec.one("kubernetes:policy/v1:PodDisruptionBudget", "enclii-data-redis-pdb").inputs["spec"][
        "minAvailable"] == 2
    cm = rec.one("kubernetes:core/v1:ConfigMap", "enclii-data-redis-scripts").inputs["data"]
    assert cm == {"redis.sh": redis_script(), "sentinel.sh": sentinel_script()}
    assert "sentinel monitor %s %s 6379 2" in cm["sentinel.sh"] and "appendonly yes" in cm["redis.sh"]
    for key, text in cm.items():
        path = tmp_path / key
        path.write_text(text)
        res = shellcheck(path)
        assert res.returncode == 0, res.stdout

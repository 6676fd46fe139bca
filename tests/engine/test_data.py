"""The data layer in a real kube-apiserver: CloudNativePG's CRDs and the objects enclii_iac declares.

The CRDs come from the operator's Go module (``tools/engine/build.sh cnpg-crds``). The platform's data layer is
declared under the recorder exactly as the production stack declares it (the operator install left out: the
cluster "already runs" it) and every object is applied server-side with strict field validation, so a field
the CRD does not know is an error, not silently pruned. A Job made from the drill CronJob must get its pod
past Pod Security "restricted". The module deletes what it applied.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from enclii_iac.models.loader import build_platform
from enclii_iac.testing import reveal
from tests.components.test_data import _ints, data_records, declare, platform_data
from tests.engine.harness import EngineMissing, LocalCluster, engine_cache

pytestmark = [
    pytest.mark.engine,
    pytest.mark.filterwarnings("ignore:Exception ignored in.*SSLSocket:pytest.PytestUnraisableExceptionWarning"),
]

MANAGER = "enclii-engine-data"


def _apply_crds(c: LocalCluster) -> None:
    crds = engine_cache() / "crds-cnpg"
    files = sorted(crds.glob("*.yaml"))
    if not files:
        raise EngineMissing(f"no CloudNativePG CRDs in {crds}; run `bash tools/engine/build.sh cnpg-crds`")
    for f in files:
        c.kubectl("apply", "--server-side", "-f", str(f))
    deadline = time.monotonic() + 60
    for name in ("clusters", "scheduledbackups", "backups"):
        # a CRD has no status.conditions for a moment after create: kubectl wait fails then, so poll
        while not _established(c, f"{name}.postgresql.cnpg.io"):
            assert time.monotonic() < deadline, f"CRD {name}.postgresql.cnpg.io never became Established"
            time.sleep(0.5)


def _established(c: LocalCluster, crd: str) -> bool:
    status = json.loads(c.kubectl("get", f"crd/{crd}", "-o", "json").stdout).get("status") or {}
    return any(x.get("type") == "Established" and x.get("status") == "True" for x in status.get("conditions") or [])


def _apply(c: LocalCluster, doc: dict[str, Any], check: bool = True) -> Any:
    return c.kubectl("apply", "--server-side", f"--field-manager={MANAGER}", "--validate=strict", "-f", "-",
                     input=yaml.safe_dump(doc), check=check)


def _within(declared: Any, live: Any) -> bool:
    if isinstance(declared, dict):
        return isinstance(live, dict) and all(k in live and _within(v, live[k]) for k, v in declared.items())
    if isinstance(declared, list):
        return isinstance(live, list) and len(declared) == len(live) and all(map(_within, declared, live))
    return bool(declared == live)


@pytest.fixture(scope="module")
def docs(cluster: LocalCluster) -> Iterator[list[dict[str, Any]]]:
    _apply_crds(cluster)
    data = platform_data()
    data["data"]["postgres"]["installOperator"] = False
    rec = declare(build_platform(data))
    out = [_ints(reveal(r.inputs)) for r in data_records(rec) if r.type.startswith("kubernetes:")]
    order = {"Namespace": 0, "CustomResourceDefinition": 0}
    out.sort(key=lambda d: order.get(d["kind"], 1))
    try:
        yield out
    finally:
        for ns in ("enclii-data", "enclii-drill"):
            cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)


def test_every_data_object_is_accepted_with_strict_field_validation(cluster: LocalCluster,
                                                                     docs: list[dict[str, Any]]) -> None:
    kinds = []
    for doc in docs:
        res = _apply(cluster, doc, check=False)
        assert res.returncode == 0, f"{doc['kind']}/{doc['metadata']['name']}: {res.stderr}"
        assert "Warning" not in res.stderr, res.stderr
        kinds.append(doc["kind"])
    assert sorted(set(kinds)) == ["Cluster", "ConfigMap", "CronJob", "Namespace", "NetworkPolicy",
                                  "PodDisruptionBudget", "PrometheusRule", "ScheduledBackup", "Secret", "Service",
                                  "ServiceAccount", "StatefulSet"]
    live = json.loads(cluster.kubectl("get", "clusters.postgresql.cnpg.io", "enclii-pg", "-n", "enclii-data",
                                      "-o", "json").stdout)
    declared = next(d for d in docs if d["kind"] == "Cluster")
    for key in ("backup", "bootstrap", "postgresql", "storage", "imageName", "instances"):
        # nothing pruned by the structural schema (the API server adds the CRD's defaults, e.g. backup.target)
        assert _within(declared["spec"][key], live["spec"][key]), key
    sched = json.loads(cluster.kubectl("get", "scheduledbackups.postgresql.cnpg.io", "-n", "enclii-data",
                                       "-o", "json").stdout)["items"]
    assert [s["spec"]["schedule"] for s in sched] == ["0 0 3 * * *"]


def test_the_real_crd_rejects_a_field_it_does_not_define(cluster: LocalCluster, docs: list[dict[str, Any]]) -> None:
    bad = json.loads(json.dumps(next(d for d in docs if d["kind"] == "Cluster")))
    bad["metadata"]["name"] = "misspelt"
    bad["spec"]["backup"]["barmanObjectStore"]["walArchive"] = {"compression": "gzip"}
    res = _apply(cluster, bad, check=False)
    assert res.returncode != 0
    assert ".spec.backup.barmanObjectStore.walArchive: field not declared in schema" in res.stderr


def test_a_drill_job_pod_passes_pod_security_restricted(cluster: LocalCluster, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        _apply(cluster, doc)
    cluster.kubectl("create", "job", "drill-now", "--from=cronjob/restore-drill", "-n", "enclii-drill")
    deadline = time.monotonic() + 60
    pods: list[Any] = []
    while time.monotonic() < deadline and not pods:
        pods = json.loads(cluster.kubectl("get", "pods", "-n", "enclii-drill", "-l", "job-name=drill-now",
                                          "-o", "json").stdout)["items"]
        time.sleep(1)
    events = cluster.kubectl("get", "events", "-n", "enclii-drill", "-o", "json").stdout
    assert pods, f"the Job made no pod: {events}"
    assert "violates PodSecurity" not in events
    (pod,) = pods
    assert pod["spec"]["containers"][0]["args"][:2] == ["restore", "--bucket"]


def test_the_redis_pods_pass_pod_security_restricted(cluster: LocalCluster, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        _apply(cluster, doc)
    deadline = time.monotonic() + 90
    pods: list[Any] = []
    while time.monotonic() < deadline and len(pods) < 3:
        pods = json.loads(cluster.kubectl("get", "pods", "-n", "enclii-data", "-l", "app.kubernetes.io/name=redis",
                                          "-o", "json").stdout)["items"]
        time.sleep(1)
    events = cluster.kubectl("get", "events", "-n", "enclii-data", "-o", "json").stdout
    assert sorted(p["metadata"]["name"] for p in pods) == ["enclii-redis-0", "enclii-redis-1", "enclii-redis-2"], events
    assert "violates PodSecurity" not in events

"""The Kubernetes layer of stacks/production through the real engine, provider and API server.

One deployment per module, configured with `pulumi config set` exactly as the README tells users to
deploy onto a cluster they already run; the tests run in order against it: up, what was declared, what
the cluster admitted, no-change previews, updates, renames, a strategy switch, and protection.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import EXISTING_CLUSTER, copy_stacks, new_pulumi, steps_by_op, tenant_secret_keys
from tests.engine.harness import ROOT, LocalCluster, Pulumi, PulumiError

pytestmark = pytest.mark.engine

STACK = "production"


@dataclass
class Deployed:
    pulumi: Pulumi
    stack_dir: Path
    cluster: LocalCluster
    tmp: Path

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.stack_dir / rel
        text = path.read_text()
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1))


def configure(p: Pulumi, stack_dir: Path, kubeconfig: Path, stack: str = STACK) -> None:
    """The README's commands for the Kubernetes layer on an existing cluster."""
    p.run("stack", "init", stack)
    p.run("config", "set", "enclii:platform", EXISTING_CLUSTER)
    p.run("config", "set", "--secret", "enclii:kubeconfig", input=kubeconfig.read_text())
    for key, name in tenant_secret_keys(stack_dir, stack):
        p.run("config", "set", "--secret", "--path", f'enclii:tenantSecrets["{key}"].{name}',
              f"postgres://{key.replace('/', '-')}@db.example/{name.lower()}")


@pytest.fixture(scope="module")
def prod(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    tmp = tmp_path_factory.mktemp("production")
    stacks = copy_stacks(tmp / "stacks")
    stack_dir = stacks / "production"
    p = new_pulumi(stack_dir, tmp)
    configure(p, stack_dir, cluster.kubeconfig_path)
    p.run("up", "--yes", "--skip-preview", timeout=1500)
    yield Deployed(p, stack_dir, cluster, tmp)


def _engine_identities(p: Pulumi) -> set[tuple[str, str]]:
    """(qualified type chain, name) of every resource in the stack's state, the Stack itself excepted."""
    out = set()
    for urn in p.urns():
        _, _, qualified, name = urn.split("::", 3)
        if qualified == "pulumi:pulumi:Stack":
            continue
        out.add((qualified, name))
    return out


def _synth_identities(stack_dir: Path, out: Path) -> set[tuple[str, str]]:
    subprocess.run([str(ROOT / ".venv" / "bin" / "enclii-iac"), "synth", str(stack_dir), "--stack", STACK,
                    "--out", str(out)], check=True, capture_output=True, text=True, timeout=300)
    records = json.loads((out / "resources.json").read_text())
    parent = {(r["type"], r["name"]): r["parent"] for r in records}

    def chain(type_: str, name: str) -> str:  # the URN's qualified type: parent types joined by "$"
        p = parent[(type_, name)]
        if not p or p == "(stack)" or "pulumi:pulumi:Stack" in p:
            return type_
        ptype, pname = p.split(" ", 1)
        return f"{chain(ptype, pname)}${type_}"

    return {(chain(r["type"], r["name"]), r["name"]) for r in records if r["type"] != "pulumi:pulumi:Stack"}


def test_up_creates_exactly_what_synth_lists(prod: Deployed) -> None:
    engine = _engine_identities(prod.pulumi)
    synth = _synth_identities(prod.stack_dir, prod.tmp / "synth")
    assert engine == synth, {"only in the engine": sorted(engine - synth), "only in synth": sorted(synth - engine)}
    types = {t.rsplit("$", 1)[-1] for t, _ in engine}
    assert "pulumi:providers:kubernetes" in types
    # a Kubernetes-only platform declares no provider it does not use
    assert not {t for t in types if t.startswith("pulumi:providers:") and t != "pulumi:providers:kubernetes"}


def _tenant_namespaces(c: LocalCluster) -> list[dict[str, Any]]:
    items = c.api("GET", "/api/v1/namespaces?labelSelector=enclii.dev/project")["items"]
    return list(items)


def test_every_tenant_pod_is_admitted_by_pod_security_restricted_and_running(prod: Deployed) -> None:
    c = prod.cluster
    namespaces = _tenant_namespaces(c)
    assert namespaces, "no tenant namespace"
    for ns in namespaces:
        labels = ns["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted", ns["metadata"]["name"]
    pods = [p for ns in namespaces
            for p in c.api("GET", f"/api/v1/namespaces/{ns['metadata']['name']}/pods")["items"]]
    assert pods
    not_ok = [(p["metadata"]["namespace"], p["metadata"]["name"], p["status"].get("phase")) for p in pods
              if p["status"].get("phase") not in ("Running", "Succeeded")]
    assert not not_ok, not_ok
    assert all(p["spec"]["nodeName"] == "ax41" for p in pods)
    # every Deployment and ReplicaSet got all its pods: nothing was refused by admission
    for ns in namespaces:
        name = ns["metadata"]["name"]
        for d in c.api("GET", f"/apis/apps/v1/namespaces/{name}/deployments")["items"]:
            assert d["status"].get("availableReplicas", 0) == d["spec"]["replicas"], d["metadata"]["name"]
        events = c.api("GET", f"/api/v1/namespaces/{name}/events")["items"]
        refused = [e["message"] for e in events if e.get("reason") == "FailedCreate"]
        assert not refused, refused
    # and the namespaces really enforce it: a pod without the restricted profile's settings is refused
    res = c.kubectl("run", "intruder", "-n", namespaces[0]["metadata"]["name"], "--image=busybox",
                    "--dry-run=server", check=False)
    assert res.returncode != 0 and 'violates PodSecurity "restricted' in res.stderr, res.stderr


def test_a_second_preview_expects_no_changes(prod: Deployed) -> None:
    prod.pulumi.run("preview", "--expect-no-changes")


def test_a_refreshed_preview_after_jobs_finish_expects_no_changes(prod: Deployed) -> None:
    c = prod.cluster
    jobs = [j for ns in _tenant_namespaces(c)
            for j in c.api("GET", f"/apis/batch/v1/namespaces/{ns['metadata']['name']}/jobs")["items"]
            if not j["metadata"].get("ownerReferences")]  # the stack's own Jobs, not a CronJob's
    assert jobs, "the example stack declares a one-off Job"
    assert all(j["status"].get("succeeded") == 1 for j in jobs), [j["status"] for j in jobs]
    assert all("ttlSecondsAfterFinished" not in j["spec"] for j in jobs)
    prod.pulumi.run("preview", "--refresh", "--expect-no-changes")


def test_replicas_image_and_env_changes_only_update(prod: Deployed) -> None:
    prod.edit("tenants/shop.yaml", "LOG_LEVEL: info", "LOG_LEVEL: debug")
    prod.edit("tenants/shop.yaml", "replicas: {min: 2, max: 10}", "replicas: {min: 3, max: 10}")
    steps = steps_by_op(prod.pulumi.preview_steps())
    changed = {op: urns for op, urns in steps.items() if op != "same"}
    assert set(changed) == {"update"}, changed
    assert all("Deployment" in urn or "HorizontalPodAutoscaler" in urn for urn in changed["update"]), changed
    prod.pulumi.run("up", "--yes", "--skip-preview", timeout=900)
    prod.pulumi.run("preview", "--expect-no-changes")
    worker = "shop-worker@sha256:bb43c09bb1ec7707a24fa64aab697bb489978b1237c728b252c0678b5269efa9"
    prod.edit("tenants/shop.yaml", worker, "shop-worker@sha256:" + "5" * 64)
    steps = steps_by_op(prod.pulumi.preview_steps())
    assert set(steps) - {"same"} == {"update"}, {k: v for k, v in steps.items() if k != "same"}
    assert [u for u in steps["update"] if "worker" in u and u.endswith("-deployment")], steps["update"]
    prod.pulumi.run("up", "--yes", "--skip-preview", timeout=900)
    prod.pulumi.run("preview", "--expect-no-changes")


def test_renamed_service_and_project_keep_every_identity(prod: Deployed) -> None:
    # a service renamed in its enclii.yaml, and a Python tenant project renamed in tenants.py
    prod.edit("tenants/shop.yaml", "metadata: {name: nightly, project: shop}\nspec:\n",
              "metadata: {name: nightly-report, project: shop}\nspec:\n  renamedFrom: [nightly]\n")
    prod.edit("tenants.py", "ProjectSpec(\n", "ProjectSpec(\n    renamed_from=[\"blog\"],\n")
    prod.edit("tenants.py", 'PYTHON_TENANTS = {"blog": BLOG}', 'PYTHON_TENANTS = {"journal": BLOG}')
    before = {(r["metadata"]["namespace"], r["metadata"]["name"], r["metadata"]["uid"])
              for r in prod.cluster.api("GET", "/apis/batch/v1/cronjobs")["items"]}
    steps = steps_by_op(prod.pulumi.preview_steps())
    changed = {op: urns for op, urns in steps.items() if op != "same"}
    assert not changed, changed
    prod.pulumi.run("up", "--yes", "--skip-preview", timeout=900)
    after = {(r["metadata"]["namespace"], r["metadata"]["name"], r["metadata"]["uid"])
             for r in prod.cluster.api("GET", "/apis/batch/v1/cronjobs")["items"]}
    assert after == before  # the same objects, not re-created ones
    urns = prod.pulumi.urns()
    assert any("nightly-report" in u for u in urns) and not any(u.endswith("::shop-prod-nightly") for u in urns)
    assert any(u.endswith("::enclii-journal") for u in urns) and not any(u.endswith("::enclii-blog") for u in urns)
    prod.pulumi.run("preview", "--expect-no-changes")


def _ready_pods(c: LocalCluster, namespace: str, service: str) -> int:
    pods = c.api("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector=enclii.dev/service={service}")["items"]
    return sum(
        1 for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and p["metadata"].get("labels", {}).get("enclii.dev/track") != "canary"
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    )


def test_rolling_to_canary_keeps_ready_pods_throughout(prod: Deployed) -> None:
    c = prod.cluster
    pods = c.api("GET", "/api/v1/namespaces/shop-prod/pods?labelSelector=enclii.dev/service=api")["items"]
    assert _ready_pods(c, "shop-prod", "api") >= 2, [
        (p["metadata"]["name"], p["status"].get("phase"), p["status"].get("conditions")) for p in pods]
    prod.edit("tenants/shop.yaml", "  deploy: {strategy: rolling}\n", "  deploy:\n    strategy: canary\n    canary:\n"
              "      image: ghcr.io/acme/shop-api@sha256:" + "7" * 64 + "\n      steps: [10, 50]\n"
              "      currentStep: 0\n")
    steps = steps_by_op(prod.pulumi.preview_steps())
    assert not steps.get("replace") and not steps.get("create-replacement"), steps
    samples: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            samples.append(_ready_pods(c, "shop-prod", "api"))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        prod.pulumi.run("up", "--yes", "--skip-preview", timeout=900)
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert len(samples) > 10 and min(samples) >= 2, samples
    listed = c.api("GET", "/apis/apps/v1/namespaces/shop-prod/deployments")["items"]
    deployments = {d["metadata"]["name"] for d in listed}
    assert {"api-stable", "api-canary"} <= deployments and "api" not in deployments
    prod.pulumi.run("preview", "--expect-no-changes")


def test_protected_resources_refuse_deletion(prod: Deployed) -> None:
    with pytest.raises(PulumiError) as err:
        prod.pulumi.run("destroy", "--yes", timeout=600)  # its preview refuses before anything is deleted
    assert "protect" in str(err.value)
    assert _tenant_namespaces(prod.cluster), "a refused destroy deleted namespaces"

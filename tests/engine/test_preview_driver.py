"""``enclii-iac preview up|list|gc|destroy`` through the real Pulumi CLI (Automation API), a file backend and
the local API server, against a stand-in production stack (see test_preview.py).

One run covers two PR stacks, an update with a new digest, the stack lock refusing a second run for one PR,
list, gc of an expired preview from a fresh checkout (no Pulumi.pr-<n>.yaml), destroy; another an ``up``
that fails midway and the ``gc`` that still cleans it.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine.conftest import copy_stacks, new_pulumi
from tests.engine.harness import ROOT, LocalCluster, Pulumi

pytestmark = pytest.mark.engine

PRODUCTION_SECRET = "postgres://PRODUCTION-ONLY@prod-db/shop"
STANDIN = '''"""Stand-in for the production stack: exports the cluster's kubeconfig, as production does."""
import pulumi

pulumi.export("kubeconfig", pulumi.Config("enclii").require_secret("kubeconfig"))
'''
PRODUCTION_API_DIGEST = "sha256:982d4486a936e2e63d7985287730247ad18514560524c8e0f7cc769dcea7dec8"
NEW_DIGEST = "sha256:" + "c0ffee" * 10 + "c0ff"


def _standin(base: Path, kubeconfig: Path) -> None:
    """The production stand-in, holding a production secret value no preview may ever see."""
    project = base / "standin-production"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(yaml.safe_dump({
        "name": "enclii-production",
        "runtime": {"name": "python", "options": {"virtualenv": str(ROOT / ".venv")}},
    }))
    (project / "__main__.py").write_text(STANDIN)
    p = new_pulumi(project, base)
    p.run("stack", "init", "production")
    p.run("config", "set", "--secret", "enclii:kubeconfig", input=kubeconfig.read_text())
    p.run("config", "set", "--secret", "--path", 'enclii:tenantSecrets["shop/api"].DATABASE_URL', PRODUCTION_SECRET)
    p.run("up", "--yes", "--skip-preview")


def _secrets(base: Path, pr: int) -> Path:
    path = base / f"secrets-{pr}.json"
    path.write_text(json.dumps({f"shop/{s}": {"DATABASE_URL": f"postgres://pr-{pr}@preview-db/{s}"}
                                for s in ("api", "worker", "migrate")}))
    return path


class Cli:
    """``enclii-iac preview ...`` as CI runs it: a subprocess with the backend and passphrase in its environment."""

    def __init__(self, p: Pulumi, stack_dir: Path) -> None:
        self.env = {**p.env(), "PYTHONPATH": str(ROOT)}
        self.stack_dir = stack_dir

    def argv(self, *args: str) -> list[str]:
        return [str(ROOT / ".venv" / "bin" / "enclii-iac"), "preview", *args, "--stack-dir", str(self.stack_dir),
                "--json", "-q"]

    def run(self, *args: str, ok: bool = True) -> dict[str, Any]:
        res = subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True, timeout=1200)
        assert (res.returncode == 0) == ok, f"rc={res.returncode}\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
        data: dict[str, Any] = json.loads(res.stdout)
        return data

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)


def _namespaces(c: LocalCluster, pr: int) -> dict[str, dict[str, str]]:
    items = c.api("GET", f"/api/v1/namespaces?labelSelector=enclii.dev/environment=preview-pr-{pr}")["items"]
    return {n["metadata"]["name"]: n["metadata"]["labels"] for n in items if "deletionTimestamp" not in n["metadata"]}


def _images(c: LocalCluster, ns: str) -> dict[str, str]:
    items = c.api("GET", f"/apis/apps/v1/namespaces/{ns}/deployments")["items"]
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"] for d in items}


def _secret(c: LocalCluster, ns: str, name: str, key: str) -> str:
    import base64

    data = c.api("GET", f"/api/v1/namespaces/{ns}/secrets/{name}")["data"]
    return base64.b64decode(data[key]).decode()


def _gone(c: LocalCluster, pr: int, timeout: float = 180) -> bool:
    deadline = time.monotonic() + timeout
    while _namespaces(c, pr) and time.monotonic() < deadline:
        time.sleep(1)
    return not _namespaces(c, pr)


def _expire(p: Pulumi, stack: str) -> None:
    """Move a preview's recorded expiry into the past, as the passing of its TTL would."""
    tag = json.loads(p.run("stack", "tag", "get", "enclii:preview", "--stack", stack).stdout)
    tag["expiresAt"] = "2026-01-01T00:00:00Z"
    p.run("stack", "tag", "set", "enclii:preview", json.dumps(tag), "--stack", stack)


def _lock_files(backend: Path) -> list[Path]:
    return [f for f in (backend / ".pulumi" / "locks").rglob("*") if f.is_file()] if backend.exists() else []


def test_two_previews_update_lock_list_gc_and_destroy(cluster: LocalCluster, tmp_path: Path) -> None:
    _standin(tmp_path, cluster.kubeconfig_path)
    stack_dir = copy_stacks(tmp_path / "stacks") / "preview"
    p = new_pulumi(stack_dir, tmp_path)
    cli = Cli(p, stack_dir)

    one = cli.run("up", "--pr", "1", "--secrets", str(_secrets(tmp_path, 1)))
    assert one["created"] and one["changes"]["create"] > 40
    assert "https://web-shop-pr-1.preview.example.com" in one["urls"]
    assert "https://app-blog-pr-1.preview.example.com" in one["urls"]  # Python tenants too
    namespaces = _namespaces(cluster, 1)
    assert sorted(namespaces) == ["blog-preview-pr-1", "shop-preview-pr-1"]
    labels = namespaces["shop-preview-pr-1"]
    assert labels["enclii.dev/ttl-hours"] == "72"
    assert int(labels["enclii.dev/expires-at"]) - int(time.time()) in range(71 * 3600, 72 * 3600 + 60)
    prod_images = _images(cluster, "shop-preview-pr-1")
    assert prod_images["api"] == f"ghcr.io/acme/shop-api@{PRODUCTION_API_DIGEST}"
    # per-PR secrets reach the pods' Secret; production's value never does
    assert _secret(cluster, "shop-preview-pr-1", "api-env", "DATABASE_URL") == "postgres://pr-1@preview-db/api"
    assert PRODUCTION_SECRET not in p.run("stack", "export", "--show-secrets", "--stack", "pr-1").stdout

    # a second run for PR 2 while the first holds the stack lock is refused, clearly
    first = cli.start("up", "--pr", "2", "--ttl", "1h", "--secrets", str(_secrets(tmp_path, 2)))
    try:
        deadline = time.monotonic() + 300
        while not _lock_files(tmp_path / "state") and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _lock_files(tmp_path / "state"), "the first run never took the stack lock"
        # refused however often it is tried while the lock is held (each try once raced the lock holder's
        # checkpoint writes on this file backend)
        for _ in range(3):
            second = cli.run("up", "--pr", "2", "--ttl", "1h", "--secrets", str(_secrets(tmp_path, 2)), ok=False)
            assert second["error"] == "PreviewLocked", second
            assert second["message"].startswith(
                "preview pr-2 is locked by another run (the state backend's stack lock)")
            assert cli.run("destroy", "--pr", "2", ok=False)["error"] == "PreviewLocked"
        out, err = first.communicate(timeout=1200)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 0, err[-4000:]
    assert json.loads(out)["ttlHours"] == 1
    assert sorted(_namespaces(cluster, 2)) == ["blog-preview-pr-2", "shop-preview-pr-2"]

    # an update with a new digest changes that service only
    upd = cli.run("up", "--pr", "1", "--image", f"shop/api={NEW_DIGEST}", "--secrets", str(_secrets(tmp_path, 1)))
    assert not upd["created"] and upd["changes"].get("update", 0) >= 1 and "create" not in upd["changes"]
    images = _images(cluster, "shop-preview-pr-1")
    assert images["api"] == f"ghcr.io/acme/shop-api@{NEW_DIGEST}"
    assert {k: v for k, v in images.items() if k != "api"} == {k: v for k, v in prod_images.items() if k != "api"}

    listed = {x["pr"]: x for x in cli.run("list")["previews"]}
    assert sorted(listed) == [1, 2]
    assert listed[1]["images"] == {"shop/api": f"ghcr.io/acme/shop-api@{NEW_DIGEST}"}
    assert listed[2]["ttlHours"] == 1 and not listed[2]["expired"] and listed[2]["monthlyCost"] > 0
    assert listed[1]["urls"] == one["urls"] and listed[1]["ageHours"] < 1

    # gc from a fresh checkout: no stack config files, only the state backend
    _expire(p, "pr-2")
    for f in stack_dir.glob("Pulumi.pr-*.yaml"):
        f.unlink()
    gc = cli.run("gc")
    assert [(e["pr"], e["reason"]) for e in gc["destroyed"]] == [(2, "expired at 2026-01-01T00:00:00Z")]
    assert gc["kept"] == [1] and gc["ok"]
    assert _gone(cluster, 2), "an expired preview survived gc"
    assert sorted(_namespaces(cluster, 1)) == ["blog-preview-pr-1", "shop-preview-pr-1"]

    assert cli.run("destroy", "--pr", "1")["destroyed"] is True
    assert _gone(cluster, 1), "a preview namespace survived destroy"
    assert cli.run("list")["previews"] == []
    assert cli.run("destroy", "--pr", "1")["destroyed"] is False


def test_an_up_that_fails_midway_is_still_collected(cluster: LocalCluster, tmp_path: Path) -> None:
    _standin(tmp_path, cluster.kubeconfig_path)
    stack_dir = copy_stacks(tmp_path / "stacks") / "preview"
    p = new_pulumi(stack_dir, tmp_path)
    cli = Cli(p, stack_dir)
    # someone else's object where the blog preview's quota goes: its field conflicts stop the update there,
    # while the shop project's resources are created
    intruder = {"apiVersion": "v1", "kind": "ResourceQuota",
                "metadata": {"name": "quota", "namespace": "blog-preview-pr-3"}, "spec": {"hard": {"pods": "3"}}}
    cluster.kubectl("create", "namespace", "blog-preview-pr-3")
    cluster.kubectl("apply", "--server-side", "--field-manager=intruder", "-f", "-", input=json.dumps(intruder))
    try:
        failed = cli.run("up", "--pr", "3", "--secrets", str(_secrets(tmp_path, 3)), ok=False)
        assert failed["error"] == "PreviewError" and "pulumi up of preview pr-3 failed" in failed["message"]
        assert "gc` collects it" in failed["message"]
        assert "shop-preview-pr-3" in _namespaces(cluster, 3), "the update did not get midway"
        state = json.loads(p.run("stack", "export", "--stack", "pr-3").stdout)
        assert len(state["deployment"]["resources"]) > 10
        listed = cli.run("list")["previews"]
        assert [x["pr"] for x in listed] == [3] and listed[0]["expiresAt"]

        gc = cli.run("gc", "--closed", "3")
        assert [(e["pr"], e["reason"]) for e in gc["destroyed"]] == [(3, "pull request closed")], gc
        deadline = time.monotonic() + 180
        while "shop-preview-pr-3" in _namespaces(cluster, 3) and time.monotonic() < deadline:
            time.sleep(1)
        assert "shop-preview-pr-3" not in _namespaces(cluster, 3)
        assert "pr-3" not in p.run("stack", "ls").stdout and cli.run("list")["previews"] == []
    finally:
        cluster.kubectl("delete", "namespace", "blog-preview-pr-3", "--ignore-not-found", "--wait=false")

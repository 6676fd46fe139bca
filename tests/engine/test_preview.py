"""stacks/preview through the real engine: up and destroy against a stand-in production stack.

The stand-in is a Pulumi project named like production (``enclii-production``, stack ``production``) in
the same file backend, exporting the cluster's ``kubeconfig`` as a secret, which is all a preview stack
reads from production (a StackReference).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tests.engine.conftest import copy_stacks, new_pulumi, tenant_secret_keys
from tests.engine.harness import ROOT, LocalCluster

pytestmark = pytest.mark.engine

STANDIN = '''"""Stand-in for the production stack: exports the cluster's kubeconfig, as production does."""
import pulumi

pulumi.export("kubeconfig", pulumi.Config("enclii").require_secret("kubeconfig"))
'''


def _standin(base: Path, kubeconfig: Path) -> None:
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
    p.run("up", "--yes", "--skip-preview")


def _namespaces(c: LocalCluster, selector: str) -> list[str]:
    return [n["metadata"]["name"] for n in c.api("GET", f"/api/v1/namespaces?labelSelector={selector}")["items"]]


def test_preview_stack_up_and_destroy_leave_nothing_behind(cluster: LocalCluster, tmp_path: Path) -> None:
    _standin(tmp_path, cluster.kubeconfig_path)
    stack_dir = copy_stacks(tmp_path / "stacks") / "preview"
    p = new_pulumi(stack_dir, tmp_path)
    p.run("stack", "init", "pr-42")  # Pulumi.pr-42.yaml sets enclii:prNumber and the production stack
    for key, name in tenant_secret_keys(stack_dir, "pr-42", python_tenants=False):
        p.run("config", "set", "--secret", "--path", f'enclii:tenantSecrets["{key}"].{name}', "postgres://pr-42@db/x")
    p.run("up", "--yes", "--skip-preview", timeout=900)

    namespaces = _namespaces(cluster, "enclii.dev/environment=preview-pr-42")
    assert namespaces == ["blog-preview-pr-42", "shop-preview-pr-42"]  # YAML and Python tenants
    pods = cluster.api("GET", "/api/v1/namespaces/shop-preview-pr-42/pods")["items"]
    assert pods and all(pod["status"]["phase"] in ("Running", "Succeeded") for pod in pods)
    outputs = p.outputs()
    assert outputs["stage"] == "preview" and outputs["namespaces"] == ["blog-preview-pr-42", "shop-preview-pr-42"]
    assert all(h.endswith("-pr-42.preview.example.com") for h in outputs["hostnames"]), outputs["hostnames"]
    p.run("preview", "--expect-no-changes")

    p.run("destroy", "--yes", "--skip-preview", timeout=900)
    deadline = time.monotonic() + 120
    while _namespaces(cluster, "enclii.dev/environment=preview-pr-42") and time.monotonic() < deadline:
        time.sleep(1)
    assert not _namespaces(cluster, "enclii.dev/environment=preview-pr-42"), "a preview namespace survived destroy"
    p.run("stack", "rm", "--yes", "pr-42")
    assert "pr-42" not in p.run("stack", "ls").stdout

""".github/workflows/preview.yml: forks get nothing, one concurrency group per PR, nightly gc, and every
script passes shellcheck."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "preview.yml"


@pytest.fixture(scope="module")
def wf() -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in job["steps"])


def test_forks_get_no_preview_and_no_secrets(wf: dict[str, Any]) -> None:
    assert set(wf["on"]) == {"pull_request", "schedule", "workflow_dispatch"}  # never pull_request_target
    assert "pull_request_target" not in WORKFLOW.read_text().split("name: preview", 1)[1]
    for name in ("up", "destroy"):
        assert "github.event.pull_request.head.repo.full_name == github.repository" in wf["jobs"][name]["if"]
    assert wf["permissions"] == {"contents": "read"}


def test_one_concurrency_group_per_pr_never_cancelled_midway(wf: dict[str, Any]) -> None:
    assert "github.event.pull_request.number" in wf["concurrency"]["group"]
    assert wf["concurrency"]["cancel-in-progress"] is False


def test_up_comments_urls_and_cost_close_destroys_nightly_gc(wf: dict[str, Any]) -> None:
    jobs = wf["jobs"]
    up = _runs(jobs["up"])
    assert "enclii-iac preview up --pr \"$PR\"" in up and "--secrets" in up and "--json" in up
    assert "enclii-iac cost --help" in up and ".costSource" in up and "gh pr comment" in up
    assert "github.event.action != 'closed'" in jobs["up"]["if"]
    assert "enclii-iac preview destroy --pr" in _runs(jobs["destroy"])
    assert "github.event.action == 'closed'" in jobs["destroy"]["if"]
    assert wf["on"]["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]  # every night
    assert "enclii-iac preview gc --github-repo" in _runs(jobs["gc"])
    assert "schedule" in jobs["gc"]["if"]


def test_secrets_reach_steps_only_through_env(wf: dict[str, Any]) -> None:
    for job in wf["jobs"].values():
        for step in job["steps"]:
            assert "${{secrets." not in str(step.get("run", "")).replace(" ", ""), step.get("name")


def test_every_script_passes_shellcheck(wf: dict[str, Any]) -> None:
    shellcheck = shutil.which("shellcheck") or str(ROOT / ".venv" / "bin" / "shellcheck")
    for name, job in wf["jobs"].items():
        for step in job["steps"]:
            if "run" not in step:
                continue
            script = re.sub(r"\$\{\{[^}]*\}\}", "EXPR", str(step["run"]))
            res = subprocess.run([shellcheck, "-s", "bash", "-"], input=script, capture_output=True, text=True)
            assert res.returncode == 0, f"{name}/{step.get('name')}: {res.stdout}"


def test_every_action_is_pinned_to_a_commit_and_no_checkout_keeps_the_token(wf: dict[str, Any]) -> None:
    """A tag can be moved to other code; a full commit SHA cannot (the tag stays as a comment for readers)."""
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    uses = [s["uses"] for s in steps if "uses" in s]
    assert len(uses) >= 9
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
    for line in WORKFLOW.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40}  # v\d+\.\d+\.\d+$", line), line
    for s in steps:
        if str(s.get("uses", "")).startswith("actions/checkout@"):
            assert s["with"]["persist-credentials"] is False

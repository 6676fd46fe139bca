"""The enclii-iac CLI as a user runs it: exit codes, text and --json output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import enclii_iac
from enclii_iac.cli import main
from tests.conftest import ROOT, STACKS

SHOP = str(STACKS / "production" / "tenants" / "shop.yaml")
PLATFORM = str(STACKS / "production" / "platform.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_ok_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", PLATFORM, SHOP)
    assert code == 0 and out.strip() == "ok: platform 'enclii' (production), 1 project(s), 5 service(s)"
    code, out, _ = run(capsys, "validate", SHOP, "--json")
    data = json.loads(out)
    assert (
        code == 0
        and data["ok"]
        and data["projects"]["shop"]["services"] == ["api", "migrate", "nightly", "web", "worker"]
    )


def test_validate_reports_every_issue_with_paths(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "enclii.yaml"
    bad.write_text(
        'apiVersion: enclii.dev/v1\nkind: Service\nmetadata: {name: "a$(id)", project: shop}\n'
        "spec: {image: x, replicas: {min: 3, max: 1}, colour: blue}\n"
    )
    code, _, err = run(capsys, "validate", str(bad))
    assert code == 1
    assert "metadata.name: 'a$(id)' is not a DNS label" in err
    assert "spec.replicas: min must be <= max (got 3 > 1)" in err
    assert "spec.colour: unknown field" in err
    code, out, _ = run(capsys, "validate", str(bad), "--json")
    issues = json.loads(out)["issues"]
    assert code == 1 and {i["path"] for i in issues} == {"metadata.name", "spec.replicas", "spec.colour"}


def test_missing_file_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "validate", "/no/such/file.yaml")
    assert code == 1 and "cannot read" in err
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_schema_exports_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    data = json.loads(out)
    assert code == 0 and set(data) == {"Service", "Project", "Platform"}
    spec_props = data["Service"]["$defs"]["ServiceSpec"]["properties"]
    assert {"image", "replicas", "autoscale", "routes", "deploy", "slo"} <= set(spec_props)
    assert "targetCPU" in data["Service"]["$defs"]["Autoscale"]["properties"]
    code, out, _ = run(capsys, "schema", "--kind", "Service")
    assert json.loads(out)["title"] == "ServiceDocument"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "version", "--json")
    data = json.loads(out)
    assert code == 0 and data["pulumi"] == "3.272.0" and data["k3s"].startswith("v1.")
    assert data["enclii-iac"] == enclii_iac.__version__


def test_synth_writes_artifacts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "synth", str(STACKS / "production"), "--out", str(tmp_path), "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] and data["resources"] > 100
    assert (tmp_path / "tree.txt").is_file() and (tmp_path / "manifests" / "shop-prod.yaml").is_file()
    assert json.loads((tmp_path / "summary.json").read_text())["resources"] == data["resources"]


def test_synth_of_a_broken_stack_exits_non_zero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "synth", str(tmp_path), "--out", str(tmp_path / "out"))
    assert code == 1 and "no Pulumi.yaml" in err


def test_policy_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "policy", str(STACKS / "production"), "--json")
    data = json.loads(out)
    assert code == 0 and data["violations"] == [] and "production_pdb" in data["rules"]


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "enclii-iac"
    proc = subprocess.run([str(exe), "validate", SHOP], capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: 1 project(s)")

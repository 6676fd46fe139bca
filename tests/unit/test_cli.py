"""The enclii-iac CLI as a user runs it: exit codes, text and --json output."""

from __future__ import annotations

import argparse
import json
import re
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


def test_schema_is_one_document_selected_by_kind(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    data = json.loads(out)
    assert code == 0 and data["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    spec_props = data["$defs"]["ServiceSpec"]["properties"]
    assert {"image", "replicas", "autoscale", "routes", "deploy", "slo"} <= set(spec_props)
    assert "targetCPU" in data["$defs"]["Autoscale"]["properties"]
    code, out, _ = run(capsys, "schema", "--kind", "Service")
    assert json.loads(out)["$ref"] == "#/$defs/ServiceDocument"


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
    assert code == 1 and err.startswith("error: ") and "no Pulumi.yaml" in err


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out == f"enclii-iac {enclii_iac.__version__}\n"


def _parsers(parser: argparse.ArgumentParser, prefix: str = "") -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(prefix or "enclii-iac", parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _parsers(sub, f"{prefix} {name}".strip())
    return out


def test_every_command_and_option_has_help() -> None:
    from enclii_iac.cli import build_parser

    parsers = _parsers(build_parser())
    assert {n for n, _ in parsers} >= {"validate", "schema", "synth", "policy", "check", "diff", "version",
                                       "state bootstrap", "backups verify"}
    missing = [f"{name}: {action.option_strings or action.dest}" for name, p in parsers for action in p._actions
               if not isinstance(action, argparse._SubParsersAction) and not action.help]
    assert missing == []
    leaves = [(n, p) for n, p in parsers if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)]
    assert [n for n, p in leaves if not any("--json" in a.option_strings for a in p._actions)] == []


@pytest.mark.parametrize("argv", [["synth", "--json"], ["frobnicate", "--json"], ["schema", "--kind", "X", "--json"],
                                  ["state", "--json"]])
def test_usage_errors_are_json_under_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert exc.value.code == 2 and data["ok"] is False and data["error"] == "usage" and err == ""
    assert data["usage"].startswith("usage: enclii-iac")


def test_usage_errors_in_text_say_where_the_help_is(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["synth"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.splitlines()[-1] == ("error: the following arguments are required: STACK_DIR, --out; see enclii-iac "
                                    "synth --help")


def test_long_runs_report_progress_on_stderr_and_keep_stdout_clean(capsys: pytest.CaptureFixture[str],
                                                                   tmp_path: Path) -> None:
    code, out, err = run(capsys, "synth", str(ROOT / "examples" / "r2-only"), "--out", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    lines = err.splitlines()
    assert lines[0].startswith("synth: running r2-example/dev (") and lines[0].endswith("s]")
    assert any(re.fullmatch(r"synth: 6 resources declared in [0-9.]+ s \[[0-9.]+ s\]", ln) for ln in lines)
    assert lines[-1].startswith(f"synth: writing {tmp_path}")
    code, _, err = run(capsys, "synth", str(ROOT / "examples" / "r2-only"), "--out", str(tmp_path), "--quiet")
    assert code == 0 and err == ""


def test_an_unexpected_error_is_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import enclii_iac.cli as cli

    def boom(args: argparse.Namespace) -> int:
        raise KeyError("x")

    monkeypatch.setattr(cli, "cmd_version", boom)
    code, out, err = run(capsys, "version")
    assert code == 1 and out == ""
    assert err == ("error: internal error: KeyError: 'x'; rerun with ENCLII_DEBUG=1 for the traceback and report "
                   "it\n")
    monkeypatch.setenv("ENCLII_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["version"])


def test_policy_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "policy", str(STACKS / "production"), "--json")
    data = json.loads(out)
    assert code == 0 and data["violations"] == [] and "production_pdb" in data["rules"]


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "enclii-iac"
    proc = subprocess.run([str(exe), "validate", SHOP], capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: 1 project(s)")


def test_console_script_exit_codes_and_output_survive_the_fast_exit(tmp_path: Path) -> None:
    """`run` ends the process without the interpreter's teardown: what was printed and written is all there,
    with main's exit code, argparse's usage errors and --help included."""
    exe = str(Path(sys.executable).parent / "enclii-iac")

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, *argv], capture_output=True, text=True, check=False, cwd=ROOT, timeout=120)

    version = cli("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"enclii-iac {enclii_iac.__version__}")
    usage = cli("no-such-command")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr and usage.stdout == ""
    helped = cli("validate", "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: enclii-iac validate")
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: enclii.dev/v1\nkind: Service\nmetadata: {name: api, project: shop}\n"
                   "spec: {image: 'x;y'}\n")
    refused = cli("validate", str(bad), "--json")
    assert refused.returncode == 1 and json.loads(refused.stdout)["ok"] is False
    out = tmp_path / "out"
    synth = cli("synth", str(STACKS / "production"), "--out", str(out), "--json", "-q")
    assert synth.returncode == 0, synth.stderr
    assert json.loads(synth.stdout)["resources"] == json.loads((out / "summary.json").read_text())["resources"]
    assert (out / "tree.txt").read_text().endswith("\n") and (out / "resources.json").stat().st_size > 100_000
    # a reader that goes away early: no traceback, a non-zero exit
    head = subprocess.run(f"'{exe}' schema | head -c 10", shell=True, capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert len(head.stdout) == 10 and head.stdout.startswith("{")
    assert "Traceback" not in head.stderr

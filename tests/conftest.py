"""Shared fixtures: paths, a recorder factory, and the external validators."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from enclii_iac.testing import Recorder

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
STACKS = ROOT / "stacks"
DIGEST = "@sha256:" + "ab" * 32
CHECKOV = os.environ.get("ENCLII_CHECKOV", str(ROOT / ".venv-checkov" / "bin" / "checkov"))


@pytest.fixture
def record() -> Callable[..., Recorder]:
    """``record(program, **recorder_kwargs)`` runs ``program`` under a fresh Recorder and returns it."""

    def run(program: Callable[[], Any], **kwargs: Any) -> Recorder:
        return Recorder(**kwargs).run(program)

    return run


def kubernetes_validate(docs: list[dict[str, Any]], version: str = "1.33.0") -> list[str]:
    """Errors of ``kubernetes-validate --strict`` for built-in kinds, and of the structural schemas in
    tests/crd_schemas.py for custom resources (kubernetes-validate bundles no CRD schemas)."""
    import kubernetes_validate as kv

    from tests.crd_schemas import validate_custom

    errors = []
    for doc in docs:
        try:
            kv.validate(doc, version, strict=True)
        except kv.SchemaNotFoundError:
            errors += validate_custom(doc)
            continue
        except kv.ValidationError as exc:
            errors.append(f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}: {exc.message}")
    return errors


def checkov_failures(directory: Path, skip: list[str]) -> list[dict[str, Any]]:
    """Failed checkov checks (kubernetes framework) over every YAML file of ``directory``."""
    if not Path(CHECKOV).exists():
        pytest.fail(f"checkov is not installed at {CHECKOV}; run .ci/setup (it installs checkov in its own venv)")
    cmd = [CHECKOV, "-d", str(directory), "--framework", "kubernetes", "--quiet", "--compact", "-o", "json"]
    if skip:
        cmd += ["--skip-check", ",".join(skip)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    data = json.loads(proc.stdout) if proc.stdout.strip() else []
    results = data if isinstance(data, list) else [data]
    failed = []
    for res in results:
        if isinstance(res, dict) and "results" in res:
            failed += res["results"].get("failed_checks", [])
    return failed


def require(condition: bool, what: str) -> None:
    """Fail (never skip) when a validator the tests rely on is missing: a skip would hide a missing install
    step from CI. `.ci/setup` installs every one of them; run it (as root) before the tests."""
    if not condition:
        pytest.fail(f"{what}: run `bash .ci/setup` as root, which installs it")


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def shellcheck(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("shellcheck") or str(ROOT / ".venv" / "bin" / "shellcheck")
    return subprocess.run([exe, "-x", str(path)], capture_output=True, text=True, check=False)

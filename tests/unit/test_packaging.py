"""What a user installing the package gets: the runtime lock, package data that exists, the license, the
changelog and the version."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import enclii_iac
from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def pins(path: str) -> dict[str, str]:
    out = {}
    for line in (ROOT / path).read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            out[re.sub(r"[-_.]+", "-", name).lower()] = version.split(";")[0].strip()
    return out


def test_the_runtime_lock_is_current_and_agrees_with_the_dev_lock() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "runtime_lock.py"), "--check"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    runtime, dev = pins("requirements/runtime.lock"), pins("requirements/dev.lock")
    assert {n: v for n, v in runtime.items() if dev.get(n) != v} == {}
    for dep in PYPROJECT["project"]["dependencies"]:
        name, version = dep.split("==")
        assert runtime[re.sub(r"[-_.]+", "-", name).lower()] == version
    # only what the toolkit runs with: no test, lint or validator tooling
    assert not {"pytest", "hypothesis", "ruff", "mypy", "moto", "kubernetes-validate", "checkov"} & set(runtime)


def test_package_data_names_only_files_that_exist() -> None:
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["enclii_iac"]
    for pattern in patterns:
        assert list((ROOT / "enclii_iac").glob(pattern)), f"package-data {pattern!r} matches no file"
    templates = sorted(p.name for p in (ROOT / "enclii_iac" / "render" / "templates").glob("*.j2"))
    assert "api-connector.sh.j2" in templates and "_lib.sh.j2" in templates


def test_license_matches_pyproject() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text and len(text) > 11000


def test_changelog_keeps_a_changelog_with_an_unreleased_section() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n") and "keepachangelog.com" in text and "semver.org" in text
    assert "\n## [Unreleased]\n" in text and "\n### Added\n" in text
    assert "\n[Unreleased]: " in text
    for version in re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", text, re.M):
        assert f"\n[{version}]: " in text, f"no compare link for {version}"


def test_one_version_everywhere() -> None:
    assert PYPROJECT["project"]["version"] == enclii_iac.__version__

"""Opt-in tier: the example stacks through the real Pulumi engine (Automation API).

Needs the Pulumi CLI on PATH and a reachable cluster's kubeconfig; runs only with ENCLII_INTEGRATION=1
(`pytest -m integration`). The default test command deselects this tier (`-m 'not integration'`); CI on a
machine without the CLI never reaches it. A local file backend and a passphrase secrets provider keep it
self-contained: nothing is written to a shared backend.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import STACKS

pytestmark = pytest.mark.integration


def _workspace(tmp_path: Path, stack_dir: Path, stack: str) -> Any:
    import pulumi.automation as auto

    if os.environ.get("ENCLII_INTEGRATION") != "1" or shutil.which("pulumi") is None:
        pytest.fail("the integration tier needs ENCLII_INTEGRATION=1 and the pulumi CLI on PATH")
    kubeconfig = os.environ["ENCLII_KUBECONFIG"]
    env = {"PULUMI_CONFIG_PASSPHRASE": "enclii-integration", "PULUMI_SKIP_UPDATE_CHECK": "true"}
    opts = auto.LocalWorkspaceOptions(work_dir=str(stack_dir), env_vars=env,
                                      project_settings=None, pulumi_home=str(tmp_path / "home"))
    backend = f"file://{tmp_path / 'state'}"
    (tmp_path / "state").mkdir()
    os.environ["PULUMI_BACKEND_URL"] = backend
    s = auto.create_or_select_stack(stack_name=stack, work_dir=str(stack_dir), opts=opts)
    s.set_config("enclii:kubeconfig", auto.ConfigValue(Path(kubeconfig).read_text(), secret=True))
    for svc in ("api", "worker", "migrate"):
        s.set_config(f'enclii:tenantSecrets["shop/{svc}"].DATABASE_URL',
                     auto.ConfigValue("postgres://it@db/shop", secret=True), path=True)
    return s


def test_production_preview_declares_what_synth_declares(tmp_path: Path) -> None:
    from enclii_iac.synth import run_stack

    stack = _workspace(tmp_path, STACKS / "production", "production")
    result = stack.preview()
    expected = len(run_stack(STACKS / "production").records)
    assert result.change_summary.get("create", 0) == expected + 1  # + the Stack resource


def test_an_update_never_replaces_protected_resources(tmp_path: Path) -> None:
    stack = _workspace(tmp_path, STACKS / "production", "production")
    stack.up()
    tenants = STACKS / "production" / "tenants" / "shop.yaml"
    original = tenants.read_text()
    try:
        tenants.write_text(original.replace("LOG_LEVEL: info", "LOG_LEVEL: debug"))
        preview = stack.preview(diff=True)
        assert preview.change_summary.get("replace", 0) == 0
        assert preview.change_summary.get("delete", 0) == 0
    finally:
        tenants.write_text(original)
        stack.destroy()

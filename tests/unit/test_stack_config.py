"""Stack config as a newcomer sets it: every hint names the enclii: namespace the stacks read, and synth warns
about keys the stack ignores (in the project's namespace, or misspelled)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from enclii_iac.cli import main
from enclii_iac.errors import SpecError
from enclii_iac.synth import read_stack_dir, run_stack
from enclii_iac.testing import Recorder
from tests.conftest import ROOT, STACKS

CIPHERTEXT = "v1:Zm9vYmFyYmF6cXV1eA==:c2VjcmV0LWNpcGhlcnRleHQ="


@pytest.fixture(scope="module")
def misconfigured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object], str]:
    """stacks/production with the keys a newcomer sets by following `pulumi config set` literally."""
    base = tmp_path_factory.mktemp("stack")
    stack = base / "production"
    shutil.copytree(STACKS / "production", stack)
    cfg = yaml.safe_load((stack / "Pulumi.production.yaml").read_text())
    cfg["config"]["enclii-production:sshPrivateKey"] = {"secure": CIPHERTEXT}  # `pulumi config set --secret sshPri..`
    cfg["config"]["cloudflareToken"] = "plain-token-value"  # a key without namespace is the project's too
    cfg["config"]["enclii:cloudflareApiToken"] = {"secure": CIPHERTEXT}  # the name docs once used
    (stack / "Pulumi.production.yaml").write_text(yaml.safe_dump(cfg))
    out = base / "out"
    code = main(["synth", str(stack), "--out", str(out), "--quiet"])
    assert code == 0
    return stack, json.loads((out / "summary.json").read_text()), str(out)


def test_synth_warns_about_keys_in_the_project_namespace(misconfigured: tuple[Path, dict[str, object], str]) -> None:
    _, summary, _ = misconfigured
    warnings = summary["warnings"]
    assert isinstance(warnings, list)
    moved = ("config enclii-production:sshPrivateKey is ignored: the stack reads enclii:sshPrivateKey; move it with "
             "`pulumi config rm sshPrivateKey` and `pulumi config set [--secret] enclii:sshPrivateKey VALUE`")
    assert moved in warnings
    assert any(w.startswith("config enclii-production:cloudflareToken is ignored") for w in warnings)
    misspelt = "config enclii:cloudflareApiToken is not read by the stack (did you mean enclii:cloudflareToken?)"
    assert misspelt in warnings
    # and the key the stack does read is reported as missing, so the fix is complete
    assert "secret enclii:sshPrivateKey is unset: synthesized with a placeholder; set it before `pulumi up`" in warnings


def test_no_ciphertext_or_clear_value_reaches_the_output(misconfigured: tuple[Path, dict[str, object], str]) -> None:
    _, _, out = misconfigured
    for path in Path(out).rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert CIPHERTEXT not in text and "plain-token-value" not in text, path


def test_nested_encrypted_tenant_secrets_are_read_as_encrypted(tmp_path: Path) -> None:
    stack = tmp_path / "production"
    shutil.copytree(STACKS / "production", stack)
    cfg = yaml.safe_load((stack / "Pulumi.production.yaml").read_text())
    # what `pulumi config set --secret --path 'enclii:tenantSecrets["shop/api"].DATABASE_URL' ...` writes
    cfg["config"]["enclii:tenantSecrets"] = {"shop/api": {"DATABASE_URL": {"secure": CIPHERTEXT}}}
    (stack / "Pulumi.production.yaml").write_text(yaml.safe_dump(cfg))
    sd = read_stack_dir(stack)
    assert sd.undecryptable == ["enclii:tenantSecrets.shop/api.DATABASE_URL"]
    assert "enclii:tenantSecrets" in sd.secret_keys
    result = run_stack(stack)
    assert "secret shop/api:DATABASE_URL is unset: synthesized with a placeholder; set it before `pulumi up`" in (
        result.warnings)
    secret = [r for r in result.records if r.type == "kubernetes:core/v1:Secret" and r.name.endswith("prod-api-env")]
    assert secret and CIPHERTEXT not in json.dumps(secret[0].plain_inputs)


def _stack(tmp: Path, spec: dict[str, object], main_py: str, config: dict[str, object] | None = None) -> Path:
    doc = {"apiVersion": "enclii.dev/v1", "kind": "Platform", "metadata": {"name": "enclii"}, "spec": spec}
    (tmp / "platform.yaml").write_text(yaml.safe_dump(doc))
    (tmp / "Pulumi.yaml").write_text("name: enclii-preview\nruntime: python\n")
    (tmp / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config or {}}))
    (tmp / "__main__.py").write_text(main_py)
    return tmp


def _run_as_pulumi_up(stack: Path) -> None:
    """Run the stack program as `pulumi up` would (no synth placeholders)."""
    import runpy

    sd = read_stack_dir(stack)
    import os
    import sys

    old = os.getcwd()
    os.chdir(stack)
    sys.path.insert(0, str(stack))
    try:
        Recorder(project=sd.project, stack=sd.stack, config=sd.config).run(
            lambda: runpy.run_path(str(stack / "__main__.py"), run_name="__main__"))
    finally:
        os.chdir(old)
        sys.path.remove(str(stack))


MAIN = ("from pathlib import Path\nfrom enclii_iac.platform import {fn}\nfrom enclii_iac.stack import load_stack_"
        "settings\n{fn}(load_stack_settings(Path(__file__).parent))\n")


@pytest.mark.parametrize(("spec", "fn", "hint"), [
    ({"domain": "example.com", "stage": "preview"}, "build_preview",
     "pulumi config set enclii:prNumber 42"),
    ({"domain": "example.com", "stage": "production"}, "build_production",
     "pulumi config set --secret enclii:kubeconfig < kubeconfig.yaml"),
])
def test_errors_name_the_enclii_namespace(tmp_path: Path, spec: dict[str, object], fn: str, hint: str) -> None:
    stack = _stack(tmp_path, spec, MAIN.format(fn=fn))
    with pytest.raises(SpecError) as err:
        _run_as_pulumi_up(stack)
    assert hint in str(err.value)


def test_the_ssh_key_hint_names_the_enclii_namespace(tmp_path: Path) -> None:
    from tests.unit.host_fixtures import HOST_KEY, OPS_KEY

    spec = {"domain": "example.com", "stage": "preview", "hosts": {"dedicated": {"ax41": {
        "address": "203.0.113.10", "hostKey": HOST_KEY, "adminSshKeys": [OPS_KEY],
        "sshAllowCidrs": ["198.51.100.7/32"]}}}}
    stack = _stack(tmp_path, spec, MAIN.format(fn="build_platform"), {"enclii:kubeconfig": "x"})
    with pytest.raises(SpecError, match=re.escape("pulumi config set --secret enclii:sshPrivateKey <")):
        _run_as_pulumi_up(stack)


CONFIG_SET = re.compile(r"pulumi config set\b((?:\s+--\w+)*)\s+'?([A-Za-z{<][^\s'`]*)")
LEGIT = {
    # the mistake itself, described
    ("enclii_iac/stack.py", "sshPrivateKey"),
    ("docs/check.md", "sshPrivateKey"),
    # your own programs read their own project's namespace (require_secret's default)
    ("enclii_iac/stack.py", "kubeconfig"),
}


def test_every_config_command_in_docs_stacks_and_code_uses_the_enclii_namespace() -> None:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(STACKS.rglob("*.yaml")),
             *sorted(STACKS.rglob("*.py")), *sorted((ROOT / "enclii_iac").rglob("*.py"))]
    wrong = []
    seen = 0
    for f in files:
        rel = f.relative_to(ROOT).as_posix()
        for m in CONFIG_SET.finditer(f.read_text(encoding="utf-8")):
            key = m.group(2)
            seen += 1
            if key.startswith(("enclii:", "{", "<")) or (rel, key) in LEGIT:
                continue
            wrong.append(f"{rel}: pulumi config set{m.group(1)} {key}")
    assert seen > 10 and wrong == []

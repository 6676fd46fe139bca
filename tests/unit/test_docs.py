"""Every fenced code block of README.md and docs/*.md runs as written (the convention: docs/contributing.md).

- ``sh`` / ``bash``: bash -euo pipefail in a scratch copy of the repository, the toolkit's .venv/bin first on
  PATH; it must exit 0, print no traceback, and print the text of each ``# expect: TEXT`` line of the block.
- ``python``: a Pulumi program, run under ``enclii_iac.testing.Recorder`` (project ``docs``, stack ``dev``, the
  stand-in secret config of STACK_CONFIG) in the scratch copy; it must declare a resource or assert something.
  A block that builds its own Recorder or calls run_stack/synth (the harness examples) runs as a plain script.
- ``yaml``: Enclii documents (``apiVersion: enclii.dev/v1``) must pass ``enclii-iac validate``; another YAML
  file starts with a comment naming it (``# Pulumi.dev.yaml``) and must parse. ``json`` must parse. ``text`` is
  not code (layouts, output) and is not run.
- ``<!-- not run: REASON -->`` on the line before a block: checked (``bash -n``, compiled, parsed), not run.
- ``<!-- run in stack: DIR NAME -->`` before a shell block: run in DIR of the scratch copy with the engine tier's
  ``pulumi`` on PATH, a file backend and a new stack NAME (``pulumi config set`` as a user types it).
  The reason is required.

Pages added later (docs/engine-tier.md, docs/benchmarks.md, ...) are picked up by the glob.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LANGUAGES = {"sh", "bash", "python", "yaml", "json", "text"}
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(?P<reason>\S.*?)\s*-->$")
IN_STACK = re.compile(r"^<!--\s*run in stack:\s*(?P<dir>[\w./-]+)\s+(?P<stack>[\w.-]+)\s*-->$")
PLAIN = re.compile(r"\bRecorder\(|\brun_stack\(|\bsynth\(")
OTHER_FILE = re.compile(r"^# (?P<name>[\w./-]+\.ya?ml)\b")
SPEC_FILES = re.compile(r"(^|/)(platform|enclii)\.ya?ml$|(^|/)tenants/")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
COPIED = ("README.md", "docs", "stacks", "examples", "schemas", "components", "Pulumi.yaml", "pyproject.toml",
          "requirements", "tools")
STACK_CONFIG = {
    "enclii:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nDOCS-STAND-IN\n-----END OPENSSH PRIVATE KEY-----\n",
    "enclii:cloudflareToken": "docs-stand-in-cloudflare-token",
    "enclii:hcloudToken": "docs-stand-in-hcloud-token",
    "enclii:kubeconfig": "apiVersion: v1\nkind: Config\nclusters: []\n",
    "docs:databaseUrl": "postgres://docs:stand-in@db.shop-prod.svc:5432/shop",
}
"""What `pulumi config set --secret ...` would have set for the Python blocks (as secrets)."""


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    code: str
    not_run: str | None
    in_stack: tuple[str, str] | None = None
    """``(stack directory, stack name)`` of a ``<!-- run in stack: DIR NAME -->`` block: it runs there with the
    engine tier's Pulumi CLI, a file backend and a fresh stack NAME (engine-marked: it needs the CLI)."""

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> Iterator[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.group("indent"), m.group("fence"), m.group("info").strip()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[i]):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        i += 1
        before = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = NOT_RUN.match(before)
        stack = IN_STACK.match(before)
        yield Block(page, start + 1, info.split()[0] if info else "", "\n".join(body) + "\n",
                    marker.group("reason") if marker else None,
                    (stack.group("dir"), stack.group("stack")) if stack else None)


ALL = [b for page in PAGES for b in blocks(page)]


def test_the_docs_have_code_to_run() -> None:
    assert len(ALL) > 40
    runnable = [b for b in ALL if b.not_run is None and b.language != "text"]
    assert len(runnable) >= 0.7 * len([b for b in ALL if b.language != "text"])  # not-run stays the exception


@pytest.mark.parametrize("block", ALL, ids=[b.id for b in ALL])
def test_every_block_is_tagged(block: Block) -> None:
    assert block.language in LANGUAGES, (
        f"{block.id}: tag the block with one of {sorted(LANGUAGES)} (text for what is not code)")
    if block.not_run is not None:
        assert block.language != "text" and len(block.not_run) >= 10, f"{block.id}: say why it cannot run"


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A copy of the repository's user-facing files, the toolkit's .venv linked in."""
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "out", "engine"))
        elif src.exists():
            shutil.copy2(src, tmp_path / name)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path


def _shell(block: Block, scratch: Path) -> None:
    if block.not_run is not None:
        proc = subprocess.run(["bash", "-n"], input=block.code, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{block.id}: not valid shell: {proc.stderr}"
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CLOUDFLARE_", "HCLOUD_", "PULUMI_"))}
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.pop("UPDATE_GOLDEN", None)
    cwd = scratch
    if block.in_stack is not None:  # the engine tier's CLI, a file backend of its own, a new stack
        from tests.engine.harness import engine_bin

        cwd = scratch / block.in_stack[0]
        env["PATH"] = f"{engine_bin()}{os.pathsep}{env['PATH']}"
        (scratch / ".state").mkdir()
        env.update(PULUMI_BACKEND_URL=f"file://{scratch / '.state'}", PULUMI_CONFIG_PASSPHRASE="docs",
                   PULUMI_HOME=str(scratch / ".pulumi-home"), PULUMI_SKIP_UPDATE_CHECK="true")
        init = subprocess.run(["pulumi", "stack", "init", block.in_stack[1], "--non-interactive"], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert init.returncode == 0, f"{block.id}: pulumi stack init: {init.stdout}{init.stderr}"
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{block.id}: exit {proc.returncode}\n{output[-3000:]}"
    assert "Traceback" not in output, f"{block.id}:\n{output[-3000:]}"
    for expected in re.findall(r"^\s*# expect: (.+)$", block.code, re.M):
        assert expected.strip() in output, f"{block.id}: expected {expected.strip()!r} in:\n{output[-3000:]}"


def _python(block: Block, scratch: Path) -> None:
    code = compile(block.code, block.id, "exec")
    if block.not_run is not None:
        return
    from enclii_iac.testing import Recorder

    old_cwd, old_path = os.getcwd(), list(sys.path)
    os.chdir(scratch)
    sys.path.insert(0, str(scratch))
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            if PLAIN.search(block.code):
                exec(code, {"__name__": "__main__"})  # noqa: S102 - the docs' own example
                declared = -1
            else:
                rec = Recorder(project="docs", stack="dev", config=STACK_CONFIG, secret_keys=sorted(STACK_CONFIG))
                rec.run(lambda: exec(code, {"__name__": "__main__"}))  # noqa: S102
                declared = len(rec.records)
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
    assert declared != 0 or "assert " in block.code, f"{block.id}: declares nothing and asserts nothing"


def _yaml(block: Block, scratch: Path) -> None:
    docs = [d for d in yaml.safe_load_all(block.code) if d is not None]
    assert docs, f"{block.id}: empty"
    enclii = [d for d in docs if isinstance(d, dict) and str(d.get("apiVersion", "")).startswith("enclii.dev/")]
    if not enclii:
        named = OTHER_FILE.match(block.code)
        assert named and not SPEC_FILES.search(named.group("name")), (
            f"{block.id}: not an Enclii document: write the whole document (apiVersion, kind, metadata, spec), or "
            "name the other file it is on its first line (# Pulumi.dev.yaml)")
        return
    if block.not_run is not None:
        return
    assert len(enclii) == len(docs), f"{block.id}: mixes Enclii documents with other YAML"
    from enclii_iac.cli import main

    path = scratch / "block.yaml"
    path.write_text(block.code, encoding="utf-8")
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["validate", str(path)])
    assert code == 0 and out.getvalue().startswith("ok: "), f"{block.id}: enclii-iac validate failed"


@pytest.mark.parametrize("block", [pytest.param(b, marks=[pytest.mark.engine] if b.in_stack else [], id=b.id)
                                   for b in ALL if b.language in LANGUAGES - {"text"}])
def test_every_block_runs_as_written(block: Block, scratch: Path) -> None:
    if block.language in ("sh", "bash"):
        _shell(block, scratch)
    elif block.language == "python":
        _python(block, scratch)
    elif block.language == "yaml":
        _yaml(block, scratch)
    elif block.language == "json":
        import json

        json.loads(block.code)


def test_not_run_blocks_are_few_and_explained() -> None:
    reasons = [(b.id, b.not_run) for b in ALL if b.not_run is not None]
    assert all(r and not r.endswith(".") for _, r in reasons)
    assert len(reasons) <= 15, reasons


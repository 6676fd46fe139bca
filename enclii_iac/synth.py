"""``enclii-iac synth``: run a stack's own program offline and write what it would declare.

No Pulumi CLI, no credentials: the program runs under :class:`enclii_iac.testing.Recorder`. Output
(byte-for-byte deterministic for the same inputs)::

    OUT/tree.txt                 sorted "type name <- parent" lines (the URN tree)
    OUT/resources.json           every resource: type, name, parent, provider, options, inputs ([secret] redacted)
    OUT/outputs.json             stack outputs ([secret] redacted)
    OUT/manifests/<ns>.yaml      every Kubernetes object, one file per namespace (_cluster.yaml: cluster-scoped)
    OUT/rendered/...             cloud-init user data, scripts and files shipped to hosts
    OUT/summary.json             counts by type, warnings, unset secrets
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import runpy
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from enclii_iac.errors import EncliiIacError, SynthError
from enclii_iac.stack import SYNTH_ENV, UNSET_SECRET
from enclii_iac.testing import (
    REDACTED,
    SECRET_OUTPUTS,
    Recorder,
    ResourceRecord,
    is_secret_value,
    redact,
    reveal,
)

ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"


@dataclass
class StackDir:
    """A Pulumi project directory and one of its stacks."""

    path: Path
    project: str
    stack: str
    config: dict[str, Any]
    secret_keys: list[str]
    undecryptable: list[str] = field(default_factory=list)


def read_stack_dir(path: str | Path, stack: str | None = None) -> StackDir:
    """Project name and stack config of ``path`` (``Pulumi.yaml`` + ``Pulumi.<stack>.yaml``)."""
    base = Path(path)
    project_file = base / "Pulumi.yaml"
    if not project_file.is_file():
        raise SynthError(f"{base}: no Pulumi.yaml; pass a stack directory such as stacks/production")
    project = yaml.safe_load(project_file.read_text(encoding="utf-8")) or {}
    name = project.get("name")
    if not isinstance(name, str):
        raise SynthError(f"{project_file}: no project name")
    stacks = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in base.glob("Pulumi.*.yaml"))
    if stack is None:
        if not stacks:
            raise SynthError(f"{base}: no Pulumi.<stack>.yaml; pass --stack")
        stack = stacks[0]
    elif stack not in stacks and stacks:
        raise SynthError(f"{base}: no stack {stack!r} (have: {', '.join(stacks)})")
    config: dict[str, Any] = {}
    secret_keys: list[str] = []
    undecryptable: list[str] = []
    cfg_file = base / f"Pulumi.{stack}.yaml"
    if cfg_file.is_file():
        raw = (yaml.safe_load(cfg_file.read_text(encoding="utf-8")) or {}).get("config") or {}
        for key, value in raw.items():
            full = key if ":" in key else f"{name}:{key}"
            if isinstance(value, dict) and set(value) == {"secure"}:
                # Encrypted with the stack's secrets provider: cannot be decrypted offline.
                undecryptable.append(full)
                secret_keys.append(full)
                config[full] = UNSET_SECRET
            else:
                config[full] = value
    return StackDir(base, name, stack, config, secret_keys, undecryptable)


@contextmanager
def _program_context(stack_dir: Path) -> Iterator[None]:
    """cwd, sys.path and environment as ``pulumi up`` gives a Python program; restored afterwards."""
    old_cwd = os.getcwd()
    old_path = list(sys.path)
    old_env = os.environ.get(SYNTH_ENV)
    before = set(sys.modules)
    os.chdir(stack_dir)
    sys.path.insert(0, str(stack_dir))
    os.environ[SYNTH_ENV] = "1"
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        if old_env is None:
            os.environ.pop(SYNTH_ENV, None)
        else:
            os.environ[SYNTH_ENV] = old_env
        for mod in set(sys.modules) - before:
            file = getattr(sys.modules[mod], "__file__", None) or ""
            if file and Path(file).resolve().is_relative_to(stack_dir.resolve()):
                del sys.modules[mod]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@dataclass
class SynthResult:
    recorder: Recorder
    stack: StackDir
    warnings: list[str]

    @property
    def records(self) -> list[ResourceRecord]:
        return sorted(self.recorder.records, key=lambda r: (r.type, r.name))


def run_stack(path: str | Path, stack: str | None = None) -> SynthResult:
    """Run the stack program at ``path`` under the recorder. Spec errors propagate before any resource."""
    sd = read_stack_dir(path, stack)
    main = (sd.path / "__main__.py").resolve()
    if not main.is_file():
        raise SynthError(f"{sd.path}: no __main__.py")
    rec = Recorder(project=sd.project, stack=sd.stack, config=sd.config, secret_keys=sd.secret_keys)
    handler = _Collect()
    log = logging.getLogger("enclii_iac.synth.engine")
    log.addHandler(handler)
    log.propagate = False
    rec.logger = log
    with _program_context(sd.path.resolve()):
        try:
            rec.run(lambda: runpy.run_path(str(main), run_name="__main__"))
        except EncliiIacError as exc:
            declared = len(rec.records)
            exc.add_note(
                "nothing was declared" if not declared else f"{declared} resource(s) were declared before the error"
            )
            exc.declared = declared
            raise
        except Exception as exc:  # noqa: BLE001 - a program failure is reported, not a crash of the tool
            raise SynthError(f"{sd.path}: the stack program failed: {type(exc).__name__}: {exc}") from exc
    warnings = list(handler.messages) + [
        f"config {k} is encrypted and was synthesized as {UNSET_SECRET}" for k in sd.undecryptable
    ]
    return SynthResult(rec, sd, warnings)


# --- writing ----------------------------------------------------------------------------------------------


def _canonical(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _canonical(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [_canonical(v) for v in obj]
    if isinstance(obj, float) and obj.is_integer():
        return int(obj)
    return obj


_MANIFEST_HEAD = ("apiVersion", "kind", "metadata")


def manifest_for_output(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest with secrets redacted, keys in a stable order (apiVersion, kind, metadata first)."""
    clean = _canonical(redact(manifest))
    head = {k: clean[k] for k in _MANIFEST_HEAD if k in clean}
    return {**head, **{k: v for k, v in clean.items() if k not in _MANIFEST_HEAD}}


def dump_yaml_documents(docs: list[dict[str, Any]]) -> str:
    return "".join("---\n" + yaml.safe_dump(d, sort_keys=False, default_flow_style=False, width=120) for d in docs)


_KIND_ORDER = [
    "Namespace",
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "Role",
    "RoleBinding",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Deployment",
    "Service",
    "Ingress",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "CronJob",
    "Job",
]


def _kind_rank(kind: str) -> int:
    return _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)


def manifests_by_namespace(records: list[ResourceRecord]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if not (r.custom and r.type.startswith("kubernetes:") and "apiVersion" in r.inputs):
            continue
        doc = manifest_for_output(r.inputs)
        meta = doc.get("metadata") or {}
        ns = meta.get("namespace") or (meta.get("name") if doc.get("kind") == "Namespace" else "_cluster")
        out.setdefault(str(ns), []).append(doc)
    for docs in out.values():
        docs.sort(
            key=lambda d: (
                _kind_rank(str(d.get("kind"))),
                str(d.get("kind")),
                str((d.get("metadata") or {}).get("name")),
            )
        )
    return out


SECRET_DERIVATIONS: list[Callable[[str], str]] = [
    lambda v: hashlib.sha256(v.encode()).hexdigest(),  # R2 S3 secret access key = sha256(token value)
]
"""Functions deriving further secrets from a known one; their results are redacted too."""


def secret_atoms(result: SynthResult) -> list[str]:
    """Every plain secret value the run knows: secret config, provider secret outputs (and the ids of the
    tokens that carry them: R2 access key ids), secret string inputs, and their derivations."""
    atoms: set[str] = set()
    for key in result.stack.secret_keys:
        value = result.stack.config.get(key)
        if isinstance(value, str) and value and value != UNSET_SECRET:
            atoms.add(value)
    for r in result.recorder.records:
        keys = set(SECRET_OUTPUTS.get(r.type, ())) | set(r.additional_secret_outputs)
        for k in keys:
            v = reveal(r.outputs.get(k))
            if isinstance(v, str) and len(v) >= 6:
                atoms.add(v)
        if r.type in _TOKEN_TYPES:
            registration = result.recorder.resources.get(r.urn)
            if registration is not None and registration.id:
                atoms.add(registration.id)
        for path_value in _secret_leaves(r.inputs):
            if isinstance(path_value, str) and 6 <= len(path_value) and "\n" not in path_value:
                atoms.add(path_value)
    atoms.discard(UNSET_SECRET)
    derived = {fn(a) for a in atoms for fn in SECRET_DERIVATIONS}
    return sorted(atoms | derived, key=lambda a: (-len(a), a))


_TOKEN_TYPES = frozenset({"cloudflare:index/apiToken:ApiToken", "cloudflare:index/accountToken:AccountToken"})
_WRITE_FILE = re.compile(r"^(write_file \S+ \S+ )([A-Za-z0-9+/=]+)$", re.M)


def redact_script(text: str, atoms: list[str]) -> tuple[str, dict[str, str]]:
    """A rendered host script with secrets redacted, also inside the base64 payloads of ``write_file``
    lines (re-encoded, so the script stays readable with ``base64 -d``), and the files it writes."""
    from enclii_iac.render.host import files_in_script

    files = {path: redact_text(content, atoms) for path, content in files_in_script(text).items()}

    def payload(m: re.Match[str]) -> str:
        decoded = base64.b64decode(m.group(2)).decode("utf-8", errors="replace")
        return m.group(1) + base64.b64encode(redact_text(decoded, atoms).encode()).decode()

    return redact_text(_WRITE_FILE.sub(payload, text), atoms), files


def _secret_leaves(value: Any) -> Iterator[Any]:
    """Strings that are secrets by themselves (a secret map's members are not: a connection's user is not)."""
    if is_secret_value(value):
        inner = reveal(value)
        if isinstance(inner, str):
            yield inner
        return
    if isinstance(value, dict):
        for v in value.values():
            yield from _secret_leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _secret_leaves(v)


def redact_text(text: str, atoms: list[str]) -> str:
    for atom in atoms:
        text = text.replace(atom, REDACTED)
    return text


RENDERED_INPUTS: dict[str, tuple[str, str]] = {
    # resource type -> (input key, file suffix) of text shipped to hosts
    "hcloud:index/server:Server": ("userData", ".cloud-init.yaml"),
    "command:remote:Command": ("create", ".sh"),
}


def rendered_files(result: SynthResult) -> dict[str, str]:
    """Cloud-init, scripts and files as they would reach the hosts, with secret values redacted."""
    atoms = secret_atoms(result)
    out: dict[str, str] = {}
    for r in result.records:
        text: Any = None
        suffix = ""
        if r.type in RENDERED_INPUTS:
            key, suffix = RENDERED_INPUTS[r.type]
            text = r.inputs.get(key)
            if r.type == "command:remote:Command" and r.inputs.get("stdin") is not None:
                text = r.inputs.get("stdin")  # the script is piped to the command (`sudo -n /bin/sh -s`)
        elif r.type == "command:remote:CopyToRemote":
            source = reveal(r.inputs.get("source"))
            if isinstance(source, dict) and "text" in source:
                text = r.inputs.get("source")
                remote_path = str(reveal(r.inputs.get("remotePath") or ""))
                suffix = "-" + Path(remote_path).name if remote_path else ""
            elif isinstance(source, dict) and source.get(_ASSET_KEY) == ASSET_SIG:
                continue
        if text is None:
            continue
        plain = reveal(text)
        if isinstance(plain, dict) and "text" in plain:
            plain = plain["text"]
        if not isinstance(plain, str):
            continue
        redacted, written = redact_script(plain, atoms)
        out[f"{r.name}{suffix}"] = redacted
        for path, content in written.items():
            out[f"{r.name}.files/{path.strip('/').replace('/', '__')}"] = content
    return out


_ASSET_KEY = "4dabf18193072939515e22adb298388d"


def _ref(result: SynthResult, urn: str) -> str:
    r = result.recorder.by_urn(urn)
    return f"{r.type} {r.name}" if r else urn


def resources_json(result: SynthResult) -> list[dict[str, Any]]:
    out = []
    for r in result.records:
        out.append(
            {
                "type": r.type,
                "name": r.name,
                "parent": _ref(result, r.parent_urn) if r.parent_urn else None,
                "provider": r.provider_name or None,
                "custom": r.custom,
                "protect": r.protect,
                "retainOnDelete": r.retain_on_delete,
                "deleteBeforeReplace": r.delete_before_replace,
                "dependsOn": sorted(_ref(result, d) for d in r.dependencies),
                "ignoreChanges": sorted(r.ignore_changes),
                "aliases": sorted(r.aliases),
                "secretInputs": sorted(r.secret_inputs),
                "inputs": _canonical(redact(r.inputs)),
            }
        )
    return out


def summary(result: SynthResult) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for r in result.records:
        counts[r.type] = counts.get(r.type, 0) + 1
    manifests = manifests_by_namespace(result.records)
    return {
        "project": result.stack.project,
        "stack": result.stack.stack,
        "resources": len(result.records),
        "byType": dict(sorted(counts.items())),
        "kubernetesObjects": sum(len(v) for v in manifests.values()),
        "namespaces": sorted(k for k in manifests if k != "_cluster"),
        "protected": sorted(f"{r.type} {r.name}" for r in result.records if r.protect),
        "warnings": sorted(result.warnings),
    }


def write_output(result: SynthResult, out_dir: str | Path) -> dict[str, Any]:
    """Write every synth artifact under ``out_dir`` (replacing what a previous synth wrote there)."""
    out = Path(out_dir)
    for sub in ("manifests", "rendered"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tree.txt").write_text("\n".join(result.recorder.tree()) + "\n", encoding="utf-8")
    (out / "resources.json").write_text(
        json.dumps(resources_json(result), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    (out / "outputs.json").write_text(
        json.dumps(_canonical(redact(result.recorder.stack_outputs)), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    (out / "manifests").mkdir()
    for ns, docs in sorted(manifests_by_namespace(result.records).items()):
        (out / "manifests" / f"{ns}.yaml").write_text(dump_yaml_documents(docs), encoding="utf-8")
    files = rendered_files(result)
    (out / "rendered").mkdir()
    for name, text in sorted(files.items()):
        target = out / "rendered" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    info = summary(result)
    info["rendered"] = sorted(files)
    (out / "summary.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return info


def synth(path: str | Path, out_dir: str | Path, stack: str | None = None) -> dict[str, Any]:
    """Run the stack at ``path`` offline and write its artifacts to ``out_dir``; returns the summary."""
    return write_output(run_stack(path, stack), out_dir)

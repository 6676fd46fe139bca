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
    SECRET_CALL_OUTPUTS,
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
    plaintext: list[str] = field(default_factory=list)
    """Secret keys (``enclii:sshPrivateKey``, ``hcloud:token``, ...) written in clear in ``Pulumi.<stack>.yaml``;
    they are still treated as secrets (redacted), warned about and flagged by ``enclii-iac policy``."""


_SECRET_CONFIG = re.compile(r"(token|password|passwd|secret|private_?key|kubeconfig|credentials?)", re.IGNORECASE)
"""Config keys that hold secrets, in any namespace (``enclii:sshPrivateKey``, ``hcloud:token``, ...)."""


def _yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """The single YAML mapping in ``path``; anything else is a SpecError naming the file (nothing declared)."""
    from enclii_iac.errors import SpecError, SpecIssue
    from enclii_iac.models.loader import parse_yaml, read_files

    [(_, text)] = read_files([path])
    docs = parse_yaml(text, str(path))
    if len(docs) > 1:
        raise SpecError([SpecIssue(str(path), "", f"holds {len(docs)} YAML documents; {what} is one mapping")])
    data = docs[0] if docs else {}
    if not isinstance(data, dict):
        raise SpecError([SpecIssue(str(path), "", f"must be a mapping ({what}), not a {type(data).__name__}")])
    return data


def _plain_leaves(value: Any) -> bool:
    """True when ``value`` holds a value in clear (a string or number that is not ``[unset]``)."""
    if isinstance(value, dict):
        return any(_plain_leaves(v) for v in value.values())
    if isinstance(value, list):
        return any(_plain_leaves(v) for v in value)
    return value is not None and value != UNSET_SECRET and value != ""


def read_stack_dir(path: str | Path, stack: str | None = None) -> StackDir:
    """Project name and stack config of ``path`` (``Pulumi.yaml`` + ``Pulumi.<stack>.yaml``)."""
    base = Path(path)
    project_file = base / "Pulumi.yaml"
    if not project_file.is_file():
        raise SynthError(f"{base}: no Pulumi.yaml; pass a stack directory such as stacks/production")
    from enclii_iac.errors import SpecError, SpecIssue

    project = _yaml_mapping(project_file, "a Pulumi project file")
    name = project.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name):
        raise SpecError([SpecIssue(str(project_file), "name", "must be the project name (letters, digits, _ . -)")])
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
    plaintext: list[str] = []
    cfg_file = base / f"Pulumi.{stack}.yaml"
    if cfg_file.is_file():
        raw = _yaml_mapping(cfg_file, "a Pulumi stack file").get("config") or {}
        if not isinstance(raw, dict):
            raise SpecError([SpecIssue(str(cfg_file), "config", "must be a mapping of <namespace>:<key>: value")])
        for key, value in raw.items():
            if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_.:/-]{1,200}", key) or key.count(":") > 1:
                raise SpecError([SpecIssue(str(cfg_file), "config", f"{str(key)[:60]!r} is not a config key "
                                                                    "(<namespace>:<key>)")])
            full = key if ":" in key else f"{name}:{key}"
            if _SECRET_CONFIG.search(full.split(":", 1)[1]):
                # a secret by its name: treated as one (redacted) even when it was written in clear
                if _plain_leaves(_without_ciphertexts(value, full, [])):
                    plaintext.append(full)
                if full not in secret_keys:
                    secret_keys.append(full)
            found: list[str] = []
            config[full] = _without_ciphertexts(value, full, found)
            if found:
                # Encrypted with the stack's secrets provider (`pulumi config set --secret [--path]`): cannot be
                # decrypted offline; each encrypted leaf is synthesized as [unset].
                undecryptable += found
                if full not in secret_keys:
                    secret_keys.append(full)
    return StackDir(base, name, stack, config, secret_keys, undecryptable, plaintext)


def _without_ciphertexts(value: Any, path: str, found: list[str]) -> Any:
    """``value`` with every ``{secure: <ciphertext>}`` leaf replaced by ``[unset]`` (their paths in ``found``)."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        found.append(path)
        return UNSET_SECRET
    if isinstance(value, dict):
        return {k: _without_ciphertexts(v, f"{path}.{k}", found) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_ciphertexts(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    return value


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


Progress = Callable[[str], None]
"""Receives progress messages of long runs (``enclii-iac`` prints them on stderr)."""


@contextmanager
def _ticker(progress: Progress | None, rec: Recorder, every: float = 2.0) -> Iterator[None]:
    """While the program runs, report how many resources it has declared, every ``every`` seconds."""
    if progress is None:
        yield
        return
    import threading

    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            n = len(rec.records)
            progress(f"{n} resources declared so far" if n else "loading the program (imports, spec validation)")

    thread = threading.Thread(target=tick, name="enclii-synth-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_stack(path: str | Path, stack: str | None = None, progress: Progress | None = None) -> SynthResult:
    """Run the stack program at ``path`` under the recorder. Spec errors propagate before any resource."""
    import time

    try:
        sd = read_stack_dir(path, stack)
    except EncliiIacError as exc:
        exc.declared = 0
        raise
    main = (sd.path / "__main__.py").resolve()
    if not main.is_file():
        raise SynthError(f"{sd.path}: no __main__.py")
    rec = Recorder(project=sd.project, stack=sd.stack, config=sd.config, secret_keys=sd.secret_keys)
    handler = _Collect()
    log = logging.getLogger("enclii_iac.synth.engine")
    log.addHandler(handler)
    log.propagate = False
    rec.logger = log
    started = time.monotonic()
    if progress is not None:
        progress(f"running {sd.project}/{sd.stack} ({sd.path / '__main__.py'}) offline")
    with _program_context(sd.path.resolve()), _ticker(progress, rec):
        try:
            rec.run(lambda: runpy.run_path(str(main), run_name="__main__"))
        except EncliiIacError as exc:
            declared = len(rec.records)
            clean = _redacted_error(exc, config_secrets(sd))
            clean.add_note(
                "nothing was declared" if not declared else f"{declared} resource(s) were declared before the error"
            )
            clean.declared = declared
            if clean is exc:
                raise
            raise clean from None
        except Exception as exc:  # noqa: BLE001 - a program failure is reported, not a crash of the tool
            message = redact_text(f"{type(exc).__name__}: {exc}", config_secrets(sd))
            raise SynthError(f"{sd.path}: the stack program failed: {message}") from None
    warnings = list(handler.messages) + [
        f"config {k} is encrypted and was synthesized as {UNSET_SECRET}" for k in sd.undecryptable
    ] + [
        f"config {k} is stored in clear in Pulumi.{sd.stack}.yaml; it is a secret: run `pulumi config rm {k}` and "
        f"`pulumi config set --secret [--path] {k} ...`, and rotate the value" for k in sd.plaintext
    ]
    if progress is not None:
        progress(f"{len(rec.records)} resources declared in {time.monotonic() - started:.1f} s")
    return SynthResult(rec, sd, warnings)


def config_secrets(sd: StackDir) -> list[str]:
    """Every secret value the stack's config holds in clear (for redacting error messages), longest first."""
    values: set[str] = set()

    def leaves(v: Any) -> None:
        if isinstance(v, dict):
            for x in v.values():
                leaves(x)
        elif isinstance(v, list):
            for x in v:
                leaves(x)
        elif isinstance(v, str | int | float) and not isinstance(v, bool):
            text = str(v)
            if len(text) >= 4 and text != UNSET_SECRET:
                values.add(text)
                values.update(line.strip() for line in text.splitlines() if len(line.strip()) >= 8)

    for key in sd.secret_keys:
        leaves(sd.config.get(key))
    return sorted(values, key=lambda a: (-len(a), a))


def _redacted_error(exc: EncliiIacError, secrets: list[str]) -> EncliiIacError:
    """``exc``, or a copy of it whose messages name no secret value."""
    from enclii_iac.errors import SpecError, SpecIssue

    if not secrets or not any(s in str(exc) for s in secrets):
        return exc
    if isinstance(exc, SpecError):
        return SpecError([SpecIssue(i.document, i.path, redact_text(i.message, secrets)) for i in exc.issues])
    return SynthError(redact_text(str(exc), secrets))


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
    # libyaml's emitter (PyYAML's wheels ship it): the same YAML as yaml.safe_dump, about 5x faster
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return "".join(
        "---\n" + yaml.dump(d, Dumper=dumper, sort_keys=False, default_flow_style=False, width=120) for d in docs
    )


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
    atoms: set[str] = set(config_secrets(result.stack))
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
            if isinstance(path_value, str) and 6 <= len(path_value):
                atoms.add(path_value)
    mocks = result.recorder.mocks
    for token, _args, out in getattr(mocks, "calls", []):
        for k in SECRET_CALL_OUTPUTS.get(token, ()):
            v = out.get(k)
            if isinstance(v, str) and len(v) >= 6:
                atoms.add(v)
    atoms.discard(UNSET_SECRET)
    derived = {fn(a) for a in atoms for fn in SECRET_DERIVATIONS}
    # a multi-line secret (a private key, a certificate) is re-indented when YAML or a script embeds it: each of
    # its lines is a secret by itself (PEM armour lines are not, they are the same in every key)
    lines = {line.strip() for a in atoms if "\n" in a for line in a.splitlines()}
    lines = {line for line in lines if len(line) >= 16 and not _PEM_ARMOR.fullmatch(line)}
    return sorted(atoms | derived | lines, key=lambda a: (-len(a), a))


_PEM_ARMOR = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]+-----")


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
                "replaceOnChanges": sorted(r.replace_on_changes),
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
    # secrets are redacted by structure (Pulumi's secret wrappers) and then, as a second line of defence, by
    # value in every file, so a secret that reached a plain input is not written either
    atoms = [a for a in secret_atoms(result) if len(a) >= 8]

    def write(target: Path, text: str) -> None:
        target.write_text(redact_text(text, atoms), encoding="utf-8")

    write(out / "tree.txt", "\n".join(result.recorder.tree()) + "\n")
    write(out / "resources.json", json.dumps(resources_json(result), indent=2, sort_keys=True) + "\n")
    write(out / "outputs.json",
          json.dumps(_canonical(redact(result.recorder.stack_outputs)), indent=2, sort_keys=True) + "\n")
    (out / "manifests").mkdir()
    for ns, docs in sorted(manifests_by_namespace(result.records).items()):
        write(out / "manifests" / f"{ns}.yaml", dump_yaml_documents(docs))
    files = rendered_files(result)
    (out / "rendered").mkdir()
    for name, text in sorted(files.items()):
        target = out / "rendered" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        write(target, text)
    info = summary(result)
    info["rendered"] = sorted(files)
    write(out / "summary.json", json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


def synth(
    path: str | Path, out_dir: str | Path, stack: str | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Run the stack at ``path`` offline and write its artifacts to ``out_dir``; returns the summary."""
    result = run_stack(path, stack, progress)
    if progress is not None:
        progress(f"writing {out_dir}")
    return write_output(result, out_dir)

"""Offline test harness shipped with the package: run Pulumi programs under a recording mock monitor.

``Recorder`` captures, for every registered resource, its type, name, inputs, parent, dependencies,
provider, protect / retain-on-delete / aliases and which inputs are secret. It emulates the secret
outputs real providers declare (Pulumi's mocks do not) and deterministic computed outputs, so that
programs that read ``tunnel.id`` or ``password.result`` synthesize the same way every time.

    rec = Recorder(project="enclii-production", stack="production")
    rec.run(lambda: build_production(spec))
    assert rec.count("kubernetes:apps/v1:Deployment") == 2
    rec.one("kubernetes:core/v1:Namespace", "shop-prod").inputs["metadata"]["name"] == "shop-prod"
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc as _rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_pulumi_func, wait_for_rpcs
from pulumi.runtime.sync_await import _ensure_event_loop as _untyped_ensure_event_loop
from pulumi.runtime.sync_await import _sync_await

_ensure_event_loop: Callable[[], Any] = _untyped_ensure_event_loop
_read_resource: Callable[[Any, Any], Any] = _mocks.MockMonitor.ReadResource

SECRET_SIG_KEY: str = _rpc._special_sig_key
SECRET_SIG: str = _rpc._special_secret_sig
REDACTED = "[secret]"

SECRET_OUTPUTS: dict[str, tuple[str, ...]] = {
    # outputs real providers mark secret (additional_secret_outputs in their schemas)
    "random:index/randomPassword:RandomPassword": ("result", "bcryptHash"),
    "random:index/randomString:RandomString": (),
    "random:index/randomBytes:RandomBytes": ("base64", "hex"),
    "tls:index/privateKey:PrivateKey": ("privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"),
    "cloudflare:index/apiToken:ApiToken": ("value",),
    "cloudflare:index/accountToken:AccountToken": ("value",),
    "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared": ("tunnelSecret",),
}
"""Outputs each provider marks secret; extend it for new resource types."""


def _fake(name: str, salt: str, length: int = 32) -> str:
    return hashlib.sha256(f"{salt}:{name}".encode()).hexdigest()[:length]


def _computed_random_password(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    length = int(inputs.get("length") or 32)
    return {"result": _fake(name, "password", length)[:length], "bcryptHash": "$2a$10$" + _fake(name, "bcrypt", 53)}


def _computed_random_bytes(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    raw = bytes.fromhex(_fake(name, "bytes", 2 * int(inputs.get("length") or 32)))
    import base64

    return {"base64": base64.b64encode(raw).decode(), "hex": raw.hex()}


def _computed_private_key(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "privateKeyPem": f"-----BEGIN PRIVATE KEY-----\nMOCK{_fake(name, 'pk')}\n-----END PRIVATE KEY-----\n",
        "privateKeyOpenssh": (
            f"-----BEGIN OPENSSH PRIVATE KEY-----\nMOCK{_fake(name, 'ssh')}\n-----END OPENSSH PRIVATE KEY-----\n"
        ),
        "publicKeyOpenssh": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5{_fake(name, 'pub')} mock\n",
        "publicKeyPem": "-----BEGIN PUBLIC KEY-----\nMOCK\n-----END PUBLIC KEY-----\n",
    }


STACK_REFERENCE_OUTPUTS: dict[str, dict[str, Any]] = {}
"""Outputs of other stacks by fully qualified name (``org/project/stack``), for StackReference under mocks.
A stack not listed here yields a placeholder ``kubeconfig`` (secret), the one output Enclii stacks read."""


def _computed_stack_reference(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    ref = str(inputs.get("name", name))
    outputs = STACK_REFERENCE_OUTPUTS.get(ref, {"kubeconfig": f"[unset: kubeconfig output of {ref}]"})
    return {"outputs": dict(outputs), "secretOutputNames": ["kubeconfig"]}


COMPUTED_OUTPUTS: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    "pulumi:pulumi:StackReference": _computed_stack_reference,
    "random:index/randomPassword:RandomPassword": _computed_random_password,
    "random:index/randomBytes:RandomBytes": _computed_random_bytes,
    "tls:index/privateKey:PrivateKey": _computed_private_key,
    "cloudflare:index/apiToken:ApiToken": lambda n, i: {"value": "mock-token-" + _fake(n, "token")},
    "cloudflare:index/accountToken:AccountToken": lambda n, i: {"value": "mock-token-" + _fake(n, "token")},
}
"""Deterministic stand-ins for provider-computed outputs, by type token; extend for new types."""

CALL_RESULTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
"""Deterministic results of invokes (data sources), by token; an unknown invoke returns {}."""

SECRET_CALL_OUTPUTS: dict[str, tuple[str, ...]] = {}
"""Results of invokes that are secrets (a tunnel token), by token: synth redacts their values everywhere."""


def is_secret_value(value: Any) -> bool:
    """True for a secret as it reaches the monitor (the sig-wrapped dict)."""
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def _secret(value: Any) -> dict[str, Any]:
    return {SECRET_SIG_KEY: SECRET_SIG, "value": value}


def reveal(value: Any) -> Any:
    """``value`` with every secret wrapper removed (for assertions on what a secret holds)."""
    if is_secret_value(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def redact(value: Any) -> Any:
    """``value`` with every secret leaf replaced by ``"[secret]"`` (the shape of secret maps is kept)."""
    if is_secret_value(value):
        return _redact_all(reveal(value))
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _redact_all(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _redact_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_all(v) for v in value]
    return REDACTED


def secret_paths(value: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every secret inside ``value``."""
    if is_secret_value(value):
        return [prefix or "."]
    out: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out += secret_paths(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += secret_paths(v, f"{prefix}[{i}]")
    return out


@dataclass
class ResourceRecord:
    """One registered resource, as the engine would have seen it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent_urn: str
    inputs: dict[str, Any]
    dependencies: list[str]
    provider: str
    providers: dict[str, str]
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    ignore_changes: list[str]
    replace_on_changes: list[str]
    aliases: list[str]
    additional_secret_outputs: list[str]
    outputs: dict[str, Any] = field(default_factory=dict)
    remote: bool = False
    read: bool = False
    import_id: str = ""

    @property
    def secret_inputs(self) -> list[str]:
        return secret_paths(self.inputs)

    @property
    def plain_inputs(self) -> dict[str, Any]:
        """Inputs with secrets revealed."""
        return dict(reveal(self.inputs))

    @property
    def provider_urn(self) -> str:
        return self.provider.split("::")[0] + "::" + "::".join(self.provider.split("::")[1:-1]) if self.provider else ""

    @property
    def provider_name(self) -> str:
        """Logical name of the explicit provider (``""`` when the default provider would be used)."""
        if not self.provider:
            return ""
        urn = self.provider.rsplit("::", 1)[0]
        return urn.rsplit("::", 1)[-1]


class RecordingMocks(_mocks.Mocks):
    """Mocks that echo inputs and add deterministic computed outputs (``COMPUTED_OUTPUTS``)."""

    def new_resource(self, args: _mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        compute = COMPUTED_OUTPUTS.get(args.typ)
        if compute is not None:
            state.update(compute(args.name, reveal(dict(args.inputs))))
        if args.typ.startswith("kubernetes:") and not args.typ.startswith("pulumi:"):
            meta = reveal(state.get("metadata") or {})
            ns = meta.get("namespace")
            rid = f"{ns}/{meta.get('name', args.name)}" if ns else str(meta.get("name", args.name))
            return rid, state
        if args.typ.startswith("hcloud:index/"):
            # hcloud resources reference each other by integer id (the provider reports decimal strings)
            return str(int(hashlib.sha256(args.name.encode()).hexdigest()[:7], 16)), state
        return f"{args.name}-id", state

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        """Every invoke: ``(token, args, result)``."""
        self._lock = threading.Lock()

    def call(self, args: _mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        fn = CALL_RESULTS.get(args.token)
        result = fn(dict(args.args)) if fn else {}
        with self._lock:
            self.calls.append((args.token, dict(args.args), dict(result)))
        return result, []


class Recorder(_mocks.MockMonitor):
    """A mock monitor that records every registration; ``run()`` executes a program under it."""

    def __init__(
        self,
        project: str = "enclii",
        stack: str = "test",
        config: Mapping[str, Any] | None = None,
        secret_keys: list[str] | None = None,
        preview: bool = False,
    ) -> None:
        super().__init__(RecordingMocks())
        self.project = project
        self.stack = stack
        self.config = dict(config or {})
        self.secret_keys = list(secret_keys or [])
        self.preview = preview
        self.records: list[ResourceRecord] = []
        self.stack_outputs: dict[str, Any] = {}
        self.logger: logging.Logger | None = None
        self._lock = threading.Lock()

    # --- monitor ---------------------------------------------------------------------------------
    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        _ensure_event_loop()
        inputs = _rpc.deserialize_properties(request.object, keep_unknowns=True)
        args = _mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
        )
        id_, state = self.mocks.new_resource(args)
        secret_keys = set(request.additionalSecretOutputs) | set(SECRET_OUTPUTS.get(request.type, ()))
        state = {k: (_secret(v) if k in secret_keys and not is_secret_value(v) else v) for k, v in state.items()}
        obj_proto = _sync_await(_rpc.serialize_properties(state, {}))
        rec = ResourceRecord(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent_urn=request.parent,
            inputs=inputs,
            dependencies=list(request.dependencies),
            provider=request.provider,
            providers=dict(request.providers),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            delete_before_replace=bool(request.deleteBeforeReplace),
            ignore_changes=list(request.ignoreChanges),
            replace_on_changes=list(request.replaceOnChanges),
            aliases=[a.spec.name or a.urn or a.spec.type for a in request.aliases] + list(request.aliasURNs),
            additional_secret_outputs=list(request.additionalSecretOutputs),
            outputs=state,
            remote=bool(request.remote),
            import_id=request.importId,
        )
        with self._lock:
            self.resources[urn] = _mocks.MockMonitor.ResourceRegistration(urn, id_ or "", state)
            self.records.append(rec)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_ or "", object=obj_proto)

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        """Reads (StackReference, ``get`` functions) are recorded like registrations, with ``read=True``."""
        resp = _read_resource(self, request)
        state = _rpc.deserialize_properties(request.properties, keep_unknowns=True)
        rec = ResourceRecord(
            urn=resp.urn,
            type=request.type,
            name=request.name,
            custom=True,
            parent_urn=request.parent,
            inputs=state,
            dependencies=list(request.dependencies),
            provider=request.provider,
            providers={},
            protect=False,
            retain_on_delete=False,
            delete_before_replace=False,
            ignore_changes=[],
            replace_on_changes=[],
            aliases=[],
            additional_secret_outputs=list(request.additionalSecretOutputs),
            outputs=dict(self.resources[resp.urn].state),
            read=True,
        )
        with self._lock:
            self.records.append(rec)
        return resp

    # --- running ---------------------------------------------------------------------------------
    def run(self, program: Callable[[], Any]) -> Recorder:
        """Run ``program`` (which declares resources) to completion under this recorder."""
        pulumi.runtime.set_all_config(
            {k: (v if isinstance(v, str) else _json(v)) for k, v in self.config.items()}, self.secret_keys
        )
        # a fresh root Stack per run: set_mocks only creates one when none exists, and the previous run's
        # Stack would otherwise carry its exports (and its project/stack URN) into this run
        pulumi.runtime.settings.ROOT.set(None)
        pulumi.runtime.set_mocks(
            self.mocks, project=self.project, stack=self.stack, preview=self.preview, monitor=self, logger=self.logger
        )
        settings = pulumi.runtime.settings.SETTINGS
        settings.rpc_manager.clear()
        settings.outputs.clear()
        root = pulumi.runtime.settings.get_root_resource()

        async def _go() -> None:
            program()
            await wait_for_rpcs()

        try:
            _sync_await(run_pulumi_func(_go))
            if root is not None:
                self.stack_outputs = _sync_await(_resolve_outputs(getattr(root, "outputs", {})))
        finally:
            pulumi.runtime.set_all_config({})
        return self

    # --- queries ---------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[ResourceRecord]:
        return iter(list(self.records))

    def of_type(self, type_: str) -> list[ResourceRecord]:
        return [r for r in self.records if r.type == type_]

    def count(self, type_: str) -> int:
        return len(self.of_type(type_))

    def one(self, type_: str, name: str) -> ResourceRecord:
        found = [r for r in self.records if r.type == type_ and r.name == name]
        if len(found) != 1:
            names = sorted(r.name for r in self.of_type(type_))
            raise AssertionError(f"expected one {type_} named {name!r}, found {len(found)}; names: {names}")
        return found[0]

    def by_urn(self, urn: str) -> ResourceRecord | None:
        for r in self.records:
            if r.urn == urn:
                return r
        return None

    def parent_of(self, rec: ResourceRecord) -> ResourceRecord | None:
        return self.by_urn(rec.parent_urn) if rec.parent_urn else None

    def children_of(self, rec: ResourceRecord) -> list[ResourceRecord]:
        return [r for r in self.records if r.parent_urn == rec.urn]

    def has_props(self, type_: str, **props: Any) -> list[ResourceRecord]:
        """Records of ``type_`` whose inputs deep-partially match ``props`` (CDK ``hasResourceProperties``)."""
        return [r for r in self.of_type(type_) if _matches(r.plain_inputs, props)]

    def tree(self) -> list[str]:
        """Sorted ``type name <- parent-type parent-name`` lines: the shape of the URN tree, for golden files."""
        lines = []
        for r in self.records:
            parent = self.by_urn(r.parent_urn) if r.parent_urn else None
            where = f"{parent.type} {parent.name}" if parent else "(stack)"
            lines.append(f"{r.type} {r.name} <- {where}")
        return sorted(lines)

    def kubernetes_objects(self) -> list[dict[str, Any]]:
        """Every declared Kubernetes object as a manifest (secrets left wrapped)."""
        out = []
        for r in self.records:
            if r.type.startswith("kubernetes:") and r.custom and "apiVersion" in r.inputs:
                out.append(r.inputs)
        return out


def _matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _matches(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_matches(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


async def _resolve_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for key, value in outputs.items():
        out = pulumi.Output.from_input(value)
        plain = await out.future(with_unknowns=True)
        resolved[key] = _secret(plain) if await out.is_secret() else plain
    return resolved


GOLDEN_DIR_ENV = "UPDATE_GOLDEN"


def assert_golden(path: str | Path, actual: str) -> None:
    """Compare ``actual`` with the golden file at ``path``; ``UPDATE_GOLDEN=1`` rewrites it."""
    import os

    p = Path(path)
    if os.environ.get(GOLDEN_DIR_ENV) == "1" or not p.exists():
        if os.environ.get("CI") == "true" and not p.exists():
            raise AssertionError(f"golden file {p} is missing; run the tests with UPDATE_GOLDEN=1 and commit it")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(actual, encoding="utf-8")
        return
    expected = p.read_text(encoding="utf-8")
    if expected != actual:
        import difflib

        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), str(p), "actual", n=2))
        raise AssertionError(f"{p} differs (UPDATE_GOLDEN=1 to accept):\n{diff[:6000]}")

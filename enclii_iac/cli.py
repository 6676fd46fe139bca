"""``enclii-iac``: validate, synthesize and check an Enclii platform offline.

Exit codes: 0 success; 1 invalid input, policy violations or a failed check; 2 usage errors.
Every command takes ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

from enclii_iac import defaults
from enclii_iac.errors import EncliiIacError, SpecError

Handler = Callable[[argparse.Namespace], int]


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print ``data`` as JSON under ``--json``, else ``text``."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(text)


def fail(args: argparse.Namespace, exc: EncliiIacError) -> int:
    """Report ``exc`` (JSON on stdout under ``--json``, text on stderr) and return exit code 1."""
    if isinstance(exc, SpecError):
        data: dict[str, Any] = {
            "ok": False,
            "error": "invalid spec",
            "issues": [{"document": i.document, "path": i.path, "message": i.message} for i in exc.issues],
        }
        text = "invalid spec:\n" + "\n".join(f"  {i}" for i in exc.issues)
        if exc.declared is not None:
            data["declared"] = exc.declared
            text += "\n" + ("nothing was declared" if exc.declared == 0 else f"{exc.declared} resources declared")
    else:
        data = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
        text = f"error: {exc}"
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(text, file=sys.stderr)
    return 1


# --- commands ---------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from enclii_iac.models.loader import build_platform, load_documents, read_files

    docs = load_documents(read_files(args.files))
    tenants = docs.tenants()
    platform = None
    if docs.platform is not None:
        platform = build_platform(docs.platform, tenants, docs.platform_source)
    services = sum(len(p.services) for p in tenants.values())
    data = {
        "ok": True,
        "files": list(args.files),
        "platform": platform.name if platform else None,
        "projects": {
            name: {"environments": sorted(p.environments), "services": sorted(p.services)}
            for name, p in sorted(tenants.items())
        },
        "services": services,
    }
    text = f"ok: {len(tenants)} project(s), {services} service(s)"
    if platform is not None:
        text = f"ok: platform {platform.name!r} ({platform.stage}), {len(tenants)} project(s), {services} service(s)"
    emit(args, data, text)
    return 0


def schemas() -> dict[str, Any]:
    """JSON Schema of every document kind, for editors (``enclii-iac schema``)."""
    from enclii_iac.models.platform import PlatformSpec
    from enclii_iac.models.service import ServiceDocument
    from enclii_iac.models.tenant import ProjectDocument

    return {
        "Service": ServiceDocument.model_json_schema(by_alias=True),
        "Project": ProjectDocument.model_json_schema(by_alias=True),
        "Platform": PlatformSpec.model_json_schema(by_alias=True),
    }


def cmd_schema(args: argparse.Namespace) -> int:
    all_schemas = schemas()
    data = all_schemas[args.kind] if args.kind else all_schemas
    print(json.dumps(data, indent=2, sort_keys=True))
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from enclii_iac.synth import synth

    info = synth(args.stack_dir, args.out, args.stack)
    lines = [
        f"synthesized {info['project']}/{info['stack']}: {info['resources']} resources, "
        f"{info['kubernetesObjects']} Kubernetes objects in {len(info['namespaces'])} namespaces -> {args.out}"
    ]
    width = max((len(t) for t in info["byType"]), default=0)
    lines += [f"  {t.ljust(width)}  {n}" for t, n in info["byType"].items()]
    if info["rendered"]:
        lines.append("rendered: " + ", ".join(info["rendered"]))
    lines += [f"warning: {w}" for w in info["warnings"]]
    emit(args, {"ok": True, **info}, "\n".join(lines))
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    pins: dict[str, str | None] = {}
    for dist in (
        "pulumi",
        "pulumi-hcloud",
        "pulumi-cloudflare",
        "pulumi-kubernetes",
        "pulumi-command",
        "pulumi-random",
        "pulumi-tls",
        "pydantic",
    ):
        try:
            pins[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pins[dist] = None
    try:
        own = metadata.version("enclii-iac")
    except metadata.PackageNotFoundError:
        own = "0+unknown"
    data = {"enclii-iac": own, "k3s": defaults.K3S_VERSION, "kubernetes": defaults.KUBERNETES_VERSION, **pins}
    emit(args, data, "\n".join(f"{k} {v}" for k, v in data.items()))
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    from enclii_iac.policy.run import check_stack

    report = check_stack(args.stack_dir, args.stack)
    violations = report["violations"]
    lines = [f"{v['rule']}: {v['resource']}: {v['message']}" for v in violations]
    lines.append(f"{len(violations)} violation(s) in {report['resources']} resources")
    emit(args, {"ok": not violations, **report}, "\n".join(lines))
    return 1 if violations else 0


# --- parser -----------------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enclii-iac", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="validate enclii.yaml / platform spec files")
    p.add_argument("files", nargs="+", metavar="FILE")
    _common(p)
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of the specs")
    p.add_argument("--kind", choices=["Service", "Project", "Platform"])
    _common(p)
    p.set_defaults(handler=cmd_schema)

    p = sub.add_parser("synth", help="run a stack offline and write what it declares")
    p.add_argument("stack_dir", metavar="STACK_DIR")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--stack", help="stack name (default: the first Pulumi.<stack>.yaml)")
    _common(p)
    p.set_defaults(handler=cmd_synth)

    p = sub.add_parser("policy", help="check a stack's declared resources against the policy rules")
    p.add_argument("stack_dir", metavar="STACK_DIR")
    p.add_argument("--stack")
    _common(p)
    p.set_defaults(handler=cmd_policy)

    p = sub.add_parser("version", help="print versions of the toolkit, its pins and k3s")
    _common(p)
    p.set_defaults(handler=cmd_version)

    for register in _plugins():
        register(sub)
    return parser


def _plugins() -> list[Callable[[Any], None]]:
    from enclii_iac.r2.cli import register as r2_commands

    return [r2_commands]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except EncliiIacError as exc:
        return fail(args, exc)
    except BrokenPipeError:
        return 1

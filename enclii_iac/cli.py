"""``enclii-iac``: validate, synthesize, diff and check an Enclii platform offline.

Exit codes: 0 success; 1 invalid input, policy violations, replacements (``diff``) or a failed check;
2 usage errors. Every command takes ``--json``: one JSON document on stdout, usage errors included.
Progress of long runs goes to stderr (``--quiet`` turns it off); stdout carries only the result.

Messages follow one style: lower case, no final full stop, ``error: ...`` / ``warning: ...`` prefixes,
and the fix after a semicolon.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any, NoReturn

from enclii_iac import __version__, defaults
from enclii_iac.errors import EncliiIacError, SpecError, ToolError

Handler = Callable[[argparse.Namespace], int]

DEBUG_ENV = "ENCLII_DEBUG"
"""Set to 1 to get the traceback of an unexpected error instead of the one-line report."""


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
        text = "error: invalid spec:\n" + "\n".join(f"  {i}" for i in exc.issues)
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


def progress_for(args: argparse.Namespace) -> Callable[[str], None] | None:
    """A progress printer for long runs (``<command>: <message> [<seconds> s]`` on stderr), or None under
    ``--quiet``."""
    if getattr(args, "quiet", False):
        return None
    started = time.monotonic()
    command = getattr(args, "command", "enclii-iac")

    def report(message: str) -> None:
        print(f"{command}: {message} [{time.monotonic() - started:.1f} s]", file=sys.stderr, flush=True)

    return report


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
        from enclii_iac.models.guards import platform_warnings

        warnings = platform_warnings(platform)  # allowed, worth knowing: oversubscribed environments
        data["warnings"] = warnings
        if not getattr(args, "json", False):
            for warning in warnings:
                print(f"warning: {warning}", file=sys.stderr)
    emit(args, data, text)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from enclii_iac.schema import document_schema, kind_schema

    data = kind_schema(args.kind) if args.kind else document_schema()
    text = json.dumps(data, indent=2, sort_keys=True)
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        except OSError as exc:
            raise ToolError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        emit(args, {"ok": True, "out": args.out, "$id": data["$id"]}, f"wrote {args.out} ({data['$id']})")
    else:
        print(text)
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from enclii_iac.synth import synth

    info = synth(args.stack_dir, args.out, args.stack, progress_for(args))
    lines = [
        f"synthesized {info['project']}/{info['stack']}: {info['resources']} resources, "
        f"{info['kubernetesObjects']} Kubernetes objects in {len(info['namespaces'])} namespaces -> {args.out}"
    ]
    width = max((len(t) for t in info["byType"]), default=0)
    lines += [f"  {t.ljust(width)}  {n}" for t, n in info["byType"].items()]
    if info["rendered"]:
        lines.append(f"rendered: {len(info['rendered'])} host files in {args.out}/rendered")
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
    data = {"enclii-iac": _own_version(), "k3s": defaults.K3S_VERSION, "kubernetes": defaults.KUBERNETES_VERSION,
            **pins}
    emit(args, data, "\n".join(f"{k} {v}" for k, v in data.items()))
    return 0


def _own_version() -> str:
    try:
        return metadata.version("enclii-iac")
    except metadata.PackageNotFoundError:
        return __version__


def cmd_policy(args: argparse.Namespace) -> int:
    from enclii_iac.policy.run import check_stack

    report = check_stack(args.stack_dir, args.stack, progress_for(args))
    violations = report["violations"]
    lines = [f"{v['rule']}: {v['resource']}: {v['message']}" for v in violations]
    lines.append(f"{len(violations)} violation(s) in {report['resources']} resources")
    emit(args, {"ok": not violations, **report}, "\n".join(lines))
    return 1 if violations else 0


def cmd_check(args: argparse.Namespace) -> int:
    from enclii_iac.check import check_stack, report_text

    report = check_stack(args.stack_dir, args.stack, progress_for(args), tools=not args.no_tools)
    emit(args, report, report_text(report))
    return 0 if report["ok"] else 1


def cmd_diff(args: argparse.Namespace) -> int:
    from enclii_iac.diff import diff_paths, markdown, text

    report = diff_paths(args.a, args.b, args.stack, progress_for(args))
    ok = not report["replaced"] and not report["blocked"]
    if args.json:
        emit(args, {"ok": ok, **report}, "")
    else:
        print(markdown(report) if args.format == "markdown" else text(report), end="\n" if args.format == "text"
              else "")
    return 0 if ok else 1


def cmd_cost(args: argparse.Namespace) -> int:
    from enclii_iac.cost.report import (
        bill_json,
        diff,
        diff_markdown,
        load_usage,
        markdown,
        other_bill,
        stack_bill,
        text,
    )

    usage = load_usage(args.usage) if args.usage else None
    bill = stack_bill(args.stack_dir, args.stack, usage=usage, currency=args.currency, progress=progress_for(args))
    if args.diff:
        other = other_bill(args.diff, args.stack, usage=usage, currency=bill.currency, progress=progress_for(args))
        report = diff(other, bill)
        emit(args, {"ok": True, **report}, diff_markdown(report).rstrip("\n"))
        return 0
    if args.markdown and not args.json:
        print(markdown(bill), end="")
    else:
        emit(args, {"ok": True, **bill_json(bill)}, text(bill))
    return 0


# --- parser -----------------------------------------------------------------------------------------

_JSON_USAGE = False
"""True while parsing a command line that asks for --json: usage errors are then printed as JSON."""


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one JSON document on stdout under ``--json`` (exit code 2 either way)."""

    def error(self, message: str) -> NoReturn:
        if _JSON_USAGE:
            data = {"ok": False, "error": "usage", "message": message, "usage": self.format_usage().strip()}
            print(json.dumps(data, indent=2, sort_keys=True))
            raise SystemExit(2)
        self.print_usage(sys.stderr)
        print(f"error: {message}; see {self.prog} --help", file=sys.stderr)
        raise SystemExit(2)


def _common(p: argparse.ArgumentParser, *, long_running: bool = False) -> None:
    p.add_argument("--json", action="store_true", help="print one machine-readable JSON document on stdout")
    if long_running:
        p.add_argument("-q", "--quiet", action="store_true", help="print no progress on stderr")


def _stack_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("stack_dir", metavar="STACK_DIR", help="a Pulumi project directory, e.g. stacks/production")
    p.add_argument("--stack", metavar="NAME", help="stack name (default: the first Pulumi.<stack>.yaml)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="enclii-iac",
        description="Validate, synthesize, diff and check an Enclii platform offline (no cloud account, no "
        "Pulumi CLI).",
        epilog="exit codes: 0 success; 1 invalid input, violations, replacements or failed checks; 2 usage errors. "
        "docs: README.md and docs/ of the enclii_iac repository",
    )
    parser.add_argument("--version", action="version", version=f"enclii-iac {_own_version()}",
                        help="print the toolkit's version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("validate", help="validate enclii.yaml and platform spec files",
                       description="Validate enclii.yaml and platform spec files; every problem is reported with "
                       "its document, field path and fix.")
    p.add_argument("files", nargs="+", metavar="FILE", help="YAML files (one or more documents each)")
    _common(p)
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of Enclii documents (for editors)",
                       description="Print one JSON Schema (draft 2020-12) validating every Enclii document, "
                       "selected by kind: point an editor at it with # yaml-language-server: $schema=<file>.")
    p.add_argument("--kind", choices=["Service", "Project", "Platform"],
                   help="only documents of this kind (default: every kind, selected by the document's kind)")
    p.add_argument("--out", metavar="FILE", help="write the schema to FILE instead of stdout")
    _common(p)
    p.set_defaults(handler=cmd_schema)

    p = sub.add_parser("synth", help="run a stack offline and write what it declares",
                       description="Run the stack's own __main__.py offline and write its resource tree, "
                       "Kubernetes objects and rendered host files; secrets are written as [secret].")
    _stack_args(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (replaced on each run)")
    _common(p, long_running=True)
    p.set_defaults(handler=cmd_synth)

    p = sub.add_parser("policy", help="check a stack's declared resources against the policy rules",
                       description="Synthesize the stack offline and check every policy rule (tenancy, firewalls, "
                       "edge); exit 1 on any violation.")
    _stack_args(p)
    _common(p, long_running=True)
    p.set_defaults(handler=cmd_policy)

    p = sub.add_parser("check", help="check the prerequisites of a real pulumi up",
                       description="Check what a real pulumi up needs: secrets set in the enclii namespace and "
                       "encrypted, the Cloudflare token's permissions, pinned host keys, the way in to the "
                       "Kubernetes API, tools on PATH; each problem with its fix. Offline: nothing is decrypted "
                       "or called.")
    _stack_args(p)
    p.add_argument("--no-tools", action="store_true",
                   help="skip the checks of tools on PATH (pulumi, cloudflared), e.g. on a machine that only reviews")
    _common(p, long_running=True)
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("diff", help="compare two synth outputs or two stack directories",
                       description="Compare what two synth outputs (or stack directories, synthesized first) "
                       "declare: added, removed, renamed and changed resources, and which changes force a "
                       "replacement; exit 1 when anything would be replaced.")
    p.add_argument("a", metavar="A", help="the before side: a synth output directory or a stack directory")
    p.add_argument("b", metavar="B", help="the after side: a synth output directory or a stack directory")
    p.add_argument("--stack", metavar="NAME", help="stack name for stack directories (default: the first)")
    p.add_argument("--format", choices=["text", "markdown"], default="text",
                   help="text (default) or markdown, for a pull request comment")
    _common(p, long_running=True)
    p.set_defaults(handler=cmd_diff)

    p = sub.add_parser("cost", help="estimate a stack's monthly cost and its showback per project and environment",
                       description="Synthesize the stack offline and price what it declares with the dated price "
                       "sheet (enclii_iac/cost/prices.yaml): fixed infrastructure, R2 from the buckets and their "
                       "lifecycles, custom hostnames, and the servers' cost shared by requests per project and "
                       "environment, with the platform's share and idle capacity apart.")
    _stack_args(p)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--markdown", action="store_true", help="print a Markdown table (for a pull request comment)")
    p.add_argument("--diff", metavar="OTHER", nargs="+", help="compare with another stack directory, or a Platform "
                   "spec file and its tenant files (OTHER before, STACK_DIR after); Markdown, or JSON with --json")
    p.add_argument("--usage", metavar="FILE", help="YAML usage assumptions (R2 ingest and operations per bucket, "
                   "showback weights); default: the documented defaults")
    p.add_argument("--currency", choices=["EUR", "USD"], help="report currency (default: the platform budget's, "
                   "else USD)")
    _common(p, long_running=True)
    p.set_defaults(handler=cmd_cost)

    p = sub.add_parser("version", help="print versions of the toolkit, its pins and k3s",
                       description="Print the versions of enclii-iac, its pinned providers, k3s and Kubernetes.")
    _common(p)
    p.set_defaults(handler=cmd_version)

    for register in _plugins():
        register(sub)
    return parser


def _plugins() -> list[Callable[[Any], None]]:
    from enclii_iac.preview.cli import register as preview_commands
    from enclii_iac.r2.cli import register as r2_commands

    return [r2_commands, preview_commands]


def main(argv: Sequence[str] | None = None) -> int:
    global _JSON_USAGE
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    _JSON_USAGE = "--json" in argv
    try:
        args = parser.parse_args(argv)
    finally:
        _JSON_USAGE = False
    handler: Handler = args.handler
    try:
        return handler(args)
    except EncliiIacError as exc:
        return fail(args, exc)
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug is reported in one line (the traceback with ENCLII_DEBUG=1)
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        message = f"internal error: {type(exc).__name__}: {exc}; rerun with {DEBUG_ENV}=1 for the traceback and " \
                  "report it"
        if getattr(args, "json", False):
            print(json.dumps({"ok": False, "error": "internal", "message": message}, indent=2, sort_keys=True))
        else:
            print(f"error: {message}", file=sys.stderr)
        return 1


GC_THRESHOLD = (100_000, 50, 100)
"""The CLI process's collector thresholds. A synth allocates hundreds of thousands of objects that live until
it ends, and the default thresholds (700, 10, 10) make the collector traverse them over and over (eight full
collections for the production stack): about 0.7 s of its 3.8 s. Nothing is left uncollected; memory stays
within 2 %."""


def run() -> NoReturn:
    """The ``enclii-iac`` console script: ``main`` in a process tuned for one run, which ends without
    the interpreter's teardown (freeing the run's objects one by one takes about 0.7 s after a production
    synth): every file is written and closed and both streams are flushed first."""
    gc.set_threshold(*GC_THRESHOLD)
    try:
        code: int = main()
    except SystemExit as exc:  # argparse: --help, --version and usage errors
        if isinstance(exc.code, int):
            code = exc.code
        elif exc.code is None:
            code = 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a closed pipe or stream: nothing more can be said
            code = code or 1
    os._exit(code)

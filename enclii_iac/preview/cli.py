"""``enclii-iac preview up|destroy|list|gc``: preview environments per pull request (see docs/previews.md).

``register(subparsers)`` adds the commands to the top-level parser. The state backend is the one the
environment configures for the ``pulumi`` CLI (``PULUMI_BACKEND_URL``, ``PULUMI_CONFIG_PASSPHRASE``); the
GitHub token of ``gc --github-repo`` comes from ``GITHUB_TOKEN`` only, never from the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from enclii_iac.cli import emit, progress_for
from enclii_iac.preview.driver import PRODUCTION_STACK, AutomationBackend, PreviewDriver, load_secrets

DEFAULT_STACK_DIR = "stacks/preview"


def _driver(args: argparse.Namespace) -> PreviewDriver:
    return PreviewDriver(
        AutomationBackend(args.stack_dir),
        args.stack_dir,
        production_stack=getattr(args, "production_stack", None) or PRODUCTION_STACK,
        progress=progress_for(args),
    )


def _engine_output(args: argparse.Namespace) -> Callable[[str], None] | None:
    """The Pulumi CLI's own progress, on stderr unless ``--quiet``."""
    if args.quiet:
        return None

    def echo(line: str) -> None:
        print(line.rstrip("\n"), file=sys.stderr, flush=True)

    return echo


def cmd_up(args: argparse.Namespace) -> int:
    result = _driver(args).up(
        args.pr,
        images=args.image or [],
        ttl=args.ttl,
        secrets=load_secrets(args.secrets),
        max_previews=args.max,
        database=args.database,
        on_output=_engine_output(args),
    )
    lines = [f"preview {result['stack']} {'created' if result['created'] else 'updated'}, expires "
             f"{result['expiresAt']}, about ${result['monthlyCost']:.2f}/month ({result['costSource']})"]
    lines += [f"  {url}" for url in result["urls"]]
    lines += [f"evicted: pr-{pr}" for pr in result["evicted"]]
    emit(args, result, "\n".join(lines))
    return 0


def cmd_destroy(args: argparse.Namespace) -> int:
    result = _driver(args).destroy(args.pr, on_output=_engine_output(args))
    emit(args, result, f"preview {result['stack']} destroyed" if result["destroyed"]
         else f"no preview {result['stack']}: nothing to destroy")
    return 0


def _row(p: dict[str, Any]) -> str:
    cost = "?" if p["monthlyCost"] is None else f"${p['monthlyCost']:.2f}"
    age = "?" if p["ageHours"] is None else f"{p['ageHours']:.1f}h"
    state = "expired" if p["expired"] else "updating" if p["inProgress"] else "live"
    return (f"pr-{p['pr']:<6} {state:<8} age {age:<8} expires {p['expiresAt'] or '-':<20} {cost:>8}/month  "
            f"{' '.join(p['urls'])}")


def cmd_list(args: argparse.Namespace) -> int:
    result = _driver(args).list()
    lines = [_row(p) for p in result["previews"]] or ["no previews"]
    emit(args, result, "\n".join(lines))
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    result = _driver(args).gc(
        closed=args.closed or [],
        github_repo=args.github_repo,
        github_token=os.environ.get("GITHUB_TOKEN", ""),
        github_api=args.github_api,
        dry_run=args.dry_run,
        on_output=_engine_output(args),
    )
    verb = "would destroy" if result["dryRun"] else "destroyed"
    lines = [f"{verb} {d['stack']}: {d['reason']}" for d in result["destroyed"]]
    lines += [f"error: {f['stack']}: {f['error']}" for f in result["failed"]]
    lines.append(f"{len(result['destroyed'])} collected, {len(result['failed'])} failed, {len(result['kept'])} kept")
    emit(args, result, "\n".join(lines))
    return 0 if result["ok"] else 1


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack-dir", default=DEFAULT_STACK_DIR, metavar="DIR",
                   help=f"the preview Pulumi project (default: {DEFAULT_STACK_DIR})")
    p.add_argument("--json", action="store_true", help="print one machine-readable JSON document on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="print no progress on stderr")


def _pr(value: str) -> int:
    try:
        pr = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value[:20]!r} is not a pull request number") from None
    if pr < 1 or pr > 999_999_999:
        raise argparse.ArgumentTypeError(f"{value!r} is not a pull request number (1 or more)")
    return pr


def _count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value[:20]!r} is not a number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: at least 1 preview")
    return n


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``preview up|destroy|list|gc`` to the ``enclii-iac`` parser."""
    preview = subparsers.add_parser(
        "preview", help="preview environments per pull request (up, destroy, list, gc)",
        description="One stack pr-<n> of stacks/preview per pull request, in the configured Pulumi state backend.")
    sub = preview.add_subparsers(dest="preview_command", required=True, metavar="COMMAND")

    p = sub.add_parser("up", help="create or update the preview of a pull request",
                       description="Create or update stack pr-<n>: the pull request's images, production's for "
                       "the services it does not build, per-PR secrets, a time to live.")
    p.add_argument("--pr", type=_pr, required=True, metavar="N", help="pull request number")
    p.add_argument("--image", action="append", metavar="SERVICE=DIGEST",
                   help="an image the pull request built: shop/api=sha256:<64 hex> or a whole reference "
                   "(repeatable; earlier builds of the PR are kept)")
    p.add_argument("--ttl", metavar="DURATION", help="time to live from now, e.g. 72h or 3d (default: 72h, or the "
                   "preview's own)")
    p.add_argument("--secrets", metavar="FILE", help="per-PR secret values, JSON or YAML: "
                   "{\"<project>/<service>\": {\"NAME\": \"value\"}}")
    p.add_argument("--max", type=_count, metavar="N",
                   help="at most N previews: a new one evicts the oldest idle preview")
    p.add_argument("--database", action="store_true",
                   help="a database for the preview in the platform's PostgreSQL (refused until the platform "
                   "declares one)")
    p.add_argument("--production-stack", metavar="NAME", help=f"default: {PRODUCTION_STACK}")
    _common(p)
    p.set_defaults(handler=cmd_up, command="preview up")

    p = sub.add_parser("destroy", help="destroy the preview of a pull request and remove its stack",
                       description="Destroy stack pr-<n> and remove it; nothing to do when it does not exist.")
    p.add_argument("--pr", type=_pr, required=True, metavar="N", help="pull request number")
    _common(p)
    p.set_defaults(handler=cmd_destroy, command="preview destroy")

    p = sub.add_parser("list", help="list the previews: PR, URLs, age, expiry, monthly cost",
                       description="List every stack pr-<n>: its URLs, age, expiry and monthly cost.")
    _common(p)
    p.set_defaults(handler=cmd_list, command="preview list")

    p = sub.add_parser("gc", help="destroy previews past their TTL or whose pull request is closed",
                       description="Destroy every preview past its time to live, or whose pull request is closed "
                       "(--closed, or the GitHub API with --github-repo and GITHUB_TOKEN).")
    p.add_argument("--closed", type=_pr, action="append", metavar="N", help="a closed pull request (repeatable)")
    p.add_argument("--github-repo", metavar="OWNER/NAME", help="ask the GitHub API which pull requests are closed "
                   "(token in GITHUB_TOKEN)")
    p.add_argument("--github-api", default="https://api.github.com", metavar="URL",
                   help="GitHub API base URL (GitHub Enterprise: https://HOST/api/v3)")
    p.add_argument("--dry-run", action="store_true", help="only report what would be destroyed")
    _common(p)
    p.set_defaults(handler=cmd_gc, command="preview gc")

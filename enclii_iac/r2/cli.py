"""``enclii-iac state bootstrap`` and ``enclii-iac backups verify``.

``register(subparsers)`` adds both commands to the top-level parser; each handler takes the parsed
arguments and returns the exit code (0 success; 1 failure, with a message saying what to do), printing
text or, with ``--json``, one JSON document on stdout.

Credentials come from ``--access-key-id`` / ``--secret-access-key`` or ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``; the endpoint from ``--endpoint`` or ``--account-id``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from enclii_iac.cli import emit, fail
from enclii_iac.errors import EncliiIacError, ToolError
from enclii_iac.r2.backups import backups_verify, parse_interval
from enclii_iac.r2.client import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, R2_REGION, connection
from enclii_iac.r2.state import DEFAULT_STATE_BUCKET, state_bootstrap

Handler = Callable[[argparse.Namespace], int]


def _conn(args: argparse.Namespace, account_id: str | None = None, jurisdiction: str | None = None) -> Any:
    return connection(
        endpoint=args.endpoint,
        account_id=args.account_id or account_id,
        jurisdiction=args.jurisdiction or jurisdiction or "default",
        access_key_id=args.access_key_id,
        secret_access_key=args.secret_access_key,
        region=args.region,
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
    )


def cmd_state_bootstrap(args: argparse.Namespace) -> int:
    """Create the Pulumi state bucket if missing and print the ``pulumi login`` command."""
    try:
        result = state_bootstrap(_conn(args), args.bucket, create=not args.check)
    except EncliiIacError as exc:
        return fail(args, exc)
    verb = "created" if result.created else "exists"
    text = (
        f"bucket {result.bucket} {verb} at {result.endpoint}\n"
        f"log in with (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY set to the same R2 token pair):\n"
        f"  {result.login_command}"
    )
    emit(args, {"ok": True, **result.as_dict()}, text)
    return 0


def _schedules_from_platform(args: argparse.Namespace) -> tuple[str, dict[str, float], str, str]:
    """``(bucket, schedules, account_id, jurisdiction)`` of ``--bucket-key`` in a platform spec file."""
    from enclii_iac.models.loader import load_platform

    spec = load_platform(args.platform)
    if spec.edge is None or spec.edge.r2 is None:
        raise ToolError(f"{args.platform}: the platform declares no edge.r2 buckets")
    bucket = spec.edge.r2.buckets.get(args.bucket_key)
    if bucket is None:
        known = ", ".join(sorted(spec.edge.r2.buckets)) or "none"
        raise ToolError(f"{args.platform}: no bucket {args.bucket_key!r} under edge.r2.buckets (known: {known})")
    schedules = {prefix: parse_interval(every) for prefix, every in bucket.schedules.items()}
    pg = spec.data.postgres if spec.data is not None else None
    if pg is not None and pg.backup is not None and pg.backup.bucket == bucket.name:
        # PostgreSQL's folder gets WAL every few minutes, which would hide a stale base backup: check base/
        folder = f"{pg.backup.folder}/"
        if folder in schedules:
            from enclii_iac.models.data import archive_folder

            schedules[f"{archive_folder(pg)}base/"] = schedules.pop(folder)
    return bucket.name, schedules, spec.edge.account_id, bucket.jurisdiction


def _parse_prefixes(values: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for value in values:
        prefix, sep, every = value.rpartition("=")
        if not sep:
            raise ToolError(f"--prefix {value!r}: use PREFIX=INTERVAL, e.g. etcd/=12h (empty prefix: =24h)")
        if prefix in out:
            raise ToolError(f"--prefix {prefix!r} is given twice")
        out[prefix] = parse_interval(every)
    return out


def cmd_backups_verify(args: argparse.Namespace) -> int:
    """Report the newest object per prefix; fail when one is older than twice its schedule."""
    try:
        bucket = args.bucket
        account_id = jurisdiction = None
        schedules = _parse_prefixes(args.prefix or [])
        if args.platform:
            spec_bucket, spec_schedules, account_id, jurisdiction = _schedules_from_platform(args)
            bucket = bucket or spec_bucket
            schedules = {**spec_schedules, **schedules}
        if not bucket:
            raise ToolError("no bucket: pass --bucket NAME or --platform FILE")
        report = backups_verify(_conn(args, account_id, jurisdiction), bucket, schedules, page_size=args.page_size)
    except EncliiIacError as exc:
        return fail(args, exc)
    emit(args, report.as_dict(), report.text())
    return 0 if report.ok else 1


def _connection_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("endpoint and credentials")
    g.add_argument("--endpoint", metavar="URL", help="S3 endpoint URL (default: from --account-id)")
    g.add_argument("--account-id", metavar="ID", help="Cloudflare account id: https://<ID>.r2.cloudflarestorage.com")
    g.add_argument("--jurisdiction", choices=["default", "eu", "fedramp"], help="R2 jurisdiction of the bucket")
    g.add_argument("--access-key-id", metavar="KEY", help="default: $AWS_ACCESS_KEY_ID")
    g.add_argument(
        "--secret-access-key",
        metavar="SECRET",
        help="default: $AWS_SECRET_ACCESS_KEY (prefer the variable: arguments show up in ps and history)",
    )
    g.add_argument("--region", default=R2_REGION, help="S3 region (default: auto, as R2 expects)")
    g.add_argument("--connect-timeout", type=float, default=DEFAULT_CONNECT_TIMEOUT, metavar="SECONDS",
                   help=f"seconds to open a connection (default: {DEFAULT_CONNECT_TIMEOUT:g})")
    g.add_argument("--read-timeout", type=float, default=DEFAULT_READ_TIMEOUT, metavar="SECONDS",
                   help=f"seconds to wait for each response (default: {DEFAULT_READ_TIMEOUT:g})")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``state bootstrap`` and ``backups verify`` to the ``enclii-iac`` parser (handlers in ``handler``)."""
    state = subparsers.add_parser("state", help="Pulumi state backend on R2")
    state_sub = state.add_subparsers(dest="state_command", required=True, metavar="COMMAND")
    p = state_sub.add_parser("bootstrap", help="create the state bucket (idempotent) and print `pulumi login`")
    p.add_argument("--bucket", default=DEFAULT_STATE_BUCKET, help=f"default: {DEFAULT_STATE_BUCKET}")
    p.add_argument("--check", action="store_true", help="only check that the bucket exists; create nothing")
    _connection_args(p)
    p.set_defaults(handler=cmd_state_bootstrap)

    backups = subparsers.add_parser("backups", help="backups in R2")
    backups_sub = backups.add_subparsers(dest="backups_command", required=True, metavar="COMMAND")
    p = backups_sub.add_parser("verify", help="fail when a prefix's newest object is older than twice its schedule")
    p.add_argument("--bucket", help="bucket to check (default: from --platform)")
    p.add_argument(
        "--prefix",
        action="append",
        metavar="PREFIX=INTERVAL",
        help="a prefix and how often it gets a new object, e.g. etcd/=12h (repeatable)",
    )
    p.add_argument(
        "--platform", metavar="FILE", help="read the bucket and its token schedules from a platform spec (edge.r2)"
    )
    p.add_argument("--bucket-key", default="backups", help="bucket key under edge.r2.buckets (default: backups)")
    p.add_argument("--page-size", type=int, default=1000, help="ListObjectsV2 page size (1-1000)")
    _connection_args(p)
    p.set_defaults(handler=cmd_backups_verify)

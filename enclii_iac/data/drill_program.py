#!/usr/bin/env python3
"""The restore drill: prove that the newest PostgreSQL base backup on R2, plus its WAL, restores.

Shipped verbatim into the drill CronJob (a ConfigMap); needs only Python 3.11, boto3 and the PostgreSQL
server binaries, never enclii_iac. The layout read is the one barman-cloud (CloudNativePG) writes under
``s3://BUCKET/PREFIX``::

    base/<backup id>/backup.info              key=value lines (status, end_time, begin_wal, ...)
    base/<backup id>/data.tar[.gz|.bz2]       the data directory
    wals/<first 16 hex of the name>/<WAL>[.gz|.bz2]
    wals/<timeline>.history[.gz]

Commands::

    drill_program.py restore --bucket B --prefix postgres/enclii-pg/ --workdir DIR --pg-bin DIR
                             --check-query "SELECT count(*) FROM pg_database" [--metrics-file F] [--pushgateway URL]
    drill_program.py wal-get NAME DEST          (PostgreSQL's restore_command during the drill)
    drill_program.py freshness --bucket B --check KIND=PREFIX=SECONDS ... [--metrics-file F] [--pushgateway URL]

S3 settings come from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, DRILL_S3_ENDPOINT,
DRILL_BUCKET, DRILL_PREFIX (the last two are set by ``restore`` for ``wal-get``). Every value is passed as
an argument vector, never through a shell. Exit status: 0 when the drill (or every freshness check)
passed, 1 when it failed, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

METRIC_PREFIX = "enclii_restore_drill"
WAL_NAME = re.compile(r"^[0-9A-F]{24}(\.partial)?$|^[0-9A-F]{8}\.history$|^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$")
SUFFIXES = ("", ".gz", ".bz2")


class DrillError(Exception):
    """A step of the drill failed; the message says which."""


def s3_client() -> Any:
    import boto3

    endpoint = os.environ.get("DRILL_S3_ENDPOINT") or None
    return boto3.client("s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_DEFAULT_REGION", "auto"))


def _keys(s3: Any, bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents") or []:
            out[str(obj["Key"])] = obj
    return out


def parse_backup_info(text: str) -> dict[str, str]:
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            info[key.strip()] = value.strip()
    return info


def _info_time(value: str) -> datetime:
    """barman writes ``2026-12-01 17:00:03.123456+00:00``; the test fixtures write the same."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def newest_backup(s3: Any, bucket: str, prefix: str) -> tuple[str, dict[str, str], str]:
    """``(backup id, backup.info, data tar key)`` of the newest DONE base backup under ``prefix``."""
    keys = _keys(s3, bucket, prefix + "base/")
    found: list[tuple[datetime, str, dict[str, str], str]] = []
    for key in keys:
        if not key.endswith("/backup.info"):
            continue
        backup_id = key[len(prefix + "base/"): -len("/backup.info")]
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace")
        info = parse_backup_info(body)
        if info.get("status") != "DONE" or "end_time" not in info:
            continue
        data = next((f"{prefix}base/{backup_id}/data.tar{s}" for s in SUFFIXES
                     if f"{prefix}base/{backup_id}/data.tar{s}" in keys), None)
        if data is None:
            continue
        found.append((_info_time(info["end_time"]), backup_id, info, data))
    if not found:
        raise DrillError(f"no completed base backup under s3://{bucket}/{prefix}base/")
    _, backup_id, info, data = max(found)
    return backup_id, info, data


def _open_tar(path: Path) -> tarfile.TarFile:
    if path.name.endswith(".gz"):
        return tarfile.open(path, "r:gz")
    if path.name.endswith(".bz2"):
        return tarfile.open(path, "r:bz2")
    return tarfile.open(path, "r:")


def extract(archive: Path, dest: Path) -> None:
    """Unpack the data directory; members that would land outside ``dest`` fail the drill."""
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _open_tar(archive) as tar:
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if target != dest.resolve() and dest.resolve() not in target.parents:
                raise DrillError(f"backup archive member {member.name!r} points outside the data directory")
            if member.isdev() or ((member.issym() or member.islnk()) and _escapes(dest, member)):
                raise DrillError(f"backup archive member {member.name!r} is a device or a link out of the data "
                                 "directory")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python before 3.11.4: the members were checked above
            tar.extractall(dest)
    os.chmod(dest, 0o700)


def _escapes(dest: Path, member: tarfile.TarInfo) -> bool:
    link = Path(member.linkname)
    if link.is_absolute():
        return True
    base = dest / member.name if member.issym() else dest
    target = ((base.parent if member.issym() else base) / link).resolve()
    return target != dest.resolve() and dest.resolve() not in target.parents


def _conf_quote(value: str) -> str:
    """A postgresql.conf string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def recovery_settings(workdir: Path, port: int, script: Path, python: str) -> dict[str, str]:
    """Overrides of the restored data directory: private socket, no network, no archiving, no TLS files
    of the source pod, WAL fetched by ``wal-get``, promote at the end of the archive."""
    import shlex

    restore = " ".join(shlex.quote(p) for p in (python, str(script), "wal-get")) + " %f %p"
    return {
        "listen_addresses": "",
        "unix_socket_directories": str(workdir),
        "port": str(port),
        "ssl": "off",
        "archive_mode": "off",
        "logging_collector": "off",
        "log_destination": "stderr",
        "hba_file": str(workdir / "pg_hba.conf"),
        "ident_file": str(workdir / "pg_ident.conf"),
        "synchronous_standby_names": "",
        "primary_conninfo": "",
        "restore_command": restore,
        "recovery_target_timeline": "latest",
        "recovery_target_action": "promote",
    }


def prepare(pgdata: Path, workdir: Path, port: int, script: Path, python: str) -> None:
    (workdir / "pg_hba.conf").write_text("local all all trust\n")
    (workdir / "pg_ident.conf").write_text("")
    for stale in ("postmaster.pid", "postmaster.opts", "standby.signal"):
        (pgdata / stale).unlink(missing_ok=True)
    wal = pgdata / "pg_wal"
    wal.mkdir(mode=0o700, exist_ok=True)
    (wal / "archive_status").mkdir(mode=0o700, exist_ok=True)
    lines = [f"{k} = {_conf_quote(v)}" for k, v in recovery_settings(workdir, port, script, python).items()]
    with open(pgdata / "postgresql.auto.conf", "a", encoding="utf-8") as f:
        f.write("\n# enclii restore drill\n" + "\n".join(lines) + "\n")
    (pgdata / "recovery.signal").write_text("")


def _run(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise DrillError(f"{Path(cmd[0]).name} did not finish within {timeout:.0f}s") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()[-500:]
        raise DrillError(f"{Path(cmd[0]).name} failed ({done.returncode}): {detail}")
    return done.stdout


def psql(pg_bin: Path, workdir: Path, port: int, user: str, database: str, query: str, timeout: float) -> str:
    return _run(
        [str(pg_bin / "psql"), "-X", "-h", str(workdir), "-p", str(port), "-U", user, "-d", database,
         "-v", "ON_ERROR_STOP=1", "-At", "-c", query],
        timeout=timeout,
    ).strip()


def wait_promoted(pg_bin: Path, workdir: Path, port: int, user: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            if psql(pg_bin, workdir, port, user, "postgres", "SELECT pg_is_in_recovery()", 10) == "f":
                return
        except DrillError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise DrillError(f"the restored server did not finish recovery within {timeout:.0f}s {last}".strip())


def metrics_text(values: dict[str, float], labels: dict[str, str]) -> str:
    lab = ",".join(f'{k}="{_label(v)}"' for k, v in sorted(labels.items()))
    out = []
    for name, value in values.items():
        out.append(f"# TYPE {name} gauge")
        out.append(f"{name}{{{lab}}} {value:.6g}" if lab else f"{name} {value:.6g}")
    return "\n".join(out) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def publish(text: str, metrics_file: str | None, pushgateway: str | None, job: str) -> None:
    if metrics_file:
        tmp = f"{metrics_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, metrics_file)  # a textfile collector never reads a half-written file
    if pushgateway:
        url = f"{pushgateway.rstrip('/')}/metrics/job/{job}"
        req = urllib.request.Request(url, data=text.encode(), method="PUT",
                                     headers={"Content-Type": "text/plain; version=0.0.4"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            if resp.status >= 300:
                raise DrillError(f"pushgateway answered {resp.status}")
    sys.stdout.write(text)


def cmd_restore(args: argparse.Namespace) -> int:
    started = time.monotonic()
    now = datetime.now(UTC)
    values: dict[str, float] = {f"{METRIC_PREFIX}_last_run_timestamp_seconds": now.timestamp()}
    labels = {"bucket": args.bucket, "prefix": args.prefix}
    workdir = Path(tempfile.mkdtemp(prefix="drill-", dir=args.workdir))
    os.chmod(workdir, 0o700)
    pgdata = workdir / "pgdata"
    pg_bin = Path(args.pg_bin)
    ok = False
    started_server = False
    try:
        s3 = s3_client()
        backup_id, info, data_key = newest_backup(s3, args.bucket, args.prefix)
        age = (now - _info_time(info["end_time"])).total_seconds()
        values[f"{METRIC_PREFIX}_backup_age_seconds"] = age
        print(f"drill: restoring backup {backup_id} ({age:.0f}s old) from s3://{args.bucket}/{data_key}",
              file=sys.stderr)
        archive = workdir / Path(data_key).name
        s3.download_file(args.bucket, data_key, str(archive))
        extract(archive, pgdata)
        archive.unlink()
        prepare(pgdata, workdir, args.port, Path(__file__).resolve(), sys.executable)
        env = dict(os.environ, DRILL_BUCKET=args.bucket, DRILL_PREFIX=args.prefix)
        started_server = True
        _run([str(pg_bin / "pg_ctl"), "-D", str(pgdata), "-l", str(workdir / "server.log"), "-w",
              "-t", str(int(args.timeout)), "start"], timeout=args.timeout + 10, env=env)
        wait_promoted(pg_bin, workdir, args.port, args.user, args.timeout)
        result = psql(pg_bin, workdir, args.port, args.user, args.database, args.check_query, args.timeout)
        print(f"drill: check query returned {result!r}", file=sys.stderr)
        try:
            values[f"{METRIC_PREFIX}_check_value"] = float(result.splitlines()[0])
        except (ValueError, IndexError):
            pass
        ok = bool(result)
        if not ok:
            print("drill: the check query returned no rows", file=sys.stderr)
    except DrillError as exc:
        print(f"drill: FAILED: {exc}", file=sys.stderr)
        log = workdir / "server.log"
        if log.exists():
            sys.stderr.write(log.read_text(errors="replace")[-2000:])
    except Exception as exc:  # a drill that crashes must still report failure
        print(f"drill: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        if started_server:
            subprocess.run([str(pg_bin / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "-w", "stop"],
                           capture_output=True, check=False, timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)
    values[f"{METRIC_PREFIX}_success"] = 1.0 if ok else 0.0
    values[f"{METRIC_PREFIX}_duration_seconds"] = time.monotonic() - started
    publish(metrics_text(values, labels), args.metrics_file, args.pushgateway,
            f"enclii_restore_drill/bucket/{args.bucket}")
    return 0 if ok else 1


def cmd_wal_get(args: argparse.Namespace) -> int:
    name = args.name
    if not WAL_NAME.fullmatch(name):
        print(f"wal-get: {name!r} is not a WAL file name", file=sys.stderr)
        return 2
    bucket = os.environ["DRILL_BUCKET"]
    prefix = os.environ["DRILL_PREFIX"]
    s3 = s3_client()
    dirs = [f"{prefix}wals/{name[:16]}/", f"{prefix}wals/"]
    for base in dirs:
        for suffix in SUFFIXES:
            key = base + name + suffix
            try:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                continue
            if suffix == ".gz":
                body = gzip.decompress(body)
            elif suffix == ".bz2":
                body = bz2.decompress(body)
            tmp = f"{args.dest}.part"
            with open(tmp, "wb") as f:
                f.write(body)
            os.replace(tmp, args.dest)
            return 0
    return 1  # not archived (yet): the end of the archive for PostgreSQL


def cmd_freshness(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    s3 = s3_client()
    lines: list[str] = []
    failed = 0
    for check in args.check:
        kind, prefix, seconds = _parse_check(check)
        newest = max((o["LastModified"] for o in _keys(s3, args.bucket, prefix).values() if int(o.get("Size") or 0)),
                     default=None)
        labels = {"kind": kind, "bucket": args.bucket, "prefix": prefix}
        values = {"enclii_backup_interval_seconds": seconds}
        if newest is not None:
            values["enclii_backup_newest_timestamp_seconds"] = newest.timestamp()
        if newest is None or (now - newest).total_seconds() > 2 * seconds:
            failed += 1
        lines.append(metrics_text(values, labels))
    # one group per bucket, so the freshness containers of several buckets never overwrite each other
    publish("".join(lines), args.metrics_file, args.pushgateway, f"enclii_backup_freshness/bucket/{args.bucket}")
    return 1 if failed else 0


def _parse_check(value: str) -> tuple[str, str, float]:
    kind, _, rest = value.partition("=")
    prefix, _, seconds = rest.rpartition("=")
    if not kind or not seconds:
        raise argparse.ArgumentTypeError(f"--check {value!r}: use KIND=PREFIX=SECONDS (e.g. etcd=etcd/=21600)")
    return kind, prefix, float(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drill_program.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("restore", help="restore the newest base backup and WAL into a scratch server")
    r.add_argument("--bucket", required=True)
    r.add_argument("--prefix", required=True, help="the server's folder, e.g. postgres/enclii-pg/")
    r.add_argument("--workdir", default=tempfile.gettempdir())
    r.add_argument("--pg-bin", required=True, help="directory holding pg_ctl and psql")
    r.add_argument("--port", type=int, default=54329)
    r.add_argument("--user", default="postgres")
    r.add_argument("--database", default="postgres")
    r.add_argument("--check-query", required=True)
    r.add_argument("--timeout", type=float, default=900.0)
    r.add_argument("--metrics-file")
    r.add_argument("--pushgateway")
    w = sub.add_parser("wal-get", help="restore_command: fetch one WAL file")
    w.add_argument("name")
    w.add_argument("dest")
    f = sub.add_parser("freshness", help="newest object per prefix, as metrics")
    f.add_argument("--bucket", required=True)
    f.add_argument("--check", action="append", required=True, help="KIND=PREFIX=SECONDS")
    f.add_argument("--metrics-file")
    f.add_argument("--pushgateway")
    args = parser.parse_args(argv)
    if args.command == "restore" and not args.prefix.endswith("/"):
        parser.error("--prefix must end with '/'")
    handlers = {"restore": cmd_restore, "wal-get": cmd_wal_get, "freshness": cmd_freshness}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

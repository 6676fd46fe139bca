"""The restore drill program against a real PostgreSQL on 127.0.0.1 and moto's S3 server.

A source server (Debian's postgresql, started here with initdb/pg_ctl as an unprivileged user) archives
its WAL; a base backup (pg_basebackup, tar) and the archived WAL are uploaded in barman-cloud's layout;
rows written after the base backup exist only in the WAL. The drill restores the newest base backup plus
WAL into a scratch server, and its check query must see those rows: a restore that skipped WAL replay
fails. Metrics are checked in the textfile and on a loopback pushgateway stand-in.
"""

from __future__ import annotations

import gzip
import http.server
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

import enclii_iac.data.drill_program as drill

REGION = "us-east-1"
BUCKET = "enclii-backups"
PREFIX = "postgres/enclii-pg/"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _user() -> str | None:
    """The unprivileged user PostgreSQL runs as when the tests run as root (postgres refuses root)."""
    if os.geteuid() != 0:
        return None
    return "nobody"


def _as_user(cmd: list[str], env: dict[str, str] | None = None) -> list[str]:
    user = _user()
    if user is None:
        return cmd
    pairs = [f"{k}={v}" for k, v in sorted((env or {}).items())]
    return ["runuser", "-u", user, "--", "env", *pairs, *cmd]


def _run(cmd: list[str], env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    full_env = None if _user() is not None else dict(os.environ, **(env or {}))
    return subprocess.run(_as_user(cmd, env), capture_output=True, text=True, check=check, env=full_env, timeout=300)


def _chown(path: Path) -> None:
    user = _user()
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, Any]]:
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps one in-memory backend per process: other tests' buckets (an enclii-backups with etcd/ objects)
    # would still be there, so start from an empty one
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).close()
    env = {"AWS_ACCESS_KEY_ID": "drill", "AWS_SECRET_ACCESS_KEY": "drill", "AWS_DEFAULT_REGION": REGION,
           "DRILL_S3_ENDPOINT": endpoint}
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="drill",
                          aws_secret_access_key="drill")
    client.create_bucket(Bucket=BUCKET)
    try:
        yield {"client": client, "env": env, "endpoint": endpoint}
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    """A directory the unprivileged user can reach (pytest's own tmp root is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="enclii-drill-test-"))
    os.chmod(path, 0o755)
    _chown(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Source:
    """A running PostgreSQL that archives WAL into a directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pgdata = root / "src"
        self.archive = root / "archive"
        self.socket = root / "sock"
        self.port = _free_port()

    def start(self) -> None:
        for d in (self.archive, self.socket):
            d.mkdir()
            _chown(d)
        _run([str(PG_BIN / "initdb"), "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
        with open(self.pgdata / "postgresql.conf", "a") as f:
            f.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.socket}'\n"
                    f"wal_level = replica\narchive_mode = on\narchive_command = 'cp %p {self.archive}/%f'\n")
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.root / "src.log"), "-w", "start"])

    def sql(self, query: str) -> str:
        return _run([str(PG_BIN / "psql"), "-X", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                     "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-At", "-c", query]).stdout.strip()

    def stop(self) -> None:
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"], check=False)


def _upload_wal(s3: Any, archive: Path, done: set[str]) -> None:
    for f in sorted(archive.iterdir()):
        if f.name in done or f.name.endswith(".backup"):
            continue
        key = f"{PREFIX}wals/{f.name[:16]}/{f.name}.gz"
        s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(f.read_bytes()))
        done.add(f.name)


def _wait_archived(source: Source, name: str) -> None:
    deadline = time.monotonic() + 60
    while not (source.archive / name).exists():
        assert time.monotonic() < deadline, f"{name} was never archived"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def backed_up(base: Path, s3: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A barman-cloud layout on S3: a stale older backup, the newest base backup and WAL written after it."""
    source = Source(base)
    source.start()
    client = s3["client"]
    try:
        source.sql("CREATE TABLE drill_check (id int primary key, note text)")
        source.sql("INSERT INTO drill_check SELECT g, 'before' FROM generate_series(1, 100) g")
        bdir = base / "basebackup"
        _run([str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(source.port), "-U", "postgres",
              "-D", str(bdir), "-Ft", "-X", "none", "-c", "fast"])
        # barman-cloud's data.tar.gz: the data directory, WAL comes from the archive
        data = base / "data.tar.gz"
        with tarfile.open(bdir / "base.tar") as src, tarfile.open(data, "w:gz") as dst:
            for member in src.getmembers():
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        backup_id = "20261201T170000"
        client.upload_file(str(data), BUCKET, f"{PREFIX}base/{backup_id}/data.tar.gz")
        client.put_object(Bucket=BUCKET, Key=f"{PREFIX}base/{backup_id}/backup.info",
                          Body=f"backup_id={backup_id}\nstatus=DONE\nend_time=2026-12-01 17:00:05+00:00\n".encode())
        # an older backup that must not be chosen, and a newer one that failed
        client.put_object(Bucket=BUCKET, Key=f"{PREFIX}base/20261101T000000/backup.info",
                          Body=b"status=DONE\nend_time=2026-11-01 00:00:05+00:00\n")
        client.put_object(Bucket=BUCKET, Key=f"{PREFIX}base/20261101T000000/data.tar", Body=b"not a tar")
        client.put_object(Bucket=BUCKET, Key=f"{PREFIX}base/20261202T000000/backup.info",
                          Body=b"status=FAILED\nend_time=2026-12-02 00:00:05+00:00\n")
        source.sql("INSERT INTO drill_check SELECT g, 'after' FROM generate_series(101, 150) g")
        wal = source.sql("SELECT pg_walfile_name(pg_switch_wal())")
        _wait_archived(source, wal)
        uploaded: set[str] = set()
        _upload_wal(client, source.archive, uploaded)
        yield {"source": source, "rows": 150}
    finally:
        source.stop()


def _drill(base: Path, s3: dict[str, Any], *extra: str, name: str) -> subprocess.CompletedProcess[str]:
    work = base / name
    work.mkdir()
    _chown(work)
    script = base / "drill_program.py"
    if not script.exists():
        shutil.copy(drill.__file__, script)
        os.chmod(script, 0o644)
    env = dict(s3["env"])
    if _user() is not None:  # the unprivileged user runs Debian's python3 with the venv's boto3
        env["PYTHONPATH"] = str(Path(boto3.__file__).resolve().parent.parent)
        python = "/usr/bin/python3"
    else:
        python = sys.executable
    workdir = ["--workdir", str(work)] if extra[0] == "restore" else []
    return _run([python, str(script), *extra, *workdir], env=env, check=False)


class _Gateway(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        _Gateway.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_the_drill_restores_the_newest_backup_and_its_wal(base: Path, s3: dict[str, Any],
                                                          backed_up: dict[str, Any]) -> None:
    gateway = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=gateway.serve_forever, daemon=True)
    thread.start()
    metrics = base / "drill.prom"
    try:
        done = _drill(
            base, s3, "restore", "--bucket", BUCKET, "--prefix", PREFIX, "--pg-bin", str(PG_BIN),
            "--port", str(_free_port()), "--check-query", "SELECT count(*) FROM drill_check",
            "--metrics-file", str(metrics), "--pushgateway", f"http://127.0.0.1:{gateway.server_address[1]}",
            "--timeout", "120", name="ok",
        )
    finally:
        gateway.shutdown()
        gateway.server_close()
    assert done.returncode == 0, done.stderr
    assert "restoring backup 20261201T170000" in done.stderr
    assert "check query returned '150'" in done.stderr  # the 50 rows after the base backup came from WAL
    text = metrics.read_text()
    assert 'enclii_restore_drill_success{bucket="enclii-backups",prefix="postgres/enclii-pg/"} 1' in text
    assert 'enclii_restore_drill_check_value{bucket="enclii-backups",prefix="postgres/enclii-pg/"} 150' in text
    for name in ("duration_seconds", "backup_age_seconds", "last_run_timestamp_seconds"):
        assert f"# TYPE enclii_restore_drill_{name} gauge" in text
    assert _Gateway.received == [("/metrics/job/enclii_restore_drill/bucket/enclii-backups", text)]
    assert [p.name for p in (base / "ok").iterdir()] == []  # the scratch server and its data are gone


def test_a_failing_check_query_fails_the_drill_and_reports_it(base: Path, s3: dict[str, Any],
                                                              backed_up: dict[str, Any]) -> None:
    metrics = base / "bad.prom"
    done = _drill(
        base, s3, "restore", "--bucket", BUCKET, "--prefix", PREFIX, "--pg-bin", str(PG_BIN),
        "--port", str(_free_port()), "--check-query",
        f"SELECT count(*) FROM missing_table; -- '$(touch {base}/pwned)' `touch {base}/pwned`",
        "--metrics-file", str(metrics), "--timeout", "120", name="bad",
    )
    assert done.returncode == 1
    assert "drill: FAILED: psql failed" in done.stderr and "missing_table" in done.stderr
    assert 'enclii_restore_drill_success{bucket="enclii-backups",prefix="postgres/enclii-pg/"} 0' in metrics.read_text()
    assert [p.name for p in (base / "bad").iterdir()] == []
    assert not (base / "pwned").exists()  # the query reached psql as one argument, never a shell


def test_no_backup_under_the_prefix_is_a_failed_drill(base: Path, s3: dict[str, Any]) -> None:
    metrics = base / "none.prom"
    done = _drill(
        base, s3, "restore", "--bucket", BUCKET, "--prefix", "postgres/other/", "--pg-bin", str(PG_BIN),
        "--check-query", "SELECT 1", "--metrics-file", str(metrics), name="none",
    )
    assert done.returncode == 1
    assert "no completed base backup under s3://enclii-backups/postgres/other/base/" in done.stderr
    assert "enclii_restore_drill_success" in metrics.read_text()
    assert "backup_age_seconds" not in metrics.read_text()


def test_freshness_exports_newest_backup_per_kind(base: Path, s3: dict[str, Any], backed_up: dict[str, Any]) -> None:
    metrics = base / "fresh.prom"
    done = _drill(base, s3, "freshness", "--bucket", BUCKET, "--check", f"postgres={PREFIX}=86400",
                  "--check", "etcd=etcd/=21600", "--metrics-file", str(metrics), name="fresh")
    assert done.returncode == 1  # etcd/ is empty: stale
    text = metrics.read_text()
    assert 'enclii_backup_newest_timestamp_seconds{bucket="enclii-backups",kind="postgres",' in text
    assert 'enclii_backup_interval_seconds{bucket="enclii-backups",kind="etcd",prefix="etcd/"} 21600' in text
    assert 'enclii_backup_newest_timestamp_seconds{bucket="enclii-backups",kind="etcd"' not in text


def test_wal_get_refuses_names_that_are_not_wal_files(base: Path, s3: dict[str, Any]) -> None:
    env = dict(s3["env"], DRILL_BUCKET=BUCKET, DRILL_PREFIX=PREFIX)
    for name in ("../../etc/passwd", "000000010000000000000001; rm -rf /"):
        done = subprocess.run([sys.executable, drill.__file__, "wal-get", name, str(base / "x")],
                              capture_output=True, text=True, env=dict(os.environ, **env), check=False)
        assert done.returncode == 2 and "is not a WAL file name" in done.stderr
    assert not (base / "x").exists()


def test_backups_verify_checks_postgres_base_backups_not_the_wal(
    base: Path, s3: dict[str, Any], backed_up: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With ``data.postgres.backup``, `backups verify --platform` checks ``<folder>/<server>/base/`` at the
    token's schedule: WAL arriving every few minutes under ``postgres/`` cannot hide a stale base backup."""
    import json

    from tests.integration.test_r2_tools import cli

    platform = base / "platform.yaml"
    platform.write_text(
        "apiVersion: enclii.dev/v1\nkind: Platform\nmetadata: {name: enclii}\nspec:\n"
        "  domain: example.com\n  stage: preview\n  edge:\n"
        "    accountId: 0123456789abcdef0123456789abcdef\n    zoneId: fedcba9876543210fedcba9876543210\n"
        "    r2:\n      buckets:\n        backups:\n          name: enclii-backups\n          tokens:\n"
        "            postgres: {access: write, prefix: postgres/, schedule: 24h}\n"
        "  data:\n    postgres:\n      image: ghcr.io/cloudnative-pg/postgresql:17\n"
        "      backup: {bucket: enclii-backups}\n"
    )
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, s3["env"][key])
    assert cli(["backups", "verify", "--platform", str(platform), "--endpoint", s3["endpoint"],
                "--region", REGION, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(p["prefix"], p["ok"], p["intervalSeconds"]) for p in data["prefixes"]] == [
        ("postgres/enclii-pg/base/", True, 86400.0)
    ]
    assert data["prefixes"][0]["newestKey"].startswith("postgres/enclii-pg/base/")

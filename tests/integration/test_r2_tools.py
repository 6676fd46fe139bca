"""The boto3 R2 tooling against moto's S3 server on 127.0.0.1: state bootstrap and backup freshness.

Runs in the default test command (a real S3-protocol server, no cloud account). Buckets are created
with region us-east-1: moto refuses R2's ``auto`` on CreateBucket (PULUMI-NOTES §8).
"""

from __future__ import annotations

import argparse
import json
import socket
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from enclii_iac.errors import ToolError
from enclii_iac.r2 import (
    backups_verify,
    connection,
    login_url,
    parse_interval,
    r2_endpoint,
    state_bootstrap,
)
from enclii_iac.r2.backups import GRACE_FACTOR, format_age
from enclii_iac.r2.cli import register

REGION = "us-east-1"
HOUR = 3600.0


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, str]]:
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="enclii-ci")
    iam.put_user_policy(
        UserName="enclii-ci",
        PolicyName="s3",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="enclii-ci")["AccessKey"]
    try:
        yield {"endpoint": endpoint, "key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    finally:
        srv.stop()


def _reset_auth(endpoint: str, count: str) -> None:
    req = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=count.encode(), method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback moto server
        assert resp.status == 200


@pytest.fixture
def auth(server: dict[str, str]) -> Iterator[None]:
    """Make moto check signatures against its IAM users (off by default), and turn it off again."""
    _reset_auth(server["endpoint"], "0")
    try:
        yield
    finally:
        _reset_auth(server["endpoint"], "inf")


def conn(server: dict[str, str], **over: Any) -> Any:
    kw = {
        "endpoint": server["endpoint"],
        "access_key_id": server["key"],
        "secret_access_key": server["secret"],
        "region": REGION,
        **over,
    }
    return connection(**kw)


def s3(server: dict[str, str]) -> Any:
    return conn(server).client()


def seed(bucket: str, key: str, age: timedelta, s3_client: Any) -> None:
    """Upload ``key`` over the S3 API, then backdate it in moto's store (its LastModified is server-set)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    s3_client.put_object(Bucket=bucket, Key=key, Body=b"snapshot")
    obj = s3_backends[DEFAULT_ACCOUNT_ID]["global"].get_object(bucket, key)
    assert obj is not None
    obj.last_modified = datetime.now(UTC).replace(tzinfo=None) - age


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="enclii-iac")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


def endpoint_args(server: dict[str, str]) -> list[str]:
    return ["--endpoint", server["endpoint"], "--region", REGION]


@pytest.fixture
def creds_env(server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server["secret"])


# --- state bootstrap ------------------------------------------------------------------------------------


def test_bootstrap_creates_the_bucket_once(server: dict[str, str]) -> None:
    first = state_bootstrap(conn(server), "enclii-pulumi-state")
    assert first.created is True
    assert first.login_url == (
        f"s3://enclii-pulumi-state?endpoint={server['endpoint']}&region={REGION}&use_path_style=true"
    )
    assert first.login_command == f"pulumi login '{first.login_url}'"
    again = state_bootstrap(conn(server), "enclii-pulumi-state")
    assert again.created is False and again.login_url == first.login_url
    names = [b["Name"] for b in s3(server).list_buckets()["Buckets"]]
    assert names.count("enclii-pulumi-state") == 1


def test_login_url_for_r2() -> None:
    endpoint = r2_endpoint("0123456789abcdef0123456789abcdef")
    assert login_url("enclii-pulumi-state", endpoint) == (
        "s3://enclii-pulumi-state?endpoint=https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
        "&region=auto&use_path_style=true"
    )
    assert r2_endpoint("0123456789abcdef0123456789abcdef", "eu") == (
        "https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com"
    )


def test_cli_state_bootstrap_json_then_text(
    server: dict[str, str], creds_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["state", "bootstrap", "--bucket", "cli-state", *endpoint_args(server), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["created"] is True and data["bucket"] == "cli-state"
    assert data["loginCommand"] == f"pulumi login '{data['loginUrl']}'"
    assert cli(["state", "bootstrap", "--bucket", "cli-state", *endpoint_args(server)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"bucket cli-state exists at {server['endpoint']}")
    assert "pulumi login 's3://cli-state?endpoint=" in out


def test_cli_state_bootstrap_check_only(
    server: dict[str, str], creds_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["state", "bootstrap", "--bucket", "never-created", "--check", *endpoint_args(server)]) == 1
    err = capsys.readouterr().err
    assert "bucket 'never-created' does not exist" in err and "without --check" in err
    assert "never-created" not in [b["Name"] for b in s3(server).list_buckets()["Buckets"]]


def test_bootstrap_rejects_a_bad_bucket_name(server: dict[str, str]) -> None:
    with pytest.raises(ToolError, match="--bucket: 'Bad_Bucket' is not an R2 bucket name"):
        state_bootstrap(conn(server), "Bad_Bucket")


# --- failures a person can act on -----------------------------------------------------------------------


def test_wrong_credentials_are_a_clear_error(
    server: dict[str, str], auth: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert state_bootstrap(conn(server), "enclii-pulumi-state").created is False  # the real key still works
    with pytest.raises(ToolError) as err:
        state_bootstrap(conn(server, secret_access_key="wrong"), "enclii-pulumi-state")
    assert f"{server['endpoint']} rejected the credentials" in str(err.value)
    assert "SHA-256 hex of the token value" in str(err.value)
    with pytest.raises(ToolError, match="rejected the credentials"):
        backups_verify(conn(server, access_key_id="AKIANOTAREALKEY00000"), "enclii-pulumi-state", {"": HOUR})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTAREALKEY00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    assert cli(["state", "bootstrap", *endpoint_args(server), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["error"] == "ToolError" and "rejected the credentials" in data["message"]
    assert "wrong" not in data["message"]  # the secret is never echoed


def test_missing_bucket_is_a_clear_error(
    server: dict[str, str], creds_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ToolError, match="bucket 'no-such-bucket' does not exist at .*enclii-iac state bootstrap"):
        backups_verify(conn(server), "no-such-bucket", {"etcd/": HOUR})
    assert (
        cli(["backups", "verify", "--bucket", "no-such-bucket", "--prefix", "etcd/=12h", *endpoint_args(server)]) == 1
    )
    assert "error: bucket 'no-such-bucket' does not exist" in capsys.readouterr().err


def test_unreachable_endpoint_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = connection(endpoint=f"http://127.0.0.1:{port}", access_key_id="a", secret_access_key="b", region=REGION)
    with pytest.raises(ToolError, match=rf"cannot reach the S3 endpoint http://127.0.0.1:{port}"):
        state_bootstrap(dead, "enclii-pulumi-state")


def test_missing_credentials_and_endpoint(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    assert cli(["state", "bootstrap", "--account-id", "0123456789abcdef0123456789abcdef"]) == 1
    assert "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in capsys.readouterr().err
    with pytest.raises(ToolError, match="no endpoint: pass --endpoint URL or --account-id"):
        connection(access_key_id="a", secret_access_key="b", env={})
    with pytest.raises(ToolError, match="needs a scheme"):
        connection(endpoint="127.0.0.1:9000", access_key_id="a", secret_access_key="b", env={})
    c = connection(
        account_id="0123456789abcdef0123456789abcdef", env={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    )
    assert c.endpoint == "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
    assert "secret_access_key" not in repr(c) and c.secret_access_key == "s"


# --- backups verify -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backups(server: dict[str, str]) -> str:
    """A backups bucket: etcd/ fresh (newest 3h, in the middle of the key order), postgres/ stale (50h)."""
    client = s3(server)
    client.create_bucket(Bucket="enclii-backups")
    for i, hours in enumerate([30, 20, 10]):
        seed("enclii-backups", f"etcd/a-{i}.db", timedelta(hours=hours), client)
    seed("enclii-backups", "etcd/m-newest.db", timedelta(hours=3), client)
    for i, hours in enumerate([9, 8, 7, 6, 5, 4]):
        seed("enclii-backups", f"etcd/z-{i}.db", timedelta(hours=hours), client)
    client.put_object(Bucket="enclii-backups", Key="etcd/", Body=b"")  # a directory marker, ignored
    seed("enclii-backups", "postgres/base.tar", timedelta(hours=50), client)
    return "enclii-backups"


def test_verify_reports_the_newest_object_across_pages(server: dict[str, str], backups: str) -> None:
    report = backups_verify(conn(server), backups, {"etcd/": 12 * HOUR}, page_size=3)
    [etcd] = report.prefixes
    assert etcd.objects == 10 and etcd.pages == 4  # 11 keys with the marker, 3 per page
    assert etcd.newest_key == "etcd/m-newest.db"
    assert etcd.age_seconds is not None and 3 * HOUR - 60 < etcd.age_seconds < 3 * HOUR + 60
    assert etcd.ok and report.ok
    assert etcd.max_age_seconds == 12 * HOUR * GRACE_FACTOR


def test_verify_fails_when_older_than_twice_the_schedule(server: dict[str, str], backups: str) -> None:
    report = backups_verify(conn(server), backups, {"etcd/": 12 * HOUR, "postgres/": 24 * HOUR, "redis/": HOUR})
    by = {p.prefix: p for p in report.prefixes}
    assert by["etcd/"].ok
    assert not by["postgres/"].ok and by["postgres/"].newest_key == "postgres/base.tar"
    assert "STALE" in by["postgres/"].message and "limit 2d0h" in by["postgres/"].message
    assert not by["redis/"].ok and by["redis/"].objects == 0 and "no objects" in by["redis/"].message
    assert not report.ok
    later = backups_verify(conn(server), backups, {"etcd/": 12 * HOUR}, now=datetime.now(UTC) + timedelta(hours=22))
    assert not later.ok  # 3h + 22h > 24h


def test_cli_backups_verify_exit_codes_and_json(
    server: dict[str, str], backups: str, creds_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["backups", "verify", "--bucket", backups, *endpoint_args(server), "--page-size", "4"]
    assert cli([*base, "--prefix", "etcd/=12h"]) == 0
    out = capsys.readouterr().out
    assert "etcd/: ok: newest etcd/m-newest.db is 3h" in out and "all backups fresh" in out
    assert cli([*base, "--prefix", "etcd/=12h", "--prefix", "postgres/=1d", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["bucket"] == backups
    assert [(p["prefix"], p["ok"], p["objects"]) for p in data["prefixes"]] == [
        ("etcd/", True, 10),
        ("postgres/", False, 1),
    ]
    assert cli([*base, "--prefix", "etcd"]) == 1
    assert "use PREFIX=INTERVAL" in capsys.readouterr().err


def test_verify_takes_bucket_and_schedules_from_the_platform_spec(
    server: dict[str, str], backups: str, creds_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    platform = tmp_path / "platform.yaml"
    platform.write_text(
        "apiVersion: enclii.dev/v1\nkind: Platform\nmetadata: {name: enclii}\nspec:\n"
        "  domain: example.com\n  stage: production\n  edge:\n"
        "    accountId: 0123456789abcdef0123456789abcdef\n    zoneId: fedcba9876543210fedcba9876543210\n"
        "    r2:\n      buckets:\n        backups:\n          name: enclii-backups\n          tokens:\n"
        # one writer per bucket (an R2 token reaches the whole bucket); a reader may declare a schedule too
        "            etcd: {prefix: etcd/, schedule: 12h}\n"
        "            postgres: {access: read, prefix: postgres/, schedule: 24h}\n"
    )
    assert cli(["backups", "verify", "--platform", str(platform), *endpoint_args(server), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["bucket"] == "enclii-backups"
    assert [(p["prefix"], p["ok"], p["intervalSeconds"]) for p in data["prefixes"]] == [
        ("etcd/", True, 12 * HOUR),
        ("postgres/", False, 24 * HOUR),
    ]
    assert cli(["backups", "verify", "--platform", str(platform), "--bucket-key", "nope", *endpoint_args(server)]) == 1
    assert "no bucket 'nope' under edge.r2.buckets (known: backups)" in capsys.readouterr().err


@pytest.mark.slow
def test_verify_paginates_past_a_thousand_objects(server: dict[str, str]) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    client = s3(server)
    client.create_bucket(Bucket="many-snapshots")
    store = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=2000)
    for i in range(1205):  # seeded in moto's store: 1,205 PUTs over HTTP take seconds
        obj = store.put_object("many-snapshots", f"etcd/snap-{i:05}.db", b"x")
        obj.last_modified = start + timedelta(hours=i) if i != 17 else datetime.now(UTC).replace(tzinfo=None)
    report = backups_verify(conn(server), "many-snapshots", {"etcd/": 12 * HOUR})
    [etcd] = report.prefixes
    assert (etcd.objects, etcd.pages) == (1205, 2)
    assert etcd.newest_key == "etcd/snap-00017.db" and etcd.ok


def test_intervals() -> None:
    assert parse_interval("30m") == 1800 and parse_interval("12h") == 43200 and parse_interval("1.5d") == 129600
    assert parse_interval("1w") == 604800
    for bad in ("12", "h", "0h", "-1h", "1y"):
        with pytest.raises(ToolError, match="is not an interval"):
            parse_interval(bad)
    assert format_age(59) == "59s" and format_age(3 * 3600 + 120) == "3h2m" and format_age(50 * 3600) == "2d2h"

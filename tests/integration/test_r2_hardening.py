"""The R2 tools on a hostile network (issue 10): every failure is a ToolError saying what to check, never a
traceback, and never shows a secret; a zero-byte object is not a fresh backup.

Local servers on 127.0.0.1 play the network: a TLS server with an untrusted certificate, one that redirects,
one that answers HTML, one that accepts and never answers, a closed proxy port, and moto's S3.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from enclii_iac.cli import main
from enclii_iac.errors import ToolError
from enclii_iac.r2 import backups_verify, connection, state_bootstrap
from enclii_iac.r2.backups import newest_under

SECRET = "r2-secret-never-shown-4d1f"
CREDS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": SECRET}


def _serve(handler: type[http.server.BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None) -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class _Redirect(_Quiet):
    def _go(self) -> None:
        self.send_response(301)
        self.send_header("Location", "https://elsewhere.example/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_PUT = _go


class _Html(_Quiet):
    def _go(self) -> None:
        body = b"<html><body>Please log in to the hotel wifi</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _go


@pytest.fixture(scope="module")
def tls_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "k.pem"),
                    "-out", str(d / "c.pem"), "-days", "1", "-subj", "/CN=not-r2"],
                   check=True, capture_output=True, timeout=60)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(d / "c.pem"), str(d / "k.pem"))
    yield from _serve(_Quiet, ctx)


@pytest.fixture(scope="module")
def redirect_endpoint() -> Iterator[str]:
    yield from _serve(_Redirect)


@pytest.fixture(scope="module")
def html_endpoint() -> Iterator[str]:
    yield from _serve(_Html)


@pytest.fixture(scope="module")
def silent_endpoint() -> Iterator[str]:
    """Accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    t.join(timeout=5)
    for s in held:
        s.close()
    sock.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tool_error(fn: Any) -> str:
    with pytest.raises(ToolError) as err:
        fn()
    text = str(err.value)
    assert SECRET not in text and "AKIDEX" not in text
    return text


# --- the network -----------------------------------------------------------------------------------------------


def test_an_untrusted_tls_certificate_is_a_tool_error(tls_endpoint: str) -> None:
    conn = connection(endpoint=tls_endpoint, **CREDS)
    text = tool_error(lambda: state_bootstrap(conn, "enclii-pulumi-state"))
    assert f"TLS with {tls_endpoint} failed" in text and "AWS_CA_BUNDLE" in text


def test_a_redirect_is_a_tool_error(redirect_endpoint: str) -> None:
    conn = connection(endpoint=redirect_endpoint, region="us-east-1", **CREDS)
    text = tool_error(lambda: backups_verify(conn, "enclii-backups", {"etcd/": 3600.0}))
    assert "redirect" in text or "301" in text


def test_an_answer_that_is_not_s3_is_a_tool_error(html_endpoint: str) -> None:
    conn = connection(endpoint=html_endpoint, region="us-east-1", **CREDS)
    text = tool_error(lambda: backups_verify(conn, "enclii-backups", {"etcd/": 3600.0}))
    assert html_endpoint in text


def test_a_silent_endpoint_times_out_with_the_configured_read_timeout(silent_endpoint: str) -> None:
    conn = connection(endpoint=silent_endpoint, region="us-east-1", read_timeout=1.0, connect_timeout=1.0, **CREDS)
    text = tool_error(lambda: backups_verify(conn, "enclii-backups", {"etcd/": 3600.0}))
    assert "did not answer in time" in text and "read 1 s" in text and "--read-timeout" in text


def test_a_dead_proxy_is_a_tool_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    conn = connection(endpoint="https://r2.example.invalid", connect_timeout=2.0, **CREDS)
    text = tool_error(lambda: state_bootstrap(conn, "enclii-pulumi-state"))
    assert "proxy" in text.lower()


def test_a_closed_port_is_a_tool_error() -> None:
    conn = connection(endpoint=f"http://127.0.0.1:{_closed_port()}", connect_timeout=1.0, **CREDS)
    assert "cannot reach the S3 endpoint" in tool_error(lambda: state_bootstrap(conn, "enclii-pulumi-state"))


# --- malformed input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"endpoint": "https://"}, "must be only https://host"),
        ({"endpoint": "r2.example.com"}, "needs a scheme and a host"),
        ({"endpoint": "ftp://r2.example.com"}, "needs a scheme and a host"),
        ({"endpoint": f"https://key:{SECRET}@r2.example.com"}, "must not carry credentials"),
        ({"endpoint": "https://r2.example.com/bucket"}, "without a path"),
        ({"endpoint": "https://r2.example.com:99999"}, "is not a URL"),
        ({"endpoint": "https://r2.example.com\n"}, "needs a scheme and a host"),
        ({"account_id": "not-an-account"}, "is not a Cloudflare account id"),
        ({"account_id": "0" * 32, "jurisdiction": "mars"}, "is not one of default, eu, fedramp"),
        ({"endpoint": "https://r2.example.com", "region": "us east"}, "is not a region name"),
        ({"endpoint": "https://r2.example.com", "read_timeout": 0}, "--read-timeout must be between 0 and 600"),
        ({"endpoint": "https://r2.example.com", "connect_timeout": 1e9}, "--connect-timeout must be between"),
    ],
)
def test_malformed_endpoints_regions_and_timeouts_are_refused(kwargs: dict[str, Any], fragment: str) -> None:
    assert fragment in tool_error(lambda: connection(**{**CREDS, **kwargs}))


@pytest.mark.parametrize("bucket", ["Bad_Bucket", "a", "x" * 70, "-lead", "two--dashes"])
def test_malformed_buckets_are_refused_before_any_request(bucket: str) -> None:
    conn = connection(endpoint=f"http://127.0.0.1:{_closed_port()}", **CREDS)
    assert "--bucket" in tool_error(lambda: backups_verify(conn, bucket, {"etcd/": 3600.0}))
    assert "--bucket" in tool_error(lambda: state_bootstrap(conn, bucket))


def test_the_cli_takes_timeouts_and_refuses_bad_ones(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    code = main(["backups", "verify", "--bucket", "enclii-backups", "--prefix", "etcd/=6h", "--endpoint",
                 f"http://127.0.0.1:{_closed_port()}", "--connect-timeout", "0"])
    err = capsys.readouterr().err
    assert code == 1 and "--connect-timeout must be between 0 and 600" in err and SECRET not in err
    with pytest.raises(SystemExit) as exc:
        main(["state", "bootstrap", "--endpoint", "https://r2.example.com", "--read-timeout", "soon"])
    assert exc.value.code == 2


# --- a zero-byte object is not a backup -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[str, Any]]:
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    try:
        yield endpoint, client
    finally:
        srv.stop()


def test_a_zero_byte_snapshot_does_not_count_as_a_fresh_backup(s3: tuple[str, Any]) -> None:
    endpoint, client = s3
    client.create_bucket(Bucket="enclii-etcd")
    client.put_object(Bucket="enclii-etcd", Key="etcd/old.zip", Body=b"snapshot")
    client.put_object(Bucket="enclii-etcd", Key="etcd/failed.zip", Body=b"")  # an upload that died
    conn = connection(endpoint=endpoint, region="us-east-1", access_key_id="test", secret_access_key="test")
    empties: list[str] = []
    count, _, newest, _ = newest_under(conn, "enclii-etcd", "etcd/", empties=empties)
    assert (count, newest, empties) == (1, "etcd/old.zip", ["etcd/failed.zip"])
    report = backups_verify(conn, "enclii-etcd", {"etcd/": 3600.0}, now=datetime.now(UTC) + timedelta(hours=3))
    [status] = report.prefixes
    assert not report.ok and status.newest_key == "etcd/old.zip" and status.empty == 1
    assert "1 empty object(s) ignored" in status.message and status.as_dict()["emptyObjects"] == 1
    client.put_object(Bucket="enclii-etcd", Key="etcd/only-empty/x.zip", Body=b"")
    [only] = backups_verify(conn, "enclii-etcd", {"etcd/only-empty/": 3600.0}).prefixes
    assert not only.ok and only.newest_key is None and "no objects" in only.message


def test_fresh_snapshots_pass(s3: tuple[str, Any], tmp_path: Path) -> None:
    endpoint, client = s3
    client.create_bucket(Bucket="enclii-fresh")
    client.put_object(Bucket="enclii-fresh", Key="etcd/now.zip", Body=b"snapshot")
    conn = connection(endpoint=endpoint, region="us-east-1", access_key_id="test", secret_access_key="test")
    assert backups_verify(conn, "enclii-fresh", {"etcd/": 3600.0}).ok

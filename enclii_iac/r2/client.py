"""An S3 client for R2 (or any S3-protocol endpoint) with errors a person can act on.

conn = connection(account_id="0123...", access_key_id=..., secret_access_key=...)
with translate_errors(conn, bucket="enclii-pulumi-state"):
    conn.client().head_bucket(Bucket="enclii-pulumi-state")
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from enclii_iac.errors import ToolError

R2_REGION: Final = "auto"
"""Region name S3 clients use with R2."""

ENV_ACCESS_KEY: Final = "AWS_ACCESS_KEY_ID"
ENV_SECRET_KEY: Final = "AWS_SECRET_ACCESS_KEY"

_AUTH_CODES: Final = frozenset(
    {
        "403",
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "Unauthorized",
        "InvalidClientTokenId",
        "AuthorizationHeaderMalformed",
    }
)
_MISSING_CODES: Final = frozenset({"404", "NoSuchBucket", "NotFound"})
_REDIRECT_CODES: Final = frozenset({"301", "302", "307", "308", "PermanentRedirect", "TemporaryRedirect",
                                    "Redirect"})


DEFAULT_CONNECT_TIMEOUT: Final = 5.0
"""Seconds to open a connection to the endpoint (``--connect-timeout``)."""
DEFAULT_READ_TIMEOUT: Final = 30.0
"""Seconds to wait for each response (``--read-timeout``)."""
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


def check_endpoint(endpoint: str) -> str:
    """``endpoint`` without a trailing slash, when it is ``http(s)://host[:port]`` and nothing else."""
    from urllib.parse import urlsplit

    shown = endpoint[:80]
    if any(c.isspace() or ord(c) < 32 for c in endpoint) or not endpoint.startswith(("https://", "http://")):
        raise ToolError(f"endpoint {shown!r} needs a scheme and a host, e.g. https://<account>.r2.cloudflarestorage.com")
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        raise ToolError(f"endpoint {shown!r} is not a URL (host and port)") from None
    if parts.username is not None or parts.password is not None:
        raise ToolError("the endpoint must not carry credentials (user:password@); use --access-key-id and "
                        "AWS_SECRET_ACCESS_KEY")
    if not parts.hostname or (parts.path not in ("", "/")) or parts.query or parts.fragment:
        raise ToolError(f"endpoint {shown!r} must be only https://host[:port], without a path (the bucket is "
                        "--bucket)")
    if port == 0:
        raise ToolError(f"endpoint {shown!r}: port 0 is not a port")
    return endpoint.rstrip("/")


def check_timeout(value: float, what: str) -> float:
    if not 0 < value <= 600:
        raise ToolError(f"{what} must be between 0 and 600 seconds (got {value})")
    return float(value)


def r2_endpoint(account_id: str, jurisdiction: str = "default") -> str:
    """``https://<account>.r2.cloudflarestorage.com`` (``.<jurisdiction>.`` for eu / fedramp)."""
    if jurisdiction == "default":
        return f"https://{account_id}.r2.cloudflarestorage.com"
    return f"https://{account_id}.{jurisdiction}.r2.cloudflarestorage.com"


@dataclass(frozen=True)
class Connection:
    """Where and as whom to talk S3. The secret is kept out of ``repr``."""

    endpoint: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str = R2_REGION
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT

    def client(self) -> Any:
        """A boto3 S3 client: path-style addressing, SigV4, few retries, checksums only when required (R2)."""
        import boto3
        from botocore.config import Config

        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 2, "mode": "standard"},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            user_agent_extra="enclii-iac",
        )
        try:
            return boto3.client(
                "s3",
                endpoint_url=self.endpoint,
                region_name=self.region,
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
                config=config,
            )
        except ValueError as exc:  # botocore's invalid endpoint / region (InvalidRegionError is a ValueError)
            raise ToolError(f"cannot use the S3 endpoint {self.endpoint} with region {self.region!r}: {exc}") from None


def connection(
    *,
    endpoint: str | None = None,
    account_id: str | None = None,
    jurisdiction: str = "default",
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    region: str = R2_REGION,
    env: Mapping[str, str] | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
) -> Connection:
    """A Connection from explicit values, falling back to ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``."""
    environ = os.environ if env is None else env
    if endpoint is None:
        if not account_id:
            raise ToolError("no endpoint: pass --endpoint URL or --account-id <32-hex Cloudflare account id>")
        if not re.fullmatch(r"[0-9a-f]{32}", account_id):
            raise ToolError(
                f"--account-id {account_id[:40]!r} is not a Cloudflare account id (32 lower-case hex digits, shown "
                "in the dashboard's sidebar and in R2's S3 endpoint)"
            )
        endpoint = r2_endpoint(account_id, jurisdiction)
    if jurisdiction not in ("default", "eu", "fedramp"):
        raise ToolError(f"jurisdiction {jurisdiction[:40]!r} is not one of default, eu, fedramp")
    endpoint = check_endpoint(endpoint)
    if not _REGION.fullmatch(region or ""):
        raise ToolError(f"region {str(region)[:40]!r} is not a region name (R2: auto)")
    key = access_key_id or environ.get(ENV_ACCESS_KEY)
    secret = secret_access_key or environ.get(ENV_SECRET_KEY)
    missing = [n for n, v in ((ENV_ACCESS_KEY, key), (ENV_SECRET_KEY, secret)) if not v]
    if missing:
        raise ToolError(
            f"no credentials: set {' and '.join(missing)} (or pass --access-key-id/--secret-access-key); for R2 "
            "use an R2 API token pair (access key id = token id, secret = SHA-256 of the token value)"
        )
    assert key is not None and secret is not None
    return Connection(endpoint=endpoint, access_key_id=key, secret_access_key=secret, region=region,
                      connect_timeout=check_timeout(connect_timeout, "--connect-timeout"),
                      read_timeout=check_timeout(read_timeout, "--read-timeout"))


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error") or {}
        code = str(err.get("Code") or "")
        if code:
            return code
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return str(status or "")
    return ""


@contextmanager
def translate_errors(conn: Connection, *, bucket: str | None = None, action: str = "") -> Iterator[None]:
    """Turn botocore failures into ToolErrors that say what to check."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
        ProxyConnectionError,
        ReadTimeoutError,
        SSLError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.parsers import ResponseParserError

    doing = f" ({action})" if action else ""
    try:
        yield
    except SSLError as exc:
        raise ToolError(
            f"TLS with {conn.endpoint} failed{doing}: {exc}; the endpoint's certificate is not trusted here (a proxy "
            "intercepting HTTPS, or the wrong host): check --endpoint, or set AWS_CA_BUNDLE to your proxy's CA"
        ) from None
    except ProxyConnectionError as exc:
        raise ToolError(
            f"the proxy refused or failed the connection to {conn.endpoint}{doing}: {exc}; check HTTPS_PROXY / "
            "NO_PROXY"
        ) from None
    except (ConnectTimeoutError, ReadTimeoutError) as exc:
        raise ToolError(
            f"{conn.endpoint} did not answer in time{doing} (connect {conn.connect_timeout:g} s, read "
            f"{conn.read_timeout:g} s): {exc}; check the endpoint, or raise --connect-timeout / --read-timeout"
        ) from None
    except (BotoConnectionError, HTTPClientError) as exc:
        raise ToolError(
            f"cannot reach the S3 endpoint {conn.endpoint}{doing}: {exc}; check --endpoint / --account-id and "
            "that this machine can reach it (HTTPS, port 443)"
        ) from None
    except RecursionError:  # botocore's S3 region redirector follows a redirect without region headers forever
        raise ToolError(
            f"{conn.endpoint} keeps redirecting the request{doing}: S3 endpoints answer directly; use the endpoint "
            "of the bucket's account and jurisdiction (--endpoint, --account-id, --jurisdiction)"
        ) from None
    except ResponseParserError:
        raise ToolError(
            f"{conn.endpoint} answered with something that is not an S3 response{doing} (a login page, a proxy or "
            "the wrong service?); check --endpoint"
        ) from None
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise ToolError(f"no usable credentials{doing}: {exc}; set {ENV_ACCESS_KEY} and {ENV_SECRET_KEY}") from None
    except ClientError as exc:
        code = error_code(exc)
        if code in _AUTH_CODES:
            raise ToolError(
                f"{conn.endpoint} rejected the credentials{doing} ({code}); check {ENV_ACCESS_KEY}/{ENV_SECRET_KEY} "
                "(for R2: access key id = token id, secret = SHA-256 hex of the token value) and that the token "
                "may use this bucket"
            ) from None
        if code in _REDIRECT_CODES:
            raise ToolError(
                f"{conn.endpoint} redirected the request{doing} ({code}): S3 endpoints answer directly; use the "
                "endpoint of the bucket's account and jurisdiction (--endpoint, --account-id, --jurisdiction)"
            ) from None
        if code in _MISSING_CODES and bucket is not None:
            raise ToolError(
                f"bucket {bucket!r} does not exist at {conn.endpoint}{doing}; create it with "
                f"`enclii-iac state bootstrap --bucket {bucket}` or check the name"
            ) from None
        raise ToolError(f"S3 request failed{doing} at {conn.endpoint}: {code or 'error'}: {exc}") from None
    except BotoCoreError as exc:  # parameter validation and the like: a message, never a traceback
        raise ToolError(f"S3 request failed{doing} at {conn.endpoint}: {exc}") from None

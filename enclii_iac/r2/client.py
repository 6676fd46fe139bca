"""An S3 client for R2 (or any S3-protocol endpoint) with errors a person can act on.

conn = connection(account_id="0123...", access_key_id=..., secret_access_key=...)
with translate_errors(conn, bucket="enclii-pulumi-state"):
    conn.client().head_bucket(Bucket="enclii-pulumi-state")
"""

from __future__ import annotations

import os
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
    connect_timeout: float = 5.0
    read_timeout: float = 30.0

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
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=config,
        )


def connection(
    *,
    endpoint: str | None = None,
    account_id: str | None = None,
    jurisdiction: str = "default",
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    region: str = R2_REGION,
    env: Mapping[str, str] | None = None,
) -> Connection:
    """A Connection from explicit values, falling back to ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``."""
    environ = os.environ if env is None else env
    if endpoint is None:
        if not account_id:
            raise ToolError("no endpoint: pass --endpoint URL or --account-id <32-hex Cloudflare account id>")
        endpoint = r2_endpoint(account_id, jurisdiction)
    elif not endpoint.startswith(("https://", "http://")):
        raise ToolError(f"endpoint {endpoint!r} needs a scheme, e.g. https://<account>.r2.cloudflarestorage.com")
    key = access_key_id or environ.get(ENV_ACCESS_KEY)
    secret = secret_access_key or environ.get(ENV_SECRET_KEY)
    missing = [n for n, v in ((ENV_ACCESS_KEY, key), (ENV_SECRET_KEY, secret)) if not v]
    if missing:
        raise ToolError(
            f"no credentials: set {' and '.join(missing)} (or pass --access-key-id/--secret-access-key); for R2 "
            "use an R2 API token pair (access key id = token id, secret = SHA-256 of the token value)"
        )
    assert key is not None and secret is not None
    return Connection(endpoint=endpoint.rstrip("/"), access_key_id=key, secret_access_key=secret, region=region)


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
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    doing = f" ({action})" if action else ""
    try:
        yield
    except (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError, ReadTimeoutError) as exc:
        raise ToolError(
            f"cannot reach the S3 endpoint {conn.endpoint}{doing}: {exc}; check --endpoint / --account-id and "
            "that this machine can reach it (HTTPS, port 443)"
        ) from None
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise ToolError(f"no usable credentials{doing}: {exc}; set {ENV_ACCESS_KEY} and {ENV_SECRET_KEY}") from None
    except ClientError as exc:
        code = error_code(exc)
        if code in _AUTH_CODES:
            raise ToolError(
                f"{conn.endpoint} rejected the credentials{doing} ({code}) for access key "
                f"{conn.access_key_id[:6]}...; check {ENV_ACCESS_KEY}/{ENV_SECRET_KEY} (for R2: access key id = "
                "token id, secret = SHA-256 hex of the token value) and that the token may use this bucket"
            ) from None
        if code in _MISSING_CODES and bucket is not None:
            raise ToolError(
                f"bucket {bucket!r} does not exist at {conn.endpoint}{doing}; create it with "
                f"`enclii-iac state bootstrap --bucket {bucket}` or check the name"
            ) from None
        raise ToolError(f"S3 request failed{doing} at {conn.endpoint}: {code or 'error'}: {exc}") from None

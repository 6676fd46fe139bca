"""The Pulumi state bucket on R2, created before any stack exists (``enclii-iac state bootstrap``).

result = state_bootstrap(conn, "enclii-pulumi-state")
print(result.login_command)   # pulumi login 's3://enclii-pulumi-state?endpoint=...&region=auto&use_path_style=true'
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from enclii_iac.errors import ToolError
from enclii_iac.models.edge import BucketName
from enclii_iac.r2.client import Connection, error_code, translate_errors

DEFAULT_STATE_BUCKET: Final = "enclii-pulumi-state"
"""Name of the state bucket (matches the ``state`` bucket of the default ``EdgeSpec.r2``)."""

_BUCKET_NAME: TypeAdapter[str] = TypeAdapter(BucketName)


def login_url(bucket: str, endpoint: str, region: str = "auto") -> str:
    """The DIY-backend URL for ``pulumi login`` (gocloud.dev s3blob, aws-sdk-go v2 parameter names)."""
    return f"s3://{bucket}?endpoint={endpoint}&region={region}&use_path_style=true"


@dataclass(frozen=True)
class BootstrapResult:
    """What ``state_bootstrap`` found or did."""

    bucket: str
    endpoint: str
    created: bool
    login_url: str

    @property
    def login_command(self) -> str:
        return f"pulumi login {shlex.quote(self.login_url)}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "endpoint": self.endpoint,
            "created": self.created,
            "loginUrl": self.login_url,
            "loginCommand": self.login_command,
        }


def check_bucket_name(bucket: str) -> str:
    try:
        return _BUCKET_NAME.validate_python(bucket)
    except ValidationError as exc:
        raise ToolError(f"--bucket: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None


def bucket_exists(conn: Connection, bucket: str, client: Any | None = None) -> bool:
    """True when ``bucket`` exists and these credentials may use it; False when it does not exist."""
    from botocore.exceptions import ClientError

    s3 = client or conn.client()
    with translate_errors(conn, action=f"checking bucket {bucket}"):
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise
    return True


def state_bootstrap(
    conn: Connection, bucket: str = DEFAULT_STATE_BUCKET, *, create: bool = True, client: Any | None = None
) -> BootstrapResult:
    """Create the state bucket if it is missing (idempotent) and return the ``pulumi login`` URL.

    With ``create=False`` a missing bucket is a ToolError (check only).
    """
    from botocore.exceptions import ClientError

    check_bucket_name(bucket)
    s3 = client or conn.client()
    created = False
    if not bucket_exists(conn, bucket, s3):
        if not create:
            raise ToolError(f"bucket {bucket!r} does not exist at {conn.endpoint}; run without --check to create it")
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if conn.region not in ("auto", "us-east-1"):
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": conn.region}
        with translate_errors(conn, bucket=bucket, action=f"creating bucket {bucket}"):
            try:
                s3.create_bucket(**kwargs)
                created = True
            except ClientError as exc:
                code = error_code(exc)
                if code == "BucketAlreadyExists":
                    raise ToolError(
                        f"bucket name {bucket!r} is taken by another account at {conn.endpoint}; pick another name"
                    ) from None
                if code != "BucketAlreadyOwnedByYou":
                    raise
        if not bucket_exists(conn, bucket, s3):
            raise ToolError(f"bucket {bucket!r} was created but cannot be read back at {conn.endpoint}")
    return BootstrapResult(
        bucket=bucket, endpoint=conn.endpoint, created=created, login_url=login_url(bucket, conn.endpoint, conn.region)
    )

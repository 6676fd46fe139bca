"""R2 tooling over the S3 protocol (boto3): the Pulumi state bucket and backup freshness checks.

These run before any stack exists (``state bootstrap``) or beside it (``backups verify``), so they use
boto3 directly, never Pulumi.
"""

from enclii_iac.r2.backups import PrefixStatus, VerifyReport, backups_verify, parse_interval
from enclii_iac.r2.client import Connection, connection, r2_endpoint
from enclii_iac.r2.state import DEFAULT_STATE_BUCKET, BootstrapResult, login_url, state_bootstrap

__all__ = [
    "DEFAULT_STATE_BUCKET",
    "BootstrapResult",
    "Connection",
    "PrefixStatus",
    "VerifyReport",
    "backups_verify",
    "connection",
    "login_url",
    "parse_interval",
    "r2_endpoint",
    "state_bootstrap",
]

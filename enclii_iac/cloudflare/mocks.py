"""Deterministic stand-ins for what Cloudflare computes, for programs run under ``enclii_iac.testing``.

``install()`` adds entries to the Recorder's tables (``COMPUTED_OUTPUTS`` and ``CALL_RESULTS``):
the tunnel token data source, the permission-group list data source and custom hostname outputs.
It is idempotent; call it before ``Recorder.run`` (tests, ``enclii-iac synth``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from enclii_iac import testing
from enclii_iac.models.edge import R2_TOKEN_PERMISSION_GROUPS

TOKEN_INVOKE = "cloudflare:index/getZeroTrustTunnelCloudflaredToken:getZeroTrustTunnelCloudflaredToken"
PERMISSION_GROUPS_INVOKE = (
    "cloudflare:index/getAccountApiTokenPermissionGroupsList:getAccountApiTokenPermissionGroupsList"
)
CUSTOM_HOSTNAME = "cloudflare:index/customHostname:CustomHostname"
SERVICE_TOKEN = "cloudflare:index/zeroTrustAccessServiceToken:ZeroTrustAccessServiceToken"


def _hex(*parts: str, n: int = 32) -> str:
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:n]


def permission_group_id(name: str) -> str:
    """The stand-in id of a permission group (stable, 32 hex)."""
    return _hex("permission-group", name)


def _token(args: dict[str, Any]) -> dict[str, Any]:
    tunnel = str(args.get("tunnelId") or "")
    token = "mock-tunnel-token-" + _hex("tunnel", tunnel)
    return {"accountId": args.get("accountId"), "tunnelId": tunnel, "token": token}


def _groups(args: dict[str, Any]) -> dict[str, Any]:
    known = sorted({g for names in R2_TOKEN_PERMISSION_GROUPS.values() for g in names})
    wanted = args.get("name")
    results = [
        {
            "id": permission_group_id(g),
            "name": g,
            "category": "developer_platform",
            "isSelectable": True,
            "scopes": ["com.cloudflare.edge.r2.bucket"],
        }
        for g in known
        if wanted in (None, g)
    ]
    return {"accountId": args.get("accountId"), "name": wanted, "results": results}


def _custom_hostname(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    host = str(inputs.get("hostname") or name)
    return {
        "status": "pending",
        "ownershipVerification": {
            "name": f"_cf-custom-hostname.{host}",
            "type": "txt",
            "value": "mock-" + _hex("ownership", host, n=36),
        },
        "ownershipVerificationHttp": {
            "httpUrl": f"http://{host}/.well-known/cf-custom-hostname-challenge/mock",
            "httpBody": "mock-" + _hex("http", host, n=36),
        },
    }


def _service_token(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"clientId": _hex("client-id", name) + ".access", "clientSecret": _hex("client-secret", name, n=64)}


def install() -> None:
    """Register the Cloudflare stand-ins with ``enclii_iac.testing`` (idempotent)."""
    testing.CALL_RESULTS[TOKEN_INVOKE] = _token
    testing.SECRET_CALL_OUTPUTS[TOKEN_INVOKE] = ("token",)
    testing.COMPUTED_OUTPUTS[SERVICE_TOKEN] = _service_token
    testing.SECRET_OUTPUTS[SERVICE_TOKEN] = ("clientSecret",)
    testing.CALL_RESULTS[PERMISSION_GROUPS_INVOKE] = _groups
    testing.COMPUTED_OUTPUTS[CUSTOM_HOSTNAME] = _custom_hostname

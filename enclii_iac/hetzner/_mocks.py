"""Deterministic stand-ins, under Pulumi mocks, for outputs hcloud computes (server addresses).

Registered into :data:`enclii_iac.testing.COMPUTED_OUTPUTS` when :mod:`enclii_iac.hetzner` is
imported, so every program using these components synthesizes the same way offline.
"""

from __future__ import annotations

import hashlib
from typing import Any

from enclii_iac import testing


def _n(name: str, salt: str, modulo: int) -> int:
    return int(hashlib.sha256(f"{salt}:{name}".encode()).hexdigest()[:8], 16) % modulo


def _server(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # documentation ranges (RFC 5737 / RFC 3849): never a real host
    return {"ipv4Address": f"192.0.2.{1 + _n(name, 'v4', 254)}",
            "ipv6Address": f"2001:db8:{_n(name, 'v6', 65535):x}::1"}


def _primary_ip(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs.get("type") == "ipv6":
        prefix = f"2001:db8:{_n(name, 'p6', 65535):x}::"
        return {"ipAddress": prefix, "ipNetwork": f"{prefix}/64"}
    return {"ipAddress": f"198.51.100.{1 + _n(name, 'p4', 254)}"}


def install() -> None:
    """Register the stand-ins (idempotent; keeps entries others registered)."""
    testing.COMPUTED_OUTPUTS.setdefault("hcloud:index/server:Server", _server)
    testing.COMPUTED_OUTPUTS.setdefault("hcloud:index/primaryIp:PrimaryIp", _primary_ip)

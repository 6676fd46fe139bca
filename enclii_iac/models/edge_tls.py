"""Edge certificates: which hostnames Cloudflare's edge can serve over TLS, checked at validation.

Universal SSL (free, on every zone) covers the apex and one label under it (``example.com``,
``*.example.com``), nothing deeper: ``api.shop.example.com`` and ``x.preview.example.com`` would get a TLS
error at the edge. The fix declared here is an advanced certificate pack per extra name
(``edge.certificatePacks``: exact names or one-label wildcards, e.g. ``*.preview``); every tenant route,
platform host, custom-domain fallback origin and the preview wildcard must be covered by one or the other.
No in-cluster certificates are needed: TLS ends at Cloudflare and the tunnel carries traffic to the origin.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from enclii_iac.models._base import ShortLabel, StrictModel


class CertificatePackSpec(StrictModel):
    """One advanced certificate pack (Cloudflare ACM): names beyond Universal SSL's apex + one label."""

    hosts: list[str] = Field(
        min_length=1, max_length=49,
        description="Names relative to the zone: exact (api.shop) or one-label wildcards (*.preview); the apex "
        "is always added (Cloudflare requires it).",
    )
    certificate_authority: Literal["lets_encrypt", "google", "ssl_com"] = Field(
        "lets_encrypt", description="Default: lets_encrypt.")
    validity_days: Literal[14, 30, 90, 365] = Field(90, description="Default: 90 (renewed by Cloudflare).")
    validation_method: Literal["txt", "http"] = Field(
        "txt", description="Domain validation (txt works for wildcards; Cloudflare adds the records in its own "
        "zone). Default: txt.")

    @field_validator("hosts")
    @classmethod
    def _relative(cls, hosts: list[str]) -> list[str]:
        import re

        label = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
        for h in hosts:
            if not re.fullmatch(rf"(\*\.)?{label}(\.{label})*", h):
                raise ValueError(f"{h!r} is not a name relative to the zone (api.shop, *.preview)")
        if len(set(hosts)) != len(hosts):
            raise ValueError("hosts are listed twice")
        return hosts


CertificatePacks = dict[ShortLabel, CertificatePackSpec]


def covered(host: str, zone: str, packs: CertificatePacks) -> bool:
    """True when the edge has a certificate for ``host`` (a name in ``zone``, or a ``*.`` wildcard)."""
    if host == zone:
        return True
    if not host.endswith("." + zone):
        return False
    relative = host[: -len(zone) - 1]
    labels = relative.split(".")
    if len(labels) == 1:  # Universal SSL: *.zone (a wildcard label itself included)
        return True
    for pack in packs.values():
        for name in pack.hosts:
            if name == relative:
                return True
            if name.startswith("*.") and not relative.startswith("*.") and relative.split(".", 1)[1] == name[2:]:
                return True
            if name.startswith("*.") and relative == name:
                return True
    return False


def coverage_issues(zone: str, names: dict[str, str], packs: CertificatePacks) -> list[tuple[str, str]]:
    """``(field path, message)`` per hostname (``names``: host → where it comes from) with no edge certificate."""
    issues = []
    for host, where in sorted(names.items()):
        if not covered(host, zone, packs):
            relative = host[: -len(zone) - 1]
            wildcard = "*." + relative.split(".", 1)[1]
            fix = relative if relative.startswith("*.") else f"{relative} (or {wildcard})"
            issues.append((where, f"{host} is two or more labels under {zone}: Universal SSL covers only {zone} and "
                                  f"*.{zone}; add {fix} to edge.certificatePacks, or use a one-label name"))
    return issues

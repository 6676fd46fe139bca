"""Cloudflare edge and R2 specs. Owned by the edge work (issue 5)."""

from __future__ import annotations

from enclii_iac.models._base import StrictModel


class EdgeSpec(StrictModel):
    """The Cloudflare edge: tunnel, DNS, custom domains, R2. Placeholder: filled in by the edge work."""

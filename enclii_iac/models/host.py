"""Host specs (the AX41 dedicated server, Hetzner Cloud servers). Owned by the host/cluster work (issue 4)."""

from __future__ import annotations

from enclii_iac.models._base import StrictModel


class HostsSpec(StrictModel):
    """Every machine of the platform. Placeholder: filled in by the host/cluster work."""

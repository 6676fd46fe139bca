"""k3s cluster spec. Owned by the host/cluster work (issue 4)."""

from __future__ import annotations

from enclii_iac.models._base import StrictModel


class K3sClusterSpec(StrictModel):
    """The k3s cluster. Placeholder: filled in by the host/cluster work."""

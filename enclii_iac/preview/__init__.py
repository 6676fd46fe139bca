"""Preview environments: one stack per pull request."""

from enclii_iac.preview.spec import preview_environment, preview_host, preview_spec

__all__ = ["preview_environment", "preview_host", "preview_spec"]

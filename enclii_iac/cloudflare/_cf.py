"""``pulumi_cloudflare``, imported once without its import-time DeprecationWarnings.

pulumi-cloudflare 6.x warns at import for every deprecated v5 alias it still ships (``Record``,
``AccessApplication``, ...). enclii_iac uses only the v6 names, and pytest runs with warnings as
errors, so the import is wrapped here and everything else imports ``cf`` from this module.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_cloudflare(\..*)?$")
    import pulumi_cloudflare as cf

__all__ = ["cf"]

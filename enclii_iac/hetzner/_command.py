"""``pulumi_command.remote``, imported without its import-time DeprecationWarning.

pulumi-command 1.2.1 warns about the deprecated ``CopyFile`` resource when ``pulumi_command.remote``
is first loaded, whether or not ``CopyFile`` is used (enclii_iac never uses it); the test suite
turns warnings into errors, so the import is done once here with that one warning silenced.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="This resource is deprecated", category=DeprecationWarning)
    from pulumi_command import remote

    _ = remote.Command  # the package is imported lazily: load it inside the filter

__all__ = ["remote"]

"""The exception tree of enclii_iac.

Every error the library raises on purpose is an ``EncliiIacError``::

    EncliiIacError
    ├── SpecError            invalid input: a spec, a YAML document or stack config
    │                        (carries the document, the field path and the fix)
    ├── RenderError          a value cannot be rendered safely (e.g. it would reach a shell unquoted)
    ├── SynthError           a stack program could not be synthesized offline
    ├── PolicyError          a policy check failed where the caller asked for enforcement
    └── ToolError            an external tool (S3 endpoint, validator) failed in a way a person can act on
"""

from __future__ import annotations

from dataclasses import dataclass


class EncliiIacError(Exception):
    """Root of every error enclii_iac raises on purpose."""

    declared: int | None = None
    """When raised while running a stack offline: how many resources had been declared (0: none)."""


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec: where it is, what is wrong, and (when known) the fix."""

    document: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.document}: " if self.document else ""
        path = f"{self.path}: " if self.path else ""
        return f"{where}{path}{self.message}"


class SpecError(EncliiIacError, ValueError):
    """Invalid input. ``issues`` lists every problem found, each with its field path."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class RenderError(EncliiIacError):
    """A value cannot be rendered safely."""


class SynthError(EncliiIacError):
    """A stack program could not be synthesized offline."""


class PolicyError(EncliiIacError):
    """Policy violations where the caller asked for enforcement."""


class ToolError(EncliiIacError):
    """An external tool or endpoint failed; the message says what to do."""

"""What every policy rule returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, order=True)
class Violation:
    """One policy violation: which rule, on which resource (``type name``), and what to change."""

    rule: str
    resource: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

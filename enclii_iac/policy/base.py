"""What every policy rule returns, and the helpers rules share to read recorded resources."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Final, Protocol


@dataclass(frozen=True, order=True)
class Violation:
    """One policy violation: which rule, on which resource (``type name``), and what to change."""

    rule: str
    resource: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class Record(Protocol):
    """What rules read of a recorded resource (``enclii_iac.testing.ResourceRecord`` satisfies it)."""

    type: str
    name: str
    inputs: dict[str, Any]


WORKLOADS: Final[dict[str, tuple[str, ...]]] = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}
"""Where the pod spec sits in each workload kind."""


def plain(value: Any) -> Any:
    """``value`` with Pulumi secret wrappers removed (rules judge values, secrecy is checked separately)."""
    from enclii_iac.testing import reveal

    return reveal(value)


def ref(r: Record) -> str:
    """How a violation names a resource: ``"<type> <name>"``."""
    return f"{r.type} {r.name}"


def dig(obj: Any, path: tuple[str, ...]) -> Any:
    """``obj[path[0]][path[1]]...``, or None where a step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def of_type(records: list[Any], type_: str) -> Iterator[tuple[Any, dict[str, Any]]]:
    """``(record, plain inputs)`` of every record of ``type_``."""
    for r in records:
        if r.type == type_:
            inputs = plain(r.inputs)
            yield r, inputs if isinstance(inputs, dict) else {}


def pod_specs(records: list[Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """``(record, pod spec)`` of every workload."""
    for r in records:
        path = WORKLOADS.get(r.type)
        if path is None:
            continue
        spec = dig(plain(r.inputs), path)
        if isinstance(spec, dict):
            yield r, spec

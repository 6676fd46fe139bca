"""Run every policy rule over a stack's declared resources (``enclii-iac policy``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from enclii_iac.policy.base import Violation
from enclii_iac.policy.edge import EDGE_RULES
from enclii_iac.policy.firewall import FIREWALL_RULES
from enclii_iac.policy.tenancy import TENANCY_RULES

Rule = Callable[[list[Any]], list[Violation]]


def all_rules() -> list[Rule]:
    """Every rule of the toolkit, in a stable order."""
    return [*TENANCY_RULES, *FIREWALL_RULES, *EDGE_RULES]


def check_records(records: list[Any], rules: list[Rule] | None = None) -> list[Violation]:
    """Violations of ``rules`` (default: all) over recorded resources, sorted."""
    out: list[Violation] = []
    for rule in rules or all_rules():
        out += rule(records)
    return sorted(set(out))


def plaintext_secrets(stack: Any) -> list[Violation]:
    """Secret config keys written in clear in ``Pulumi.<stack>.yaml`` (``synth.StackDir.plaintext``)."""
    return [
        Violation("plaintext-secret", f"config {key}",
                  f"stored in clear in Pulumi.{stack.stack}.yaml; set it with `pulumi config set --secret` and "
                  "rotate it")
        for key in getattr(stack, "plaintext", [])
    ]


def check_stack(
    stack_dir: str | Path, stack: str | None = None, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Synthesize the stack offline and check it: ``{"resources": n, "rules": [...], "violations": [...]}``."""
    from enclii_iac.synth import run_stack

    result = run_stack(stack_dir, stack, progress)
    violations = sorted(set(check_records(result.records)) | set(plaintext_secrets(result.stack)))
    return {
        "project": result.stack.project,
        "stack": result.stack.stack,
        "resources": len(result.records),
        "rules": [r.__name__ for r in all_rules()],
        "violations": [v.as_dict() for v in violations],
    }

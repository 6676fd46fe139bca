"""Budget caps: the issues of a spec whose estimate passes a cap on the platform, a project or an environment.

``check_budgets(spec)`` runs before anything is declared (``EncliiPlatform`` calls it with its other preflight
checks; ``build_platform`` and ``build_preview`` call it before their providers and stack reference), so
``enclii-iac synth``, the stack programs under ``pulumi up`` and the preview stack's program all refuse
an over-budget spec with nothing created. A cap is checked against the request-based figure (what the declared
pods request); the quota-based figure (the most the quotas let them request) is shown beside it.
"""

from __future__ import annotations

from decimal import Decimal

from enclii_iac.cost.estimate import Bill, estimate
from enclii_iac.cost.inventory import inventory_from_spec
from enclii_iac.cost.prices import Currency, load_prices
from enclii_iac.errors import SpecIssue
from enclii_iac.models.cost import BudgetSpec
from enclii_iac.models.platform import PlatformSpec

TOP = 3
"""Contributors named in a refusal."""


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:.2f} {currency}"


def _in(bill: Bill, amount: Decimal, budget: BudgetSpec) -> Decimal:
    return load_prices().convert(amount, bill.currency, budget.currency).quantize(Decimal("0.01"))


def budget_issues(spec: PlatformSpec, bill: Bill) -> list[SpecIssue]:
    """One issue per cap ``bill`` passes, with the amounts and the biggest contributors."""
    issues: list[SpecIssue] = []
    if spec.budget is not None:
        cap = spec.budget
        total = _in(bill, bill.total, cap)
        if total > cap.monthly:
            lines = sorted(bill.lines, key=lambda line: (-line.amount, line.item))[:TOP]
            quota = bill.total - sum((p.amount for p in bill.environments()), Decimal(0)) + sum(
                (p.quota for p in bill.environments()), Decimal(0))
            issues.append(SpecIssue(
                "platform", "budget",
                f"the estimate is {_money(total, cap.currency)}/month, over the budget of "
                f"{_money(cap.monthly, cap.currency)} (with every quota used: "
                f"{_money(_in(bill, quota, cap), cap.currency)}); biggest contributors: "
                + ", ".join(f"{line.item} ({line.key}) {_money(_in(bill, line.amount, cap), cap.currency)}"
                            for line in lines)
                + "; raise the budget or remove resources",
            ))
    projects = bill.projects()
    for name, project in sorted(spec.tenants.items()):
        envs = [p for p in bill.environments() if p.project == name]
        if project.budget is not None and name in projects:
            cap = project.budget
            _, requested, quota = projects[name]
            if _in(bill, requested, cap) > cap.monthly:
                biggest = sorted(envs, key=lambda p: (-p.requested, p.environment))[:TOP]
                issues.append(SpecIssue(
                    "platform", f"tenants.{name}.budget",
                    f"project {name} is estimated at {_money(_in(bill, requested, cap), cap.currency)}/month by its "
                    f"requests (its quotas allow up to {_money(_in(bill, quota, cap), cap.currency)}), over the budget "
                    f"of {_money(cap.monthly, cap.currency)}; biggest contributors: "
                    + ", ".join(f"{p.environment} {_money(_in(bill, p.requested, cap), cap.currency)}" for p in biggest)
                    + "; lower replicas or requests, or raise the budget",
                ))
        for part in envs:
            env_budget = project.environments[part.environment].budget if part.environment in project.environments \
                else None
            if env_budget is None:
                continue
            if _in(bill, part.requested, env_budget) > env_budget.monthly:
                contributors = part.contributors[:TOP]
                issues.append(SpecIssue(
                    "platform", f"tenants.{name}.environments.{part.environment}.budget",
                    f"{name}/{part.environment} is estimated at "
                    f"{_money(_in(bill, part.requested, env_budget), env_budget.currency)}/month by its requests (its "
                    f"quota allows up to {_money(_in(bill, part.quota, env_budget), env_budget.currency)}), over the "
                    f"budget of {_money(env_budget.monthly, env_budget.currency)}; biggest contributors: "
                    + ", ".join(f"{n} {_money(_in(bill, a, env_budget), env_budget.currency)}" for n, a in contributors)
                    + "; lower replicas or requests, or raise the budget",
                ))
    return issues


def has_budgets(spec: PlatformSpec) -> bool:
    return spec.budget is not None or any(
        p.budget is not None or any(e.budget is not None for e in p.environments.values())
        for p in spec.tenants.values()
    )


def check_budgets(spec: PlatformSpec, currency: Currency | None = None) -> list[SpecIssue]:
    """The budget issues of ``spec``, estimated from what it would declare (nothing is declared); ``[]`` when it
    sets no budget."""
    if not has_budgets(spec):
        return []
    return budget_issues(spec, estimate(spec, inventory_from_spec(spec), currency=currency))

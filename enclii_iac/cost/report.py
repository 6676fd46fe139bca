"""``enclii-iac cost``: synthesize a stack offline, price what it declares, and print the bill and its showback."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from enclii_iac.cost.estimate import Bill, estimate
from enclii_iac.cost.inventory import inventory_from_records
from enclii_iac.cost.prices import Currency
from enclii_iac.errors import SpecError, SpecIssue, SynthError
from enclii_iac.models.cost import UsageAssumptions
from enclii_iac.synth import Progress


def load_usage(path: str | Path) -> UsageAssumptions:
    """Usage assumptions from a YAML file (``buckets``, ``default``, weights); a SpecError naming the field."""
    from pydantic import ValidationError

    from enclii_iac.models.loader import issues_from_validation
    from enclii_iac.synth import _yaml_mapping

    data = _yaml_mapping(Path(path), "usage assumptions")
    try:
        return UsageAssumptions.model_validate(data)
    except ValidationError as exc:
        raise SpecError(issues_from_validation(exc, str(path))) from None


def stack_bill(
    stack_dir: str | Path,
    stack: str | None = None,
    *,
    usage: UsageAssumptions | None = None,
    currency: Currency | None = None,
    progress: Progress | None = None,
) -> Bill:
    """Run the stack offline (``enclii_iac.synth.run_stack``) and price the resources it declared."""
    from enclii_iac.stack import observe_settings
    from enclii_iac.synth import run_stack

    with observe_settings() as seen:
        result = run_stack(stack_dir, stack, progress)
    if not seen:
        raise SynthError(f"{stack_dir}: the program loaded no platform spec (load_stack_settings); cannot price it")
    spec = seen[-1].spec
    return estimate(spec, inventory_from_records(result.records, spec), usage=usage, currency=currency)


def spec_bill(
    files: list[str | Path], *, usage: UsageAssumptions | None = None, currency: Currency | None = None
) -> Bill:
    """The bill of a platform spec given as files (a Platform document and tenant documents), priced from what it
    would declare (``inventory_from_spec``, the budget path): for ``--diff`` against a spec instead of a stack."""
    from enclii_iac.cost.inventory import inventory_from_spec
    from enclii_iac.models.loader import build_platform, load_documents, read_files

    docs = load_documents(read_files(files))
    if docs.platform is None:
        raise SpecError([SpecIssue(", ".join(str(f) for f in files), "kind", "no Platform document found; pass a "
                                   "stack directory or a Platform spec file (and its tenant files)")])
    spec = build_platform(docs.platform, docs.tenants(), docs.platform_source)
    return estimate(spec, inventory_from_spec(spec), usage=usage, currency=currency)


def other_bill(
    paths: list[str], stack: str | None = None, *, usage: UsageAssumptions | None = None,
    currency: Currency | None = None, progress: Progress | None = None,
) -> Bill:
    """``--diff OTHER...``: one stack directory, or a Platform spec file and tenant files."""
    if len(paths) == 1 and Path(paths[0]).is_dir():
        return stack_bill(paths[0], stack, usage=usage, currency=currency, progress=progress)
    return spec_bill(list(paths), usage=usage, currency=currency)


def _m(amount: Decimal) -> str:
    return f"{amount:.2f}"


def bill_json(bill: Bill) -> dict[str, Any]:
    return {
        "currency": bill.currency,
        "total": _m(bill.total),
        "oneOff": _m(bill.one_off),
        "referencePricing": bill.reference_pricing,
        "lines": [
            {"key": line.key, "item": line.item, "quantity": str(line.quantity), "unit": line.unit,
             "amount": _m(line.amount), "shared": line.pool}
            for line in bill.lines
        ],
        "showback": [
            {"part": p.key, "kind": p.kind, "project": p.project or None, "environment": p.environment or None,
             "amount": _m(p.amount), "requested": _m(p.requested), "quota": _m(p.quota),
             "cpuRequestsMillis": p.cpu_m, "memoryRequestsBytes": p.memory, "storageRequestsBytes": p.storage,
             "customHostnames": p.hostnames,
             "contributors": [{"workload": n, "amount": _m(a)} for n, a in p.contributors]}
            for p in bill.parts
        ],
        "projects": {name: {"amount": _m(a), "requested": _m(r), "quota": _m(q)}
                     for name, (a, r, q) in sorted(bill.projects().items())},
        "unitPrices": {k: _m(v) for k, v in bill.unit_prices.items()},
        "assumptions": dict(sorted(bill.assumptions.items())),
        "warnings": list(bill.warnings),
    }


def text(bill: Bill) -> str:
    c = bill.currency
    width = max((len(line.item) for line in bill.lines), default=10)
    out = [f"monthly estimate: {_m(bill.total)} {c} (one-off setup fees: {_m(bill.one_off)} {c})"]
    out += [f"  {line.item.ljust(width)}  {_m(line.amount):>10} {c}  [{line.key}]" for line in bill.lines]
    out.append("showback (parts add up to the total; requested / quota-based figures beside each environment):")
    for p in bill.parts:
        extra = f"  requested {_m(p.requested)}, quota {_m(p.quota)}" if p.kind == "environment" else ""
        out.append(f"  {p.key.ljust(24)}  {_m(p.amount):>10} {c}{extra}")
    if bill.reference_pricing:
        out.append("no servers declared: environment figures are priced at one reference AX41 and are not in the total")
    out += [f"assumption: {k}: {v}" for k, v in sorted(bill.assumptions.items())]
    out += [f"warning: {w}" for w in bill.warnings]
    return "\n".join(out)


def markdown(bill: Bill) -> str:
    c = bill.currency
    out = [f"**Monthly estimate: {_m(bill.total)} {c}** (one-off setup fees: {_m(bill.one_off)} {c})", "",
           "| item | price sheet entry | quantity | monthly |", "|---|---|---:|---:|"]
    out += [f"| {line.item} | `{line.key}` | {line.quantity} {line.unit} | {_m(line.amount)} {c} |"
            for line in bill.lines]
    if not bill.lines:
        out.append("| (nothing priced: no servers, buckets, hostnames or tunnels declared) | | | |")
    out += ["", "| showback | monthly | requested | quota-based |", "|---|---:|---:|---:|"]
    for p in bill.parts:
        if p.kind == "environment":
            out.append(f"| {p.key} | {_m(p.amount)} {c} | {_m(p.requested)} {c} | {_m(p.quota)} {c} |")
        else:
            out.append(f"| _{p.kind}_ | {_m(p.amount)} {c} | | |")
    if bill.reference_pricing:
        out += ["", "No servers declared: the environments' figures are priced at one reference AX41 and are not part "
                "of this stack's total."]
    out += ["", *[f"- assumption: {k}: {v}" for k, v in sorted(bill.assumptions.items())],
            *[f"- warning: {w}" for w in bill.warnings]]
    return "\n".join(out) + "\n"


def diff(before: Bill, after: Bill) -> dict[str, Any]:
    """What changes from ``before`` to ``after``: the total, every line and every showback part."""
    if before.currency != after.currency:
        raise SpecError([SpecIssue("cost", "--diff", f"the two bills are in {before.currency} and {after.currency}; "
                                                     "pass --currency")])

    def rows(a: dict[str, Decimal], b: dict[str, Decimal]) -> list[dict[str, str]]:
        out = []
        for key in sorted(set(a) | set(b)):
            x, y = a.get(key, Decimal(0)), b.get(key, Decimal(0))
            if x != y:
                out.append({"item": key, "before": _m(x), "after": _m(y), "change": _m(y - x)})
        return out

    def lines(bill: Bill) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for line in bill.lines:
            out[f"{line.item} [{line.key}]"] = out.get(f"{line.item} [{line.key}]", Decimal(0)) + line.amount
        return out

    return {
        "currency": after.currency,
        "before": _m(before.total),
        "after": _m(after.total),
        "change": _m(after.total - before.total),
        "lines": rows(lines(before), lines(after)),
        "showback": rows({p.key: p.amount for p in before.parts}, {p.key: p.amount for p in after.parts}),
    }


def diff_markdown(report: dict[str, Any]) -> str:
    c = report["currency"]
    sign = "+" if not report["change"].startswith("-") else ""
    out = [f"**Monthly estimate: {report['before']} -> {report['after']} {c} ({sign}{report['change']} {c})**", ""]
    for title, key in (("line", "lines"), ("showback", "showback")):
        if report[key]:
            out += [f"| {title} | before | after | change |", "|---|---:|---:|---:|"]
            out += [f"| {r['item']} | {r['before']} | {r['after']} | {r['change']} |" for r in report[key]]
            out.append("")
    if not report["lines"] and not report["showback"]:
        out.append("no cost change")
    return "\n".join(out) + "\n"

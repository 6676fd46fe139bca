"""Cost of the example stacks from what they declare, the spec path agreeing with it, budget caps refusing
before anything is declared (synth and the stack programs), and the `enclii-iac cost` command."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from enclii_iac.cli import main
from enclii_iac.cost import estimate, inventory_from_records, inventory_from_spec
from enclii_iac.errors import SpecError
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.stack import observe_settings
from enclii_iac.synth import SynthResult, run_stack
from tests.conftest import STACKS


def _run(path: Path, stack: str | None = None) -> tuple[SynthResult, PlatformSpec]:
    with observe_settings() as seen:
        result = run_stack(path, stack)
    return result, seen[-1].spec


@pytest.fixture(scope="module")
def production() -> tuple[SynthResult, PlatformSpec]:
    return _run(STACKS / "production")


@pytest.fixture(scope="module")
def preview() -> tuple[SynthResult, PlatformSpec]:
    return _run(STACKS / "preview", "pr-42")


@pytest.mark.parametrize("stack", ["production", "preview"])
def test_the_spec_path_sees_what_the_stack_declares(stack: str, request: pytest.FixtureRequest) -> None:
    result, spec = request.getfixturevalue(stack)
    declared = inventory_from_records(result.records, spec)
    planned = inventory_from_spec(spec)
    assert declared.workloads == planned.workloads
    assert declared.quotas == planned.quotas
    assert declared.buckets == planned.buckets
    assert declared.hostnames == planned.hostnames
    assert (declared.dedicated, declared.cloud, declared.tunnels) == (planned.dedicated, planned.cloud,
                                                                     planned.tunnels)


def test_production_bill_from_the_declared_resources(production: tuple[SynthResult, PlatformSpec]) -> None:
    result, spec = production
    inv = inventory_from_records(result.records, spec)
    assert inv.dedicated == ("enclii-hosts-ax41",)
    assert [b.name for b in inv.buckets] == ["enclii-artifacts", "enclii-backups", "enclii-etcd", "enclii-pulumi-state"]
    assert [h.hostname for h in inv.hostnames] == ["api.shop-customer.com", "shop.customer.com"]
    # every Deployment of a tenant environment is counted with its replicas
    deployments = [r for r in result.records if r.type == "kubernetes:apps/v1:Deployment"
                   and "enclii.dev/project" in r.inputs["metadata"]["labels"]]
    assert len([w for w in inv.workloads if w.kind == "Deployment"]) == len(deployments)
    bill = estimate(spec, inv)
    lines = {line.key: line.amount for line in bill.lines}
    assert lines["hetzner.ax41-nvme"] == Decimal("43.27")
    # R2 at the default assumptions (0.1 GB/day each): 9 + 3 + 3 + 36.5 GB, 0.5 GB of which infrequent access
    # Standard: 52 GB - 0.5 GB infrequent access - 10 GB free = 41.5 GB x 0.015 = 0.6225
    assert lines["cloudflare.r2.storage"] == Decimal("0.62")
    assert lines["cloudflare.saas.hostname"] == 0 and lines["cloudflare.tunnel"] == 0
    assert sum((p.amount for p in bill.parts), Decimal(0)) == bill.total
    assert {p.key for p in bill.environments()} == {"blog/dev", "blog/prod", "shop/dev", "shop/prod", "shop/stage"}


def _with_platform_override(tmp_path: Path, stack: str, override: dict[str, object]) -> Path:
    target = tmp_path / stack
    shutil.copytree(STACKS / stack, target)
    cfg = next(target.glob("Pulumi.*.yaml"))
    data = yaml.safe_load(cfg.read_text())
    data["config"]["enclii:platform"] = override
    cfg.write_text(yaml.safe_dump(data))
    return target


def test_synth_refuses_an_over_budget_platform_before_anything_is_declared(tmp_path: Path) -> None:
    stack = _with_platform_override(tmp_path, "production", {"budget": {"monthly": "40.00", "currency": "USD"}})
    with pytest.raises(SpecError) as exc:
        run_stack(stack)
    assert exc.value.declared == 0
    message = str(exc.value)
    assert "budget: the estimate is 43.90 USD/month, over the budget of 40.00 USD" in message
    assert "biggest contributors: enclii-hosts-ax41 (hetzner.ax41-nvme) 43.27 USD" in message
    code = main(["synth", str(stack), "--out", str(tmp_path / "out"), "-q"])
    assert code == 1 and not (tmp_path / "out").exists()


def test_the_preview_program_refuses_a_project_over_its_budget(tmp_path: Path) -> None:
    # `enclii-iac preview up` runs this same program (build_preview) through the Automation API
    shutil.copytree(STACKS / "preview", tmp_path / "preview")
    shutil.copytree(STACKS / "production", tmp_path / "production")
    shop = tmp_path / "production" / "tenants" / "shop.yaml"
    text = shop.read_text()
    assert "spec:\n  environments:\n" in text
    budget = "spec:\n  budget: {monthly: '1.00'}\n  environments:\n"
    shop.write_text(text.replace("spec:\n  environments:\n", budget, 1))
    with pytest.raises(SpecError) as exc:
        run_stack(tmp_path / "preview", "pr-42")
    assert exc.value.declared == 0
    [issue] = exc.value.issues
    assert issue.path == "tenants.shop.budget"
    assert "project shop is estimated at 1.40 USD/month by its requests (its quotas allow up to 4.73 USD), over " \
           "the budget of 1.00 USD; biggest contributors: preview-pr-42 1.40 USD" in issue.message
    # production runs the same tenants on the AX41: its shop environments pass the cap too
    with pytest.raises(SpecError, match="tenants.shop.budget: project shop is estimated at") as prod:
        run_stack(tmp_path / "production")
    assert prod.value.declared == 0


def test_cost_command_json_markdown_and_diff(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", str(STACKS / "production"), "--json", "-q"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["currency"] == "USD" and data["total"] == "43.90"
    assert sum(Decimal(p["amount"]) for p in data["showback"]) == Decimal(data["total"])
    assert {p["part"] for p in data["showback"]} >= {"platform", "idle", "shop/prod"}
    assert data["assumptions"]["r2:enclii-etcd"].startswith("0.1 GB/day, expiry after 30 days")
    assert main(["cost", str(STACKS / "production"), "--markdown", "-q", "--currency", "EUR"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("**Monthly estimate: ")
    assert "| enclii-hosts-ax41 | `hetzner.ax41-nvme` | 1 server | 37.30 EUR |" in md
    assert main(["cost", str(STACKS / "production"), "--diff", str(STACKS / "production"), "--json", "-q"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["change"] == "0.00" and same["lines"] == [] and same["showback"] == []


def test_cost_diff_shows_what_a_change_costs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    after = tmp_path / "production"
    shutil.copytree(STACKS / "production", after)
    shop = after / "tenants" / "shop.yaml"
    text = shop.read_text()
    assert "replicas: {min: 2, max: 10}" in text
    shop.write_text(text.replace("replicas: {min: 2, max: 10}", "replicas: {min: 4, max: 10}"))
    assert main(["cost", str(after), "--diff", str(STACKS / "production"), "-q"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("**Monthly estimate: 43.90 -> 43.90 USD (+0.00 USD)**")
    rows = [line for line in md.splitlines() if line.startswith("| shop/")]
    assert rows and all(line.split(" | ")[3].strip(" |").startswith(("0.", "1.", "2.")) for line in rows)
    assert "| idle |" in md


def test_cost_diff_against_a_spec_file(capsys: pytest.CaptureFixture[str]) -> None:
    prod = STACKS / "production"
    # the spec files hold shop only (blog is built in Python, tenants.py): the diff shows blog added
    assert main(["cost", str(prod), "--json", "-q", "--diff", str(prod / "platform.yaml"),
                 str(prod / "tenants" / "shop.yaml")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["before"] == report["after"] == "43.90" and report["lines"] == []
    changed = {r["item"]: r for r in report["showback"]}
    assert changed["blog/prod"]["before"] == "0.00" and changed["blog/prod"]["after"] == "1.49"
    assert main(["cost", str(prod), "--diff", str(prod / "tenants" / "shop.yaml"), "-q"]) == 1
    assert "no Platform document found" in capsys.readouterr().err


def test_production_bill_golden(production: tuple[SynthResult, PlatformSpec]) -> None:
    from enclii_iac.cost.report import markdown
    from enclii_iac.testing import assert_golden
    from tests.conftest import GOLDEN

    result, spec = production
    assert_golden(GOLDEN / "cost" / "production.md", markdown(estimate(spec, inventory_from_records(result.records,
                                                                                                    spec))))

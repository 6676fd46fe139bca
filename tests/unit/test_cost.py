"""The price sheet, largest-remainder rounding, and a matrix of scenarios whose bills are computed by hand here.

Hand arithmetic shared by the scenarios (defaults of the sheet and of the usage assumptions):
- one AX41: 37.30 EUR x 1.16 = 43.268 USD a month; the pool is split cpu 0.5, memory 0.4, storage 0.1;
- the AX41 has 12 CPUs, 64 Gi and 512 GB of disk, so 1 CPU costs 43.268 x 0.5 / 12 = 1.802833 USD, 1 Gi
  43.268 x 0.4 / 64 = 0.270425 USD and 1 GB of claims 43.268 x 0.1 / 512 = 0.008451 USD;
- the platform keeps back 500m + 1 + 500m = 2 CPUs and 1Gi + 2Gi + 500Mi + 1Gi = 4.5 Gi (system-reserved,
  kube-reserved, eviction, platform pods).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from enclii_iac.cost import estimate, inventory_from_spec, largest_remainder, load_prices, parse_prices
from enclii_iac.cost.budget import check_budgets
from enclii_iac.cost.inventory import Bucket, CloudServer, Hostname, Inventory, LifecycleRule, Workload
from enclii_iac.cost.prices import MAX_AGE_DAYS
from enclii_iac.errors import SpecError
from enclii_iac.models.cost import BudgetSpec, UsageAssumptions
from enclii_iac.models.platform import PlatformSpec
from tests.conftest import STACKS
from tests.unit.host_fixtures import ax41

POOL = 37.30 * 1.16
CPU = POOL * 0.5 / 12
GI = POOL * 0.4 / 64
GB = POOL * 0.1 / 512
GIB_IN_GB = 2**30 / 1e9
DIGEST = "ghcr.io/acme/api@sha256:" + "a" * 64


def approx(value: float) -> Any:
    return pytest.approx(value, rel=0.005, abs=0.005)


def platform(tenants: dict[str, Any] | None = None, **extra: Any) -> PlatformSpec:
    data: dict[str, Any] = {
        "domain": "example.com",
        "hosts": {"dedicated": {"ax41": ax41(kubeApiAllowCidrs=["198.51.100.7/32"]).model_dump()}},
        "cluster": {"servers": ["ax41"]},
        "tenants": tenants or {},
        **extra,
    }
    return PlatformSpec.model_validate(data)


def web(cpu: str = "500m", memory: str = "256Mi", replicas: int = 2, **extra: Any) -> dict[str, Any]:
    return {"image": DIGEST, "port": 8080, "replicas": {"min": replicas}, "resources": {"cpu": cpu, "memory": memory},
            **extra}


def shop(services: dict[str, Any], **env: Any) -> dict[str, Any]:
    return {"shop": {"environments": {"prod": env}, "services": services}}


def parts(bill: Any) -> dict[str, float]:
    return {p.key: float(p.amount) for p in bill.parts}


def assert_sums(bill: Any) -> None:
    assert sum((p.amount for p in bill.parts), Decimal(0)) == bill.total
    assert bill.total == sum((line.amount for line in bill.lines), Decimal(0))


# --- the sheet ------------------------------------------------------------------------------------------------


def test_every_entry_has_a_source_and_a_date_and_the_sheet_is_fresh() -> None:
    sheet = load_prices()
    assert sheet.entries
    for key, entry in sheet.entries.items():
        assert entry.source.scheme == "https", key
        assert entry.date <= dt.date.today() + dt.timedelta(days=1), key
    for key in ("hetzner.ax41-nvme", "hetzner.cloud.volume", "hetzner.cloud.primary-ipv4", "hetzner.cloud.backup",
                "cloudflare.r2.storage", "cloudflare.r2.class-a", "cloudflare.r2.class-b",
                "cloudflare.saas.hostname", "cloudflare.tunnel", "railway.vcpu", "render.standard",
                "heroku.standard-2x"):
        assert key in sheet.entries
    assert not sheet.stale(), f"the price sheet is older than {MAX_AGE_DAYS} days: re-check every entry and date it"


def test_staleness_and_missing_sources_are_caught() -> None:
    sheet = load_prices()
    assert sheet.stale(sheet.as_of + dt.timedelta(days=MAX_AGE_DAYS + 1))
    assert not sheet.stale(sheet.as_of + dt.timedelta(days=MAX_AGE_DAYS))
    text = "asOf: 2026-12-01\ncurrencyRates: {}\nentries:\n  x: {currency: EUR, monthly: '1', unit: u, " \
           "date: 2026-12-01, basis: recalled}\n"
    with pytest.raises(SpecError, match="entries.x.source: Field required"):
        parse_prices(text)
    with pytest.raises(SpecError, match="entries.x.date"):
        parse_prices(text.replace("date: 2026-12-01, ", "source: 'https://example.com', "))


@pytest.mark.parametrize("exact,total", [
    ({"a": Decimal("1.005"), "b": Decimal("1.005"), "c": Decimal("1.005")}, Decimal("3.02")),
    ({"a": Decimal("0.333333"), "b": Decimal("0.333333"), "c": Decimal("0.333334")}, Decimal("1.00")),
    ({"a": Decimal("43.268"), "b": Decimal(0)}, Decimal("43.27")),
    ({"a": Decimal(0), "b": Decimal(0)}, Decimal("0.00")),
])
def test_largest_remainder_parts_add_up_to_the_total_exactly(exact: dict[str, Decimal], total: Decimal) -> None:
    out = largest_remainder(exact, total)
    assert sum(out.values(), Decimal(0)) == total
    assert all(v == v.quantize(Decimal("0.01")) and v >= 0 for v in out.values())


# --- the fixture matrix ---------------------------------------------------------------------------------------


def test_s01_one_ax41_and_nothing_else() -> None:
    bill = estimate(p := platform(), inventory_from_spec(p))
    assert float(bill.total) == 43.27  # 37.30 x 1.16 = 43.268
    assert float(bill.one_off) == approx(39.00 * 1.16)
    assert parts(bill)["platform"] == approx(2 * CPU + 4.5 * GI)  # 4.82
    assert parts(bill)["idle"] == approx(POOL - 2 * CPU - 4.5 * GI)
    assert_sums(bill)


def test_s02_the_same_in_euros() -> None:
    bill = estimate(p := platform(), inventory_from_spec(p), currency="EUR")
    assert float(bill.total) == 37.30
    assert parts(bill)["platform"] == approx(2 * 37.30 * 0.5 / 12 + 4.5 * 37.30 * 0.4 / 64)  # 4.16
    assert_sums(bill)


def test_s03_one_web_service_shares_by_its_requests() -> None:
    bill = estimate(p := platform(shop({"api": web()})), inventory_from_spec(p))
    env = bill.part("shop/prod")
    assert float(env.amount) == approx(2 * 0.5 * CPU + 2 * 0.25 * GI)  # 1.94
    # default quota: 4 CPU, 8Gi, 20Gi of claims
    assert float(env.quota) == approx(4 * CPU + 8 * GI + 20 * GIB_IN_GB * GB)  # 9.56
    assert env.cpu_m == 1000 and env.memory == 2 * 256 * 2**20
    assert_sums(bill)


def test_s04_volume_claims_pay_for_storage() -> None:
    svc = web(volumes=[{"name": "data", "mountPath": "/data", "size": "10Gi"}], replicas=1)
    bill = estimate(p := platform(shop({"db": svc})), inventory_from_spec(p))
    assert float(bill.part("shop/prod").amount) == approx(0.5 * CPU + 0.25 * GI + 10 * GIB_IN_GB * GB)
    assert_sums(bill)


def test_s05_canary_pays_for_both_tracks() -> None:
    svc = web(cpu="250m", memory="128Mi",
              deploy={"strategy": "canary", "canary": {"image": DIGEST.replace("a" * 64, "b" * 64), "replicas": 1}})
    bill = estimate(p := platform(shop({"api": svc})), inventory_from_spec(p))
    assert float(bill.part("shop/prod").amount) == approx(3 * (0.25 * CPU + 0.125 * GI))  # 1.45
    assert_sums(bill)


def test_s06_two_environments_and_two_projects() -> None:
    tenants = {
        "shop": {"environments": {"prod": {}, "dev": {}}, "services": {"api": web()}},
        "blog": {"services": {"app": web(cpu="1", memory="1Gi", replicas=1)}},
    }
    bill = estimate(p := platform(tenants), inventory_from_spec(p))
    got = parts(bill)
    assert got["shop/prod"] == approx(CPU + 0.5 * GI) and got["shop/dev"] == approx(CPU + 0.5 * GI)
    assert got["blog/prod"] == approx(CPU + GI)
    assert float(bill.projects()["shop"][0]) == approx(2 * (CPU + 0.5 * GI))
    assert_sums(bill)


def test_s07_oversubscribed_requests_are_scaled_to_the_tenants_share() -> None:
    # 4 services x 5 replicas x 1 CPU = 20 CPU requested; the tenants' share is 12 - 2 = 10 CPU
    services = {f"s{i}": web(cpu="1", memory="128Mi", replicas=5) for i in range(4)}
    tenants = {"shop": {"environments": {"dev": {"quota": {"cpu": "24", "cpuLimit": "48", "pods": 100}}},
                        "services": services}}
    bill = estimate(p := platform(tenants), inventory_from_spec(p))
    env = bill.part("shop/dev")
    assert float(env.requested) == approx(20 * CPU + 20 * 0.125 * GI)
    assert float(env.amount) == approx(10 * CPU + 20 * 0.125 * GI)
    assert any("scaled" in w for w in bill.warnings)
    assert_sums(bill)


def test_s08_cloud_server_with_backups_volume_and_address() -> None:
    inv = Inventory(cloud=(CloudServer("w1", "cx33", True),), primary_ipv4=1, volumes_gb=(("w1-data", 50),))
    bill = estimate(platform(), inv, currency="EUR")
    amounts = {line.key: float(line.amount) for line in bill.lines}
    assert amounts == {"hetzner.cloud.cx33": 5.49, "hetzner.cloud.backup": approx(5.49 * 0.2),
                       "hetzner.cloud.primary-ipv4": 0.50, "hetzner.cloud.volume": approx(50 * 0.044)}
    assert float(bill.total) == approx(5.49 + 1.098 + 0.50 + 2.20)  # 9.29
    assert_sums(bill)


def test_s09_r2_storage_beyond_the_free_tier_with_infrequent_access() -> None:
    usage = UsageAssumptions(default={"ingestGbPerDay": "1"})
    inv = Inventory(buckets=(
        Bucket("etcd", "Standard", (LifecycleRule("", 30, None),)),
        Bucket("backups", "Standard", (LifecycleRule("postgres/", 60, 30),)),
    ))
    bill = estimate(platform(), inv, usage=usage)
    amounts = {line.key: float(line.amount) for line in bill.lines}
    # Standard: 30 GB (etcd) + 30 GB (backups before the transition) - 10 GB free = 50 GB x 0.015
    assert amounts["cloudflare.r2.storage"] == approx(50 * 0.015)
    assert amounts["cloudflare.r2.storage-ia"] == approx(30 * 0.01)
    # operations: 2 x 10,000 class A and 2 x 100,000 class B are inside the free tier
    assert amounts["cloudflare.r2.class-a"] == 0 and amounts["cloudflare.r2.class-b"] == 0
    assert parts(bill)["platform"] == approx(0.75 + 0.30)
    assert_sums(bill)


def test_s10_r2_operations_and_a_bucket_without_expiry() -> None:
    usage = UsageAssumptions(default={"ingestGbPerDay": "0.1", "classAPerMonth": "3000000",
                                      "classBPerMonth": "25000000", "retainedDays": 365})
    bill = estimate(platform(), Inventory(buckets=(Bucket("state", "Standard"),)), usage=usage)
    amounts = {line.key: float(line.amount) for line in bill.lines}
    assert amounts["cloudflare.r2.storage"] == approx((36.5 - 10) * 0.015)  # 0.40
    assert amounts["cloudflare.r2.class-a"] == approx(2 * 4.50)
    assert amounts["cloudflare.r2.class-b"] == approx(15 * 0.36)
    assert_sums(bill)


def test_s11_custom_hostnames_beyond_100_are_shared_by_their_environments() -> None:
    hosts = tuple(Hostname(f"h{i}.example.net", "a" if i < 100 else "b", "prod") for i in range(130))
    inv = Inventory(dedicated=("ax41",), hostnames=hosts, workloads=(Workload("a", "prod", "x", "Deployment"),
                                                                     Workload("b", "prod", "y", "Deployment")))
    bill = estimate(platform(), inv)
    assert {line.key: float(line.amount) for line in bill.lines}["cloudflare.saas.hostname"] == approx(30 * 0.10)
    assert parts(bill)["a/prod"] == approx(3.00 * 100 / 130) and parts(bill)["b/prod"] == approx(3.00 * 30 / 130)
    assert_sums(bill)


def test_s12_preview_without_servers_is_priced_at_a_reference_ax41() -> None:
    spec = PlatformSpec.model_validate({"domain": "example.com", "stage": "preview",
                                        "tenants": {"shop": {"environments": {"preview-pr-1": {}},
                                                             "services": {"api": web()}}}})
    bill = estimate(spec, inventory_from_spec(spec))
    env = bill.part("shop/preview-pr-1")
    assert bill.total == 0 and env.amount == 0 and bill.reference_pricing
    assert float(env.requested) == approx(CPU + 0.5 * GI)
    assert_sums(bill)


# --- budget caps ---------------------------------------------------------------------------------------------


def test_platform_budget_refuses_with_amounts_and_contributors() -> None:
    spec = platform(budget={"monthly": "40.00", "currency": "USD"})
    [issue] = check_budgets(spec)
    assert issue.path == "budget"
    assert "43.27 USD/month, over the budget of 40.00 USD" in issue.message
    assert "enclii-hosts-ax41 (hetzner.ax41-nvme) 43.27 USD" in issue.message
    assert check_budgets(platform(budget={"monthly": "44", "currency": "USD"})) == []
    assert check_budgets(platform(budget={"monthly": "37.30", "currency": "EUR"})) == []


def test_project_and_environment_budgets_show_request_and_quota_figures() -> None:
    tenants = {"shop": {"budget": {"monthly": "1.50"}, "environments": {"prod": {"budget": {"monthly": "1.00"}}},
                        "services": {"api": web()}}}
    issues = {i.path: i.message for i in check_budgets(platform(tenants))}
    assert set(issues) == {"tenants.shop.budget", "tenants.shop.environments.prod.budget"}
    assert "estimated at 1.94 USD/month by its requests (its quotas allow up to 9.56 USD)" in issues[
        "tenants.shop.budget"]
    assert "biggest contributors: Deployment api 1.94 USD" in issues["tenants.shop.environments.prod.budget"]


def test_budget_model_rejects_nonsense() -> None:
    with pytest.raises(SpecError, match="monthly"):
        BudgetSpec(monthly=Decimal(-1))
    with pytest.raises(ValidationError, match="currency"):
        BudgetSpec.model_validate({"monthly": "1", "currency": "GBP"})
    with pytest.raises(SpecError, match="must add up to 1"):
        UsageAssumptions(cpu_weight=Decimal("0.9"))


@given(st.lists(st.decimals(min_value=0, max_value=10_000, places=6, allow_nan=False, allow_infinity=False),
                min_size=1, max_size=12),
       st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False, allow_infinity=False))
def test_largest_remainder_property(values: list[Decimal], total: Decimal) -> None:
    exact = {f"p{i:02d}": v for i, v in enumerate(values)}
    out = largest_remainder(exact, total)
    assert set(out) == set(exact)
    assert sum(out.values(), Decimal(0)) == total
    assert all(v >= 0 and v == v.quantize(Decimal("0.01")) for v in out.values())


def test_cost_command_refuses_a_bad_usage_file_before_running_anything(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from enclii_iac.cli import main

    usage = tmp_path / "usage.yaml"
    usage.write_text("default: {ingestGbPerDay: -1}\ncpuWeight: 0.9\n")
    assert main(["cost", str(STACKS / "production"), "--usage", str(usage), "--json", "-q"]) == 1
    data = json.loads(capsys.readouterr().out)
    paths = {i["path"] for i in data["issues"]}
    assert data["error"] == "invalid spec" and "default.ingestGbPerDay" in paths
    assert "declared" not in data

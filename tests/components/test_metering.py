"""OpenCost usage metering: what UsageMetering declares (under the recorder, inside the production stack), its
custom pricing from the sheet, the budget alert rules, real validators (kubernetes-validate, the CRD schemas,
checkov) and refusal of hostile values."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from enclii_iac.cost.metering import RUN_RATE, TYPE_USAGE_METERING, metering_manifests
from enclii_iac.models.cost import MeteringSpec
from enclii_iac.stack import observe_settings
from enclii_iac.synth import SynthResult, manifest_for_output, run_stack
from enclii_iac.testing import reveal
from tests.conftest import STACKS, checkov_failures, kubernetes_validate

DIGEST_SKIP = {
    # the OpenCost image is pinned by release tag: its digest cannot be checked offline here (metering.image
    # takes image@sha256:..., docs/cost.md)
    "CKV_K8S_43": "image pinned by tag; set metering.image to a checked digest",
}


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> tuple[SynthResult, Any]:
    stack = tmp_path_factory.mktemp("metered") / "production"
    shutil.copytree(STACKS / "production", stack)
    shop = stack / "tenants" / "shop.yaml"
    shop.write_text(shop.read_text().replace("spec:\n  environments:\n",
                                             "spec:\n  budget: {monthly: '30.00'}\n  environments:\n", 1)
                    .replace("    prod:\n      quota:", "    prod:\n      budget: {monthly: '20.00', currency: EUR}"
                                                         "\n      quota:", 1))
    cfg = stack / "Pulumi.production.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["config"]["enclii:platform"] = {"metering": {"enabled": True, "ruleLabels": {"release": "prometheus"}}}
    cfg.write_text(yaml.safe_dump(data))
    with observe_settings() as seen:
        result = run_stack(stack)
    return result, seen[-1].spec


def _objects(result: SynthResult) -> list[dict[str, Any]]:
    parent = [r for r in result.records if r.type == TYPE_USAGE_METERING]
    assert len(parent) == 1 and parent[0].name == "enclii-metering"
    children = [r for r in result.records if r.parent_urn == parent[0].urn]
    assert children and all(r.provider_name == "enclii-k3s-provider" or r.provider_name for r in children)
    return [manifest_for_output(dict(reveal(r.inputs))) for r in children]  # numbers as synth writes them


def test_the_platform_declares_metering_only_behind_the_switch(metered: tuple[SynthResult, Any]) -> None:
    result, _ = metered
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in _objects(result))
    assert kinds == [
        ("ClusterRole", "enclii-opencost"), ("ClusterRoleBinding", "enclii-opencost"),
        ("ConfigMap", "enclii-cost-dashboard"), ("ConfigMap", "opencost-custom-pricing"),
        ("Deployment", "opencost"), ("Namespace", "opencost"), ("NetworkPolicy", "opencost"),
        ("PrometheusRule", "enclii-cost"), ("Service", "opencost"), ("ServiceAccount", "opencost"),
        ("ServiceMonitor", "opencost"),
    ]
    plain = run_stack(STACKS / "production")
    assert not [r for r in plain.records if r.type == TYPE_USAGE_METERING]
    metering = next(r for r in result.records if r.type == TYPE_USAGE_METERING)
    platform = next(r for r in result.records if r.type == "enclii:index:EncliiPlatform")
    assert metering.parent_urn == platform.urn
    providers = {r.provider_name for r in result.records if r.parent_urn == metering.urn}
    assert len(providers) == 1 and providers != {""}


def test_custom_pricing_is_the_sheets_ax41_price(metered: tuple[SynthResult, Any]) -> None:
    result, _ = metered
    cm = next(o for o in _objects(result) if o["metadata"]["name"] == "opencost-custom-pricing")
    pricing = json.loads(cm["data"]["default.json"])
    # 43.268 USD x 0.5 / 12 CPUs = 1.80 USD per CPU-month; / 730 h. 43.268 x 0.4 / 64 Gi = 0.27 per Gi-month
    assert pricing["provider"] == "custom"
    assert float(pricing["CPU"]) == pytest.approx(1.80 / 730, rel=1e-3)
    assert float(pricing["RAM"]) == pytest.approx(0.27 / 730, rel=1e-3)
    deployment = next(o for o in _objects(result) if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["CONFIG_PATH"] == "/var/configs/" and env["PROMETHEUS_SERVER_ENDPOINT"].startswith("http://")
    assert pod["automountServiceAccountToken"] is False
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_budget_alerts_and_estimates_per_namespace(metered: tuple[SynthResult, Any]) -> None:
    result, _ = metered
    rule = next(o for o in _objects(result) if o["kind"] == "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    groups = {g["name"]: g["rules"] for g in rule["spec"]["groups"]}
    assert groups["enclii-cost-run-rate"][0]["record"] == RUN_RATE
    estimates = {r["labels"]["namespace"]: r["expr"] for r in groups["enclii-cost-estimate"]}
    assert set(estimates) == {"blog-dev", "blog-prod", "shop-dev", "shop-prod", "shop-stage"}
    alerts = {(r["alert"], r["labels"].get("enclii_environment", "")): r for r in groups["enclii-cost-budgets"]}
    assert set(alerts) == {("EncliiProjectOverBudget", ""), ("EncliiEnvironmentOverBudget", "prod")}
    project = alerts[("EncliiProjectOverBudget", "")]
    assert project["expr"] == f'sum({RUN_RATE}{{namespace=~"^(shop-dev|shop-prod|shop-stage)$"}}) > 30.00'
    env = alerts[("EncliiEnvironmentOverBudget", "prod")]
    assert env["expr"].endswith(" > 23.20")  # 20.00 EUR x 1.16
    assert "20.00 EUR" in env["annotations"]["summary"]


def test_metering_objects_pass_the_validators(metered: tuple[SynthResult, Any], tmp_path: Path) -> None:
    result, _ = metered
    docs = _objects(result)
    assert kubernetes_validate(docs) == []
    (tmp_path / "metering.yaml").write_text(yaml.safe_dump_all(docs))
    failed = checkov_failures(tmp_path, list(DIGEST_SKIP))
    assert [(f["check_id"], f["resource"]) for f in failed] == []
    dashboard = json.loads(next(o for o in docs if o["metadata"]["name"] == "enclii-cost-dashboard")
                           ["data"]["enclii-cost.json"])
    assert [p["targets"][0]["expr"] for p in dashboard["panels"]][0] == RUN_RATE


@pytest.mark.parametrize("field,value", [
    ("prometheusUrl", "http://prom\"; rm -rf /"),
    ("ruleLabels", {"bad key!": "x"}),
    ("image", "ghcr.io/opencost/opencost:1.113.0 --privileged"),
    ("alertFor", "1h; drop"),
])
def test_hostile_values_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        MeteringSpec.model_validate({"enabled": True, field: value})


def test_the_metered_stack_passes_every_policy_rule(metered: tuple[SynthResult, Any]) -> None:
    from enclii_iac.policy.run import check_records

    result, _ = metered
    assert check_records(result.records) == []


def test_manifests_are_pure_and_deterministic(metered: tuple[SynthResult, Any]) -> None:
    _, spec = metered
    a = metering_manifests(spec, spec.metering)
    b = metering_manifests(spec, spec.metering)
    assert a == b and json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)

"""The services spec: operator checks at validation, the resource budget, and the docs' budget table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from enclii_iac.errors import SpecError
from enclii_iac.models._base import cpu_millis, memory_bytes
from enclii_iac.models.loader import load_platform
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.models.services import ServicesSpec, budget_totals, service_requests
from enclii_iac.services import context, plans
from tests.conftest import DIGEST, STACKS

ROOT = Path(__file__).resolve().parents[2]
IMG = "ghcr.io/acme/api" + DIGEST
AX41_CPU, AX41_MEMORY = cpu_millis("12"), memory_bytes("64Gi")

CLUSTER = {
    "hosts": {"dedicated": {"ax41": {
        "address": "203.0.113.10",
        "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderHostKeyReplaceWithKeyscanOutput",
        "adminSshKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderDeployKeyReplaceWithYourPublicKey d@x"],
        "sshAllowCidrs": ["198.51.100.7/32"], "kubeApiAllowCidrs": ["198.51.100.7/32"],
    }}},
    "cluster": {"servers": ["ax41"]},
}
FEATURES: dict[str, Any] = {
    "image": IMG, "routes": [{"host": "api.shop.example.com"}], "replicas": {"min": 2, "max": 4},
    "metrics": {}, "slo": {"availability": 99.9},
    "autoscale": {"keda": [{"type": "cron", "metadata": {"timezone": "UTC", "start": "0 8 * * *",
                                                         "end": "0 20 * * *", "desiredReplicas": "3"}}]},
    "deploy": {"strategy": "canary", "canary": {"image": IMG}},
}


def platform(managed: bool = True, **over: Any) -> PlatformSpec:
    data: dict[str, Any] = {"domain": "example.com", "tenants": {"shop": {"services": {"api": FEATURES}}}, **over}
    if managed:
        data = {**CLUSTER, **data}
    return PlatformSpec.model_validate(data)


def errors(excinfo: pytest.ExceptionInfo[Exception]) -> str:
    return str(excinfo.value)


def test_an_existing_cluster_without_the_operators_refuses_each_feature_at_its_path() -> None:
    with pytest.raises(ValueError) as exc:
        platform(managed=False)
    text = errors(exc)
    for path, op in (("tenants.shop.services.api.metrics", "prometheus-operator"),
                     ("tenants.shop.services.api.slo", "prometheus-operator"),
                     ("tenants.shop.services.api.autoscale.keda", "keda"),
                     ("tenants.shop.services.api.deploy.canary", "traefik")):
        assert path in text and op in text, (path, text)
    assert "services.existingOperators lists none" in text


def test_an_existing_cluster_that_lists_its_operators_is_accepted() -> None:
    spec = platform(managed=False, services={"existingOperators": ["prometheus-operator", "keda", "traefik"]})
    assert spec.services.existing_operators == ["prometheus-operator", "keda", "traefik"]


def test_one_missing_operator_is_named_alone() -> None:
    with pytest.raises(ValueError) as exc:
        platform(managed=False, services={"existingOperators": ["prometheus-operator", "traefik"]})
    text = errors(exc)
    assert "autoscale.keda needs keda" in text
    assert "metrics needs" not in text and "canary needs" not in text


def test_a_managed_cluster_with_a_section_disabled_refuses_its_features() -> None:
    with pytest.raises(ValueError) as exc:
        platform(services={"keda": {"enabled": False}})
    assert "tenants.shop.services.api.autoscale.keda" in errors(exc)
    assert "enable services.keda.enabled" in errors(exc)
    with pytest.raises(ValueError) as exc:
        platform(cluster={"servers": ["ax41"], "disable": ["traefik"]})
    assert "deploy.canary needs traefik" in errors(exc)


def test_the_yaml_loader_reports_the_document_and_path(tmp_path: Path) -> None:
    doc = {"apiVersion": "enclii.dev/v1", "kind": "Platform",
           "spec": {"domain": "example.com", "tenants": {"shop": {"services": {"api": {**FEATURES, "slo": None,
                                                                                         "deploy": {}}}}}}}
    f = tmp_path / "platform.yaml"
    f.write_text(yaml.safe_dump(doc))
    with pytest.raises(SpecError) as exc:
        load_platform(f)
    assert "tenants.shop.services.api.metrics" in str(exc.value)


def test_the_stacks_validate_in_every_mode() -> None:
    prod = load_platform(STACKS / "production" / "platform.yaml")
    assert prod.cluster is not None
    data = yaml.safe_load((STACKS / "production" / "platform.yaml").read_text())
    assert data["spec"]["services"]["existingOperators"] == ["prometheus-operator", "keda", "traefik"]


def test_the_platforms_own_requests_fit_a_quarter_of_the_ax41() -> None:
    cpu, memory = budget_totals(ServicesSpec())
    assert cpu <= AX41_CPU / 4, f"{cpu}m > a quarter of 12 CPU"
    assert memory <= AX41_MEMORY / 4, f"{memory / 2**30:.1f}Gi > a quarter of 64Gi"


def _requests(node: Any) -> list[tuple[str, str]]:
    """Every ``resources.requests`` (cpu, memory) in a values tree."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        req = node.get("requests")
        if isinstance(req, dict) and set(req) == {"cpu", "memory"}:
            found.append((req["cpu"], req["memory"]))
        for v in node.values():
            found += _requests(v)
    elif isinstance(node, list):
        for v in node:
            found += _requests(v)
    return found


def test_the_budget_sums_what_the_charts_are_given() -> None:
    """The budget is computed from the spec; the charts' values carry the same requests (summed here from the
    rendered HelmChart and HelmChartConfig objects, so the two cannot drift apart)."""
    spec = platform()
    cpu = memory = 0
    for plan in plans(context(spec)):
        for obj in plan.objects:
            if obj.manifest["kind"] in ("HelmChart", "HelmChartConfig"):
                for c, m in _requests(yaml.safe_load(obj.manifest["spec"]["valuesContent"])):
                    cpu += cpu_millis(c)
                    memory += memory_bytes(m)
    assert (cpu, memory) == budget_totals(spec.services)


def test_above_the_budget_is_refused_at_its_field() -> None:
    big = {"cpu": "3", "memory": "15Gi", "cpuLimit": "4", "memoryLimit": "16Gi"}
    with pytest.raises(ValueError) as exc:
        platform(services={"monitoring": {"prometheus": big}})
    text = errors(exc)
    assert "services.budget.cpuFraction" in text and "services.budget.memoryFraction" in text
    assert "above 0.25 of 12" in text
    # raising the fraction is the deliberate way out
    spec = platform(services={"monitoring": {"prometheus": big}, "budget": {"cpuFraction": 0.5,
                                                                             "memoryFraction": 0.5}})
    assert spec.services.budget.cpu_fraction == 0.5


def test_sizes_reject_limits_below_requests() -> None:
    with pytest.raises(ValueError, match="memoryLimit 64Mi is below the request 128Mi"):
        ServicesSpec.model_validate({"grafana": {"size": {"cpu": "50m", "memory": "128Mi", "cpuLimit": "1",
                                                          "memoryLimit": "64Mi"}}})


def test_namespaces_must_differ_and_stay_out_of_kube_system() -> None:
    with pytest.raises(ValueError, match="must differ"):
        ServicesSpec.model_validate({"kedaNamespace": "monitoring"})
    with pytest.raises(ValueError, match="kube-system"):
        ServicesSpec.model_validate({"namespace": "kube-system"})


def test_docs_platform_md_lists_the_budget_exactly() -> None:
    text = (ROOT / "docs" / "platform.md").read_text()
    section = text.split("## Resource budget", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (.+?) \| (\d+) \| (\S+) \| (\S+) \|$", section, re.M)
    expected = [(name, str(n), size.cpu, size.memory) for name, n, size in service_requests(ServicesSpec())]
    assert rows == expected
    cpu, memory = budget_totals(ServicesSpec())
    assert f"**{cpu}m** CPU" in section and f"**{memory // 2**20}Mi** memory" in section


def test_metering_without_the_prometheus_operator_is_refused_at_its_field() -> None:
    from enclii_iac.errors import SpecError
    from enclii_iac.models.loader import build_platform

    data = {"domain": "example.com", "stage": "production", "metering": {"enabled": True}}
    with pytest.raises(SpecError) as exc:
        build_platform(data)
    assert "metering.enabled" in str(exc.value) and "prometheus-operator" in str(exc.value)
    data["services"] = {"existingOperators": ["prometheus-operator"]}
    assert build_platform(data).metering.enabled

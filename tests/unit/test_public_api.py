"""The public API is locked (httpx style): adding or removing a name is a deliberate change."""

from __future__ import annotations

import subprocess
import sys

import enclii_iac

EXPECTED = [
    "ApiAccessSpec",
    "Autoscale",
    "BlueGreenStrategy",
    "BudgetSpec",
    "CanaryStrategy",
    "CloudServerSpec",
    "CorsRuleSpec",
    "CustomDomainsSpec",
    "DedicatedHostSpec",
    "Deploy",
    "EdgeSpec",
    "EncliiIacError",
    "EncliiPlatform",
    "EnvironmentSpec",
    "EtcdSnapshotSpec",
    "Health",
    "HostsSpec",
    "IngressSpec",
    "K3sClusterSpec",
    "K3sHardeningSpec",
    "KedaTrigger",
    "LifecycleRuleSpec",
    "LockRuleSpec",
    "Member",
    "MeteringSpec",
    "Metrics",
    "PlatformHostSpec",
    "PlatformProviders",
    "PlatformSpec",
    "PolicySpec",
    "PortRule",
    "PrivateNetworkSpec",
    "ProjectSpec",
    "Quota",
    "R2BucketSpec",
    "R2Spec",
    "R2TokenSpec",
    "Replicas",
    "Resources",
    "Route",
    "ServiceOverride",
    "ServiceSpec",
    "ServiceType",
    "Slo",
    "SpecError",
    "TenantEnvironment",
    "TenantProject",
    "TenantService",
    "TunnelSpec",
    "UpgradePlanSpec",
    "UsageMetering",
    "Volume",
    "VolumeSpec",
    "ZoneSettingsSpec",
    "build_preview",
    "build_production",
    "load_platform",
    "load_tenants",
]


def test_all_is_exact_sorted_and_importable() -> None:
    assert enclii_iac.__all__ == EXPECTED == sorted(EXPECTED)
    for name in EXPECTED:
        assert getattr(enclii_iac, name) is not None
    assert set(EXPECTED) <= set(dir(enclii_iac))


def test_spec_layer_and_validate_never_import_pulumi() -> None:
    code = (
        "import sys; import enclii_iac.models.platform, enclii_iac.models.loader, enclii_iac.render.kube; "
        "from enclii_iac import PlatformSpec, ServiceSpec; "
        "from enclii_iac.cli import main; main(['validate', 'stacks/production/tenants/shop.yaml']); "
        "assert not any(m == 'pulumi' or m.startswith('pulumi.') for m in sys.modules), 'pulumi imported'"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=str(__import__("tests.conftest").conftest.ROOT),
    )
    assert proc.returncode == 0, proc.stderr


def test_reference_docs_are_generated_from_the_models() -> None:
    from enclii_iac.reference import markdown
    from tests.conftest import ROOT

    assert (ROOT / "docs" / "reference.md").read_text() == markdown(), (
        "docs/reference.md is stale: run `.venv/bin/python -m enclii_iac.reference > docs/reference.md`")

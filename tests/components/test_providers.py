"""Which providers an EncliiPlatform declares (only those its resources use), and that every hcloud,
Cloudflare, command, random and tls resource is declared with an explicit provider, never the default."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_command
import pulumi_hcloud as hcloud
import pulumi_kubernetes as k8s
import pulumi_random
import pulumi_tls
import pytest

from enclii_iac.models.platform import PlatformSpec
from enclii_iac.models.tenant import ProjectSpec
from enclii_iac.platform import EncliiPlatform, PlatformProviders, used_providers
from enclii_iac.synth import run_stack
from enclii_iac.testing import Recorder, ResourceRecord
from tests.conftest import DIGEST, STACKS
from tests.unit.host_fixtures import HOST_PRIVATE, ha_cluster, ha_hosts

PACKAGES = ("random", "command", "tls", "hcloud", "cloudflare")
"""Provider packages the platform must only declare when one of its resources uses them."""
PROVIDER_TYPES = {f"pulumi:providers:{p}" for p in PACKAGES}


def kubernetes_only_spec() -> PlatformSpec:
    shop = ProjectSpec.model_validate(
        {
            "environments": {"prod": {}},
            "services": {"api": {"image": "ghcr.io/acme/api" + DIGEST, "routes": [{"host": "api.example.com"}]}},
        }
    )
    return PlatformSpec(domain="example.com", tenants={"shop": shop})


def cloud_spec() -> PlatformSpec:
    return PlatformSpec(domain="example.com", hosts=ha_hosts(kube_api_allow=("198.51.100.7/32",)), cluster=ha_cluster())


def provider_types(rec: Recorder) -> set[str]:
    return {r.type for r in rec if r.type.startswith("pulumi:providers:")}


def package_of(record: ResourceRecord) -> str:
    return record.type.split(":", 1)[0]


def explicit_provider(rec: Recorder, record: ResourceRecord) -> ResourceRecord:
    """The provider ``record`` is declared with; fails when it would use the package's default provider."""
    assert record.provider_name, f"{record.type} {record.name} uses the default provider"
    provider = rec.by_urn(record.provider_urn)
    assert provider is not None, f"{record.type} {record.name}: provider {record.provider} was never declared"
    assert provider.type == f"pulumi:providers:{package_of(record)}", (record.name, provider.type)
    return provider


def provider_backed(rec: Recorder) -> list[ResourceRecord]:
    """Every custom resource of the packages in PACKAGES (the providers themselves excluded)."""
    return [r for r in rec if r.custom and package_of(r) in PACKAGES]


def test_kubernetes_only_platform_declares_no_random_command_tls_hcloud_or_cloudflare_provider() -> None:
    spec = kubernetes_only_spec()
    assert spec.hosts is None and spec.cluster is None and spec.edge is None
    assert used_providers(spec) == frozenset()
    platforms: list[EncliiPlatform] = []

    def program() -> None:
        kube = k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("apiVersion: v1"))
        platforms.append(EncliiPlatform("enclii", spec, providers=PlatformProviders(kubernetes=kube)))

    rec = Recorder().run(program)
    assert provider_types(rec) & PROVIDER_TYPES == set()
    assert provider_types(rec) == {"pulumi:providers:kubernetes"}
    assert provider_backed(rec) == []
    (platform,) = platforms
    assert platform.random_provider is None and platform.command_provider is None and platform.tls_provider is None
    top = rec.one("enclii:index:EncliiPlatform", "enclii")
    assert top.providers == {}  # nothing is handed down to the children but the tenants' own provider
    kube = [r for r in rec if r.custom and r.type.startswith("kubernetes:")]
    assert kube and {r.provider_name for r in kube} == {"k8s"}


def test_kubernetes_only_preview_stack_declares_only_the_kubernetes_provider() -> None:
    rec = run_stack(STACKS / "preview", "pr-42").recorder
    assert provider_types(rec) == {"pulumi:providers:kubernetes"}
    assert provider_backed(rec) == []


def test_production_stack_declares_random_and_command_and_uses_explicit_providers_only() -> None:
    rec = run_stack(STACKS / "production").recorder
    # no cloud servers in the example: no hcloud provider and no tls one (host keys are pinned in the spec)
    assert provider_types(rec) == {
        "pulumi:providers:random",
        "pulumi:providers:command",
        "pulumi:providers:cloudflare",
        "pulumi:providers:kubernetes",
    }
    for package in ("random", "command"):  # declared by the platform, at the top of the tree as before
        assert rec.parent_of(rec.one(f"pulumi:providers:{package}", f"enclii-{package}")) is None
    resources = provider_backed(rec)
    used = {package_of(r) for r in resources}
    assert used == {"random", "command", "cloudflare"}
    for record in resources:
        provider = explicit_provider(rec, record)
        assert provider.name == f"enclii-{package_of(record)}", record.name
    assert {r.name for r in resources if package_of(r) == "random"} == {
        "enclii-tunnel-secret",
        "enclii-k3s-token",
        "enclii-k3s-agent-token",
    }


def cloud_program(providers: dict[str, Any]) -> Recorder:
    def program() -> None:
        built = {k: v() for k, v in providers.items()}
        EncliiPlatform(
            "enclii",
            cloud_spec(),
            providers=PlatformProviders(hcloud=hcloud.Provider("hcloud", token="t"), **built),
            ssh_private_key=pulumi.Output.secret(HOST_PRIVATE),
        )

    return Recorder().run(program)


def test_cloud_servers_get_the_platform_tls_provider_not_the_default() -> None:
    assert used_providers(cloud_spec()) == {"random", "command", "tls", "hcloud"}
    rec = cloud_program({})
    assert provider_types(rec) == {
        "pulumi:providers:random",
        "pulumi:providers:command",
        "pulumi:providers:tls",
        "pulumi:providers:hcloud",
        "pulumi:providers:kubernetes",
    }
    keys = rec.of_type("tls:index/privateKey:PrivateKey")
    assert len(keys) == 4  # one SSH host key per cloud server
    names = {explicit_provider(rec, r).name for r in keys}
    assert names == {"enclii-tls"}
    for record in provider_backed(rec):
        explicit_provider(rec, record)
    assert {explicit_provider(rec, r).name for r in rec if r.type.startswith("hcloud:index/")} == {"hcloud"}


@pytest.mark.parametrize("package", ["random", "command", "tls"])
def test_caller_supplied_providers_replace_the_platform_ones(package: str) -> None:
    factories = {
        "random": lambda: pulumi_random.Provider("own-random"),
        "command": lambda: pulumi_command.Provider("own-command"),
        "tls": lambda: pulumi_tls.Provider("own-tls"),
    }
    rec = cloud_program({package: factories[package]})
    assert [r.name for r in rec.of_type(f"pulumi:providers:{package}")] == [f"own-{package}"]
    of_package = [r for r in provider_backed(rec) if package_of(r) == package]
    assert of_package and {explicit_provider(rec, r).name for r in of_package} == {f"own-{package}"}

"""The cross-language component package (components/): its schema as the provider host infers it, the
YAML consumer in Pulumi.yaml, and the wrappers declaring exactly what the Python API declares."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.provider.experimental.component import ComponentProvider

from enclii_iac.errors import SpecError
from enclii_iac.testing import Recorder, assert_golden
from tests.conftest import GOLDEN, ROOT, STACKS


@pytest.fixture(scope="module")
def package() -> ModuleType:
    path = ROOT / "components" / "enclii_components.py"
    spec = importlib.util.spec_from_file_location("enclii_components", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["enclii_components"] = module
    spec.loader.exec_module(module)
    return module


def schema(package: ModuleType) -> dict[str, Any]:
    provider = ComponentProvider([package.EncliiPlatform, package.TenantProject], "enclii", None, "0.1.0")
    return dict(json.loads(provider.schema or "{}"))


def test_schema_golden_and_tokens(package: ModuleType) -> None:
    data = schema(package)
    assert sorted(data["resources"]) == ["enclii:index:EncliiPlatform", "enclii:index:TenantProject"]
    tp = data["resources"]["enclii:index:TenantProject"]
    assert tp["isComponent"] is True
    assert sorted(tp["requiredInputs"]) == ["encliiYaml", "kubeconfig", "project"]
    assert set(tp["inputProperties"]) == {"project", "encliiYaml", "kubeconfig", "protect", "secrets"}
    assert "namespaces" in tp["properties"]
    assert tp["inputProperties"]["encliiYaml"]["description"].startswith("enclii.yaml text")
    assert_golden(GOLDEN / "components" / "schema.json", json.dumps(data, indent=2, sort_keys=True) + "\n")


def test_yaml_consumer_matches_the_schema(package: ModuleType) -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["runtime"] == "yaml" and project["packages"] == {"enclii": "./components"}
    plugin = yaml.safe_load((ROOT / "components" / "PulumiPlugin.yaml").read_text())
    assert plugin["runtime"]["name"] == "python"
    data = schema(package)
    for res in project["resources"].values():
        declared = data["resources"][res["type"]]
        assert set(res["properties"]) <= set(declared["inputProperties"])
        assert set(declared["requiredInputs"]) <= set(res["properties"])
    assert all(project["config"][k]["secret"] for k in ("kubeconfig", "databaseUrl"))


def run(program: Callable[[], Any]) -> Recorder:
    return Recorder().run(program)


def test_wrapper_declares_what_the_python_api_declares(package: ModuleType) -> None:
    text = (STACKS / "production" / "tenants" / "shop.yaml").read_text()
    secrets = {s: {"DATABASE_URL": "postgres://x"} for s in ("api", "worker", "migrate")}
    rec = run(
        lambda: package.TenantProject(
            "shop", {"project": "shop", "enclii_yaml": text, "kubeconfig": "kc", "secrets": secrets}
        )
    )
    top = rec.one("enclii:index:TenantProject", "shop")
    assert rec.parent_of(top) is None and "pulumi:pulumi:Stack" in top.parent_urn
    assert len(rec.children_of(top)) == 3  # one TenantEnvironment per environment of shop
    provider = rec.one("pulumi:providers:kubernetes", "shop-k8s")
    assert provider.secret_inputs == ["kubeconfig"]
    from enclii_iac.kube import TenantProject
    from enclii_iac.models.loader import load_documents

    spec = load_documents([("shop.yaml", text)]).tenants()["shop"]
    direct = run(
        lambda: TenantProject(
            "shop",
            spec,
            provider=__import__("pulumi_kubernetes").Provider("shop-k8s", kubeconfig=pulumi.Output.secret("kc")),
            secret_values=secrets,
        )
    )
    assert rec.tree() == direct.tree()


def test_wrapper_rejects_bad_yaml_before_declaring(package: ModuleType) -> None:
    rec = Recorder()
    with pytest.raises(SpecError, match="no project 'blog'"):
        rec.run(
            lambda: package.TenantProject(
                "x",
                {
                    "project": "blog",
                    "enclii_yaml": (STACKS / "production" / "tenants" / "shop.yaml").read_text(),
                    "kubeconfig": "kc",
                },
            )
        )
    assert rec.records == []


def test_platform_wrapper_declares_the_whole_platform(package: ModuleType) -> None:
    text = (STACKS / "production" / "platform.yaml").read_text()
    args = {"platform_yaml": text, "ssh_private_key": "key", "cloudflare_api_token": "cf"}
    rec = run(lambda: package.EncliiPlatform("enclii", args))
    top = rec.one("enclii:index:EncliiPlatform", "enclii")
    assert {r.type for r in rec.children_of(top)} == {
        "enclii:index:Hosts",
        "enclii:index:ClusterApiAccess",
        "enclii:index:K3sCluster",
        "enclii:index:R2Storage",
        "enclii:index:CloudflareTunnel",
        "enclii:index:DnsRecords",
        "enclii:index:EdgeCertificates",
        "enclii:index:PlatformServices",
        "enclii:index:TenantAdmission",
    }
    assert rec.one("pulumi:providers:cloudflare", "enclii-cloudflare").secret_inputs == ["apiToken"]
    assert rec.count("pulumi:providers:kubernetes") == 1  # the cluster's own, no second one
    rec2 = Recorder()
    with pytest.raises(SpecError, match="cloudflare_api_token: required by the platform spec"):
        rec2.run(lambda: package.EncliiPlatform("enclii", {"platform_yaml": text, "ssh_private_key": "key"}))
    assert rec2.records == []

"""The Python API as a Pulumi user meets it: errors like YAML's, checks before anything is declared, providers
through opts.providers, spec parts importable from enclii_iac, and help() that documents each component."""

from __future__ import annotations

import pydoc
from typing import Any

import pulumi
import pytest

import enclii_iac
from enclii_iac import EncliiPlatform, ProjectSpec, Replicas, Resources, Route, ServiceSpec, SpecError
from enclii_iac.errors import EncliiIacError
from enclii_iac.secret_values import check_secret_values, check_tenant_secrets
from enclii_iac.testing import Recorder
from tests.conftest import DIGEST

IMAGE = "ghcr.io/acme/api" + DIGEST
HERE = "tests/unit/test_python_api.py"


def line_of(marker: str) -> int:
    """The line of this file that holds ``marker`` (so the expected line numbers follow edits)."""
    with open(__file__, encoding="utf-8") as fh:
        for number, text in enumerate(fh, start=1):
            if marker in text and "line_of(" not in text:
                return number
    raise AssertionError(marker)


# --- errors name the caller's file and line and the field path ---------------------------------------------


def test_a_model_built_in_python_reports_file_line_model_and_path() -> None:
    with pytest.raises(SpecError) as err:
        ServiceSpec(image=IMAGE, replicas={"min": 3, "max": 1}, colour="blue")  # marker: bad-service
    issues = [str(i) for i in err.value.issues]
    where = f"{HERE}:{line_of('marker: bad-service')} ServiceSpec"
    assert issues == [
        f"{where}: replicas: min must be <= max (got 3 > 1)",
        f"{where}: colour: unknown field (check the spelling; `enclii-iac schema` lists the fields)",
    ]
    assert isinstance(err.value, ValueError) and isinstance(err.value, EncliiIacError)


def test_nested_models_report_their_own_call_and_python_field_names() -> None:
    with pytest.raises(SpecError) as err:
        Replicas(min=5, max=2)  # marker: bad-replicas
    assert str(err.value) == f"{HERE}:{line_of('marker: bad-replicas')} Replicas: min must be <= max (got 5 > 2)"
    with pytest.raises(SpecError) as err:
        ServiceSpec(image=IMAGE, deploy={"strategy": "blue-green", "blue_green": {"blue_image": IMAGE}})
    assert [i.path for i in err.value.issues] == ["deploy.blue_green.green_image"]
    with pytest.raises(SpecError, match=r"Resources: memory must be <= memoryLimit"):
        Resources(memory="2Gi", memory_limit="1Gi")


def test_no_pydantic_traceback_text_reaches_the_message() -> None:
    with pytest.raises(SpecError) as err:
        ServiceSpec(image="Not An Image!", port="http")
    text = str(err.value)
    assert "errors.pydantic.dev" not in text and "validation error for" not in text
    assert "port: Input should be a valid integer" in text and "image: 'Not An Image!' is not an OCI image" in text


def test_yaml_errors_keep_the_document_path() -> None:
    from enclii_iac.models.loader import load_documents

    doc = ("apiVersion: enclii.dev/v1\nkind: Service\nmetadata: {name: api, project: shop}\n"
           "spec: {image: x, replicas: {min: 3, max: 1}}\n")
    with pytest.raises(SpecError) as err:
        load_documents([("enclii.yaml", doc)])
    assert [str(i) for i in err.value.issues] == [
        "enclii.yaml#1 shop/api: spec.replicas: min must be <= max (got 3 > 1)"]


# --- secret values: every check before the first resource ---------------------------------------------------


def shop() -> ProjectSpec:
    return ProjectSpec(services={
        "api": ServiceSpec(image=IMAGE, secrets=["DATABASE_URL", "API_KEY"], routes=[Route(host="api.example.com")]),
        "worker": ServiceSpec(type="worker", image=IMAGE, secrets=["DATABASE_URL"]),
    })


def test_secret_values_are_checked_all_at_once_without_showing_values() -> None:
    issues = check_secret_values("shop", shop(), {
        "api": {"DATABASE_URL": "postgres://u:hunter2@db", "API_KEYS": "s3cret-value"},
        "wroker": {"DATABASE_URL": "x"},
    })
    assert [(i.path, i.message.split(";")[0]) for i in issues] == [
        ("secret_values.wroker", "no service 'wroker' in project 'shop'"),
        ("secret_values.api", "no value for API_KEY (declared in spec.secrets of shop/api)"),
        ("secret_values.api.API_KEYS", "not a secret the service declares in spec.secrets"),
        ("secret_values.worker", "no value for DATABASE_URL (declared in spec.secrets of shop/worker)"),
    ]
    assert "did you mean 'worker'?" in issues[0].message and "did you mean 'API_KEY'?" in issues[2].message
    assert not any("hunter2" in str(i) or "s3cret" in str(i) for i in issues)
    shape = check_secret_values("shop", shop(), {"api": ["DATABASE_URL"], "worker": {"DATABASE_URL": 42}})
    assert [(i.path, i.message) for i in shape] == [
        ("secret_values.api", "must be a mapping {NAME: value} (got list)"),
        ("secret_values.worker.DATABASE_URL", "must be a string or a pulumi.Output (got int; the value is not shown)"),
    ]


def test_tenant_secrets_problems_stop_the_platform_before_anything_is_declared() -> None:
    from enclii_iac.platform import PlatformProviders

    spec = enclii_iac.PlatformSpec(domain="example.com", stage="preview", tenants={"shop": shop()})
    rec = Recorder()
    with pytest.raises(SpecError) as err:
        rec.run(lambda: EncliiPlatform("enclii", spec, providers=PlatformProviders(kubernetes=_k8s()),
                                       tenant_secrets={"shop": {"api": {"DATABASE_URL": "x"}}, "shpo": {}}))
    paths = [i.path for i in err.value.issues]
    assert paths == ["tenant_secrets.shpo", "tenant_secrets.shop.api", "tenant_secrets.shop.worker"]
    assert [r.type for r in rec.records] == ["pulumi:providers:kubernetes"]  # only the caller's own provider


def test_complete_tenant_secrets_pass() -> None:
    values = {"shop": {"api": {"DATABASE_URL": pulumi.Output.secret("x"), "API_KEY": "y"},
                       "worker": {"DATABASE_URL": "x"}}}
    assert check_tenant_secrets({"shop": shop()}, values) == []


# --- providers through opts.providers ----------------------------------------------------------------------


def _k8s() -> Any:
    import pulumi_kubernetes as k8s

    return k8s.Provider("mine", kubeconfig="apiVersion: v1\nkind: Config\n")


def test_platform_takes_its_providers_from_opts_providers() -> None:
    from enclii_iac.cloudflare import cf

    spec = enclii_iac.PlatformSpec.model_validate({
        "domain": "example.com", "stage": "preview",
        "edge": {"accountId": "0" * 32, "zoneId": "f" * 32, "r2": None, "customDomains": {"enabled": False},
                 "previewWildcard": False},  # no preview URLs (their wildcard needs a certificate pack)
        "tenants": {"shop": {"services": {"api": {"image": IMAGE, "routes": [{"host": "api.example.com"}]}}}},
    })

    def program() -> None:
        kube = _k8s()
        cloudflare = cf.Provider("my-cloudflare", api_token="t")
        EncliiPlatform("enclii", spec, pulumi.ResourceOptions(providers=[kube, cloudflare]))

    rec = Recorder().run(program)
    tunnel = rec.one("cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared", "enclii-tunnel-tunnel")
    assert tunnel.provider_name == "my-cloudflare"
    ns = rec.one("kubernetes:core/v1:Namespace", "enclii-shop-prod-ns")
    assert ns.provider_name == "mine"
    assert rec.count("pulumi:providers:cloudflare") == 1 and rec.count("pulumi:providers:kubernetes") == 1


def test_components_take_providers_from_opts_or_say_both_ways() -> None:
    from enclii_iac import EdgeSpec, R2BucketSpec, R2Spec
    from enclii_iac.cloudflare import R2Storage, cf

    edge = EdgeSpec(account_id="0" * 32, zone_id="f" * 32, r2=R2Spec(buckets={"b": R2BucketSpec(name="my-bucket")}))
    rec = Recorder().run(lambda: R2Storage("r2", edge, pulumi.ResourceOptions(providers={"cloudflare": cf.Provider(
        "cf", api_token="t")})))
    assert rec.one("cloudflare:index/r2Bucket:R2Bucket", "r2-b").provider_name == "cf"
    empty = Recorder()
    with pytest.raises(SpecError) as err:
        empty.run(lambda: R2Storage("r2", edge))
    assert str(err.value) == ("R2Storage: provider: no Cloudflare provider: pass provider=<cloudflare provider> or "
                              "opts=pulumi.ResourceOptions(providers=[<cloudflare provider>])")
    assert empty.records == []


# --- the public names -----------------------------------------------------------------------------------


def test_spec_parts_are_importable_from_the_package() -> None:
    for name in ("Route", "Replicas", "Autoscale", "Resources", "Health", "Volume", "Deploy", "CanaryStrategy",
                 "BlueGreenStrategy", "Slo", "Metrics", "KedaTrigger", "Quota", "ServiceOverride", "EdgeSpec",
                 "HostsSpec", "DedicatedHostSpec", "K3sClusterSpec", "ApiAccessSpec"):
        cls = getattr(enclii_iac, name)
        assert cls.__module__.startswith("enclii_iac.models."), name
    assert enclii_iac.Route(host="a.example.com").path == "/"


@pytest.mark.parametrize("component", [
    "enclii_iac.platform:EncliiPlatform", "enclii_iac.cloudflare:CloudflareTunnel",
    "enclii_iac.cloudflare:DnsRecords", "enclii_iac.cloudflare:R2Storage", "enclii_iac.cloudflare:CustomDomains",
    "enclii_iac.cloudflare.api_access:ClusterApiAccess", "enclii_iac.hetzner:Hosts",
    "enclii_iac.hetzner:DedicatedHost", "enclii_iac.hetzner:CloudServer", "enclii_iac.k3s:K3sCluster",
])
def test_help_of_a_component_documents_its_own_arguments(component: str) -> None:
    import importlib

    module, name = component.split(":")
    cls = getattr(importlib.import_module(module), name)
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    init = cls.__init__.__doc__ or ""
    assert ":param args:" in init and ":param opts:" in init, f"{name}.__init__ has no docstring of its own"
    assert "The type of this resource" not in text, f"help({name}) shows ComponentResource's parameters"
    assert cls.__doc__.splitlines()[0] in text

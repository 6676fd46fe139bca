"""Renaming a service or a project: Kubernetes identities stay, Pulumi URNs move by alias."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pydantic import ValidationError

from enclii_iac.kube import TenantProject
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.models.tenant import ProjectSpec
from enclii_iac.testing import Recorder
from tests.conftest import DIGEST

IMG = "ghcr.io/acme/api" + DIGEST
Record = Callable[..., Recorder]


def run(record: Record, name: str, spec: ProjectSpec) -> Recorder:
    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("apiVersion: v1"))
        TenantProject(name, spec, provider=provider)

    return record(program)


def k8s_objects(rec: Recorder) -> dict[tuple[str, str, str], Any]:
    """(kind, namespace, name) -> inputs of every Kubernetes object declared."""
    out = {}
    for r in rec:
        if r.type.startswith("kubernetes:") and "metadata" in r.inputs and "apiVersion" in r.inputs:
            md = r.plain_inputs["metadata"]
            out[(r.inputs["kind"], md.get("namespace", ""), md["name"])] = r.plain_inputs
    return out


def test_a_renamed_service_keeps_its_kubernetes_objects_and_aliases_its_component(record: Record) -> None:
    before = ProjectSpec.model_validate({
        "environments": {"prod": {"isolateServices": True}},
        "services": {"api": {"image": IMG, "routes": [{"host": "api.example.com"}]},
                     "web": {"image": IMG, "dependsOn": ["api"]}},
    })
    after = ProjectSpec.model_validate({
        "environments": {"prod": {"isolateServices": True}},
        "services": {"backend": {"image": IMG, "routes": [{"host": "api.example.com"}], "renamedFrom": ["api"]},
                     "web": {"image": IMG, "dependsOn": ["backend"]}},
    })
    old, new = run(record, "shop", before), run(record, "shop", after)
    assert k8s_objects(old) == k8s_objects(new)  # same names, labels, selectors: nothing to replace
    svc = new.one("enclii:index:TenantService", "shop-prod-backend")
    assert svc.aliases == ["shop-prod-api"]
    # children are named after the component, so they inherit its alias; policies keyed by identity keep names
    assert new.one("kubernetes:apps/v1:Deployment", "shop-prod-backend-deployment").parent_urn == svc.urn
    netpols = {r.name for r in new.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    assert {"shop-prod-netpol-web-to-api", "shop-prod-netpol-api-from"} <= netpols


def test_a_renamed_project_keeps_its_namespaces(record: Record) -> None:
    spec = {"environments": {"prod": {}}, "services": {"api": {"image": IMG}}}
    old = run(record, "shop", ProjectSpec.model_validate(spec))
    new = run(record, "store", ProjectSpec.model_validate({**spec, "renamedFrom": ["shop"]}))
    assert k8s_objects(old) == k8s_objects(new)
    assert new.one("enclii:index:TenantProject", "store").aliases == ["shop"]
    assert {ns for (kind, _, ns) in k8s_objects(new) if kind == "Namespace"} == {"shop-prod"}


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ({"api": {"image": IMG, "renamedFrom": ["api"]}}, "services.api.renamedFrom: lists the service's own name"),
        ({"api": {"image": IMG}, "web": {"image": IMG, "renamedFrom": ["api"]}},
         "services.web.renamedFrom: 'api' is the name of service 'api'"),
        ({"a": {"image": IMG, "renamedFrom": ["old"]}, "b": {"image": IMG, "renamedFrom": ["old"]}},
         "services.b.renamedFrom: 'old' is a former name of service 'a'"),
    ],
)
def test_renames_that_would_merge_two_identities_are_refused(services: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace(".", r"\.").replace("(", r"\(")):
        ProjectSpec.model_validate({"services": services})


def test_project_renames_are_checked_across_the_platform() -> None:
    base = {"domain": "example.com", "stage": "preview"}
    with pytest.raises(ValidationError, match="tenants.store.renamedFrom: 'shop' is the name of project 'shop'"):
        PlatformSpec.model_validate({**base, "tenants": {"shop": {}, "store": {"renamedFrom": ["shop"]}}})
    with pytest.raises(ValidationError, match="lists the project's own name"):
        PlatformSpec.model_validate({**base, "tenants": {"shop": {"renamedFrom": ["shop"]}}})


def test_job_ttl_is_only_for_crons() -> None:
    with pytest.raises(ValidationError, match="jobTtl: only cron services take one"):
        ProjectSpec.model_validate({"services": {"m": {"type": "job", "image": IMG, "jobTtl": "1h"}}})
    spec = ProjectSpec.model_validate(
        {"services": {"n": {"type": "cron", "image": IMG, "schedule": "0 * * * *", "jobTtl": "2h"}}}
    )
    assert spec.services["n"].job_ttl == "2h"

"""Specs: defaults, cross-field rules, loading YAML, and errors that name the document and field path."""

from __future__ import annotations

import pytest

from enclii_iac.errors import SpecError
from enclii_iac.models.loader import load_documents, load_platform, load_tenants
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.models.service import ServiceSpec, ServiceType
from enclii_iac.models.tenant import ProjectSpec, ServiceOverride, apply_override
from tests.conftest import DIGEST, STACKS

IMG = "ghcr.io/acme/api" + DIGEST


def doc(spec: str, name: str = "api", project: str = "shop") -> str:
    return (
        f"apiVersion: enclii.dev/v1\nkind: Service\nmetadata: {{name: {name}, project: {project}}}\n"
        f"spec:\n" + "".join(f"  {line}\n" for line in spec.strip().splitlines())
    )


def issues(text: str) -> list[str]:
    with pytest.raises(SpecError) as exc:
        load_documents([("enclii.yaml", text)]).tenants()
    return [str(i) for i in exc.value.issues]


def test_service_defaults_are_secure_and_documented() -> None:
    svc = ServiceSpec(image=IMG)
    assert svc.type is ServiceType.WEB
    assert svc.listen_port == 8080
    assert svc.replicas.min == 1 and svc.replicas.upper == 1
    assert svc.resources.cpu == "100m" and svc.resources.effective_memory_limit == "512Mi"
    assert svc.deploy.strategy == "rolling"
    for name, field in ServiceSpec.model_fields.items():
        if name not in ("type", "image", "command", "args", "schedule"):
            assert field.description or field.default is not None or field.default_factory, name


def test_yaml_and_python_build_the_same_model() -> None:
    text = doc(f"""
type: web
image: {IMG}
port: 8080
replicas: {{min: 2, max: 10}}
autoscale: {{targetCPU: 70}}
health: {{path: /healthz, initialDelay: 5s}}
routes: [{{host: api.shop.example.com, path: /}}]
slo: {{availability: 99.95, latencyP95: 300ms, errorRate: 1%}}
""")
    from_yaml = load_documents([("f", text)]).tenants()["shop"].services["api"]
    from_python = ServiceSpec.model_validate(
        {
            "type": "web",
            "image": IMG,
            "port": 8080,
            "replicas": {"min": 2, "max": 10},
            "autoscale": {"target_cpu": 70},
            "health": {"path": "/healthz", "initial_delay": "5s"},
            "routes": [{"host": "api.shop.example.com", "path": "/"}],
            "slo": {"availability": 99.95, "latency_p95": "300ms", "error_rate": "1%"},
        }
    )
    assert from_yaml == from_python
    assert from_yaml.slo is not None and from_yaml.slo.error_rate == 1.0


def test_error_names_document_path_and_fix() -> None:
    found = issues(doc(f"image: {IMG}\nreplicas: {{min: 5, max: 3}}"))
    assert found == ["enclii.yaml#1 shop/api: spec.replicas: min must be <= max (got 5 > 3)"]


@pytest.mark.parametrize(
    ("spec", "path", "needle"),
    [
        ("image: {img}\nbogus: 1", "spec.bogus", "unknown field"),
        ("image: {img}\nport: 70000", "spec.port", "less than or equal to 65535"),
        ("image: {img}\nport: eighty", "spec.port", "valid integer"),
        ("image: {img}\ntype: daemon", "spec.type", "daemon"),
        ("image: {img}\nresources: {{cpu: lots}}", "spec.resources.cpu", "CPU quantity"),
        ("image: {img}\nhealth: {{period: 10 seconds}}", "spec.health.period", "duration"),
        ('image: "ghcr.io/acme/api:1;rm -rf /"', "spec.image", "OCI image reference"),
        ('image: {img}\nroutes: [{{host: "api.$(reboot).com"}}]', "spec.routes[0].host", "hostname"),
        ('image: {img}\nroutes: [{{host: "a`id`.example.com"}}]', "spec.routes[0].host", "hostname"),
        ('image: {img}\nroutes: [{{host: a.example.com, path: "/x/../../etc"}}]', "spec.routes[0].path", "URL path"),
        ('image: {img}\nenv: {{"BAD-NAME": x}}', "spec.env.BAD-NAME", "environment variable name"),
        (
            'image: {img}\nvolumes: [{{name: data, mountPath: "/data/../../root"}}]',
            "spec.volumes[0].mountPath",
            "no '..'",
        ),
        (
            "image: {img}\nvolumes: [{{name: data, mountPath: /data, backup: {{schedule: daily, to: r2}}}}]",
            "spec.volumes[0].backup",
            "volume backups are not supported: k3s's local-path volumes are host directories with no CSI snapshots",
        ),
        ("image: {img}\nvolumes: [{{name: data, mountPath: /data, backup: false}}]", "spec.volumes[0].backup",
         "remove `backup` (docs/data-services.md#tenant-volumes)"),
        ("image: {img}\ntype: cron", "spec", "needs a schedule"),
        ("image: {img}\ntype: worker\nroutes: [{{host: a.example.com}}]", "spec", "no port to route to"),
        ("image: {img}\nautoscale: {{}}", "spec", "replicas.max > replicas.min"),
        ("image: {img}\nsecrets: [A, A]", "spec.secrets", "duplicates"),
        ("image: {img}\nenv: {{A: x}}\nsecrets: [A]", "spec", "both env and secrets"),
        ("image: {img}\ndeploy: {{strategy: canary}}", "spec.deploy", "needs a canary block"),
        (
            "image: {img}\ndeploy: {{strategy: canary, canary: {{image: {img}, steps: [50, 10]}}}}",
            "spec.deploy.canary",
            "strictly increasing",
        ),
    ],
)
def test_bad_service_input(spec: str, path: str, needle: str) -> None:
    found = issues(doc(spec.format(img=IMG)))
    assert any(f": {path}: " in f and needle in f for f in found), found


@pytest.mark.parametrize("name", ["a'b", "x$(id)", "a\nb", "../etc", "a/b", "A", "-a", "a" * 31, "a`b`"])
def test_hostile_names_rejected(name: str) -> None:
    import json

    text = doc(f"image: {IMG}", name=json.dumps(name))
    found = issues(text)
    assert any("metadata.name" in f for f in found), found


def test_unknown_kind_and_version_and_duplicates() -> None:
    assert (
        "kind: must be one of Platform, Project, Service (got 'Deployment')"
        in issues("apiVersion: enclii.dev/v1\nkind: Deployment\n")[0]
    )
    assert "apiVersion: must be 'enclii.dev/v1'" in issues("apiVersion: v2\nkind: Service\n")[0]
    found = issues(doc(f"image: {IMG}") + "---\n" + doc(f"image: {IMG}"))
    assert found == ["enclii.yaml#2 shop/api: metadata.name: a service of this name is already declared"]
    found = issues(doc(f"image: {IMG}\nport: 1\nport: 2"))
    assert "duplicate key 'port'" in found[0] and "line" in found[0]


def test_project_cross_references() -> None:
    text = (
        "apiVersion: enclii.dev/v1\nkind: Project\nmetadata: {name: shop}\nspec: {environments: {prod: {}, qa: {}}}\n"
    )
    assert any("environments.qa" in f and "not an environment name" in f for f in issues(text))
    found = issues(doc(f"image: {IMG}\ndependsOn: [db]"))
    assert any("services.api.dependsOn: 'db' is not a service of this project" in f for f in found), found


def test_overrides_apply_per_environment() -> None:
    svc = ServiceSpec(image=IMG, replicas={"min": 3, "max": 6}, autoscale={})
    out = apply_override(svc, ServiceOverride(image="ghcr.io/acme/api:dev", replicas_min=1))
    assert out.image == "ghcr.io/acme/api:dev" and out.replicas.min == 1 and out.replicas.max == 6
    project = ProjectSpec(
        environments={"prod": {}, "dev": {"overrides": {"api": {"replicasMin": 1}}}}, services={"api": svc}
    )
    assert project.services_in("dev")["api"].replicas.min == 1
    assert project.services_in("prod")["api"].replicas.min == 3


def test_production_requires_digests() -> None:
    with pytest.raises(SpecError, match="must be pinned by digest"):
        PlatformSpec(
            domain="example.com",
            tenants={"shop": ProjectSpec(services={"api": ServiceSpec(image="ghcr.io/acme/api:1.0")})},
        )
    spec = PlatformSpec(
        domain="example.com",
        stage="preview",
        tenants={"shop": ProjectSpec(services={"api": ServiceSpec(image="ghcr.io/acme/api:1.0")})},
    )
    assert spec.protect is False


def test_example_stack_specs_load() -> None:
    spec = load_platform(STACKS / "production" / "platform.yaml", [STACKS / "production" / "tenants" / "shop.yaml"])
    assert spec.stage == "production" and spec.protect
    shop = spec.tenants["shop"]
    assert sorted(shop.environments) == ["dev", "prod", "stage"]
    assert {s.type for s in shop.services.values()} == {
        ServiceType.WEB,
        ServiceType.WORKER,
        ServiceType.CRON,
        ServiceType.JOB,
    }
    assert load_tenants([STACKS / "production" / "tenants" / "shop.yaml"])["shop"] == shop


def test_missing_file_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_tenants(["/nonexistent/enclii.yaml"])

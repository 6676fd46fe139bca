"""Properties: any valid spec synthesizes manifests that validate; any invalid spec raises with a field path
and declares nothing."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enclii_iac.errors import SpecError
from enclii_iac.kube import TenantProject
from enclii_iac.models.loader import validate_model
from enclii_iac.models.tenant import ProjectSpec
from enclii_iac.policy.tenancy import TENANCY_RULES
from enclii_iac.testing import Recorder, reveal
from tests.conftest import DIGEST, kubernetes_validate

IMG = "ghcr.io/acme/app" + DIGEST
labels = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
hosts = st.builds(lambda a, b: f"{a}.{b}.example.com", labels, labels)
cpu = st.sampled_from(["50m", "100m", "250m", "500m"])
mem = st.sampled_from(["64Mi", "128Mi", "256Mi"])


@st.composite
def service(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["web", "worker", "cron", "job", "tcp"]))
    svc: dict[str, Any] = {
        "type": kind,
        "image": IMG,
        "resources": {"cpu": draw(cpu), "memory": draw(mem)},
        "env": draw(
            st.dictionaries(
                st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True),
                st.text(max_size=20).filter(lambda s: "\x00" not in s),
                max_size=3,
            )
        ),
    }
    if kind in ("web", "worker", "tcp"):
        lo = draw(st.integers(0, 3))
        hi = draw(st.integers(lo, 6))
        svc["replicas"] = {"min": lo, "max": hi}
        if hi > lo and draw(st.booleans()):
            svc["autoscale"] = {"targetCPU": draw(st.integers(10, 90))}
    if kind in ("web", "tcp"):
        svc["port"] = draw(st.integers(1024, 65000))
    if kind == "web":
        svc["routes"] = [{"host": draw(hosts), "path": draw(st.sampled_from(["/", "/api", "/v1/x"]))}]
        svc["health"] = {"path": "/healthz"} if draw(st.booleans()) else {}
        if draw(st.booleans()):
            svc["deploy"] = draw(
                st.sampled_from(
                    [
                        {"strategy": "canary", "canary": {"image": IMG, "steps": [10, 50], "currentStep": 1}},
                        {"strategy": "blue-green", "blueGreen": {"blueImage": IMG, "greenImage": IMG}},
                    ]
                )
            )
    if kind == "cron":
        svc["schedule"] = draw(st.sampled_from(["*/5 * * * *", "0 3 * * 1", "@daily"]))
    if kind == "worker":
        svc["health"] = {"command": ["./w", "--check"]}
    single = svc.get("replicas", {}).get("max", 1) <= 1 and "deploy" not in svc  # ReadWriteOnce: one pod
    if draw(st.booleans()) and kind != "job" and single:
        svc["volumes"] = [{"name": "data", "mountPath": "/data", "size": "1Gi"}]
    return svc


def declare(spec: ProjectSpec) -> Recorder:
    def program() -> None:
        TenantProject("p", spec, provider=k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("x")))

    return Recorder().run(program)


@given(st.dictionaries(labels, service(), min_size=1, max_size=3))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_valid_spec_synthesizes_valid_manifests(services: dict[str, Any]) -> None:
    spec = ProjectSpec.model_validate({"environments": {"prod": {}}, "services": services})
    rec = declare(spec)
    objs = [reveal(o) for o in rec.kubernetes_objects()]
    assert kubernetes_validate(objs) == []
    violations = [v for rule in TENANCY_RULES for v in rule(rec.records)]
    assert violations == []


BAD_VALUES = [
    ("port", 0),
    ("port", "http"),
    ("image", "ghcr.io/acme/app:$(id)"),
    ("image", "a b"),
    ("replicas", {"min": 4, "max": 2}),
    ("resources", {"cpu": "-1"}),
    ("env", {"1X": "v"}),
    ("routes", [{"host": "bad host"}]),
    ("routes", [{"host": "a.example.com", "path": "no-slash"}]),
    ("volumes", [{"name": "d", "mountPath": "relative"}]),
    ("health", {"period": "0s"}),
    ("deploy", {"strategy": "teleport"}),
    ("nonsense", 1),
    ("secrets", ["BAD NAME"]),
]


@given(service(), st.sampled_from(BAD_VALUES))
@settings(max_examples=40, deadline=None)
def test_any_invalid_spec_raises_with_a_path_and_declares_nothing(svc: dict[str, Any], bad: tuple[str, Any]) -> None:
    field, value = bad
    svc = {**svc, field: value}
    rec = Recorder()

    def program() -> None:
        spec = validate_model(ProjectSpec, {"environments": {"prod": {}}, "services": {"api": svc}}, "shop")
        TenantProject("p", spec, provider=k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("x")))

    with pytest.raises(SpecError) as exc:
        rec.run(program)
    assert rec.records == []
    assert any(i.path.startswith("services.api") for i in exc.value.issues), exc.value.issues

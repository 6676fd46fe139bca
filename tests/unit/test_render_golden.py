"""Golden manifests for every service type and deploy strategy (what `pulumi up` would apply)."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from enclii_iac.kube import TenantProject
from enclii_iac.models.tenant import ProjectSpec
from enclii_iac.synth import dump_yaml_documents, manifest_for_output
from enclii_iac.testing import Recorder, assert_golden, reveal
from tests.conftest import DIGEST, GOLDEN, kubernetes_validate

IMG = "ghcr.io/acme/app" + DIGEST
IMG2 = "ghcr.io/acme/app@sha256:" + "12" * 32

CASES: dict[str, dict[str, Any]] = {
    "web": {
        "image": IMG,
        "port": 8080,
        "replicas": {"min": 2, "max": 5},
        "autoscale": {},
        "health": {"path": "/healthz"},
        "routes": [{"host": "api.example.com"}, {"host": "api.example.com", "path": "/v2"}],
        "domains": ["api.customer.com"],
        "env": {"LOG_LEVEL": "info"},
        "secrets": ["DATABASE_URL"],
    },
    "worker": {
        "type": "worker",
        "image": IMG,
        "command": ["./worker"],
        "health": {"command": ["./worker", "check"]},
        "replicas": {"min": 1, "max": 4},
        "autoscale": {
            "keda": [{"type": "rabbitmq", "metadata": {"queueName": "jobs", "mode": "QueueLength", "value": "20"}}]
        },
    },
    "cron": {"type": "cron", "image": IMG, "schedule": "0 3 * * *", "concurrency": "Replace"},
    "job": {"type": "job", "image": IMG, "command": ["./migrate"], "backoffLimit": 1},
    "tcp": {
        "type": "tcp",
        "image": IMG,
        "port": 5432,
        "volumes": [{"name": "data", "mountPath": "/var/lib/pg", "size": "10Gi"}],
    },
    "canary": {
        "image": IMG,
        "routes": [{"host": "shop.example.com"}],
        "replicas": {"min": 2},
        "deploy": {"strategy": "canary", "canary": {"image": IMG2, "steps": [5, 25, 50], "currentStep": 1}},
    },
    "blue-green": {
        "image": IMG,
        "routes": [{"host": "blog.example.com"}],
        "replicas": {"min": 2},
        "deploy": {"strategy": "blue-green", "blueGreen": {"active": "green", "blueImage": IMG, "greenImage": IMG2}},
    },
    "slo": {
        "image": IMG,
        "routes": [{"host": "api.example.com"}],
        "metrics": {"path": "/metrics"},
        "slo": {"availability": 99.95, "latencyP95": "250ms", "errorRate": "0.5%", "window": "28d"},
    },
}


def synth_case(case: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    spec = ProjectSpec.model_validate({"environments": {"prod": {}}, "services": {"app": CASES[case]}})
    secrets = {"app": {"DATABASE_URL": "postgres://golden"}} if CASES[case].get("secrets") else None

    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("kubeconfig"))
        TenantProject("t", spec, provider=provider, project="t", secret_values=secrets, protect=True)

    rec = Recorder().run(program)
    svc_objects = [
        r.inputs
        for r in rec.records
        if r.custom
        and r.type.startswith("kubernetes:")
        and "apiVersion" in r.inputs
        and rec.parent_of(r) is not None
        and rec.parent_of(r).type == "enclii:index:TenantService"
    ]
    return sorted((manifest_for_output(o) for o in svc_objects), key=lambda d: (d["kind"], d["metadata"]["name"])), [
        reveal(o) for o in svc_objects
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_service_manifests_golden(case: str) -> None:
    docs, raw = synth_case(case)
    assert_golden(GOLDEN / "kube" / f"{case}.yaml", dump_yaml_documents(docs))
    assert kubernetes_validate(raw) == []

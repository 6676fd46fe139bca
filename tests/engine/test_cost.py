"""Usage metering in a real kube-apiserver: every object UsageMetering declares is admitted (server-side apply,
the Prometheus Operator's CRDs installed), the PrometheusRule is validated against its CRD (a broken one is
refused), and OpenCost's pod is scheduled onto the node under Pod Security "restricted".

The objects are declared under the recorder exactly as the production stack declares them (``enclii-iac
synth`` with ``metering.enabled``); the module removes what it applied.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from enclii_iac.cost.metering import TYPE_USAGE_METERING, UsageMetering
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.synth import manifest_for_output
from enclii_iac.testing import Recorder, reveal
from tests.engine.harness import LocalCluster

pytestmark = [
    pytest.mark.engine,
    pytest.mark.filterwarnings("ignore:Exception ignored in.*SSLSocket:pytest.PytestUnraisableExceptionWarning"),
]

SPEC = PlatformSpec.model_validate({
    "domain": "example.com",
    "metering": {"enabled": True, "ruleLabels": {"release": "prometheus"}},
    "services": {"existingOperators": ["prometheus-operator"]},  # the session's cluster has its CRDs
    "tenants": {"shop": {"budget": {"monthly": "30.00"}, "environments": {"prod": {"budget": {"monthly": "10"}}},
                         "services": {"api": {"image": "ghcr.io/acme/api@sha256:" + "ab" * 32, "port": 8080}}}},
})


def _declared() -> list[dict[str, Any]]:
    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("apiVersion: v1"))
        UsageMetering("enclii-metering", SPEC.metering, platform=SPEC, provider=provider)

    rec = Recorder(project="enclii-production", stack="production").run(program)
    [component] = rec.of_type(TYPE_USAGE_METERING)
    return [manifest_for_output(dict(reveal(r.inputs))) for r in rec.records if r.parent_urn == component.urn]


@pytest.fixture(scope="module")
def applied(cluster: LocalCluster) -> Iterator[list[dict[str, Any]]]:
    docs = _declared()
    cluster.kubectl("create", "namespace", "monitoring")
    try:
        cluster.kubectl("apply", "--server-side", "--field-manager=enclii-engine-cost", "-f", "-",
                        input=yaml.safe_dump_all(docs))
        yield docs
    finally:
        cluster.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-", input=yaml.safe_dump_all(docs),
                        check=False)
        cluster.kubectl("delete", "namespace", "monitoring", "--ignore-not-found", "--wait=false", check=False)


def _get(c: LocalCluster, doc: dict[str, Any]) -> dict[str, Any]:
    meta = doc["metadata"]
    args = ["get", f"{doc['kind'].lower()}.{doc['apiVersion'].split('/')[0]}" if "/" in doc["apiVersion"]
            else doc["kind"].lower(), meta["name"], "-o", "json"]
    if "namespace" in meta:
        args += ["-n", meta["namespace"]]
    return dict(json.loads(c.kubectl(*args).stdout))


def test_every_metering_object_is_admitted(cluster: LocalCluster, applied: list[dict[str, Any]]) -> None:
    kinds = sorted(d["kind"] for d in applied)
    assert kinds == sorted(["Namespace", "ConfigMap", "ConfigMap", "ServiceAccount", "ClusterRole",
                            "ClusterRoleBinding", "NetworkPolicy", "Deployment", "Service", "ServiceMonitor",
                            "PrometheusRule"])
    for doc in applied:
        live = _get(cluster, doc)
        assert live["metadata"]["name"] == doc["metadata"]["name"]
        assert live["metadata"]["labels"]["app.kubernetes.io/part-of"] == "enclii-metering"
    ns = _get(cluster, next(d for d in applied if d["kind"] == "Namespace"))
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pricing = _get(cluster, next(d for d in applied if d["metadata"]["name"] == "opencost-custom-pricing"))
    assert json.loads(pricing["data"]["default.json"])["provider"] == "custom"


def test_the_prometheus_rule_is_validated_against_its_crd(cluster: LocalCluster,
                                                          applied: list[dict[str, Any]]) -> None:
    rule = next(d for d in applied if d["kind"] == "PrometheusRule")
    live = _get(cluster, rule)
    groups = {g["name"]: g for g in live["spec"]["groups"]}
    assert set(groups) == {"enclii-cost-run-rate", "enclii-cost-estimate", "enclii-cost-budgets"}
    alerts = sorted(r["alert"] for r in groups["enclii-cost-budgets"]["rules"])
    assert alerts == ["EncliiEnvironmentOverBudget", "EncliiProjectOverBudget"]
    # the CRD's schema is enforced: a rule without expr, or with an unknown field, is refused
    broken = copy.deepcopy(rule)
    broken["metadata"]["name"] = "enclii-cost-broken"
    del broken["spec"]["groups"][0]["rules"][0]["expr"]
    res = cluster.kubectl("create", "-f", "-", input=yaml.safe_dump(broken), check=False)
    assert res.returncode != 0 and "expr" in res.stderr, res.stderr
    broken = copy.deepcopy(rule)
    broken["metadata"]["name"] = "enclii-cost-broken"
    broken["spec"]["groups"][0]["rules"][0]["unknownField"] = 1
    res = cluster.kubectl("create", "--validate=strict", "-f", "-", input=yaml.safe_dump(broken), check=False)
    assert res.returncode != 0 and "unknownField" in res.stderr, res.stderr


def test_opencost_pod_is_admitted_under_restricted(cluster: LocalCluster, applied: list[dict[str, Any]]) -> None:
    deadline = time.monotonic() + 90
    pods: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        out = cluster.kubectl("get", "pods", "-n", "opencost", "-l", "app.kubernetes.io/name=opencost", "-o", "json")
        pods = json.loads(out.stdout)["items"]
        if pods and pods[0]["spec"].get("nodeName"):
            break
        time.sleep(2)
    assert pods, cluster.kubectl("get", "events", "-n", "opencost", check=False).stdout
    assert pods[0]["spec"]["nodeName"]
    assert pods[0]["spec"]["automountServiceAccountToken"] is False
    assert any(v["name"] == "api-token" for v in pods[0]["spec"]["volumes"])

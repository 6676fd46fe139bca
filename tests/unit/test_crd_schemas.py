"""The structural CRD schemas catch mistakes (so validating custom resources is not vacuous)."""

from __future__ import annotations

import copy

from enclii_iac.k3s.cluster import upgrade_plans
from enclii_iac.models.cluster import K3sClusterSpec
from enclii_iac.models.service import ServiceSpec
from enclii_iac.render import kube as m
from tests.conftest import DIGEST, kubernetes_validate
from tests.crd_schemas import validate_custom

REF = m.Ref("shop", "prod", "api")
SVC = ServiceSpec.model_validate({
    "image": "ghcr.io/acme/api" + DIGEST, "routes": [{"host": "api.example.com"}], "replicas": {"min": 1, "max": 3},
    "autoscale": {"keda": [{"type": "cron", "metadata": {"timezone": "UTC", "start": "0 8 * * *",
                                                         "end": "0 20 * * *", "desiredReplicas": "2"}}]},
    "metrics": {}, "slo": {"availability": 99.9},
    "deploy": {"strategy": "canary", "canary": {"image": "ghcr.io/acme/api" + DIGEST}},
})


def test_every_custom_resource_enclii_writes_is_valid() -> None:
    docs = [m.scaled_object(REF, SVC, "api"), m.service_monitor(REF, SVC), m.prometheus_rule(REF, SVC),
            m.traefik_route(REF, SVC), m.traefik_weighted(REF, 90, 10),
            *upgrade_plans(K3sClusterSpec(servers=["a"], agents=["b"], upgrade={"enabled": True}))]
    assert [d["kind"] for d in docs] == ["ScaledObject", "ServiceMonitor", "PrometheusRule", "IngressRoute",
                                         "TraefikService", "Plan", "Plan"]
    assert kubernetes_validate(docs) == []


def test_mistakes_are_caught() -> None:
    so = m.scaled_object(REF, SVC, "api")
    bad = copy.deepcopy(so)
    bad["spec"]["scaleTargetRefs"] = bad["spec"].pop("scaleTargetRef")
    assert any("scaleTargetRef" in e for e in validate_custom(bad))
    bad = copy.deepcopy(so)
    bad["spec"]["triggers"][0]["metricType"] = "Percent"
    assert validate_custom(bad)
    split = m.traefik_weighted(REF, 90, 10)
    split["spec"]["weighted"]["services"][0]["weigth"] = 1
    assert any("weigth" in e for e in validate_custom(split))
    assert validate_custom({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}})

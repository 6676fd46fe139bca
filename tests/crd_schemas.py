"""Structural JSON Schemas of the custom resources enclii_iac declares (kubernetes-validate has no CRDs).

Kinds whose CRD of the pinned version is vendored (the layer's enclii_iac/services/crds/ and tests/crds/)
are also validated against that CRD's own schema (``validate_pinned``).

Written for these tests from the upstream CRD definitions (KEDA 2.x ScaledObject, Prometheus Operator
v1 ServiceMonitor / PrometheusRule, Traefik v3 IngressRoute / TraefikService, system-upgrade-controller
Plan). CloudNativePG's kinds are checked against its own CRDs, vendored unmodified (``UPSTREAM_CRDS``).
The hand-written ones cover the fields of each kind that exist upstream, and reject unknown fields at the levels
enclii_iac writes, so a misspelt field fails here instead of at apply time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
INT_OR_STR = {"type": ["integer", "string"]}
STR_MAP = {"type": "object", "additionalProperties": STR}
LABEL_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"matchLabels": STR_MAP, "matchExpressions": {"type": "array", "items": {"type": "object"}}},
}


def obj(props: dict[str, Any], required: list[str] | None = None, closed: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if closed:
        out["additionalProperties"] = False
    if required:
        out["required"] = required
    return out


def arr(items: dict[str, Any], min_items: int = 0) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": min_items}


METADATA = obj({"name": STR, "namespace": STR, "labels": STR_MAP, "annotations": STR_MAP}, ["name"])

SCALED_OBJECT = obj({
    "scaleTargetRef": obj({"name": STR, "apiVersion": STR, "kind": STR, "envSourceContainerName": STR}, ["name"]),
    "pollingInterval": INT, "cooldownPeriod": INT, "initialCooldownPeriod": INT, "idleReplicaCount": INT,
    "minReplicaCount": INT, "maxReplicaCount": INT,
    "fallback": {"type": "object"}, "advanced": {"type": "object"},
    "triggers": arr(obj({
        "type": STR, "name": STR, "metadata": STR_MAP, "useCachedMetrics": BOOL,
        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
        "authenticationRef": obj({"name": STR, "kind": STR}, ["name"]),
    }, ["type", "metadata"]), 1),
}, ["scaleTargetRef", "triggers"])

SERVICE_MONITOR = obj({
    "selector": LABEL_SELECTOR, "namespaceSelector": {"type": "object"}, "jobLabel": STR,
    "podTargetLabels": arr(STR), "targetLabels": arr(STR), "sampleLimit": INT,
    "endpoints": arr(obj({
        "port": STR, "targetPort": INT_OR_STR, "path": STR, "scheme": {"enum": ["http", "https"]},
        "interval": STR, "scrapeTimeout": STR, "honorLabels": BOOL, "honorTimestamps": BOOL,
        "relabelings": arr({"type": "object"}), "metricRelabelings": arr({"type": "object"}),
        "tlsConfig": {"type": "object"}, "params": {"type": "object"},
    })),
}, ["selector"])

PROMETHEUS_RULE = obj({
    "groups": arr(obj({
        "name": STR, "interval": STR, "limit": INT, "partial_response_strategy": STR,
        "rules": arr(obj({
            "alert": STR, "record": STR, "expr": INT_OR_STR, "for": STR, "keep_firing_for": STR,
            "labels": STR_MAP, "annotations": STR_MAP,
        }, ["expr"])),
    }, ["name"])),
})

TRAEFIK_SERVICE_REF = obj({
    "name": STR, "kind": {"enum": ["Service", "TraefikService"]}, "namespace": STR, "port": INT_OR_STR,
    "weight": INT, "scheme": STR, "passHostHeader": BOOL, "sticky": {"type": "object"},
}, ["name"])

INGRESS_ROUTE = obj({
    "entryPoints": arr(STR),
    "routes": arr(obj({
        "kind": {"enum": ["Rule"]}, "match": STR, "priority": INT, "syntax": STR,
        "services": arr(TRAEFIK_SERVICE_REF), "middlewares": arr({"type": "object"}),
    }, ["match"]), 1),
    "tls": {"type": "object"},
}, ["routes"])

TRAEFIK_SERVICE = obj({
    "weighted": obj({"services": arr(TRAEFIK_SERVICE_REF, 1), "sticky": {"type": "object"}}),
    "mirroring": {"type": "object"},
})

PLAN = obj({
    "concurrency": INT, "cordon": BOOL, "nodeSelector": LABEL_SELECTOR, "serviceAccountName": STR,
    "tolerations": arr({"type": "object"}), "version": STR, "channel": STR, "drain": {"type": "object"},
    "upgrade": obj({"image": STR, "command": arr(STR), "args": arr(STR), "envs": arr({"type": "object"})},
                   ["image"]),
    "prepare": obj({"image": STR, "command": arr(STR), "args": arr(STR)}, ["image"]),
    "window": obj({"days": arr(STR), "startTime": STR, "endTime": STR, "timeZone": STR}),
}, ["upgrade"])

SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
    ("traefik.io/v1alpha1", "IngressRoute"): INGRESS_ROUTE,
    ("traefik.io/v1alpha1", "TraefikService"): TRAEFIK_SERVICE,
    ("upgrade.cattle.io/v1", "Plan"): PLAN,
}


def structural(node: Any) -> Any:
    """A CRD's openAPIV3Schema as JSON Schema, as strict as the API server's pruning: an object with
    ``properties`` and neither ``additionalProperties`` nor ``x-kubernetes-preserve-unknown-fields`` accepts
    no other field (the API server would silently drop it; here it is an error)."""
    if isinstance(node, list):
        return [structural(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: structural(v) for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if ("properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


UPSTREAM_CRDS = Path(__file__).parent / "data" / "cnpg-v1.30.0"
"""CloudNativePG's CRDs, unmodified (see its README.md): their own openAPIV3Schema is the schema."""


def _crd_files() -> list[Path]:
    package = Path(__file__).resolve().parent.parent / "enclii_iac" / "services" / "crds"
    return sorted([*package.glob("*.json"), *(Path(__file__).parent / "crds").glob("*.json"),
                   *UPSTREAM_CRDS.glob("*.yaml")])


def pinned_crds() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → the JSON Schema of that version, from the CRDs of the pinned versions (the layer's
    package data and tests/crds/, both written by tools/vendor_crds.py)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for f in _crd_files():
        crd = json.loads(f.read_text()) if f.suffix == ".json" else yaml.safe_load(f.read_text())
        for version in crd["spec"]["versions"]:
            schema = structural(version["schema"]["openAPIV3Schema"])
            props = schema.setdefault("properties", {})
            props["metadata"] = METADATA
            props.pop("status", None)
            schema.pop("additionalProperties", None)
            schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
            out[(f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])] = schema
    return out


PINNED = pinned_crds()


def validate_pinned(doc: dict[str, Any]) -> list[str] | None:
    """Errors of ``doc`` against the pinned CRD of its kind; None when no pinned CRD defines it."""
    key = (str(doc.get("apiVersion")), str(doc.get("kind")))
    schema = PINNED.get(key)
    if schema is None:
        return None
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{key[1]}/{doc.get('metadata', {}).get('name')}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)]


def validate_custom(doc: dict[str, Any]) -> list[str]:
    """Errors of a custom resource against its schema; an unknown (apiVersion, kind) is itself an error.

    Kinds with a pinned CRD (Prometheus Operator, KEDA, k3s's helm-controller) are validated against it too."""
    key = (str(doc.get("apiVersion")), str(doc.get("kind")))
    pinned = validate_pinned(doc)
    spec_schema = SCHEMAS.get(key)
    if spec_schema is None:
        return pinned if pinned is not None else [f"{key}: no schema (add it to tests/crd_schemas.py)"]
    schema = obj({"apiVersion": {"const": key[0]}, "kind": {"const": key[1]}, "metadata": METADATA,
                  "spec": spec_schema}, ["apiVersion", "kind", "metadata", "spec"])
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{key[1]}/{doc.get('metadata', {}).get('name')}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)] + (pinned or [])

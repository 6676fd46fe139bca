"""Tenancy guardrails: pure rules over recorded resources (``enclii_iac.testing.ResourceRecord``).

Each rule takes the whole list of records (some rules relate objects to each other) and returns
violations. The same functions run in the tests, in ``enclii-iac policy`` and in the CrossGuard pack.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from enclii_iac.models._base import image_digest, image_tag
from enclii_iac.naming import label_key
from enclii_iac.policy.base import Record, Violation, dig, plain, pod_specs, ref

SECRETISH = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS?|DATABASE_URL|DSN)", re.IGNORECASE
)
"""Environment variable names that hold secrets; their values must come from Secret references."""


def _meta(r: Record) -> dict[str, Any]:
    m = plain(r.inputs.get("metadata"))
    return m if isinstance(m, dict) else {}


def tenant_namespaces(records: list[Record]) -> dict[str, dict[str, str]]:
    """Tenant namespaces (labelled with enclii.dev/project) and their labels."""
    out = {}
    for r in records:
        if r.type == "kubernetes:core/v1:Namespace":
            meta = _meta(r)
            labels = meta.get("labels") or {}
            if label_key("project") in labels:
                out[str(meta.get("name"))] = dict(labels)
    return out


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in (spec.get("containers") or []) + (spec.get("initContainers") or []) if isinstance(c, dict)]


# --- rules ------------------------------------------------------------------------------------------------


def restricted_namespaces(records: list[Record]) -> list[Violation]:
    """Every tenant namespace enforces Pod Security "restricted"."""
    out = []
    for ns, labels in sorted(tenant_namespaces(records).items()):
        if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
            out.append(
                Violation(
                    "psa-restricted",
                    f"Namespace {ns}",
                    "label pod-security.kubernetes.io/enforce=restricted is missing",
                )
            )
    return out


def default_deny(records: list[Record]) -> list[Violation]:
    """Every tenant namespace has a NetworkPolicy denying all ingress and egress by default."""
    denied: set[str] = set()
    for r in records:
        if r.type != "kubernetes:networking.k8s.io/v1:NetworkPolicy":
            continue
        spec = plain(r.inputs.get("spec")) or {}
        if (
            (spec.get("podSelector") in ({}, None) or spec.get("podSelector") == {"matchLabels": {}})
            and sorted(spec.get("policyTypes") or []) == ["Egress", "Ingress"]
            and not spec.get("ingress")
            and not spec.get("egress")
        ):
            denied.add(str(_meta(r).get("namespace")))
    return [
        Violation("default-deny", f"Namespace {ns}", "no default-deny NetworkPolicy (ingress and egress)")
        for ns in sorted(set(tenant_namespaces(records)) - denied)
    ]


def limits_set(records: list[Record]) -> list[Violation]:
    """Every container sets CPU and memory limits and requests."""
    out = []
    for r, spec in pod_specs(records):
        for c in _containers(spec):
            res = c.get("resources") or {}
            for kind in ("limits", "requests"):
                missing = [k for k in ("cpu", "memory") if k not in (res.get(kind) or {})]
                if missing:
                    out.append(
                        Violation(
                            "resource-limits",
                            ref(r),
                            f"container {c.get('name')!r} sets no {kind}.{'/'.join(missing)}",
                        )
                    )
    return out


def no_latest(records: list[Record]) -> list[Violation]:
    """No image is untagged or tagged :latest (unless pinned by digest)."""
    out = []
    for r, spec in pod_specs(records):
        for c in _containers(spec):
            image = str(c.get("image") or "")
            if image_digest(image):
                continue
            tag = image_tag(image)
            if tag is None or tag == "latest":
                out.append(Violation("no-latest", ref(r), f"image {image!r} floats; pin a tag or a digest"))
    return out


def no_host_access(records: list[Record]) -> list[Violation]:
    """No privileged containers, hostPath volumes, hostNetwork, hostPID or hostIPC in tenant workloads."""
    out = []
    for r, spec in pod_specs(records):
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(flag):
                out.append(Violation("no-host-access", ref(r), f"{flag} is set"))
        for v in spec.get("volumes") or []:
            if isinstance(v, dict) and "hostPath" in v:
                out.append(Violation("no-host-access", ref(r), f"volume {v.get('name')!r} is a hostPath"))
        for c in _containers(spec):
            sc = c.get("securityContext") or {}
            if sc.get("privileged"):
                out.append(Violation("no-privileged", ref(r), f"container {c.get('name')!r} is privileged"))
            if sc.get("allowPrivilegeEscalation", True) is not False:
                out.append(
                    Violation("no-privileged", ref(r), f"container {c.get('name')!r} allows privilege escalation")
                )
            for port in c.get("ports") or []:
                if isinstance(port, dict) and port.get("hostPort"):
                    out.append(Violation("no-host-access", ref(r), f"container {c.get('name')!r} uses a hostPort"))
    return out


def _stage(records: list[Record], namespace: str | None) -> str | None:
    labels = tenant_namespaces(records).get(str(namespace))
    return labels.get(label_key("stage")) if labels else None


def production_digests(records: list[Record]) -> list[Violation]:
    """Images in production (stage prod) namespaces are pinned by digest."""
    out = []
    for r, spec in pod_specs(records):
        if _stage(records, _meta(r).get("namespace")) != "prod":
            continue
        for c in _containers(spec):
            if not image_digest(str(c.get("image") or "")):
                out.append(
                    Violation(
                        "production-digest", ref(r), f"image {c.get('image')!r} is not pinned by digest in production"
                    )
                )
    return out


def production_pdb(records: list[Record]) -> list[Violation]:
    """Production Deployments with 2 or more replicas are covered by a PodDisruptionBudget."""
    pdbs: list[tuple[str, dict[str, str]]] = []
    for r in records:
        if r.type == "kubernetes:policy/v1:PodDisruptionBudget":
            sel = dig(plain(r.inputs), ("spec", "selector", "matchLabels")) or {}
            pdbs.append((str(_meta(r).get("namespace")), dict(sel)))
    out = []
    for r in records:
        if r.type != "kubernetes:apps/v1:Deployment":
            continue
        ns = str(_meta(r).get("namespace"))
        if _stage(records, ns) != "prod":
            continue
        replicas = int(dig(plain(r.inputs), ("spec", "replicas")) or 1)
        if replicas < 2:
            continue
        labels = dig(plain(r.inputs), ("spec", "template", "metadata", "labels")) or {}
        covered = any(pns == ns and sel and all(labels.get(k) == v for k, v in sel.items()) for pns, sel in pdbs)
        if not covered:
            out.append(
                Violation(
                    "production-pdb",
                    ref(r),
                    f"{replicas} replicas in production but no PodDisruptionBudget selects its pods",
                )
            )
    return out


def secrets_by_reference(records: list[Any]) -> list[Violation]:
    """Secret-looking env vars come from Secret references, and Secret data is a Pulumi secret."""
    out = []
    for r, spec in pod_specs(records):
        for c in _containers(spec):
            for e in c.get("env") or []:
                if isinstance(e, dict) and "value" in e and SECRETISH.search(str(e.get("name"))):
                    out.append(
                        Violation(
                            "secrets-by-reference",
                            ref(r),
                            f"env {e.get('name')!r} holds a literal value; declare it in secrets",
                        )
                    )
    for r in records:
        if r.type == "kubernetes:core/v1:Secret":
            for key in ("data", "stringData"):
                if key in r.inputs and key not in r.secret_inputs:
                    out.append(
                        Violation(
                            "secrets-by-reference",
                            ref(r),
                            f"{key} is not a Pulumi secret (it would be stored in clear in state)",
                        )
                    )
    return out


TENANCY_RULES: list[Callable[[list[Any]], list[Violation]]] = [
    restricted_namespaces,
    default_deny,
    limits_set,
    no_latest,
    no_host_access,
    production_digests,
    production_pdb,
    secrets_by_reference,
]

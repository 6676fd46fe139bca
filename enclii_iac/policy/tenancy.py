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


def _annotations(r: Record) -> dict[str, str]:
    a = _meta(r).get("annotations")
    return {str(k): str(v) for k, v in a.items()} if isinstance(a, dict) else {}


def _tenant_annotations(records: list[Record]) -> dict[str, dict[str, str]]:
    out = {}
    for r in records:
        if r.type == "kubernetes:core/v1:Namespace" and label_key("project") in (_meta(r).get("labels") or {}):
            out[str(_meta(r).get("name"))] = _annotations(r)
    return out


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


_ROUTE_HOST = re.compile(r"^Host\(`([^`]+)`\)( && PathPrefix\(`/[A-Za-z0-9._~/-]*`\))?$")


def assigned_hosts(records: list[Record]) -> list[Violation]:
    """Every Ingress and IngressRoute host in a tenant namespace is one the platform assigned to it (its
    ``enclii.dev/allowed-hosts``, which the admission policy enforces), and no host is assigned to two."""
    from enclii_iac.render.kube import ALLOWED_HOSTS_ANNOTATION

    namespaces = _tenant_annotations(records)
    allowed = {ns: set(_split(a.get(ALLOWED_HOSTS_ANNOTATION))) for ns, a in namespaces.items()}
    out = []
    owner: dict[str, str] = {}
    for ns, hosts in sorted(allowed.items()):
        for host in sorted(hosts):
            first = owner.setdefault(host, ns)
            if first != ns:
                out.append(Violation("assigned-hosts", f"Namespace {ns}", f"{host} is also assigned to {first}"))
    for r in records:
        ns = str(_meta(r).get("namespace"))
        if ns not in allowed:
            continue
        spec = plain(r.inputs.get("spec")) or {}
        claimed: list[str] = []
        if r.type == "kubernetes:networking.k8s.io/v1:Ingress":
            if spec.get("defaultBackend"):
                out.append(Violation("assigned-hosts", ref(r), "a defaultBackend answers every host"))
            for rule in spec.get("rules") or []:
                claimed.append(str(rule.get("host") or "(no host: every host)"))
            claimed += [str(h) for t in spec.get("tls") or [] for h in t.get("hosts") or []]
        elif r.type == "kubernetes:traefik.io/v1alpha1:IngressRoute":
            for route in spec.get("routes") or []:
                m = _ROUTE_HOST.fullmatch(str(route.get("match") or ""))
                claimed.append(m.group(1) if m else f"(rule {route.get('match')!r})")
        for host in claimed:
            if host not in allowed[ns]:
                out.append(Violation("assigned-hosts", ref(r), f"{host} is not a host assigned to namespace {ns}"))
    return out


def allowed_registries(records: list[Record]) -> list[Violation]:
    """Every image of a tenant namespace comes from its ``enclii.dev/allowed-registries`` (when set)."""
    from enclii_iac.render.kube import ALLOWED_REGISTRIES_ANNOTATION

    prefixes = {ns: _split(a.get(ALLOWED_REGISTRIES_ANNOTATION)) for ns, a in _tenant_annotations(records).items()
                if ALLOWED_REGISTRIES_ANNOTATION in a}
    out = []
    for r, spec in pod_specs(records):
        allowed = prefixes.get(str(_meta(r).get("namespace")))
        if allowed is None:
            continue
        for c in _containers(spec):
            image = str(c.get("image") or "")
            if not any(image.startswith(p) for p in allowed):
                out.append(Violation("allowed-registries", ref(r),
                                     f"image {image!r} is not from {', '.join(allowed)} (policy.allowedRegistries)"))
    return out


def pod_security_exemptions(records: list[Any]) -> list[Violation]:
    """No tenant namespace is exempt from Pod Security in the API server's admission configuration."""
    import yaml

    from enclii_iac import host_defaults as hd
    from enclii_iac.render.host import files_in_script

    tenants = set(tenant_namespaces(records))
    out = []
    for r in records:
        if r.type != "command:remote:Command":
            continue
        stdin = plain(r.inputs.get("stdin"))
        if not isinstance(stdin, str):
            continue
        text = files_in_script(stdin).get(hd.K3S_PSA_CONFIG_PATH)
        if not text:
            continue
        config = yaml.safe_load(text) or {}
        for plugin in config.get("plugins") or []:
            if plugin.get("name") != "PodSecurity":
                continue
            exempt = set(dig(plugin, ("configuration", "exemptions", "namespaces")) or [])
            for ns in sorted(exempt & tenants):
                out.append(Violation("psa-exemption", ref(r), f"tenant namespace {ns} is exempt from Pod Security"))
    return out


def edge_ingress(records: list[Record]) -> list[Violation]:
    """No NetworkPolicy of a tenant namespace admits a whole other namespace: a peer chosen by namespace must
    also name its pods (the ingress controller's), never every pod of kube-system or of the tunnel."""
    tenants = set(tenant_namespaces(records))
    out = []
    for r in records:
        if r.type != "kubernetes:networking.k8s.io/v1:NetworkPolicy" or str(_meta(r).get("namespace")) not in tenants:
            continue
        for rule in (plain(r.inputs.get("spec")) or {}).get("ingress") or []:
            for peer in rule.get("from") or []:
                if isinstance(peer, dict) and "namespaceSelector" in peer and "podSelector" not in peer:
                    names = dig(peer, ("namespaceSelector", "matchLabels")) or {}
                    which = names.get("kubernetes.io/metadata.name", names)
                    out.append(Violation("edge-ingress", ref(r), f"admits every pod of namespace {which}; name the "
                                                                 "pods (the ingress controller's)"))
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
    assigned_hosts,
    allowed_registries,
    pod_security_exemptions,
    edge_ingress,
]

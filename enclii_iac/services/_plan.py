"""The pure half of the platform-services layer: what each module declares, as manifests, before any Pulumi.

Every module of the layer is one function ``plan(ctx) -> Plan``: its objects (manifests with stable keys
and the keys they wait for), the API groups whose CRDs it installs, the platform pods tenants may reach and
who scrapes tenants. ``PlatformServices`` (``layer.py``) declares each Plan as one component; tests render
the same Plans and validate every manifest offline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from enclii_iac import defaults
from enclii_iac.models.platform import IngressSpec
from enclii_iac.models.services import ServicesSpec
from enclii_iac.models.tenant import ProjectSpec
from enclii_iac.services.versions import Chart

Manifest = dict[str, Any]

HELM_NAMESPACE = "kube-system"
"""Where HelmChart objects live: k3s's helm-controller runs its install jobs there (exempt from Pod Security)."""


@dataclass(frozen=True)
class Context:
    """What a module needs besides its own section of the spec."""

    services: ServicesSpec
    ingress: IngressSpec
    protect: bool = False
    cluster_cidr: str = "10.42.0.0/16"
    disabled: frozenset[str] = frozenset()
    """k3s components the cluster spec disables (``cluster.disable``)."""
    tenants: Mapping[str, ProjectSpec] = field(default_factory=dict)
    """The platform's tenant projects (Grafana's SLO dashboard is written from the SLOs they declare)."""


@dataclass(frozen=True)
class Planned:
    """One object of a module: ``key`` names its Pulumi resource (``<module component>-<key>``); ``after``
    lists the objects it waits for, as ``module/key``."""

    key: str
    manifest: Manifest
    after: tuple[str, ...] = ()
    protect: bool = False
    secret_input: str | None = None
    """For a Secret: the name of the layer's secret input (e.g. ``alertWebhookUrl``) its ``stringData`` is
    rendered from by ``secret_render``, inside the Output, so the value stays a Pulumi secret."""
    secret_render: Callable[[str | None], dict[str, str]] | None = None


@dataclass(frozen=True)
class Egress:
    """Platform pods every tenant environment may reach (tenants' ``allow-<name>`` NetworkPolicy)."""

    name: str
    namespace: str
    pod_labels: Mapping[str, str]
    ports: Sequence[int]


@dataclass(frozen=True)
class Plan:
    """Everything one module declares."""

    module: str
    objects: list[Planned] = field(default_factory=list)
    crd_groups: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """``group/Kind`` (or a whole ``group``) → keys (of this module) such custom resources wait for."""
    egress: Sequence[Egress] = ()
    scrape: tuple[str, Mapping[str, str]] | None = None
    """(namespace, pod labels) of the pods that scrape tenants' metrics ports."""
    warnings: Sequence[str] = ()

    def ref(self, key: str) -> str:
        return f"{self.module}/{key}"


def labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": defaults.MANAGED_BY, "app.kubernetes.io/part-of": "enclii-platform",
            "app.kubernetes.io/component": component}


def namespace(name: str, component: str, enforce: str = "restricted", warn: str | None = None) -> Manifest:
    """A namespace of the layer with its Pod Security level: ``enforce``d, and audited and warned at ``warn``
    (default: the enforced level)."""
    warn = warn or enforce
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                **labels(component),
                "pod-security.kubernetes.io/enforce": enforce,
                "pod-security.kubernetes.io/audit": warn,
                "pod-security.kubernetes.io/warn": warn,
            },
        },
    }


def helm_chart(name: str, chart: Chart, target_namespace: str, values: Mapping[str, Any]) -> Manifest:
    """A ``helm.cattle.io/v1 HelmChart``: k3s's helm-controller installs ``chart`` at its pinned version."""
    return {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": name, "namespace": HELM_NAMESPACE, "labels": labels(name)},
        "spec": {
            "chart": chart.name,
            "repo": chart.repo,
            "version": chart.version,
            "targetNamespace": target_namespace,
            "createNamespace": False,
            "failurePolicy": "abort",
            "valuesContent": dump_values(values),
        },
    }


def dump_values(values: Mapping[str, Any]) -> str:
    """Helm values as YAML, keys sorted (deterministic); every value is data, never a template."""
    return yaml.safe_dump(dict(values), sort_keys=True, default_flow_style=False)


def network_policy(name: str, ns: str, component: str, spec: Manifest) -> Manifest:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns, "labels": labels(component)}, "spec": spec}


def peer(ns: str, pod_labels: Mapping[str, str] | None = None) -> Manifest:
    out: Manifest = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
    if pod_labels is not None:
        out["podSelector"] = {"matchLabels": dict(sorted(pod_labels.items()))}
    return out


TENANT_NAMESPACES: Manifest = {
    "namespaceSelector": {"matchExpressions": [{"key": "enclii.dev/project", "operator": "Exists"}]}
}
"""Every tenant environment's namespace (each carries its project label)."""


def tcp(*ports: int) -> list[Manifest]:
    return [{"protocol": "TCP", "port": p} for p in ports]


@cache
def vendored_crds() -> tuple[Manifest, ...]:
    """The CRDs of the pinned operator versions (package data, written by tools/vendor_crds.py)."""
    folder = resources.files("enclii_iac.services").joinpath("crds")
    docs = [json.loads(f.read_text()) for f in folder.iterdir() if f.name.endswith(".json")]
    return tuple(sorted(docs, key=lambda d: str(d["metadata"]["name"])))


def crds_of(group: str) -> list[Manifest]:
    """The vendored CRDs of one API group."""
    return [d for d in vendored_crds() if d["spec"]["group"] == group]


def crd_objects(
    groups: Sequence[str], after: tuple[str, ...], protect: bool
) -> tuple[list[Planned], dict[str, list[str]]]:
    """One Planned per CRD of ``groups`` (keyed ``crd-<plural>-<group>``) and the ``group/Kind`` → key map."""
    objects: list[Planned] = []
    by_kind: dict[str, list[str]] = {}
    for group in groups:
        for crd in crds_of(group):
            key = "crd-" + crd["metadata"]["name"].replace(".", "-")
            objects.append(Planned(key, crd, after, protect=protect))
            by_kind[f"{group}/{crd['spec']['names']['kind']}"] = [key]
    return objects, by_kind

"""Ingress: k3s's packaged Traefik reconfigured as the Cloudflare Tunnel's origin (``HelmChartConfig``).

k3s installs Traefik (and its CRDs, through its own ``traefik-crd`` chart) from the charts it ships; the
layer only overrides values: a ClusterIP Service (servicelb is off, so a LoadBalancer would never get an
address), an Ingress status Pulumi's await accepts (Traefik writes its Service's DNS name into every
Ingress it serves), JSON access logs, Prometheus metrics, and X-Forwarded-* headers trusted only from the
pod network, which only cloudflared may reach Traefik's web port from (``network.py``).
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import Field

from enclii_iac.models._base import StrictModel
from enclii_iac.services._plan import HELM_NAMESPACE, Context, Plan, Planned, labels

WEB_PORT = 8000
"""Traefik's ``web`` entrypoint (container port) cloudflared sends tenant hostnames to."""
METRICS_PORT = 9100
"""Traefik's ``metrics`` entrypoint (container port)."""
STATUS_HOSTNAME = "traefik.kube-system.svc.cluster.local"
"""What Traefik writes into every Ingress's ``status.loadBalancer.ingress[0].hostname``."""


class TraefikPort(StrictModel):
    forwarded_headers: dict[str, Any] = Field(default_factory=dict)
    proxy_protocol: dict[str, Any] = Field(default_factory=dict)


class TraefikValues(StrictModel):
    """The subset of the Traefik chart's values the layer sets (k3s's defaults keep the rest)."""

    service: dict[str, Any]
    ports: dict[str, TraefikPort]
    providers: dict[str, Any]
    logs: dict[str, Any]
    metrics: dict[str, Any]
    resources: dict[str, dict[str, str]]
    additional_arguments: list[str]


def values(ctx: Context) -> TraefikValues:
    spec = ctx.services.ingress
    trusted = {"trustedIPs": [str(c) for c in (spec.trusted_cidrs or [ctx.cluster_cidr])], "insecure": False}
    return TraefikValues(
        service={"type": "ClusterIP"},
        ports={"web": TraefikPort(forwarded_headers=trusted), "websecure": TraefikPort(forwarded_headers=trusted)},
        providers={
            "kubernetesIngress": {"publishedService": {"enabled": False}},
            "kubernetesCRD": {"allowCrossNamespace": False},
        },
        logs={"general": {"format": "json"},
              "access": {"enabled": spec.access_logs, "format": "json"}},
        metrics={"prometheus": {"entryPoint": "metrics", "service": {"enabled": True}}},
        resources=spec.size.resources(),
        additional_arguments=[f"--providers.kubernetesingress.ingressendpoint.hostname={STATUS_HOSTNAME}"],
    )


def plan(ctx: Context) -> Plan:
    spec = ctx.services.ingress
    if not spec.enabled or "traefik" in ctx.disabled:
        return Plan("ingress")
    body = values(ctx).model_dump(mode="json", by_alias=True, exclude_defaults=True)
    config = {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChartConfig",
        "metadata": {"name": "traefik", "namespace": HELM_NAMESPACE, "labels": labels("ingress")},
        "spec": {"valuesContent": yaml.safe_dump(body, sort_keys=True)},
    }
    return Plan("ingress", [Planned("traefik-config", config)], crd_groups={"traefik.io": ["traefik-config"]})

"""The platform-services layer: what runs in the cluster for every tenant, between the cluster and tenants.

One module per capability, each a pure ``plan(ctx) -> Plan`` (``_plan.py``): ``namespaces``, ``ingress``
(k3s's Traefik as the tunnel's origin), ``monitoring`` (kube-prometheus-stack), ``logging`` (Loki + Alloy),
``tracing`` (Tempo + OpenTelemetry collector), ``grafana`` (dashboards as code), ``keda``,
``metrics_server`` and ``network``. :class:`PlatformServices` declares them in ``MODULES`` order and hands
tenants its :class:`~enclii_iac.kube.hooks.PlatformHooks`.
"""

from enclii_iac.services.layer import MODULES, PlatformService, PlatformServices, context, plans

__all__ = ["MODULES", "PlatformService", "PlatformServices", "context", "plans"]

"""Network policies of the layer's own namespaces, and of k3s's Traefik.

- observability namespace: no ingress except from its own pods, and OTLP (4317/4318) to the collector from
  tenant namespaces; every tenant environment gets the matching egress (``allow-otel-collector``) and each
  service with ``metrics`` admits Prometheus on its metrics port (``<svc>-from-monitoring``).
- node agents' namespace: no ingress except from Prometheus.
- Traefik (kube-system): its web port only from cloudflared's namespace (so the forwarded headers Traefik
  trusts can only come from cloudflared), its metrics port only from Prometheus.
"""

from __future__ import annotations

from enclii_iac.services import ingress, monitoring, tracing
from enclii_iac.services._plan import TENANT_NAMESPACES, Context, Plan, Planned, network_policy, peer, tcp
from enclii_iac.services.namespaces import observability


def plan(ctx: Context) -> Plan:
    s = ctx.services
    objects: list[Planned] = []
    prometheus = peer(s.namespace, monitoring.PROMETHEUS_POD_LABELS)
    if observability(ctx):
        ns = s.namespace
        after = ("namespaces/monitoring",)
        objects += [
            Planned("monitoring-default-deny", network_policy("default-deny-ingress", ns, "network", {
                "podSelector": {}, "policyTypes": ["Ingress"]}), after),
            Planned("monitoring-same-namespace", network_policy("allow-same-namespace", ns, "network", {
                "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]}), after),
        ]
        if s.tracing.enabled:
            objects.append(Planned("monitoring-otlp", network_policy("allow-otlp-from-tenants", ns, "network", {
                "podSelector": {"matchLabels": dict(tracing.COLLECTOR_POD_LABELS)},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [TENANT_NAMESPACES], "ports": tcp(*tracing.OTLP_PORTS)}]}), after))
    if s.monitoring.enabled or s.logging.enabled:
        objects.append(Planned("node-prometheus-only", network_policy("allow-prometheus-only", s.node_namespace,
                                                                   "network", {
            "podSelector": {}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [prometheus]}] if s.monitoring.enabled else []}), ("namespaces/node",)))
    if s.ingress.enabled and "traefik" not in ctx.disabled:
        rules = [{"from": [peer(ctx.ingress.tunnel_namespace)], "ports": tcp(ingress.WEB_PORT)}]
        if s.monitoring.enabled:
            rules.append({"from": [prometheus], "ports": tcp(ingress.METRICS_PORT)})
        objects.append(Planned("traefik", network_policy("traefik-from-tunnel", ctx.ingress.namespace, "network", {
            "podSelector": {"matchLabels": dict(sorted(ctx.ingress.pod_labels.items()))},
            "policyTypes": ["Ingress"], "ingress": rules})))
    return Plan("network", objects)

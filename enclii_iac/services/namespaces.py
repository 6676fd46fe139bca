"""The layer's namespaces: observability (``monitoring``), node agents (``monitoring-node``) and KEDA.

Only the node agents' namespace is Pod Security ``privileged`` (node-exporter reads the host's /proc and
/sys with host networking; the log agent reads /var/log/pods). The others enforce ``baseline`` and warn and
audit at ``restricted``: the charts' pods are written for restricted, but one chart release that is not
must not stop the platform from starting.
"""

from __future__ import annotations

from enclii_iac.services._plan import Context, Plan, Planned, namespace


def observability(ctx: Context) -> bool:
    s = ctx.services
    return s.monitoring.enabled or s.logging.enabled or s.grafana.enabled or s.tracing.enabled


def plan(ctx: Context) -> Plan:
    s = ctx.services
    objects: list[Planned] = []
    keep = ctx.protect  # the namespaces hold the volumes of Prometheus, Loki and Tempo
    if observability(ctx):
        objects.append(Planned("monitoring", namespace(s.namespace, "monitoring", "baseline", "restricted"),
                               protect=keep))
    if s.monitoring.enabled or s.logging.enabled:
        objects.append(Planned("node", namespace(s.node_namespace, "node-agents", "privileged"), protect=keep))
    if s.keda.enabled:
        objects.append(Planned("keda", namespace(s.keda_namespace, "keda", "baseline", "restricted"), protect=keep))
    return Plan("namespaces", objects)

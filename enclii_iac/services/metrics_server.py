"""metrics-server, for tenants' HPAs: k3s ships one, so the layer installs the chart only when the cluster
spec disables k3s's (``cluster.disable: [metrics-server]``)."""

from __future__ import annotations

from enclii_iac.models._base import StrictModel
from enclii_iac.services._plan import Context, Plan, Planned, helm_chart
from enclii_iac.services.versions import METRICS_SERVER


class MetricsServerValues(StrictModel):
    resources: dict[str, dict[str, str]]
    replicas: int = 1


def plan(ctx: Context) -> Plan:
    if "metrics-server" not in ctx.disabled:
        return Plan("metrics-server")
    values = MetricsServerValues(resources=ctx.services.metrics_server.size.resources())
    chart = helm_chart("metrics-server", METRICS_SERVER, "kube-system", values.model_dump(mode="json", by_alias=True))
    return Plan("metrics-server", [Planned("chart", chart)])

"""KEDA: event-driven autoscaling (ScaledObject) for tenants, its CRDs declared from the pinned version.

The chart runs with ``crds.install: false``; the CRDs of KEDA v2.21.0 (``crds/``) are Pulumi resources and
every tenant ScaledObject depends on them. The admission webhook fails open (``Ignore``), so a ScaledObject
declared while KEDA's pods start is accepted; the CRD schema still validates it.
"""

from __future__ import annotations

from typing import Any

from enclii_iac.models._base import StrictModel
from enclii_iac.services._plan import Context, Plan, Planned, crd_objects, helm_chart
from enclii_iac.services.versions import KEDA

GROUPS = ("keda.sh", "eventing.keda.sh")


class KedaValues(StrictModel):
    """The values of the KEDA chart the layer sets."""

    crds: dict[str, bool]
    resources: dict[str, dict[str, dict[str, str]]]
    webhooks: dict[str, Any]


def values(ctx: Context) -> KedaValues:
    res = ctx.services.keda.size.resources()
    return KedaValues(
        crds={"install": False},
        resources={"operator": res, "metricServer": res, "webhooks": res},
        webhooks={"enabled": True, "failurePolicy": "Ignore"},
    )


def plan(ctx: Context) -> Plan:
    if not ctx.services.keda.enabled:
        return Plan("keda")
    crds, groups = crd_objects(GROUPS, (), ctx.protect)
    chart = helm_chart("keda", KEDA, ctx.services.keda_namespace, values(ctx).model_dump(mode="json", by_alias=True))
    after = ("namespaces/keda", *(f"keda/{k}" for keys in groups.values() for k in keys))
    return Plan("keda", [*crds, Planned("chart", chart, after)], crd_groups=groups)

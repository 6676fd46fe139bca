"""Budget caps and the usage assumptions of the cost estimate (pure pydantic, no Pulumi)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from enclii_iac.models._base import ShortLabel, StrictModel

Currency = Literal["EUR", "USD"]


class BudgetSpec(StrictModel):
    """A monthly cap. On the platform it caps the whole bill; on a project or an environment it caps that part of
    the showback (its share of the servers by requests, plus its custom hostnames). ``synth``, ``pulumi up`` and
    the preview stack refuse a spec whose estimate passes a cap, before any resource is declared."""

    monthly: Decimal = Field(gt=0, max_digits=12, decimal_places=2, description="Cap per month, e.g. 60.00.")
    currency: Currency = Field("USD", description="EUR or USD. Default: USD.")


class BucketUsage(StrictModel):
    """What one R2 bucket is assumed to receive and serve per month (the estimate cannot know it)."""

    ingest_gb_per_day: Decimal = Field(Decimal("0.1"), ge=0, description="GB written per day. Default: 0.1.")
    class_a_per_month: Decimal = Field(Decimal(10_000), ge=0, description="Writes and lists per month.")
    class_b_per_month: Decimal = Field(Decimal(100_000), ge=0, description="Reads per month.")
    retained_days: int = Field(
        365, ge=1, le=36500,
        description="Days an object is kept when no lifecycle rule expires it (a year of growth). Default: 365.",
    )


class UsageAssumptions(StrictModel):
    """Usage the estimate assumes: explicit, printed with every bill and overridable (``--usage FILE``)."""

    buckets: dict[ShortLabel, BucketUsage] = Field(
        default_factory=dict, description="By bucket name; a bucket not listed gets `default`."
    )
    default: BucketUsage = Field(default_factory=BucketUsage)
    cpu_weight: Decimal = Field(Decimal("0.5"), ge=0, le=1,
                                description="Share of the servers' price carried by CPU requests. Default: 0.5.")
    memory_weight: Decimal = Field(Decimal("0.4"), ge=0, le=1,
                                   description="Share carried by memory requests. Default: 0.4.")
    storage_weight: Decimal = Field(Decimal("0.1"), ge=0, le=1,
                                    description="Share carried by volume claims. Default: 0.1.")

    def bucket(self, name: str) -> BucketUsage:
        return self.buckets.get(name, self.default)

    @model_validator(mode="after")
    def _weights(self) -> UsageAssumptions:
        total = self.cpu_weight + self.memory_weight + self.storage_weight
        if total != 1:
            raise ValueError(f"cpuWeight + memoryWeight + storageWeight must add up to 1 (got {total})")
        return self



LabelKey = Annotated[str, Field(pattern=r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")]

OPENCOST_IMAGE = "ghcr.io/opencost/opencost:1.113.0"
"""OpenCost's exporter, pinned by tag; pin it by digest (``metering.image``) once you have checked one."""


class MeteringSpec(StrictModel):
    """In-cluster usage metering: OpenCost prices what pods actually use with the AX41's price from the sheet, so
    Grafana shows actual cost per namespace beside the estimate, and Prometheus alerts when a project's run-rate
    passes its budget. Needs Prometheus (with the Prometheus Operator's CRDs) and Grafana's dashboard sidecar."""

    enabled: bool = Field(False, description="Declare OpenCost, its dashboard and its alert rules. Default: off.")
    namespace: ShortLabel = Field("opencost", description="Namespace of OpenCost. Default: opencost.")
    image: str = Field(OPENCOST_IMAGE, pattern=r"^[a-z0-9./-]+(:[A-Za-z0-9._-]+)?(@sha256:[0-9a-f]{64})?$",
                       description="OpenCost image. Default: a pinned release tag.")
    prometheus_url: str = Field(
        "http://prometheus-operated.monitoring.svc:9090", pattern=r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?(/[\w./-]*)?$",
        description="Prometheus OpenCost reads usage from. Default: the Prometheus Operator's service in "
        "monitoring.",
    )
    monitoring_namespace: ShortLabel = Field(
        "monitoring", description="Namespace of Prometheus and Grafana (the dashboard ConfigMap goes there; only it "
        "may reach OpenCost). Default: monitoring.",
    )
    dashboard_label: ShortLabel = Field("grafana_dashboard", description="Label Grafana's sidecar watches.")
    rule_labels: dict[LabelKey, ShortLabel] = Field(
        default_factory=dict, description="Labels the Prometheus rule selector needs (e.g. release: prometheus).")
    alert_for: Annotated[str, Field(pattern=r"^[0-9]+[smh]$")] = Field(
        "1h", description="How long the run-rate must stay over budget before the alert fires. Default: 1h.")

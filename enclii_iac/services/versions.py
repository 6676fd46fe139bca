"""Pinned versions of everything the platform-services layer installs: charts and the CRDs of their operators.

Each chart is pinned to one version whose operator matches the CRDs vendored in ``crds/`` (the engine tier
applies the same CRD versions). Bumping a chart means bumping its CRD source here, running
``tools/vendor_crds.py`` and regenerating the golden files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Chart:
    """A Helm chart installed by k3s's helm-controller (``helm.cattle.io/v1 HelmChart``)."""

    name: str
    repo: str
    version: str
    app_version: str


PROMETHEUS_COMMUNITY: Final = "https://prometheus-community.github.io/helm-charts"
GRAFANA_CHARTS: Final = "https://grafana.github.io/helm-charts"

KUBE_PROMETHEUS_STACK: Final = Chart("kube-prometheus-stack", PROMETHEUS_COMMUNITY, "77.0.0", "v0.85.0")
"""Prometheus Operator v0.85.0 (the chart's appVersion), Prometheus, Alertmanager, node-exporter and
kube-state-metrics; installed with ``crds.enabled: false`` (the CRDs below are declared by Pulumi)."""
LOKI: Final = Chart("loki", GRAFANA_CHARTS, "6.40.0", "3.5.5")
"""Loki in single-binary mode on the node's disk (filesystem storage)."""
ALLOY: Final = Chart("alloy", GRAFANA_CHARTS, "1.2.1", "v1.10.2")
"""Grafana Alloy: tails every pod's logs through the Kubernetes API (no host mounts) into Loki."""
GRAFANA: Final = Chart("grafana", GRAFANA_CHARTS, "10.0.0", "12.1.1")
"""Grafana with the dashboard sidecar: dashboards are ConfigMaps the layer declares."""
TEMPO: Final = Chart("tempo", GRAFANA_CHARTS, "1.23.3", "2.8.2")
"""Tempo (single binary, local storage): traces tenants send through the collector."""
OTEL_COLLECTOR: Final = Chart(
    "opentelemetry-collector", "https://open-telemetry.github.io/opentelemetry-helm-charts", "0.134.0", "0.134.0"
)
"""The OpenTelemetry collector (deployment mode, OTLP in, traces to Tempo): what tenants send to."""
KEDA: Final = Chart("keda", "https://kedacore.github.io/charts", "2.21.0", "2.21.0")
"""KEDA v2.21.0, installed with ``crds.install: false`` (the CRDs below are declared by Pulumi)."""
METRICS_SERVER: Final = Chart(
    "metrics-server", "https://kubernetes-sigs.github.io/metrics-server/", "3.13.0", "0.8.0"
)
"""Only on a cluster whose spec disables k3s's own metrics-server."""

CHARTS: Final = (KUBE_PROMETHEUS_STACK, LOKI, ALLOY, GRAFANA, TEMPO, OTEL_COLLECTOR, KEDA, METRICS_SERVER)

PROMETHEUS_OPERATOR_MODULE: Final = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
KEDA_MODULE: Final = "github.com/kedacore/keda/v2@v2.21.0"

CRD_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    PROMETHEUS_OPERATOR_MODULE: tuple(
        f"example/prometheus-operator-crd/monitoring.coreos.com_{kind}.yaml"
        for kind in (
            "alertmanagerconfigs", "alertmanagers", "podmonitors", "probes", "prometheusagents", "prometheuses",
            "prometheusrules", "scrapeconfigs", "servicemonitors", "thanosrulers",
        )
    ),
    KEDA_MODULE: tuple(
        f"config/crd/bases/{kind}.yaml"
        for kind in (
            "keda.sh_scaledobjects", "keda.sh_scaledjobs", "keda.sh_triggerauthentications",
            "keda.sh_clustertriggerauthentications", "eventing.keda.sh_cloudeventsources",
            "eventing.keda.sh_clustercloudeventsources",
        )
    ),
}
"""Go module → CRD files of the operator versions the charts above run (vendored by tools/vendor_crds.py)."""

HELM_CONTROLLER_MODULE: Final = "github.com/k3s-io/helm-controller@v0.16.27"
"""k3s's embedded helm-controller (HelmChart, HelmChartConfig). k3s brings these CRDs itself, so the layer
never declares them; the tests validate the layer's HelmChart objects against them and the engine tier
applies them (tools/engine/build.sh ``helmcrds``)."""

TEST_CRD_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    HELM_CONTROLLER_MODULE: tuple(
        f"pkg/crds/yaml/generated/helm.cattle.io_{kind}.yaml" for kind in ("helmcharts", "helmchartconfigs")
    ),
}
"""CRDs the tests validate against but the layer does not declare (vendored into tests/crds/)."""

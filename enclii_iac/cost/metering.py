"""Usage metering: OpenCost in the cluster, priced with the AX41's price from the sheet.

``metering_manifests`` renders (pure) what OpenCost needs: its namespace, its custom pricing as a ConfigMap
(CPU, memory and storage per hour, from the same unit prices as the showback), read-only RBAC, the exporter's
Deployment and Service, a NetworkPolicy letting only the monitoring namespace in, a ServiceMonitor, a Grafana
dashboard ConfigMap (labelled for Grafana's sidecar) showing actual cost per namespace beside the estimate, and a
PrometheusRule: recording rules for the actual monthly run-rate and the estimate per namespace, and an alert per
project or environment budget. ``UsageMetering`` declares them with explicit providers.

The actual run-rate uses OpenCost's allocation metrics (``container_cpu_allocation``,
``container_memory_allocation_bytes``) times its node prices (``node_cpu_hourly_cost``,
``node_ram_hourly_cost``), times 730 hours a month.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac.cost.estimate import GB, GIB, Bill, estimate
from enclii_iac.cost.inventory import inventory_from_spec
from enclii_iac.cost.prices import load_prices
from enclii_iac.kube.hooks import PlatformHooks
from enclii_iac.models.cost import MeteringSpec
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.naming import child_name, namespace_name, type_token
from enclii_iac.render.kube import resource_args as _args

Manifest = dict[str, Any]
TYPE_USAGE_METERING = type_token("UsageMetering")
HOURS_PER_MONTH = Decimal(730)
PORT = 9003
NAME = "opencost"
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "enclii-metering",
          "app.kubernetes.io/managed-by": "enclii-iac"}
RUN_RATE = "enclii:namespace_cost_monthly"
ESTIMATE = "enclii:namespace_cost_estimate_monthly"


def _meta(name: str, namespace: str | None = None, labels: dict[str, str] | None = None) -> Manifest:
    meta: Manifest = {"name": name, "labels": {**LABELS, **(labels or {})}}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def custom_pricing(bill: Bill) -> dict[str, str]:
    """OpenCost's ``default.json``: hourly prices per CPU, GiB of memory and GiB of storage, from the bill's unit
    prices (the servers' price shared by the showback weights over the nodes' capacity)."""
    per_cpu = bill.unit_prices["cpu"]
    per_gib = bill.unit_prices["memoryGi"]
    per_storage_gib = bill.unit_prices["storageGb"] * GIB / GB
    q = Decimal("0.000001")
    return {
        "provider": "custom",
        "description": f"enclii_iac price sheet ({bill.assumptions.get('priceSheet', '')}), {bill.currency}",
        "CPU": str((per_cpu / HOURS_PER_MONTH).quantize(q)),
        "spotCPU": str((per_cpu / HOURS_PER_MONTH).quantize(q)),
        "RAM": str((per_gib / HOURS_PER_MONTH).quantize(q)),
        "spotRAM": str((per_gib / HOURS_PER_MONTH).quantize(q)),
        "GPU": "0",
        "storage": str((per_storage_gib / HOURS_PER_MONTH).quantize(q)),
        "zoneNetworkEgress": "0",
        "regionNetworkEgress": "0",
        "internetNetworkEgress": "0",
    }


def _run_rate_expr() -> str:
    return (
        "sum by (namespace) ("
        "container_cpu_allocation * on (node) group_left () avg by (node) (node_cpu_hourly_cost)"
        " + container_memory_allocation_bytes / 1073741824 * on (node) group_left () "
        "avg by (node) (node_ram_hourly_cost)"
        f") * {HOURS_PER_MONTH}"
    )


def _namespaces_re(namespaces: list[str]) -> str:
    return "^(" + "|".join(sorted(namespaces)) + ")$"


def budget_alerts(spec: PlatformSpec, bill: Bill, metering: MeteringSpec) -> list[Manifest]:
    """One alert per project or environment budget, in the bill's currency."""
    sheet = load_prices()
    rules: list[Manifest] = []
    for project, pspec in sorted(spec.tenants.items()):
        ident = pspec.identity(project)
        caps: list[tuple[str, list[str], Any]] = []
        if pspec.budget is not None:
            caps.append(("", [namespace_name(ident, e) for e in pspec.environments], pspec.budget))
        for env_name, env in sorted(pspec.environments.items()):
            if env.budget is not None:
                caps.append((env_name, [namespace_name(ident, env_name)], env.budget))
        for env_name, namespaces, cap in caps:
            amount = sheet.convert(cap.monthly, cap.currency, bill.currency).quantize(Decimal("0.01"))
            what = f"{project}/{env_name}" if env_name else f"project {project}"
            labels = {"severity": "warning", "enclii_project": project}
            if env_name:
                labels["enclii_environment"] = env_name
            rules.append({
                "alert": "EncliiEnvironmentOverBudget" if env_name else "EncliiProjectOverBudget",
                "expr": f'sum({RUN_RATE}{{namespace=~"{_namespaces_re(namespaces)}"}}) > {amount}',
                "for": metering.alert_for,
                "labels": labels,
                "annotations": {
                    "summary": f"{what} runs at more than its budget of {cap.monthly} {cap.currency} a month",
                    "description": f"actual monthly run-rate of {what} (OpenCost allocation x the AX41's price) is "
                                   f"{{{{ $value | printf \"%.2f\" }}}} {bill.currency}, over {amount} "
                                   f"{bill.currency} ({cap.monthly} {cap.currency})",
                },
            })
    return rules


def prometheus_rule(spec: PlatformSpec, bill: Bill, metering: MeteringSpec) -> Manifest:
    estimates = [
        {"record": ESTIMATE, "expr": f"vector({p.requested})",
         "labels": {"namespace": namespace_name(spec.tenants[p.project].identity(p.project), p.environment)}}
        for p in bill.environments() if p.project in spec.tenants
    ]
    groups: list[Manifest] = [
        {"name": "enclii-cost-run-rate", "interval": "5m", "rules": [{"record": RUN_RATE, "expr": _run_rate_expr()}]},
    ]
    if estimates:
        groups.append({"name": "enclii-cost-estimate", "interval": "1h", "rules": estimates})
    alerts = budget_alerts(spec, bill, metering)
    if alerts:
        groups.append({"name": "enclii-cost-budgets", "rules": alerts})
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _meta("enclii-cost", metering.namespace, dict(metering.rule_labels)),
        "spec": {"groups": groups},
    }


def dashboard(bill: Bill) -> Manifest:
    """A Grafana dashboard: actual monthly run-rate per namespace beside the estimate."""
    c = bill.currency

    def panel(pid: int, title: str, expr: str, kind: str, y: int) -> Manifest:
        return {
            "id": pid, "title": title, "type": kind, "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 9, "w": 24, "x": 0, "y": y},
            "fieldConfig": {"defaults": {"unit": f"currency{c}", "decimals": 2}, "overrides": []},
            "targets": [{"refId": "A", "expr": expr, "legendFormat": "{{namespace}}", "instant": kind == "table"}],
        }

    return {
        "uid": "enclii-cost", "title": "Enclii cost", "schemaVersion": 39, "version": 1, "editable": False,
        "tags": ["enclii", "cost"], "time": {"from": "now-7d", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": [
            panel(1, f"Monthly run-rate per namespace ({c}, actual)", RUN_RATE, "timeseries", 0),
            panel(2, f"Actual vs estimate per namespace ({c}/month)",
                  f"{RUN_RATE} or {ESTIMATE}", "table", 9),
            panel(3, f"Estimate per namespace ({c}/month, from requests)", ESTIMATE, "table", 18),
        ],
    }


def metering_manifests(spec: PlatformSpec, metering: MeteringSpec, bill: Bill | None = None) -> list[Manifest]:
    """Every object OpenCost metering needs (see the module docstring), in apply order."""
    bill = bill or estimate(spec, inventory_from_spec(spec))
    ns = metering.namespace
    selector = {"app.kubernetes.io/name": NAME}
    psa = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "audit", "warn")}
    read = ["get", "list", "watch"]
    token_volume = {
        "name": "api-token",
        "projected": {"sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
        ]},
    }
    container = {
        "name": NAME,
        "image": metering.image,
        "imagePullPolicy": "Always",
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": [
            {"name": "PROMETHEUS_SERVER_ENDPOINT", "value": metering.prometheus_url},
            {"name": "CLUSTER_ID", "value": spec.name},
            {"name": "CONFIG_PATH", "value": "/var/configs/"},
            {"name": "EMIT_KSM_V1_METRICS", "value": "false"},
        ],
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
                      "limits": {"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 30,
                          "periodSeconds": 20, "failureThreshold": 6},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                            "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [
            {"name": "pricing", "mountPath": "/var/configs", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "api-token", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True},
        ],
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(ns, labels=psa)},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("opencost-custom-pricing", ns),
         "data": {"default.json": json.dumps(custom_pricing(bill), indent=2, sort_keys=True) + "\n"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME, ns),
         "automountServiceAccountToken": False},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _meta("enclii-opencost"),
         "rules": [
             {"apiGroups": [""], "resources": ["configmaps", "endpoints", "limitranges", "namespaces", "nodes",
                                               "persistentvolumeclaims", "persistentvolumes", "pods",
                                               "replicationcontrollers", "resourcequotas", "services"],
              "verbs": read},
             {"apiGroups": ["apps"], "resources": ["daemonsets", "deployments", "replicasets", "statefulsets"],
              "verbs": read},
             {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": read},
             {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": read},
             {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": read},
             {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": read},
         ]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": _meta("enclii-opencost"),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "enclii-opencost"},
         "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}]},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(NAME, ns),
         "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                      "kubernetes.io/metadata.name": metering.monitoring_namespace}}}],
                      "ports": [{"port": PORT, "protocol": "TCP"}]}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(NAME, ns),
         "spec": {
             "replicas": 1,
             "revisionHistoryLimit": 5,
             "selector": {"matchLabels": selector},
             "strategy": {"type": "Recreate"},
             "template": {
                 "metadata": {"labels": {**LABELS}},
                 "spec": {
                     "serviceAccountName": NAME,
                     "automountServiceAccountToken": False,
                     "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                         "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [container],
                     "volumes": [
                         {"name": "pricing", "configMap": {"name": "opencost-custom-pricing"}},
                         {"name": "tmp", "emptyDir": {"sizeLimit": "128Mi"}},
                         token_volume,
                     ],
                 },
             },
         }},
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(NAME, ns),
         "spec": {"type": "ClusterIP", "selector": selector,
                  "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}]}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
         "metadata": _meta(NAME, ns, dict(metering.rule_labels)),
         "spec": {"selector": {"matchLabels": selector}, "namespaceSelector": {"matchNames": [ns]},
                  "endpoints": [{"port": "http", "path": "/metrics", "interval": "1m"}]}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": _meta("enclii-cost-dashboard", metering.monitoring_namespace, {metering.dashboard_label: "1"}),
         "data": {"enclii-cost.json": json.dumps(dashboard(bill), indent=2, sort_keys=True) + "\n"}},
        prometheus_rule(spec, bill, metering),
    ]


_TYPED: dict[str, Any] = {
    "Namespace": k8s.core.v1.Namespace,
    "ConfigMap": k8s.core.v1.ConfigMap,
    "ServiceAccount": k8s.core.v1.ServiceAccount,
    "Service": k8s.core.v1.Service,
    "ClusterRole": k8s.rbac.v1.ClusterRole,
    "ClusterRoleBinding": k8s.rbac.v1.ClusterRoleBinding,
    "NetworkPolicy": k8s.networking.v1.NetworkPolicy,
    "Deployment": k8s.apps.v1.Deployment,
}


class UsageMetering(pulumi.ComponentResource):
    """OpenCost with the sheet's AX41 price, its Grafana dashboard and budget alerts (``metering_manifests``).

    >>> UsageMetering("enclii-metering", MeteringSpec(enabled=True), platform=spec, provider=k8s_provider)
    """

    def __init__(
        self,
        name: str,
        args: MeteringSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        platform: PlatformSpec,
        provider: k8s.Provider,
        bill: Bill | None = None,
        hooks: PlatformHooks | None = None,
    ) -> None:
        manifests = metering_manifests(platform, args, bill)  # rendered (and checked) before anything is declared
        super().__init__(TYPE_USAGE_METERING, name, None, opts)
        self.objects: dict[str, pulumi.CustomResource] = {}
        here = pulumi.ResourceOptions(parent=self, provider=provider)
        namespace: pulumi.Resource | None = None
        for manifest in manifests:
            kind = manifest["kind"]
            key = f"{kind.lower()}-{manifest['metadata']['name']}"
            child_opts = here if namespace is None or kind == "Namespace" else pulumi.ResourceOptions.merge(
                here, pulumi.ResourceOptions(depends_on=[namespace]))
            resource: pulumi.CustomResource
            if kind in _TYPED:
                resource = _TYPED[kind](child_name(name, key), **_args(manifest), opts=child_opts)
            else:  # a ServiceMonitor or PrometheusRule waits for the layer's CRD of its kind
                crds = hooks.installs(manifest["apiVersion"], kind) if hooks is not None else []
                resource = k8s.apiextensions.CustomResource(
                    child_name(name, key), api_version=manifest["apiVersion"], kind=kind,
                    metadata=manifest["metadata"], spec=manifest["spec"],
                    opts=pulumi.ResourceOptions.merge(child_opts, pulumi.ResourceOptions(depends_on=crds)))
            if kind == "Namespace":
                namespace = resource
            self.objects[key] = resource
        self.namespace: pulumi.Output[str] = pulumi.Output.from_input(args.namespace)
        self.register_outputs({"namespace": self.namespace})

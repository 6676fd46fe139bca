"""PlatformServices: the platform-services layer, one child component per module, declared from the Plans."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac.kube.hooks import EgressTarget, PlatformHooks, ScrapeSource
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.naming import child_name, type_token
from enclii_iac.services import (
    grafana,
    ingress,
    keda,
    logging,
    metrics_server,
    monitoring,
    namespaces,
    network,
    tracing,
)
from enclii_iac.services._plan import Context, Manifest, Plan, Planned

TYPE_PLATFORM_SERVICES = type_token("PlatformServices")
TYPE_PLATFORM_SERVICE = type_token("PlatformService")

MODULES: tuple[Callable[[Context], Plan], ...] = (
    namespaces.plan,
    ingress.plan,
    monitoring.plan,
    logging.plan,
    tracing.plan,
    grafana.plan,
    keda.plan,
    metrics_server.plan,
    network.plan,
)
"""The layer's modules, in declaration order; a further service is one more module and one line here."""


def context(spec: PlatformSpec) -> Context:
    """The Context of a platform whose cluster the platform manages."""
    cluster = spec.cluster
    return Context(
        services=spec.services,
        ingress=spec.ingress,
        protect=spec.protect,
        cluster_cidr=cluster.cluster_cidr if cluster is not None else "10.42.0.0/16",
        disabled=frozenset(cluster.disabled_components if cluster is not None else ()),
        tenants=dict(spec.tenants),
    )


def plans(ctx: Context) -> list[Plan]:
    """Every module's Plan (pure: what the layer declares, as manifests)."""
    return [module(ctx) for module in MODULES]


class PlatformService(pulumi.ComponentResource):
    """One module of the layer (``<layer>-<module>``); children are ``<layer>-<module>-<key>``."""

    def __init__(self, name: str, plan: Plan, opts: pulumi.ResourceOptions, *,
                 declared: Mapping[str, pulumi.Resource], secrets: Mapping[str, pulumi.Input[str]]) -> None:
        super().__init__(TYPE_PLATFORM_SERVICE, name, None, opts)
        self.plan = plan
        self.resources: dict[str, pulumi.Resource] = {}
        for obj in plan.objects:
            deps = [self.resources.get(a.split("/", 1)[1]) if a.startswith(plan.module + "/") else declared.get(a)
                    for a in obj.after]
            missing = [a for a, d in zip(obj.after, deps, strict=True) if d is None]
            if missing:
                raise ValueError(f"{plan.module}/{obj.key}: waits for undeclared {missing} (module order in MODULES)")
            res_opts = pulumi.ResourceOptions(parent=self, depends_on=[d for d in deps if d is not None],
                                              protect=obj.protect, retain_on_delete=obj.protect or None)
            self.resources[obj.key] = declare(child_name(name, obj.key), obj, res_opts, secrets)
        self.register_outputs({})


def declare(name: str, obj: Planned, opts: pulumi.ResourceOptions,
            secrets: Mapping[str, pulumi.Input[str]]) -> pulumi.Resource:
    """The typed pulumi-kubernetes resource of one planned manifest (a CustomResource for other kinds)."""
    m: Manifest = obj.manifest
    kind, meta = m["kind"], m["metadata"]
    if kind == "Namespace":
        return k8s.core.v1.Namespace(name, metadata=meta, opts=opts)
    if kind == "NetworkPolicy":
        return k8s.networking.v1.NetworkPolicy(name, metadata=meta, spec=m["spec"], opts=opts)
    if kind == "ConfigMap":
        return k8s.core.v1.ConfigMap(name, metadata=meta, data=m["data"], opts=opts)
    if kind == "CustomResourceDefinition":
        return k8s.apiextensions.v1.CustomResourceDefinition(name, metadata=meta, spec=m["spec"], opts=opts)
    if kind == "Secret":
        assert obj.secret_render is not None and obj.secret_input is not None
        render = obj.secret_render
        given = secrets.get(obj.secret_input)
        data: pulumi.Input[Any] = (pulumi.Output.secret(given).apply(lambda v: render(v))
                                   if given is not None else pulumi.Output.secret(render(None)))
        secret_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            additional_secret_outputs=["data", "stringData"]))
        return k8s.core.v1.Secret(name, metadata=meta, type=m["type"], string_data=data, opts=secret_opts)
    return k8s.apiextensions.CustomResource(name, api_version=m["apiVersion"], kind=kind, metadata=meta,
                                            spec=m["spec"], opts=opts)


class PlatformServices(pulumi.ComponentResource):
    """The platform's in-cluster services (ingress origin, monitoring, logging, Grafana, tracing, KEDA,
    metrics-server, network policies), installed after the cluster and before any tenant.

    >>> services = PlatformServices("enclii-services", spec, provider=cluster.provider)
    >>> TenantProject("shop", project, provider=cluster.provider, hooks=services.hooks)
    """

    namespaces: pulumi.Output[list[str]]
    charts: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        args: PlatformSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: k8s.Provider,
        secrets: Mapping[str, pulumi.Input[str]] | None = None,
    ) -> None:
        """Declare every module of the layer for the platform ``args`` (its ``services`` section).

        :param provider: the cluster's Kubernetes provider.
        :param secrets: secret inputs by config key (``alertWebhookUrl``: Alertmanager's receiver URL); one
            left out is rendered without it and reported as a warning.
        """
        ctx = context(args)
        planned = plans(ctx)
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers=[provider]))
        super().__init__(TYPE_PLATFORM_SERVICES, name, None, opts)
        given = dict(secrets or {})
        self.modules: dict[str, PlatformService] = {}
        declared: dict[str, pulumi.Resource] = {}
        crds: dict[str, list[pulumi.Resource]] = {}
        egress: list[EgressTarget] = []
        scrape: ScrapeSource | None = None
        for plan in planned:
            for obj in plan.objects:
                if obj.secret_input is not None and obj.secret_input not in given:
                    pulumi.log.warn(f"secret enclii:{obj.secret_input} is unset: {plan.module}/{obj.key} is declared "
                                    "without it (Alertmanager drops every alert); set it with pulumi config set "
                                    f"--secret enclii:{obj.secret_input} URL")
            if not plan.objects:
                continue
            module = PlatformService(child_name(name, plan.module), plan, pulumi.ResourceOptions(parent=self),
                                     declared=declared, secrets=given)
            self.modules[plan.module] = module
            declared.update({plan.ref(k): r for k, r in module.resources.items()})
            for group, keys in plan.crd_groups.items():
                crds.setdefault(group, []).extend(module.resources[k] for k in keys)
            egress += [EgressTarget(e.name, e.namespace, e.pod_labels, e.ports) for e in plan.egress]
            if plan.scrape is not None:
                scrape = ScrapeSource(*plan.scrape)
        self.hooks = PlatformHooks(crds=crds, egress=tuple(egress), scrape=scrape)
        """What tenants get from the layer: CRD dependencies, egress to the collector, who scrapes them."""
        names = sorted(o.manifest["metadata"]["name"] for p in planned for o in p.objects
                       if o.manifest["kind"] == "Namespace")
        charts = sorted(f"{o.manifest['spec']['chart']}@{o.manifest['spec']['version']}" for p in planned
                        for o in p.objects if o.manifest["kind"] == "HelmChart")
        self.namespaces = pulumi.Output.from_input(names)
        self.charts = pulumi.Output.from_input(charts)
        self.register_outputs({"namespaces": self.namespaces, "charts": self.charts})

"""TenantProject, TenantEnvironment and TenantService: tenant workloads as Pulumi components.

Every child is parented to its component and inherits the explicit Kubernetes provider given to the
project or environment; nothing uses an ambient default provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac.errors import SpecError, SpecIssue
from enclii_iac.kube.hooks import PlatformHooks
from enclii_iac.models.identity import OidcSpec
from enclii_iac.models.platform import IngressSpec
from enclii_iac.models.service import ServiceSpec, ServiceType
from enclii_iac.models.tenant import EnvironmentSpec, ProjectSpec
from enclii_iac.naming import TYPE_TENANT_ENVIRONMENT, TYPE_TENANT_PROJECT, TYPE_TENANT_SERVICE, child_name
from enclii_iac.render import kube as m
from enclii_iac.render.kube import resource_args as _k8s_args
from enclii_iac.secret_values import check_secret_values

SecretValues = Mapping[str, pulumi.Input[str]]
"""Values of a service's secrets by name; each is declared as a Pulumi secret whatever it was given as."""

_DEFAULT_INGRESS = IngressSpec()


def _opts(parent: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, **extra)


class TenantEnvironment(pulumi.ComponentResource):
    """One environment of a tenant project: namespace, quota, limits, network policies, RBAC.

    >>> env = TenantEnvironment("shop-prod", EnvironmentSpec(), project="shop", environment="prod",
    ...                         provider=k8s_provider)
    """

    namespace_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: EnvironmentSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        project: str,
        environment: str,
        provider: k8s.Provider,
        members: list[Any] | None = None,
        ingress: IngressSpec = _DEFAULT_INGRESS,
        routed_ports: list[int] | None = None,
        allowed_hosts: list[str] | None = None,
        allowed_registries: list[str] | None = None,
        admission: Any | None = None,
        oidc: OidcSpec | None = None,
        protect: bool = False,
        hooks: PlatformHooks | None = None,
    ) -> None:
        """``oidc``: the cluster's OIDC authenticator; members are bound by the names it gives them (its user
        and group prefixes). ``allowed_hosts``: the hostnames this environment serves, written on the namespace
        for the admission policies (default: none may be claimed); ``allowed_registries``: image prefixes
        (default: any); ``admission``: the cluster's TenantAdmission, which role bindings wait for. ``routed_ports`` is
        ignored (each routed service admits the ingress controller on its own port). ``hooks``: what the
        platform-services layer provides (CRDs custom resources wait for, platform pods the environment may
        reach, who scrapes metrics); default: nothing."""
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers=[provider]))
        super().__init__(TYPE_TENANT_ENVIRONMENT, name, None, opts)
        self.spec = args
        self.project = project
        self.environment = environment
        self.provider = provider
        self.ingress = ingress
        self.protect = protect
        self.hooks = hooks or PlatformHooks()
        self.namespace = k8s.core.v1.Namespace(
            child_name(name, "ns"),
            **_k8s_args(m.namespace(project, environment, hosts=allowed_hosts, registries=allowed_registries,
                                    ttl_hours=args.ttl_hours, expires_at=args.expires_at)),
            opts=_opts(self, protect=protect, retain_on_delete=protect),
        )
        ns_dep = [self.namespace]
        self.quota = k8s.core.v1.ResourceQuota(
            child_name(name, "quota"),
            **_k8s_args(m.resource_quota(project, environment, args)),
            opts=_opts(self, depends_on=ns_dep),
        )
        self.limits = k8s.core.v1.LimitRange(
            child_name(name, "limits"),
            **_k8s_args(m.limit_range(project, environment)),
            opts=_opts(self, depends_on=ns_dep),
        )
        self.network_policies: dict[str, k8s.networking.v1.NetworkPolicy] = {}
        policies = m.network_policies(project, environment, isolate_services=args.isolate_services)
        policies += [
            m.platform_egress_policy(project, environment, t.name, namespace=t.namespace, pod_labels=t.pod_labels,
                                     ports=t.ports)
            for t in self.hooks.egress
        ]
        for pol in policies:
            key = pol["metadata"]["name"]
            self.network_policies[key] = k8s.networking.v1.NetworkPolicy(
                child_name(name, "netpol", key), **_k8s_args(pol), opts=_opts(self, depends_on=ns_dep)
            )
        self.roles: dict[str, k8s.rbac.v1.Role] = {}
        self.role_bindings: dict[str, k8s.rbac.v1.RoleBinding] = {}
        by_role: dict[str, list[Any]] = {}
        for member in members or []:
            by_role.setdefault(member.role, []).append(member)
        for role_name in m.ROLES:
            self.roles[role_name] = k8s.rbac.v1.Role(
                child_name(name, "role", role_name),
                **_k8s_args(m.role(project, environment, role_name)),
                opts=_opts(self, depends_on=ns_dep),
            )
            if by_role.get(role_name):
                # members get access only once the admission policies guard the namespace
                guards = list(admission.ready) if admission is not None else []
                self.role_bindings[role_name] = k8s.rbac.v1.RoleBinding(
                    child_name(name, "binding", role_name),
                    **_k8s_args(m.role_binding(
                        project, environment, role_name, by_role[role_name],
                        user_prefix=oidc.username_prefix if oidc is not None else "",
                        group_prefix=oidc.groups_prefix if oidc is not None else "")),
                    opts=_opts(self, depends_on=[self.roles[role_name], *guards]),
                )
        self.namespace_name = self.namespace.metadata.apply(lambda md: str(md["name"]) if md else "")
        self.register_outputs({"namespace_name": self.namespace_name})

    @property
    def guards(self) -> list[pulumi.Resource]:
        """What must exist before a pod of this environment does: its quota and limits (a pod created beside
        a quota the controller has not counted yet is refused, and its ReplicaSet backs off) and its network
        policies (no pod runs, even for a moment, before the default-deny policy isolates it)."""
        return [self.quota, self.limits, *self.network_policies.values()]


class TenantService(pulumi.ComponentResource):
    """One tenant service in one environment: the workload, its Service, route, scaling and guards.

    >>> TenantService("shop-prod-api", ServiceSpec(image="ghcr.io/acme/api@sha256:..."),
    ...               environment=env, service="api")
    """

    hostnames: pulumi.Output[list[str]]
    custom_domains: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        args: ServiceSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        environment: TenantEnvironment,
        service: str,
        secret_values: SecretValues | None = None,
        protect: bool | None = None,
    ) -> None:
        super().__init__(
            TYPE_TENANT_SERVICE,
            name,
            None,
            pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=environment), opts),
        )
        svc = args
        # Kubernetes names and labels derive from the service's oldest name (renamedFrom), so a rename keeps them
        ref = m.Ref(environment.project, environment.environment, svc.renamed_from[0] if svc.renamed_from else service)
        protect = environment.protect if protect is None else protect
        values = dict(secret_values or {})
        missing = [s for s in svc.secrets if s not in values]
        if missing:
            raise SpecError(
                [
                    SpecIssue(
                        f"{environment.project}/{service}",
                        "spec.secrets",
                        f"no value for {', '.join(missing)}; set it as a Pulumi secret "
                        f"(see docs/tenant-service.md#secrets)",
                    )
                ]
            )
        unknown = sorted(set(values) - set(svc.secrets))
        if unknown:
            raise SpecError(
                [
                    SpecIssue(
                        f"{environment.project}/{service}",
                        "spec.secrets",
                        f"values given for undeclared secrets {', '.join(unknown)}",
                    )
                ]
            )
        self.spec = svc
        self.ref = ref
        self.hooks = environment.hooks
        self.scrape_policy: k8s.networking.v1.NetworkPolicy | None = None
        deps: list[pulumi.Resource] = [environment.namespace]
        self.service_account = k8s.core.v1.ServiceAccount(
            child_name(name, "sa"), **_k8s_args(m.service_account(ref)), opts=_opts(self, depends_on=deps)
        )
        deps = [self.service_account, *environment.guards]
        has_secret = bool(svc.secrets)
        self.secret: k8s.core.v1.Secret | None = None
        if has_secret:
            secret_args: dict[str, Any] = {
                "metadata": m.meta(m.secret_name(ref), ref.namespace, m.service_labels(ref)),
                "type": "Opaque",
                "string_data": {k: pulumi.Output.secret(values[k]) for k in svc.secrets},
            }
            self.secret = k8s.core.v1.Secret(
                child_name(name, "env"),
                **secret_args,
                opts=_opts(self, depends_on=deps, additional_secret_outputs=["data", "stringData"]),
            )
            deps = [*deps, self.secret]
        self.volumes: dict[str, k8s.core.v1.PersistentVolumeClaim] = {}
        for vol in svc.volumes:
            # a renamed volume keeps its claim (name from the oldest name, aliases from each former one); a
            # volume removed from the spec leaves its claim and data in place (retained), in every stage
            self.volumes[vol.name] = k8s.core.v1.PersistentVolumeClaim(
                child_name(name, "pvc", vol.name),
                **_k8s_args(m.pvc(ref, svc, vol.name)),
                opts=_opts(
                    self,
                    depends_on=[environment.namespace],
                    protect=protect,
                    retain_on_delete=True,
                    aliases=[pulumi.Alias(name=child_name(name, "pvc", old)) for old in vol.renamed_from],
                ),
            )
        deps = deps + list(self.volumes.values())

        self.deployments: dict[str, k8s.apps.v1.Deployment] = {}
        self.services: dict[str, k8s.core.v1.Service] = {}
        self.cron_job: k8s.batch.v1.CronJob | None = None
        self.job: k8s.batch.v1.Job | None = None
        self.ingress: k8s.networking.v1.Ingress | None = None
        self.custom_objects: dict[str, k8s.apiextensions.CustomResource] = {}
        self.pdbs: dict[str, k8s.policy.v1.PodDisruptionBudget] = {}
        self.hpa: k8s.autoscaling.v2.HorizontalPodAutoscaler | None = None
        self.edge_policy: k8s.networking.v1.NetworkPolicy | None = None

        if svc.type is ServiceType.CRON:
            self.cron_job = k8s.batch.v1.CronJob(
                child_name(name, "cronjob"),
                **_k8s_args(m.cron_job(ref, svc, has_secret)),
                opts=_opts(self, depends_on=deps),
            )
        elif svc.type is ServiceType.JOB:
            self.job = k8s.batch.v1.Job(
                child_name(name, "job"),
                **_k8s_args(m.job(ref, svc, has_secret)),
                opts=_opts(self, depends_on=deps, replace_on_changes=["spec"], delete_before_replace=True),
            )
        else:
            self._long_running(name, ref, svc, environment.ingress, has_secret, deps)

        if svc.metrics is not None and self.services:
            self._custom(name, "monitor", m.service_monitor(ref, svc), deps)
            scrape = self.hooks.scrape
            port = svc.metrics.port or svc.listen_port
            if scrape is not None and port is not None:
                self.scrape_policy = k8s.networking.v1.NetworkPolicy(
                    child_name(name, "netpol", "scrape"),
                    **_k8s_args(m.scrape_policy(ref, port, namespace=scrape.namespace, pod_labels=scrape.pod_labels)),
                    opts=_opts(self, depends_on=deps),
                )
        if svc.slo is not None:
            self._custom(name, "slo", m.prometheus_rule(ref, svc), deps)

        hosts = sorted({r.host for r in svc.routes})
        self.hostnames = pulumi.Output.from_input(hosts)
        self.custom_domains = pulumi.Output.from_input(sorted(svc.domains))
        self.register_outputs({"hostnames": self.hostnames, "custom_domains": self.custom_domains})

    # --- helpers ---------------------------------------------------------------------------------------
    def _custom(self, name: str, key: str, manifest: m.Manifest, deps: list[pulumi.Resource]) -> None:
        self.custom_objects[key] = k8s.apiextensions.CustomResource(
            child_name(name, key),
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=manifest["metadata"],
            spec=manifest["spec"],
            opts=_opts(self, depends_on=[*deps, *self.hooks.installs(manifest["apiVersion"], manifest["kind"])]),
        )

    def _deployment(
        self, name: str, key: str, manifest: m.Manifest, deps: list[pulumi.Resource], autoscaled: bool
    ) -> k8s.apps.v1.Deployment:
        d = k8s.apps.v1.Deployment(
            child_name(name, key) if key else child_name(name, "deployment"),
            **_k8s_args(manifest),
            opts=_opts(self, depends_on=deps, ignore_changes=["spec.replicas"] if autoscaled else None),
        )
        self.deployments[key or "main"] = d
        return d

    def _long_running(
        self,
        name: str,
        ref: m.Ref,
        svc: ServiceSpec,
        ingress: IngressSpec,
        has_secret: bool,
        deps: list[pulumi.Resource],
    ) -> None:
        autoscaled = svc.autoscale is not None
        strategy = svc.deploy.strategy
        routed = bool(svc.routes)
        port = svc.listen_port
        main_name = ref.name()
        if strategy == "canary":
            canary = svc.deploy.canary
            assert canary is not None
            # The stable track is its own Deployment (``<svc>-stable``), never the rolling one with a new
            # selector: switching rolling <-> canary then creates the new Deployment, waits for it to be
            # available, and only deletes the old one at the end of the update, so ready pods serve throughout.
            stable = m.deployment(
                ref,
                svc,
                name=ref.name("stable"),
                image=svc.image,
                replicas=svc.replicas.min,
                has_secret=has_secret,
                extra_labels={"enclii.dev/track": "stable"},
            )
            can = m.deployment(
                ref,
                svc,
                name=ref.name("canary"),
                image=canary.image,
                replicas=canary.replicas,
                has_secret=has_secret,
                extra_labels={"enclii.dev/track": "canary"},
            )
            self._deployment(name, "stable", stable, deps, autoscaled)
            self._deployment(name, "canary", can, deps, False)
            main_name = ref.name("stable")
            if port is not None:
                for track in ("stable", "canary"):
                    self.services[track] = k8s.core.v1.Service(
                        child_name(name, "svc", track),
                        **_k8s_args(
                            m.service(ref, svc, name=ref.name(track), extra_selector={"enclii.dev/track": track})
                        ),
                        opts=_opts(self, depends_on=deps),
                    )
                self.services["main"] = k8s.core.v1.Service(
                    child_name(name, "svc"), **_k8s_args(m.service(ref, svc)), opts=_opts(self, depends_on=deps)
                )
            if routed:
                self._custom(name, "split", m.traefik_weighted(ref, 100 - canary.weight, canary.weight), deps)
                self._custom(name, "route", m.traefik_route(ref, svc), deps)
            pdb_selector: dict[str, str] | None = {"enclii.dev/track": "stable"}
        elif strategy == "blue-green":
            bg = svc.deploy.blue_green
            assert bg is not None
            for color, image in (("blue", bg.blue_image), ("green", bg.green_image)):
                self._deployment(
                    name,
                    color,
                    m.deployment(
                        ref,
                        svc,
                        name=ref.name(color),
                        image=image,
                        replicas=svc.replicas.min,
                        has_secret=has_secret,
                        extra_labels={"enclii.dev/color": color},
                    ),
                    deps,
                    autoscaled and color == bg.active,
                )
            inactive = "green" if bg.active == "blue" else "blue"
            if port is not None:
                self.services["main"] = k8s.core.v1.Service(
                    child_name(name, "svc"),
                    **_k8s_args(m.service(ref, svc, extra_selector={"enclii.dev/color": bg.active})),
                    opts=_opts(self, depends_on=deps),
                )
                self.services["preview"] = k8s.core.v1.Service(
                    child_name(name, "svc", "preview"),
                    **_k8s_args(
                        m.service(ref, svc, name=ref.name("preview"), extra_selector={"enclii.dev/color": inactive})
                    ),
                    opts=_opts(self, depends_on=deps),
                )
            main_name = ref.name(bg.active)
            pdb_selector = {"enclii.dev/color": bg.active}
            if svc.replicas.min >= 2:
                self.pdbs[inactive] = k8s.policy.v1.PodDisruptionBudget(
                    child_name(name, "pdb", inactive),
                    **_k8s_args(m.pdb(ref, name=ref.name(inactive), extra_selector={"enclii.dev/color": inactive})),
                    opts=_opts(self, depends_on=deps),
                )
        else:
            self._deployment(
                name,
                "",
                m.deployment(
                    ref, svc, name=ref.name(), image=svc.image, replicas=svc.replicas.min, has_secret=has_secret
                ),
                deps,
                autoscaled,
            )
            if port is not None and svc.type is not ServiceType.WORKER:
                self.services["main"] = k8s.core.v1.Service(
                    child_name(name, "svc"), **_k8s_args(m.service(ref, svc)), opts=_opts(self, depends_on=deps)
                )
            pdb_selector = None
        if routed and port is not None:
            self.edge_policy = k8s.networking.v1.NetworkPolicy(
                child_name(name, "netpol", "edge"),
                **_k8s_args(
                    m.edge_policy(ref, port, ingress_namespace=ingress.namespace, ingress_pod_labels=ingress.pod_labels)
                ),
                opts=_opts(self, depends_on=deps),
            )
        if routed and strategy != "canary":
            self.ingress = k8s.networking.v1.Ingress(
                child_name(name, "ingress"),
                **_k8s_args(m.ingress(ref, svc, class_name=ingress.class_name, cluster_issuer=ingress.cluster_issuer)),
                opts=_opts(self, depends_on=[*deps, *self.services.values()]),
            )
        if svc.replicas.min >= 2:
            self.pdbs["main"] = k8s.policy.v1.PodDisruptionBudget(
                child_name(name, "pdb"),
                **_k8s_args(m.pdb(ref, extra_selector=pdb_selector)),
                opts=_opts(self, depends_on=deps),
            )
        if svc.autoscale is not None:
            if svc.autoscale.keda:
                self._custom(name, "scaler", m.scaled_object(ref, svc, main_name), deps)
            else:
                self.hpa = k8s.autoscaling.v2.HorizontalPodAutoscaler(
                    child_name(name, "hpa"),
                    **_k8s_args(m.hpa(ref, svc, main_name)),
                    opts=_opts(self, depends_on=list(self.deployments.values())),
                )


class TenantProject(pulumi.ComponentResource):
    """A tenant project: one TenantEnvironment per environment and one TenantService per service in each.

    >>> TenantProject("shop", ProjectSpec(services={"api": ServiceSpec(image=...)}), provider=k8s_provider)
    """

    namespaces: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        args: ProjectSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: k8s.Provider,
        project: str | None = None,
        ingress: IngressSpec = _DEFAULT_INGRESS,
        secret_values: Mapping[str, SecretValues] | None = None,
        allowed_registries: list[str] | None = None,
        admission: Any | None = None,
        oidc: OidcSpec | None = None,
        protect: bool = False,
        hooks: PlatformHooks | None = None,
    ) -> None:
        """``oidc``: the cluster's OIDC authenticator (``identity.oidc``); members are bound with its prefixes.
        ``allowed_registries``: image prefixes the namespaces' admission policy allows (default: any);
        ``admission``: the cluster's TenantAdmission (``enclii_iac.kube.admission``), declared once per
        cluster; role bindings are created after it; ``hooks``: what the platform-services layer provides
        (``enclii_iac.kube.hooks``; default: nothing)."""
        project = project or name
        issues = check_secret_values(project, args, secret_values)
        if issues:  # every secret problem of every service, before anything is declared
            raise SpecError(issues)
        aliases = renamed_aliases(name, project, args.renamed_from)
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers=[provider], aliases=aliases))
        super().__init__(TYPE_TENANT_PROJECT, name, None, opts)
        # Kubernetes names and labels derive from the project's oldest name (renamedFrom)
        identity = args.identity(project)
        self.spec = args
        self.environments: dict[str, TenantEnvironment] = {}
        self.services: dict[str, dict[str, TenantService]] = {}
        secrets = dict(secret_values or {})
        for env_name, env_spec in args.environments.items():
            env = TenantEnvironment(
                child_name(name, env_name),
                env_spec,
                pulumi.ResourceOptions(parent=self),
                project=identity,
                environment=env_name,
                provider=provider,
                members=list(args.members),
                ingress=ingress,
                allowed_hosts=environment_hosts(args, env_name),
                allowed_registries=allowed_registries,
                admission=admission,
                oidc=oidc,
                protect=protect,
                hooks=hooks,
            )
            self.environments[env_name] = env
            self.services[env_name] = {}
            services = args.services_in(env_name)
            for svc_name, svc in services.items():
                svc_pulumi_name = child_name(name, env_name, svc_name)
                self.services[env_name][svc_name] = TenantService(
                    svc_pulumi_name,
                    svc,
                    pulumi.ResourceOptions(
                        parent=env, aliases=renamed_aliases(svc_pulumi_name, svc_name, svc.renamed_from)
                    ),
                    environment=env,
                    service=svc_name,
                    secret_values=secrets.get(svc_name),
                    protect=protect,
                )
            if env_spec.isolate_services:
                self._dependency_policies(name, env, {args.service_identity(k): v for k, v in services.items()})
        self.namespaces = pulumi.Output.all(*[e.namespace_name for e in self.environments.values()])
        self.register_outputs({"namespaces": self.namespaces})

    def _dependency_policies(self, name: str, env: TenantEnvironment, services: Mapping[str, ServiceSpec]) -> None:
        """NetworkPolicies of the dependsOn edges; ``services`` is keyed by service identity (oldest name), which
        the policies' Pulumi and Kubernetes names derive from, so renaming a service leaves them alone."""
        identity = {k: self.spec.service_identity(k) for k in self.spec.services}
        callers: dict[str, list[str]] = {}
        for svc_id, svc in services.items():
            for dep in svc.depends_on:
                dep_id = identity.get(dep, dep)
                if dep_id in services:
                    callers.setdefault(dep_id, []).append(svc_id)
        for dep, who in sorted(callers.items()):
            port = services[dep].listen_port
            if port is None:
                continue
            ref = m.Ref(env.project, env.environment, dep)
            for caller in sorted(who):
                cref = m.Ref(env.project, env.environment, caller)
                pol = m.dependency_policy(cref, dep, port)
                k8s.networking.v1.NetworkPolicy(
                    child_name(name, env.environment, "netpol", caller, "to", dep), **_k8s_args(pol), opts=_opts(env)
                )
            pol = m.dependency_ingress_policy(ref, who, port)
            k8s.networking.v1.NetworkPolicy(
                child_name(name, env.environment, "netpol", dep, "from"), **_k8s_args(pol), opts=_opts(env)
            )


def environment_hosts(project: ProjectSpec, environment: str) -> list[str]:
    """Hostnames (routes and custom domains) the environment's services serve: all its Ingresses may claim."""
    hosts: set[str] = set()
    for svc in project.services_in(environment).values():
        hosts |= {r.host for r in svc.routes} | set(svc.domains)
    return sorted(hosts)


def renamed_aliases(name: str, key: str, former: list[str]) -> list[pulumi.Input[pulumi.Alias | str]]:
    """Aliases of a component named after ``key`` (``name`` is ``key`` or ends with ``-<key>``) for each
    former key, so its URN and its children's follow a rename (children inherit a parent's aliases)."""
    if name == key:
        prefix = ""
    elif name.endswith(f"-{key}"):
        prefix = name[: -len(key)]
    else:
        return []
    return [pulumi.Alias(name=prefix + old) for old in former]

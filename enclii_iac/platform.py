"""EncliiPlatform: the whole platform of one stack, composed from one PlatformSpec.

``build_production`` and ``build_preview`` are what ``stacks/*/__main__.py``, ``enclii-iac synth`` and the
preview driver call, so all three declare exactly the same resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac.errors import SpecError, SpecIssue
from enclii_iac.kube.tenant import SecretValues, TenantProject
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.naming import TYPE_PLATFORM, child_name
from enclii_iac.stack import StackSettings

if TYPE_CHECKING:
    import pulumi_command
    import pulumi_hcloud
    import pulumi_random
    import pulumi_tls

    from enclii_iac.cloudflare._cf import cf


@dataclass(frozen=True)
class PlatformProviders:
    """Explicit providers the platform declares its resources with (never ambient defaults).

    ``kubernetes`` is for a cluster the spec does not declare; with ``spec.cluster`` the cluster's own
    provider is used. ``hcloud`` is needed for cloud servers, ``cloudflare`` for the edge. The platform
    declares a ``random``, ``command`` or ``tls`` provider itself only when one of its resources uses it
    and none is given here (see ``used_providers``).
    """

    kubernetes: k8s.Provider | None = None
    hcloud: pulumi_hcloud.Provider | None = None
    cloudflare: cf.Provider | None = None
    random: pulumi_random.Provider | None = None
    """pulumi-random provider (tunnel secret, k3s tokens); default: one declared by the platform when used."""
    command: pulumi_command.Provider | None = None
    """pulumi-command provider (host hardening, k3s install); default: one declared by the platform when used."""
    tls: pulumi_tls.Provider | None = None
    """pulumi-tls provider (cloud servers' SSH host keys); default: one declared by the platform when used."""


def used_providers(spec: PlatformSpec) -> frozenset[str]:
    """The packages (``random``, ``command``, ``tls``, ``hcloud``, ``cloudflare``) some resource of the
    platform is declared with; a provider outside this set is never declared.

    random: the tunnel secret (``edge``), the k3s tokens (``cluster``) and the Redis password (``data.redis``).
    command: the dedicated hosts' hardening steps and the k3s install steps. tls: the cloud servers' host keys.
    hcloud: cloud servers. cloudflare: the edge.
    """
    used: set[str] = set()
    cloud = spec.hosts is not None and bool(spec.hosts.cloud)
    if spec.edge is not None:
        used |= {"random", "cloudflare"}
    if spec.cluster is not None:
        used |= {"random", "command"}
    if spec.hosts is not None and spec.hosts.dedicated:
        used.add("command")
    if cloud:
        used |= {"tls", "hcloud"}
    if spec.data is not None and spec.data.redis is not None:
        used.add("random")  # the Redis password
    return frozenset(used)


def etcd_token_keys(spec: PlatformSpec) -> tuple[str, str] | None:
    """``(bucket key, token key)`` of the R2 token etcd snapshots use, or None when snapshots stay local."""
    if spec.cluster is None or spec.cluster.etcd_snapshots.bucket is None or not spec.cluster.etcd_snapshots.enabled:
        return None
    snaps = spec.cluster.etcd_snapshots
    r2 = spec.edge.r2 if spec.edge is not None else None
    for bucket_key, bucket in sorted((r2.buckets if r2 else {}).items()):
        if bucket.name != snaps.bucket:
            continue
        for token_key, token in sorted(bucket.tokens.items()):
            if token.access == "write" and token.prefix in (f"{snaps.folder}/", ""):
                return bucket_key, token_key
    return None


def platform_providers(given: PlatformProviders | None, opts: pulumi.ResourceOptions | None) -> PlatformProviders:
    """``given``, with every provider it leaves unset taken from ``opts.providers`` (a list or a mapping)."""
    from enclii_iac.providers import providers_in

    found = providers_in(opts)
    base = given or PlatformProviders()
    fields = ("kubernetes", "hcloud", "cloudflare", "random", "command", "tls")
    merged: dict[str, Any] = {f: getattr(base, f) or found.get(f) for f in fields}
    return PlatformProviders(**merged)


def _preflight(
    spec: PlatformSpec, providers: PlatformProviders, ssh_private_key: object, tenant_secrets: object = None,
    janua_client_secret: object = None,
) -> None:
    """Every check that needs more than the spec, before anything is declared."""
    from enclii_iac.secret_values import check_tenant_secrets

    issues: list[SpecIssue] = []
    if spec.cluster is None and providers.kubernetes is None:
        issues.append(SpecIssue("platform", "cluster", "no cluster in the spec and no Kubernetes provider given"))
    if spec.cluster is not None and providers.kubernetes is not None:
        issues.append(SpecIssue("platform", "cluster", "the spec declares a cluster: do not pass providers.kubernetes"))
    if spec.hosts is not None and ssh_private_key is None:
        issues.append(SpecIssue("platform", "hosts", "hosts need the SSH private key (config enclii:sshPrivateKey)"))
    if spec.hosts is not None and spec.hosts.cloud and providers.hcloud is None:
        issues.append(SpecIssue("platform", "hosts.cloud", "cloud servers need providers.hcloud"))
    if spec.edge is not None and providers.cloudflare is None:
        issues.append(SpecIssue("platform", "edge", "the edge needs providers.cloudflare"))
    if spec.cluster is not None and spec.cluster.etcd_snapshots.bucket and etcd_token_keys(spec) is None:
        snaps = spec.cluster.etcd_snapshots
        issues.append(
            SpecIssue(
                "platform",
                "cluster.etcdSnapshots.bucket",
                f"no R2 bucket named {snaps.bucket!r} with a write token for {snaps.folder}/ in "
                f"edge.r2.buckets (add tokens: {{etcd: {{access: write, prefix: {snaps.folder}/}}}})",
            )
        )
    if spec.identity is not None and spec.identity.access is not None and janua_client_secret is None:
        issues.append(SpecIssue("platform", "identity.access", "Access logs in through Janua: pass the secret of "
                                "its OIDC client (config enclii:januaClientSecret)"))
    issues += check_tenant_secrets(spec.tenants, tenant_secrets)
    if spec.data is not None:
        from enclii_iac.data.services import data_issues

        issues += data_issues(spec)
    if not issues:
        from enclii_iac.cost.budget import check_budgets

        issues += check_budgets(spec)  # caps on the platform, projects, environments: nothing declared over budget
    if issues:
        raise SpecError(issues)


class EncliiPlatform(pulumi.ComponentResource):
    """Everything one stack declares: hosts, cluster, edge and tenants, from one PlatformSpec.

    Order (by data flow): R2 buckets and tokens → hosts → k3s (snapshots to R2) → the cluster's
    Kubernetes provider → tunnel connector, DNS, custom domains → platform services → every tenant project.

    >>> platform = EncliiPlatform("enclii", spec, providers=PlatformProviders(cloudflare=cf_provider),
    ...                           ssh_private_key=key)
    >>> platform = EncliiPlatform("enclii", spec, pulumi.ResourceOptions(providers=[cf_provider, k8s_provider]))
    """

    namespaces: pulumi.Output[list[str]]
    hostnames: pulumi.Output[list[str]]
    kubeconfig: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: PlatformSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        providers: PlatformProviders | None = None,
        ssh_private_key: pulumi.Input[str] | None = None,
        tenant_secrets: Mapping[str, Mapping[str, SecretValues]] | None = None,
        janua_client_secret: pulumi.Input[str] | None = None,
        service_secrets: Mapping[str, pulumi.Input[str]] | None = None,
    ) -> None:
        """Declare everything ``args`` describes; every check runs before the first resource is declared.

        :param name: logical name; children are ``<name>-r2``, ``-hosts``, ``-k3s``, ``-tunnel``, ``-dns``,
            ``-domains``, ``-api`` and ``<name>-<project>`` per tenant project.
        :param args: the platform spec.
        :param opts: resource options; ``opts.providers`` (a list, or a mapping by package) may carry the
            providers instead of ``providers``.
        :param providers: explicit providers (``PlatformProviders``); a field left unset is taken from
            ``opts.providers``. Kubernetes is needed without ``spec.cluster``, Cloudflare with ``spec.edge``,
            Hetzner Cloud with cloud servers; random, command and tls are declared here when not given.
        :param ssh_private_key: the deploy key Pulumi logs in to the hosts with (a secret); needed with hosts.
        :param tenant_secrets: values of the secrets tenant services declare, ``{project: {service: {NAME:
            value}}}``; each becomes a Pulumi secret. Missing, unknown or misspelled entries are errors.
        :param janua_client_secret: the secret of Cloudflare Access's OIDC client at Janua (a secret); needed
            with ``identity.access``.
        :param service_secrets: secrets of the platform services by config key (``alertWebhookUrl``).
        :raises SpecError: every problem (missing provider, key or secret, spec cross-checks), before anything
            is declared.
        """
        spec = args
        providers = platform_providers(providers, opts)
        _preflight(spec, providers, ssh_private_key, tenant_secrets, janua_client_secret)
        used = used_providers(spec)
        # providers without credentials are still explicit, so nothing falls back to an ambient default;
        # each is declared only when a resource of this platform uses it
        self.random_provider: pulumi_random.Provider | None = providers.random
        if self.random_provider is None and "random" in used:
            import pulumi_random

            self.random_provider = pulumi_random.Provider(child_name(name, "random"), opts=renamed(spec, "random"))
        self.command_provider: pulumi_command.Provider | None = providers.command
        if self.command_provider is None and "command" in used:
            import pulumi_command

            self.command_provider = pulumi_command.Provider(child_name(name, "command"), opts=renamed(spec, "command"))
        self.tls_provider: pulumi_tls.Provider | None = providers.tls
        if self.tls_provider is None and "tls" in used:
            import pulumi_tls

            self.tls_provider = pulumi_tls.Provider(child_name(name, "tls"), opts=renamed(spec, "tls"))
        inherited: list[pulumi.ProviderResource] = [
            p for p in (self.random_provider, self.command_provider, self.tls_provider) if p is not None
        ]
        if inherited:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers=inherited))
        if spec.renamed_from:  # children inherit the aliases: every identity (k3s tokens, buckets...) is kept
            opts = pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=old) for old in spec.renamed_from])
            )
        super().__init__(TYPE_PLATFORM, name, None, opts)
        self.spec = spec
        here = pulumi.ResourceOptions(parent=self)
        self.r2: Any = None
        self.hosts: Any = None
        self.cluster: Any = None
        self.tunnel: Any = None
        self.dns: Any = None
        self.custom_domains: Any = None
        self.certificates: Any = None

        cloudflare = providers.cloudflare  # not None when spec.edge is set (checked by _preflight)
        if spec.edge is not None and spec.edge.r2 is not None:
            from enclii_iac.cloudflare import R2Storage

            assert cloudflare is not None
            self.r2 = R2Storage(child_name(name, "r2"), spec.edge, here, provider=cloudflare, protect=spec.protect)
        if spec.hosts is not None:
            from enclii_iac.hetzner import Hosts

            assert ssh_private_key is not None
            self.hosts = Hosts(
                child_name(name, "hosts"),
                spec.hosts,
                here,
                ssh_private_key=ssh_private_key,
                hcloud_provider=providers.hcloud,
                cluster_cidr=spec.cluster.cluster_cidr if spec.cluster else "10.42.0.0/16",
                protect=spec.protect,
            )
        self.identity_access: Any = None
        access = spec.identity.access if spec.identity is not None else None
        if access is not None and spec.edge is not None:
            from enclii_iac.identity.access import IdentityAccess

            assert cloudflare is not None and spec.identity is not None and janua_client_secret is not None
            self.identity_access = IdentityAccess(
                child_name(name, "access"), spec.identity, here, edge=spec.edge, domain=spec.domain,
                client_secret=janua_client_secret, provider=cloudflare)
        self.api_access: Any = None
        if spec.cluster is not None and spec.edge is not None:
            from enclii_iac.cloudflare.api_access import ClusterApiAccess

            assert cloudflare is not None
            self.api_access = ClusterApiAccess(
                child_name(name, "api"),
                spec.cluster,
                here,
                edge=spec.edge,
                domain=spec.domain,
                nodes=self.hosts.nodes,
                provider=cloudflare,
                extra_policies=([self.identity_access.kube_policy]
                                if self.identity_access is not None and self.identity_access.kube_policy is not None
                                else []),
                protect=spec.protect,
            )
        kube = providers.kubernetes
        oidc = spec.identity.oidc if spec.identity is not None else None
        if spec.cluster is not None:
            from enclii_iac.k3s import EtcdS3Credentials, K3sCluster

            etcd_s3 = None
            keys = etcd_token_keys(spec)
            if keys is not None and self.r2 is not None:
                creds = self.r2.credentials_for(*keys)
                etcd_s3 = EtcdS3Credentials(
                    endpoint=creds.endpoint_host,
                    bucket=creds.bucket,
                    folder=spec.cluster.etcd_snapshots.folder,
                    access_key_id=creds.access_key_id,
                    secret_access_key=creds.secret_access_key,
                )
            self.cluster = K3sCluster(
                child_name(name, "k3s"),
                spec.cluster,
                here,
                nodes=self.hosts.nodes,
                etcd_s3=etcd_s3,
                api_tunnel_token=(self.api_access.connector_token
                                  if spec.cluster.api_access.mode == "tunnel" and self.api_access is not None
                                  else None),
                oidc=oidc,
                protect=spec.protect,
            )
            kube = self.cluster.provider
        assert kube is not None
        self.kubernetes_provider = kube
        self.kubeconfig = self.cluster.kubeconfig if self.cluster is not None else pulumi.Output.secret("")
        # what people use day to day: the server and CA of the cluster and a login through the identity
        # provider; no credential, so not a secret (the admin kubeconfig above is the break-glass one)
        self.oidc_kubeconfig: pulumi.Output[str] | None = None
        if self.cluster is not None and oidc is not None:
            from enclii_iac.identity.render import oidc_kubeconfig_from_admin

            login = oidc
            self.oidc_kubeconfig = pulumi.Output.unsecret(self.cluster.kubeconfig.apply(
                lambda admin: oidc_kubeconfig_from_admin(login, str(admin), name)))

        if spec.edge is not None:
            from enclii_iac.cloudflare import CloudflareTunnel, CustomDomains, DnsRecords, tenant_edge

            assert cloudflare is not None
            edge = tenant_edge(spec.tenants)
            self.tunnel = CloudflareTunnel(
                child_name(name, "tunnel"),
                spec.edge,
                here,
                domain=spec.domain,
                routes=edge.routes,
                domains=edge.domains,
                ingress=spec.ingress,
                provider=cloudflare,
                k8s_provider=kube,
                protect=spec.protect,
            )
            self.dns = DnsRecords(
                child_name(name, "dns"), spec.edge, here, tunnel=self.tunnel, provider=cloudflare,
                protect=spec.protect,
            )
            if spec.edge.certificate_packs:  # names Universal SSL does not cover (checked by the spec)
                from enclii_iac.cloudflare.certificates import EdgeCertificates

                self.certificates = EdgeCertificates(child_name(name, "certs"), spec.edge, here, domain=spec.domain,
                                                     provider=cloudflare, protect=spec.protect)
            if spec.edge.custom_domains.enabled and edge.domains:
                self.custom_domains = CustomDomains(
                    child_name(name, "domains"),
                    spec.edge,
                    here,
                    tunnel=self.tunnel,
                    dns=self.dns,
                    provider=cloudflare,
                    protect=spec.protect,
                )

        # the stack that owns the cluster declares its admission policies; preview stacks share production's
        self.admission: Any = None
        if spec.stage == "production":
            from enclii_iac.kube.admission import TenantAdmission

            self.admission = TenantAdmission(child_name(name, "admission"), here, provider=kube, protect=spec.protect)
        from enclii_iac.models.guards import registry_prefix

        # the platform's services (operators and their CRDs, observability) come after the cluster and before
        # every tenant, whose custom resources wait for the CRDs; an existing cluster brings its own
        self.services: Any = None
        if spec.cluster is not None:
            from enclii_iac.services import PlatformServices

            self.services = PlatformServices(child_name(name, "services"), spec, here, provider=kube,
                                             secrets=service_secrets)
        hooks = self.services.hooks if self.services is not None else None
        self.data: Any = None
        if spec.data is not None:  # after the platform services (its alerts need their CRDs), before the tenants
            from enclii_iac.data.services import DataServices

            self.data = DataServices(child_name(name, "data"), spec, here, provider=kube, r2=self.r2,
                                     protect=spec.protect, hooks=hooks)
        registries = [registry_prefix(p) for p in spec.policy.allowed_registries]
        secrets = dict(tenant_secrets or {})
        self.tenants: dict[str, TenantProject] = {}
        for project, pspec in spec.tenants.items():
            self.tenants[project] = TenantProject(
                child_name(name, project),
                pspec,
                here,
                provider=kube,
                project=project,
                ingress=spec.ingress,
                secret_values=secrets.get(project),
                allowed_registries=registries,
                admission=self.admission,
                oidc=oidc,
                protect=spec.protect,
                hooks=hooks,
            )
        self.metering: Any = None
        if spec.metering.enabled and spec.stage == "production":  # the stack that owns the cluster meters it
            from enclii_iac.cost.metering import UsageMetering

            self.metering = UsageMetering(child_name(name, "metering"), spec.metering, here, platform=spec,
                                          provider=kube, hooks=hooks)
        self.namespaces = pulumi.Output.all(*[t.namespaces for t in self.tenants.values()]).apply(
            lambda groups: sorted(ns for g in groups for ns in g)
        )
        hosts = sorted({r.host for p in spec.tenants.values() for s in p.services.values() for r in s.routes})
        self.hostnames = pulumi.Output.from_input(hosts)
        self.register_outputs(
            {"namespaces": self.namespaces, "hostnames": self.hostnames, "kubeconfig": self.kubeconfig}
        )


def kubernetes_provider(
    name: str, kubeconfig: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None
) -> k8s.Provider:
    """An explicit Kubernetes provider with server-side apply (never the ambient ~/.kube/config)."""
    return k8s.Provider(
        name, kubeconfig=kubeconfig, enable_server_side_apply=True, delete_unreachable=False, opts=opts
    )


def renamed(spec: PlatformSpec, suffix: str) -> pulumi.ResourceOptions | None:
    """Aliases of a stack-level resource named ``<platform name>-<suffix>`` for each former platform name."""
    if not spec.renamed_from:
        return None
    return pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"{old}-{suffix}") for old in spec.renamed_from])


def build_platform(settings: StackSettings, kubeconfig: pulumi.Input[str] | None = None) -> EncliiPlatform:
    """Declare the platform of the current stack from its settings and export its outputs."""
    spec = settings.spec
    from enclii_iac.cost.budget import check_budgets

    over = check_budgets(spec)  # before the providers: an over-budget stack declares nothing at all
    if over:
        raise SpecError(over)
    kube = None
    if spec.cluster is None:
        if kubeconfig is None:
            kubeconfig = settings.secret_or_placeholder(
                settings.kubeconfig,
                "enclii:kubeconfig",
                "no cluster in the spec and no kubeconfig; "
                "run: pulumi config set --secret enclii:kubeconfig < kubeconfig.yaml",
            )
        kube = kubernetes_provider(f"{spec.name}-k8s", kubeconfig, renamed(spec, "k8s"))
    hcloud_provider = None
    if spec.hosts is not None and spec.hosts.cloud:
        import pulumi_hcloud as hcloud

        hcloud_provider = hcloud.Provider(
            f"{spec.name}-hcloud", token=settings.hcloud_token, opts=renamed(spec, "hcloud")
        )
    cloudflare_provider = None
    if spec.edge is not None:
        from enclii_iac.cloudflare import cf

        cloudflare_provider = cf.Provider(
            f"{spec.name}-cloudflare", api_token=settings.cloudflare_token, opts=renamed(spec, "cloudflare")
        )
    ssh_key = None
    if spec.hosts is not None:
        ssh_key = settings.secret_or_placeholder(
            settings.ssh_private_key,
            "enclii:sshPrivateKey",
            "hosts need the deploy key; run: pulumi config set --secret enclii:sshPrivateKey < ~/.ssh/enclii_deploy",
        )
    janua_secret = None
    if spec.identity is not None and spec.identity.access is not None:
        janua_secret = settings.secret_or_placeholder(
            settings.janua_client_secret,
            "enclii:januaClientSecret",
            "Access logs in through Janua; run: pulumi config set --secret enclii:januaClientSecret VALUE",
        )
    platform = EncliiPlatform(
        spec.name,
        spec,
        providers=PlatformProviders(kubernetes=kube, hcloud=hcloud_provider, cloudflare=cloudflare_provider),
        ssh_private_key=ssh_key,
        tenant_secrets=settings.tenant_secrets,
        janua_client_secret=janua_secret,
        service_secrets=service_secrets(spec),
    )
    pulumi.export("namespaces", platform.namespaces)
    pulumi.export("hostnames", platform.hostnames)
    pulumi.export("stage", spec.stage)
    pulumi.export(
        "kubeconfig", platform.kubeconfig if platform.cluster is not None else pulumi.Output.secret(kubeconfig)
    )
    if platform.hosts is not None:
        pulumi.export("hostAddresses", platform.hosts.addresses)
    if platform.cluster is not None:
        pulumi.export("apiServerUrl", platform.cluster.api_server_url)
        if platform.oidc_kubeconfig is not None:
            pulumi.export("oidcKubeconfig", platform.oidc_kubeconfig)
        access = spec.cluster.api_access if spec.cluster is not None else None
        if access is not None:
            info: dict[str, Any] = {"mode": access.mode}
            if platform.api_access is not None and platform.api_access.commands:
                info.update(hostname=platform.api_access.hostname, commands=platform.api_access.commands)
            pulumi.export("apiAccess", info)
        if platform.api_access is not None and platform.api_access.tokens:
            pulumi.export("apiServiceTokens", platform.api_access.service_tokens)
    if platform.identity_access is not None:
        pulumi.export("accessApplications", platform.identity_access.applications)
        if platform.identity_access.tokens:
            pulumi.export("accessServiceTokens", platform.identity_access.service_tokens)
    if platform.tunnel is not None:
        pulumi.export("tunnelId", platform.tunnel.tunnel_id)
        pulumi.export("tunnelHostnames", platform.tunnel.hostnames)
    if platform.custom_domains is not None:
        pulumi.export("customDomainRecords", platform.custom_domains.verification_records)
    if platform.r2 is not None:
        pulumi.export("r2Buckets", platform.r2.bucket_names)
    for warning in settings.unset_secrets:
        pulumi.log.warn(f"secret {warning} is unset: synthesized with a placeholder; set it before `pulumi up`")
    from enclii_iac.models.guards import platform_warnings

    for warning in platform_warnings(spec):
        pulumi.log.warn(warning)
    return platform


def service_secrets(spec: PlatformSpec) -> dict[str, pulumi.Input[str]]:
    """The platform services' secrets set in the stack's ``enclii:`` config (unset ones left out)."""
    key = spec.services.monitoring.alertmanager.webhook_secret
    value = pulumi.Config("enclii").get_secret(key)
    return {key: value} if value is not None else {}


def build_production(settings: StackSettings) -> EncliiPlatform:
    """The production stack: everything in the spec, stateful resources protected."""
    if settings.spec.stage != "production":
        raise SpecError(
            [
                SpecIssue(
                    "platform", "stage", f"the production stack needs stage: production (got {settings.spec.stage!r})"
                )
            ]
        )
    return build_platform(settings)


PRODUCTION_STACK_DEFAULT = "organization/enclii-production/production"


def build_preview(settings: StackSettings, production_stack: str | None = None) -> EncliiPlatform:
    """A preview stack (one per pull request): one ``preview-pr-<n>`` environment per tenant project.

    The cluster comes from the production stack (its ``kubeconfig`` output, through a StackReference)
    unless the preview stack sets its own ``enclii:kubeconfig``. Nothing is protected.
    """
    from enclii_iac.preview.spec import preview_spec

    if settings.pr_number is None:
        raise SpecError(
            [
                SpecIssue(
                    "config",
                    "enclii:prNumber",
                    "a preview stack needs the pull request number: pulumi config set enclii:prNumber 42",
                )
            ]
        )
    if settings.spec.stage != "preview":
        raise SpecError(
            [SpecIssue("platform", "stage", f"a preview stack needs stage: preview (got {settings.spec.stage!r})")]
        )
    from enclii_iac.preview.spec import PREVIEW_TTL_HOURS
    from enclii_iac.stack import _config_value

    cfg = pulumi.Config("enclii")
    ttl = _config_value(cfg, "ttlHours", "int") or PREVIEW_TTL_HOURS
    images = _config_value(cfg, "images", "object") or {}
    try:
        settings.spec = preview_spec(
            settings.spec, settings.pr_number, ttl_hours=ttl, expires_at=cfg.get("expiresAt"), images=images
        )
    except SpecError:
        raise
    except ValueError as exc:
        raise SpecError([SpecIssue("config", "enclii:prNumber", str(exc))]) from None
    from enclii_iac.cost.budget import check_budgets

    over = check_budgets(settings.spec)  # before the StackReference: an over-budget preview declares nothing
    if over:
        raise SpecError(over)
    kubeconfig: pulumi.Input[str] | None = settings.kubeconfig
    if kubeconfig is None:
        ref = pulumi.StackReference(production_stack or PRODUCTION_STACK_DEFAULT)
        kubeconfig = ref.require_output("kubeconfig").apply(str)
    return build_platform(settings, kubeconfig)

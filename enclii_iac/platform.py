"""EncliiPlatform: the whole platform of one stack, composed from one PlatformSpec.

``build_production`` and ``build_preview`` are what ``stacks/*/__main__.py``, ``enclii-iac synth`` and the
preview driver call, so all three declare exactly the same resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac.errors import SpecError, SpecIssue
from enclii_iac.kube.tenant import SecretValues, TenantProject
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.naming import TYPE_PLATFORM, child_name
from enclii_iac.stack import StackSettings


@dataclass(frozen=True)
class PlatformProviders:
    """Explicit providers the platform declares its resources with (never ambient defaults)."""

    kubernetes: k8s.Provider | None = None


class EncliiPlatform(pulumi.ComponentResource):
    """Everything one stack declares: infrastructure, edge, platform services and tenants.

    >>> platform = EncliiPlatform("enclii", spec, providers=PlatformProviders(kubernetes=provider))
    """

    namespaces: pulumi.Output[list[str]]
    hostnames: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        args: PlatformSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        providers: PlatformProviders,
        tenant_secrets: Mapping[str, Mapping[str, SecretValues]] | None = None,
    ) -> None:
        super().__init__(TYPE_PLATFORM, name, None, opts)
        spec = args
        self.spec = spec
        kube = providers.kubernetes
        if kube is None:
            raise SpecError(
                [
                    SpecIssue(
                        "platform", "cluster", "no Kubernetes provider: declare a cluster or pass providers.kubernetes"
                    )
                ]
            )
        self.kubernetes_provider = kube
        secrets = dict(tenant_secrets or {})
        self.tenants: dict[str, TenantProject] = {}
        for project, pspec in spec.tenants.items():
            self.tenants[project] = TenantProject(
                child_name(name, project),
                pspec,
                pulumi.ResourceOptions(parent=self),
                provider=kube,
                project=project,
                ingress=spec.ingress,
                secret_values=secrets.get(project),
                protect=spec.protect,
            )
        self.namespaces = pulumi.Output.all(*[t.namespaces for t in self.tenants.values()]).apply(
            lambda groups: sorted(ns for g in groups for ns in g)
        )
        hosts = sorted({r.host for p in spec.tenants.values() for s in p.services.values() for r in s.routes})
        self.hostnames = pulumi.Output.from_input(hosts)
        self.register_outputs({"namespaces": self.namespaces, "hostnames": self.hostnames})


def kubernetes_provider(name: str, kubeconfig: pulumi.Input[str]) -> k8s.Provider:
    """An explicit Kubernetes provider with server-side apply (never the ambient ~/.kube/config)."""
    return k8s.Provider(name, kubeconfig=kubeconfig, enable_server_side_apply=True, delete_unreachable=False)


def build_platform(settings: StackSettings, kubeconfig: pulumi.Input[str] | None = None) -> EncliiPlatform:
    """Declare the platform of the current stack from its settings and export its outputs."""
    spec = settings.spec
    if kubeconfig is None:
        kubeconfig = settings.secret_or_placeholder(
            settings.kubeconfig,
            "enclii:kubeconfig",
            "no cluster in the spec and no kubeconfig; run: pulumi config set --secret kubeconfig < kubeconfig.yaml",
        )
    provider = kubernetes_provider(f"{spec.name}-k8s", kubeconfig)
    platform = EncliiPlatform(
        spec.name, spec, providers=PlatformProviders(kubernetes=provider), tenant_secrets=settings.tenant_secrets
    )
    pulumi.export("namespaces", platform.namespaces)
    pulumi.export("hostnames", platform.hostnames)
    pulumi.export("stage", spec.stage)
    pulumi.export("kubeconfig", pulumi.Output.secret(kubeconfig))
    for warning in settings.unset_secrets:
        pulumi.log.warn(f"secret {warning} is unset: synthesized with a placeholder; set it before `pulumi up`")
    return platform


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
                    "a preview stack needs the pull request number: pulumi config set prNumber 42",
                )
            ]
        )
    if settings.spec.stage != "preview":
        raise SpecError(
            [SpecIssue("platform", "stage", f"a preview stack needs stage: preview (got {settings.spec.stage!r})")]
        )
    try:
        settings.spec = preview_spec(settings.spec, settings.pr_number)
    except ValueError as exc:
        raise SpecError([SpecIssue("config", "enclii:prNumber", str(exc))]) from None
    kubeconfig: pulumi.Input[str] | None = settings.kubeconfig
    if kubeconfig is None:
        ref = pulumi.StackReference(production_stack or PRODUCTION_STACK_DEFAULT)
        kubeconfig = ref.require_output("kubeconfig").apply(str)
    return build_platform(settings, kubeconfig)

"""Cross-language wrappers: flat, documented inputs (what the provider host's analyzer reads) mapped onto
the enclii_iac classes. They subclass the library components, so the type tokens, the resource tree and
the behaviour are exactly those of the Python API; only the constructor signature differs.
"""

from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac import kube, platform
from enclii_iac.errors import SpecError, SpecIssue
from enclii_iac.models.loader import build_platform, load_documents


class TenantProjectArgs(TypedDict):
    """Inputs of one tenant project."""

    project: str
    """Name of the project to declare (a DNS label, e.g. shop)."""
    enclii_yaml: str
    """enclii.yaml text: the Project document and its Service documents (apiVersion enclii.dev/v1)."""
    kubeconfig: pulumi.Input[str]
    """Kubeconfig of the cluster (a secret)."""
    protect: NotRequired[bool]
    """Protect namespaces and volumes from deletion. Default: false."""
    secrets: NotRequired[dict[str, dict[str, pulumi.Input[str]]]]
    """Secret values by service and name: {"api": {"DATABASE_URL": "..."}}."""


class TenantProject(kube.TenantProject):
    """A tenant project: a namespace per environment with its guardrails, and every service in each."""

    namespaces: pulumi.Output[list[str]]
    """Namespaces of the project's environments."""

    def __init__(self, name: str, args: TenantProjectArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        tenants = load_documents([(f"{name}.encliiYaml", args["enclii_yaml"])]).tenants()
        project = args["project"]
        if project not in tenants:
            raise SpecError(
                [
                    SpecIssue(
                        f"{name}.encliiYaml",
                        "metadata.name",
                        f"no project {project!r} in enclii_yaml (found: {', '.join(sorted(tenants))})",
                    )
                ]
            )
        provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=pulumi.Output.secret(args["kubeconfig"]), enable_server_side_apply=True
        )
        super().__init__(
            name,
            tenants[project],
            opts,
            provider=provider,
            project=project,
            secret_values=args.get("secrets"),
            protect=bool(args.get("protect", False)),
        )


class EncliiPlatformArgs(TypedDict):
    """Inputs of a whole platform."""

    platform_yaml: str
    """Platform spec text (kind: Platform) followed by any tenant Project and Service documents."""
    kubeconfig: pulumi.Input[str]
    """Kubeconfig of the cluster (a secret)."""
    secrets: NotRequired[dict[str, dict[str, dict[str, pulumi.Input[str]]]]]
    """Secret values by project, service and name."""


class EncliiPlatform(platform.EncliiPlatform):
    """Everything one Enclii stack declares, from one platform spec."""

    namespaces: pulumi.Output[list[str]]
    """Every tenant namespace."""
    hostnames: pulumi.Output[list[str]]
    """Every routed hostname."""

    def __init__(self, name: str, args: EncliiPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        docs = load_documents([(f"{name}.platformYaml", args["platform_yaml"])])
        if docs.platform is None:
            raise SpecError([SpecIssue(f"{name}.platformYaml", "kind", "no Platform document found")])
        spec = build_platform(docs.platform, docs.tenants(), docs.platform_source)
        provider = platform.kubernetes_provider(f"{name}-k8s", pulumi.Output.secret(args["kubeconfig"]))
        super().__init__(
            name,
            spec,
            opts,
            providers=platform.PlatformProviders(kubernetes=provider),
            tenant_secrets=args.get("secrets"),
        )

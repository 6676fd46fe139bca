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
    kubeconfig: NotRequired[pulumi.Input[str]]
    """Kubeconfig of an existing cluster (a secret); not used when the spec declares a cluster."""
    ssh_private_key: NotRequired[pulumi.Input[str]]
    """Deploy key for the hosts (a secret); needed when the spec declares hosts."""
    cloudflare_api_token: NotRequired[pulumi.Input[str]]
    """Cloudflare API token (a secret); needed when the spec declares an edge."""
    hcloud_token: NotRequired[pulumi.Input[str]]
    """Hetzner Cloud API token (a secret); needed when the spec declares cloud servers."""
    secrets: NotRequired[dict[str, dict[str, dict[str, pulumi.Input[str]]]]]
    """Secret values by project, service and name."""


class EncliiPlatform(platform.EncliiPlatform):
    """Everything one Enclii stack declares, from one platform spec."""

    namespaces: pulumi.Output[list[str]]
    """Every tenant namespace."""
    hostnames: pulumi.Output[list[str]]
    """Every routed hostname."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig of the cluster the platform declares (empty when it uses a given cluster)."""

    def __init__(self, name: str, args: EncliiPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        docs = load_documents([(f"{name}.platformYaml", args["platform_yaml"])])
        if docs.platform is None:
            raise SpecError([SpecIssue(f"{name}.platformYaml", "kind", "no Platform document found")])
        spec = build_platform(docs.platform, docs.tenants(), docs.platform_source)
        missing = [
            key
            for key, needed in (
                ("kubeconfig", spec.cluster is None),
                ("ssh_private_key", spec.hosts is not None),
                ("cloudflare_api_token", spec.edge is not None),
                ("hcloud_token", spec.hosts is not None and bool(spec.hosts.cloud)),
            )
            if needed and args.get(key) is None
        ]
        if missing:
            raise SpecError([SpecIssue(name, key, "required by the platform spec") for key in missing])
        kube = hcloud_provider = cloudflare_provider = None
        if spec.cluster is None:
            kube = platform.kubernetes_provider(f"{name}-k8s", pulumi.Output.secret(args["kubeconfig"]))
        if spec.edge is not None:
            from enclii_iac.cloudflare import cf

            cloudflare_provider = cf.Provider(
                f"{name}-cloudflare", api_token=pulumi.Output.secret(args["cloudflare_api_token"])
            )
        if spec.hosts is not None and spec.hosts.cloud:
            import pulumi_hcloud as hcloud

            hcloud_provider = hcloud.Provider(f"{name}-hcloud", token=pulumi.Output.secret(args["hcloud_token"]))
        key = args.get("ssh_private_key")
        super().__init__(
            name,
            spec,
            opts,
            providers=platform.PlatformProviders(
                kubernetes=kube, hcloud=hcloud_provider, cloudflare=cloudflare_provider
            ),
            ssh_private_key=pulumi.Output.secret(key) if key is not None else None,
            tenant_secrets=args.get("secrets"),
        )

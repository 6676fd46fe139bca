"""The platform spec: the whole declaration of one Enclii stack (infrastructure, edge, platform, tenants)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from enclii_iac.models._base import Hostname, ShortLabel, StrictModel
from enclii_iac.models.cluster import K3sClusterSpec
from enclii_iac.models.cost import BudgetSpec, MeteringSpec
from enclii_iac.models.data import DataSpec
from enclii_iac.models.edge import EdgeSpec
from enclii_iac.models.host import HostsSpec
from enclii_iac.models.identity import IdentitySpec
from enclii_iac.models.services import ServicesSpec
from enclii_iac.models.tenant import ProjectSpec, check_renames

StackStage = Literal["production", "preview"]


class IngressSpec(StrictModel):
    """How HTTP reaches tenant services inside the cluster."""

    class_name: ShortLabel = Field("traefik", description="IngressClass of tenant routes. Default: traefik (k3s).")
    namespace: ShortLabel = Field("kube-system", description="Namespace of the ingress controller pods.")
    tunnel_namespace: ShortLabel = Field("cloudflared", description="Namespace of the Cloudflare Tunnel connector.")
    cluster_issuer: ShortLabel | None = Field(
        None, description="cert-manager ClusterIssuer for Ingress TLS. Default: none (TLS ends at Cloudflare)."
    )
    pod_labels: dict[str, str] = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "traefik"},
        description="Labels of the ingress controller's pods: only they may reach routed tenant pods. "
        "Default: k3s's Traefik.",
    )


RegistryPrefix = Annotated[
    str, Field(pattern=r"^[a-z0-9]([a-z0-9.-]{0,252}[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]{0,127}))*/?$")
]


class PolicySpec(StrictModel):
    """Guardrails enforced offline and at deploy time."""

    require_digests: bool = Field(True, description="Production images must be pinned by digest.")
    allowed_registries: list[RegistryPrefix] = Field(
        default_factory=list,
        description="Registries (or repository prefixes) tenant images may come from, e.g. ghcr.io/acme/; "
        "checked in validate, by `enclii-iac policy` and by the cluster's admission policy. Images are matched "
        "as written (docker.io/library/nginx, not nginx). Default: any.",
    )


def _without_tag(image: str) -> str:
    from enclii_iac.models._base import image_tag

    tag = image_tag(image)
    return image[: -len(tag) - 1] if tag else image


class PlatformSpec(StrictModel):
    """One Enclii stack: everything ``pulumi up`` declares for it."""

    name: ShortLabel = Field("enclii", description="Prefix of every resource of the stack.")
    stage: StackStage = Field("production", description="production protects stateful resources; preview does not.")
    domain: Hostname = Field(description="Cloudflare zone the platform is served from, e.g. example.com.")
    kubernetes_version: str = Field("1.33.0", pattern=r"^1\.[0-9]{2}\.[0-9]+$")
    hosts: HostsSpec | None = Field(
        None, description="Machines (AX41, Hetzner Cloud). Default: none (bring a cluster)."
    )
    cluster: K3sClusterSpec | None = Field(
        None, description="k3s on the hosts. Default: none (kubeconfig from config)."
    )
    edge: EdgeSpec | None = Field(None, description="Cloudflare Tunnel, DNS, custom domains, R2. Default: none.")
    ingress: IngressSpec = Field(default_factory=IngressSpec)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    data: DataSpec | None = Field(
        None, description="PostgreSQL (CloudNativePG), its backups to R2 and the restore drill. Default: none."
    )
    services: ServicesSpec = Field(
        default_factory=ServicesSpec,
        description="The platform's in-cluster services (docs/services.md); installed when the spec declares the "
        "cluster. Default: all of them.",
    )
    tenants: dict[ShortLabel, ProjectSpec] = Field(default_factory=dict)
    identity: IdentitySpec | None = Field(
        None, description="OIDC for the Kubernetes API, Janua, Cloudflare Access in front of the admin surfaces "
                          "(docs/identity.md). Default: none (the admin kubeconfig only).")
    budget: BudgetSpec | None = Field(
        None, description="Monthly cap of the whole bill (`enclii-iac cost`); synth, pulumi up and preview stacks "
        "refuse a spec whose estimate passes it, before anything is declared. Default: none.",
    )
    metering: MeteringSpec = Field(
        default_factory=MeteringSpec, description="OpenCost usage metering (docs/cost.md). Default: off.")
    renamed_from: list[ShortLabel] = Field(
        default_factory=list,
        description="Earlier names of the platform, oldest first: every resource takes aliases from each, so "
        "renaming it keeps the k3s tokens, the tunnel, the buckets and every other identity. Default: never renamed.",
    )

    @property
    def protect(self) -> bool:
        """Stateful resources are protected (and retained on delete) in production."""
        return self.stage == "production"

    @model_validator(mode="after")
    def _cluster_on_hosts(self) -> PlatformSpec:
        if self.cluster is not None:
            from enclii_iac.models.cluster import cluster_host_issues

            issues = cluster_host_issues(self.cluster, self.hosts)
            if issues:
                raise ValueError("; ".join(f"{i.path}: {i.message}" for i in issues))
        return self

    @model_validator(mode="after")
    def _api_reachable(self) -> PlatformSpec:
        if self.cluster is None:
            return self
        from enclii_iac.models.cluster import api_access_issues

        issues = api_access_issues(self.cluster, self.hosts, self.domain if self.edge is not None else None)
        access = self.cluster.api_access
        if access.mode == "tunnel" and self.edge is not None:
            from enclii_iac.render.edge import fqdn, tenant_edge

            name = fqdn(access.hostname, self.domain)
            taken = {fqdn(h.subdomain, self.domain): f"edge.hosts.{k}" for k, h in self.edge.hosts.items()}
            for route in tenant_edge(self.tenants).routes:
                taken.setdefault(route.host, route.source or route.host)
            if self.edge.custom_domains.enabled:
                taken.setdefault(fqdn(self.edge.custom_domains.fallback_origin, self.domain),
                                 "edge.customDomains.fallbackOrigin")
            preview = fqdn(self.edge.preview_subdomain, self.domain)
            if name in taken:
                raise ValueError(f"cluster.apiAccess.hostname: {name} is already used by {taken[name]}; pick another "
                                 "name for the API")
            if self.edge.preview_wildcard and name.endswith("." + preview):
                raise ValueError(f"cluster.apiAccess.hostname: {name} is inside the preview wildcard *.{preview}; "
                                 "pick a name outside it")
        if issues:
            raise ValueError("; ".join(f"{i.path}: {i.message}" for i in issues))
        return self

    @model_validator(mode="after")
    def _identity(self) -> PlatformSpec:
        if self.identity is not None:
            from enclii_iac.identity.checks import identity_issues
            from enclii_iac.models._issues import raise_if

            raise_if("PlatformSpec", identity_issues(self))
        return self

    @model_validator(mode="after")
    def _services(self) -> PlatformSpec:
        from enclii_iac.models._issues import raise_if
        from enclii_iac.models.services import platform_services_issues

        raise_if("PlatformSpec", platform_services_issues(self))
        return self

    @model_validator(mode="after")
    def _edge_certificates(self) -> PlatformSpec:
        if self.edge is None:
            return self
        from enclii_iac.models._issues import loc_of, raise_if
        from enclii_iac.models.edge_tls import coverage_issues
        from enclii_iac.render.edge import fqdn, tenant_edge

        edge = self.edge
        names: dict[str, str] = {}
        routes = tenant_edge(self.tenants).routes
        for route in routes:
            names.setdefault(route.host, route.source or "tenants")
        for key, host in edge.hosts.items():
            names.setdefault(fqdn(host.subdomain, self.domain), f"edge.hosts.{key}.subdomain")
        if edge.custom_domains.enabled:
            fallback = fqdn(edge.custom_domains.fallback_origin, self.domain)
            names.setdefault(fallback, "edge.customDomains.fallbackOrigin")
        if edge.preview_wildcard and routes:  # routed tenants get preview URLs one label under the wildcard
            names.setdefault(f"*.{fqdn(edge.preview_subdomain, self.domain)}", "edge.previewSubdomain")
        raise_if("PlatformSpec", [(loc_of(path), msg) for path, msg in coverage_issues(self.domain, names,
                                                                                       edge.certificate_packs)])
        return self

    @model_validator(mode="after")
    def _project_names(self) -> PlatformSpec:
        check_renames("tenants", "project", {k: v.renamed_from for k, v in self.tenants.items()})
        return self

    @model_validator(mode="after")
    def _edge_routes(self) -> PlatformSpec:
        if self.edge is not None:
            from enclii_iac.errors import SpecError
            from enclii_iac.render.edge import plan_edge, tenant_edge

            try:
                edge = tenant_edge(self.tenants)
                plan_edge(self.edge, self.domain, edge.routes, edge.domains, ingress=self.ingress)
            except SpecError as exc:
                from enclii_iac.models._issues import loc_of, raise_if

                raise_if("PlatformSpec", list(dict.fromkeys((loc_of(i.path), i.message) for i in exc.issues)))
        return self

    @model_validator(mode="after")
    def _guardrails(self) -> PlatformSpec:
        from enclii_iac.models._issues import raise_if
        from enclii_iac.models.guards import platform_issues

        if self.name in self.renamed_from:
            raise ValueError("renamedFrom: lists the platform's own name")
        raise_if("PlatformSpec", platform_issues(self))
        return self

    @model_validator(mode="after")
    def _production_rules(self) -> PlatformSpec:
        if self.stage == "production" and self.policy.require_digests and self.data is not None:
            from enclii_iac.models.data import unpinned_images

            for path, image in unpinned_images(self.data):
                raise ValueError(f"{path}: production images must be pinned by digest (got {image!r}; use "
                                 f"{_without_tag(image)}@sha256:<digest>)")
        if self.stage == "production" and self.policy.require_digests:
            from enclii_iac.models._base import image_digest

            for project, spec in self.tenants.items():
                if "prod" not in spec.environments:
                    continue
                for svc_name, svc in spec.services_in("prod").items():
                    images = [svc.image]
                    if svc.deploy.canary is not None:
                        images.append(svc.deploy.canary.image)
                    if svc.deploy.blue_green is not None:
                        images += [svc.deploy.blue_green.blue_image, svc.deploy.blue_green.green_image]
                    for image in images:
                        if image_digest(image) is None:
                            raise ValueError(
                                f"tenants.{project}.services.{svc_name}.image: production images must be pinned by "
                                f"digest (got {image!r}; use {_without_tag(image)}@sha256:<digest>)"
                            )
        return self


class PlatformMetadata(StrictModel):
    """``metadata`` of a Platform document."""

    name: ShortLabel | None = Field(None, description="The platform's name; spec.name wins when both are set.")


class PlatformDocument(StrictModel):
    """A ``kind: Platform`` document. ``spec`` is validated as a PlatformSpec once stack config overrides and tenant
    files are merged into it (``enclii_iac.models.loader.build_platform``)."""

    api_version: Literal["enclii.dev/v1"]
    kind: Literal["Platform"]
    metadata: PlatformMetadata = Field(default_factory=PlatformMetadata)
    spec: dict[str, Any]

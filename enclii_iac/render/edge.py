"""What the edge routes, as plain data: tunnel ingress rules, DNS names, custom domains, origins.

Pure (no Pulumi): the components and the policy checks call ``plan_edge`` so the tunnel's ingress
rules, its DNS records and cloudflared's NetworkPolicy can never disagree.

    edge = tenant_edge(platform.tenants)
    plan = plan_edge(platform.edge, platform.domain, edge.routes, edge.domains)
    plan.ingress[-1].service == "http_status:404"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from enclii_iac.errors import SpecError, SpecIssue
from enclii_iac.models.edge import (
    TRAEFIK_POD_LABELS,
    TRAEFIK_PORT,
    TRAEFIK_SERVICE,
    TRAEFIK_TARGET_PORT,
    EdgeSpec,
)
from enclii_iac.models.platform import IngressSpec
from enclii_iac.models.tenant import ProjectSpec

CATCH_ALL = "http_status:404"
"""Service of the last ingress rule: anything not routed explicitly gets a 404 from Cloudflare's edge."""

CFARGOTUNNEL_SUFFIX = ".cfargotunnel.com"
"""A tunnel is reached at ``<tunnel-id>.cfargotunnel.com``; proxied CNAMEs point there."""


@dataclass(frozen=True)
class TenantRoute:
    """One tenant HTTP route: served by Traefik in the cluster, reached through the tunnel."""

    host: str
    path: str = "/"
    project: str = ""
    environment: str = ""
    service: str = ""
    source: str = ""
    """Field path of the route in the platform spec, for error messages."""

    @property
    def owner(self) -> str:
        return f"{self.project}/{self.service}" if self.project else self.service


@dataclass(frozen=True)
class TenantDomain:
    """One tenant custom domain (Cloudflare for SaaS custom hostname)."""

    hostname: str
    project: str = ""
    environment: str = ""
    service: str = ""
    source: str = ""

    @property
    def owner(self) -> str:
        return f"{self.project}/{self.service}" if self.project else self.service


@dataclass(frozen=True)
class TenantEdge:
    """Every route and custom domain the tenants declare, in a stable order."""

    routes: tuple[TenantRoute, ...] = ()
    domains: tuple[TenantDomain, ...] = ()


def tenant_edge(tenants: Mapping[str, ProjectSpec]) -> TenantEdge:
    """Routes and custom domains of every service of every environment of ``tenants``."""
    routes: list[TenantRoute] = []
    domains: list[TenantDomain] = []
    for project in sorted(tenants):
        spec = tenants[project]
        for env in sorted(spec.environments):
            for svc_name, svc in sorted(spec.services_in(env).items()):
                base = f"tenants.{project}.services.{svc_name}"
                original = spec.services[svc_name].routes  # field paths index the spec, not the filtered routes
                for r in svc.routes:
                    where = f"{base}.routes[{original.index(r) if r in original else 0}].host"
                    routes.append(TenantRoute(r.host, r.path, project, env, svc_name, where))
                for i, d in enumerate(svc.domains):
                    domains.append(TenantDomain(d, project, env, svc_name, f"{base}.domains[{i}]"))
    return TenantEdge(tuple(routes), tuple(domains))


@dataclass(frozen=True)
class IngressRule:
    """One tunnel ingress rule (cloudflared matches rules in order; the first match wins)."""

    service: str
    hostname: str | None = None
    path: str | None = None
    """A regular expression on the request path (cloudflared semantics), or None for every path."""

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.hostname is not None:
            out["hostname"] = self.hostname
        if self.path is not None:
            out["path"] = self.path
        out["service"] = self.service
        return out


@dataclass(frozen=True)
class Origin:
    """An in-cluster destination cloudflared may open connections to (for its NetworkPolicy)."""

    namespace: str
    port: int
    pod_labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EdgePlan:
    """Everything the edge serves for one zone, derived from the spec and the tenants."""

    zone: str
    ingress: tuple[IngressRule, ...]
    dns_names: tuple[str, ...]
    """Names in the zone that get a proxied CNAME to the tunnel (sorted, wildcard included)."""
    custom_domains: tuple[str, ...]
    """Tenant custom hostnames (sorted, unique)."""
    origins: tuple[Origin, ...]
    fallback_origin: str | None
    preview_wildcard: str | None
    warnings: tuple[str, ...] = field(default=())

    def ingress_config(self) -> list[dict[str, Any]]:
        """The ``ingresses`` list of a ZeroTrustTunnelCloudflaredConfig."""
        return [r.to_config() for r in self.ingress]


def fqdn(relative: str, zone: str) -> str:
    """``api`` → ``api.<zone>``; ``@`` → ``<zone>``."""
    return zone if relative == "@" else f"{relative}.{zone}"


def in_zone(host: str, zone: str) -> bool:
    return host == zone or host.endswith("." + zone)


def path_regex(prefix: str) -> str | None:
    """cloudflared matches ``path`` as a regular expression; a URL prefix becomes an anchored one."""
    if prefix == "/":
        return None
    escaped = prefix.replace(".", r"\.")
    return f"^{escaped}" if prefix.endswith("/") else f"^{escaped}(/|$)"


def traefik_url(ingress: IngressSpec) -> str:
    return f"http://{TRAEFIK_SERVICE}.{ingress.namespace}.svc.cluster.local:{TRAEFIK_PORT}"


def _rule_key(item: tuple[str, str, str]) -> tuple[int, int, str, int, str]:
    host, prefix, _ = item
    wildcard = host.startswith("*.")
    return (1 if wildcard else 0, -host.count(".") if wildcard else 0, host, -len(prefix), prefix)


def plan_edge(
    spec: EdgeSpec,
    zone: str,
    routes: Iterable[TenantRoute] = (),
    domains: Iterable[TenantDomain] = (),
    *,
    ingress: IngressSpec | None = None,
) -> EdgePlan:
    """Validate tenant routes and domains against the edge spec and compute what the edge serves.

    Raises SpecError (every problem, each with its field path) when a route leaves the zone, a
    hostname is claimed twice, a custom domain sits inside the zone, or there are more custom
    hostnames than ``customDomains.maxHostnames``.
    """
    ingress = ingress or IngressSpec()
    routes = list(routes)
    domains = list(domains)
    issues: list[SpecIssue] = []
    traefik = traefik_url(ingress)

    platform_hosts: dict[str, str] = {}
    items: list[tuple[str, str, str]] = []
    for key, host in sorted(spec.hosts.items()):
        name = fqdn(host.subdomain, zone)
        platform_hosts.setdefault(name, f"edge.hosts.{key}")
        items.append((name, host.path, host.url))

    cd = spec.custom_domains
    fallback = fqdn(cd.fallback_origin, zone) if cd.enabled else None
    wildcard = f"*.{fqdn(spec.preview_subdomain, zone)}" if spec.preview_wildcard else None

    def covered(host: str) -> bool:
        return wildcard is not None and host.endswith(wildcard[1:])

    route_owner: dict[tuple[str, str], TenantRoute] = {}
    host_owner: dict[str, TenantRoute] = {}
    tenant_hosts: set[str] = set()
    for r in routes:
        where = r.source or f"route {r.host}"
        if r.host.startswith("*."):
            issues.append(SpecIssue("tenants", where, f"{r.host!r}: wildcard routes are reserved for the platform"))
            continue
        if not in_zone(r.host, zone):
            issues.append(
                SpecIssue(
                    "tenants",
                    where,
                    f"{r.host!r} is not in the zone {zone}; routes must be names in the zone "
                    "(serve other domains through spec.domains, Cloudflare for SaaS)",
                )
            )
            continue
        if r.host in platform_hosts:
            issues.append(
                SpecIssue(
                    "tenants", where, f"{r.host!r} is a platform host ({platform_hosts[r.host]}); pick another name"
                )
            )
            continue
        if r.host == fallback:
            issues.append(
                SpecIssue("tenants", where, f"{r.host!r} is the custom-domain fallback origin; pick another name")
            )
            continue
        first = host_owner.setdefault(r.host, r)
        if (first.project, first.environment) != (r.project, r.environment):
            # a host belongs to one namespace, every path of it: on the shared Traefik a longer path of another
            # tenant's host would win
            issues.append(
                SpecIssue(
                    "tenants",
                    where,
                    f"{r.host} is already routed by {first.owner} in {first.environment or 'another environment'} "
                    f"({first.source}); a host belongs to one tenant environment, all of its paths",
                )
            )
            continue
        other = route_owner.get((r.host, r.path))
        if other is not None and other.owner != r.owner:
            issues.append(
                SpecIssue("tenants", where, f"{r.host}{r.path} is already routed to {other.owner} ({other.source})")
            )
            continue
        route_owner[(r.host, r.path)] = r
        tenant_hosts.add(r.host)

    domain_owner: dict[str, TenantDomain] = {}
    for d in domains:
        where = d.source or f"domain {d.hostname}"
        if in_zone(d.hostname, zone):
            issues.append(
                SpecIssue(
                    "tenants", where, f"{d.hostname!r} is in the platform zone {zone}; list it under routes instead"
                )
            )
            continue
        if d.hostname.startswith("*."):
            issues.append(SpecIssue("tenants", where, f"{d.hostname!r}: wildcard custom domains are not supported"))
            continue
        prev = domain_owner.get(d.hostname)
        if prev is not None and (prev.owner, prev.environment) != (d.owner, d.environment):
            issues.append(
                SpecIssue("tenants", where, f"{d.hostname} is already claimed by {prev.owner} ({prev.source})")
            )
            continue
        domain_owner[d.hostname] = d
    custom = tuple(sorted(domain_owner))
    if custom and not cd.enabled:
        issues.append(
            SpecIssue(
                "edge",
                "edge.customDomains.enabled",
                f"tenants declare {len(custom)} custom domain(s) ({custom[0]}, ...) but "
                f"custom "
                "domains are disabled; set enabled: true or remove the domains",
            )
        )
    if len(custom) > cd.max_hostnames:
        issues.append(
            SpecIssue(
                "edge",
                "edge.customDomains.maxHostnames",
                f"{len(custom)} custom hostnames declared, above the cap of "
                f"{cd.max_hostnames} "
                f"(Cloudflare for SaaS includes 100; each one above is billed); raise the "
                f"cap "
                "or remove domains",
            )
        )
    if issues:
        raise SpecError(issues)

    for tenant_host in sorted(tenant_hosts):
        if not covered(tenant_host):
            items.append((tenant_host, "/", traefik))
    for domain in custom:
        items.append((domain, "/", traefik))
    if wildcard is not None:
        items.append((wildcard, "/", traefik))
    rules = [
        IngressRule(service=svc, hostname=host, path=path_regex(prefix))
        for host, prefix, svc in sorted(items, key=_rule_key)
    ]
    rules.append(IngressRule(service=CATCH_ALL))

    names = set(platform_hosts) | {h for h in tenant_hosts if not covered(h)}
    if wildcard is not None:
        names.add(wildcard)
    if fallback is not None:
        names.add(fallback)

    origins = {Origin(ingress.namespace, TRAEFIK_TARGET_PORT, tuple(sorted(TRAEFIK_POD_LABELS.items())))}
    for ph in spec.hosts.values():
        origins.add(Origin(ph.namespace, ph.container_port, tuple(sorted(ph.pod_labels.items()))))

    warnings: list[str] = []
    if len(custom) >= cd.warn_at:
        warnings.append(
            f"{len(custom)} custom hostnames declared (warning at {cd.warn_at}, cap {cd.max_hostnames}; "
            f"Cloudflare for SaaS includes 100)"
        )
    return EdgePlan(
        zone=zone,
        ingress=tuple(rules),
        dns_names=tuple(sorted(names, key=lambda n: (n.startswith("*."), n))),
        custom_domains=custom,
        origins=tuple(sorted(origins, key=lambda o: (o.namespace, o.port, o.pod_labels))),
        fallback_origin=fallback,
        preview_wildcard=wildcard,
        warnings=tuple(warnings),
    )


def record_key(name: str, zone: str) -> str:
    """Stable key of a DNS name for logical resource names: ``api``, ``apex``, ``wildcard.preview``."""
    if name == zone:
        return "apex"
    rel = name[: -len(zone) - 1] if name.endswith("." + zone) else name
    return "wildcard" + rel[1:] if rel.startswith("*.") else rel


def as_routes(pairs: Sequence[tuple[str, str]]) -> tuple[TenantRoute, ...]:
    """``[(host, path), ...]`` as TenantRoutes (for callers without tenant specs)."""
    return tuple(TenantRoute(host=h, path=p) for h, p in pairs)

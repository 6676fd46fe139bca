"""Platform-wide guardrails that need the whole spec, each reported at its own field path.

``platform_issues(spec)`` is what ``PlatformSpec`` refuses a spec for, before anything is declared:

- every tenant environment has its own namespace: no two project+environment pairs map to one, none is a
  platform namespace, and ``preview-pr-<n>`` environments belong to preview stacks;
- every tenant hostname (route or custom domain) belongs to one namespace, and none is a platform name (the
  Kubernetes API endpoint and SANs) or lies in the preview wildcard production routes to preview stacks;
- every image comes from ``policy.allowedRegistries`` (when set);
- no tenant namespace is exempted from Pod Security, no platform host is served from a tenant namespace;
- etcd snapshots land under an object lock (production);
- quotas and containers fit the nodes (:mod:`enclii_iac.models.capacity`).
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from enclii_iac.models._issues import Loc
from enclii_iac.naming import namespace_name

if TYPE_CHECKING:
    from enclii_iac.models.platform import PlatformSpec

RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease", "system-upgrade"})
"""Namespaces Kubernetes and k3s own."""
_PREVIEW_PR_ENV = re.compile(r"^preview-pr-[0-9]+$")


def registry_prefix(value: str) -> str:
    """An allowed-registry entry as the prefix images are matched with: ``ghcr.io/acme`` → ``ghcr.io/acme/``."""
    return value if value.endswith("/") else value + "/"


def image_allowed(image: str, prefixes: list[str]) -> bool:
    """True when ``image`` starts with one of the (normalized) prefixes; no prefixes allows everything.

    The image is compared as written: ``nginx`` is not ``docker.io/library/nginx`` (write images in full)."""
    return not prefixes or any(image.startswith(p) for p in prefixes)


def tenant_namespaces(spec: PlatformSpec) -> dict[str, tuple[str, str]]:
    """``namespace -> (project, environment)`` of every tenant environment (first claimant on a collision)."""
    out: dict[str, tuple[str, str]] = {}
    for project, pspec in sorted(spec.tenants.items()):
        for env in sorted(pspec.environments):
            out.setdefault(namespace_name(pspec.identity(project), env), (project, env))
    return out


def namespace_hosts(spec: PlatformSpec) -> dict[str, list[str]]:
    """``namespace -> sorted hostnames`` (routes and custom domains) each tenant environment serves: what the
    admission policy lets that namespace's Ingresses and IngressRoutes claim."""
    out: dict[str, list[str]] = {}
    for project, pspec in sorted(spec.tenants.items()):
        for env in sorted(pspec.environments):
            hosts: set[str] = set()
            for svc in pspec.services_in(env).values():
                hosts |= {r.host for r in svc.routes} | set(svc.domains)
            out[namespace_name(pspec.identity(project), env)] = sorted(hosts)
    return out


def _namespaces(spec: PlatformSpec) -> list[tuple[Loc, str]]:
    issues: list[tuple[Loc, str]] = []
    platform = dict.fromkeys(RESERVED_NAMESPACES, "Kubernetes")
    platform[spec.ingress.namespace] = "ingress.namespace"
    platform[spec.ingress.tunnel_namespace] = "ingress.tunnelNamespace"
    if spec.edge is not None:
        for key, host in sorted(spec.edge.hosts.items()):
            platform.setdefault(host.namespace, f"edge.hosts.{key}")
    claimed: dict[str, tuple[str, str]] = {}
    for project, pspec in sorted(spec.tenants.items()):
        for env in sorted(pspec.environments):
            loc: Loc = ("tenants", project, "environments", env)
            ns = namespace_name(pspec.identity(project), env)
            if spec.stage == "production" and _PREVIEW_PR_ENV.fullmatch(env):
                issues.append((loc, f"{env} is the environment preview stacks create for that pull request (in "
                                    f"namespace {ns}); a production stack declaring it would share and delete it"))
            if ns in platform:
                issues.append((loc, f"its namespace {ns} is a platform namespace ({platform[ns]}); rename the "
                                    "project"))
            other = claimed.setdefault(ns, (project, env))
            if other != (project, env):
                issues.append((loc, f"its namespace {ns} is also the namespace of {other[0]} {other[1]}; two "
                                    "environments would share one namespace (quota, policies, secrets): rename "
                                    "one project"))
    tenants = set(claimed)
    if spec.edge is not None:
        for key, host in sorted(spec.edge.hosts.items()):
            if host.namespace in tenants:
                issues.append((("edge", "hosts", key, "namespace"),
                               f"{host.namespace} is a tenant namespace; platform services run in their own"))
    if spec.cluster is not None:
        for i, ns in enumerate(spec.cluster.hardening.pod_security_exempt_namespaces):
            if ns in tenants:
                issues.append((("cluster", "hardening", "podSecurityExemptNamespaces", i),
                               f"{ns} is a tenant namespace: tenant pods always run under Pod Security restricted"))
    return issues


def _hosts(spec: PlatformSpec) -> list[tuple[Loc, str]]:
    issues: list[tuple[Loc, str]] = []
    reserved: dict[str, str] = {}
    if spec.cluster is not None:
        if spec.cluster.api_endpoint:
            reserved[spec.cluster.api_endpoint] = "cluster.apiEndpoint (the Kubernetes API)"
        for i, san in enumerate(spec.cluster.tls_sans):
            try:
                ipaddress.ip_address(san)
            except ValueError:
                reserved.setdefault(san, f"cluster.tlsSans[{i}] (the Kubernetes API)")
    preview = None
    if spec.stage == "production" and spec.edge is not None and spec.edge.preview_wildcard:
        zone_preview = spec.edge.preview_subdomain
        preview = spec.domain if zone_preview == "@" else f"{zone_preview}.{spec.domain}"
    owner: dict[str, tuple[str, Loc]] = {}
    for project, pspec in sorted(spec.tenants.items()):
        for env in sorted(pspec.environments):
            ns = namespace_name(pspec.identity(project), env)
            for svc_name, svc in sorted(pspec.services_in(env).items()):
                base: Loc = ("tenants", project, "services", svc_name)
                original = pspec.services[svc_name]
                names: list[tuple[str, Loc]] = [
                    (r.host, (*base, "routes", original.routes.index(r) if r in original.routes else 0, "host"))
                    for r in svc.routes
                ]
                names += [(d, (*base, "domains", i)) for i, d in enumerate(svc.domains)]
                for host, loc in names:
                    if host in reserved:
                        issues.append((loc, f"{host} is {reserved[host]}; a tenant cannot serve a platform name"))
                        continue
                    if preview is not None and host.endswith("." + preview):
                        issues.append((loc, f"{host} is inside *.{preview}, which production routes to preview "
                                            "stacks (their URLs); pick a name outside it"))
                        continue
                    first = owner.setdefault(host, (ns, loc))
                    if first[0] != ns:
                        where = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in first[1])
                        issues.append((loc, f"{host} is already served by namespace {first[0]} ({where}): a host "
                                            "belongs to one tenant environment, all of its paths"))
    return issues


def _registries(spec: PlatformSpec) -> list[tuple[Loc, str]]:
    prefixes = [registry_prefix(p) for p in spec.policy.allowed_registries]
    if not prefixes:
        return []
    issues: list[tuple[Loc, str]] = []
    allowed = ", ".join(prefixes)
    for project, pspec in sorted(spec.tenants.items()):
        seen: set[tuple[Loc, str]] = set()
        for env in sorted(pspec.environments):
            override = pspec.environments[env].overrides
            for svc_name, svc in sorted(pspec.services_in(env).items()):
                base: Loc = ("tenants", project, "services", svc_name)
                images: list[tuple[Loc, str]] = [((*base, "image"), svc.image)]
                if svc_name in override and override[svc_name].image is not None:
                    images = [(("tenants", project, "environments", env, "overrides", svc_name, "image"), svc.image)]
                if svc.deploy.canary is not None:
                    images.append(((*base, "deploy", "canary", "image"), svc.deploy.canary.image))
                if svc.deploy.blue_green is not None:
                    images.append(((*base, "deploy", "blueGreen", "blueImage"), svc.deploy.blue_green.blue_image))
                    images.append(((*base, "deploy", "blueGreen", "greenImage"), svc.deploy.blue_green.green_image))
                for loc, image in images:
                    if not image_allowed(image, prefixes) and (loc, image) not in seen:
                        seen.add((loc, image))
                        issues.append((loc, f"{image!r} is not from an allowed registry ({allowed}; "
                                            "policy.allowedRegistries); images are matched as written"))
    return issues


def _etcd_lock(spec: PlatformSpec) -> list[tuple[Loc, str]]:
    if spec.stage != "production" or spec.cluster is None:
        return []
    snaps = spec.cluster.etcd_snapshots
    if not snaps.enabled or snaps.bucket is None or spec.edge is None or spec.edge.r2 is None:
        return []
    folder = f"{snaps.folder}/"
    for bucket in spec.edge.r2.buckets.values():
        if bucket.name != snaps.bucket:
            continue
        if any(rule.enabled and folder.startswith(rule.prefix) for rule in bucket.lock.values()):
            return []
        return [(("cluster", "etcdSnapshots", "bucket"),
                 f"snapshots in {snaps.bucket}/{folder} are not under an object lock: the node holds a token that "
                 f"can delete them; add lock: {{etcd: {{prefix: {folder}, retentionDays: 3}}}} to that bucket")]
    return []


def platform_issues(spec: PlatformSpec) -> list[tuple[Loc, str]]:
    """Every guardrail violation of ``spec`` (see the module docstring)."""
    from enclii_iac.models.capacity import capacity_report

    issues = _namespaces(spec)
    issues += _hosts(spec)
    issues += _registries(spec)
    issues += _etcd_lock(spec)
    issues += list(capacity_report(spec.tenants, spec.cluster, spec.hosts).errors)
    return issues


def platform_warnings(spec: PlatformSpec) -> list[str]:
    """What is allowed but worth knowing: oversubscribed environments, nodes of unknown capacity."""
    from enclii_iac.models.capacity import capacity_report

    return list(capacity_report(spec.tenants, spec.cluster, spec.hosts).warnings)

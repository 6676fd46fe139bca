"""Cross-checks of ``identity`` against the rest of the platform spec (pure; run by PlatformSpec)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from enclii_iac.models._issues import Loc, loc_of
from enclii_iac.models.identity import janua_issues

if TYPE_CHECKING:
    from enclii_iac.models.platform import PlatformSpec


def platform_databases(spec: PlatformSpec) -> frozenset[str]:
    """Names of the PostgreSQL databases the platform declares for its own services (Janua's store).

    The data services (``data.postgres``) declare one database, the Enclii API's, which Janua must not share,
    and no per-service databases yet, so the answer is none and Janua on the platform is refused with the way
    out (run it outside)."""
    return frozenset()


def identity_issues(spec: PlatformSpec) -> list[tuple[Loc, str]]:
    """Every reason ``spec.identity`` cannot be declared, each at its field path."""
    identity = spec.identity
    if identity is None:
        return []
    issues = [(loc_of(path), msg) for path, msg in janua_issues(identity, platform_databases(spec))]
    access = identity.access
    if access is None:
        return issues
    if spec.edge is None:
        issues.append((loc_of("identity.access"), "Cloudflare Access needs the edge (spec.edge: account and zone)"))
    api = spec.cluster.api_access if spec.cluster is not None else None
    if access.kube_api_groups and (api is None or api.mode != "tunnel"):
        issues.append((loc_of("identity.access.kubeApiGroups"),
                       "only used when the Kubernetes API is reached through the tunnel (cluster.apiAccess.mode: "
                       "tunnel); with the allow-list the API checks OIDC tokens itself"))
    if api is not None and api.mode == "tunnel":
        for key, app in access.apps.items():
            if app.hostname == api.hostname:
                issues.append((loc_of(f"identity.access.apps.{key}.hostname"),
                               f"{app.hostname!r} is the Kubernetes API's Access application "
                               "(cluster.apiAccess.hostname); use identity.access.kubeApiGroups for it"))
    seen: dict[tuple[str, str], str] = {}
    for key, app in access.apps.items():
        for path in app.paths or [""]:
            other = seen.setdefault((app.hostname, path), key)
            if other != key:
                issues.append((loc_of(f"identity.access.apps.{key}.hostname"),
                               f"{app.hostname}{path or ' (all paths)'} is already protected by apps.{other}"))
    return issues

"""Turn a platform spec into the spec of one pull request's preview (pure).

Each tenant project gets exactly one environment, ``preview-pr-<n>``; every routed service gets a URL
``<service>-<project>-pr-<n>.preview.<domain>``; custom domains, autoscaling, canaries and SLO alerts are
dropped (a preview is one small copy, not a second production).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from enclii_iac.errors import SpecError, SpecIssue
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.models.service import ServiceSpec
from enclii_iac.models.tenant import EnvironmentSpec, ProjectSpec, Quota
from enclii_iac.naming import dns_label

PREVIEW_QUOTA = Quota(cpu="2", memory="4Gi", cpu_limit="4", memory_limit="8Gi", pods=20, storage="5Gi", pvcs=5)
"""A preview may use a third of the box at most."""
PREVIEW_TTL_HOURS = 72
"""A preview that is not refreshed for three days is collected by `enclii-iac preview gc`."""


def preview_environment(pr_number: int) -> str:
    if pr_number < 1:
        raise ValueError(f"pull request numbers start at 1 (got {pr_number})")
    return f"preview-pr-{pr_number}"


def preview_host(service: str, project: str, pr_number: int, domain: str) -> str:
    return f"{dns_label(service, project, 'pr', str(pr_number))}.preview.{domain}"


def _preview_service(
    name: str, project: str, svc: ServiceSpec, pr: int, domain: str, image: str | None = None
) -> ServiceSpec:
    data = svc.model_dump(by_alias=False, exclude_unset=True)
    data.pop("environments", None)
    data.pop("domains", None)
    data.pop("autoscale", None)
    data.pop("slo", None)
    data["replicas"] = {"min": min(svc.replicas.min, 1)}
    if svc.deploy.strategy == "blue-green" and svc.deploy.blue_green is not None:
        bg = svc.deploy.blue_green
        data["image"] = bg.blue_image if bg.active == "blue" else bg.green_image
    if svc.deploy.strategy == "canary" and svc.deploy.canary is not None:
        data["image"] = svc.deploy.canary.image
    if image is not None:  # the pull request's build; services it does not build keep production's image
        data["image"] = image
    data["deploy"] = {"strategy": "rolling"}
    if svc.routes:
        host = preview_host(name, project, pr, domain)
        data["routes"] = [{"host": host, "path": p} for p in sorted({r.path for r in svc.routes})]
    return ServiceSpec.model_validate(data)


def preview_spec(
    spec: PlatformSpec,
    pr_number: int,
    *,
    ttl_hours: int = PREVIEW_TTL_HOURS,
    expires_at: str | None = None,
    images: Mapping[str, str] | None = None,
) -> PlatformSpec:
    """The spec of the preview of pull request ``pr_number`` (stage preview, nothing protected).

    ``images`` maps ``<project>/<service>`` to the image the pull request built (every other service runs
    production's); ``ttl_hours`` and ``expires_at`` (UTC, ``2026-12-04T17:00:00Z``) label each namespace.

    :raises SpecError: an ``images`` key names no service, an image or the TTL is invalid.
    """
    env = preview_environment(pr_number)
    images = dict(images or {})
    known = {f"{p}/{s}" for p, ps in spec.tenants.items() for s in ps.services}
    choices = ", ".join(sorted(known))
    issues = [
        SpecIssue("config", f"enclii:images.{key}", f"no such service (<project>/<service>: {choices})")
        for key in sorted(set(images) - known)
    ]
    if issues:
        raise SpecError(issues)
    try:
        environment = EnvironmentSpec(quota=PREVIEW_QUOTA, ttl_hours=ttl_hours, expires_at=expires_at)
    except ValidationError as exc:
        raise SpecError(
            [SpecIssue("config", "enclii:" + ".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
        ) from None
    tenants = {}
    for project, pspec in spec.tenants.items():
        services = {}
        for name, svc in pspec.services.items():
            key = f"{project}/{name}"
            try:
                services[name] = _preview_service(name, project, svc, pr_number, spec.domain, images.get(key))
            except ValidationError as exc:
                raise SpecError(
                    [SpecIssue("config", f"enclii:images.{key}", e["msg"]) for e in exc.errors()]
                ) from None
        tenants[project] = ProjectSpec(environments={env: environment}, services=services, members=pspec.members,
                                      budget=pspec.budget)
    try:
        return PlatformSpec.model_validate({**dict(spec), "stage": "preview", "tenants": tenants})
    except ValidationError as exc:  # e.g. a pull request's image outside policy.allowedRegistries
        raise SpecError([SpecIssue("preview", ".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]) from None

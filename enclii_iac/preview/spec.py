"""Turn a platform spec into the spec of one pull request's preview (pure).

Each tenant project gets exactly one environment, ``preview-pr-<n>``; every routed service gets a URL
``<service>-<project>-pr-<n>.preview.<domain>``; custom domains, autoscaling, canaries and SLO alerts are
dropped (a preview is one small copy, not a second production).
"""

from __future__ import annotations

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


def _preview_service(name: str, project: str, svc: ServiceSpec, pr: int, domain: str) -> ServiceSpec:
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
    data["deploy"] = {"strategy": "rolling"}
    if svc.routes:
        host = preview_host(name, project, pr, domain)
        data["routes"] = [{"host": host, "path": p} for p in sorted({r.path for r in svc.routes})]
    return ServiceSpec.model_validate(data)


def preview_spec(spec: PlatformSpec, pr_number: int) -> PlatformSpec:
    """The spec of the preview of pull request ``pr_number`` (stage preview, nothing protected)."""
    env = preview_environment(pr_number)
    tenants = {}
    for project, pspec in spec.tenants.items():
        services = {
            name: _preview_service(name, project, svc, pr_number, spec.domain) for name, svc in pspec.services.items()
        }
        tenants[project] = ProjectSpec(
            environments={env: EnvironmentSpec(quota=PREVIEW_QUOTA, ttl_hours=PREVIEW_TTL_HOURS)},
            services=services,
            members=pspec.members,
            budget=pspec.budget,
        )
    return PlatformSpec.model_validate({**dict(spec), "stage": "preview", "tenants": tenants})

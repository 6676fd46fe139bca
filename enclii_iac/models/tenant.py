"""Tenant specs: a project holds environments and services (``kind: Project`` documents)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator

from enclii_iac.models._base import (
    CpuQuantity,
    EnvName,
    EnvValue,
    Hostname,
    Image,
    MemoryQuantity,
    ShortLabel,
    StrictModel,
    cpu_millis,
    memory_bytes,
)
from enclii_iac.models._issues import Loc, raise_if
from enclii_iac.models.cost import BudgetSpec
from enclii_iac.models.service import ServiceSpec

_ENV_NAME = re.compile(r"^(dev|stage|prod|preview-[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?)$")


def _env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an environment name: use dev, stage, prod or preview-<id> (e.g. preview-pr-42)"
        )
    return value


EnvironmentName = Annotated[str, AfterValidator(_env_name)]

Stage = Literal["dev", "stage", "prod", "preview"]


def stage_of(environment: str) -> Stage:
    """The stage of an environment name: ``preview-pr-7`` → ``preview``."""
    if environment.startswith("preview-"):
        return "preview"
    if environment == "dev":
        return "dev"
    if environment == "stage":
        return "stage"
    if environment == "prod":
        return "prod"
    raise ValueError(f"{environment!r} is not an environment name")


class Quota(StrictModel):
    """ResourceQuota of one environment namespace (requests and limits summed over its pods)."""

    cpu: CpuQuantity = Field("4", description="Sum of CPU requests. Default: 4 cores.")
    memory: MemoryQuantity = Field("8Gi", description="Sum of memory requests. Default: 8Gi.")
    cpu_limit: CpuQuantity = Field("8", description="Sum of CPU limits. Default: 8 cores.")
    memory_limit: MemoryQuantity = Field("16Gi", description="Sum of memory limits. Default: 16Gi.")
    pods: int = Field(50, ge=1, le=1000)
    storage: MemoryQuantity = Field("20Gi", description="Sum of PVC requests.")
    pvcs: int = Field(10, ge=0, le=200)

    @model_validator(mode="after")
    def _order(self) -> Quota:
        if cpu_millis(self.cpu) > cpu_millis(self.cpu_limit):
            raise ValueError(f"cpu must be <= cpuLimit (got {self.cpu} > {self.cpu_limit})")
        if memory_bytes(self.memory) > memory_bytes(self.memory_limit):
            raise ValueError(f"memory must be <= memoryLimit (got {self.memory} > {self.memory_limit})")
        return self


class ServiceOverride(StrictModel):
    """Per-environment changes to a service (another image in dev, fewer replicas in preview)."""

    image: Image | None = None
    replicas_min: int | None = Field(None, ge=0, le=100)
    replicas_max: int | None = Field(None, ge=1, le=100)
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)
    domains: list[Hostname] | None = Field(
        None, description="Custom domains in this environment (e.g. [] in dev: a domain is served by one "
        "environment). Default: the service's.",
    )


_UTC_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"


class EnvironmentSpec(StrictModel):
    """One environment of a project: its namespace, quota and per-service overrides."""

    quota: Quota = Field(default_factory=Quota)
    overrides: dict[ShortLabel, ServiceOverride] = Field(default_factory=dict)
    isolate_services: bool = Field(
        False, description="Only declared dependsOn edges may talk inside the environment. Default: all may."
    )
    ttl_hours: int | None = Field(None, ge=1, le=24 * 30, description="Previews: hours before clean-up.")
    budget: BudgetSpec | None = Field(None, description="Monthly cap of this environment's showback. Default: none.")
    expires_at: Annotated[str, Field(pattern=_UTC_TIME)] | None = Field(
        None, description="Previews: when `enclii-iac preview gc` collects the environment (UTC, "
        "2026-12-04T17:00:00Z), written on its namespace. Default: no expiry.",
    )


Role = Literal["owner", "admin", "developer", "viewer"]


class Member(StrictModel):
    """A user or group bound to a role in every environment of the project."""

    kind: Literal["User", "Group"] = "User"
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9._@:+-]{1,128}$")]
    role: Role

    @model_validator(mode="after")
    def _not_system(self) -> Member:
        if self.name.lower().startswith("system:"):
            raise ValueError(
                f"name: {self.name!r} is a Kubernetes system identity (system:masters, system:authenticated, "
                "service accounts, nodes...); bind the people or groups of your identity provider"
            )
        return self


class ProjectSpec(StrictModel):
    """A tenant project: environments (dev, stage, prod, preview-*), services and members."""

    environments: dict[EnvironmentName, EnvironmentSpec] = Field(
        default_factory=lambda: {"prod": EnvironmentSpec()},
        description="Environments by name. Default: prod only.",
    )
    services: dict[ShortLabel, ServiceSpec] = Field(default_factory=dict)
    members: list[Member] = Field(default_factory=list)
    renamed_from: list[ShortLabel] = Field(
        default_factory=list,
        description="Earlier names of this project, oldest first. Its namespaces, labels and Kubernetes names keep "
        "deriving from the oldest and its Pulumi resources take aliases from each, so a rename neither replaces "
        "nor deletes anything. Default: never renamed.",
    )
    budget: BudgetSpec | None = Field(None, description="Monthly cap of the project's showback. Default: none.")

    @model_validator(mode="after")
    def _references(self) -> ProjectSpec:
        if not self.environments:
            raise ValueError("environments: declare at least one (e.g. prod: {})")
        for svc_name, svc in self.services.items():
            for dep in svc.depends_on:
                if dep not in self.services:
                    raise ValueError(
                        f"services.{svc_name}.dependsOn: {dep!r} is not a service of this project "
                        f"(known: {', '.join(sorted(self.services))})"
                    )
                if dep == svc_name:
                    raise ValueError(f"services.{svc_name}.dependsOn: a service cannot depend on itself")
            for env_ref in svc.environments or []:
                if env_ref not in self.environments:
                    raise ValueError(
                        f"services.{svc_name}.environments: {env_ref!r} is not an environment of this project "
                        f"(known: {', '.join(sorted(self.environments))})"
                    )
        for env_name, env in self.environments.items():
            for svc_name in env.overrides:
                if svc_name not in self.services:
                    raise ValueError(
                        f"environments.{env_name}.overrides: {svc_name!r} is not a service of this project"
                    )
        check_renames("services", "service", {k: v.renamed_from for k, v in self.services.items()})
        seen: set[tuple[str, str]] = set()
        for m in self.members:
            if (m.kind, m.name) in seen:
                raise ValueError(f"members: {m.kind} {m.name!r} is listed twice; give each subject one role")
            seen.add((m.kind, m.name))
        self._check_environments()
        return self

    def _check_environments(self) -> None:
        """Route environments exist; overrides give valid services; every host belongs to one environment."""
        issues: list[tuple[Loc, str]] = []
        for svc_name, svc in self.services.items():
            runs_in = svc.environments or sorted(self.environments)
            for i, r in enumerate(svc.routes):
                for env_ref in r.environments or []:
                    if env_ref not in runs_in:
                        issues.append(
                            (
                                ("services", svc_name, "routes", i, "environments"),
                                f"{env_ref!r} is not an environment service {svc_name!r} runs in "
                                f"({', '.join(runs_in)})",
                            )
                        )
        for env_name, env in self.environments.items():
            for svc_name, override in env.overrides.items():
                try:
                    apply_override(self.services[svc_name], override)
                except ValidationError as exc:
                    for err in exc.errors():
                        where = ".".join(str(p) for p in err["loc"] if isinstance(p, str | int))
                        msg = str(err["msg"]).removeprefix("Value error, ")
                        issues.append(
                            (("environments", env_name, "overrides", svc_name), f"{where + ': ' if where else ''}{msg}")
                        )
        if issues:
            raise_if("ProjectSpec", issues)
        served_in: dict[str, dict[str, Loc]] = {}
        for env_name in sorted(self.environments):
            overrides = self.environments[env_name].overrides
            for svc_name, svc in sorted(self.services_in(env_name).items()):
                original = self.services[svc_name].routes
                names: list[tuple[str, Loc]] = [
                    (r.host, ("services", svc_name, "routes", original.index(r) if r in original else 0, "host"))
                    for r in svc.routes
                ]
                own = svc_name in overrides and overrides[svc_name].domains is not None
                base: Loc = ("environments", env_name, "overrides", svc_name) if own else ("services", svc_name)
                names += [(d, (*base, "domains", i)) for i, d in enumerate(svc.domains)]
                for host, loc in names:
                    served_in.setdefault(host, {}).setdefault(env_name, loc)
        for host, envs in sorted(served_in.items()):
            if len(envs) < 2:
                continue
            keep = "prod" if "prod" in envs else sorted(envs)[0]
            loc = sorted(envs.values(), key=str)[0]
            issues.append(
                (
                    loc,
                    f"{host} is served in environments {', '.join(sorted(envs))}: a host belongs to one namespace "
                    "(the ingress is shared, so each could answer the others' traffic); "
                    + (f"limit the route with environments: [{keep}] and give the other environments hosts of their "
                       "own" if "routes" in loc else
                       f"serve it from {keep} only (environments.<env>.overrides.<service>.domains: [] elsewhere, or "
                       "limit the service's routes to one environment)"),
                )
            )
        raise_if("ProjectSpec", issues)

    def identity(self, name: str) -> str:
        """The key this project's Kubernetes objects derive from: its oldest name (``name`` if never renamed)."""
        return self.renamed_from[0] if self.renamed_from else name

    def service_identity(self, name: str) -> str:
        """The key a service's Kubernetes names and labels derive from: its oldest name."""
        svc = self.services[name]
        return svc.renamed_from[0] if svc.renamed_from else name

    def services_in(self, environment: str) -> dict[str, ServiceSpec]:
        """The services that run in ``environment``, with that environment's overrides applied."""
        env = self.environments[environment]
        out: dict[str, ServiceSpec] = {}
        for name, svc in self.services.items():
            if svc.environments is not None and environment not in svc.environments:
                continue
            override = env.overrides.get(name)
            svc = apply_override(svc, override) if override else svc
            out[name] = routes_for(svc, environment)
        return out


def routes_for(svc: ServiceSpec, environment: str) -> ServiceSpec:
    """``svc`` with only the routes served in ``environment``; without any, it is not routed there (no custom
    domains, no SLO alerts, which are measured on routed traffic)."""
    routes = svc.routes_in(environment)
    if len(routes) == len(svc.routes):
        return svc
    data = svc.model_dump(by_alias=False, exclude_unset=True)
    data["routes"] = [r.model_dump(by_alias=False, exclude_unset=True) for r in routes]
    if not routes:
        data.pop("domains", None)
        data.pop("slo", None)
    return ServiceSpec.model_validate(data)


def check_renames(path: str, kind: str, former_names: dict[str, list[str]]) -> None:
    """Every current and former name identifies one object: ``former_names`` maps each name to its
    ``renamedFrom``; a ValueError at ``<path>.<name>.renamedFrom`` otherwise."""
    claimed: dict[str, str] = {name: name for name in former_names}
    for name, former_list in former_names.items():
        for former in former_list:
            if former == name:
                raise ValueError(f"{path}.{name}.renamedFrom: lists the {kind}'s own name")
            owner = claimed.setdefault(former, name)
            if owner != name:
                what = "the name" if owner == former else "a former name"
                raise ValueError(
                    f"{path}.{name}.renamedFrom: {former!r} is {what} of {kind} {owner!r}; "
                    f"each name identifies one {kind}"
                )


def apply_override(svc: ServiceSpec, override: ServiceOverride) -> ServiceSpec:
    """``svc`` with ``override`` applied, re-validated as a whole."""
    data = svc.model_dump(by_alias=False, exclude_unset=True)
    if override.image is not None:
        data["image"] = override.image
    replicas = dict(data.get("replicas") or {})
    if override.replicas_min is not None:
        replicas["min"] = override.replicas_min
    if override.replicas_max is not None:
        replicas["max"] = override.replicas_max
    if replicas:
        data["replicas"] = replicas
    if override.env:
        data["env"] = {**dict(data.get("env") or {}), **override.env}
    if override.domains is not None:
        data["domains"] = list(override.domains)
    return ServiceSpec.model_validate(data)


class ProjectMetadata(StrictModel):
    name: ShortLabel


class ProjectBody(StrictModel):
    environments: dict[EnvironmentName, EnvironmentSpec] = Field(default_factory=lambda: {"prod": EnvironmentSpec()})
    members: list[Member] = Field(default_factory=list)
    renamed_from: list[ShortLabel] = Field(
        default_factory=list,
        description="Earlier names of this project, oldest first. Its namespaces, labels and Kubernetes names keep "
        "deriving from the oldest and its Pulumi resources take aliases from each, so a rename neither replaces "
        "nor deletes anything. Default: never renamed.",
    )
    budget: BudgetSpec | None = Field(None, description="Monthly cap of the project's showback. Default: none.")


class ProjectDocument(StrictModel):
    """An ``enclii.yaml`` Project document (services come as separate Service documents)."""

    api_version: Literal["enclii.dev/v1"]
    kind: Literal["Project"]
    metadata: ProjectMetadata
    spec: ProjectBody = Field(default_factory=ProjectBody)

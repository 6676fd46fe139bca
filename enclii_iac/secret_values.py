"""Checks of the secret values given to tenants, before anything is declared.

``EncliiPlatform(tenant_secrets=...)`` and ``TenantProject(secret_values=...)`` take the values of the
secrets services declare (``secrets: [DATABASE_URL]``). Every problem is found up front, all at once,
with its path and the fix, and no message ever contains a value::

    check_tenant_secrets(spec.tenants, {"shop": {"api": {"DATABASE_URL": url}}})   # [] when complete

Pure: no Pulumi import (an ``Output`` is recognised by duck typing), so the CLI can use it too.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Mapping
from typing import Any

from enclii_iac.errors import SpecIssue
from enclii_iac.models.tenant import ProjectSpec


def _close(name: str, known: list[str]) -> str:
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else (f" (known: {', '.join(known)})" if known else "")


def _is_input(value: Any) -> bool:
    """A ``pulumi.Input[str]``: a string, an Output or another awaitable (checked without importing Pulumi)."""
    if isinstance(value, str) or isinstance(value, Awaitable):
        return True
    return type(value).__name__ == "Output" and type(value).__module__.startswith("pulumi")


def check_secret_values(project: str, spec: ProjectSpec, values: Any, where: str = "") -> list[SpecIssue]:
    """Problems of ``values`` (``{service: {NAME: value}}``) against the secrets ``spec``'s services declare.

    ``where`` is the path of ``values`` in the caller's terms (default ``secret_values``).
    """
    where = where or "secret_values"
    document = f"project {project}"
    issues: list[SpecIssue] = []
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        got = type(values).__name__
        return [SpecIssue(document, where, f"must be a mapping {{service: {{NAME: value}}}} (got {got})")]
    services = sorted(spec.services)
    for svc_name in sorted(str(k) for k in values):
        if svc_name not in spec.services:
            issues.append(SpecIssue(document, f"{where}.{svc_name}", f"no service {svc_name!r} in project {project!r}"
                                    + _close(svc_name, services)))
    for svc_name in services:
        svc = spec.services[svc_name]
        given = values.get(svc_name)
        path = f"{where}.{svc_name}"
        if given is None:
            given = {}
        if not isinstance(given, Mapping):
            issues.append(SpecIssue(document, path, f"must be a mapping {{NAME: value}} (got {type(given).__name__})"))
            continue
        declared = list(svc.secrets)
        missing = [s for s in declared if s not in given]
        if missing:
            issues.append(SpecIssue(
                document, path,
                f"no value for {', '.join(missing)} (declared in spec.secrets of {project}/{svc_name}); pass it as "
                "a Pulumi secret, in a stack: pulumi config set --secret --path "
                f"'enclii:tenantSecrets[\"{project}/{svc_name}\"].{missing[0]}' VALUE",
            ))
        for name in sorted(str(k) for k in given):
            if name not in declared:
                issues.append(SpecIssue(document, f"{path}.{name}",
                                        "not a secret the service declares in spec.secrets" + _close(name, declared)))
            elif not _is_input(given[name]):
                issues.append(SpecIssue(document, f"{path}.{name}",
                                        f"must be a string or a pulumi.Output (got {type(given[name]).__name__}; "
                                        "the value is not shown)"))
    return issues


def check_tenant_secrets(tenants: Mapping[str, ProjectSpec], values: Any, where: str = "tenant_secrets") -> list[
        SpecIssue]:
    """Problems of ``values`` (``{project: {service: {NAME: value}}}``) for every tenant project."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        return [SpecIssue("platform", where,
                          f"must be a mapping {{project: {{service: {{NAME: value}}}}}} (got {type(values).__name__})")]
    issues: list[SpecIssue] = []
    projects = sorted(tenants)
    for project in sorted(str(k) for k in values):
        if project not in tenants:
            issues.append(SpecIssue("platform", f"{where}.{project}", f"no tenant project {project!r}"
                                    + _close(project, projects)))
    for project in projects:
        issues += check_secret_values(project, tenants[project], values.get(project), f"{where}.{project}")
    return issues

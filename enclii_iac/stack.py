"""Stack settings: what a stack program reads from its Pulumi config and spec files.

This is the one place where a stack touches the outside world (config and files); components never do.

Config keys (namespace ``enclii``):

==================  ========  =======================================================================
key                 secret    meaning
==================  ========  =======================================================================
``spec``            no        platform spec YAML, relative to the stack directory (``platform.yaml``)
``platform``        no        platform spec fields set in stack config; they override the file's
``tenantFiles``     no        list of enclii.yaml files (globs), relative to the stack directory
``kubeconfig``      yes       kubeconfig of an existing cluster, when the spec declares no ``cluster``
``tenantSecrets``   yes       ``{"<project>/<service>": {"NAME": "value"}}`` values of tenant secrets
``hcloudToken``     yes       Hetzner Cloud API token (else ``HCLOUD_TOKEN`` in the environment)
``cloudflareToken`` yes       Cloudflare API token (else ``CLOUDFLARE_API_TOKEN`` in the environment)
``sshPrivateKey``   yes       deploy key pulumi-command logs in to the hosts with
``prNumber``        no        preview stacks: the pull request number
==================  ========  =======================================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from enclii_iac.errors import SpecError, SpecIssue
from enclii_iac.models.loader import build_platform, load_documents, read_files
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.models.tenant import ProjectSpec

CONFIG_NAMESPACE = "enclii"
CONFIG_KEYS = (
    "spec", "platform", "tenantFiles", "kubeconfig", "tenantSecrets", "hcloudToken", "cloudflareToken",
    "sshPrivateKey", "prNumber", "productionStack",
)
"""Every key a stack reads, all in the ``enclii`` namespace (``pulumi config set enclii:<key> ...``)."""
SYNTH_ENV = "ENCLII_SYNTH"
"""Set to ``1`` by ``enclii-iac synth``: unset secrets become marked placeholders instead of errors."""
UNSET_SECRET = "[unset]"


@dataclass
class StackSettings:
    """Everything a stack program needs besides the components."""

    spec: PlatformSpec
    kubeconfig: pulumi.Output[str] | None = None
    tenant_secrets: dict[str, dict[str, dict[str, pulumi.Input[str]]]] = field(default_factory=dict)
    hcloud_token: pulumi.Output[str] | None = None
    cloudflare_token: pulumi.Output[str] | None = None
    ssh_private_key: pulumi.Output[str] | None = None
    unset_secrets: list[str] = field(default_factory=list)
    pr_number: int | None = None
    placeholders: bool = False
    """True under ``enclii-iac synth``: unset secrets are synthesized as marked placeholders."""

    def secret_or_placeholder(self, value: pulumi.Output[str] | None, key: str, fix: str) -> pulumi.Output[str]:
        """``value``, or under synth a marked placeholder (recorded in ``unset_secrets``); else a SpecError."""
        if value is not None:
            return value
        if self.placeholders:
            self.unset_secrets.append(key)
            return pulumi.Output.secret(UNSET_SECRET)
        raise SpecError([SpecIssue("config", key, fix)])


def _resolve_files(stack_dir: Path, patterns: list[str]) -> list[Path]:
    out: list[Path] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matches = sorted(stack_dir.glob(pattern))
            if not matches:
                raise SpecError([SpecIssue("config", "enclii:tenantFiles", f"{pattern!r} matches no file")])
            out += matches
        else:
            out.append(stack_dir / pattern)
    return out


def load_spec(
    stack_dir: str | Path,
    spec_file: str = "platform.yaml",
    tenant_files: list[str] | None = None,
    python_tenants: Mapping[str, ProjectSpec] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> PlatformSpec:
    """The platform spec of a stack: the Platform document, tenant files and tenants built in Python."""
    base = Path(stack_dir)
    docs = load_documents(read_files([base / spec_file, *_resolve_files(base, list(tenant_files or []))]))
    if docs.platform is None:
        raise SpecError([SpecIssue(str(base / spec_file), "kind", "no Platform document found")])
    tenants = dict(docs.tenants())
    for name, project in (python_tenants or {}).items():
        if name in tenants:
            raise SpecError([SpecIssue(f"tenants.{name}", "", "declared both in a tenant file and in Python")])
        tenants[name] = project
    data = {**docs.platform, **dict(overrides or {})}
    return build_platform(data, tenants, docs.platform_source)


def _secret_values(
    raw: Any, spec: PlatformSpec, placeholders: bool
) -> tuple[dict[str, dict[str, dict[str, pulumi.Input[str]]]], list[str]]:
    given: dict[str, Any] = dict(raw or {})
    out: dict[str, dict[str, dict[str, pulumi.Input[str]]]] = {}
    unset: list[str] = []
    issues: list[SpecIssue] = []
    known = set()
    for project, pspec in spec.tenants.items():
        for svc_name, svc in pspec.services.items():
            key = f"{project}/{svc_name}"
            known.add(key)
            values = given.get(key) or {}
            if not isinstance(values, dict):
                issues.append(SpecIssue("config", f"enclii:tenantSecrets.{key}", "must be a mapping of NAME: value"))
                continue
            for secret in svc.secrets:
                if secret in values:
                    out.setdefault(project, {}).setdefault(svc_name, {})[secret] = pulumi.Output.secret(
                        str(values[secret])
                    )
                elif placeholders:
                    unset.append(f"{key}:{secret}")
                    out.setdefault(project, {}).setdefault(svc_name, {})[secret] = pulumi.Output.secret(UNSET_SECRET)
                else:
                    issues.append(
                        SpecIssue(
                            "config",
                            f"enclii:tenantSecrets.{key}.{secret}",
                            "no value; run: pulumi config set --secret --path "
                            f"'enclii:tenantSecrets[\"{key}\"].{secret}' VALUE",
                        )
                    )
    for key in sorted(set(given) - known):
        issues.append(SpecIssue("config", f"enclii:tenantSecrets.{key}", "no such service (<project>/<service>)"))
    if issues:
        raise SpecError(issues)
    return out, unset


def misplaced_config_keys() -> list[str]:
    """Stack config keys set in the project's namespace (``pulumi config set sshPrivateKey`` writes
    ``<project>:sshPrivateKey``) that the stack ignores because it reads ``enclii:<key>``."""
    project = pulumi.get_project()
    if project == CONFIG_NAMESPACE:
        return []
    return [f"{project}:{key}" for key in CONFIG_KEYS if pulumi.runtime.get_config(f"{project}:{key}") is not None]


def load_stack_settings(
    stack_dir: str | Path,
    python_tenants: Mapping[str, ProjectSpec] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> StackSettings:
    """Read the current stack's config (``enclii:*``) and spec files, validating everything up front."""
    cfg = pulumi.Config(CONFIG_NAMESPACE)
    for key in misplaced_config_keys():
        name = key.split(":", 1)[1]
        pulumi.log.warn(
            f"config {key} is ignored: the stack reads enclii:{name}; move it with "
            f"`pulumi config rm {name}` and `pulumi config set [--secret] enclii:{name} VALUE`"
        )
    from_config = cfg.get_object("platform")
    if from_config is not None and not isinstance(from_config, dict):
        raise SpecError([SpecIssue("config", "enclii:platform", "must be an object (platform spec fields)")])
    merged = {**(from_config or {}), **dict(overrides or {})}
    spec = load_spec(
        stack_dir, cfg.get("spec") or "platform.yaml", cfg.get_object("tenantFiles") or [], python_tenants, merged
    )
    placeholders = os.environ.get(SYNTH_ENV) == "1"
    secrets, unset = _secret_values(cfg.get_object("tenantSecrets"), spec, placeholders)
    pr = cfg.get_int("prNumber")
    return StackSettings(
        spec=spec,
        kubeconfig=cfg.get_secret("kubeconfig"),
        tenant_secrets=secrets,
        hcloud_token=cfg.get_secret("hcloudToken"),
        cloudflare_token=cfg.get_secret("cloudflareToken"),
        ssh_private_key=cfg.get_secret("sshPrivateKey"),
        unset_secrets=unset,
        pr_number=pr,
        placeholders=placeholders,
    )

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
``januaClient``     yes       secret of Cloudflare Access's OIDC client at Janua (``identity.access``)
``Secret``
``prNumber``        no        preview stacks: the pull request number
``productionStack`` no        preview stacks: the production stack to reference
``ttlHours``        no        preview stacks: hours the preview lives unless updated (default 72)
``expiresAt``       no        preview stacks: when it expires (UTC, ``2026-12-04T17:00:00Z``); set by the driver
``images``          no        preview stacks: ``{"<project>/<service>": image}`` the pull request built
``cloudflareToken`` no        the permissions the Cloudflare token was created with (``enclii-iac check``
``Permissions``               compares them with what the spec needs)
==================  ========  =======================================================================
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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
    "sshPrivateKey", "prNumber", "productionStack", "cloudflareTokenPermissions", "januaClientSecret", "ttlHours",
    "expiresAt", "images", "alertWebhookUrl",
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
    janua_client_secret: pulumi.Output[str] | None = None
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


def require_secret(key: str, fix: str = "", namespace: str | None = None) -> pulumi.Output[str]:
    """The secret config value ``<namespace>:<key>`` (default namespace: the project's), for your own programs.

    Under ``enclii-iac synth`` (offline, where secrets cannot be decrypted) an unset or encrypted value is a
    marked placeholder ``[unset]`` with a warning, so the program synthesizes; under ``pulumi up`` an unset
    value is a SpecError naming the key and ``fix`` (default: the ``pulumi config set --secret`` command).

        kubeconfig = require_secret("kubeconfig", "pulumi config set --secret <project>:kubeconfig < ~/.kube/config")
    """
    ns = namespace or pulumi.get_project()
    value = pulumi.Config(ns).get_secret(key)
    if value is not None:
        return value
    if os.environ.get(SYNTH_ENV) == "1":
        pulumi.log.warn(f"secret {ns}:{key} is unset: synthesized with a placeholder; set it before `pulumi up`")
        return pulumi.Output.secret(UNSET_SECRET)
    raise SpecError([SpecIssue("config", f"{ns}:{key}",
                               fix or f"not set; run: pulumi config set --secret {ns}:{key} VALUE")])


def _resolve_files(stack_dir: Path, patterns: Any) -> list[Path]:
    """The tenant files of ``enclii:tenantFiles``: paths and globs relative to the stack directory."""
    where = "enclii:tenantFiles"
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
        raise SpecError([SpecIssue("config", where, "must be a list of file names or globs relative to the stack "
                                                    "directory, e.g. [tenants/*.yaml]")])
    out: list[Path] = []
    for i, pattern in enumerate(patterns):
        if Path(pattern).is_absolute() or "\x00" in pattern:
            raise SpecError([SpecIssue("config", f"{where}[{i}]", f"{pattern!r} is not relative to the stack "
                                                                  "directory (the stack must work from any checkout)")])
        if any(ch in pattern for ch in "*?["):
            try:
                matches = sorted(p for p in stack_dir.glob(pattern) if p.is_file())
            except (ValueError, NotImplementedError) as exc:
                raise SpecError(
                    [SpecIssue("config", f"{where}[{i}]", f"{pattern!r} is not a supported glob: {exc}")]
                ) from None
            if not matches:
                raise SpecError([SpecIssue("config", f"{where}[{i}]", f"{pattern!r} matches no file")])
            out += matches
        else:
            out.append(stack_dir / pattern)
    return out


def _config_value(cfg: pulumi.Config, key: str, kind: str) -> Any:
    """``enclii:<key>`` as ``kind`` (``object``, ``list``, ``int``), or None when unset; a value of the wrong
    shape is a SpecError naming the key, never a traceback."""
    import json

    full = f"{CONFIG_NAMESPACE}:{key}"
    raw = cfg.get(key)
    if raw is None:
        return None
    if raw == UNSET_SECRET:
        raise SpecError([SpecIssue("config", full, "is encrypted (set with --secret) but is not a secret; set it in "
                                                   f"clear: pulumi config rm {full}; pulumi config set {full} ...")])
    try:
        value: Any = int(raw) if kind == "int" else json.loads(raw)
    except (ValueError, RecursionError):
        value = None
    expected = {"object": dict, "list": list, "int": int}[kind]
    if not isinstance(value, expected) or isinstance(value, bool):
        shape = {"object": "an object", "list": "a list", "int": "a whole number"}[kind]
        raise SpecError([SpecIssue("config", full, f"must be {shape}")])
    return value


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
                if secret in values and values[secret] == UNSET_SECRET and placeholders:
                    unset.append(f"{key}:{secret}")  # encrypted in the stack file: not readable offline
                    out.setdefault(project, {}).setdefault(svc_name, {})[secret] = pulumi.Output.secret(UNSET_SECRET)
                elif secret in values:
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
    """Stack config keys set in the project's namespace (``pulumi config set`` with a bare ``sshPrivateKey`` writes
    ``<project>:sshPrivateKey``) that the stack ignores because it reads ``enclii:<key>``."""
    project = pulumi.get_project()
    if project == CONFIG_NAMESPACE:
        return []
    return [f"{project}:{key}" for key in CONFIG_KEYS if pulumi.runtime.get_config(f"{project}:{key}") is not None]


def _config_keys() -> list[str]:
    from pulumi.runtime import config as _config

    return sorted({*_config.CONFIG.get(), *(_config.get_config_env() or {})})


def unknown_config_keys() -> list[tuple[str, str | None]]:
    """``(key, suggestion)`` for every ``enclii:<key>`` the stack does not read (a misspelling such as
    ``enclii:cloudflareApiToken``), with the closest key it does read, if any."""
    import difflib

    out: list[tuple[str, str | None]] = []
    for full in _config_keys():
        namespace, _, key = full.partition(":")
        if namespace != CONFIG_NAMESPACE or key in CONFIG_KEYS or not key:
            continue
        close = difflib.get_close_matches(key, CONFIG_KEYS, n=1, cutoff=0.6)
        out.append((full, f"{CONFIG_NAMESPACE}:{close[0]}" if close else None))
    return out


def config_warnings() -> list[str]:
    """Warnings about stack config the stack ignores: keys in the project's namespace, unknown ``enclii:`` keys."""
    out = []
    for key in misplaced_config_keys():
        name = key.split(":", 1)[1]
        out.append(
            f"config {key} is ignored: the stack reads enclii:{name}; move it with "
            f"`pulumi config rm {name}` and `pulumi config set [--secret] enclii:{name} VALUE`"
        )
    for key, suggestion in unknown_config_keys():
        hint = f"did you mean {suggestion}?" if suggestion else f"the stack reads {', '.join(CONFIG_KEYS)}"
        out.append(f"config {key} is not read by the stack ({hint})")
    return out


_OBSERVERS: list[list[StackSettings]] = []


@contextmanager
def observe_settings() -> Iterator[list[StackSettings]]:
    """Collect the settings every stack program run inside the block loads (``enclii-iac check`` reads
    which secrets are unset from them)."""
    seen: list[StackSettings] = []
    _OBSERVERS.append(seen)
    try:
        yield seen
    finally:
        _OBSERVERS.remove(seen)


SECRET_CONFIG_KEYS = ("kubeconfig", "tenantSecrets", "hcloudToken", "cloudflareToken", "sshPrivateKey",
                      "januaClientSecret", "alertWebhookUrl")
"""Keys that hold secrets: set them with ``pulumi config set --secret``, never in clear."""


def plaintext_secret_warnings() -> list[str]:
    """A warning for every secret key (``enclii:sshPrivateKey``, ...) set in clear in the stack's config file."""
    out = []
    for key in SECRET_CONFIG_KEYS:
        full = f"{CONFIG_NAMESPACE}:{key}"
        if pulumi.runtime.get_config(full) is not None and not pulumi.runtime.is_config_secret(full):
            out.append(f"config {full} is stored in clear in Pulumi.<stack>.yaml; it is a secret: run `pulumi config "
                       f"rm {full}` and `pulumi config set --secret [--path] {full} ...`, and rotate the value")
    return out


def load_stack_settings(
    stack_dir: str | Path,
    python_tenants: Mapping[str, ProjectSpec] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> StackSettings:
    """Read the current stack's config (``enclii:*``) and spec files, validating everything up front."""
    cfg = pulumi.Config(CONFIG_NAMESPACE)
    for warning in config_warnings():
        pulumi.log.warn(warning)
    from_config = _config_value(cfg, "platform", "object")
    merged = {**(from_config or {}), **dict(overrides or {})}
    tenant_files = _config_value(cfg, "tenantFiles", "list")
    spec_file = cfg.get("spec") or "platform.yaml"
    if spec_file == UNSET_SECRET:
        raise SpecError([SpecIssue("config", "enclii:spec", "is encrypted (set with --secret) but is not a "
                                                            "secret; set it in clear: pulumi config set enclii:spec "
                                                            "platform.yaml")])
    spec = load_spec(stack_dir, spec_file, tenant_files or [], python_tenants, merged)
    for warning in plaintext_secret_warnings():
        pulumi.log.warn(warning)
    placeholders = os.environ.get(SYNTH_ENV) == "1"
    secrets, unset = _secret_values(cfg.get_object("tenantSecrets"), spec, placeholders)
    pr = _config_value(cfg, "prNumber", "int")
    settings = StackSettings(
        spec=spec,
        kubeconfig=cfg.get_secret("kubeconfig"),
        tenant_secrets=secrets,
        hcloud_token=cfg.get_secret("hcloudToken"),
        cloudflare_token=cfg.get_secret("cloudflareToken"),
        ssh_private_key=cfg.get_secret("sshPrivateKey"),
        janua_client_secret=cfg.get_secret("januaClientSecret"),
        unset_secrets=unset,
        pr_number=pr,
        placeholders=placeholders,
    )
    for seen in _OBSERVERS:
        seen.append(settings)
    return settings

"""``enclii-iac check STACK_DIR``: is this stack ready for a real ``pulumi up``?

The prerequisite checklist as a command, offline (no cloud API is called, no secret is decrypted):

- the stack directory and its stack config file; the stack program synthesizes (every spec and config error);
- config keys in the right namespace (``enclii:``), none unknown;
- every secret the stack needs is set, encrypted (``--secret``), including each tenant secret;
- the Cloudflare token's permissions: what this spec needs, against ``enclii:cloudflareTokenPermissions``;
- SSH: the deploy key is set; host keys are pinned and are real keys; admin keys parse;
- example values left in the spec (documentation addresses, the example account and zone ids);
- the way in to the Kubernetes API (``cluster.apiAccess``);
- tools a real deployment runs: ``pulumi`` (3.245 or newer), ``cloudflared`` with the API behind the tunnel;
- the state backend's credentials.

Each finding has a status (``ok``, ``warn``, ``fail``, ``info``), a message and, unless ok, the fix.
``check`` exits 1 when anything fails.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal

from enclii_iac.errors import EncliiIacError, SpecError
from enclii_iac.models.cluster import subnet_within
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.stack import UNSET_SECRET
from enclii_iac.synth import Progress, StackDir, read_stack_dir, run_stack

Status = Literal["ok", "warn", "fail", "info"]

PULUMI_MIN_VERSION: Final = (3, 245, 0)
"""Oldest Pulumi CLI whose S3 backend reads the login URL `enclii-iac state bootstrap` prints."""

DOCUMENTATION_NETWORKS: Final = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
"""Address ranges reserved for documentation (RFC 5737, RFC 3849): never a real host or office."""
EXAMPLE_IDS: Final = frozenset({"0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"})
EXAMPLE_DOMAINS: Final = frozenset({"example.com", "example.org", "example.net"})

SECRET_ENV: Final = {"cloudflareToken": "CLOUDFLARE_API_TOKEN", "hcloudToken": "HCLOUD_TOKEN"}
"""Secrets the stack falls back to an environment variable for."""


@dataclass(frozen=True)
class Finding:
    """One line of the checklist."""

    check: str
    status: Status
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def text(self) -> str:
        head = f"{self.status.upper():4}  {self.check}: {self.message}"
        return head + (f"\n      fix: {self.fix}" if self.fix else "")


# --- the Cloudflare token ---------------------------------------------------------------------------------


def cloudflare_permissions(spec: PlatformSpec) -> list[str]:
    """The permissions (dashboard names) the Cloudflare API token needs for what ``spec`` declares."""
    needed: list[str] = []
    edge = spec.edge
    if edge is None:
        return needed
    needed += ["Account: Cloudflare Tunnel: Edit", "Zone: DNS: Edit"]
    if edge.zone_settings is not None:
        needed.append("Zone: Zone Settings: Edit")
    if edge.custom_domains.enabled:
        needed.append("Zone: SSL and Certificates: Edit")
    if edge.r2 is not None and edge.r2.buckets:
        needed.append("Account: Workers R2 Storage: Edit")
        if any(b.tokens for b in edge.r2.buckets.values()):
            needed.append("Account: Account API Tokens: Edit")
    if spec.cluster is not None and spec.cluster.api_access.mode == "tunnel":
        needed += ["Account: Access: Apps and Policies: Edit", "Account: Access: Service Tokens: Edit"]
    return needed


def _norm(permission: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", permission.lower()).strip()


# --- SSH keys ---------------------------------------------------------------------------------------------

_KEY_LENGTHS: Final = {"ssh-ed25519": (32,), "sk-ssh-ed25519@openssh.com": (32,)}


def ssh_key_problem(line: str) -> str | None:
    """Why an OpenSSH key line (``<type> <base64> [comment]``) is not a real key, or None.

    The base64 blob of a real key starts with its own type name, and an ed25519 key holds exactly 32 bytes,
    so a made-up or truncated key (the spec's placeholders) is caught without any network access."""
    parts = line.split()
    if len(parts) < 2:
        return "not '<type> <base64>'"
    kind, blob = parts[0], parts[1]
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return "its base64 does not decode"
    fields: list[bytes] = []
    pos = 0
    while pos < len(raw):
        if pos + 4 > len(raw):
            return "its key data is truncated"
        (n,) = struct.unpack(">I", raw[pos : pos + 4])
        pos += 4
        if pos + n > len(raw):
            return "its key data is truncated"
        fields.append(raw[pos : pos + n])
        pos += n
    if not fields or fields[0].decode("ascii", "replace") != kind:
        return f"its key data is not a {kind} key"
    lengths = _KEY_LENGTHS.get(kind)
    if lengths is not None and (len(fields) < 2 or len(fields[1]) not in lengths):
        return f"a {kind} key holds 32 bytes of key data"
    return None



def _documentation(address: str) -> bool:
    try:
        net = ipaddress.ip_network(address, strict=False)
    except ValueError:
        return False
    return any(subnet_within(net, d) for d in DOCUMENTATION_NETWORKS)


# --- tools ------------------------------------------------------------------------------------------------


def _tool_version(exe: str) -> tuple[int, ...] | None:
    try:
        proc = subprocess.run([exe, "version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"v?([0-9]+)\.([0-9]+)\.([0-9]+)", proc.stdout + proc.stderr)
    return tuple(int(g) for g in m.groups()) if m else None


# --- the checklist ----------------------------------------------------------------------------------------


def _config_value(sd: StackDir, key: str) -> tuple[bool, bool]:
    """``(set, encrypted)`` of ``enclii:<key>`` in the stack file."""
    full = f"enclii:{key}"
    if full not in sd.config:
        return False, False
    encrypted = any(k == full or k.startswith((full + ".", full + "[")) for k in sd.undecryptable)
    return True, encrypted


def _secret_finding(sd: StackDir, key: str, why: str, fix_value: str) -> Finding:
    present, encrypted = _config_value(sd, key)
    env = SECRET_ENV.get(key)
    if present and encrypted:
        return Finding("secrets", "ok", f"enclii:{key} is set (encrypted) — {why}")
    if present:
        return Finding("secrets", "fail", f"enclii:{key} is stored in clear text in Pulumi.{sd.stack}.yaml",
                       f"pulumi config rm enclii:{key} && pulumi config set --secret enclii:{key} {fix_value}")
    if env and os.environ.get(env):
        return Finding("secrets", "ok", f"enclii:{key} is not set; ${env} is — {why}")
    fix = f"pulumi config set --secret enclii:{key} {fix_value}"
    if env:
        fix += f" (or export {env})"
    return Finding("secrets", "fail", f"enclii:{key} is not set — {why}", fix)


def _stack_findings(sd: StackDir) -> list[Finding]:
    out = [Finding("stack", "ok", f"{sd.path}: project {sd.project}, stack {sd.stack}")]
    if not (sd.path / f"Pulumi.{sd.stack}.yaml").is_file():
        out.append(Finding("stack", "fail", f"no Pulumi.{sd.stack}.yaml in {sd.path}",
                           f"cd {sd.path} && pulumi stack init {sd.stack}"))
    return out


def _spec_findings(spec: PlatformSpec, sd: StackDir, unset: list[str]) -> list[Finding]:
    out: list[Finding] = []
    # secrets the stack reads
    if spec.hosts is not None:
        out.append(_secret_finding(sd, "sshPrivateKey", "the deploy key pulumi-command logs in to the hosts with",
                                   "< ~/.ssh/enclii_deploy"))
    if spec.edge is not None:
        out.append(_secret_finding(sd, "cloudflareToken", "tunnel, DNS, R2 and custom hostnames", "<api-token>"))
    if spec.hosts is not None and spec.hosts.cloud:
        out.append(_secret_finding(sd, "hcloudToken", "Hetzner Cloud servers", "<hcloud-token>"))
    if spec.identity is not None and spec.identity.access is not None:
        out.append(_secret_finding(sd, "januaClientSecret", "Cloudflare Access logs people in through Janua",
                                   "<client-secret>"))
    if spec.cluster is None and spec.stage == "production":
        out.append(_secret_finding(sd, "kubeconfig", "no cluster in the spec: the stack deploys to this one",
                                   "< kubeconfig.yaml"))
    if spec.stage == "preview":
        present, _ = _config_value(sd, "prNumber")
        out.append(Finding("config", "ok", "enclii:prNumber is set") if present else
                   Finding("config", "fail", "enclii:prNumber is not set (a preview stack is one pull request)",
                           "pulumi config set enclii:prNumber <n>"))
    given = sd.config.get("enclii:tenantSecrets")
    given = given if isinstance(given, dict) else {}
    declared = [(f"{p}/{s}", name) for p, ps in sorted(spec.tenants.items()) for s, svc in sorted(ps.services.items())
                for name in svc.secrets]
    bad = 0
    for ref, name in declared:
        values = given.get(ref)
        value = values.get(name) if isinstance(values, dict) else None
        fix = f"pulumi config set --secret --path 'enclii:tenantSecrets[\"{ref}\"].{name}' VALUE"
        if value is None:
            out.append(Finding("secrets", "fail", f"tenant secret {name} of {ref} has no value", fix))
            bad += 1
        elif value != UNSET_SECRET:  # a plain value in the stack file: not encrypted
            out.append(Finding("secrets", "fail", f"tenant secret {name} of {ref} is stored in clear text in "
                                                  f"Pulumi.{sd.stack}.yaml", fix))
            bad += 1
    if declared and not bad:
        out.append(Finding("secrets", "ok", f"all {len(declared)} tenant secret(s) are set (encrypted)"))

    # the Cloudflare token's permissions
    needed = cloudflare_permissions(spec)
    if needed:
        declared_perms = sd.config.get("enclii:cloudflareTokenPermissions")
        if not isinstance(declared_perms, list):
            out.append(Finding(
                "cloudflare-token", "warn",
                f"the token needs: {'; '.join(needed)}; its permissions are not declared, so they are not checked",
                "create the token with these permissions, then record them: pulumi config set --plaintext --path "
                "'enclii:cloudflareTokenPermissions[0]' 'Account: Cloudflare Tunnel: Edit' (one index each)"))
        else:
            have = {_norm(str(p)) for p in declared_perms}
            missing = [p for p in needed if _norm(p) not in have]
            if missing:
                out.append(Finding("cloudflare-token", "fail", f"the token lacks: {'; '.join(missing)}",
                                   "edit the token in the dashboard (My Profile → API Tokens), then add the "
                                   "permissions to enclii:cloudflareTokenPermissions"))
            else:
                out.append(Finding("cloudflare-token", "ok", f"the declared permissions cover all {len(needed)} "
                                                             "this spec needs"))

    # hosts: keys and example values
    if spec.hosts is not None:
        for key, ded in sorted(spec.hosts.dedicated.items()):
            where = f"hosts.dedicated.{key}"
            problem = ssh_key_problem(ded.host_key)
            if problem:
                out.append(Finding("ssh", "fail", f"{where}.hostKey is not a real host key ({problem})",
                                   f"ssh-keyscan -t ed25519 {ded.address} and paste '<type> <base64>'"))
            else:
                out.append(Finding("ssh", "ok", f"{where}.hostKey is pinned ({ded.host_key.split()[0]})"))
            for i, line in enumerate(ded.admin_ssh_keys):
                problem = ssh_key_problem(line)
                if problem:
                    out.append(Finding("ssh", "fail", f"{where}.adminSshKeys[{i}] is not a real public key ({problem})",
                                       "paste the line of your key's .pub file (ssh-keygen -t ed25519)"))
            for field, addresses in (("address", [ded.address]), ("sshAllowCidrs", ded.ssh_allow_cidrs),
                                     ("kubeApiAllowCidrs", ded.kube_api_allow_cidrs)):
                examples = [a for a in addresses if _documentation(a)]
                if examples:
                    out.append(Finding("example-values", "fail", f"{where}.{field}: {', '.join(examples)} is a "
                                                                 "documentation address, not a real one",
                                       "put the server's address and the networks you connect from"))
        for key, srv in sorted(spec.hosts.cloud.items()):
            for i, line in enumerate(srv.ssh_keys):
                problem = ssh_key_problem(line)
                if problem:
                    out.append(Finding("ssh", "fail", f"hosts.cloud.{key}.sshKeys[{i}] is not a real public key "
                                                      f"({problem})", "paste the line of your key's .pub file"))
    if spec.edge is not None:
        for field, value in (("accountId", spec.edge.account_id), ("zoneId", spec.edge.zone_id)):
            if value in EXAMPLE_IDS:
                out.append(Finding("example-values", "fail", f"edge.{field} is the example id {value}",
                                   "copy it from the Cloudflare dashboard (the zone's Overview page)"))
    if spec.domain in EXAMPLE_DOMAINS:
        out.append(Finding("example-values", "fail", f"domain is the example domain {spec.domain}",
                           "set domain to the Cloudflare zone the platform is served from"))

    # the way in to the Kubernetes API
    if spec.cluster is not None:
        access = spec.cluster.api_access
        if access.mode == "allowlist":
            nets = sorted({c for k in spec.cluster.servers
                           for c in (spec.hosts.dedicated[k].kube_api_allow_cidrs if spec.hosts and
                                     k in spec.hosts.dedicated else
                                     spec.hosts.cloud[k].kube_api_allow_cidrs if spec.hosts and k in spec.hosts.cloud
                                     else [])})
            where = spec.cluster.api_endpoint or "the first server's address"
            out.append(Finding("api-access", "ok", f"allowlist: 6443 open to {', '.join(nets)}; the kubeconfig "
                                                   f"points at {where}"))
        else:
            from enclii_iac.render.api_access import api_hostname, client_commands

            host = api_hostname(spec.cluster, spec.domain)
            cmds = client_commands(host, access.local_port)
            out.append(Finding("api-access", "info",
                               f"tunnel: {host} behind Cloudflare Access; before pulumi up or kubectl run: "
                               f"{cmds['operator']} (CI: {cmds['ci']}). A new cluster's first pulumi up has no "
                               "tunnel yet: bootstrap it with mode: allowlist (docs/api-access.md)"))
            if shutil.which("cloudflared") is None:
                out.append(Finding("tools", "fail", "cloudflared is not on PATH (the API is reached through "
                                                    "cloudflared access tcp)",
                                   "install cloudflared: https://developers.cloudflare.com/cloudflare-one/"
                                   "connections/connect-networks/downloads/"))
            else:
                out.append(Finding("tools", "ok", f"cloudflared: {shutil.which('cloudflared')}"))
    return out


def _tool_findings() -> list[Finding]:
    exe = shutil.which("pulumi")
    if exe is None:
        return [Finding("tools", "fail", "the Pulumi CLI is not on PATH (synth needs none; pulumi up does)",
                        "curl -fsSL https://get.pulumi.com | sh  (3.245 or newer)")]
    version = _tool_version(exe)
    if version is None:
        return [Finding("tools", "warn", f"pulumi at {exe}: its version could not be read", "run pulumi version")]
    shown = ".".join(str(v) for v in version)
    if version < PULUMI_MIN_VERSION:
        return [Finding("tools", "fail", f"pulumi {shown} is older than 3.245 (its S3 backend does not read the "
                                         "login URL state bootstrap prints)", "pulumi self-update, or reinstall")]
    return [Finding("tools", "ok", f"pulumi {shown} ({exe})")]


def _backend_findings(env: Mapping[str, str]) -> list[Finding]:
    url = env.get("PULUMI_BACKEND_URL", "")
    if url.startswith("s3://"):
        missing = [v for v in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not env.get(v)]
        if missing:
            return [Finding("state", "fail", f"the backend is {url.split('?')[0]} but {' and '.join(missing)} "
                                             "is not set", "export the R2 token pair of the state bucket")]
        return [Finding("state", "ok", f"backend {url.split('?')[0]} with R2 credentials in the environment")]
    if url:
        return [Finding("state", "info", f"backend {url.split('?')[0]}")]
    return [Finding("state", "info", "PULUMI_BACKEND_URL is not set: pulumi uses the backend of `pulumi login`; "
                                     "Enclii keeps state on R2 (enclii-iac state bootstrap prints the login URL)")]


def check_stack(path: str | Path, stack: str | None = None, progress: Progress | None = None,
                env: Mapping[str, str] | None = None, tools: bool = True) -> dict[str, Any]:
    """Every finding for the stack at ``path``: ``{"ok": bool, "findings": [...], "problems": n, ...}``."""
    from enclii_iac.stack import observe_settings

    environ = os.environ if env is None else env
    findings: list[Finding] = []
    try:
        sd = read_stack_dir(path, stack)
    except EncliiIacError as exc:
        findings.append(Finding("stack", "fail", str(exc), "pass a stack directory such as stacks/production"))
        return _report(findings, None)
    findings += _stack_findings(sd)
    spec: PlatformSpec | None = None
    unset: list[str] = []
    warnings: list[str] = []
    with observe_settings() as seen:
        try:
            result = run_stack(sd.path, sd.stack, progress)
            warnings = result.warnings
            findings.append(Finding("program", "ok", f"the stack program synthesizes: {len(result.records)} "
                                                     "resources"))
        except SpecError as exc:
            for issue in exc.issues:
                findings.append(Finding("program", "fail", str(issue), "fix the spec or config (enclii-iac validate "
                                                                       "FILE shows every problem)"))
        except EncliiIacError as exc:
            findings.append(Finding("program", "fail", str(exc), "run enclii-iac synth for the details"))
    if seen:
        spec = seen[-1].spec
        unset = list(seen[-1].unset_secrets)
    for w in warnings:
        if w.startswith("config ") and " is ignored: " in w:
            findings.append(Finding("config", "fail", w.split(";")[0], w.split("; ", 1)[1] if "; " in w else ""))
        elif w.startswith("config ") and " is not read by the stack" in w:
            findings.append(Finding("config", "warn", w, "remove it, or fix its name"))
    if spec is not None:
        findings += _spec_findings(spec, sd, unset)
    if tools:
        findings += _tool_findings()
    findings += _backend_findings(environ)
    return _report(findings, sd)


def _report(findings: list[Finding], sd: StackDir | None) -> dict[str, Any]:
    problems = sum(1 for f in findings if f.status == "fail")
    return {
        "ok": problems == 0,
        "project": sd.project if sd else None,
        "stack": sd.stack if sd else None,
        "problems": problems,
        "warnings": sum(1 for f in findings if f.status == "warn"),
        "findings": [f.as_dict() for f in findings],
    }


def report_text(report: dict[str, Any]) -> str:
    lines = [Finding(**f).text() for f in report["findings"]]
    verdict = "ready for pulumi up" if report["ok"] else "not ready for pulumi up"
    lines.append(f"{report['problems']} problem(s), {report['warnings']} warning(s): {verdict}")
    return "\n".join(lines)

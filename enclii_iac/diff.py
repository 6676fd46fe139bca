"""``enclii-iac diff A B``: what would change between two synth outputs (or two stack directories).

Per resource (``type name``): added, removed, renamed (an alias keeps its identity), or changed, with every
changed input (``path: old -> new``; secrets are compared by presence only and shown as ``[secret]``) and
the host scripts that would run again. A change to an input the provider cannot update in place forces a
replacement (``REPLACE_ON``: a Deployment's selector, a PVC's storage class, a Job's template, a random
value's parameters, ...); so do ``replaceOnChanges`` and a Kubernetes object's name or namespace. A replaced
or removed resource that is protected would stop ``pulumi up``.

    report = diff_dirs("out/main", "out/pr")
    print(markdown(report))          # for a pull request comment
    exit(1 if report["replaced"] else 0)
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from enclii_iac.errors import SynthError
from enclii_iac.synth import Progress

REDACTED: Final = "[secret]"

REPLACE_ON: Final[dict[str, tuple[str, ...]]] = {
    # Kubernetes (immutable fields; the API server refuses an update, so Pulumi replaces)
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:apps/v1:StatefulSet": (
        "spec.selector", "spec.serviceName", "spec.volumeClaimTemplates", "spec.podManagementPolicy",
    ),
    "kubernetes:apps/v1:DaemonSet": ("spec.selector",),
    "kubernetes:batch/v1:Job": (
        "spec.template", "spec.selector", "spec.completions", "spec.completionMode", "spec.podFailurePolicy",
    ),
    "kubernetes:core/v1:PersistentVolumeClaim": (
        "spec.storageClassName", "spec.accessModes", "spec.volumeName", "spec.volumeMode", "spec.selector",
        "spec.dataSource",
    ),
    "kubernetes:core/v1:Service": ("spec.clusterIP", "spec.clusterIPs"),
    "kubernetes:core/v1:Secret": ("type",),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": ("roleRef",),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": ("roleRef",),
    "kubernetes:policy/v1:PodDisruptionBudget": (),
    "pulumi:providers:kubernetes": ("clusterIdentifier",),
    # Hetzner Cloud
    "hcloud:index/server:Server": ("userData", "image", "location", "datacenter", "sshKeys"),
    "hcloud:index/volume:Volume": ("location", "format"),
    "hcloud:index/primaryIp:PrimaryIp": ("type", "assigneeType", "datacenter", "location"),
    "hcloud:index/networkSubnet:NetworkSubnet": ("networkId", "ipRange", "networkZone", "type"),
    "hcloud:index/sshKey:SshKey": ("publicKey",),
    "hcloud:index/placementGroup:PlacementGroup": ("type",),
    # Cloudflare
    "cloudflare:index/dnsRecord:DnsRecord": ("zoneId",),
    "cloudflare:index/r2Bucket:R2Bucket": ("accountId", "name", "jurisdiction", "location"),
    "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared": (
        "accountId", "tunnelSecret", "configSrc",
    ),
    "cloudflare:index/accountToken:AccountToken": ("accountId",),
    "cloudflare:index/customHostname:CustomHostname": ("zoneId", "hostname"),
    "cloudflare:index/zoneSetting:ZoneSetting": ("zoneId", "settingId"),
    # random and tls: any parameter draws a new value
    "random:index/randomPassword:RandomPassword": ("*",),
    "random:index/randomBytes:RandomBytes": ("*",),
    "random:index/randomString:RandomString": ("*",),
    "tls:index/privateKey:PrivateKey": ("*",),
    # pulumi-command: changed triggers or connection replace a step; a changed create or stdin is an update
    # (it runs create again)
    "command:remote:Command": ("triggers", "connection"),
    "command:remote:CopyToRemote": ("triggers", "source", "remotePath", "connection"),
}
"""Inputs whose change replaces the resource, by type (``*``: any input)."""

KUBERNETES_IDENTITY: Final = ("metadata.name", "metadata.namespace", "apiVersion", "kind")
"""A Kubernetes object is a new object when any of these changes."""


# --- loading ----------------------------------------------------------------------------------------------


def _load_dir(out: Path) -> dict[str, Any]:
    try:
        resources = json.loads((out / "resources.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SynthError(f"{out / 'resources.json'}: not a synth output ({exc}); run enclii-iac synth again") from None
    if not isinstance(resources, list) or not all(isinstance(r, dict) and "type" in r and "name" in r
                                                  for r in resources):
        raise SynthError(f"{out / 'resources.json'}: not a synth output (a list of resources with type and name)")
    rendered: dict[str, str] = {}
    base = out / "rendered"
    if base.is_dir():
        for f in sorted(base.rglob("*")):
            if f.is_file():
                rendered[f.relative_to(base).as_posix()] = f.read_text(encoding="utf-8")
    summary = {}
    if (out / "summary.json").is_file():
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return {"resources": resources, "rendered": rendered, "summary": summary}


def load_side(path: str | Path, stack: str | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """What a synth output directory holds, synthesizing first when ``path`` is a stack directory."""
    p = Path(path)
    if (p / "resources.json").is_file():
        return _load_dir(p)
    if (p / "Pulumi.yaml").is_file():
        from enclii_iac.synth import synth

        with tempfile.TemporaryDirectory(prefix="enclii-diff-") as tmp:
            synth(p, tmp, stack, progress)
            return _load_dir(Path(tmp))
    raise SynthError(f"{p}: neither a synth output (resources.json) nor a stack directory (Pulumi.yaml)")


# --- comparing --------------------------------------------------------------------------------------------


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for k in sorted(value):
            yield from _leaves(value[k], f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from _leaves(v, f"{prefix}[{i}]")
    else:
        yield prefix, value


def changed_paths(old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """``(path, old, new)`` of every leaf that differs (``None`` for absent)."""
    a = dict(_leaves(old))
    b = dict(_leaves(new))
    out = []
    for path in sorted(set(a) | set(b)):
        if a.get(path, _ABSENT) != b.get(path, _ABSENT):
            out.append((path, a.get(path), b.get(path)))
    return out


_ABSENT: Final = object()


def _under(path: str, field: str) -> bool:
    return field == "*" or path == field or path.startswith((field + ".", field + "["))


def replacement_reasons(type_: str, changes: list[tuple[str, Any, Any]], replace_on: list[str]) -> list[str]:
    """The changed inputs that force a replacement of a resource of ``type_``."""
    fields = list(REPLACE_ON.get(type_, ())) + list(replace_on)
    if type_.startswith("kubernetes:") and not type_.startswith("pulumi:"):
        fields += list(KUBERNETES_IDENTITY)
    reasons = []
    for path, _old, _new in changes:
        for f in fields:
            if _under(path, f):
                reasons.append(path if f == "*" else f)
                break
    if type_ == "kubernetes:core/v1:PersistentVolumeClaim":
        for path, old, new in changes:
            if path == "spec.resources.requests.storage" and _quantity(new) < _quantity(old):
                reasons.append("spec.resources.requests.storage (volumes cannot shrink)")
    return sorted(dict.fromkeys(reasons))


def _quantity(value: Any) -> float:
    from enclii_iac.models._base import memory_bytes

    try:
        return float(memory_bytes(str(value)))
    except ValueError:
        return 0.0


def _key(r: dict[str, Any]) -> str:
    return f"{r['type']} {r['name']}"


def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Compare two loaded sides (``load_side``): the report ``enclii-iac diff`` prints."""
    old = {_key(r): r for r in a["resources"]}
    new = {_key(r): r for r in b["resources"]}
    removed = sorted(set(old) - set(new))
    added = sorted(set(new) - set(old))
    renamed: list[dict[str, str]] = []
    formers: dict[str, list[str]] = {}

    def former_names(key: str) -> list[str]:
        """Earlier names of ``key``: its aliases, and those its parent's aliases give it (as the engine does:
        a child named ``<parent>-x`` of a parent aliased from ``old`` is aliased from ``old-x``)."""
        if key in formers:
            return formers[key]
        r = new[key]
        names = [str(a) for a in r.get("aliases") or [] if " " not in str(a) and ":" not in str(a)]
        parent = r.get("parent")
        if parent in new:
            parent_name = parent.split(" ", 1)[1]
            for former_parent in former_names(parent):
                if r["name"].startswith(parent_name):
                    names.append(former_parent + r["name"][len(parent_name):])
        formers[key] = list(dict.fromkeys(names))
        return formers[key]

    for key in sorted(added, key=lambda k: len(str(new[k].get("parent") or ""))):
        r = new[key]
        for alias in former_names(key):
            former = f"{r['type']} {alias}"
            if former in removed:
                renamed.append({"resource": key, "from": former})
                removed.remove(former)
                added.remove(key)
                old[key] = old[former]
                break
    renamed.sort(key=lambda r: r["resource"])
    changed: list[dict[str, Any]] = []
    replaced: list[str] = []
    blocked: list[str] = []
    for key in sorted(set(old) & set(new)):
        before, after = old[key], new[key]
        changes = changed_paths(before.get("inputs"), after.get("inputs"))
        reasons = replacement_reasons(after["type"], changes, after.get("replaceOnChanges") or [])
        scripts = _rendered_changes(a["rendered"], b["rendered"], after) if after.get("custom") else []
        if after["type"] == "hcloud:index/server:Server" and scripts and "userData" not in reasons:
            reasons.append("userData")
        runs: list[str] = []
        if after["type"].startswith("command:remote:") and not reasons:
            # an update of a host step runs its create command again, in place (protected steps included)
            if scripts:
                runs.append("its script")
            runs += [p for p in dict.fromkeys(path.split(".", 1)[0] for path, _, _ in changes)
                     if p in ("create", "stdin", "update", "environment") and not (p == "stdin" and scripts)]
        options = [f"{k}: {before.get(k)} -> {after.get(k)}" for k in ("protect", "retainOnDelete", "provider",
                                                                        "parent") if before.get(k) != after.get(k)]
        if not changes and not scripts and not options:
            continue
        entry = {
            "resource": key,
            "changes": [{"path": p, "old": o, "new": n} for p, o, n in changes],
            "scripts": scripts,
            "options": options,
            "replace": reasons,
            "runs": runs,
        }
        changed.append(entry)
        if reasons:
            replaced.append(key)
            if before.get("protect"):
                blocked.append(f"{key}: protected; replacing it stops pulumi up until it is unprotected")
    for key in removed:
        if old[key].get("protect"):
            blocked.append(f"{key}: protected; deleting it stops pulumi up until it is unprotected")
    return {
        "added": added,
        "removed": removed,
        "renamed": renamed,
        "changed": changed,
        "replaced": replaced,
        "blocked": blocked,
        "unchanged": len(set(old) & set(new)) - len(changed),
    }


def _rendered_changes(a: dict[str, str], b: dict[str, str], resource: dict[str, Any]) -> list[str]:
    """Rendered host files of ``resource`` (``<name>.sh``, ``<name>.cloud-init.yaml``, ``<name>.files/...``,
    ``<name>-<file>`` of a copied file) that differ between the sides."""
    name = str(resource["name"])
    prefixes = (name + ".", name + "-") if resource["type"] == "command:remote:CopyToRemote" else (name + ".",)

    def mine(files: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in files.items() if k.startswith(prefixes)}

    x, y = mine(a), mine(b)
    return sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))


def diff_paths(a: str | Path, b: str | Path, stack: str | None = None, progress: Progress | None = None) -> dict[
        str, Any]:
    """``diff(load_side(a), load_side(b))``, with both paths in the report."""
    report = diff(load_side(a, stack, progress), load_side(b, stack, progress))
    return {"a": str(a), "b": str(b), **report}


# --- output -----------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str) and "\n" in value:
        return f"<{value.count(chr(10)) + 1} lines>"
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def text(report: dict[str, Any]) -> str:
    lines: list[str] = []
    for key in report["added"]:
        lines.append(f"+ {key}")
    for key in report["removed"]:
        lines.append(f"- {key}")
    for r in report["renamed"]:
        lines.append(f"~ {r['resource']} (renamed from {r['from'].split(' ', 1)[1]}; its alias keeps it)")
    for c in report["changed"]:
        verb = "+- " if c["replace"] else "~ "
        why = (f" (replaced: {', '.join(c['replace'])})" if c["replace"] else
               f" (runs again: {', '.join(c['runs'])})" if c.get("runs") else "")
        lines.append(f"{verb}{c['resource']}{why}")
        for ch in c["changes"]:
            lines.append(f"    {ch['path']}: {_show(ch['old'])} -> {_show(ch['new'])}")
        for s in c["scripts"]:
            lines.append(f"    rendered/{s} differs")
        for o in c["options"]:
            lines.append(f"    {o}")
    for b in report["blocked"]:
        lines.append(f"! {b}")
    lines.append(
        f"{len(report['added'])} to add, {len(report['changed'])} to change "
        f"({len(report['replaced'])} replaced), {len(report['removed'])} to delete, "
        f"{len(report['renamed'])} renamed, {report['unchanged']} unchanged"
    )
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """The report as GitHub-flavoured markdown, for a pull request comment."""
    replaced = len(report["replaced"])
    head = (f"**{len(report['added'])} to add, {len(report['changed'])} to change ({replaced} replaced), "
            f"{len(report['removed'])} to delete, {len(report['renamed'])} renamed**")
    out = ["### enclii-iac diff", "", head, ""]
    if report["blocked"]:
        out += ["> [!CAUTION]", *[f"> {b}" for b in report["blocked"]], ""]
    elif replaced:
        out += ["> [!WARNING]", f"> {replaced} resource(s) would be replaced (deleted and created again).", ""]
    rows = [(f"`{k}`", "add", "") for k in report["added"]]
    rows += [(f"`{k}`", "delete", "") for k in report["removed"]]
    rows += [(f"`{r['resource']}`", "rename", f"from `{r['from'].split(' ', 1)[1]}`") for r in report["renamed"]]
    for c in report["changed"]:
        what = ", ".join(f"`{ch['path']}`" for ch in c["changes"][:8])
        if len(c["changes"]) > 8:
            what += f" and {len(c['changes']) - 8} more"
        if c["scripts"]:
            what += (", " if what else "") + ", ".join(f"`rendered/{s}`" for s in c["scripts"])
        action = (f"**replace** ({', '.join(c['replace'])})" if c["replace"] else
                  f"**run again** ({', '.join(c['runs'])})" if c.get("runs") else "update")
        rows.append((f"`{c['resource']}`", action, what))
    if rows:
        out += ["| resource | action | what |", "|---|---|---|"]
        out += [f"| {a} | {b} | {c.replace('|', chr(92) + '|')} |" for a, b, c in rows]
    else:
        out.append("No changes.")
    return "\n".join(out) + "\n"

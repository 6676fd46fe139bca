"""Pure renderers of identity: the API server's OIDC flags and the OIDC login kubeconfig. No Pulumi.

    oidc_apiserver_args(spec.identity.oidc)        # -> ["oidc-issuer-url=https://...", ...]

The same function gives k3s's ``kube-apiserver-arg`` list and, prefixed with ``--``, the flags the engine
tier starts a real kube-apiserver with, so the tested flags are the deployed ones.
"""

from __future__ import annotations

import re
from typing import Any, Final

from enclii_iac.errors import RenderError
from enclii_iac.models.identity import OidcSpec

OIDC_CA_PATH: Final = "/etc/rancher/k3s/oidc-ca.crt"
"""Where the install step writes ``oidc.caPem`` on each server (read by ``--oidc-ca-file``)."""

_FLAG_VALUE = re.compile(r"^[A-Za-z0-9._:/@=+,\[\]-]{1,512}$")


def _flag(name: str, value: str) -> str:
    # a second line of defence behind the spec's patterns: nothing that could end the value, start another
    # flag or break the YAML list reaches the API server's command line
    if not _FLAG_VALUE.fullmatch(value):
        raise RenderError(f"kube-apiserver {name}: {value[:60]!r} has characters a flag value may not hold")
    return f"{name}={value}"


def oidc_apiserver_args(oidc: OidcSpec, *, ca_file: str | None = OIDC_CA_PATH) -> list[str]:
    """The API server's OIDC flags, without the leading ``--`` (k3s ``kube-apiserver-arg`` form).

    ``ca_file``: where ``oidc.caPem`` is on the server (used only when the spec gives a CA)."""
    args = [
        _flag("oidc-issuer-url", oidc.issuer_url),
        _flag("oidc-client-id", oidc.client_id),
        _flag("oidc-username-claim", oidc.username_claim),
        _flag("oidc-username-prefix", oidc.username_prefix),
        _flag("oidc-groups-claim", oidc.groups_claim),
        _flag("oidc-groups-prefix", oidc.groups_prefix),
        _flag("oidc-signing-algs", ",".join(oidc.signing_algs)),
    ]
    if oidc.ca_pem is not None:
        if not ca_file:
            raise RenderError("oidc.caPem is set: the CA file's path on the server is required")
        args.append(_flag("oidc-ca-file", ca_file))
    args += [_flag("oidc-required-claim", f"{k}={v}") for k, v in sorted(oidc.required_claims.items())]
    return args


def oidc_kubeconfig(oidc: OidcSpec, *, server_url: str, ca_data: str, name: str) -> dict[str, Any]:
    """A kubeconfig that logs its user in through the identity provider (kubelogin's ``kubectl oidc-login``);
    it holds no secret, unlike the break-glass admin kubeconfig."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server_url, "certificate-authority-data": ca_data}}],
        "users": [{"name": f"{name}-oidc", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "kubectl",
            "args": ["oidc-login", "get-token", f"--oidc-issuer-url={oidc.issuer_url}",
                     f"--oidc-client-id={oidc.client_id}", "--oidc-extra-scope=email",
                     "--oidc-extra-scope=groups"],
            "interactiveMode": "IfAvailable",
        }}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-oidc"}}],
        "current-context": name,
    }


def oidc_kubeconfig_from_admin(oidc: OidcSpec, admin_kubeconfig: str, name: str) -> str:
    """:func:`oidc_kubeconfig` for the cluster of an admin kubeconfig (its server URL and CA, never its
    credentials), as YAML."""
    import yaml

    data = yaml.safe_load(admin_kubeconfig) if admin_kubeconfig else None
    clusters = data.get("clusters") if isinstance(data, dict) else None
    if not clusters:
        raise RenderError("the admin kubeconfig has no cluster to point the OIDC kubeconfig at")
    cluster = clusters[0].get("cluster") or {}
    out = oidc_kubeconfig(oidc, server_url=str(cluster.get("server", "")),
                          ca_data=str(cluster.get("certificate-authority-data", "")), name=name)
    return yaml.safe_dump(out, sort_keys=False, default_flow_style=False, width=100000)


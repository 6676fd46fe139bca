"""Explicit providers, given the way Pulumi users give them.

Every component takes its providers as keyword arguments (``provider=``, ``k8s_provider=``, ...) *or*
through ``opts=pulumi.ResourceOptions(providers=[...])`` / ``providers={"cloudflare": ...}``, as
Pulumi's own components do (a list is matched by each provider's package). A keyword argument wins
over ``opts``. A component never falls back to an ambient default provider: when one it needs is in
neither place it raises :class:`enclii_iac.SpecError` before declaring anything.

    tunnel = CloudflareTunnel("edge", spec.edge, pulumi.ResourceOptions(providers=[cf_provider, k8s_provider]),
                              domain=spec.domain)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

import pulumi

from enclii_iac.errors import SpecError, SpecIssue

P = TypeVar("P", bound=pulumi.ProviderResource)

PACKAGE_TITLES = {
    "cloudflare": "Cloudflare",
    "kubernetes": "Kubernetes",
    "hcloud": "Hetzner Cloud",
    "random": "random",
    "command": "command",
    "tls": "tls",
}


def providers_in(opts: pulumi.ResourceOptions | None) -> dict[str, pulumi.ProviderResource]:
    """The providers of ``opts`` by package: ``opts.providers`` (a list or a mapping) and ``opts.provider``."""
    out: dict[str, pulumi.ProviderResource] = {}
    if opts is None:
        return out
    given = opts.providers
    if isinstance(given, Mapping):
        for key, prov in given.items():
            if isinstance(prov, pulumi.ProviderResource):
                out[str(key)] = prov
    elif isinstance(given, Sequence):
        for prov in given:
            if isinstance(prov, pulumi.ProviderResource):
                out[prov.package] = prov
    single = opts.provider
    if isinstance(single, pulumi.ProviderResource):
        out.setdefault(single.package, single)
    return out


def resolve(given: P | None, opts: pulumi.ResourceOptions | None, package: str) -> P | None:
    """``given``, else the ``package`` provider of ``opts`` (None when neither has one)."""
    if given is not None:
        return given
    found = providers_in(opts).get(package)
    return found  # type: ignore[return-value]  # the package identifies the provider class


def require(
    given: P | None,
    opts: pulumi.ResourceOptions | None,
    package: str,
    *,
    component: str,
    argument: str,
    why: str = "",
) -> P:
    """Like :func:`resolve`, but a missing provider is a SpecError saying both ways to pass it."""
    found = resolve(given, opts, package)
    if found is None:
        title = PACKAGE_TITLES.get(package, package)
        because = f" ({why})" if why else ""
        raise SpecError(
            [
                SpecIssue(
                    component,
                    argument,
                    f"no {title} provider{because}: pass {argument}=<{package} provider> or "
                    f"opts=pulumi.ResourceOptions(providers=[<{package} provider>])",
                )
            ]
        )
    return found

"""CustomDomains: tenant vanity domains through Cloudflare for SaaS.

domains = CustomDomains("edge-domains", spec.edge, tunnel=tunnel, dns=dns, provider=cf_provider)
domains.verification_records  # Output: what each tenant must add at their DNS provider
"""

from __future__ import annotations

import functools
from typing import Any

import pulumi

from enclii_iac import providers
from enclii_iac.cloudflare._cf import cf
from enclii_iac.cloudflare.dns import DnsRecords
from enclii_iac.cloudflare.tunnel import CloudflareTunnel
from enclii_iac.models.edge import EdgeSpec
from enclii_iac.naming import child_name, type_token
from enclii_iac.render.edge import EdgePlan

TYPE_CUSTOM_DOMAINS = type_token("CustomDomains")


def _verification(hostname: str, cname_target: str, ownership: Any) -> list[dict[str, str]]:
    records = [
        {
            "hostname": hostname,
            "type": "CNAME",
            "name": hostname,
            "content": cname_target,
            "purpose": "route the domain to the platform (and validate its certificate over HTTP)",
        }
    ]
    own = ownership if isinstance(ownership, dict) else {}
    if own.get("name") and own.get("value"):
        records.append(
            {
                "hostname": hostname,
                "type": str(own.get("type") or "txt").upper(),
                "name": str(own["name"]),
                "content": str(own["value"]),
                "purpose": "prove ownership of the domain",
            }
        )
    return records


class CustomDomains(pulumi.ComponentResource):
    """The zone's fallback origin (``CustomHostnameFallbackOrigin``) and one ``CustomHostname`` per tenant
    domain, with the configured SSL validation method and minimum TLS version.

    The number of domains is checked before anything is declared: above ``customDomains.maxHostnames``
    is a SpecError; from ``customDomains.warnAt`` on, a Pulumi warning is logged.
    """

    hostnames: pulumi.Output[list[str]]
    fallback_origin: pulumi.Output[str]
    verification_records: pulumi.Output[list[dict[str, str]]]

    def __init__(
        self,
        name: str,
        args: EdgeSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        tunnel: CloudflareTunnel,
        provider: cf.Provider | None = None,
        dns: DnsRecords | None = None,
        protect: bool = False,
    ) -> None:
        """Declare the fallback origin and one custom hostname per tenant domain of ``tunnel.plan``.

        :param name: logical name; children are ``<name>-fallback`` and ``<name>-<domain>``.
        :param args: the edge spec (``zone_id`` and ``custom_domains``).
        :param opts: resource options; ``opts.providers`` may carry the Cloudflare provider.
        :param tunnel: the tunnel whose plan lists the domains (validated, cap included, when it was declared).
        :param provider: the Cloudflare provider (default: the one in ``opts.providers``; required).
        :param dns: the DnsRecords declaring the fallback origin's record; the fallback origin waits for it.
        :param protect: protect the fallback origin and the custom hostnames (production): a deleted custom
            hostname takes the tenant's domain offline until it is validated again.
        """
        provider = providers.require(provider, opts, "cloudflare", component="CustomDomains", argument="provider")
        plan: EdgePlan = tunnel.plan  # validated (cap included) when the tunnel was declared
        if not args.custom_domains.enabled or plan.fallback_origin is None:
            from enclii_iac.errors import SpecError, SpecIssue

            raise SpecError(
                [
                    SpecIssue(
                        "edge",
                        "edge.customDomains.enabled",
                        "custom domains are disabled; do not declare CustomDomains",
                    )
                ]
            )
        super().__init__(TYPE_CUSTOM_DOMAINS, name, None, opts)
        self.spec = args
        self.warnings: list[str] = list(plan.warnings)
        for warning in self.warnings:
            pulumi.log.warn(warning, resource=self)
        cd = args.custom_domains
        cf_opts = pulumi.ResourceOptions(parent=self, provider=provider)
        fallback_record = dns.records.get(plan.fallback_origin) if dns is not None else None
        self.fallback = cf.CustomHostnameFallbackOrigin(
            child_name(name, "fallback"),
            zone_id=args.zone_id,
            origin=plan.fallback_origin,
            opts=pulumi.ResourceOptions.merge(
                cf_opts,
                pulumi.ResourceOptions(
                    depends_on=[fallback_record] if fallback_record is not None else None, protect=protect
                ),
            ),
        )
        ssl: cf.CustomHostnameSslArgsDict = {
            "method": cd.ssl_method,
            "type": "dv",
            "settings": {"min_tls_version": cd.min_tls_version},
        }
        self.custom_hostnames: dict[str, cf.CustomHostname] = {}
        for hostname in plan.custom_domains:
            self.custom_hostnames[hostname] = cf.CustomHostname(
                child_name(name, hostname),
                zone_id=args.zone_id,
                hostname=hostname,
                ssl=ssl,
                opts=pulumi.ResourceOptions.merge(
                    cf_opts, pulumi.ResourceOptions(depends_on=[self.fallback], protect=protect)
                ),
            )
        target = plan.fallback_origin
        per_host = [
            ch.ownership_verification.apply(functools.partial(_verification, h, target))
            for h, ch in self.custom_hostnames.items()
        ]
        self.verification_records = pulumi.Output.all(*per_host).apply(
            lambda lists: [r for records in lists for r in records]
        )
        self.hostnames = pulumi.Output.from_input(list(plan.custom_domains))
        self.fallback_origin = pulumi.Output.from_input(target)
        self.register_outputs(
            {
                "hostnames": self.hostnames,
                "fallback_origin": self.fallback_origin,
                "verification_records": self.verification_records,
            }
        )

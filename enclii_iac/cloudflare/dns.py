"""DnsRecords: proxied CNAMEs to the tunnel for every routed name in the zone, and the zone's TLS settings.

dns = DnsRecords("edge-dns", spec.edge, tunnel=tunnel, provider=cf_provider)
dns.records["api.example.com"]   # cloudflare.DnsRecord
"""

from __future__ import annotations

from typing import Final

import pulumi

from enclii_iac import providers
from enclii_iac.cloudflare._cf import cf
from enclii_iac.cloudflare.tunnel import CloudflareTunnel
from enclii_iac.models.edge import EdgeSpec, ZoneSettingsSpec
from enclii_iac.naming import child_name, type_token
from enclii_iac.render.edge import EdgePlan, record_key

TYPE_DNS_RECORDS = type_token("DnsRecords")

AUTO_TTL: Final = 1
"""Cloudflare's "automatic" TTL, the only one proxied records take."""

RECORD_COMMENT: Final = "enclii-iac: routed through the Cloudflare Tunnel"


def zone_settings(spec: ZoneSettingsSpec) -> dict[str, str]:
    """``setting_id`` → value of every managed zone setting, in declaration order."""
    return {
        "ssl": spec.ssl,
        "min_tls_version": spec.min_tls_version,
        "always_use_https": "on" if spec.always_use_https else "off",
    }


class DnsRecords(pulumi.ComponentResource):
    """One proxied CNAME ``<name> → <tunnel-id>.cfargotunnel.com`` per name the tunnel serves in the zone
    (platform hosts, tenant routes outside the preview wildcard, ``*.preview.<zone>``, the custom-domain
    fallback origin), and one ``ZoneSetting`` each for SSL mode, minimum TLS version and always-HTTPS.
    """

    names: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        args: EdgeSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        tunnel: CloudflareTunnel,
        provider: cf.Provider | None = None,
        protect: bool = False,
    ) -> None:
        """Declare the proxied CNAMEs of ``tunnel.plan`` and the zone settings.

        :param name: logical name; children are ``<name>-<record key>`` and ``<name>-<setting>``.
        :param args: the edge spec (``zone_id``, ``zone_settings``).
        :param opts: resource options; ``opts.providers`` may carry the Cloudflare provider.
        :param tunnel: the tunnel the records point at (its plan lists the names).
        :param provider: the Cloudflare provider (default: the one in ``opts.providers``; required).
        :param protect: protect the records (production): deleting one takes its hostname offline.
        """
        provider = providers.require(provider, opts, "cloudflare", component="DnsRecords", argument="provider")
        plan: EdgePlan = tunnel.plan
        super().__init__(TYPE_DNS_RECORDS, name, None, opts)
        self.spec = args
        cf_opts = pulumi.ResourceOptions(parent=self, provider=provider)
        self.records: dict[str, cf.DnsRecord] = {}
        for fqdn in plan.dns_names:
            self.records[fqdn] = cf.DnsRecord(
                child_name(name, record_key(fqdn, plan.zone)),
                zone_id=args.zone_id,
                name=fqdn,
                type="CNAME",
                content=tunnel.cname_target,
                proxied=True,
                ttl=AUTO_TTL,
                comment=RECORD_COMMENT,
                opts=pulumi.ResourceOptions.merge(cf_opts, pulumi.ResourceOptions(protect=protect)),
            )
        self.zone_settings: dict[str, cf.ZoneSetting] = {}
        if args.zone_settings is not None:
            for setting_id, value in zone_settings(args.zone_settings).items():
                self.zone_settings[setting_id] = cf.ZoneSetting(
                    child_name(name, setting_id.replace("_", "-")),
                    zone_id=args.zone_id,
                    setting_id=setting_id,
                    value=value,
                    opts=cf_opts,
                )
        self.names = pulumi.Output.from_input(list(plan.dns_names))
        self.register_outputs({"names": self.names})

"""EdgeCertificates: one Cloudflare advanced certificate pack per ``edge.certificatePacks`` entry."""

from __future__ import annotations

import pulumi

from enclii_iac import providers
from enclii_iac.cloudflare._cf import cf
from enclii_iac.models.edge import EdgeSpec
from enclii_iac.naming import child_name, type_token

TYPE_EDGE_CERTIFICATES = type_token("EdgeCertificates")


class EdgeCertificates(pulumi.ComponentResource):
    """Advanced certificate packs for the names Universal SSL does not cover (checked at validation).

    Children are ``<name>-<pack key>``; each pack lists the zone apex (Cloudflare requires it) and its hosts.
    """

    pack_ids: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        name: str,
        args: EdgeSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        domain: str,
        provider: cf.Provider | None = None,
        protect: bool = False,
    ) -> None:
        provider = providers.require(provider, opts, "cloudflare", component="EdgeCertificates", argument="provider")
        super().__init__(TYPE_EDGE_CERTIFICATES, name, None, opts)
        self.packs: dict[str, cf.CertificatePack] = {}
        for key, pack in sorted(args.certificate_packs.items()):
            self.packs[key] = cf.CertificatePack(
                child_name(name, key),
                zone_id=args.zone_id,
                type="advanced",
                hosts=[domain, *(f"{h}.{domain}" for h in pack.hosts)],
                certificate_authority=pack.certificate_authority,
                validity_days=pack.validity_days,
                validation_method=pack.validation_method,
                cloudflare_branding=False,
                opts=pulumi.ResourceOptions(parent=self, provider=provider, protect=protect),
            )
        self.pack_ids = pulumi.Output.all(**{k: p.id for k, p in self.packs.items()}).apply(dict)
        self.register_outputs({"pack_ids": self.pack_ids})

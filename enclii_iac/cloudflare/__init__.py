"""The Cloudflare edge as Pulumi components: tunnel, DNS, custom domains (Cloudflare for SaaS), R2.

Every component takes the ``EdgeSpec`` as ``args`` and an explicit ``cloudflare.Provider``; the
tunnel also takes the cluster's Kubernetes provider. Routing is computed once, purely, by
``plan_edge`` (``enclii_iac.render.edge``, pure), so ingress rules, DNS records and cloudflared's NetworkPolicy agree.
"""

from enclii_iac.cloudflare import mocks as _mocks
from enclii_iac.cloudflare._cf import cf
from enclii_iac.cloudflare.dns import TYPE_DNS_RECORDS, DnsRecords
from enclii_iac.cloudflare.r2 import TYPE_R2_STORAGE, R2Storage, S3Credentials, r2_endpoint
from enclii_iac.cloudflare.saas import TYPE_CUSTOM_DOMAINS, CustomDomains
from enclii_iac.cloudflare.tunnel import TYPE_CLOUDFLARE_TUNNEL, CloudflareTunnel
from enclii_iac.render.edge import (
    EdgePlan,
    IngressRule,
    TenantDomain,
    TenantEdge,
    TenantRoute,
    plan_edge,
    tenant_edge,
)

_mocks.install()  # deterministic stand-ins for offline synth (a dict update, no I/O), like hetzner and k3s

__all__ = [
    "TYPE_CLOUDFLARE_TUNNEL",
    "TYPE_CUSTOM_DOMAINS",
    "TYPE_DNS_RECORDS",
    "TYPE_R2_STORAGE",
    "CloudflareTunnel",
    "CustomDomains",
    "DnsRecords",
    "EdgePlan",
    "IngressRule",
    "R2Storage",
    "S3Credentials",
    "TenantDomain",
    "TenantEdge",
    "TenantRoute",
    "cf",
    "plan_edge",
    "r2_endpoint",
    "tenant_edge",
]

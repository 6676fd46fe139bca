"""A Cloudflare Tunnel on its own: two hostnames routed to Services of a cluster you already run.

CloudflareTunnel declares the tunnel (remotely managed), its ingress rules and cloudflared in the cluster
(two pods, token from a Secret file, default-deny NetworkPolicies); DnsRecords declares the proxied CNAMEs
and the zone's TLS settings. No inbound port is opened anywhere.
"""

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac import EdgeSpec, PlatformHostSpec, TunnelSpec
from enclii_iac.cloudflare import CloudflareTunnel, DnsRecords, cf
from enclii_iac.stack import require_secret

ZONE = "example.com"
edge = EdgeSpec(
    account_id="0123456789abcdef0123456789abcdef",
    zone_id="fedcba9876543210fedcba9876543210",
    tunnel=TunnelSpec(name="acme-edge"),
    hosts={
        "app": PlatformHostSpec(subdomain="app", service="frontend", namespace="web", port=80, target_port=3000),
        "api": PlatformHostSpec(subdomain="app", path="/api", service="backend", namespace="web", target_port=8080),
    },
    preview_wildcard=False,
    r2=None,
)

kubernetes = k8s.Provider(
    "cluster",
    kubeconfig=require_secret("kubeconfig", "pulumi config set --secret kubeconfig < ~/.kube/config"),
    enable_server_side_apply=True,
)
cloudflare = cf.Provider(
    "cloudflare", api_token=require_secret("cloudflareToken", "pulumi config set --secret cloudflareToken <token>")
)

tunnel = CloudflareTunnel("edge", edge, pulumi.ResourceOptions(providers=[cloudflare, kubernetes]), domain=ZONE)
dns = DnsRecords("edge-dns", edge, pulumi.ResourceOptions(providers=[cloudflare]), tunnel=tunnel)
pulumi.export("tunnelId", tunnel.tunnel_id)
pulumi.export("hostnames", tunnel.hostnames)

"""The Enclii edge and tenants on a cluster you already run.

EncliiPlatform takes its providers the way Pulumi components do, through ``opts.providers``: your
Kubernetes provider (the spec declares no cluster) and a Cloudflare provider (the spec declares an edge).
"""

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac import EncliiPlatform, load_platform
from enclii_iac.cloudflare import cf  # pulumi_cloudflare, imported without its v5-alias deprecation warnings
from enclii_iac.stack import require_secret

spec = load_platform(Path(__file__).parent / "platform.yaml")

kubernetes = k8s.Provider(
    "cluster",
    kubeconfig=require_secret("kubeconfig", "pulumi config set --secret kubeconfig < ~/.kube/config"),
    enable_server_side_apply=True,
)
cloudflare = cf.Provider(
    "cloudflare", api_token=require_secret("cloudflareToken", "pulumi config set --secret cloudflareToken <token>")
)

platform = EncliiPlatform(spec.name, spec, pulumi.ResourceOptions(providers=[kubernetes, cloudflare]))
pulumi.export("hostnames", platform.hostnames)
pulumi.export("tunnelId", platform.tunnel.tunnel_id)

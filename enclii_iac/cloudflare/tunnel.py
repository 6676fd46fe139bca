"""CloudflareTunnel: a remotely managed Cloudflare Tunnel, its ingress rules and the in-cluster connector.

tunnel = CloudflareTunnel("edge-tunnel", spec.edge, domain=spec.domain, routes=edge.routes,
                          domains=edge.domains, provider=cf_provider, k8s_provider=cluster.provider)
tunnel.cname_target  # Output: "<tunnel-id>.cfargotunnel.com"
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from enclii_iac import providers
from enclii_iac.cloudflare import manifests as m
from enclii_iac.cloudflare._cf import cf
from enclii_iac.models.edge import EdgeSpec
from enclii_iac.models.platform import IngressSpec
from enclii_iac.naming import child_name, type_token
from enclii_iac.render.edge import CFARGOTUNNEL_SUFFIX, EdgePlan, TenantDomain, TenantRoute, plan_edge
from enclii_iac.render.kube import resource_args as _k8s_args

TYPE_CLOUDFLARE_TUNNEL = type_token("CloudflareTunnel")

_DEFAULT_INGRESS = IngressSpec()


def _secret(value: pulumi.Output[str]) -> pulumi.Output[str]:
    out: pulumi.Output[str] = pulumi.Output.secret(value)
    return out


class CloudflareTunnel(pulumi.ComponentResource):
    """The tunnel (``config_src="cloudflare"``) with a random secret, its ingress configuration
    (platform hosts, tenant routes and custom domains, most specific first, then a 404 catch-all),
    the connector token in a Kubernetes Secret, and cloudflared in its own namespace.

    DNS records are declared by ``DnsRecords`` from this component's ``plan`` and ``cname_target``.
    """

    tunnel_id: pulumi.Output[str]
    cname_target: pulumi.Output[str]
    token: pulumi.Output[str]
    namespace_name: pulumi.Output[str]
    hostnames: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        args: EdgeSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        domain: str,
        provider: cf.Provider | None = None,
        k8s_provider: k8s.Provider | None = None,
        routes: Sequence[TenantRoute] = (),
        domains: Sequence[TenantDomain] = (),
        ingress: IngressSpec = _DEFAULT_INGRESS,
        protect: bool = False,
    ) -> None:
        """Declare the tunnel, its ingress rules and the cloudflared connector in the cluster.

        :param name: logical name; children are ``<name>-secret``, ``-tunnel``, ``-config``, ``-ns``, ``-token``,
            ``-sa``, ``-connector``, ``-pdb``, ``-metrics`` and ``-netpol-<policy>``.
        :param args: the edge spec (``account_id``, ``tunnel``, ``hosts``, preview wildcard, custom domains).
        :param opts: resource options; ``opts.providers`` may carry the Cloudflare and Kubernetes providers.
        :param domain: the zone (the platform domain); routes must lie inside it.
        :param provider: the Cloudflare provider (default: the one in ``opts.providers``; required).
        :param k8s_provider: the cluster's Kubernetes provider (default: the one in ``opts.providers``; required).
        :param routes: tenant HTTP routes (``tenant_edge(spec.tenants).routes``), served by Traefik.
        :param domains: tenant custom domains (``tenant_edge(spec.tenants).domains``).
        :param ingress: where Traefik and the connector live (``PlatformSpec.ingress``).
        :param protect: protect the tunnel and its secret (replacing either changes the tunnel id).
        :raises SpecError: a route outside the zone, a hostname claimed twice, too many custom domains or a
            missing provider, before anything is declared.
        """
        plan = plan_edge(args, domain, routes, domains, ingress=ingress)  # raises before anything is declared
        provider = providers.require(provider, opts, "cloudflare", component="CloudflareTunnel", argument="provider")
        k8s_provider = providers.require(
            k8s_provider, opts, "kubernetes", component="CloudflareTunnel", argument="k8s_provider"
        )
        super().__init__(TYPE_CLOUDFLARE_TUNNEL, name, None, opts)
        self.spec = args
        self.plan: EdgePlan = plan
        tun = args.tunnel
        ns = ingress.tunnel_namespace
        cf_opts = pulumi.ResourceOptions(parent=self, provider=provider)

        self.secret = random.RandomBytes(
            child_name(name, "secret"),
            length=tun.secret_bytes,
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        self.tunnel = cf.ZeroTrustTunnelCloudflared(
            child_name(name, "tunnel"),
            account_id=args.account_id,
            name=tun.name,
            config_src="cloudflare",
            tunnel_secret=_secret(self.secret.base64),
            opts=pulumi.ResourceOptions.merge(
                cf_opts, pulumi.ResourceOptions(protect=protect, additional_secret_outputs=["tunnelSecret"])
            ),
        )
        self.tunnel_id = self.tunnel.id
        self.config = cf.ZeroTrustTunnelCloudflaredConfig(
            child_name(name, "config"),
            account_id=args.account_id,
            tunnel_id=self.tunnel.id,
            source="cloudflare",
            config=cf.ZeroTrustTunnelCloudflaredConfigConfigArgs(
                ingresses=[
                    cf.ZeroTrustTunnelCloudflaredConfigConfigIngressArgs(
                        service=rule.service, hostname=rule.hostname, path=rule.path
                    )
                    for rule in plan.ingress
                ]
            ),
            opts=pulumi.ResourceOptions.merge(cf_opts, pulumi.ResourceOptions(protect=protect)),
        )
        token = cf.get_zero_trust_tunnel_cloudflared_token_output(
            account_id=args.account_id,
            tunnel_id=self.tunnel.id,
            opts=pulumi.InvokeOutputOptions(parent=self, provider=provider),
        )
        self.token = pulumi.Output.secret(token.token)
        self.cname_target = self.tunnel.id.apply(lambda i: f"{i}{CFARGOTUNNEL_SUFFIX}")

        k8s_opts = pulumi.ResourceOptions(parent=self, provider=k8s_provider)
        self.namespace = k8s.core.v1.Namespace(child_name(name, "ns"), **_k8s_args(m.namespace(tun, ns)), opts=k8s_opts)
        in_ns = pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=[self.namespace]))
        secret_args: dict[str, Any] = {
            "metadata": m.token_secret_metadata(tun, ns),
            "type": "Opaque",
            "string_data": {m.TOKEN_KEY: self.token},
        }
        self.token_secret = k8s.core.v1.Secret(
            child_name(name, "token"),
            **secret_args,
            opts=pulumi.ResourceOptions.merge(
                in_ns, pulumi.ResourceOptions(additional_secret_outputs=["data", "stringData"])
            ),
        )
        self.service_account = k8s.core.v1.ServiceAccount(
            child_name(name, "sa"), **_k8s_args(m.service_account(tun, ns)), opts=in_ns
        )
        deployment_args: dict[str, Any] = {
            "metadata": m.deployment(tun, ns, "")["metadata"],
            "spec": self.tunnel.id.apply(lambda i: m.deployment(tun, ns, i)["spec"]),
        }
        self.deployment = k8s.apps.v1.Deployment(
            child_name(name, "connector"),
            **deployment_args,
            opts=pulumi.ResourceOptions.merge(
                in_ns, pulumi.ResourceOptions(depends_on=[self.namespace, self.token_secret, self.service_account])
            ),
        )
        self.pdb = k8s.policy.v1.PodDisruptionBudget(child_name(name, "pdb"), **_k8s_args(m.pdb(tun, ns)), opts=in_ns)
        self.metrics_service = k8s.core.v1.Service(
            child_name(name, "metrics"), **_k8s_args(m.metrics_service(tun, ns)), opts=in_ns
        )
        self.network_policies: dict[str, k8s.networking.v1.NetworkPolicy] = {}
        for pol in m.network_policies(tun, ns, plan.origins, dns_namespace="kube-system"):
            key = pol["metadata"]["name"]
            self.network_policies[key] = k8s.networking.v1.NetworkPolicy(
                child_name(name, "netpol", key), **_k8s_args(pol), opts=in_ns
            )

        self.namespace_name = pulumi.Output.from_input(ns)
        self.hostnames = pulumi.Output.from_input(
            list(dict.fromkeys(r.hostname for r in plan.ingress if r.hostname is not None))
        )
        self.register_outputs(
            {
                "tunnel_id": self.tunnel_id,
                "cname_target": self.cname_target,
                "token": self.token,
                "namespace_name": self.namespace_name,
                "hostnames": self.hostnames,
            }
        )

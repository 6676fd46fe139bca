"""ClusterApiAccess: the way ``pulumi up``, operators and CI reach the Kubernetes API (``cluster.apiAccess``).

    access = ClusterApiAccess("enclii-api", spec.cluster, edge=spec.edge, domain=spec.domain,
                              nodes=hosts.nodes, provider=cf_provider)
    cluster = K3sCluster("enclii-k3s", spec.cluster, nodes=hosts.nodes,
                         api_tunnel_token=access.connector_token)        # tunnel mode only

- ``allowlist``: one DNS-only ``A``/``AAAA`` record ``apiEndpoint`` → each server's public address (the
  firewall opens 6443 to ``kubeApiAllowCidrs`` only; Cloudflare does not proxy 6443).
- ``tunnel``: a second tunnel (``<tunnel.name>-api``) serving ``<hostname>.<zone>`` → ``tcp://127.0.0.1:6443``
  on the servers, its proxied CNAME, Access service tokens, Access policies (people by email or domain; CI by
  service token) and a self-hosted Access application on the hostname. The connector runs on each server as
  a k3s static pod, installed by K3sCluster from ``connector_token``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import pulumi
import pulumi_random as random

from enclii_iac import providers
from enclii_iac.cloudflare._cf import cf
from enclii_iac.errors import SpecError, SpecIssue
from enclii_iac.hetzner.node import ClusterNode
from enclii_iac.models.cluster import K3sClusterSpec, api_access_issues, api_server_url, declares_api_record
from enclii_iac.models.edge import EdgeSpec
from enclii_iac.naming import child_name, type_token
from enclii_iac.render import api_access as ra
from enclii_iac.render.edge import CFARGOTUNNEL_SUFFIX

TYPE_CLUSTER_API_ACCESS = type_token("ClusterApiAccess")

API_RECORD_TTL: Final = 300
"""TTL of the DNS-only API records (seconds): short, so a replaced server's new address spreads quickly."""
API_RECORD_COMMENT: Final = "enclii-iac: Kubernetes API (DNS only; 6443 open to the allow-list)"
SERVICE_TOKEN_DURATION: Final = "8760h"
"""Lifetime of an Access service token: one year; rotate by bumping its name."""


class ClusterApiAccess(pulumi.ComponentResource):
    """How the Kubernetes API of one cluster is reached (see the module docstring for both modes)."""

    server_url: pulumi.Output[str]
    hostname: pulumi.Output[str]
    connector_token: pulumi.Output[str]
    service_tokens: pulumi.Output[dict[str, dict[str, str]]]

    def __init__(
        self,
        name: str,
        args: K3sClusterSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        edge: EdgeSpec,
        domain: str,
        nodes: Mapping[str, ClusterNode],
        provider: cf.Provider | None = None,
        extra_policies: Sequence[cf.ZeroTrustAccessPolicy] = (),
        protect: bool = False,
    ) -> None:
        """Declare the API's way in.

        :param name: logical name; children are ``<name>-record-<server>`` (allowlist), or ``<name>-secret``,
            ``-tunnel``, ``-config``, ``-record``, ``-token-<key>``, ``-operators``, ``-ci`` and ``-app`` (tunnel).
        :param args: the cluster spec (``apiAccess``, ``apiEndpoint``, ``servers``).
        :param opts: resource options; ``opts.providers`` may carry the Cloudflare provider.
        :param edge: the edge spec (account, zone, tunnel name).
        :param domain: the zone.
        :param nodes: the hosts by key (``Hosts.nodes``); the servers' public addresses feed the A records.
        :param provider: the Cloudflare provider (default: the one in ``opts.providers``; required).
        :param extra_policies: tunnel: more Access policies of the API's application, after its own (the
            Janua groups of ``identity.access.kubeApiGroups``, from IdentityAccess.kube_policy).
        :param protect: protect the API tunnel, its secret (replacing either changes the tunnel id) and the
            API's DNS records.
        :raises SpecError: a way in that cannot work (see ``api_access_issues``), before anything is declared.
        """
        spec = args
        access = spec.api_access
        issues = api_access_issues(spec, None, domain)  # the hosts' allow-lists are checked by PlatformSpec
        missing = [k for k in spec.servers if k not in nodes]
        issues += [SpecIssue("", "cluster.servers", f"no host {k!r} among the nodes ({sorted(nodes)})")
                   for k in missing]
        if issues:
            raise SpecError(issues)
        provider = providers.require(provider, opts, "cloudflare", component="ClusterApiAccess", argument="provider")
        super().__init__(TYPE_CLUSTER_API_ACCESS, name, None, opts)
        self.spec = spec
        self.mode = access.mode
        cf_opts = pulumi.ResourceOptions(parent=self, provider=provider)
        self.records: dict[str, cf.DnsRecord] = {}
        self.tunnel: cf.ZeroTrustTunnelCloudflared | None = None
        self.application: cf.ZeroTrustAccessApplication | None = None
        self.policies: dict[str, cf.ZeroTrustAccessPolicy] = {}
        self.tokens: dict[str, cf.ZeroTrustAccessServiceToken] = {}
        self.commands: dict[str, str] = {}
        self.extra_policies = list(extra_policies)

        if access.mode == "allowlist":
            url = api_server_url(spec)
            first = nodes[spec.servers[0]]
            self.server_url = (pulumi.Output.from_input(url) if url is not None else
                               first.public_address.apply(lambda a: str(api_server_url(spec, a))))
            self.hostname = pulumi.Output.from_input(spec.api_endpoint or "")
            if declares_api_record(spec, domain):
                assert spec.api_endpoint is not None
                for key in spec.servers:
                    address = nodes[key].public_address
                    self.records[key] = cf.DnsRecord(
                        child_name(name, "record", key),
                        zone_id=edge.zone_id,
                        name=spec.api_endpoint,
                        type=address.apply(lambda a: "AAAA" if ":" in a else "A"),
                        content=address,
                        proxied=False,
                        ttl=API_RECORD_TTL,
                        comment=API_RECORD_COMMENT,
                        # like every other record in production: deleting it takes the API offline
                        opts=pulumi.ResourceOptions.merge(cf_opts, pulumi.ResourceOptions(protect=protect)),
                    )
            self.connector_token = pulumi.Output.secret("")
            self.service_tokens = pulumi.Output.secret({})
        else:
            host = ra.api_hostname(spec, domain)
            self.server_url = pulumi.Output.from_input(str(api_server_url(spec)))
            self.hostname = pulumi.Output.from_input(host)
            self.commands = ra.client_commands(host, access.local_port)
            self._tunnel(name, edge, host, provider, protect)
        self.register_outputs({
            "server_url": self.server_url,
            "hostname": self.hostname,
            "connector_token": self.connector_token,
            "service_tokens": self.service_tokens,
        })

    def _tunnel(self, name: str, edge: EdgeSpec, host: str, provider: cf.Provider, protect: bool) -> None:
        access = self.spec.api_access
        cf_opts = pulumi.ResourceOptions(parent=self, provider=provider)
        account = edge.account_id
        secret = random.RandomBytes(child_name(name, "secret"), length=32,
                                    opts=pulumi.ResourceOptions(parent=self, protect=protect))
        tunnel_secret: pulumi.Output[str] = pulumi.Output.secret(secret.base64)
        self.tunnel = cf.ZeroTrustTunnelCloudflared(
            child_name(name, "tunnel"),
            account_id=account,
            name=f"{edge.tunnel.name}-api",
            config_src="cloudflare",
            tunnel_secret=tunnel_secret,
            opts=pulumi.ResourceOptions.merge(
                cf_opts, pulumi.ResourceOptions(protect=protect, additional_secret_outputs=["tunnelSecret"])),
        )
        self.config = cf.ZeroTrustTunnelCloudflaredConfig(
            child_name(name, "config"),
            account_id=account,
            tunnel_id=self.tunnel.id,
            source="cloudflare",
            config=cf.ZeroTrustTunnelCloudflaredConfigConfigArgs(ingresses=[
                cf.ZeroTrustTunnelCloudflaredConfigConfigIngressArgs(
                    hostname=rule.get("hostname"), service=rule["service"])
                for rule in ra.api_tunnel_ingress(host)
            ]),
            opts=cf_opts,
        )
        token = cf.get_zero_trust_tunnel_cloudflared_token_output(
            account_id=account, tunnel_id=self.tunnel.id,
            opts=pulumi.InvokeOutputOptions(parent=self, provider=provider))
        self.connector_token = pulumi.Output.secret(token.token)
        self.records["tunnel"] = cf.DnsRecord(
            child_name(name, "record"),
            zone_id=edge.zone_id,
            name=host,
            type="CNAME",
            content=self.tunnel.id.apply(lambda i: f"{i}{CFARGOTUNNEL_SUFFIX}"),
            proxied=True,
            ttl=1,
            comment="enclii-iac: Kubernetes API through the API tunnel, behind Cloudflare Access",
            opts=pulumi.ResourceOptions.merge(cf_opts, pulumi.ResourceOptions(protect=protect)),
        )
        for key in access.service_tokens:
            self.tokens[key] = cf.ZeroTrustAccessServiceToken(
                child_name(name, "token", key),
                account_id=account,
                name=f"{edge.tunnel.name}-api-{key}",
                duration=SERVICE_TOKEN_DURATION,
                opts=pulumi.ResourceOptions.merge(cf_opts, pulumi.ResourceOptions(
                    additional_secret_outputs=["clientSecret"])),
            )
        people: list[Any] = [{"email": {"email": e}} for e in access.allow_emails]
        people += [{"email_domain": {"domain": d}} for d in access.allow_email_domains]
        if people:
            self.policies["operators"] = cf.ZeroTrustAccessPolicy(
                child_name(name, "operators"),
                account_id=account,
                name=f"{edge.tunnel.name}-api operators",
                decision="allow",
                includes=people,
                session_duration=access.session_duration,
                opts=cf_opts,
            )
        if self.tokens:
            self.policies["ci"] = cf.ZeroTrustAccessPolicy(
                child_name(name, "ci"),
                account_id=account,
                name=f"{edge.tunnel.name}-api service tokens",
                decision="non_identity",
                includes=[{"service_token": {"token_id": t.id}} for t in self.tokens.values()],
                opts=cf_opts,
            )
        self.application = cf.ZeroTrustAccessApplication(
            child_name(name, "app"),
            account_id=account,
            name=f"{edge.tunnel.name} Kubernetes API",
            type="self_hosted",
            domain=host,
            destinations=[{"type": "public", "uri": host}],
            session_duration=access.session_duration,
            app_launcher_visible=False,
            service_auth401_redirect=True,
            policies=[{"id": p.id, "precedence": i}
                      for i, p in enumerate([*self.policies.values(), *self.extra_policies], start=1)],
            opts=cf_opts,
        )
        self.service_tokens = pulumi.Output.secret(pulumi.Output.all(
            *[pulumi.Output.all(t.client_id, t.client_secret) for t in self.tokens.values()]
        ).apply(lambda pairs: {
            key: {"clientId": str(pair[0]), "clientSecret": str(pair[1])}
            for key, pair in zip(self.tokens, pairs, strict=True)
        }))

"""IdentityAccess: Cloudflare Access in front of the admin surfaces, with Janua as its OIDC login.

    access = IdentityAccess("enclii-access", spec.identity, edge=spec.edge, domain=spec.domain,
                            client_secret=janua_client_secret, provider=cf_provider)

Declares Janua as a generic OIDC identity provider of the account, then per application (dashboard,
Grafana, the API's admin paths...) one self-hosted Access application on its hostname or paths, one policy
for people (Janua login required; by group claim, email domain or email) and, when the app lists service
tokens, one ``non_identity`` policy admitting exactly those tokens: a CI token opens only the apps that
name it. ``kube_policy`` (groups for the Kubernetes API through the tunnel) goes to ClusterApiAccess.
"""

from __future__ import annotations

import pulumi

from enclii_iac import providers
from enclii_iac.cloudflare._cf import cf
from enclii_iac.errors import SpecError, SpecIssue
from enclii_iac.models.edge import EdgeSpec
from enclii_iac.models.identity import AccessAppSpec, IdentitySpec, OidcSpec
from enclii_iac.naming import child_name, type_token
from enclii_iac.render.edge import fqdn

TYPE_IDENTITY_ACCESS = type_token("IdentityAccess")

OIDC_SCOPES = ("openid", "email", "profile", "groups")
"""Scopes Access asks Janua for: the email and groups claims its policies read."""


def app_destinations(app: AccessAppSpec, domain: str) -> list[str]:
    """The URIs an application covers: the hostname, or each of its paths on it."""
    host = fqdn(app.hostname, domain)
    return [f"{host}{p}" for p in app.paths] or [host]


def people_includes(groups: list[str], domains: list[str], emails: list[str], *, claim: str,
                    idp_id: pulumi.Input[str]) -> list[cf.ZeroTrustAccessPolicyIncludeArgs]:
    """Policy ``includes`` (any one admits): Janua groups by claim, email domains, emails."""
    out = [cf.ZeroTrustAccessPolicyIncludeArgs(oidc=cf.ZeroTrustAccessPolicyIncludeOidcArgs(
        claim_name=claim, claim_value=g, identity_provider_id=idp_id)) for g in groups]
    out += [cf.ZeroTrustAccessPolicyIncludeArgs(email_domain=cf.ZeroTrustAccessPolicyIncludeEmailDomainArgs(
        domain=d)) for d in domains]
    out += [cf.ZeroTrustAccessPolicyIncludeArgs(email=cf.ZeroTrustAccessPolicyIncludeEmailArgs(email=e))
            for e in emails]
    return out


def janua_login(idp_id: pulumi.Input[str]) -> list[cf.ZeroTrustAccessPolicyRequireArgs]:
    """Policy ``requires``: the login went through Janua (no other login method of the account admits)."""
    return [cf.ZeroTrustAccessPolicyRequireArgs(login_method=cf.ZeroTrustAccessPolicyRequireLoginMethodArgs(
        id=idp_id))]


class IdentityAccess(pulumi.ComponentResource):
    """Cloudflare Access applications, policies and service tokens behind Janua (``identity.access``)."""

    identity_provider_id: pulumi.Output[str]
    applications: pulumi.Output[dict[str, list[str]]]
    service_tokens: pulumi.Output[dict[str, dict[str, str]]]

    def __init__(
        self,
        name: str,
        args: IdentitySpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        edge: EdgeSpec,
        domain: str,
        client_secret: pulumi.Input[str],
        provider: cf.Provider | None = None,
    ) -> None:
        """Declare Access for ``args.access``.

        :param name: logical name; children are ``<name>-idp``, ``<name>-token-<key>``, and per app
            ``<name>-<app>-people``, ``<name>-<app>-tokens``, ``<name>-<app>``; ``<name>-kube-groups``.
        :param args: the identity spec (``oidc`` and ``access`` are required).
        :param opts: resource options; ``opts.providers`` may carry the Cloudflare provider.
        :param edge: the edge spec (account).
        :param domain: the zone the applications' hostnames are in.
        :param client_secret: the secret of Access's OIDC client at Janua (kept a Pulumi secret).
        :param provider: the Cloudflare provider (default: the one in ``opts.providers``; required).
        :raises SpecError: no ``oidc`` or no ``access`` in the spec, before anything is declared.
        """
        if args.oidc is None or args.access is None:
            raise SpecError([SpecIssue("", "identity.access", "IdentityAccess needs identity.oidc and "
                                                              "identity.access")])
        oidc: OidcSpec = args.oidc
        access = args.access
        provider = providers.require(provider, opts, "cloudflare", component="IdentityAccess", argument="provider")
        super().__init__(TYPE_IDENTITY_ACCESS, name, None, opts)
        cf_opts = pulumi.ResourceOptions(parent=self, provider=provider)
        account = edge.account_id
        self.identity_provider = cf.ZeroTrustAccessIdentityProvider(
            child_name(name, "idp"),
            account_id=account,
            name=access.identity_provider_name,
            type="oidc",
            config=cf.ZeroTrustAccessIdentityProviderConfigArgs(
                client_id=access.client_id,
                client_secret=pulumi.Output.secret(client_secret),
                auth_url=access.janua_auth_url,
                token_url=access.janua_token_url,
                certs_url=access.janua_certs_url,
                claims=[oidc.groups_claim, "email"],
                scopes=list(OIDC_SCOPES),
                email_claim_name="email",
                pkce_enabled=True,
            ),
            opts=pulumi.ResourceOptions.merge(cf_opts, pulumi.ResourceOptions(
                additional_secret_outputs=["config"])),
        )
        idp_id = self.identity_provider.id
        self.tokens: dict[str, cf.ZeroTrustAccessServiceToken] = {}
        for key, token in access.service_tokens.items():
            self.tokens[key] = cf.ZeroTrustAccessServiceToken(
                child_name(name, "token", key),
                account_id=account,
                name=f"{name}-{key}",
                duration=token.duration,
                opts=pulumi.ResourceOptions.merge(cf_opts, pulumi.ResourceOptions(
                    additional_secret_outputs=["clientSecret"])),
            )
        self.policies: dict[str, cf.ZeroTrustAccessPolicy] = {}
        self.apps: dict[str, cf.ZeroTrustAccessApplication] = {}
        for key, app in access.apps.items():
            session = app.session_duration or access.session_duration
            app_policies: list[cf.ZeroTrustAccessPolicy] = []
            people = people_includes(app.allow_groups, app.allow_email_domains, app.allow_emails,
                                     claim=oidc.groups_claim, idp_id=idp_id)
            if people:
                self.policies[f"{key}-people"] = cf.ZeroTrustAccessPolicy(
                    child_name(name, key, "people"),
                    account_id=account,
                    name=f"{name} {key} people",
                    decision="allow",
                    includes=people,
                    requires=janua_login(idp_id),
                    session_duration=session,
                    opts=cf_opts,
                )
                app_policies.append(self.policies[f"{key}-people"])
            if app.service_tokens:
                self.policies[f"{key}-tokens"] = cf.ZeroTrustAccessPolicy(
                    child_name(name, key, "tokens"),
                    account_id=account,
                    name=f"{name} {key} service tokens",
                    decision="non_identity",
                    includes=[cf.ZeroTrustAccessPolicyIncludeArgs(
                        service_token=cf.ZeroTrustAccessPolicyIncludeServiceTokenArgs(token_id=self.tokens[t].id))
                        for t in app.service_tokens],
                    opts=cf_opts,
                )
                app_policies.append(self.policies[f"{key}-tokens"])
            uris = app_destinations(app, domain)
            self.apps[key] = cf.ZeroTrustAccessApplication(
                child_name(name, key),
                account_id=account,
                name=f"{name} {key}",
                type="self_hosted",
                domain=uris[0],
                destinations=[cf.ZeroTrustAccessApplicationDestinationArgs(type="public", uri=u) for u in uris],
                session_duration=session,
                allowed_idps=[idp_id],
                auto_redirect_to_identity=True,
                app_launcher_visible=False,
                service_auth401_redirect=bool(app.service_tokens),
                policies=[cf.ZeroTrustAccessApplicationPolicyArgs(id=p.id, precedence=i)
                          for i, p in enumerate(app_policies, start=1)],
                opts=cf_opts,
            )
        self.kube_policy: cf.ZeroTrustAccessPolicy | None = None
        if access.kube_api_groups:
            self.kube_policy = cf.ZeroTrustAccessPolicy(
                child_name(name, "kube-groups"),
                account_id=account,
                name=f"{name} Kubernetes API groups",
                decision="allow",
                includes=people_includes(access.kube_api_groups, [], [], claim=oidc.groups_claim, idp_id=idp_id),
                requires=janua_login(idp_id),
                session_duration=access.session_duration,
                opts=cf_opts,
            )
        self.identity_provider_id = idp_id
        self.applications = pulumi.Output.from_input(
            {key: app_destinations(app, domain) for key, app in access.apps.items()})
        self.service_tokens = pulumi.Output.secret(pulumi.Output.all(
            *[pulumi.Output.all(t.client_id, t.client_secret) for t in self.tokens.values()]
        ).apply(lambda pairs: {
            key: {"clientId": str(pair[0]), "clientSecret": str(pair[1])}
            for key, pair in zip(self.tokens, pairs, strict=True)
        }))
        self.register_outputs({"identity_provider_id": self.identity_provider_id, "applications": self.applications,
                               "service_tokens": self.service_tokens})

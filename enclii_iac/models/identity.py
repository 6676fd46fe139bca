"""Identity and access spec (``identity:`` of the platform): OIDC for the Kubernetes API, Janua, Cloudflare
Access in front of the admin surfaces. Pure data, no Pulumi.

    identity:
      oidc: {issuerUrl: https://auth.example.com, clientId: kubernetes}
      janua: {placement: external}
      access:
        clientId: cloudflare-access                               # Access's own client at Janua
        januaAuthUrl: https://auth.example.com/oauth/authorize    # from Janua's discovery document
        januaTokenUrl: https://auth.example.com/oauth/token
        januaCertsUrl: https://auth.example.com/.well-known/jwks.json
        apps:
          dashboard: {hostname: dash, allowGroups: [platform-admins]}
          api-admin: {hostname: api, paths: [/admin], allowGroups: [platform-admins], serviceTokens: [ci]}
        serviceTokens: {ci: {}}

Every value that reaches the API server's command line (through k3s's ``config.yaml``) is checked here
against a closed character set, so no value can add a flag, a line or a YAML key.
"""

from __future__ import annotations

import base64
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from enclii_iac.models._base import Image, ShortLabel, StrictModel, image_digest

_CLAIM = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"
_PREFIX = r"^[A-Za-z0-9._@:/-]{1,64}$"
_CLIENT_ID = r"^[A-Za-z0-9._:@/-]{1,128}$"
_CLAIM_VALUE = r"^[A-Za-z0-9._:@/+-]{1,128}$"
_GROUP = r"^[A-Za-z0-9._@:/+ -]{1,128}$"
_SESSION = r"^[0-9]{1,4}(m|h)$"
_EMAIL = r"^[A-Za-z0-9._%+-]{1,64}@([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
_EMAIL_DOMAIN = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
_ACCESS_PATH = r"^/[A-Za-z0-9._~/-]{0,200}$"
_HTTPS_URL = (r"^https://(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*"
              r"|\[[0-9a-f:.]{2,45}\])(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~-]+)*/?$")
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=\n]+?)\n?-----END CERTIFICATE-----\n?")

SigningAlg = Literal["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"]


IssuerUrl = Annotated[str, Field(pattern=_HTTPS_URL, max_length=512)]
"""An https URL: ``https://<host>[:port][/path]``, no user, query or fragment (an OIDC issuer is exactly the
``iss`` claim of its tokens; discovery is at ``<issuer>/.well-known/openid-configuration``)."""

Prefix = Annotated[str, Field(pattern=_PREFIX)]


def _pem_bundle(value: str) -> str:
    text = value.replace("\r\n", "\n").strip() + "\n"
    blocks = _PEM.findall(text)
    if not blocks or _PEM.sub("", text).strip():
        raise ValueError("give one or more PEM certificates (-----BEGIN CERTIFICATE----- ...) and nothing else")
    for body in blocks:
        try:
            base64.b64decode(body.replace("\n", ""), validate=True)
        except ValueError:
            raise ValueError("a certificate's body is not base64") from None
    return text


def _not_system(value: str) -> str:
    if value.lower().startswith("system:"):
        raise ValueError(f"{value!r}: a prefix under system: would let the identity provider name Kubernetes' "
                         "own users and groups (system:masters); pick another, e.g. oidc:")
    return value


class OidcSpec(StrictModel):
    """The API server's OIDC authenticator (k3s ``kube-apiserver-arg: oidc-*``): who a bearer token is.

    People log in to the identity provider (Janua) and send its ID token; the API server checks its
    signature against the issuer's JWKS, its ``aud`` against ``clientId`` and takes the user name and the
    groups from the claims, each with its prefix, so an OIDC identity can never pass for a local one."""

    issuer_url: IssuerUrl = Field(description="The issuer (https only), e.g. https://auth.example.com.")
    client_id: str = Field(pattern=_CLIENT_ID, description="The audience tokens must carry (the OIDC client).")
    username_claim: str = Field("email", pattern=_CLAIM, description="Claim naming the user. Default: email.")
    username_prefix: Prefix = Field("oidc:", description="Prepended to every user name. Default: oidc:.")
    groups_claim: str = Field("groups", pattern=_CLAIM, description="Claim listing the groups. Default: groups.")
    groups_prefix: Prefix = Field("oidc:", description="Prepended to every group. Default: oidc:.")
    ca_pem: str | None = Field(
        None, description="CA certificates of the issuer's TLS (PEM). Default: the host's CA bundle.")
    signing_algs: list[SigningAlg] = Field(
        default_factory=lambda: list[SigningAlg](["RS256"]), min_length=1,
        description="Accepted JWS algorithms. Default: RS256.")
    required_claims: dict[Annotated[str, Field(pattern=_CLAIM)], Annotated[str, Field(pattern=_CLAIM_VALUE)]] = Field(
        default_factory=dict, description="Claims every token must carry with exactly this value.")

    @field_validator("ca_pem")
    @classmethod
    def _ca(cls, value: str | None) -> str | None:
        return None if value is None else _pem_bundle(value)

    @field_validator("username_prefix", "groups_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return _not_system(value)

    @model_validator(mode="after")
    def _distinct(self) -> OidcSpec:
        if len(set(self.signing_algs)) != len(self.signing_algs):
            raise ValueError("signingAlgs: an algorithm is listed twice")
        return self

    def user(self, name: str) -> str:
        """The Kubernetes user name of an identity-provider user."""
        return self.username_prefix + name

    def group(self, name: str) -> str:
        """The Kubernetes group name of an identity-provider group."""
        return self.groups_prefix + name


class JanuaSpec(StrictModel):
    """Janua, the identity provider: run outside the platform (default) or on it.

    On the platform Janua needs its PostgreSQL database from the platform's data services; a platform
    without one is refused at validation."""

    placement: Literal["external", "platform"] = Field(
        "external", description="external: Janua runs elsewhere at oidc.issuerUrl; platform: on this cluster. "
                                "Default: external.")
    image: Image | None = Field(None, description="platform: Janua's image, pinned by digest.")
    database: ShortLabel | None = Field(
        None, description="platform: the PostgreSQL database of the data services Janua stores its users in.")
    subdomain: str = Field("auth", pattern=_SUBDOMAIN,
                           description="platform: Janua's name in the zone (auth → auth.<zone>). Default: auth.")

    @model_validator(mode="after")
    def _placement_fields(self) -> JanuaSpec:
        if self.placement == "external":
            given = [k for k, v in (("image", self.image), ("database", self.database)) if v is not None]
            if given:
                raise ValueError(f"{given[0]}: only used with placement: platform")
            return self
        if self.image is None or image_digest(self.image) is None:
            raise ValueError("image: placement: platform needs Janua's image pinned by digest "
                             "(<registry>/janua@sha256:<digest>)")
        if self.database is None:
            raise ValueError("database: placement: platform needs the PostgreSQL database Janua stores its "
                             "users in (one of the platform's data services)")
        return self


class ServiceTokenSpec(StrictModel):
    """An Access service token for a non-interactive client (CI); it opens only the apps that list it."""

    duration: str = Field("8760h", pattern=r"^[0-9]{1,5}h$", description="Lifetime. Default: 8760h (a year).")


class AccessAppSpec(StrictModel):
    """One self-hosted Access application: a hostname (and optionally only some of its paths)."""

    hostname: str = Field(pattern=_SUBDOMAIN, description="Name in the zone (dash → dash.<zone>).")
    paths: list[Annotated[str, Field(pattern=_ACCESS_PATH)]] = Field(
        default_factory=list, description="Only these paths are behind Access (e.g. /admin). Default: all.")
    allow_groups: list[Annotated[str, Field(pattern=_GROUP)]] = Field(
        default_factory=list, description="Identity-provider groups (the oidc groups claim) let in.")
    allow_email_domains: list[Annotated[str, Field(pattern=_EMAIL_DOMAIN)]] = Field(
        default_factory=list, description="Email domains let in (after an identity-provider login).")
    allow_emails: list[Annotated[str, Field(pattern=_EMAIL)]] = Field(
        default_factory=list, description="People let in by email (after an identity-provider login).")
    service_tokens: list[ShortLabel] = Field(
        default_factory=list, description="Service tokens (access.serviceTokens) let in; no token opens an app "
                                          "that does not list it.")
    session_duration: str | None = Field(None, pattern=_SESSION,
                                         description="Session length here. Default: access.sessionDuration.")

    @model_validator(mode="after")
    def _someone(self) -> AccessAppSpec:
        if not (self.allow_groups or self.allow_email_domains or self.allow_emails or self.service_tokens):
            raise ValueError("lets no one in: list allowGroups, allowEmailDomains, allowEmails or serviceTokens")
        for field, values in (("paths", self.paths), ("allowGroups", self.allow_groups),
                              ("serviceTokens", self.service_tokens)):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"{field}: {dupes[0]!r} is listed twice")
        return self


class AccessSpec(StrictModel):
    """Cloudflare Access in front of the admin surfaces, with Janua as its OIDC identity provider."""

    client_id: str = Field(pattern=_CLIENT_ID, description="Access's OIDC client at Janua (its redirect URI is "
                                                           "https://<team>.cloudflareaccess.com/cdn-cgi/access/"
                                                           "callback); the secret is config enclii:januaClientSecret.")
    janua_auth_url: IssuerUrl = Field(description="Janua's authorization_endpoint (its discovery document).")
    janua_token_url: IssuerUrl = Field(description="Janua's token_endpoint (its discovery document).")
    janua_certs_url: IssuerUrl = Field(description="Janua's jwks_uri (its discovery document).")
    identity_provider_name: str = Field("Janua", pattern=r"^[A-Za-z0-9 ._-]{1,64}$",
                                        description="Name of the login method on Access's login page.")
    apps: dict[ShortLabel, AccessAppSpec] = Field(
        default_factory=dict, description="Applications by key (dashboard, grafana, api-admin...).")
    service_tokens: dict[ShortLabel, ServiceTokenSpec] = Field(
        default_factory=dict, description="Service tokens by key; their id and secret are secret stack outputs.")
    session_duration: str = Field("8h", pattern=_SESSION, description="Session length. Default: 8h.")
    kube_api_groups: list[Annotated[str, Field(pattern=_GROUP)]] = Field(
        default_factory=list, description="Groups let through Access to the Kubernetes API when "
                                          "cluster.apiAccess.mode is tunnel (besides its emails and tokens).")

    @model_validator(mode="after")
    def _tokens_known(self) -> AccessSpec:
        for key, app in self.apps.items():
            for i, token in enumerate(app.service_tokens):
                if token not in self.service_tokens:
                    raise ValueError(f"apps.{key}.serviceTokens[{i}]: no service token {token!r} in "
                                     f"access.serviceTokens (known: {sorted(self.service_tokens)})")
        unused = sorted(set(self.service_tokens) - {t for a in self.apps.values() for t in a.service_tokens})
        if unused:
            raise ValueError(f"serviceTokens.{unused[0]}: opens no app; list it in an app's serviceTokens or drop it")
        return self


class IdentitySpec(StrictModel):
    """Who people are (OIDC), where the identity provider runs, and Access in front of the admin surfaces."""

    oidc: OidcSpec | None = Field(None, description="OIDC for the Kubernetes API. Default: none (admin "
                                                    "kubeconfig only).")
    janua: JanuaSpec = Field(default_factory=JanuaSpec)
    access: AccessSpec | None = Field(None, description="Cloudflare Access in front of admin surfaces.")

    @model_validator(mode="after")
    def _access_needs_oidc(self) -> IdentitySpec:
        if self.access is not None and self.oidc is None:
            raise ValueError("access: Access logs people in through Janua: set identity.oidc (issuerUrl, clientId)")
        return self


def janua_issues(identity: IdentitySpec, databases: frozenset[str]) -> list[tuple[str, str]]:
    """``(field path, message)`` of a Janua that cannot run where the spec puts it. ``databases``: names of
    the PostgreSQL databases the platform declares."""
    janua = identity.janua
    if janua.placement != "platform" or janua.database in databases:
        return []
    known = ", ".join(sorted(databases)) or "none"
    return [("identity.janua.database",
             f"Janua on the platform needs its PostgreSQL database {janua.database!r} from the platform's data "
             f"services, and the platform declares {known}; declare that database, or run Janua outside the "
             "platform (placement: external, with oidc.issuerUrl its URL)")]

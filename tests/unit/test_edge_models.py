"""EdgeSpec validation (field paths, defaults) and the pure routing plan (plan_edge, tenant_edge)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from enclii_iac.errors import SpecError
from enclii_iac.models.edge import CLOUDFLARED_IMAGE, EdgeSpec, R2BucketSpec
from enclii_iac.models.loader import build_platform, validate_model
from enclii_iac.models.platform import IngressSpec
from enclii_iac.models.tenant import ProjectSpec
from enclii_iac.render.edge import (
    CATCH_ALL,
    TenantDomain,
    TenantRoute,
    as_routes,
    fqdn,
    path_regex,
    plan_edge,
    record_key,
    tenant_edge,
)

ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE_ID = "fedcba9876543210fedcba9876543210"
ZONE = "example.com"
TRAEFIK = "http://traefik.kube-system.svc.cluster.local:80"
DIGEST = "@sha256:" + "ab" * 32

EXAMPLE_EDGE_YAML = """
edge:
  accountId: 0123456789abcdef0123456789abcdef
  zoneId: fedcba9876543210fedcba9876543210
  tunnel:
    name: enclii-production
    replicas: 2
    metricsNamespaces: [monitoring]
  hosts:
    api: {subdomain: api, service: enclii-api, namespace: enclii, port: 80, targetPort: 8080}
    app: {subdomain: app, service: enclii-ui, namespace: enclii, port: 80, targetPort: 8080}
  previewWildcard: true
  previewSubdomain: preview
  zoneSettings: {ssl: strict, minTlsVersion: "1.2", alwaysUseHttps: true}
  customDomains:
    enabled: true
    fallbackOrigin: fallback
    sslMethod: http
    warnAt: 90
    maxHostnames: 100
  r2:
    buckets:
      etcd:
        name: enclii-etcd
        location: weur
        lifecycle:
          etcd: {prefix: etcd/, expireAfterDays: 30, abortMultipartAfterDays: 1}
        lock:
          etcd: {prefix: etcd/, retentionDays: 3}
        tokens:
          etcd: {access: write, prefix: etcd/, schedule: 6h}
      backups:
        name: enclii-backups
        location: weur
        lifecycle:
          postgres: {prefix: postgres/, expireAfterDays: 35, infrequentAccessAfterDays: 30}
        lock:
          postgres: {prefix: postgres/, retentionDays: 7}
        tokens:
          postgres: {access: write, prefix: postgres/, schedule: 24h}
      state:
        name: enclii-pulumi-state
        adopt: true
        lifecycle:
          multipart: {abortMultipartAfterDays: 1}
        tokens:
          pulumi: {access: write}
      artifacts:
        name: enclii-artifacts
        stateful: false
        lifecycle:
          expire: {expireAfterDays: 90}
        cors:
          ui: {origins: ["https://app.example.com"], methods: [GET, HEAD], maxAgeSeconds: 3600}
"""


def edge(**over: Any) -> EdgeSpec:
    return EdgeSpec.model_validate({"accountId": ACCOUNT, "zoneId": ZONE_ID, **over})


def issues(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as err:
        validate_model(EdgeSpec, {"accountId": ACCOUNT, "zoneId": ZONE_ID, **data}, "platform", prefix="edge")
    return [f"{i.path}: {i.message}" for i in err.value.issues]


# --- the spec ---------------------------------------------------------------------------------------------


def test_defaults_are_secure_and_pinned() -> None:
    e = edge()
    assert e.tunnel.replicas == 2
    assert e.tunnel.image == CLOUDFLARED_IMAGE and "@sha256:" in e.tunnel.image
    assert e.zone_settings is not None
    assert (e.zone_settings.ssl, e.zone_settings.min_tls_version, e.zone_settings.always_use_https) == (
        "strict",
        "1.2",
        True,
    )
    assert e.custom_domains.max_hostnames == 100 and e.custom_domains.warn_at == 90
    assert e.r2 is not None
    buckets = e.r2.buckets
    assert sorted(buckets) == ["artifacts", "backups", "etcd", "state"]
    assert buckets["backups"].stateful and buckets["state"].stateful and not buckets["artifacts"].stateful
    assert buckets["state"].adopt and buckets["state"].name == "enclii-pulumi-state"
    assert buckets["backups"].schedules == {"postgres/": "24h"}
    # one writer per bucket (an R2 token reaches its whole bucket), and etcd snapshots under a lock
    assert buckets["etcd"].schedules == {"etcd/": "6h"} and buckets["etcd"].lock["etcd"].prefix == "etcd/"
    assert e.hosts == {} and e.preview_wildcard


def test_the_example_yaml_for_the_platform_spec_validates() -> None:
    data = yaml.safe_load(EXAMPLE_EDGE_YAML)
    platform = build_platform({"domain": ZONE, "stage": "production", **data})
    assert platform.edge is not None
    assert platform.edge.hosts["api"].container_port == 8080
    assert platform.edge.r2 is not None
    assert platform.edge.r2.buckets["backups"].lock["postgres"].retention_days == 7
    assert platform.edge.to_data()["accountId"] == ACCOUNT


def test_unknown_fields_and_camel_case() -> None:
    assert issues({"tunnel": {"replica": 3}}) == [
        "edge.tunnel.replica: unknown field (check the spelling; `enclii-iac schema` lists the fields)"
    ]
    assert edge(previewWildcard=False).preview_wildcard is False


def test_spec_is_frozen() -> None:
    e = edge()
    with pytest.raises(ValidationError, match="frozen"):
        e.account_id = "x"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"accountId": "ABC"}, "edge.accountId: String should match pattern '^[0-9a-f]{32}$'"),
        (
            {"tunnel": {"image": "cloudflare/cloudflared:2026.3.0"}},
            "edge.tunnel.image: the connector image must be pinned by digest",
        ),
        ({"tunnel": {"replicas": 0}}, "edge.tunnel.replicas: Input should be greater than or equal to 1"),
        ({"tunnel": {"secretBytes": 16}}, "edge.tunnel.secretBytes: Input should be greater than or equal to 32"),
        ({"tunnel": {"cpu": "2", "cpuLimit": "1"}}, "edge.tunnel: cpu must be <= cpuLimit (got 2 > 1)"),
        (
            {"hosts": {"api": {"subdomain": "API", "service": "x", "namespace": "y"}}},
            "edge.hosts.api.subdomain: 'API' is not a name inside the zone",
        ),
        (
            {"hosts": {"api": {"subdomain": "*.api", "service": "x", "namespace": "y"}}},
            "edge.hosts.api.subdomain: '*.api': wildcards are not allowed here",
        ),
        (
            {"hosts": {"api": {"subdomain": "api", "service": "x", "namespace": "y", "path": "api"}}},
            "edge.hosts.api.path: 'api' is not an absolute URL path",
        ),
        (
            {
                "hosts": {
                    "a": {"subdomain": "api", "service": "x", "namespace": "y"},
                    "b": {"subdomain": "api", "service": "z", "namespace": "y"},
                }
            },
            "edge: hosts.b: api / is already routed by hosts.a",
        ),
        (
            {"hosts": {"f": {"subdomain": "fallback", "service": "x", "namespace": "y"}}},
            "edge: customDomains.fallbackOrigin: 'fallback' is also a platform host",
        ),
        (
            {"hosts": {"p": {"subdomain": "x.preview", "service": "x", "namespace": "y"}}},
            "edge: hosts.p.subdomain: 'x.preview' is inside the preview wildcard *.preview",
        ),
        ({"zoneSettings": {"ssl": "flexible"}}, "edge.zoneSettings.ssl: Input should be 'strict' or 'full'"),
        ({"zoneSettings": {"minTlsVersion": "1.0"}}, "edge.zoneSettings.minTlsVersion: Input should be '1.2' or '1.3'"),
        ({"customDomains": {"warnAt": 150}}, "edge.customDomains: warnAt must be <= maxHostnames (got 150 > 100)"),
        ({"customDomains": {"sslMethod": "email"}}, "edge.customDomains.sslMethod: Input should be 'http' or 'txt'"),
        (
            {"r2": {"buckets": {"b": {"name": "Bad_Name"}}}},
            "edge.r2.buckets.b.name: 'Bad_Name' is not an R2 bucket name",
        ),
        (
            {"r2": {"buckets": {"a": {"name": "same"}, "b": {"name": "same"}}}},
            "edge.r2: buckets.b.name: 'same' is already used by buckets.a",
        ),
        (
            {"r2": {"buckets": {"b": {"name": "bkt", "location": "weur", "jurisdiction": "eu"}}}},
            "edge.r2.buckets.b: location: a location hint cannot be combined with jurisdiction 'eu'",
        ),
        (
            {"r2": {"buckets": {"b": {"name": "bkt", "location": "mars"}}}},
            "edge.r2.buckets.b.location: Input should be",
        ),
        (
            {"r2": {"buckets": {"b": {"name": "bkt", "lifecycle": {"x": {"prefix": "etcd"}}}}}},
            "edge.r2.buckets.b.lifecycle.x.prefix: 'etcd' is not an object key prefix",
        ),
        (
            {"r2": {"buckets": {"b": {"name": "bkt", "lifecycle": {"x": {"abortMultipartAfterDays": None}}}}}},
            "edge.r2.buckets.b.lifecycle.x: give at least one of expireAfterDays",
        ),
        (
            {
                "r2": {
                    "buckets": {
                        "b": {
                            "name": "bkt",
                            "lifecycle": {"x": {"expireAfterDays": 30, "infrequentAccessAfterDays": 30}},
                        }
                    }
                }
            },
            "edge.r2.buckets.b.lifecycle.x: infrequentAccessAfterDays must be < expireAfterDays (got 30 >= 30)",
        ),
        (
            {"r2": {"buckets": {"b": {"name": "bkt", "lifecycle": {"x": {"prefix": "a/"}, "y": {"prefix": "a/"}}}}}},
            "edge.r2.buckets.b: lifecycle: two rules for the same prefix 'a/'",
        ),
        (
            {"r2": {"buckets": {"b": {"name": "bkt", "cors": {"x": {"origins": ["app.example.com"]}}}}}},
            "edge.r2.buckets.b.cors.x.origins[0]: 'app.example.com' is not a CORS origin",
        ),
        (
            {"r2": {"buckets": {"b": {"name": "bkt", "cors": {"x": {"origins": ["*"], "methods": ["PATCH"]}}}}}},
            "edge.r2.buckets.b.cors.x.methods[0]: Input should be",
        ),
        (
            {"r2": {"buckets": {"b": {"name": "bkt", "lock": {"x": {"retentionDays": 0}}}}}},
            "edge.r2.buckets.b.lock.x.retentionDays: Input should be greater than or equal to 1",
        ),
        (
            {"r2": {"buckets": {"b": {"name": "bkt", "tokens": {"x": {"access": "admin"}}}}}},
            "edge.r2.buckets.b.tokens.x.access: Input should be 'read' or 'write'",
        ),
        (
            {"r2": {"buckets": {"b": {"name": "bkt", "tokens": {"x": {"schedule": "daily"}}}}}},
            "edge.r2.buckets.b.tokens.x.schedule: 'daily' is not a duration",
        ),
        (
            {"r2": {"buckets": {"b": {"name": "bkt", "adopt": True, "location": "weur"}}}},
            "edge.r2.buckets.b: adopt: an adopted bucket keeps its settings",
        ),
    ],
)
def test_bad_input_is_rejected_with_the_field_path(data: dict[str, Any], expected: str) -> None:
    found = issues(data)
    assert any(i.startswith(expected) for i in found), found


def test_r2_and_zone_settings_can_be_turned_off() -> None:
    e = edge(r2=None, zoneSettings=None)
    assert e.r2 is None and e.zone_settings is None


def test_bucket_schedules_come_from_tokens() -> None:
    b = R2BucketSpec.model_validate(
        {
            "name": "bkt",
            "tokens": {
                "a": {"prefix": "a/", "schedule": "1h"},
                "b": {"access": "read", "prefix": "b/"},
                "c": {"access": "read"},
            },
        }
    )
    assert b.schedules == {"a/": "1h"}


# --- routing plan ---------------------------------------------------------------------------------------


def platform_edge() -> EdgeSpec:
    return edge(
        hosts={
            "api": {"subdomain": "api", "service": "enclii-api", "namespace": "enclii", "targetPort": 8080},
            "app": {"subdomain": "app", "service": "enclii-ui", "namespace": "enclii"},
            "app-api": {
                "subdomain": "app",
                "path": "/api/v1",
                "service": "enclii-api",
                "namespace": "enclii",
                "targetPort": 8080,
                "podLabels": {"app.kubernetes.io/name": "enclii-api"},
            },
            "docs": {"subdomain": "@", "service": "docs", "namespace": "enclii-docs"},
        }
    )


def test_plan_orders_rules_most_specific_first_and_ends_with_404() -> None:
    routes = [
        TenantRoute("shop.example.com", "/", "shop", "prod", "web", "tenants.shop.services.web.routes[0].host"),
        TenantRoute("shop.example.com", "/api", "shop", "prod", "api"),
        TenantRoute("web-pr-7.preview.example.com", "/", "shop", "preview-pr-7", "web"),
        TenantRoute("a.b.preview.example.com"),
    ]
    domains = [TenantDomain("shop.customer.com", "shop", "prod", "web"), TenantDomain("a.customer.org", "x")]
    plan = plan_edge(platform_edge(), ZONE, routes, domains)
    assert plan.ingress_config() == [
        {"hostname": "a.customer.org", "service": TRAEFIK},
        {"hostname": "api.example.com", "service": "http://enclii-api.enclii.svc.cluster.local:80"},
        {
            "hostname": "app.example.com",
            "path": "^/api/v1(/|$)",
            "service": "http://enclii-api.enclii.svc.cluster.local:80",
        },
        {"hostname": "app.example.com", "service": "http://enclii-ui.enclii.svc.cluster.local:80"},
        {"hostname": "example.com", "service": "http://docs.enclii-docs.svc.cluster.local:80"},
        {"hostname": "shop.customer.com", "service": TRAEFIK},
        {"hostname": "shop.example.com", "service": TRAEFIK},
        {"hostname": "*.preview.example.com", "service": TRAEFIK},
        {"service": CATCH_ALL},
    ]
    assert plan.dns_names == (
        "api.example.com",
        "app.example.com",
        "example.com",
        "fallback.example.com",
        "shop.example.com",
        "*.preview.example.com",
    )
    assert plan.custom_domains == ("a.customer.org", "shop.customer.com")
    assert plan.fallback_origin == "fallback.example.com"
    assert plan.preview_wildcard == "*.preview.example.com"
    assert [(o.namespace, o.port, o.pod_labels) for o in plan.origins] == [
        ("enclii", 80, ()),
        ("enclii", 8080, ()),
        ("enclii", 8080, (("app.kubernetes.io/name", "enclii-api"),)),
        ("enclii-docs", 80, ()),
        ("kube-system", 8000, (("app.kubernetes.io/name", "traefik"),)),
    ]
    assert plan.warnings == ()


def test_wildcards_nest_most_specific_first() -> None:
    plan = plan_edge(edge(previewSubdomain="pr.preview"), ZONE, [TenantRoute("x.y.example.com")])
    hosts = [r.hostname for r in plan.ingress]
    assert hosts == ["x.y.example.com", "*.pr.preview.example.com", None]


def test_plan_without_wildcard_or_custom_domains() -> None:
    plan = plan_edge(
        edge(previewWildcard=False, customDomains={"enabled": False}),
        ZONE,
        [TenantRoute("web-pr-7.preview.example.com")],
    )
    assert plan.dns_names == ("web-pr-7.preview.example.com",)
    assert plan.fallback_origin is None and plan.preview_wildcard is None
    assert plan.ingress_config() == [
        {"hostname": "web-pr-7.preview.example.com", "service": TRAEFIK},
        {"service": CATCH_ALL},
    ]


def test_ingress_namespace_follows_the_platform_ingress_spec() -> None:
    plan = plan_edge(edge(), ZONE, [TenantRoute("a.example.com")], ingress=IngressSpec(namespace="traefik"))
    assert plan.ingress[0].service == "http://traefik.traefik.svc.cluster.local:80"
    assert plan.origins[0].namespace == "traefik"


def test_plan_rejects_bad_routes_with_every_issue() -> None:
    routes = [
        TenantRoute("api.other.com", source="tenants.a.services.x.routes[0].host"),
        TenantRoute("*.example.com", source="tenants.a.services.x.routes[1].host"),
        TenantRoute("api.example.com", source="tenants.a.services.x.routes[2].host"),
        TenantRoute("fallback.example.com", source="tenants.a.services.x.routes[3].host"),
        TenantRoute("shop.example.com", "/", "a", "prod", "x", "tenants.a.services.x.routes[4].host"),
        TenantRoute("shop.example.com", "/", "b", "prod", "y", "tenants.b.services.y.routes[0].host"),
    ]
    domains = [
        TenantDomain("www.example.com", "a", "prod", "x", "tenants.a.services.x.domains[0]"),
        TenantDomain("shop.customer.com", "a", "prod", "x", "tenants.a.services.x.domains[1]"),
        TenantDomain("shop.customer.com", "b", "prod", "y", "tenants.b.services.y.domains[0]"),
    ]
    with pytest.raises(SpecError) as err:
        plan_edge(platform_edge(), ZONE, routes, domains)
    got = [(i.path, i.message.split(";")[0]) for i in err.value.issues]
    assert got == [
        ("tenants.a.services.x.routes[0].host", "'api.other.com' is not in the zone example.com"),
        ("tenants.a.services.x.routes[1].host", "'*.example.com': wildcard routes are reserved for the platform"),
        ("tenants.a.services.x.routes[2].host", "'api.example.com' is a platform host (edge.hosts.api)"),
        ("tenants.a.services.x.routes[3].host", "'fallback.example.com' is the custom-domain fallback origin"),
        (
            "tenants.b.services.y.routes[0].host",
            "shop.example.com is already routed by a/x in prod (tenants.a.services.x.routes[4].host)",
        ),
        ("tenants.a.services.x.domains[0]", "'www.example.com' is in the platform zone example.com"),
        (
            "tenants.b.services.y.domains[0]",
            "shop.customer.com is already claimed by a/x (tenants.a.services.x.domains[1])",
        ),
    ]


def test_one_host_in_several_environments_is_a_conflict() -> None:
    # on the shared Traefik, dev's Ingress for a host could answer production's traffic for it
    routes = [TenantRoute("shop.example.com", "/", "a", env, "x", f"r-{env}") for env in ("dev", "prod")]
    domains = [TenantDomain("shop.customer.com", "a", env, "x", f"d-{env}") for env in ("dev", "prod")]
    with pytest.raises(SpecError) as err:
        plan_edge(edge(), ZONE, routes, domains)
    assert [(i.path, i.message.split(" (")[0]) for i in err.value.issues] == [
        ("r-prod", "shop.example.com is already routed by a/x in dev"),
        ("d-prod", "shop.customer.com is already claimed by a/x"),
    ]


def test_other_paths_of_another_tenants_host_are_a_conflict() -> None:
    # a longer path wins on Traefik: b must not take /admin of a's host
    routes = [TenantRoute("shop.example.com", "/", "a", "prod", "x", "ra"),
              TenantRoute("shop.example.com", "/admin", "b", "prod", "y", "rb")]
    with pytest.raises(SpecError) as err:
        plan_edge(edge(), ZONE, routes)
    assert [i.path for i in err.value.issues] == ["rb"]
    assert "a host belongs to one tenant environment, all of its paths" in err.value.issues[0].message


def test_custom_domain_cap_and_warning() -> None:
    domains = [TenantDomain(f"d{i}.customer.com", "a", "prod", "x") for i in range(3)]
    with pytest.raises(SpecError) as err:
        plan_edge(edge(customDomains={"maxHostnames": 2, "warnAt": 2}), ZONE, (), domains)
    [issue] = err.value.issues
    assert issue.path == "edge.customDomains.maxHostnames"
    assert issue.message.startswith("3 custom hostnames declared, above the cap of 2")
    plan = plan_edge(edge(customDomains={"maxHostnames": 5, "warnAt": 3}), ZONE, (), domains)
    assert plan.warnings == ("3 custom hostnames declared (warning at 3, cap 5; Cloudflare for SaaS includes 100)",)
    with pytest.raises(SpecError) as err:
        plan_edge(edge(customDomains={"enabled": False}), ZONE, (), domains[:1])
    assert err.value.issues[0].path == "edge.customDomains.enabled"


def test_hundred_custom_domains_fit_the_default_cap() -> None:
    domains = [TenantDomain(f"d{i:03}.customer.com", "a", "prod", "x") for i in range(100)]
    plan = plan_edge(edge(), ZONE, (), domains)
    assert len(plan.custom_domains) == 100 and plan.warnings
    with pytest.raises(SpecError):
        plan_edge(edge(), ZONE, (), [*domains, TenantDomain("one-more.customer.com", "a", "prod", "x")])


def test_tenant_edge_collects_routes_and_domains_with_field_paths() -> None:
    img = "ghcr.io/acme/web" + DIGEST
    project = ProjectSpec.model_validate(
        {
            "environments": {"prod": {}, "dev": {"overrides": {"web": {"domains": []}}}},
            "services": {
                "web": {
                    "image": img,
                    "routes": [
                        {"host": "shop.example.com", "environments": ["prod"]},
                        {"host": "shop.example.com", "path": "/a", "environments": ["prod"]},
                        {"host": "dev.shop.example.com", "environments": ["dev"]},
                    ],
                    "domains": ["shop.customer.com"],
                },
                "worker": {"type": "worker", "image": img},
            },
        }
    )
    te = tenant_edge({"shop": project})
    assert [(r.host, r.path, r.environment, r.source) for r in te.routes] == [
        ("dev.shop.example.com", "/", "dev", "tenants.shop.services.web.routes[2].host"),
        ("shop.example.com", "/", "prod", "tenants.shop.services.web.routes[0].host"),
        ("shop.example.com", "/a", "prod", "tenants.shop.services.web.routes[1].host"),
    ]
    assert [(d.hostname, d.owner, d.source) for d in te.domains] == [
        ("shop.customer.com", "shop/web", "tenants.shop.services.web.domains[0]"),
    ]


def test_helpers() -> None:
    assert fqdn("@", ZONE) == ZONE and fqdn("app.eu", ZONE) == "app.eu.example.com"
    assert path_regex("/") is None
    assert path_regex("/api") == "^/api(/|$)"
    assert path_regex("/v1.2/") == r"^/v1\.2/"
    assert record_key("example.com", ZONE) == "apex"
    assert record_key("*.preview.example.com", ZONE) == "wildcard.preview"
    assert record_key("api.example.com", ZONE) == "api"
    assert as_routes([("a.example.com", "/x")]) == (TenantRoute("a.example.com", "/x"),)

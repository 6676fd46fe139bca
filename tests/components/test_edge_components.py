"""CloudflareTunnel, DnsRecords, CustomDomains and R2Storage under the recording mocks: what is declared, exactly."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from enclii_iac import testing
from enclii_iac.cloudflare import (
    CloudflareTunnel,
    CustomDomains,
    DnsRecords,
    R2Storage,
    S3Credentials,
    TenantDomain,
    TenantRoute,
    cf,
    mocks,
    tenant_edge,
)
from enclii_iac.errors import SpecError
from enclii_iac.models.edge import CLOUDFLARED_IMAGE, EdgeSpec
from enclii_iac.models.tenant import ProjectSpec
from enclii_iac.policy.edge import tunnel_only
from enclii_iac.synth import manifest_for_output
from enclii_iac.testing import Recorder, ResourceRecord, assert_golden, reveal
from tests.conftest import DIGEST, GOLDEN, checkov_failures, kubernetes_validate

ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE_ID = "fedcba9876543210fedcba9876543210"
ZONE = "example.com"
TRAEFIK = "http://traefik.kube-system.svc.cluster.local:80"
TUNNEL_ID = "edge-tunnel-tunnel-id"
CNAME_TARGET = f"{TUNNEL_ID}.cfargotunnel.com"

T_TUNNEL = "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared"
T_CONFIG = "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"
T_DNS = "cloudflare:index/dnsRecord:DnsRecord"
T_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
T_FALLBACK = "cloudflare:index/customHostnameFallbackOrigin:CustomHostnameFallbackOrigin"
T_HOSTNAME = "cloudflare:index/customHostname:CustomHostname"
T_BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
T_LIFECYCLE = "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle"
T_CORS = "cloudflare:index/r2BucketCors:R2BucketCors"
T_LOCK = "cloudflare:index/r2BucketLock:R2BucketLock"
T_TOKEN = "cloudflare:index/accountToken:AccountToken"
T_RANDOM = "random:index/randomBytes:RandomBytes"

EDGE = EdgeSpec.model_validate(
    {
        "accountId": ACCOUNT,
        "zoneId": ZONE_ID,
        "tunnel": {"name": "enclii-production", "metricsNamespaces": ["monitoring"]},
        "hosts": {
            "api": {
                "subdomain": "api",
                "service": "enclii-api",
                "namespace": "enclii",
                "targetPort": 8080,
                "podLabels": {"app.kubernetes.io/name": "enclii-api"},
            },
            "app": {"subdomain": "app", "service": "enclii-ui", "namespace": "enclii", "targetPort": 8080},
            "app-api": {
                "subdomain": "app",
                "path": "/api",
                "service": "enclii-api",
                "namespace": "enclii",
                "targetPort": 8080,
                "podLabels": {"app.kubernetes.io/name": "enclii-api"},
            },
        },
        "r2": {
            "buckets": {
                "etcd": {
                    "name": "enclii-etcd",
                    "lifecycle": {"etcd": {"prefix": "etcd/", "expireAfterDays": 30, "abortMultipartAfterDays": 1}},
                    "lock": {"etcd": {"prefix": "etcd/", "retentionDays": 3}},
                    "tokens": {"etcd": {"prefix": "etcd/", "schedule": "12h"}},
                },
                "backups": {
                    "name": "enclii-backups",
                    "lifecycle": {
                        "postgres": {"prefix": "postgres/", "expireAfterDays": 60, "infrequentAccessAfterDays": 30},
                    },
                    "lock": {"postgres": {"prefix": "postgres/", "retentionDays": 7}},
                    "tokens": {"postgres": {"prefix": "postgres/", "schedule": "24h"}},
                },
                "state": {
                    "name": "enclii-pulumi-state",
                    "adopt": True,
                    "lifecycle": {"multipart": {"abortMultipartAfterDays": 1}},
                    "tokens": {"pulumi": {"access": "write"}, "audit": {"access": "read"}},
                },
                "artifacts": {
                    "name": "enclii-artifacts",
                    "stateful": False,
                    "jurisdiction": "eu",
                    "lifecycle": {"expire": {"expireAfterDays": 90}},
                    "cors": {
                        "ui": {
                            "origins": ["https://app.example.com"],
                            "methods": ["GET", "HEAD"],
                            "exposeHeaders": ["ETag"],
                            "maxAgeSeconds": 600,
                        }
                    },
                },
            }
        },
    }
)

SHOP = ProjectSpec.model_validate(
    {
        "environments": {"prod": {}},
        "services": {
            "web": {
                "image": "ghcr.io/acme/web" + DIGEST,
                "routes": [{"host": "shop.example.com"}],
                "domains": ["shop.customer.com", "www.shop.customer.com"],
            },
            "api": {"image": "ghcr.io/acme/api" + DIGEST, "routes": [{"host": "api.shop.example.com", "path": "/v1"}]},
        },
    }
)
PREVIEW_ROUTE = TenantRoute("web-pr-7.preview.example.com", "/", "shop", "preview-pr-7", "web")


@pytest.fixture(autouse=True)
def cloudflare_mocks() -> Iterator[None]:
    saved = (dict(testing.CALL_RESULTS), dict(testing.COMPUTED_OUTPUTS))
    mocks.install()
    yield
    testing.CALL_RESULTS.clear()
    testing.CALL_RESULTS.update(saved[0])
    testing.COMPUTED_OUTPUTS.clear()
    testing.COMPUTED_OUTPUTS.update(saved[1])


def providers() -> tuple[cf.Provider, k8s.Provider]:
    return (
        cf.Provider("cloudflare", api_token=pulumi.Output.secret("cf-token")),
        k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("apiVersion: v1")),
    )


def edge_program(
    spec: EdgeSpec = EDGE,
    *,
    protect: bool = True,
    routes: list[TenantRoute] | None = None,
    domains: list[TenantDomain] | None = None,
    out: dict[str, Any] | None = None,
) -> Callable[[], None]:
    te = tenant_edge({"shop": SHOP})
    routes = [*te.routes, PREVIEW_ROUTE] if routes is None else routes
    domains = list(te.domains) if domains is None else domains

    def program() -> None:
        cfp, kp = providers()
        tunnel = CloudflareTunnel(
            "edge-tunnel",
            spec,
            domain=ZONE,
            provider=cfp,
            k8s_provider=kp,
            routes=routes,
            domains=domains,
            protect=protect,
        )
        dns = DnsRecords("edge-dns", spec, tunnel=tunnel, provider=cfp, protect=protect)
        saas = CustomDomains("edge-domains", spec, tunnel=tunnel, dns=dns, provider=cfp, protect=protect)
        r2 = R2Storage("edge-r2", spec, provider=cfp, protect=protect)
        etcd = r2.credentials_for("etcd", "etcd")
        pulumi.export("tunnelToken", tunnel.token)
        pulumi.export("cnameTarget", tunnel.cname_target)
        pulumi.export("verification", saas.verification_records)
        pulumi.export("etcdAccessKeyId", etcd.access_key_id)
        pulumi.export("etcdSecretAccessKey", etcd.secret_access_key)
        pulumi.export("s3Credentials", r2.s3_credentials)
        if out is not None:
            out.update(tunnel=tunnel, dns=dns, saas=saas, r2=r2)

    return program


def run(program: Callable[[], None], **kwargs: Any) -> Recorder:
    rec = Recorder(project="enclii-production", stack="production", **kwargs)
    return rec.run(program)


@pytest.fixture(scope="module")
def rec() -> Recorder:
    saved = (dict(testing.CALL_RESULTS), dict(testing.COMPUTED_OUTPUTS))
    mocks.install()
    try:
        return run(edge_program())
    finally:
        testing.CALL_RESULTS.clear()
        testing.CALL_RESULTS.update(saved[0])
        testing.COMPUTED_OUTPUTS.clear()
        testing.COMPUTED_OUTPUTS.update(saved[1])


def component(rec: Recorder, name: str) -> ResourceRecord:
    [found] = [r for r in rec if r.name == name and r.type.startswith("enclii:index:")]
    return found


def children(rec: Recorder, name: str) -> list[ResourceRecord]:
    return rec.children_of(component(rec, name))


# --- tunnel ---------------------------------------------------------------------------------------------


def test_components_use_the_v6_types_and_tokens(rec: Recorder) -> None:
    assert {r.type for r in rec if r.type.startswith("enclii:")} == {
        "enclii:index:CloudflareTunnel",
        "enclii:index:DnsRecords",
        "enclii:index:CustomDomains",
        "enclii:index:R2Storage",
    }
    assert rec.count(T_TUNNEL) == 1 and rec.count(T_CONFIG) == 1
    assert rec.count("cloudflare:index/tunnel:Tunnel") == 0
    assert rec.count("cloudflare:index/record:Record") == 0
    assert rec.count("cloudflare:index/zoneSettingsOverride:ZoneSettingsOverride") == 0


def test_tunnel_is_remotely_managed_with_a_random_secret(rec: Recorder) -> None:
    tunnel = rec.one(T_TUNNEL, "edge-tunnel-tunnel")
    secret = rec.one(T_RANDOM, "edge-tunnel-secret")
    assert secret.inputs == {"length": 32}
    assert tunnel.plain_inputs["accountId"] == ACCOUNT
    assert tunnel.plain_inputs["name"] == "enclii-production"
    assert tunnel.plain_inputs["configSrc"] == "cloudflare"
    assert tunnel.secret_inputs == ["tunnelSecret"]
    assert reveal(tunnel.inputs["tunnelSecret"]) == reveal(secret.outputs["base64"])
    assert testing.is_secret_value(secret.outputs["base64"])
    assert "tunnelSecret" in tunnel.additional_secret_outputs
    assert tunnel.protect and secret.protect
    assert tunnel.provider_name == "cloudflare"


def test_ingress_rules_are_most_specific_first_and_end_with_404(rec: Recorder) -> None:
    config = rec.one(T_CONFIG, "edge-tunnel-config")
    assert config.inputs["accountId"] == ACCOUNT
    assert config.inputs["tunnelId"] == TUNNEL_ID
    assert config.inputs["source"] == "cloudflare"
    assert config.inputs["config"]["ingresses"] == [
        {"hostname": "api.example.com", "service": "http://enclii-api.enclii.svc.cluster.local:80"},
        {"hostname": "api.shop.example.com", "service": TRAEFIK},
        {
            "hostname": "app.example.com",
            "path": "^/api(/|$)",
            "service": "http://enclii-api.enclii.svc.cluster.local:80",
        },
        {"hostname": "app.example.com", "service": "http://enclii-ui.enclii.svc.cluster.local:80"},
        {"hostname": "shop.customer.com", "service": TRAEFIK},
        {"hostname": "shop.example.com", "service": TRAEFIK},
        {"hostname": "www.shop.customer.com", "service": TRAEFIK},
        {"hostname": "*.preview.example.com", "service": TRAEFIK},
        {"service": "http_status:404"},
    ]
    assert rec.parent_of(config) == component(rec, "edge-tunnel")
    assert_golden(
        GOLDEN / "edge" / "tunnel-ingress.yaml",
        yaml.safe_dump(config.inputs["config"], sort_keys=True, default_flow_style=False),
    )


def test_token_comes_from_the_data_source_and_stays_secret(rec: Recorder) -> None:
    token = "mock-tunnel-token-" + hashlib.sha256(f"tunnel:{TUNNEL_ID}".encode()).hexdigest()[:32]
    assert rec.stack_outputs["tunnelToken"] == {testing.SECRET_SIG_KEY: testing.SECRET_SIG, "value": token}
    secret = rec.one("kubernetes:core/v1:Secret", "edge-tunnel-token")
    assert secret.inputs["metadata"]["name"] == "cloudflared-token"
    assert secret.inputs["metadata"]["namespace"] == "cloudflared"
    assert secret.inputs["type"] == "Opaque"
    assert secret.secret_inputs == ["stringData"]
    assert secret.plain_inputs["stringData"] == {"token": token}
    assert {"data", "stringData"} <= set(secret.additional_secret_outputs)
    assert rec.stack_outputs["cnameTarget"] == CNAME_TARGET


def test_connector_deployment_is_pinned_hardened_and_ready_checked(rec: Recorder) -> None:
    dep = rec.one("kubernetes:apps/v1:Deployment", "edge-tunnel-connector").plain_inputs
    assert dep["metadata"]["namespace"] == "cloudflared"
    spec = dep["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    template = spec["template"]
    assert template["metadata"]["annotations"] == {"enclii.dev/tunnel-id": TUNNEL_ID}
    pod = template["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["volumes"] == [
        {
            "name": "token",
            "secret": {
                "secretName": "cloudflared-token",
                "items": [{"key": "token", "path": "token"}],
                "defaultMode": 0o440,
            },
        }
    ]
    [c] = pod["containers"]
    assert c["image"] == CLOUDFLARED_IMAGE and "@sha256:" in c["image"]
    assert c["args"] == [
        "tunnel",
        "--no-autoupdate",
        "--loglevel",
        "info",
        "--protocol",
        "auto",
        "--metrics",
        "0.0.0.0:2000",
        "run",
        "--token-file",
        "/etc/cloudflared/token/token",
    ]
    assert "env" not in c  # the token is a file, never an environment variable
    assert c["ports"] == [{"name": "metrics", "containerPort": 2000, "protocol": "TCP"}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "metrics"}
    # liveness is the lighter check: an outage of Cloudflare's edge (/ready) restarts no connector
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthcheck", "port": "metrics"}
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert c["resources"]["limits"]["memory"] == "256Mi"
    pdb = rec.one("kubernetes:policy/v1:PodDisruptionBudget", "edge-tunnel-pdb").plain_inputs
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": spec["selector"]["matchLabels"]},
                           "unhealthyPodEvictionPolicy": "AlwaysAllow"}
    svc = rec.one("kubernetes:core/v1:Service", "edge-tunnel-metrics").plain_inputs
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 2000, "targetPort": "metrics", "protocol": "TCP"}]
    ns = rec.one("kubernetes:core/v1:Namespace", "edge-tunnel-ns").plain_inputs
    assert ns["metadata"]["name"] == "cloudflared"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_network_policy_lets_cloudflared_reach_only_routed_services(rec: Recorder) -> None:
    pols = {
        r.name.removeprefix("edge-tunnel-netpol-"): r.plain_inputs["spec"]
        for r in rec.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    }
    assert sorted(pols) == ["allow-cloudflare", "allow-dns", "allow-metrics", "allow-origins", "default-deny"]
    assert pols["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert pols["allow-origins"]["egress"] == [
        {
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "enclii"}}}],
            "ports": [{"protocol": "TCP", "port": 8080}],
        },
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "enclii"}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "enclii-api"}},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 8080}],
        },
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 8000}],
        },
    ]
    [cloudflare] = pols["allow-cloudflare"]["egress"]
    assert cloudflare["ports"] == [
        {"protocol": "TCP", "port": 7844},
        {"protocol": "UDP", "port": 7844},
        {"protocol": "TCP", "port": 443},
    ]
    assert cloudflare["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert "10.0.0.0/8" in cloudflare["to"][0]["ipBlock"]["except"]
    assert pols["allow-dns"]["egress"][0]["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert pols["allow-metrics"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 2000}]


def test_kubernetes_children_use_the_explicit_provider_and_are_parented(rec: Recorder) -> None:
    tunnel = component(rec, "edge-tunnel")
    kube = [r for r in rec if r.type.startswith("kubernetes:") and r.custom]
    assert len(kube) == 11  # namespace, secret, service account, deployment, pdb, service, 5 network policies
    for r in kube:
        assert r.provider_name == "k8s", r.name
        assert rec.parent_of(r) == tunnel, r.name
    for r in children(rec, "edge-tunnel"):
        if r.type.startswith("cloudflare:"):
            assert r.provider_name == "cloudflare", r.name


def cloudflared_manifests(rec: Recorder) -> list[dict[str, Any]]:
    """The connector's Kubernetes objects as ``enclii-iac synth`` writes them (secrets redacted)."""
    tunnel = component(rec, "edge-tunnel")
    objs = [
        manifest_for_output(r.inputs) for r in rec if r.type.startswith("kubernetes:") and rec.parent_of(r) == tunnel
    ]
    return sorted(objs, key=lambda o: (o["kind"], o["metadata"]["name"]))


def test_cloudflared_manifests_golden_and_schema_valid(rec: Recorder) -> None:
    objs = cloudflared_manifests(rec)
    assert kubernetes_validate(objs) == []
    assert_golden(GOLDEN / "edge" / "cloudflared.yaml", yaml.safe_dump_all(objs, sort_keys=False))


@pytest.mark.slow
def test_cloudflared_manifests_pass_checkov(rec: Recorder, tmp_path: Path) -> None:
    (tmp_path / "cloudflared.yaml").write_text(yaml.safe_dump_all(cloudflared_manifests(rec), sort_keys=False))
    failed = checkov_failures(tmp_path, skip=[])
    assert [(f["check_id"], f["resource"]) for f in failed] == []


# --- DNS and zone settings -------------------------------------------------------------------------------


def test_every_routed_zone_name_is_a_proxied_cname_to_the_tunnel(rec: Recorder) -> None:
    records = {r.inputs["name"]: r for r in rec.of_type(T_DNS)}
    assert sorted(records) == sorted(
        [
            "api.example.com",
            "api.shop.example.com",
            "app.example.com",
            "fallback.example.com",
            "shop.example.com",
            "*.preview.example.com",
        ]
    )
    assert "web-pr-7.preview.example.com" not in records  # served by the wildcard
    for name, r in records.items():
        assert r.inputs == {
            "zoneId": ZONE_ID,
            "name": name,
            "type": "CNAME",
            "content": CNAME_TARGET,
            "proxied": True,
            "ttl": 1,
            "comment": "enclii-iac: routed through the Cloudflare Tunnel",
        }
        assert r.provider_name == "cloudflare"
        assert rec.parent_of(r) == component(rec, "edge-dns")
    assert records["*.preview.example.com"].name == "edge-dns-wildcard.preview"


def test_zone_settings_are_one_resource_each(rec: Recorder) -> None:
    settings = {r.name: r.inputs for r in rec.of_type(T_SETTING)}
    assert settings == {
        "edge-dns-ssl": {"zoneId": ZONE_ID, "settingId": "ssl", "value": "strict"},
        "edge-dns-min-tls-version": {"zoneId": ZONE_ID, "settingId": "min_tls_version", "value": "1.2"},
        "edge-dns-always-use-https": {"zoneId": ZONE_ID, "settingId": "always_use_https", "value": "on"},
    }


def test_zone_settings_can_be_left_alone() -> None:
    spec = EDGE.model_copy(update={"zone_settings": None})
    rec = run(edge_program(spec))
    assert rec.count(T_SETTING) == 0 and rec.count(T_DNS) == 6


# --- custom domains ---------------------------------------------------------------------------------------


def test_custom_domains_declare_fallback_origin_and_one_hostname_each(rec: Recorder) -> None:
    fallback = rec.one(T_FALLBACK, "edge-domains-fallback")
    assert fallback.inputs == {"zoneId": ZONE_ID, "origin": "fallback.example.com"}
    fallback_record = next(r for r in rec.of_type(T_DNS) if r.inputs["name"] == "fallback.example.com")
    assert fallback_record.urn in fallback.dependencies
    hostnames = {r.inputs["hostname"]: r for r in rec.of_type(T_HOSTNAME)}
    assert sorted(hostnames) == ["shop.customer.com", "www.shop.customer.com"]
    for host, r in hostnames.items():
        assert r.name == f"edge-domains-{host}"
        assert r.inputs == {
            "zoneId": ZONE_ID,
            "hostname": host,
            "ssl": {"method": "http", "type": "dv", "settings": {"minTlsVersion": "1.2"}},
        }
        assert fallback.urn in r.dependencies
        assert r.provider_name == "cloudflare" and rec.parent_of(r) == component(rec, "edge-domains")


def test_verification_records_tell_each_tenant_what_to_create(rec: Recorder) -> None:
    out = rec.stack_outputs["verification"]
    shop = [r for r in out if r["hostname"] == "shop.customer.com"]
    assert shop == [
        {
            "hostname": "shop.customer.com",
            "type": "CNAME",
            "name": "shop.customer.com",
            "content": "fallback.example.com",
            "purpose": "route the domain to the platform (and validate its certificate over HTTP)",
        },
        {
            "hostname": "shop.customer.com",
            "type": "TXT",
            "name": "_cf-custom-hostname.shop.customer.com",
            "content": shop[1]["content"],
            "purpose": "prove ownership of the domain",
        },
    ]
    assert shop[1]["content"].startswith("mock-")
    assert len(out) == 4


def test_custom_domain_count_is_capped_before_anything_is_declared() -> None:
    spec = EDGE.model_copy(
        update={"custom_domains": EDGE.custom_domains.model_copy(update={"max_hostnames": 1, "warn_at": 1})}
    )
    rec = Recorder()
    with pytest.raises(SpecError) as err:
        rec.run(edge_program(spec))
    assert [i.path for i in err.value.issues] == ["edge.customDomains.maxHostnames"]
    assert "2 custom hostnames declared, above the cap of 1" in str(err.value)
    assert [r.type for r in rec.records if not r.type.startswith("pulumi:providers:")] == []


def test_custom_domain_count_near_the_cap_is_a_pulumi_warning(caplog: pytest.LogCaptureFixture) -> None:
    spec = EDGE.model_copy(update={"custom_domains": EDGE.custom_domains.model_copy(update={"warn_at": 2})})
    out: dict[str, Any] = {}
    rec = Recorder()
    rec.logger = logging.getLogger("enclii-edge-test")
    with caplog.at_level(logging.WARNING, logger="enclii-edge-test"):
        rec.run(edge_program(spec, out=out))
    message = "2 custom hostnames declared (warning at 2, cap 100; Cloudflare for SaaS includes 100)"
    assert out["saas"].warnings == [message]
    assert any(message in r.getMessage() for r in caplog.records)
    assert rec.count(T_HOSTNAME) == 2


def test_custom_domains_refuse_to_run_when_disabled() -> None:
    spec = EDGE.model_copy(update={"custom_domains": EDGE.custom_domains.model_copy(update={"enabled": False})})
    with pytest.raises(SpecError) as err:
        Recorder().run(edge_program(spec, domains=[]))
    assert err.value.issues[0].path == "edge.customDomains.enabled"


# --- R2 ---------------------------------------------------------------------------------------------------


def test_buckets_are_declared_with_jurisdiction_and_adoption(rec: Recorder) -> None:
    buckets = {r.name: r for r in rec.of_type(T_BUCKET)}
    assert {n: b.inputs for n, b in buckets.items()} == {
        "edge-r2-artifacts": {
            "accountId": ACCOUNT,
            "name": "enclii-artifacts",
            "jurisdiction": "eu",
            "storageClass": "Standard",
        },
        "edge-r2-backups": {
            "accountId": ACCOUNT,
            "name": "enclii-backups",
            "jurisdiction": "default",
            "storageClass": "Standard",
        },
        "edge-r2-etcd": {
            "accountId": ACCOUNT,
            "name": "enclii-etcd",
            "jurisdiction": "default",
            "storageClass": "Standard",
        },
        "edge-r2-state": {
            "accountId": ACCOUNT,
            "name": "enclii-pulumi-state",
            "jurisdiction": "default",
            "storageClass": "Standard",
        },
    }
    assert {r.name: r.import_id for r in rec if r.import_id} == {
        "edge-r2-state": f"{ACCOUNT}/enclii-pulumi-state/default"
    }
    for b in buckets.values():
        assert b.provider_name == "cloudflare" and rec.parent_of(b) == component(rec, "edge-r2")


def test_state_and_backup_buckets_are_protected_in_production(rec: Recorder) -> None:
    protected = {r.name for r in rec if r.protect}
    assert protected == {
        "edge-r2-backups",
        "edge-r2-etcd",
        "edge-r2-state",
        "edge-r2-backups-lock",
        "edge-r2-etcd-lock",
        # what deletes data or takes a hostname offline when it goes: lifecycles, tokens, the tunnel's
        # configuration, DNS records, custom hostnames and their fallback origin
        "edge-r2-backups-lifecycle",
        "edge-r2-etcd-lifecycle",
        "edge-r2-state-lifecycle",
        "edge-r2-backups-token-postgres",
        "edge-r2-etcd-token-etcd",
        "edge-r2-state-token-audit",
        "edge-r2-state-token-pulumi",
        "edge-tunnel-tunnel",
        "edge-tunnel-secret",
        "edge-tunnel-config",
        *(r.name for r in rec.of_type(T_DNS)),
        *(r.name for r in rec.of_type(T_HOSTNAME)),
        "edge-domains-fallback",
    }
    assert rec.of_type(T_DNS) and rec.of_type(T_HOSTNAME)
    assert not rec.one(T_LIFECYCLE, "edge-r2-artifacts-lifecycle").protect  # follows its unprotected bucket
    for name in ("edge-r2-backups", "edge-r2-etcd", "edge-r2-state"):
        assert rec.one(T_BUCKET, name).retain_on_delete


def test_nothing_is_protected_in_preview() -> None:
    rec = run(edge_program(protect=False))
    assert [r.name for r in rec if r.protect or r.retain_on_delete] == []


def test_lifecycle_cors_and_lock_rules(rec: Recorder) -> None:
    day = 86400
    backups = rec.one(T_LIFECYCLE, "edge-r2-backups-lifecycle").inputs
    assert backups["bucketName"] == "enclii-backups" and backups["jurisdiction"] == "default"
    assert rec.one(T_LIFECYCLE, "edge-r2-etcd-lifecycle").inputs["rules"] == [
        {
            "id": "etcd",
            "enabled": True,
            "conditions": {"prefix": "etcd/"},
            "deleteObjectsTransition": {"condition": {"type": "Age", "maxAge": 30 * day}},
            "abortMultipartUploadsTransition": {"condition": {"type": "Age", "maxAge": 1 * day}},
        },
    ]
    assert backups["rules"] == [
        {
            "id": "postgres",
            "enabled": True,
            "conditions": {"prefix": "postgres/"},
            "deleteObjectsTransition": {"condition": {"type": "Age", "maxAge": 60 * day}},
            "abortMultipartUploadsTransition": {"condition": {"type": "Age", "maxAge": 7 * day}},
            "storageClassTransitions": [
                {"condition": {"type": "Age", "maxAge": 30 * day}, "storageClass": "InfrequentAccess"}
            ],
        },
    ]
    assert rec.count(T_LIFECYCLE) == 4
    cors = rec.one(T_CORS, "edge-r2-artifacts-cors").inputs
    assert cors["jurisdiction"] == "eu"
    assert cors["rules"] == [
        {
            "id": "ui",
            "allowed": {"origins": ["https://app.example.com"], "methods": ["GET", "HEAD"]},
            "exposeHeaders": ["ETag"],
            "maxAgeSeconds": 600,
        }
    ]
    assert rec.count(T_CORS) == 1
    lock = rec.one(T_LOCK, "edge-r2-backups-lock")
    assert lock.inputs["rules"] == [
        {
            "id": "postgres",
            "enabled": True,
            "prefix": "postgres/",
            "condition": {"type": "Age", "maxAgeSeconds": 7 * day},
        }
    ]
    assert lock.protect and rec.count(T_LOCK) == 2
    assert rec.one(T_LOCK, "edge-r2-etcd-lock").inputs["rules"][0]["prefix"] == "etcd/"


def test_tokens_are_scoped_to_one_bucket_with_resolved_permission_groups(rec: Recorder) -> None:
    read = mocks.permission_group_id("Workers R2 Storage Bucket Item Read")
    write = mocks.permission_group_id("Workers R2 Storage Bucket Item Write")
    tokens = {r.name: r for r in rec.of_type(T_TOKEN)}
    assert sorted(tokens) == [
        "edge-r2-backups-token-postgres",
        "edge-r2-etcd-token-etcd",
        "edge-r2-state-token-audit",
        "edge-r2-state-token-pulumi",
    ]
    etcd = tokens["edge-r2-etcd-token-etcd"].inputs
    assert etcd == {
        "accountId": ACCOUNT,
        "name": "enclii r2 enclii-etcd etcd",
        "policies": [
            {
                "effect": "allow",
                "permissionGroups": [{"id": read}, {"id": write}],
                "resources": json.dumps(
                    {f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_enclii-etcd": "*"}, sort_keys=True
                ),
            }
        ],
    }
    audit = tokens["edge-r2-state-token-audit"].inputs["policies"][0]
    assert audit["permissionGroups"] == [{"id": read}]
    for t in tokens.values():
        assert "value" in t.additional_secret_outputs
        assert testing.is_secret_value(t.outputs["value"])
        assert t.provider_name == "cloudflare"


def test_s3_credentials_are_secret_and_derived_from_the_token(rec: Recorder) -> None:
    token = rec.one(T_TOKEN, "edge-r2-etcd-token-etcd")
    value = reveal(token.outputs["value"])
    key_id = rec.stack_outputs["etcdAccessKeyId"]
    secret = rec.stack_outputs["etcdSecretAccessKey"]
    assert testing.is_secret_value(key_id) and testing.is_secret_value(secret)
    assert reveal(key_id) == "edge-r2-etcd-token-etcd-id"
    assert reveal(secret) == hashlib.sha256(value.encode()).hexdigest()
    creds = rec.stack_outputs["s3Credentials"]
    assert testing.is_secret_value(creds)
    etcd = reveal(creds)["etcd"]["etcd"]
    assert etcd["endpoint"] == f"https://{ACCOUNT}.r2.cloudflarestorage.com"
    assert (etcd["bucket"], etcd["region"], etcd["prefix"]) == ("enclii-etcd", "auto", "etcd/")
    assert reveal(creds)["artifacts"] == {}


def test_credentials_for_names_what_exists() -> None:
    out: dict[str, Any] = {}
    run(edge_program(out=out))
    r2: R2Storage = out["r2"]
    creds = r2.credentials_for("backups", "postgres")
    assert isinstance(creds, S3Credentials)
    assert creds.endpoint_host == f"{ACCOUNT}.r2.cloudflarestorage.com" and creds.folder == "postgres"
    with pytest.raises(KeyError, match="no R2 token backups.nope is declared"):
        r2.credentials_for("backups", "nope")


def test_r2_storage_needs_buckets() -> None:
    with pytest.raises(SpecError, match="no R2 buckets"):
        Recorder().run(lambda: R2Storage("r2", EDGE.model_copy(update={"r2": None}), provider=providers()[0]))


# --- whole edge -----------------------------------------------------------------------------------------


def test_declared_edge_passes_the_tunnel_only_policy(rec: Recorder) -> None:
    assert tunnel_only(list(rec)) == []


def test_tenant_routes_outside_the_zone_fail_before_anything_is_declared() -> None:
    rec = Recorder()
    with pytest.raises(SpecError) as err:
        rec.run(edge_program(routes=[TenantRoute("shop.other.com", source="tenants.shop.services.web.routes[0].host")]))
    assert err.value.issues[0].path == "tenants.shop.services.web.routes[0].host"
    assert [r for r in rec.records if r.type.startswith(("enclii:", "cloudflare:index", "kubernetes:core"))] == []


def golden_resources(rec: Recorder) -> str:
    rows = []
    for r in sorted(rec, key=lambda r: (r.type, r.name)):
        if not r.type.startswith(("cloudflare:index", "random:")):
            continue
        parent = rec.parent_of(r)
        rows.append(
            {
                "type": r.type,
                "name": r.name,
                "parent": parent.name if parent else None,
                "provider": r.provider_name,
                "protect": r.protect,
                "inputs": manifest_for_output(r.inputs),
            }
        )
    return yaml.safe_dump(rows, sort_keys=True)


def test_golden_resources_and_tree(rec: Recorder) -> None:
    assert_golden(GOLDEN / "edge" / "cloudflare-resources.yaml", golden_resources(rec))
    assert_golden(GOLDEN / "edge" / "tree.txt", "\n".join(rec.tree()) + "\n")


def test_synthesis_is_deterministic(rec: Recorder) -> None:
    again = run(edge_program())
    assert golden_resources(again) == golden_resources(rec)
    assert again.tree() == rec.tree()

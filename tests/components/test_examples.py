"""examples/: each standalone program synthesizes, and declares what its docstring says."""

from __future__ import annotations

from pathlib import Path

import pytest

from enclii_iac.policy.run import check_records
from enclii_iac.synth import SynthResult, run_stack
from enclii_iac.testing import is_secret_value, reveal
from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"


def synth(name: str) -> SynthResult:
    return run_stack(EXAMPLES / name)


def test_every_example_is_listed_and_synthesized_here() -> None:
    dirs = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert dirs == ["platform-on-existing-cluster", "r2-only", "tenant-on-your-cluster", "tunnel-only"]
    index = (EXAMPLES / "README.md").read_text()
    assert all(f"[{d}]({d}/__main__.py)" in index for d in dirs)
    for d in dirs:
        assert {p.name for p in (EXAMPLES / d).iterdir()} >= {"Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py"}


def test_tenant_on_your_cluster() -> None:
    result = synth("tenant-on-your-cluster")
    rec = result.recorder
    assert sorted(r.inputs["metadata"]["name"] for r in rec.of_type("kubernetes:core/v1:Namespace")) == [
        "shop-dev", "shop-prod"]
    hpa = rec.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "shop-prod-api-hpa").plain_inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    ingresses = rec.of_type("kubernetes:networking.k8s.io/v1:Ingress")
    assert [i.plain_inputs["metadata"]["namespace"] for i in ingresses] == ["shop-prod"]  # route limited to prod
    env = rec.one("kubernetes:core/v1:Secret", "shop-prod-api-env")
    assert env.secret_inputs == ["stringData"]
    assert {r.provider_name for r in rec if r.type.startswith("kubernetes:")} == {"cluster"}
    assert sorted(w for w in result.warnings if w.startswith("secret ")) == [
        "secret tenant-example:databaseUrl is unset: synthesized with a placeholder; set it before `pulumi up`",
        "secret tenant-example:kubeconfig is unset: synthesized with a placeholder; set it before `pulumi up`",
    ]
    assert check_records(result.records) == []


def test_platform_on_existing_cluster() -> None:
    result = synth("platform-on-existing-cluster")
    rec = result.recorder
    assert not [r for r in rec if r.type.startswith(("hcloud:", "command:", "enclii:index:K3s", "enclii:index:Host"))]
    tunnel = rec.one("cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared", "acme-tunnel-tunnel")
    assert tunnel.provider_name == "cloudflare"  # taken from opts.providers
    assert rec.one("kubernetes:core/v1:Namespace", "acme-blog-prod-ns").provider_name == "cluster"
    config = rec.one("cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig",
                     "acme-tunnel-config").plain_inputs["config"]["ingresses"]
    assert {"hostname": "blog.example.com", "service": "http://traefik.kube-system.svc.cluster.local:80"} in config
    assert rec.stack_outputs["hostnames"] == ["blog.example.com"]
    assert check_records(result.records) == []


def test_r2_only() -> None:
    result = synth("r2-only")
    rec = result.recorder
    bucket = rec.one("cloudflare:index/r2Bucket:R2Bucket", "media-media")
    assert bucket.plain_inputs["name"] == "acme-media" and not bucket.protect
    rules = rec.one("cloudflare:index/r2BucketLifecycle:R2BucketLifecycle", "media-media-lifecycle").plain_inputs
    assert rules["rules"][0]["conditions"] == {"prefix": "tmp/"}
    assert rules["rules"][0]["deleteObjectsTransition"] == {"condition": {"maxAge": 86400, "type": "Age"}}
    cors = rec.one("cloudflare:index/r2BucketCors:R2BucketCors", "media-media-cors").plain_inputs["rules"][0]
    assert cors["allowed"]["methods"] == ["GET", "HEAD", "PUT"]
    assert rec.count("cloudflare:index/accountToken:AccountToken") == 1
    outputs = rec.stack_outputs
    assert outputs["bucket"] == "acme-media" and is_secret_value(outputs["credentials"])
    assert set(reveal(outputs["credentials"])) == {"accessKeyId", "secretAccessKey"}


def test_tunnel_only(tmp_path: Path) -> None:
    result = synth("tunnel-only")
    rec = result.recorder
    config = rec.one("cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig",
                     "edge-config").plain_inputs["config"]["ingresses"]
    assert config[:2] == [
        {"hostname": "app.example.com", "path": "^/api(/|$)",
         "service": "http://backend.web.svc.cluster.local:80"},
        {"hostname": "app.example.com", "service": "http://frontend.web.svc.cluster.local:80"},
    ] and config[-1] == {"service": "http_status:404"}
    records = {r.plain_inputs["name"] for r in rec.of_type("cloudflare:index/dnsRecord:DnsRecord")}
    assert "app.example.com" in records
    origins = rec.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "edge-netpol-allow-origins").plain_inputs
    ports = sorted(p["port"] for rule in origins["spec"]["egress"] for p in rule.get("ports", []))
    assert 3000 in ports and 8080 in ports
    assert check_records(result.records) == []


@pytest.mark.parametrize("name", ["tenant-on-your-cluster", "r2-only"])
def test_examples_synthesize_through_the_cli(name: str, tmp_path: Path) -> None:
    from enclii_iac.cli import main

    assert main(["synth", str(EXAMPLES / name), "--out", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / "tree.txt").read_text().strip()

"""enclii-iac check: the prerequisites of a real pulumi up, each problem with its fix."""

from __future__ import annotations

import base64
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest
import yaml

from enclii_iac.check import check_stack, cloudflare_permissions, ssh_key_problem
from enclii_iac.cli import main
from enclii_iac.models.loader import build_platform
from tests.conftest import DIGEST, STACKS

SECURE = {"secure": "v1:AAAAAAAAAAA=:c2VjcmV0"}


def ed25519(comment: str = "", seed: int = 7) -> str:
    """A structurally real OpenSSH ed25519 public key line (type name, 32 bytes of key data)."""
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + bytes((seed + i) % 256 for i in range(32))
    return f"ssh-ed25519 {base64.b64encode(blob).decode()}" + (f" {comment}" if comment else "")


def findings(report: dict[str, Any], status: str | None = None) -> list[tuple[str, str]]:
    return [(f["check"], f["message"]) for f in report["findings"] if status is None or f["status"] == status]


def test_ssh_key_problems_are_found_offline() -> None:
    assert ssh_key_problem(ed25519("ops@example")) is None
    assert ssh_key_problem("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderHostKeyReplaceWithKeyscanOutput") == (
        "its base64 does not decode")
    rsa_as_ed = "ssh-ed25519 " + base64.b64encode(struct.pack(">I", 7) + b"ssh-rsa" + struct.pack(">I", 1) + b"\x01"
                                                 ).decode()
    assert ssh_key_problem(rsa_as_ed) == "its key data is not a ssh-ed25519 key"
    short = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 16) + bytes(16)
    assert ssh_key_problem("ssh-ed25519 " + base64.b64encode(short).decode()) == (
        "a ssh-ed25519 key holds 32 bytes of key data")
    truncated = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + bytes(8)
    assert ssh_key_problem("ssh-ed25519 " + base64.b64encode(truncated).decode()) == "its key data is truncated"


def test_the_example_production_stack_is_not_ready_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    report = check_stack(STACKS / "production", tools=False, env={})
    assert report["ok"] is False
    fails = findings(report, "fail")
    assert ("secrets", "enclii:sshPrivateKey is not set — the deploy key pulumi-command logs in to the hosts with"
            ) in fails
    assert ("secrets", "enclii:cloudflareToken is not set — tunnel, DNS, R2 and custom hostnames") in fails
    assert ("secrets", "tenant secret DATABASE_URL of shop/api has no value") in fails
    assert ("ssh", "hosts.dedicated.ax41.hostKey is not a real host key (its base64 does not decode)") in fails
    assert ("example-values", "domain is the example domain example.com") in fails
    assert ("example-values", "edge.accountId is the example id 0123456789abcdef0123456789abcdef") in fails
    assert any(c == "example-values" and "203.0.113.10 is a documentation address" in m for c, m in fails)
    fixes = {f["message"]: f["fix"] for f in report["findings"]}
    assert fixes["tenant secret DATABASE_URL of shop/api has no value"] == (
        "pulumi config set --secret --path 'enclii:tenantSecrets[\"shop/api\"].DATABASE_URL' VALUE")
    assert fixes["enclii:sshPrivateKey is not set — the deploy key pulumi-command logs in to the hosts with"] == (
        "pulumi config set --secret enclii:sshPrivateKey < ~/.ssh/enclii_deploy")
    warn = dict(findings(report, "warn"))
    assert "Account: Cloudflare Tunnel: Edit" in warn["cloudflare-token"]
    assert ("api-access", "allowlist: 6443 open to 198.51.100.7/32; the kubeconfig points at api.enclii.example.com"
            ) in findings(report, "ok")
    assert report["problems"] == len(fails)


def ready_stack(tmp: Path, *, access: dict[str, Any] | None = None, config: dict[str, Any] | None = None) -> Path:
    spec = {
        "stage": "production", "domain": "acme-platform.net",
        "hosts": {"dedicated": {"ax41": {
            "address": "88.99.10.20", "hostKey": ed25519(), "adminSshKeys": [ed25519("deploy@acme", seed=9)],
            "sshAllowCidrs": ["81.2.69.142/32"], "kubeApiAllowCidrs": ["81.2.69.142/32"]}}},
        "cluster": {"servers": ["ax41"], "apiEndpoint": "api.acme-platform.net",
                    "apiAccess": access or {"mode": "allowlist"}},
        "edge": {"accountId": "4f1c2a0b9d8e7f6a5b4c3d2e1f0a9b8c", "zoneId": "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e",
                 "r2": None, "customDomains": {"enabled": False},
                 # no preview URLs here (the wildcard would need an advanced certificate: docs/edge-tls.md)
                 "previewWildcard": False},
        "tenants": {"shop": {"services": {"api": {
            "image": "ghcr.io/acme/api" + DIGEST, "secrets": ["DATABASE_URL"],
            "routes": [{"host": "shop.acme-platform.net"}]}}}},
    }
    doc = {"apiVersion": "enclii.dev/v1", "kind": "Platform", "metadata": {"name": "acme"}, "spec": spec}
    (tmp / "platform.yaml").write_text(yaml.safe_dump(doc))
    (tmp / "Pulumi.yaml").write_text("name: acme-production\nruntime: python\n")
    (tmp / "__main__.py").write_text(
        "from pathlib import Path\nfrom enclii_iac.platform import build_production\n"
        "from enclii_iac.stack import load_stack_settings\n"
        "build_production(load_stack_settings(Path(__file__).parent))\n")
    cfg: dict[str, Any] = {
        "enclii:sshPrivateKey": SECURE,
        "enclii:cloudflareToken": SECURE,
        "enclii:tenantSecrets": {"shop/api": {"DATABASE_URL": SECURE}},
        "enclii:cloudflareTokenPermissions": cloudflare_permissions(build_platform(spec)),
        **(config or {}),
    }
    (tmp / "Pulumi.production.yaml").write_text(yaml.safe_dump({"config": cfg}))
    return tmp


def fake_tool(bin_dir: Path, name: str, output: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / name
    exe.write_text(f"#!/bin/sh\necho '{output}'\n")
    exe.chmod(0o755)


BACKEND = {"PULUMI_BACKEND_URL": "s3://acme-pulumi-state?endpoint=https://x.r2.cloudflarestorage.com&region=auto",
           "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"}


def test_a_ready_stack_passes_every_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "stack").mkdir()
    stack = ready_stack(tmp_path / "stack")
    fake_tool(tmp_path / "bin", "pulumi", "v3.272.0")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    for k, v in BACKEND.items():
        monkeypatch.setenv(k, v)
    assert main(["check", str(stack), "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["problems"] == 0 and report["warnings"] == 0
    ok = findings(report, "ok")
    assert ("secrets", "enclii:sshPrivateKey is set (encrypted) — the deploy key pulumi-command logs in to the hosts "
                       "with") in ok
    assert ("secrets", "all 1 tenant secret(s) are set (encrypted)") in ok
    assert ("cloudflare-token", "the declared permissions cover all 3 this spec needs") in ok
    assert ("tools", f"pulumi 3.272.0 ({tmp_path / 'bin' / 'pulumi'})") in ok
    assert ("state", "backend s3://acme-pulumi-state with R2 credentials in the environment") in ok


def test_clear_text_secrets_misplaced_keys_and_missing_permissions_fail(tmp_path: Path) -> None:
    stack = ready_stack(tmp_path, config={
        "enclii:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----",
        "acme-production:hcloudToken": SECURE,
        "enclii:cloudflareTokenPermissions": ["Account: Cloudflare Tunnel: Edit"],
    })
    report = check_stack(stack, tools=False, env={})
    fails = findings(report, "fail")
    assert fails == [
        ("config", "config acme-production:hcloudToken is ignored: the stack reads enclii:hcloudToken"),
        ("secrets", "enclii:sshPrivateKey is stored in clear text in Pulumi.production.yaml"),
        ("cloudflare-token", "the token lacks: Zone: DNS: Edit; Zone: Zone Settings: Edit"),
    ]
    assert "BEGIN OPENSSH" not in json.dumps(report)  # a value in clear is named, never shown


def test_the_tunnel_mode_needs_cloudflared_and_says_how_to_connect(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    access = {"mode": "tunnel", "allowEmails": ["ops@acme-platform.net"], "serviceTokens": ["ci"]}
    (tmp_path / "s").mkdir()
    stack = ready_stack(tmp_path / "s", access=access)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    report = check_stack(stack, env={})
    fails = findings(report, "fail")
    assert any(c == "tools" and m.startswith("cloudflared is not on PATH") for c, m in fails)
    assert ("tools", "the Pulumi CLI is not on PATH (synth needs none; pulumi up does)") in fails
    info = dict(findings(report, "info"))
    assert ("cloudflared access tcp --hostname kube.acme-platform.net --url 127.0.0.1:6443" in info["api-access"])
    assert "Account: Access: Apps and Policies: Edit" in cloudflare_permissions(
        build_platform(yaml.safe_load((stack / "platform.yaml").read_text())["spec"]))
    assert ("cloudflare-token", "the declared permissions cover all 5 this spec needs") in findings(report, "ok")


def test_check_reports_a_broken_spec_as_findings_not_a_traceback(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    stack = ready_stack(tmp_path)
    doc = yaml.safe_load((stack / "platform.yaml").read_text())
    del doc["spec"]["hosts"]["dedicated"]["ax41"]["kubeApiAllowCidrs"]
    (stack / "platform.yaml").write_text(yaml.safe_dump(doc))
    assert main(["check", str(stack), "--no-tools", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  program:" in out and "no way in to the Kubernetes API" in out and "Traceback" not in out
    assert out.rstrip().endswith("not ready for pulumi up")

"""enclii-iac diff: per resource what changes, and which changes replace it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from enclii_iac.cli import main
from enclii_iac.diff import diff, markdown, replacement_reasons, text
from tests.conftest import ROOT

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"


def res(type_: str, name: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": type_, "name": name, "inputs": inputs, "custom": True, "protect": False, "aliases": [],
            "replaceOnChanges": [], "parent": None, "provider": "k8s", **extra}


def side(*resources: dict[str, Any], rendered: dict[str, str] | None = None) -> dict[str, Any]:
    return {"resources": list(resources), "rendered": rendered or {}, "summary": {}}


def deployment(selector: str = "api", image: str = "ghcr.io/acme/api:1") -> dict[str, Any]:
    return res(DEPLOYMENT, "shop-prod-api-deployment", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "shop-prod"},
        "spec": {"selector": {"matchLabels": {"app": selector}}, "replicas": 2,
                 "template": {"spec": {"containers": [{"name": "api", "image": image}]}}}})


def test_an_image_change_is_an_update() -> None:
    report = diff(side(deployment()), side(deployment(image="ghcr.io/acme/api:2")))
    assert report["replaced"] == [] and report["added"] == report["removed"] == []
    assert report["changed"] == [{
        "resource": f"{DEPLOYMENT} shop-prod-api-deployment",
        "changes": [{"path": "spec.template.spec.containers[0].image", "old": "ghcr.io/acme/api:1",
                     "new": "ghcr.io/acme/api:2"}],
        "scripts": [], "options": [], "replace": [], "runs": []}]


def test_a_selector_change_replaces_the_deployment() -> None:
    report = diff(side(deployment()), side(deployment(selector="api-v2")))
    assert report["replaced"] == [f"{DEPLOYMENT} shop-prod-api-deployment"]
    assert report["changed"][0]["replace"] == ["spec.selector"]
    assert f"+- {DEPLOYMENT} shop-prod-api-deployment (replaced: spec.selector)" in text(report)


@pytest.mark.parametrize(("type_", "path", "old", "new", "reason"), [
    (PVC, "spec.storageClassName", "local-path", "longhorn", "spec.storageClassName"),
    (PVC, "spec.resources.requests.storage", "10Gi", "5Gi", "spec.resources.requests.storage (volumes cannot shrink)"),
    ("kubernetes:batch/v1:Job", "spec.template.spec.containers[0].image", "a", "b", "spec.template"),
    ("kubernetes:core/v1:Service", "metadata.name", "a", "b", "metadata.name"),
    ("random:index/randomPassword:RandomPassword", "length", 32, 48, "length"),
    ("hcloud:index/server:Server", "location", "fsn1", "nbg1", "location"),
    ("cloudflare:index/r2Bucket:R2Bucket", "location", "weur", "enam", "location"),
    ("pulumi:providers:kubernetes", "clusterIdentifier", "a", "b", "clusterIdentifier"),
])
def test_known_immutable_fields_force_a_replacement(type_: str, path: str, old: Any, new: Any, reason: str) -> None:
    assert replacement_reasons(type_, [(path, old, new)], []) == [reason]


@pytest.mark.parametrize(("type_", "path"), [
    (PVC, "spec.resources.requests.storage"),  # growing a volume is an update
    ("kubernetes:core/v1:Service", "spec.ports[0].port"),
    ("pulumi:providers:kubernetes", "kubeconfig"),  # clusterIdentifier pins the provider
    ("hcloud:index/server:Server", "serverType"),
])
def test_mutable_fields_are_updates(type_: str, path: str) -> None:
    assert replacement_reasons(type_, [(path, "1Gi", "2Gi")], []) == []


def test_replace_on_changes_and_protection_are_reported() -> None:
    a = res("cloudflare:index/dnsRecord:DnsRecord", "api", {"name": "api", "type": "A"}, protect=True,
            replaceOnChanges=["type"])
    b = {**a, "inputs": {"name": "api", "type": "AAAA"}}
    report = diff(side(a), side(b))
    assert report["replaced"] == ["cloudflare:index/dnsRecord:DnsRecord api"]
    assert report["blocked"] == ["cloudflare:index/dnsRecord:DnsRecord api: protected; replacing it stops pulumi up "
                                 "until it is unprotected"]
    gone = diff(side(a), side())
    assert gone["removed"] == ["cloudflare:index/dnsRecord:DnsRecord api"] and gone["blocked"]


def test_an_alias_turns_remove_and_add_into_a_rename() -> None:
    old = deployment()
    new = {**deployment(), "name": "shop-prod-backend-deployment", "aliases": ["shop-prod-api-deployment"]}
    report = diff(side(old), side(new))
    assert report["renamed"] == [{"resource": f"{DEPLOYMENT} shop-prod-backend-deployment",
                                  "from": f"{DEPLOYMENT} shop-prod-api-deployment"}]
    assert report["added"] == report["removed"] == report["replaced"] == []


def test_changed_host_scripts_make_a_step_run_again() -> None:
    step = res("command:remote:Command", "enclii-hosts-ax41-harden", {"create": "sudo -n /bin/sh -s",
                                                                     "stdin": "[secret]"})
    report = diff(side(step, rendered={"enclii-hosts-ax41-harden.sh": "a"}),
                  side(step, rendered={"enclii-hosts-ax41-harden.sh": "b"}))
    assert report["changed"][0]["scripts"] == ["enclii-hosts-ax41-harden.sh"]
    # an in-place update that runs the script again, not a replacement (so a protected step takes it)
    assert report["changed"][0]["runs"] == ["its script"]
    assert report["changed"][0]["replace"] == [] and report["replaced"] == []
    assert "~ command:remote:Command enclii-hosts-ax41-harden (runs again: its script)" in text(report)
    assert "| **run again** (its script) |" in markdown(report)


def test_a_changed_connection_replaces_a_step() -> None:
    def step(host: str) -> dict[str, object]:
        return res("command:remote:Command", "enclii-hosts-ax41-harden",
                   {"create": "sudo -n /bin/sh -s", "connection": {"host": host}}, protect=True)
    report = diff(side(step("203.0.113.10")), side(step("203.0.113.11")))
    assert report["replaced"] == ["command:remote:Command enclii-hosts-ax41-harden"]
    assert report["blocked"] and "protected" in report["blocked"][0]


def test_markdown_for_a_pull_request() -> None:
    report = diff(side(deployment()), side(deployment(selector="x"), res(PVC, "data", {"spec": {}})))
    md = markdown(report)
    assert md.startswith("### enclii-iac diff\n\n**1 to add, 1 to change (1 replaced), 0 to delete, 0 renamed**")
    assert "> [!WARNING]\n> 1 resource(s) would be replaced" in md
    row = f"| `{DEPLOYMENT} shop-prod-api-deployment` | **replace** (spec.selector) | `spec.selector.matchLabels.app` |"
    assert row in md
    assert f"| `{PVC} data` | add |  |" in md


@pytest.fixture(scope="module")
def two_stacks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("diff")
    a, b = base / "a", base / "b"
    shutil.copytree(ROOT / "examples" / "tenant-on-your-cluster", a)
    shutil.copytree(ROOT / "examples" / "tenant-on-your-cluster", b)
    for d in (a, b):
        (d / "Pulumi.yaml").write_text((d / "Pulumi.yaml").read_text().replace("../../.venv", str(ROOT / ".venv")))
    program = (b / "__main__.py").read_text()
    program = program.replace("replicas=Replicas(min=2, max=6)", "replicas=Replicas(min=3, max=6)")
    program = program.replace('"worker": ServiceSpec(', '"jobs": ServiceSpec(renamed_from=["worker"], ')
    program = program.replace('"worker": {"DATABASE_URL"', '"jobs": {"DATABASE_URL"')
    (b / "__main__.py").write_text(program)
    return a, b


def test_diff_of_two_stack_directories(two_stacks: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_stacks
    code = main(["diff", str(a), str(b), "--json", "--quiet"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ok"] is True and report["replaced"] == []
    renamed = {r["resource"] for r in report["renamed"]}
    assert "enclii:index:TenantService shop-prod-jobs" in renamed  # renamedFrom: aliases keep every identity
    assert not [k for k in report["removed"] if "worker" in k]
    changed = {c["resource"]: c for c in report["changed"]}
    hpa = changed["kubernetes:autoscaling/v2:HorizontalPodAutoscaler shop-prod-api-hpa"]
    assert hpa["changes"] == [{"path": "spec.minReplicas", "old": 2, "new": 3}]
    code = main(["diff", str(a), str(b), "--format", "markdown", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "| `kubernetes:autoscaling/v2:HorizontalPodAutoscaler shop-prod-api-hpa` | update |" in out


def test_diff_of_a_missing_side_is_an_error_with_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(tmp_path), str(tmp_path)]) == 1
    assert "neither a synth output (resources.json) nor a stack directory (Pulumi.yaml)" in capsys.readouterr().err

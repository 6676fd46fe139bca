"""The preview driver's logic on an in-memory backend: TTLs, expiry, eviction, closed pull requests, lock
errors, per-PR secrets and the JSON of every command."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from enclii_iac.cli import main
from enclii_iac.preview import cli as preview_cli
from enclii_iac.preview import driver as d
from enclii_iac.render import kube as m
from tests.conftest import STACKS

PREVIEW_DIR = STACKS / "preview"
T0 = datetime.datetime(2026, 12, 1, 12, 0, 0, tzinfo=datetime.UTC)
SECRETS = {f"shop/{s}": {"DATABASE_URL": f"postgres://pr@preview-db/{s}"} for s in ("api", "worker", "migrate")}
DIGEST = "sha256:" + "a" * 64


class FakeBackend:
    """Stacks in memory; ``up`` raises PreviewLocked for stacks in ``locked``, as the stack lock does."""

    def __init__(self) -> None:
        self.stacks: dict[str, dict[str, Any]] = {}
        self.locked: set[str] = set()
        self.fail_destroy: set[str] = set()
        self.destroyed: list[str] = []
        self.clock = T0
        self.listed = 0
        self.tags_read = 0

    def add(self, pr: int, meta: dict[str, Any] | None, *, last: datetime.datetime = T0,
            in_progress: bool = False) -> None:
        self.stacks[f"pr-{pr}"] = {"tag": json.dumps(meta) if meta is not None else None, "config": {},
                                   "last": last, "in_progress": in_progress}

    def list_stacks(self) -> list[d.StackRow]:
        self.listed += 1
        return [d.StackRow(n, s["last"], s["in_progress"]) for n, s in sorted(self.stacks.items())]

    def get_tag(self, stack: str) -> str | None:
        self.tags_read += 1
        tag = self.stacks.get(stack, {}).get("tag")
        return str(tag) if tag is not None else None

    def up(self, stack: str, config: Mapping[str, tuple[str, bool]], tag: str,
           on_output: Callable[[str], None] | None) -> dict[str, int]:
        if stack in self.locked:
            raise d._locked(stack)
        created = stack not in self.stacks
        self.stacks[stack] = {"tag": tag, "config": dict(config), "last": self.clock, "in_progress": False}
        return {"create": 44} if created else {"same": 43, "update": 1}

    def destroy(self, stack: str, on_output: Callable[[str], None] | None) -> bool:
        if stack in self.fail_destroy:
            raise d.PreviewError(f"pulumi destroy of preview {stack} failed: boom")
        self.destroyed.append(stack)
        return self.stacks.pop(stack, None) is not None


def meta(pr: int, *, created: datetime.datetime = T0, hours: int = 72) -> dict[str, Any]:
    return {"pr": pr, "createdAt": d.utc_text(created), "updatedAt": d.utc_text(created),
            "expiresAt": d.utc_text(created + datetime.timedelta(hours=hours)), "ttlHours": hours,
            "images": {}, "urls": [f"https://web-shop-pr-{pr}.preview.example.com"], "monthlyCost": 1.5}


def driver(backend: FakeBackend, now: datetime.datetime = T0) -> d.PreviewDriver:
    return d.PreviewDriver(backend, PREVIEW_DIR, now=lambda: now)


# --- TTL and expiry ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "hours"), [("72h", 72), ("3d", 72), ("5", 5), (" 1h ", 1), ("30d", 720)])
def test_ttl_takes_hours_and_days(text: str, hours: int) -> None:
    assert d.parse_ttl(text) == hours


@pytest.mark.parametrize("text", ["0h", "31d", "721h", "1w", "-1", "1.5h", "72 h", "", "$(reboot)", "1h;rm -rf /"])
def test_a_bad_ttl_is_refused_with_the_fix(text: str) -> None:
    with pytest.raises(d.PreviewError, match=r"--ttl .*(72h or 3d|30 days)"):
        d.parse_ttl(text)


def test_expiry_comes_from_the_tag_and_a_missing_tag_means_expired() -> None:
    row = d.StackRow("pr-7", T0)
    info = d.preview_info(row, json.dumps(meta(7, hours=2)))
    assert info is not None and info.expires_at == T0 + datetime.timedelta(hours=2)
    assert not info.expired(T0 + datetime.timedelta(hours=1, minutes=59))
    assert info.expired(T0 + datetime.timedelta(hours=2))
    for tag in (None, "", "not json", "[1, 2]", json.dumps({"expiresAt": "tomorrow"})):
        broken = d.preview_info(row, tag)
        assert broken is not None and broken.expires_at is None and broken.expired(T0)
    assert d.preview_info(d.StackRow("staging"), None) is None
    assert d.pr_of("organization/enclii-preview/pr-12") == 12 and d.pr_of("pr-0") is None and d.pr_of("pr-1x") is None


def test_namespace_labels_carry_the_ttl_and_the_expiry() -> None:
    ns = m.namespace("shop", "preview-pr-7", ttl_hours=72, expires_at="2026-12-04T12:00:00Z")
    labels, annotations = ns["metadata"]["labels"], ns["metadata"]["annotations"]
    assert labels["enclii.dev/ttl-hours"] == "72"
    assert labels["enclii.dev/expires-at"] == str(int((T0 + datetime.timedelta(hours=72)).timestamp()))
    assert annotations["enclii.dev/expires-at"] == "2026-12-04T12:00:00Z"
    assert "enclii.dev/expires-at" not in m.namespace("shop", "prod")["metadata"]["labels"]


# --- up: images, secrets, config --------------------------------------------------------------------------


def test_up_sets_the_prs_images_ttl_and_per_pr_secrets_as_secrets() -> None:
    backend = FakeBackend()
    result = driver(backend).up(7, images=["api=" + DIGEST], ttl="2d", secrets=SECRETS)
    config = backend.stacks["pr-7"]["config"]
    assert config["enclii:prNumber"] == ("7", False)
    assert config["enclii:ttlHours"] == ("48", False)
    assert config["enclii:expiresAt"] == ("2026-12-03T12:00:00Z", False)
    assert json.loads(config["enclii:images"][0]) == {"shop/api": f"ghcr.io/acme/shop-api@{DIGEST}"}
    value, secret = config["enclii:tenantSecrets"]
    assert secret is True and json.loads(value) == SECRETS
    assert all(not s for k, (_, s) in config.items() if k != "enclii:tenantSecrets")
    assert result["created"] and result["urls"] and all("-pr-7.preview.example.com" in u for u in result["urls"])
    assert "https://app-blog-pr-7.preview.example.com" in result["urls"]  # Python tenants are previewed too
    assert result["monthlyCost"] > 0 and "driver estimate" in result["costSource"]
    assert not any(v in json.dumps(result) for s in SECRETS.values() for v in s.values())  # values never shown


def test_an_update_keeps_earlier_builds_and_the_creation_time() -> None:
    backend = FakeBackend()
    driver(backend).up(7, images=["shop/api=" + DIGEST], secrets=SECRETS)
    later = T0 + datetime.timedelta(hours=5)
    other = "sha256:" + "b" * 64
    result = driver(backend, later).up(7, images=["shop/web=" + other], secrets=SECRETS)
    assert not result["created"] and result["ttlHours"] == 72
    assert result["images"] == {"shop/api": f"ghcr.io/acme/shop-api@{DIGEST}",
                                "shop/web": f"ghcr.io/acme/shop-web@{other}"}
    tag = json.loads(backend.stacks["pr-7"]["tag"])
    assert tag["createdAt"] == d.utc_text(T0) and tag["expiresAt"] == d.utc_text(later + datetime.timedelta(hours=72))


@pytest.mark.parametrize(("image", "message"), [
    ("nope=" + DIGEST, "no project has it"),
    ("shop/nope=" + DIGEST, "no such service"),
    ("api", "not SERVICE=DIGEST"),
    ("shop/api=ghcr.io/acme/api;rm -rf /", "shop/api"),
    ("shop/api=evil.example/x@" + DIGEST, "not from an allowed registry"),
])
def test_bad_images_fail_before_the_backend_is_touched(image: str, message: str) -> None:
    backend = FakeBackend()
    with pytest.raises(d.PreviewError, match=message):
        driver(backend).up(7, images=[image], secrets=SECRETS)
    assert backend.stacks == {}


def test_missing_per_pr_secrets_are_named_never_taken_from_production() -> None:
    backend = FakeBackend()
    with pytest.raises(d.PreviewError) as exc:
        driver(backend).up(7, secrets={"shop/api": {"DATABASE_URL": "x"}, "shop/ghost": {"A": "b"}})
    text = str(exc.value)
    assert "shop/worker.DATABASE_URL: no value" in text and "shop/ghost: no such service" in text
    assert "never reads production's" in text and backend.stacks == {}


def test_database_is_refused_until_the_platform_has_postgresql() -> None:
    with pytest.raises(d.PreviewError, match="declares no PostgreSQL yet; run without --database"):
        driver(FakeBackend()).up(7, secrets=SECRETS, database=True)


def test_up_without_max_reads_one_tag_however_many_previews_exist() -> None:
    backend = FakeBackend()
    for pr in range(1, 21):
        backend.add(pr, meta(pr))
    result = driver(backend).up(7, secrets=SECRETS)
    assert not result["created"] and backend.listed == 0 and backend.tags_read == 1


# --- eviction under --max ---------------------------------------------------------------------------------


def test_max_evicts_the_oldest_idle_preview() -> None:
    backend = FakeBackend()
    for pr, hours_ago in ((1, 30), (2, 50), (3, 10)):
        backend.add(pr, {**meta(pr), "updatedAt": d.utc_text(T0 - datetime.timedelta(hours=hours_ago))})
    result = driver(backend).up(9, secrets=SECRETS, max_previews=3)
    assert result["evicted"] == [2] and sorted(backend.stacks) == ["pr-1", "pr-3", "pr-9"]
    assert driver(backend).up(9, secrets=SECRETS, max_previews=1)["evicted"] == []  # an update never evicts


def test_max_skips_previews_being_updated_and_fails_when_none_is_idle() -> None:
    infos = [d.PreviewInfo(1, "pr-1", T0, T0 - datetime.timedelta(hours=9), None, 72, in_progress=True),
             d.PreviewInfo(2, "pr-2", T0, T0 - datetime.timedelta(hours=1), None, 72)]
    assert [p.pr for p in d.evictions(infos, 5, 2)] == [2]
    with pytest.raises(d.PreviewError, match="none can be evicted"):
        d.evictions(infos, 5, 1)
    assert d.evictions(infos, 5, 3) == [] and d.evictions(infos, 5, None) == []


# --- gc ---------------------------------------------------------------------------------------------------


def test_gc_collects_expired_closed_and_unrecorded_previews_only() -> None:
    backend = FakeBackend()
    backend.add(1, meta(1, hours=1))  # expired
    backend.add(2, meta(2))  # live, PR closed
    backend.add(3, meta(3))  # live
    backend.add(4, None)  # an up that failed before the tag was written
    result = driver(backend, T0 + datetime.timedelta(hours=2)).gc(closed=[2, 99])
    assert {e["pr"]: e["reason"] for e in result["destroyed"]} == {
        1: "expired at 2026-12-01T13:00:00Z",
        2: "pull request closed",
        4: "no expiry recorded (an update failed before it started)",
    }
    assert result["ok"] and result["kept"] == [3] and sorted(backend.stacks) == ["pr-3"]


def test_gc_dry_run_destroys_nothing_and_one_failure_does_not_stop_the_rest() -> None:
    backend = FakeBackend()
    backend.add(1, meta(1, hours=1))
    backend.add(2, meta(2, hours=1))
    later = T0 + datetime.timedelta(hours=2)
    assert [e["pr"] for e in driver(backend, later).gc(dry_run=True)["destroyed"]] == [1, 2]
    assert backend.destroyed == []
    backend.fail_destroy = {"pr-1"}
    result = driver(backend, later).gc()
    assert not result["ok"] and [f["pr"] for f in result["failed"]] == [1] and backend.destroyed == ["pr-2"]


def test_closed_pull_requests_from_the_github_api() -> None:
    seen: list[tuple[str, Mapping[str, str]]] = []
    answers = {1: (200, b'{"state": "closed"}'), 2: (200, b'{"state": "open"}'), 3: (404, b"")}

    def opener(url: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
        seen.append((url, headers))
        return answers[int(url.rsplit("/", 1)[1])]

    assert d.closed_on_github("acme/shop", [3, 1, 2], "tok-123", "https://gh.local/api/v3/", opener) == {1, 3}
    assert seen[0][0] == "https://gh.local/api/v3/repos/acme/shop/pulls/1"
    assert seen[0][1]["Authorization"] == "Bearer tok-123"

    def denied(url: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
        return 403, b""

    with pytest.raises(d.PreviewError, match="answered 403.*GITHUB_TOKEN may read") as exc:
        d.closed_on_github("acme/shop", [1], "tok-123", opener=denied)
    assert "tok-123" not in str(exc.value)
    for repo in ("acme", "acme/shop/x", "../../etc", "acme/shop?x=1"):
        with pytest.raises(d.PreviewError, match="is not owner/name"):
            d.closed_on_github(repo, [1], "tok", opener=denied)
    with pytest.raises(d.PreviewError, match="GITHUB_TOKEN"):
        d.closed_on_github("acme/shop", [1], "", opener=denied)


def test_gc_asks_github_about_the_previews_it_holds() -> None:
    backend = FakeBackend()
    backend.add(5, meta(5))
    backend.add(6, meta(6))

    def opener(url: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
        return 200, json.dumps({"state": "closed" if url.endswith("/5") else "open"}).encode()

    result = driver(backend).gc(github_repo="acme/shop", github_token="t", opener=opener)
    assert [e["pr"] for e in result["destroyed"]] == [5] and result["kept"] == [6]


# --- the stack lock ---------------------------------------------------------------------------------------


class _LockedStack:
    def __init__(self) -> None:
        self.tags: dict[str, str] = {}

    def set_tag(self, key: str, value: str) -> None:
        self.tags[key] = value

    def set_all_config(self, config: Any) -> None:
        self.config = config

    def up(self, **kwargs: Any) -> Any:
        import pulumi.automation as auto

        raise auto.ConcurrentUpdateError(auto.CommandResult(
            stdout="", stderr="error: the stack is currently locked by 1 lock(s).", code=255))

    def destroy(self, **kwargs: Any) -> Any:
        return self.up()


def test_a_locked_stack_is_a_clear_error_and_keeps_the_running_updates_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    import pulumi.automation as auto

    stack = _LockedStack()
    backend = d.AutomationBackend(PREVIEW_DIR)
    monkeypatch.setattr(auto, "create_or_select_stack", lambda **kw: stack)
    monkeypatch.setattr(auto, "select_stack", lambda **kw: stack)
    monkeypatch.setattr(d.AutomationBackend, "get_tag", lambda self, name: '{"pr": 7, "owner": "first run"}')
    with pytest.raises(d.PreviewLocked, match=r"preview pr-7 is locked by another run .*pulumi cancel --stack pr-7"):
        backend.up("pr-7", {"enclii:prNumber": ("7", False)}, '{"pr": 7, "owner": "second run"}', None)
    assert stack.tags[d.TAG] == '{"pr": 7, "owner": "first run"}'
    with pytest.raises(d.PreviewLocked):
        backend.destroy("pr-7", None)


# --- the CLI and its JSON ---------------------------------------------------------------------------------


@pytest.fixture
def fake_cli(monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    backend = FakeBackend()
    monkeypatch.setattr(preview_cli, "AutomationBackend", lambda stack_dir: backend)
    return backend


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_every_preview_command_prints_json(fake_cli: FakeBackend, capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps(SECRETS))
    base = ["--stack-dir", str(PREVIEW_DIR), "--json", "-q"]
    code, up = _json(capsys, "preview", "up", "--pr", "7", "--image", "shop/api=" + DIGEST, "--ttl", "1h",
                     "--secrets", str(secrets), *base)
    assert code == 0 and up["ok"] and up["stack"] == "pr-7" and up["ttlHours"] == 1 and up["changes"] == {"create": 44}
    fake_cli.add(8, meta(8, hours=1_000))
    code, listed = _json(capsys, "preview", "list", *base)
    assert code == 0 and [p["pr"] for p in listed["previews"]] == [7, 8]
    first = listed["previews"][0]
    assert set(first) >= {"urls", "ageHours", "expiresAt", "monthlyCost", "expired"} and not first["expired"]
    code, gc = _json(capsys, "preview", "gc", "--closed", "8", *base)
    assert code == 0 and [e["pr"] for e in gc["destroyed"]] == [8]
    code, gone = _json(capsys, "preview", "destroy", "--pr", "7", *base)
    assert code == 0 and gone == {"ok": True, "pr": 7, "stack": "pr-7", "destroyed": True}
    code, again = _json(capsys, "preview", "destroy", "--pr", "7", *base)
    assert code == 0 and again["destroyed"] is False


def test_preview_errors_are_json_with_exit_1(fake_cli: FakeBackend, capsys: pytest.CaptureFixture[str]) -> None:
    fake_cli.locked = {"pr-7"}
    base = ["--stack-dir", str(PREVIEW_DIR), "--json", "-q"]
    code, out = _json(capsys, "preview", "up", "--pr", "7", "--ttl", "1w", *base)
    assert code == 1 and out["error"] == "PreviewError" and "72h or 3d" in out["message"]
    code, out = _json(capsys, "preview", "up", "--pr", "7", "--secrets", "/nonexistent/s.json", *base)
    assert code == 1 and "cannot read --secrets" in out["message"]
    with pytest.raises(SystemExit) as usage:
        main(["preview", "up", "--pr", "0", *base])
    assert usage.value.code == 2 and json.loads(capsys.readouterr().out)["error"] == "usage"
    code, out = _json(capsys, "preview", "list", "--stack-dir", "/nonexistent", "--json")
    assert code == 0 and out["previews"] == []


def test_a_lock_error_reaches_the_cli_user(fake_cli: FakeBackend, capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    secrets = tmp_path / "s.yaml"
    secrets.write_text(json.dumps(SECRETS))
    fake_cli.locked = {"pr-7"}
    code = main(["preview", "up", "--pr", "7", "--secrets", str(secrets), "--stack-dir", str(PREVIEW_DIR), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: preview pr-7 is locked by another run")


def _lock(root: Path, project: str, stack: str) -> Path:
    lock = root / ".pulumi" / "locks" / "organization" / project / stack / "0f7c2a.json"
    lock.parent.mkdir(parents=True)
    lock.write_text('{"pid": 1, "username": "ci", "hostname": "runner", "timestamp": "2026-12-01T12:00:00Z"}')
    return lock


def test_a_file_backend_lock_refuses_the_run_before_it_writes_anything(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    import pulumi.automation as auto
    import yaml

    def untouched(**kw: Any) -> Any:
        raise AssertionError("the locked stack was selected: its tag and config would be rewritten")

    monkeypatch.setattr(auto, "create_or_select_stack", untouched)
    monkeypatch.setattr(auto, "select_stack", untouched)
    project = yaml.safe_load((PREVIEW_DIR / "Pulumi.yaml").read_text())["name"]
    backend = d.AutomationBackend(PREVIEW_DIR, env={"PULUMI_BACKEND_URL": f"file://{tmp_path}"})
    assert not backend.locked("pr-7")
    _lock(tmp_path, "another-project", "pr-7")  # the same stack name in another project is not this lock
    assert not backend.locked("pr-7")
    lock = _lock(tmp_path, project, "pr-7")
    assert backend.locked("pr-7") and not backend.locked("pr-8")
    with pytest.raises(d.PreviewLocked, match=r"^preview pr-7 is locked by another run"):
        backend.up("pr-7", {"enclii:prNumber": ("7", False)}, "{}", None)
    with pytest.raises(d.PreviewLocked):
        backend.destroy("pr-7", None)
    lock.unlink()
    assert not backend.locked("pr-7")
    assert not d.AutomationBackend(PREVIEW_DIR, env={"PULUMI_BACKEND_URL": "s3://bucket"}).locked("pr-7")


def test_a_state_read_that_fails_while_another_run_takes_the_lock_is_a_lock_error(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """On a file backend the CLI can fail reading a checkpoint the lock holder is writing: that is the lock."""
    import pulumi.automation as auto
    import yaml

    project = yaml.safe_load((PREVIEW_DIR / "Pulumi.yaml").read_text())["name"]

    class TornRead(_LockedStack):
        def up(self, **kwargs: Any) -> Any:
            _lock(tmp_path, project, "pr-7")  # the other run's lock, taken while this one started
            raise auto.CommandError(auto.CommandResult(
                stdout="", stderr="error: failed to load checkpoint: unexpected end of JSON input", code=255))

    stack = TornRead()
    monkeypatch.setattr(auto, "create_or_select_stack", lambda **kw: stack)
    monkeypatch.setattr(d.AutomationBackend, "get_tag", lambda self, name: '{"pr": 7, "owner": "first run"}')
    backend = d.AutomationBackend(PREVIEW_DIR, env={"PULUMI_BACKEND_URL": f"file://{tmp_path}"})
    with pytest.raises(d.PreviewLocked):
        backend.up("pr-7", {"enclii:prNumber": ("7", False)}, '{"pr": 7, "owner": "second run"}', None)
    assert stack.tags[d.TAG] == '{"pr": 7, "owner": "first run"}'

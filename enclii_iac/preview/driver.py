"""The preview driver: create, update, list, expire and remove one stack of ``stacks/preview`` per pull request.

``PreviewDriver`` holds the logic (TTLs, expiry, eviction under ``--max``, closed pull requests, the
per-PR secrets check, the cost figure); a ``PreviewBackend`` runs the stacks. ``AutomationBackend`` is the
real one, on the Pulumi Automation API (``pulumi.automation``, which drives the ``pulumi`` CLI on PATH) in
the state backend the environment configures (``PULUMI_BACKEND_URL``, ``PULUMI_CONFIG_PASSPHRASE``).

What a preview needs later (its creation and expiry time, the images the pull request built, its URLs and
cost) is kept in one stack tag, ``enclii:preview``, in the state backend: a CI runner with a fresh checkout
(no ``Pulumi.pr-<n>.yaml``) can list and collect every preview. The tag is written before each update
runs, so an update that fails midway still leaves a preview ``gc`` collects once it expires.

Two runs for one pull request never overlap: the backend's stack lock refuses the second, which fails with
``PreviewLocked``.
"""

from __future__ import annotations

import datetime
import json
import re
import runpy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from enclii_iac.errors import EncliiIacError, SpecError, ToolError
from enclii_iac.models._base import cpu_millis, image_digest, memory_bytes
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.models.service import ServiceType
from enclii_iac.preview.spec import PREVIEW_TTL_HOURS, preview_spec

TAG = "enclii:preview"
"""The stack tag holding a preview's metadata (JSON)."""
TENANT_FILES = ("../production/tenants/*.yaml",)
"""Tenant files of the preview stacks, relative to stacks/preview: production's."""
PYTHON_TENANTS_FILE = "../production/tenants.py"
"""Python tenants of the preview stacks (``PYTHON_TENANTS``), relative to stacks/preview: production's."""
PRODUCTION_STACK = "organization/enclii-production/production"
TTL_MAX_HOURS = 24 * 30
HOST_MONTHLY_USD = 55.0
"""The AX41-NVME's monthly price; a preview costs the share of it its requests take."""
HOST_CPU_MILLIS = 12_000
"""The AX41's 6 cores / 12 threads, as Kubernetes counts them."""
HOST_MEMORY_BYTES = 64 * 2**30
COST_SOURCE = "driver estimate: share of the AX41 ($55/month, 12 CPUs, 64Gi) the preview's requests take"
_STACK = re.compile(r"^pr-([1-9][0-9]{0,8})$")
_TTL = re.compile(r"^([1-9][0-9]{0,4})([hd]?)$")
_SHA = re.compile(r"^sha256:[0-9a-f]{64}$")
_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")


class PreviewError(ToolError):
    """A preview command cannot run as asked; the message says what to do."""


class PreviewLocked(PreviewError):
    """Another run holds the stack lock of this pull request's preview."""


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def utc_text(when: datetime.datetime) -> str:
    """``2026-12-04T17:00:00Z``: the form of ``enclii:expiresAt`` and of the JSON output."""
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except (TypeError, ValueError):
        return None


def parse_ttl(text: str) -> int:
    """A preview's time to live in hours: ``72h``, ``3d`` or ``72`` (hours), from 1 hour to 30 days."""
    m = _TTL.fullmatch(text.strip())
    if not m:
        raise PreviewError(f"--ttl {text[:40]!r} is not a time to live; use hours or days, e.g. 72h or 3d")
    hours = int(m.group(1)) * (24 if m.group(2) == "d" else 1)
    if hours > TTL_MAX_HOURS:
        raise PreviewError(f"--ttl {text!r} is more than 30 days ({TTL_MAX_HOURS}h); previews are short-lived")
    return hours


def stack_name(pr: int) -> str:
    if pr < 1:
        raise PreviewError(f"--pr must be a pull request number from 1 (got {pr})")
    return f"pr-{pr}"


def pr_of(stack: str) -> int | None:
    """The pull request number of a preview stack name (``pr-12``, or ``org/project/pr-12``), else None."""
    m = _STACK.fullmatch(stack.rsplit("/", 1)[-1])
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class StackRow:
    """One stack of the preview project in the state backend."""

    name: str
    last_update: datetime.datetime | None = None
    in_progress: bool = False


@dataclass(frozen=True)
class PreviewInfo:
    """One preview, from its stack and its ``enclii:preview`` tag."""

    pr: int
    stack: str
    created_at: datetime.datetime | None
    updated_at: datetime.datetime | None
    expires_at: datetime.datetime | None
    ttl_hours: int | None
    urls: tuple[str, ...] = ()
    images: Mapping[str, str] = field(default_factory=dict)
    monthly_cost: float | None = None
    in_progress: bool = False

    def expired(self, now: datetime.datetime) -> bool:
        """Past its expiry, or never given one (an update that failed before its tag was written)."""
        return self.expires_at is None or self.expires_at <= now

    def as_dict(self, now: datetime.datetime) -> dict[str, Any]:
        age = None if self.created_at is None else round((now - self.created_at).total_seconds() / 3600, 2)
        return {
            "pr": self.pr,
            "stack": self.stack,
            "createdAt": utc_text(self.created_at) if self.created_at else None,
            "updatedAt": utc_text(self.updated_at) if self.updated_at else None,
            "expiresAt": utc_text(self.expires_at) if self.expires_at else None,
            "ageHours": age,
            "ttlHours": self.ttl_hours,
            "expired": self.expired(now),
            "urls": list(self.urls),
            "images": dict(self.images),
            "monthlyCost": self.monthly_cost,
            "inProgress": self.in_progress,
        }


def preview_info(row: StackRow, tag: str | None) -> PreviewInfo | None:
    """The preview of ``row`` (None for a stack that is not ``pr-<n>``); a missing or unreadable tag gives a
    preview without expiry, which ``gc`` collects."""
    pr = pr_of(row.name)
    if pr is None:
        return None
    try:
        meta: Any = json.loads(tag) if tag else {}
    except ValueError:
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    images = meta.get("images")
    urls = meta.get("urls")
    cost = meta.get("monthlyCost")
    ttl = meta.get("ttlHours")
    return PreviewInfo(
        pr=pr,
        stack=row.name.rsplit("/", 1)[-1],
        created_at=parse_utc(meta.get("createdAt", "")),
        updated_at=parse_utc(meta.get("updatedAt", "")) or row.last_update,
        expires_at=parse_utc(meta.get("expiresAt", "")),
        ttl_hours=ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else None,
        urls=tuple(u for u in urls if isinstance(u, str)) if isinstance(urls, list) else (),
        images={str(k): str(v) for k, v in images.items()} if isinstance(images, dict) else {},
        monthly_cost=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
        in_progress=row.in_progress,
    )


def evictions(previews: Sequence[PreviewInfo], pr: int, max_previews: int | None) -> list[PreviewInfo]:
    """The previews to destroy so that pull request ``pr`` fits under ``max_previews``: the oldest idle ones
    (least recently updated first); none when ``pr`` already has one or there is room."""
    if max_previews is None or any(p.pr == pr for p in previews):
        return []
    if max_previews < 1:
        raise PreviewError(f"--max must be at least 1 (got {max_previews})")
    need = len(previews) - max_previews + 1
    if need <= 0:
        return []
    oldest = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    idle = sorted((p for p in previews if not p.in_progress), key=lambda p: (p.updated_at or oldest, p.pr))
    if len(idle) < need:
        raise PreviewError(
            f"--max {max_previews}: {len(previews)} previews exist and {len(previews) - len(idle)} are being "
            "updated, so none can be evicted; retry when they finish or raise --max"
        )
    return idle[:need]


def gc_reasons(previews: Iterable[PreviewInfo], now: datetime.datetime, closed: Iterable[int]) -> dict[int, str]:
    """``{pr: reason}`` of every preview to collect: its pull request is closed, or it is past its TTL."""
    closed_set = set(closed)
    out: dict[int, str] = {}
    for p in previews:
        if p.pr in closed_set:
            out[p.pr] = "pull request closed"
        elif p.expired(now):
            out[p.pr] = (f"expired at {utc_text(p.expires_at)}" if p.expires_at is not None
                         else "no expiry recorded (an update failed before it started)")
    return out


Opener = Callable[[str, Mapping[str, str]], tuple[int, bytes]]
"""``(url, headers) -> (status, body)``: how ``closed_on_github`` reads the GitHub API (swappable in tests)."""


def _urlopen(url: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, headers=dict(headers))
    try:
        with urllib.request.urlopen(req, timeout=20) as res:  # the URL is built from a validated repo and a number
            return int(res.status), bytes(res.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise PreviewError(f"cannot reach the GitHub API at {url.split('/repos/')[0]}: {exc}") from None


def closed_on_github(
    repo: str, prs: Iterable[int], token: str, api: str = "https://api.github.com", opener: Opener = _urlopen
) -> set[int]:
    """The pull requests of ``prs`` that are closed (or gone) in ``repo`` (``owner/name``), read with ``token``."""
    if not _REPO.fullmatch(repo):
        raise PreviewError(f"--github-repo {repo[:60]!r} is not owner/name")
    if not token:
        raise PreviewError("--github-repo needs a token in GITHUB_TOKEN (read access to pull requests)")
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
               "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "enclii-iac"}
    closed: set[int] = set()
    for pr in sorted(set(prs)):
        status, body = opener(f"{api.rstrip('/')}/repos/{repo}/pulls/{pr}", headers)
        if status == 404:
            closed.add(pr)  # deleted or never in this repository: nothing to preview
            continue
        if status != 200:
            hint = "; check that GITHUB_TOKEN may read pull requests" if status in (401, 403) else ""
            raise PreviewError(f"the GitHub API answered {status} for {repo} pull request {pr}{hint}")
        try:
            state = json.loads(body).get("state")
        except (ValueError, AttributeError):
            raise PreviewError(f"the GitHub API sent an unreadable answer for {repo} pull request {pr}") from None
        if state == "closed":
            closed.add(pr)
    return closed


def monthly_cost(spec: PlatformSpec) -> float:
    """The preview's share of the host, from its long-running services' requests (USD per month)."""
    cpu = mem = 0
    for pspec in spec.tenants.values():
        for svc in pspec.services.values():
            if svc.type in (ServiceType.CRON, ServiceType.JOB):
                continue
            cpu += cpu_millis(svc.resources.cpu) * svc.replicas.min
            mem += memory_bytes(svc.resources.memory) * svc.replicas.min
    share = max(cpu / HOST_CPU_MILLIS, mem / HOST_MEMORY_BYTES)
    return round(HOST_MONTHLY_USD * share, 2)


def preview_urls(spec: PlatformSpec) -> list[str]:
    return sorted({f"https://{r.host}" for p in spec.tenants.values() for s in p.services.values() for r in s.routes})


def repository(image: str) -> str:
    """``ghcr.io/acme/api@sha256:...`` or ``ghcr.io/acme/api:1.2`` → ``ghcr.io/acme/api``."""
    digest = image_digest(image)
    if digest:
        return image[: -len(digest) - 1]
    last = image.rsplit("/", 1)[-1]
    return image[: -(len(last) - last.index(":"))] if ":" in last else image


def parse_images(items: Sequence[str], spec: PlatformSpec) -> dict[str, str]:
    """``SERVICE=DIGEST`` arguments as ``{"<project>/<service>": image}``.

    SERVICE is ``project/service``, or ``service`` when one project has it. DIGEST is ``sha256:<64 hex>``
    (production's repository at that digest) or a whole image reference.
    """
    services = {f"{p}/{s}": svc for p, ps in spec.tenants.items() for s, svc in ps.services.items()}
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise PreviewError(f"--image {item[:80]!r} is not SERVICE=DIGEST (e.g. shop/api=sha256:<64 hex>)")
        if "/" in name:
            key = name
        else:
            matches = sorted(k for k in services if k.split("/", 1)[1] == name)
            if len(matches) != 1:
                found = "no project has it" if not matches else f"ambiguous: {', '.join(matches)}"
                raise PreviewError(f"--image {name[:60]!r}: {found}; name it project/service")
            key = matches[0]
        if key not in services:
            raise PreviewError(f"--image {key[:60]!r}: no such service; services: {', '.join(sorted(services))}")
        if _SHA.fullmatch(value):
            value = f"{repository(services[key].image)}@{value}"
        out[key] = value
    return out


def required_secrets(spec: PlatformSpec) -> list[tuple[str, str]]:
    return sorted((f"{p}/{s}", name) for p, ps in spec.tenants.items() for s, svc in ps.services.items()
                  for name in svc.secrets)


def check_secrets(spec: PlatformSpec, secrets: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The per-PR secret values, checked against what the preview's services declare (values never shown)."""
    needed = required_secrets(spec)
    known = {k for k, _ in needed} | {f"{p}/{s}" for p, ps in spec.tenants.items() for s in ps.services}
    problems = [f"{k}: no such service" for k in sorted(set(secrets) - known)]
    out: dict[str, dict[str, str]] = {}
    for key, name in needed:
        values = secrets.get(key)
        if not isinstance(values, Mapping) or not isinstance(values.get(name), str) or not values.get(name):
            problems.append(f"{key}.{name}: no value")
        else:
            out.setdefault(key, {})[name] = str(values[name])
    for key, values in secrets.items():
        if key in known and isinstance(values, Mapping):
            problems += [f"{key}.{n}: not declared by the service" for n in sorted(values)
                         if (key, n) not in set(needed)]
    if problems:
        raise PreviewError(
            "per-PR secrets: " + "; ".join(problems) + "; give every secret the preview's services declare in "
            "--secrets FILE (JSON or YAML: {\"<project>/<service>\": {\"NAME\": \"value\"}}); a preview never "
            "reads production's"
        )
    return out


def load_secrets(path: str | None) -> dict[str, Any]:
    """The ``--secrets`` file (JSON or YAML mapping), or ``{}`` without one."""
    if path is None:
        return {}
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PreviewError(f"cannot read --secrets {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError:
        raise PreviewError(f"--secrets {path} is not JSON or YAML") from None
    if not isinstance(data, dict):
        raise PreviewError(f"--secrets {path} must map \"<project>/<service>\" to {{NAME: value}}")
    return {str(k): v for k, v in data.items()}


class PreviewBackend(Protocol):
    """Runs the preview stacks (``AutomationBackend``; tests use an in-memory one)."""

    def list_stacks(self) -> list[StackRow]: ...

    def get_tag(self, stack: str) -> str | None: ...

    def up(self, stack: str, config: Mapping[str, tuple[str, bool]], tag: str,
           on_output: Callable[[str], None] | None) -> dict[str, int]:
        """Create or select ``stack``, write ``tag`` and ``config`` (``{key: (value, secret)}``), then update it;
        returns the resource changes (``{"create": 3, "same": 10}``)."""
        ...

    def destroy(self, stack: str, on_output: Callable[[str], None] | None) -> bool:
        """Destroy ``stack``'s resources and remove it; False when there is no such stack."""
        ...


def _locked(pr_stack: str) -> PreviewLocked:
    return PreviewLocked(
        f"preview {pr_stack} is locked by another run (the state backend's stack lock): two runs for one pull "
        f"request never overlap; wait for the other run to finish, or if none is running: pulumi cancel --stack "
        f"{pr_stack} (file backends: remove the lock under .pulumi/locks)"
    )


class AutomationBackend:
    """The preview stacks in the configured state backend, through the Pulumi Automation API.

    ``stack_dir`` is the preview project (stacks/preview); ``env`` adds to the environment of the ``pulumi``
    CLI (``PULUMI_BACKEND_URL``, ``PULUMI_CONFIG_PASSPHRASE``...).
    """

    def __init__(self, stack_dir: str | Path, env: Mapping[str, str] | None = None) -> None:
        self.stack_dir = Path(stack_dir).resolve()
        self.env = dict(env or {})

    def _opts(self) -> Any:
        import pulumi.automation as auto

        return auto.LocalWorkspaceOptions(work_dir=str(self.stack_dir), env_vars=self.env)

    def _workspace(self) -> Any:
        import pulumi.automation as auto

        return auto.LocalWorkspace(work_dir=str(self.stack_dir), env_vars=self.env)

    def list_stacks(self) -> list[StackRow]:
        import pulumi.automation as auto

        try:
            rows = self._workspace().list_stacks()
        except auto.CommandError as exc:
            raise PreviewError(f"cannot list the preview stacks: {_cli_message(exc)}") from None
        return [StackRow(r.name, r.last_update, bool(r.update_in_progress)) for r in rows]

    def get_tag(self, stack: str) -> str | None:
        import pulumi.automation as auto

        try:
            tags = self._workspace().list_tags(stack)
        except auto.CommandError:
            return None
        value = tags.get(TAG)
        return str(value) if value is not None else None

    def _project(self) -> dict[str, Any]:
        """The preview project's Pulumi.yaml (empty when it cannot be read)."""
        import yaml

        try:
            data = yaml.safe_load((self.stack_dir / "Pulumi.yaml").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def locked(self, stack: str) -> bool:
        """Whether another run holds ``stack``'s lock, as a ``file://`` backend records it (lock files under
        ``.pulumi/locks/<org>/<project>/<stack>``; the backend from ``PULUMI_BACKEND_URL`` or the project's
        ``backend.url``). Other backends answer through ``pulumi up`` itself (``ConcurrentUpdateError``)."""
        import os

        project = self._project()
        backend = project.get("backend")
        url = str(self.env.get("PULUMI_BACKEND_URL") or os.environ.get("PULUMI_BACKEND_URL")
                  or (backend.get("url") if isinstance(backend, dict) else None) or "")
        name = project.get("name")
        if not url.startswith("file://") or not isinstance(name, str):
            return False
        locks = Path(os.path.expanduser(url[len("file://"):] or "~")) / ".pulumi" / "locks"
        if not locks.is_dir():
            return False
        return any(f.is_file() and f.suffix == ".json" for d in locks.glob(f"*/{name}/{stack}") for f in d.iterdir())

    def up(self, stack: str, config: Mapping[str, tuple[str, bool]], tag: str,
           on_output: Callable[[str], None] | None) -> dict[str, int]:
        import pulumi.automation as auto

        # A run already holding the lock is refused before this one writes the preview's tag or config. On a
        # file:// backend the check also spares the CLI reading a checkpoint the other run is writing (the
        # file blob store writes its sidecar in place, so such a read fails with "failed to load checkpoint").
        if self.locked(stack):
            raise _locked(stack)
        previous: str | None = None
        try:
            st = auto.create_or_select_stack(stack_name=stack, work_dir=str(self.stack_dir), opts=self._opts())
            previous = self.get_tag(stack)
            st.set_tag(TAG, tag)
            st.set_all_config({k: auto.ConfigValue(value=v, secret=secret) for k, (v, secret) in config.items()})
            result = st.up(on_output=on_output, color="never")
        except auto.ConcurrentUpdateError:
            if previous is not None:  # the run holding the lock owns the preview's metadata
                st.set_tag(TAG, previous)
            raise _locked(stack) from None
        except auto.CommandError as exc:
            if self.locked(stack):  # another run took the lock while this one read the state
                if previous is not None:
                    st.set_tag(TAG, previous)
                raise _locked(stack) from None
            raise PreviewError(f"pulumi up of preview {stack} failed: {_cli_message(exc)}; the stack is kept with "
                               "its expiry, so `enclii-iac preview gc` collects it if it is not updated") from None
        changes = result.summary.resource_changes or {}
        return {str(k): int(v) for k, v in changes.items()}

    def destroy(self, stack: str, on_output: Callable[[str], None] | None) -> bool:
        import pulumi.automation as auto

        if self.locked(stack):
            raise _locked(stack)
        try:
            st = auto.select_stack(stack_name=stack, work_dir=str(self.stack_dir), opts=self._opts())
        except auto.StackNotFoundError:
            return False
        except auto.CommandError as exc:
            raise PreviewError(f"cannot select preview {stack}: {_cli_message(exc)}") from None
        try:
            st.destroy(on_output=on_output, color="never", remove=True)
        except auto.ConcurrentUpdateError:
            raise _locked(stack) from None
        except auto.CommandError as exc:
            raise PreviewError(f"pulumi destroy of preview {stack} failed: {_cli_message(exc)}") from None
        return True


def _cli_message(exc: Exception) -> str:
    """The last error lines of a failed ``pulumi`` run (the CLI never prints secret values)."""
    text = str(getattr(exc, "stderr", "") or "") + "\n" + str(getattr(exc, "stdout", "") or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(("error:", "  error:"))
             or "error:" in ln]
    if not lines:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][-3:]
    return " | ".join(dict.fromkeys(lines[-4:]))[:2000] or "see the pulumi output above"


class PreviewDriver:
    """``up``, ``destroy``, ``list`` and ``gc`` of the previews, on a ``PreviewBackend``.

    >>> driver = PreviewDriver(AutomationBackend("stacks/preview"), "stacks/preview")
    >>> driver.up(42, images=["shop/api=sha256:..."], ttl="72h", secrets={"shop/api": {"DATABASE_URL": "..."}})
    """

    def __init__(
        self,
        backend: PreviewBackend,
        stack_dir: str | Path,
        *,
        production_stack: str = PRODUCTION_STACK,
        now: Callable[[], datetime.datetime] = utc_now,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.backend = backend
        self.stack_dir = Path(stack_dir)
        self.production_stack = production_stack
        self.now = now
        self.progress = progress
        self._base: PlatformSpec | None = None

    def _say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def base_spec(self) -> PlatformSpec:
        """The preview platform spec with production's tenants (files and Python), as the stack loads it."""
        if self._base is None:
            from enclii_iac.stack import load_spec

            if not (self.stack_dir / "Pulumi.yaml").is_file():
                raise PreviewError(f"{self.stack_dir} is not the preview project (no Pulumi.yaml); pass --stack-dir")
            python_file = self.stack_dir / PYTHON_TENANTS_FILE
            python = runpy.run_path(str(python_file))["PYTHON_TENANTS"] if python_file.is_file() else {}
            self._base = load_spec(self.stack_dir, "platform.yaml", list(TENANT_FILES), python)
        return self._base

    def previews(self) -> list[PreviewInfo]:
        out = []
        for row in self.backend.list_stacks():
            if pr_of(row.name) is None:
                continue
            info = preview_info(row, self.backend.get_tag(row.name))
            if info is not None:
                out.append(info)
        return sorted(out, key=lambda p: p.pr)

    def up(
        self,
        pr: int,
        *,
        images: Sequence[str] = (),
        ttl: str | None = None,
        secrets: Mapping[str, Any] | None = None,
        max_previews: int | None = None,
        database: bool = False,
        on_output: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Create or update the preview of pull request ``pr``; every input is checked before the backend is
        touched."""
        stack = stack_name(pr)
        if database:
            raise PreviewError(
                "--database: a preview database is a database in the platform's PostgreSQL, and this platform "
                "declares no PostgreSQL yet; run without --database (services get their DATABASE_URL from "
                "--secrets)"
            )
        ttl_hours = parse_ttl(ttl) if ttl is not None else None
        base = self.base_spec()
        wanted = parse_images(images, base)
        checked = check_secrets(base, dict(secrets or {}))
        if max_previews is None:  # one tag read, however many previews exist
            existing = []
            current = preview_info(StackRow(stack), self.backend.get_tag(stack))
            if current is not None and current.created_at is None:
                current = None  # no stack, or one whose first update never started: this run creates it
        else:
            existing = self.previews()
            current = next((p for p in existing if p.pr == pr), None)
        ttl_hours = ttl_hours or (current.ttl_hours if current and current.ttl_hours else PREVIEW_TTL_HOURS)
        merged = {**(dict(current.images) if current else {}), **wanted}  # earlier builds of this PR stay
        now = self.now()
        expires = now + datetime.timedelta(hours=ttl_hours)
        try:
            spec = preview_spec(base, pr, ttl_hours=ttl_hours, expires_at=utc_text(expires), images=merged)
        except SpecError as exc:
            raise PreviewError("; ".join(str(i) for i in exc.issues)) from None
        evicted = []
        for old in evictions(existing, pr, max_previews):
            self._say(f"--max {max_previews}: evicting the oldest idle preview {old.stack}")
            self.backend.destroy(old.stack, on_output)
            evicted.append(old.pr)
        created = current.created_at if current and current.created_at else now
        cost = monthly_cost(spec)
        urls = preview_urls(spec)
        meta = {"pr": pr, "createdAt": utc_text(created), "updatedAt": utc_text(now), "expiresAt": utc_text(expires),
                "ttlHours": ttl_hours, "images": merged, "urls": urls, "monthlyCost": cost}
        config: dict[str, tuple[str, bool]] = {
            "enclii:prNumber": (str(pr), False),
            "enclii:productionStack": (self.production_stack, False),
            "enclii:spec": ("platform.yaml", False),
            "enclii:tenantFiles": (json.dumps(list(TENANT_FILES)), False),
            "enclii:ttlHours": (str(ttl_hours), False),
            "enclii:expiresAt": (utc_text(expires), False),
            "enclii:images": (json.dumps(merged, sort_keys=True), False),
        }
        if checked:
            config["enclii:tenantSecrets"] = (json.dumps(checked, sort_keys=True), True)
        self._say(f"updating preview {stack} (expires {utc_text(expires)})")
        changes = self.backend.up(stack, config, json.dumps(meta, sort_keys=True), on_output)
        return {
            "ok": True,
            "pr": pr,
            "stack": stack,
            "created": current is None,
            "urls": urls,
            "images": merged,
            "ttlHours": ttl_hours,
            "expiresAt": utc_text(expires),
            "monthlyCost": cost,
            "costSource": COST_SOURCE,
            "evicted": evicted,
            "changes": changes,
        }

    def destroy(self, pr: int, on_output: Callable[[str], None] | None = None) -> dict[str, Any]:
        stack = stack_name(pr)
        self._say(f"destroying preview {stack}")
        found = self.backend.destroy(stack, on_output)
        return {"ok": True, "pr": pr, "stack": stack, "destroyed": found}

    def list(self) -> dict[str, Any]:
        now = self.now()
        previews = [p.as_dict(now) for p in self.previews()]
        return {"ok": True, "now": utc_text(now), "previews": previews, "costSource": COST_SOURCE}

    def gc(
        self,
        *,
        closed: Iterable[int] = (),
        github_repo: str | None = None,
        github_token: str = "",
        github_api: str = "https://api.github.com",
        opener: Opener = _urlopen,
        dry_run: bool = False,
        on_output: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Destroy every preview past its TTL or whose pull request is closed; one failure does not stop the
        others (``ok`` is False and ``failed`` names them)."""
        now = self.now()
        previews = self.previews()
        closed_set = set(closed)
        if github_repo is not None:
            closed_set |= closed_on_github(github_repo, [p.pr for p in previews], github_token, github_api, opener)
        reasons = gc_reasons(previews, now, closed_set)
        destroyed: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for p in previews:
            if p.pr not in reasons:
                continue
            entry = {"pr": p.pr, "stack": p.stack, "reason": reasons[p.pr]}
            if dry_run:
                destroyed.append(entry)
                continue
            self._say(f"collecting preview {p.stack}: {reasons[p.pr]}")
            try:
                self.backend.destroy(p.stack, on_output)
            except EncliiIacError as exc:
                failed.append({**entry, "error": str(exc)})
                continue
            destroyed.append(entry)
        kept = [p.pr for p in previews if p.pr not in reasons]
        return {"ok": not failed, "now": utc_text(now), "dryRun": dry_run, "destroyed": destroyed, "failed": failed,
                "kept": kept}

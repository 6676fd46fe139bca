"""Fixtures of the engine tier: one local cluster per session, stack copies, the real Pulumi CLI.

Nothing here skips: a missing binary or tool fails the test with the command that provides it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine.harness import ROOT, EngineMissing, LocalCluster, Pulumi, engine_bin, engine_cache


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.engine)

EXISTING_CLUSTER = '{"hosts": null, "cluster": null, "edge": null}'
"""``enclii:platform`` override of the README's "Kubernetes layer on a cluster you already run"."""


@pytest.fixture(scope="session")
def engine() -> Path:
    try:
        return engine_bin()
    except EngineMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def cluster(engine: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    c = LocalCluster(workdir)
    try:
        c.start()
    except Exception:
        c.stop()
        raise
    try:
        apply_crds(c)
        _BASE_NAMESPACES.update(_namespaces(c))
        _CLUSTERS.append(c)
        yield c
    finally:
        _CLUSTERS.clear()
        c.stop()


_CLUSTERS: list[LocalCluster] = []
_BASE_NAMESPACES: set[str] = set()


def _namespaces(c: LocalCluster) -> set[str]:
    return {ns["metadata"]["name"] for ns in c.api("GET", "/api/v1/namespaces")["items"]}


@pytest.fixture(scope="module", autouse=True)
def _module_leaves_the_cluster_as_found() -> Iterator[None]:
    """Namespaces a test module created and left (a failed test's previews, a stack it did not destroy) are
    deleted when the module ends: one session cluster serves every module, and what one leaves behind would
    take the fake node's pods and CPU from the next."""
    yield
    if not _CLUSTERS:
        return
    c = _CLUSTERS[0]
    left = sorted(_namespaces(c) - _BASE_NAMESPACES)
    for ns in left:
        c.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)
    deadline = time.monotonic() + 180
    while left and time.monotonic() < deadline:
        time.sleep(1)
        left = sorted(set(left) & _namespaces(c))


def apply_crds(c: LocalCluster) -> None:
    """The operators' CRDs of an existing cluster that runs Prometheus Operator, KEDA and Traefik."""
    crds = engine_cache() / "crds"
    files = sorted(crds.glob("*.y*ml"))
    if not files:
        raise EngineMissing(f"no CRDs in {crds}; run `bash tools/engine/build.sh crds`")
    for f in files:
        c.kubectl("apply", "--server-side", "-f", str(f))
    c.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")


def copy_stacks(dest: Path) -> Path:
    """A copy of stacks/ whose Pulumi.yaml files point at the repository's virtualenv."""
    shutil.copytree(ROOT / "stacks", dest, ignore=shutil.ignore_patterns("__pycache__"))
    for project in dest.glob("*/Pulumi.yaml"):
        data = yaml.safe_load(project.read_text())
        data["runtime"]["options"]["virtualenv"] = str(ROOT / ".venv")
        project.write_text(yaml.safe_dump(data, sort_keys=False))
    return dest


def new_pulumi(project_dir: Path, base: Path) -> Pulumi:
    return Pulumi(project_dir, home=base / "pulumi-home", backend=base / "state")


def tenant_secret_keys(stack_dir: Path, stack: str, *, python_tenants: bool = True) -> list[tuple[str, str]]:
    """``(project/service, NAME)`` of every secret the stack's tenants declare (read from its spec files)."""
    import runpy

    from enclii_iac.stack import load_spec

    config = yaml.safe_load((stack_dir / f"Pulumi.{stack}.yaml").read_text()).get("config") or {}
    extra: dict[str, Any] = {}
    if python_tenants and (stack_dir / "tenants.py").exists():
        extra = runpy.run_path(str(stack_dir / "tenants.py"))["PYTHON_TENANTS"]
    spec = load_spec(stack_dir, "platform.yaml", config.get("enclii:tenantFiles") or [], extra,
                     json.loads(EXISTING_CLUSTER))
    return sorted(
        (f"{project}/{name}", secret)
        for project, pspec in spec.tenants.items()
        for name, svc in pspec.services.items()
        for secret in svc.secrets
    )


def steps_by_op(steps: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for step in steps:
        out.setdefault(step["op"], []).append(step["urn"])
    return out

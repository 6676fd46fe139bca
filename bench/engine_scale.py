"""Engine scale benchmark: `pulumi up` of N tenant services through the real engine and API server,
against `kubectl apply --server-side` of the same manifests `enclii-iac synth` writes, in the same run.

For each size (web services in one project on an existing cluster):

1. ``pulumi up``: the real Pulumi CLI, the kubernetes provider and a local kube-apiserver with a kwok
   node (tests/engine/harness.py); it waits, as Pulumi does, until every Deployment is available.
2. ``pulumi preview`` with no change (the per-push cost of a CI preview).
3. ``pulumi up --parallel P`` and a no-change preview with ``--parallel P``, to show the effect of the
   engine's parallelism (the CLI's default is 4 per CPU: 8 on this 2-core machine).
4. The peer: ``kubectl apply --server-side`` of synth's manifests into the same, emptied cluster; then
   ``kubectl wait`` for every Deployment to be available (what `pulumi up` waits for), and a second,
   no-change ``kubectl apply``.

It prints wall times, the peak RSS of the engine (`pulumi`) and of the provider
(`pulumi-resource-kubernetes`), sampled from /proc, and the ratios. Needs the engine tier's binaries
(`make engine`). A benchmark, not a test:

    .venv/bin/python -m bench.engine_scale                  # 100 and 300 services
    .venv/bin/python -m bench.engine_scale --sizes 50 --parallel 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.engine.harness import ROOT, LocalCluster, Pulumi

DIGEST = "@sha256:" + "0123456789abcdef" * 4
ENV = "dev"
"""A dev environment: 300 services are more pods than one AX41 holds (110), which the spec refuses for prod
(its quotas must fit on the node); the benchmark's fake node advertises BENCH_NODE's pods instead."""
NAMESPACE = f"bench-{ENV}"
BENCH_NODE = {"cpu": "12", "memory": "64Gi", "ephemeral-storage": "476Gi", "pods": "1000"}
MAIN = '''from pathlib import Path

from enclii_iac.platform import build_platform
from enclii_iac.stack import load_stack_settings

build_platform(load_stack_settings(Path(__file__).parent))
'''


def write_stack(stack_dir: Path, size: int) -> None:
    """A stack on an existing cluster with one project of ``size`` small web services (stage preview:
    nothing protected, so the benchmark can destroy it)."""
    stack_dir.mkdir(parents=True)
    (stack_dir / "Pulumi.yaml").write_text(yaml.safe_dump({
        "name": "enclii-bench",
        "runtime": {"name": "python", "options": {"virtualenv": str(ROOT / ".venv")}},
    }))
    (stack_dir / "Pulumi.bench.yaml").write_text(yaml.safe_dump({"config": {"enclii:tenantFiles": ["tenants.yaml"]}}))
    (stack_dir / "__main__.py").write_text(MAIN)
    (stack_dir / "platform.yaml").write_text(yaml.safe_dump({
        "apiVersion": "enclii.dev/v1", "kind": "Platform", "metadata": {"name": "bench"},
        "spec": {"stage": "preview", "domain": "example.com"},
    }))
    docs: list[dict[str, Any]] = [{
        "apiVersion": "enclii.dev/v1", "kind": "Project", "metadata": {"name": "bench"},
        "spec": {"environments": {ENV: {"quota": {
            "cpu": "12", "memory": "48Gi", "cpuLimit": "48", "memoryLimit": "96Gi", "pods": 1000}}}},
    }]
    for i in range(size):
        docs.append({
            "apiVersion": "enclii.dev/v1", "kind": "Service", "metadata": {"name": f"s{i}", "project": "bench"},
            "spec": {
                "type": "web", "image": f"ghcr.io/acme/svc{i % 17}{DIGEST}", "port": 8080,
                "routes": [{"host": f"s{i}.example.com"}], "health": {"path": "/healthz"},
                "env": {"INDEX": str(i)},
                "resources": {"cpu": "10m", "memory": "32Mi", "cpuLimit": "100m", "memoryLimit": "64Mi"},
            },
        })
    (stack_dir / "tenants.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))


class PeakRss:
    """Peak RSS (MiB) by process name of every descendant of this process, sampled from /proc."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.peak: dict[str, float] = dict.fromkeys(names, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.wait(0.2):
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    comm = Path(f"/proc/{pid}/comm").read_text().strip()
                    if comm not in self.names and not any(comm == n[:15] for n in self.names):
                        continue
                    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page / 2**20
                except (OSError, ValueError, IndexError):
                    continue
                name = next(n for n in self.names if comm in (n, n[:15]))
                self.peak[name] = max(self.peak[name], rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def wait_gone(c: LocalCluster, namespace: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = c.kubectl("get", "namespace", namespace, check=False)
        if res.returncode != 0:
            return
        time.sleep(1)
    raise TimeoutError(f"namespace {namespace} still exists")


def run_size(c: LocalCluster, base: Path, size: int, parallel: int) -> dict[str, Any]:
    stack_dir = base / f"stack-{size}"
    write_stack(stack_dir, size)
    p = Pulumi(stack_dir, home=base / "home", backend=base / f"state-{size}")
    p.run("stack", "init", "bench")
    p.run("config", "set", "--secret", "enclii:kubeconfig", input=c.kubeconfig_path.read_text())
    row: dict[str, Any] = {"services": size}
    names = ("pulumi", "pulumi-resource-kubernetes")
    with PeakRss(names) as rss:
        row["up_s"] = timed(lambda: p.run("up", "--yes", "--skip-preview", timeout=3600))
        row["preview_s"] = timed(lambda: p.run("preview", "--expect-no-changes", timeout=1800))
        row["preview_parallel_s"] = timed(
            lambda: p.run("preview", "--expect-no-changes", "--parallel", str(parallel), timeout=1800))
    row["engine_rss_mib"] = round(rss.peak["pulumi"])
    row["provider_rss_mib"] = round(rss.peak["pulumi-resource-kubernetes"])
    row["resources"] = len(p.urns())
    p.run("destroy", "--yes", "--skip-preview", timeout=3600)
    wait_gone(c, NAMESPACE)
    row["up_parallel_s"] = timed(
        lambda: p.run("up", "--yes", "--skip-preview", "--parallel", str(parallel), timeout=3600))
    p.run("destroy", "--yes", "--skip-preview", timeout=3600)
    wait_gone(c, NAMESPACE)

    # the peer: the same manifests, applied by kubectl
    out = base / f"synth-{size}"
    subprocess.run([str(ROOT / ".venv" / "bin" / "enclii-iac"), "synth", str(stack_dir), "--stack", "bench",
                    "--out", str(out)], check=True, capture_output=True, timeout=1800)
    manifests = sorted((out / "manifests").glob("*.yaml"))
    ordered = [m for m in manifests if m.stem == "_cluster"] + [m for m in manifests if m.stem != "_cluster"]
    args = [a for m in ordered for a in ("-f", str(m))]
    row["kubectl_apply_s"] = timed(lambda: c.kubectl("apply", "--server-side", *args, timeout=1800))
    row["kubectl_wait_s"] = row["kubectl_apply_s"] + timed(lambda: c.kubectl(
        "wait", "--for=condition=Available", "deployment", "--all", "-n", NAMESPACE, "--timeout=1800s",
        timeout=1900))
    row["kubectl_reapply_s"] = timed(lambda: c.kubectl("apply", "--server-side", *args, timeout=1800))
    c.kubectl("delete", "namespace", NAMESPACE, "--wait=true", timeout=900)
    row["ratio_up_vs_apply_wait"] = round(row["up_s"] / row["kubectl_wait_s"], 2)
    row["ratio_preview_vs_reapply"] = round(row["preview_s"] / row["kubectl_reapply_s"], 2)
    row["ratio_parallel_up"] = round(row["up_parallel_s"] / row["up_s"], 2)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300], help="tenant services per run")
    ap.add_argument("--parallel", type=int, default=8, help="--parallel value compared with the default")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    opts = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="enclii-engine-bench-") as tmp:
        base = Path(tmp)
        c = LocalCluster(base / "cluster", node_capacity=BENCH_NODE)
        c.start()
        try:
            for size in opts.sizes:
                rows.append(run_size(c, base, size, opts.parallel))
                print(json.dumps(rows[-1]), flush=True)
        finally:
            c.stop()
    if opts.json:
        print(json.dumps(rows, indent=2))
        return
    cols = ["services", "resources", "up_s", "up_parallel_s", "preview_s", "preview_parallel_s", "kubectl_apply_s",
            "kubectl_wait_s", "kubectl_reapply_s", "ratio_up_vs_apply_wait", "ratio_preview_vs_reapply",
            "ratio_parallel_up", "engine_rss_mib", "provider_rss_mib"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[k]:.1f}" if isinstance(r[k], float) else str(r[k]) for k in cols) + " |")


if __name__ == "__main__":
    main()

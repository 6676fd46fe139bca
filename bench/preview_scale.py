"""Preview benchmark: ``enclii-iac preview up`` of a 10-service project and ``preview gc`` of 20 previews,
through the real Pulumi CLI (Automation API), a file backend and the local API server of the engine tier.

1. ``preview up --pr 1`` of stacks/preview whose tenants are one project of N web services (default 10),
   each routed: the whole CLI path, from the spec check to every Deployment available (target: < 30 s).
2. The same ``up`` again with no change, and once more with a new digest for one service (a CI push).
3. ``preview gc`` of G previews (default 20; one small service each, in their own backend), all closed:
   the nightly clean-up after a busy day.

Prints the wall times (and ``--json``). Needs the engine tier's binaries (``make engine``). A benchmark,
not a test:

    .venv/bin/python -m bench.preview_scale
    .venv/bin/python -m bench.preview_scale --services 20 --gc 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tests.engine.harness import ROOT, LocalCluster, Pulumi

STANDIN = '''import pulumi

pulumi.export("kubeconfig", pulumi.Config("enclii").require_secret("kubeconfig"))
'''
DIGEST = "sha256:" + "0123456789abcdef" * 4


def write_stacks(base: Path, services: int) -> Path:
    """stacks/preview as in the repository, with production's tenants replaced by one project of
    ``services`` small web services; returns the preview project directory."""
    stacks = base / "stacks"
    shutil.copytree(ROOT / "stacks" / "preview", stacks / "preview",
                    ignore=shutil.ignore_patterns("__pycache__", "Pulumi.pr-*.yaml"))
    project = yaml.safe_load((stacks / "preview" / "Pulumi.yaml").read_text())
    project["runtime"]["options"]["virtualenv"] = str(ROOT / ".venv")
    (stacks / "preview" / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    tenants = stacks / "production" / "tenants"
    tenants.mkdir(parents=True)
    (stacks / "production" / "tenants.py").write_text("PYTHON_TENANTS: dict[str, object] = {}\n")
    docs: list[dict[str, Any]] = [{"apiVersion": "enclii.dev/v1", "kind": "Project", "metadata": {"name": "bench"},
                                   "spec": {"environments": {"prod": {}}}}]
    for i in range(services):
        docs.append({
            "apiVersion": "enclii.dev/v1", "kind": "Service", "metadata": {"name": f"s{i}", "project": "bench"},
            "spec": {
                "type": "web", "image": f"ghcr.io/acme/svc{i}@{DIGEST}", "port": 8080,
                "routes": [{"host": f"s{i}.example.com"}], "health": {"path": "/healthz"},
                "resources": {"cpu": "10m", "memory": "32Mi", "cpuLimit": "100m", "memoryLimit": "64Mi"},
            },
        })
    (tenants / "bench.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return stacks / "preview"


def standin(base: Path, backend: Path, kubeconfig: Path) -> Pulumi:
    project = base / "standin"
    project.mkdir(parents=True)
    (project / "Pulumi.yaml").write_text(yaml.safe_dump({
        "name": "enclii-production", "runtime": {"name": "python", "options": {"virtualenv": str(ROOT / ".venv")}},
    }))
    (project / "__main__.py").write_text(STANDIN)
    p = Pulumi(project, home=base / "pulumi-home", backend=backend)
    p.run("stack", "init", "production")
    p.run("config", "set", "--secret", "enclii:kubeconfig", input=kubeconfig.read_text())
    p.run("up", "--yes", "--skip-preview")
    return p


def preview(p: Pulumi, stack_dir: Path, *args: str) -> tuple[float, dict[str, Any]]:
    argv = [str(ROOT / ".venv" / "bin" / "enclii-iac"), "preview", *args, "--stack-dir", str(stack_dir),
            "--json", "-q"]
    started = time.monotonic()
    res = subprocess.run(argv, env={**p.env(), "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                         timeout=3600)
    took = time.monotonic() - started
    print(f"preview {' '.join(args[:3])}: {took:.1f} s", file=sys.stderr, flush=True)
    if res.returncode != 0:
        raise SystemExit(f"enclii-iac preview {' '.join(args)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return took, json.loads(res.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=10, help="services of the previewed project")
    ap.add_argument("--gc", type=int, default=20, help="previews collected by one gc")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    rows: dict[str, Any] = {"services": args.services, "gcPreviews": args.gc}
    with tempfile.TemporaryDirectory(prefix="preview-bench-") as tmp:
        base = Path(tmp)
        cluster = LocalCluster(base / "cluster")
        try:
            cluster.start()
            big = base / "big"
            p = standin(big, big / "state", cluster.kubeconfig_path)
            stack_dir = write_stacks(big, args.services)
            rows["up_create_s"], up = preview(p, stack_dir, "up", "--pr", "1")
            rows["resources"] = up["changes"].get("create", 0)
            rows["up_nochange_s"], _ = preview(p, stack_dir, "up", "--pr", "1")
            rows["up_new_digest_s"], _ = preview(p, stack_dir, "up", "--pr", "1", "--image",
                                                 "bench/s0=sha256:" + "f" * 64)
            rows["destroy_s"], _ = preview(p, stack_dir, "destroy", "--pr", "1")

            small = base / "small"
            q = standin(small, small / "state", cluster.kubeconfig_path)
            small_dir = write_stacks(small, 1)
            started = time.monotonic()
            prs = [str(100 + i) for i in range(args.gc)]
            for pr in prs:
                preview(q, small_dir, "up", "--pr", pr)
            rows["gc_setup_ups_s"] = round(time.monotonic() - started, 1)
            rows["list_s"], listed = preview(q, small_dir, "list")
            assert len(listed["previews"]) == args.gc, listed
            closed = [a for pr in prs for a in ("--closed", pr)]
            rows["gc_s"], gc = preview(q, small_dir, "gc", *closed)
            assert len(gc["destroyed"]) == args.gc and gc["ok"], gc
        finally:
            cluster.stop()
    rows = {k: round(v, 1) if isinstance(v, float) else v for k, v in rows.items()}
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for k, v in rows.items():
            print(f"{k:>18}  {v}")


if __name__ == "__main__":
    main()

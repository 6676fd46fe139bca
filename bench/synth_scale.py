"""Synthesis scale benchmark: enclii_iac against plain Pulumi code declaring the identical resources.

For each size (number of tenant services) and mix (``web``: all web services; ``mixed``: web, worker,
cron, job, tcp, canary and blue-green in rotation):

1. ``enclii``: a fresh interpreter validates the spec, declares one TenantProject (environments,
   services) under the recording mock monitor and waits for every registration.
2. ``plain``: a fresh interpreter declares, with plain Pulumi calls (``pulumi.ComponentResource`` and the
   typed pulumi-kubernetes classes), exactly the resources run 1 recorded: same types, names, parents,
   inputs (secrets as Pulumi secrets) and dependencies, under the same monitor. Only the logic differs:
   no spec validation, no rendering, no naming. Loading the list happens before its clock starts.

Both report wall time and peak RSS (``ru_maxrss``) of their own process; the table shows the fastest
of ``--repeat`` runs (the least disturbed, as timeit does), the ratio of the medians beside it, the
median peak RSS, and the enclii/plain ratios. Both children collect garbage before their clock
starts. It also times ``enclii-iac validate`` on a file of the largest size (the target is at most 1 s).

    .venv/bin/python bench/synth_scale.py                       # 100, 300, 1000 services; web and mixed
    .venv/bin/python bench/synth_scale.py --sizes 100 --repeat 1
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DIGEST = "@sha256:" + "0123456789abcdef" * 4


def service(i: int, mix: str) -> dict[str, Any]:
    image = f"ghcr.io/acme/svc{i % 17}{DIGEST}"
    web: dict[str, Any] = {
        "type": "web",
        "image": image,
        "port": 8080,
        "routes": [{"host": f"s{i}.example.com"}],
        "health": {"path": "/healthz"},
        "env": {"INDEX": str(i)},
    }
    if mix == "web":
        return web
    kind = i % 7
    if kind == 0:
        return {**web, "replicas": {"min": 2, "max": 6}, "autoscale": {}, "secrets": ["TOKEN"]}
    if kind == 1:
        return {
            "type": "worker",
            "image": image,
            "health": {"command": ["./w", "check"]},
            "replicas": {"min": 1, "max": 4},
            "autoscale": {"keda": [{"type": "redis", "metadata": {"listName": f"q{i}"}}]},
        }
    if kind == 2:
        return {"type": "cron", "image": image, "schedule": "*/5 * * * *"}
    if kind == 3:
        return {"type": "job", "image": image, "command": ["./migrate"]}
    if kind == 4:
        return {"type": "tcp", "image": image, "port": 5432, "volumes": [{"name": "data", "mountPath": "/data"}]}
    if kind == 5:
        return {
            **web,
            "replicas": {"min": 2},
            "deploy": {"strategy": "canary", "canary": {"image": image, "steps": [10, 50]}},
        }
    return {
        **web,
        "replicas": {"min": 2},
        "deploy": {"strategy": "blue-green", "blueGreen": {"blueImage": image, "greenImage": image}},
    }


def project_data(size: int, mix: str) -> dict[str, Any]:
    return {"environments": {"prod": {}}, "services": {f"s{i}": service(i, mix) for i in range(size)}}


def secrets_for(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        name: {s: f"value-{name}" for s in svc.get("secrets", [])}
        for name, svc in data["services"].items()
        if svc.get("secrets")
    }


# --- child processes -------------------------------------------------------------------------------------


def child_enclii(size: int, mix: str, dump: str) -> dict[str, Any]:
    import pulumi
    import pulumi_kubernetes as k8s

    from enclii_iac.kube import TenantProject
    from enclii_iac.models.tenant import ProjectSpec
    from enclii_iac.testing import Recorder

    data = project_data(size, mix)
    secrets = secrets_for(data)
    gc.collect()
    start = time.perf_counter()
    spec = ProjectSpec.model_validate(data)

    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("kubeconfig"))
        TenantProject("bench", spec, provider=provider, secret_values=secrets)

    rec = Recorder().run(program)
    elapsed = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    custom = [r for r in rec.records if r.custom and r.type.startswith("kubernetes:") and not r.read]
    if dump:
        Path(dump).write_text(
            json.dumps(
                [
                    {
                        "urn": r.urn,
                        "parent": r.parent_urn,
                        "deps": r.dependencies,
                        "custom": r.custom,
                        "type": r.type,
                        "name": r.name,
                        "inputs": r.inputs,
                    }
                    for r in rec.records
                    if not r.type.startswith("pulumi:providers:")
                ]
            )
        )
    return {"seconds": elapsed, "maxrss_kb": rss, "resources": len(rec.records), "kubernetes": len(custom)}


def _snake(key: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in key)


def child_plain(dump: str) -> dict[str, Any]:
    import pulumi
    import pulumi_kubernetes as k8s

    from enclii_iac.testing import Recorder, is_secret_value

    items = json.loads(Path(dump).read_text())

    def value(v: Any) -> Any:
        return pulumi.Output.secret(v["value"]) if is_secret_value(v) else v

    def cls_for(type_: str) -> Any:
        _, module, kind = type_.split(":")
        group, version = module.rsplit("/", 1)
        mod = {
            "core": k8s.core,
            "apps": k8s.apps,
            "batch": k8s.batch,
            "policy": k8s.policy,
            "autoscaling": k8s.autoscaling,
            "networking.k8s.io": k8s.networking,
            "rbac.authorization.k8s.io": k8s.rbac,
        }.get(group)
        return getattr(getattr(mod, version), kind) if mod is not None else None

    by_urn = {item["urn"]: item for item in items}

    def depth(item: dict[str, Any]) -> int:
        n, parent = 0, item["parent"]
        while parent in by_urn:
            n, parent = n + 1, by_urn[parent]["parent"]
        return n

    ordered = sorted(items, key=depth)  # parents before children; siblings keep their declaration order
    gc.collect()
    start = time.perf_counter()

    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("kubeconfig"))
        made: dict[str, pulumi.Resource] = {}
        for item in ordered:
            opts = pulumi.ResourceOptions(
                parent=made.get(item["parent"]), depends_on=[made[d] for d in item["deps"] if d in made]
            )
            if not item["custom"]:
                comp = pulumi.ComponentResource(item["type"], item["name"], None, opts)
                comp.register_outputs({})
                made[item["urn"]] = comp
                continue
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=provider))
            inputs = dict(item["inputs"])
            cls = cls_for(item["type"])
            if cls is None:
                made[item["urn"]] = k8s.apiextensions.CustomResource(
                    item["name"],
                    api_version=inputs["apiVersion"],
                    kind=inputs["kind"],
                    metadata=inputs["metadata"],
                    spec=inputs["spec"],
                    opts=opts,
                )
                continue
            kwargs = {_snake(k): value(v) for k, v in inputs.items() if k not in ("apiVersion", "kind")}
            made[item["urn"]] = cls(item["name"], **kwargs, opts=opts)

    rec = Recorder().run(program)
    elapsed = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": elapsed,
        "maxrss_kb": rss,
        "resources": len(rec.records),
        "kubernetes": len([r for r in rec.records if r.custom and r.type.startswith("kubernetes:")]),
    }


# --- driver ---------------------------------------------------------------------------------------------


def run_child(*args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def time_validate(size: int, tmp: Path) -> float:
    import yaml

    data = project_data(size, "mixed")
    docs = [
        {
            "apiVersion": "enclii.dev/v1",
            "kind": "Project",
            "metadata": {"name": "bench"},
            "spec": {"environments": data["environments"]},
        }
    ]
    docs += [
        {"apiVersion": "enclii.dev/v1", "kind": "Service", "metadata": {"name": n, "project": "bench"}, "spec": s}
        for n, s in data["services"].items()
    ]
    path = tmp / f"enclii-{size}.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    exe = str(Path(sys.executable).parent / "enclii-iac")
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        proc = subprocess.run([exe, "validate", str(path)], capture_output=True, text=True, check=False)
        best = min(best, time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"validate failed: {proc.stderr[-2000:]}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--mixes", default="web,mixed")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind = args.child[0]
        result = (
            child_enclii(int(args.child[1]), args.child[2], args.child[3])
            if kind == "enclii"
            else child_plain(args.child[1])
        )
        print(json.dumps(result))
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for mix in args.mixes.split(","):
            for size in sizes:
                enclii_runs, plain_runs = [], []
                for r in range(args.repeat):
                    dump = str(tmp / f"{mix}-{size}-{r}.json")
                    enclii_runs.append(run_child("enclii", str(size), mix, dump))
                    plain_runs.append(run_child("plain", dump))
                e_t = min(x["seconds"] for x in enclii_runs)  # min of runs: least disturbed (like timeit)
                p_t = min(x["seconds"] for x in plain_runs)
                e_med = statistics.median(x["seconds"] for x in enclii_runs)
                p_med = statistics.median(x["seconds"] for x in plain_runs)
                e_m = statistics.median(x["maxrss_kb"] for x in enclii_runs)
                p_m = statistics.median(x["maxrss_kb"] for x in plain_runs)
                assert enclii_runs[0]["kubernetes"] == plain_runs[0]["kubernetes"], (enclii_runs[0], plain_runs[0])
                rows.append(
                    {
                        "mix": mix,
                        "services": size,
                        "k8s_resources": enclii_runs[0]["kubernetes"],
                        "enclii_s": round(e_t, 3),
                        "plain_s": round(p_t, 3),
                        "time_ratio": round(e_t / p_t, 3),
                        "enclii_rss_mb": round(e_m / 1024, 1),
                        "plain_rss_mb": round(p_m / 1024, 1),
                        "rss_ratio": round(e_m / p_m, 3),
                        "median_time_ratio": round(e_med / p_med, 3),
                        "enclii_ms_per_service": round(1000 * e_t / size, 2),
                    }
                )
        validate_s = time_validate(max(sizes), tmp)
    if args.json:
        print(
            json.dumps(
                {"rows": rows, "validate_seconds": round(validate_s, 3), "validate_services": max(sizes)}, indent=2
            )
        )
        return
    header = (
        "mix",
        "services",
        "k8s_resources",
        "enclii_s",
        "plain_s",
        "time_ratio",
        "median_time_ratio",
        "enclii_rss_mb",
        "plain_rss_mb",
        "rss_ratio",
        "enclii_ms_per_service",
    )
    print("  ".join(f"{h:>13}" for h in header))
    for row in rows:
        print("  ".join(f"{row[h]!s:>13}" for h in header))
    print(f"\nenclii-iac validate, {max(sizes)} services (mixed), best of 3: {validate_s:.3f} s (target <= 1 s)")
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()

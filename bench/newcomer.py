"""A newcomer's first minutes, timed: `make synth` on a fresh copy, and `enclii-iac synth stacks/production`.

1. ``synth`` (default): ``enclii-iac synth stacks/production --out <tmp>`` in a fresh process, as a user runs
   it after install, ``--repeat`` times; prints the fastest and the median wall time against the target
   (5 s on the 2-core development machine) and the phases the command reports on stderr.
2. ``--fresh``: copies the working tree (what ``git ls-files`` lists, uncommitted changes included; no
   .venv) to a temporary directory and runs the README's first command there, timing each step: by
   default the runtime-only install ``make synth`` should do (a venv, ``pip install -c
   requirements/runtime.lock -e .``, the synth), or ``--command 'make synth'`` for the Makefile as it is.
   Prints the wall time of each step and the size of the virtualenv. Needs network access to PyPI (or a
   warm pip cache).

    .venv/bin/python bench/newcomer.py                      # synth of production, 5 runs
    .venv/bin/python bench/newcomer.py --fresh              # runtime-only install + synth on a fresh copy
    .venv/bin/python bench/newcomer.py --fresh --command 'make synth'
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 5.0
RUNTIME_INSTALL = [
    "python3 -m venv .venv",
    ".venv/bin/python -m pip install -q --upgrade pip==26.3",
    ".venv/bin/python -m pip install -q -c requirements/runtime.lock -e .",
    ".venv/bin/enclii-iac synth stacks/production --out out/production --quiet",
]


def time_synth(repeat: int, exe: Path) -> dict[str, Any]:
    runs: list[float] = []
    cpu: list[float] = []
    phases: list[str] = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="enclii-newcomer-") as out:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run([str(exe), "synth", str(ROOT / "stacks" / "production"), "--out", out],
                                  capture_output=True, text=True, check=False)
            runs.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
            if proc.returncode != 0:
                raise SystemExit(f"synth failed:\n{proc.stderr}")
            phases = [ln for ln in proc.stderr.splitlines() if ln.startswith("synth: ")]
    return {"runs_s": [round(r, 2) for r in runs], "min_s": round(min(runs), 2),
            "median_s": round(statistics.median(runs), 2), "cpu_min_s": round(min(cpu), 2),
            "load_average": round(os.getloadavg()[0], 2), "target_s": TARGET_S, "phases": phases}


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def fresh(commands: list[str]) -> dict[str, Any]:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="enclii-fresh-") as tmp:
        copy = Path(tmp) / "enclii_iac"
        for name in filter(None, files):
            src = ROOT / name
            if src.is_file() and not name.startswith(("tools/engine/", "tests/engine/")):
                (copy / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, copy / name)
        total = time.perf_counter()
        for command in commands:
            start = time.perf_counter()
            proc = subprocess.run(["bash", "-c", command], cwd=copy, capture_output=True, text=True, check=False)
            steps.append({"command": command, "seconds": round(time.perf_counter() - start, 1),
                          "exit": proc.returncode})
            if proc.returncode != 0:
                steps[-1]["stderr"] = proc.stderr[-2000:]
                break
        venv = copy / ".venv"
        return {"steps": steps, "total_s": round(time.perf_counter() - total, 1),
                "venv_mb": round(_du(venv) / 2**20, 1) if venv.exists() else None,
                "checkov_venv": (copy / ".venv-checkov").exists()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="synth runs (default 5)")
    parser.add_argument("--fresh", action="store_true", help="time the first command on a fresh copy instead")
    parser.add_argument("--command", help="with --fresh: one shell command instead of the runtime-only install")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if args.fresh:
        result = fresh([args.command] if args.command else RUNTIME_INSTALL)
        text = "\n".join(f"{s['seconds']:7.1f} s  {s['command']}" + (f"  (exit {s['exit']})" if s["exit"] else "")
                         for s in result["steps"])
        text += f"\n{result['total_s']:7.1f} s  total; virtualenv {result['venv_mb']} MB"
        text += "; checkov venv created" if result["checkov_venv"] else ""
    else:
        exe = Path(sys.executable).parent / "enclii-iac"
        result = time_synth(args.repeat, exe)
        verdict = "within" if result["min_s"] <= TARGET_S else "above"
        text = (f"enclii-iac synth stacks/production: fastest {result['min_s']} s, median {result['median_s']} s "
                f"of {args.repeat} ({verdict} the {TARGET_S} s target); CPU {result['cpu_min_s']} s (user + sys, "
                f"what an idle machine's wall time comes close to); load average {result['load_average']}\n"
                + "\n".join(result["phases"]))
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

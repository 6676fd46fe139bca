"""Write requirements/runtime.lock: the runtime dependencies of enclii-iac only, at requirements/dev.lock's pins.

    .venv/bin/python tools/runtime_lock.py            # rewrite requirements/runtime.lock
    .venv/bin/python tools/runtime_lock.py --check    # exit 1 when it is stale

The closure is computed from the installed distributions' metadata (``Requires-Dist`` without extras), starting
from ``[project] dependencies`` of pyproject.toml; run it in a venv set up from requirements/dev.lock.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "runtime.lock"
HEADER = """\
# Runtime dependencies of enclii-iac only (pyproject's [project] dependencies and what they need), pinned to
# the versions of requirements/dev.lock; tests/unit/test_packaging.py keeps the two in agreement.
#   pip install -c requirements/runtime.lock .        (make synth; another project using the library)
# CPython 3.11 on Linux x86_64. Regenerate: see docs/contributing.md.
"""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure() -> dict[str, str]:
    """``{name: installed version}`` of every runtime dependency, transitively."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    env = {**default_environment(), "extra": ""}
    seen: dict[str, str] = {}
    todo = [Requirement(r) for r in project["dependencies"]]
    while todo:
        req = todo.pop()
        name = normalize(req.name)
        if name in seen:
            continue
        dist = metadata.distribution(req.name)
        seen[name] = dist.version
        for line in dist.requires or []:
            dep = Requirement(line)
            if dep.marker is None or dep.marker.evaluate(env):
                todo.append(dep)
    return dict(sorted(seen.items()))


def render() -> str:
    return HEADER + "".join(f"{name}=={version}\n" for name, version in runtime_closure().items())


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if LOCK.read_text(encoding="utf-8") != text:
            print(f"{LOCK.relative_to(ROOT)} is stale: run .venv/bin/python tools/runtime_lock.py", file=sys.stderr)
            return 1
        return 0
    LOCK.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Vendor the CRDs of the operators the platform-services layer installs into enclii_iac/services/crds/
(and k3s's helm-controller CRDs, which k3s brings itself, into tests/crds/ for the tests).

The charts are installed with their CRDs turned off; the CRDs of the pinned operator versions are declared
by Pulumi from this package data, so every tenant custom resource can depend on the CRD it needs. The
files come from the projects' Go modules (the only place the pinned CRDs are served here):

    PYTHONPATH=$PWD .venv/bin/python tools/vendor_crds.py            # go mod download + write the JSON files
    PYTHONPATH=$PWD .venv/bin/python tools/vendor_crds.py --check    # fail when a file differs from the modules

Descriptions are stripped (they are most of the bytes; the API server does not need them, only
`kubectl explain` does) and each CRD is written as compact, key-sorted JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from enclii_iac.services.versions import CRD_SOURCES, TEST_CRD_SOURCES

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = {ROOT / "enclii_iac" / "services" / "crds": CRD_SOURCES, ROOT / "tests" / "crds": TEST_CRD_SOURCES}


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's ``=`` value tag (a CRD enum lists the string ``=``)."""


_Loader.yaml_implicit_resolvers = {
    k: [r for r in v if r[0] != "tag:yaml.org,2002:value"] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def module_dir(module: str) -> Path:
    proc = subprocess.run(["go", "mod", "download", "-json", module], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"cannot fetch Go module {module}: {proc.stdout.strip() or proc.stderr.strip()}")
    return Path(json.loads(proc.stdout)["Dir"])


def rendered(sources: dict[str, tuple[str, ...]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for module, files in sources.items():
        base = module_dir(module)
        for rel in files:
            for doc in yaml.load_all((base / rel).read_text(), Loader=_Loader):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                doc = strip(doc)
                meta = {"name": doc["metadata"]["name"], "annotations": {"enclii.dev/source": module}}
                doc["metadata"] = meta
                out[f"{doc['metadata']['name']}.json"] = json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    status = 0
    for out, sources in OUTPUTS.items():
        files = rendered(sources)
        if args.check:
            stale = sorted(n for n, t in files.items() if not (out / n).exists() or (out / n).read_text() != t)
            extra = sorted(p.name for p in out.glob("*.json") if p.name not in files)
            if stale or extra:
                print(f"{out}: stale {stale}, extra {extra}; run tools/vendor_crds.py", file=sys.stderr)
                status = 1
            continue
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.json"):
            old.unlink()
        for name, text in files.items():
            (out / name).write_text(text)
        print(f"{len(files)} CRDs in {out.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Cost benchmark: ``enclii-iac cost`` on the production stack against ``enclii-iac synth``'s run alone.

Each repeat runs, in this process, the stack program under the recorder (``run_stack``, what synth and cost
share), then prices what it declared (``inventory_from_records`` + ``estimate``), and the budget path alone
(``inventory_from_spec`` + ``estimate``, what ``pulumi up`` adds before anything is declared). It prints the
fastest of ``--repeat`` runs of each, the whole command (synth run + pricing) and its ratio against the synth run
alone, measured in the same run. The target: pricing adds at most 2 s to the production stack.

    .venv/bin/python bench/cost_speed.py
    .venv/bin/python bench/cost_speed.py --repeat 1 --json
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stack-dir", default=str(ROOT / "stacks" / "production"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from enclii_iac.cost import estimate, inventory_from_records, inventory_from_spec
    from enclii_iac.stack import observe_settings
    from enclii_iac.synth import run_stack

    synth_s: list[float] = []
    price_s: list[float] = []
    spec_s: list[float] = []
    total = ""
    for _ in range(args.repeat):
        gc.collect()
        started = time.perf_counter()
        with observe_settings() as seen:
            result = run_stack(args.stack_dir)
        synth_s.append(time.perf_counter() - started)
        spec = seen[-1].spec
        started = time.perf_counter()
        bill = estimate(spec, inventory_from_records(result.records, spec))
        price_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        estimate(spec, inventory_from_spec(spec))
        spec_s.append(time.perf_counter() - started)
        total = f"{bill.total} {bill.currency}"
    best_synth, best_price, best_spec = min(synth_s), min(price_s), min(spec_s)
    report = {
        "stack": args.stack_dir,
        "resources": len(result.records),
        "total": total,
        "synthRunS": round(best_synth, 3),
        "pricingS": round(best_price, 3),
        "budgetPathS": round(best_spec, 3),
        "costCommandS": round(best_synth + best_price, 3),
        "ratioCostToSynth": round((best_synth + best_price) / best_synth, 3),
        "pricingTargetS": TARGET_S,
        "pricingWithinTarget": best_price <= TARGET_S,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"production stack: {report['resources']} resources, estimate {total}")
        print(f"  synth run alone          {best_synth:8.3f} s")
        print(f"  pricing (records)        {best_price:8.3f} s   (target <= {TARGET_S} s)")
        print(f"  budget path (spec)       {best_spec:8.3f} s")
        print(f"  cost command             {best_synth + best_price:8.3f} s   = {report['ratioCostToSynth']}x synth")
    return 0 if best_price <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())

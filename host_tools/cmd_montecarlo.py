"""`lander montecarlo SCENARIO.toml -n N`: dispersed runs of a scenario, with statistics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from host_tools import runs
from host_tools.errors import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", type=Path, help="scenario file (TOML)")
    p.add_argument("-n", type=int, default=100, help="number of dispersed runs (default 100)")
    p.add_argument("--seed", type=int, help="the campaign's base seed (default: the scenario's)")
    p.add_argument("--target", default="cpython",
                   help="cpython | vm | serial:PORT (default: cpython, the fastest)")
    p.add_argument("--workers", type=int, help="parallel processes (default: all cores)")
    p.add_argument("--out", type=Path, help="output directory (default: runs/<scenario>-montecarlo)")
    p.add_argument("--no-reference", action="store_true",
                   help="do not check the commands against the reference model")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")


def run(args: argparse.Namespace) -> int:
    from sim_harness.montecarlo import format_stats, run_montecarlo

    if args.n < 1:
        raise UsageError("-n must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    scenario = runs.load(args.scenario)
    runs.target(args.target).close()  # a bad target name or a missing VM: exit 2 now
    out = args.out or Path("runs") / f"{scenario.name}-montecarlo"
    stats = run_montecarlo(scenario, args.n, args.seed, args.target, args.workers, out_dir=out,
                           reference=not args.no_reference)
    if args.json:
        print(json.dumps(stats, indent=2, default=str))
    else:
        print(format_stats(stats))
        ref = stats.get("reference")
        if ref is not None:
            print(f"reference model: {ref['steps_compared']} steps compared, {ref['mismatches']} mismatches"
                  + (f"; first: {ref['first_mismatches'][0]}" if ref["first_mismatches"] else ""))
        print(f"wrote {out}/montecarlo.json, montecarlo.png, worst/*.toml")
    ok = stats["landed"] == stats["runs"] and (stats.get("reference") or {}).get("mismatches", 0) == 0
    return 0 if ok else 1

"""`lander montecarlo SCENARIO.toml -n N`: dispersed runs of a scenario, with statistics.

The output directory is checked and claimed (host_tools.outputs) before the first run."""

from __future__ import annotations

import argparse
import json
import os

from host_tools import outputs, runs

MAX_RUNS = 1_000_000  # -n
MAX_WORKERS = 256  # --workers


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", type=runs.path_arg, help="scenario file (TOML)")
    p.add_argument("-n", type=runs.count_arg(1, MAX_RUNS), default=100,
                   help=f"number of dispersed runs, 1 ..= {MAX_RUNS} (default 100)")
    p.add_argument("--seed", type=runs.seed_arg,
                   help="the campaign's base seed, 0 ..= 2^63 - 1 (default: the scenario's)")
    p.add_argument("--target", default="cpython",
                   help="cpython | vm | serial:PORT (default: cpython, the fastest)")
    p.add_argument("--workers", type=runs.count_arg(1, MAX_WORKERS),
                   help=f"parallel processes, 1 ..= {MAX_WORKERS} (default: all cores, at most one per run)")
    p.add_argument("--out", type=runs.path_arg,
                   help="output directory (default: runs/<scenario name>-montecarlo, the name made safe)")
    p.add_argument("--no-reference", action="store_true",
                   help="do not check the commands against the reference model")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")


def run(args: argparse.Namespace) -> int:
    from sim_harness.montecarlo import format_stats, run_montecarlo

    scenario = runs.load(args.scenario)
    out = args.out or runs.default_out(scenario.name, "-montecarlo")
    workers = min(args.workers or os.cpu_count() or 1, args.n)
    with outputs.claim(out):
        runs.target(args.target).close()  # a bad target name or a missing VM: exit 2 now
        stats = run_montecarlo(scenario, args.n, args.seed, args.target, workers, out_dir=out,
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

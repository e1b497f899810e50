"""`lander check [SCENARIO_DIR]`: fly a whole scenario library and print a table of outcomes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from host_tools import runs
from host_tools.errors import UsageError
from host_tools.paths import SCENARIOS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenarios", nargs="?", type=Path, default=SCENARIOS,
                   help="a directory of scenario files (default: the built-in library)")
    p.add_argument("--target", default="vm", help="cpython | vm | serial:PORT (default: vm)")
    p.add_argument("--out", type=Path, help="write each run's summary.json, log.csv (and plots) here")
    p.add_argument("--plots", action="store_true", help="with --out, also plot every run")
    p.add_argument("--no-reference", action="store_true",
                   help="do not check the commands against the reference model")


def run(args: argparse.Namespace) -> int:
    from sim_harness.library import check_library, format_table, scenario_files

    if not args.scenarios.is_dir():
        raise UsageError(f"{args.scenarios}: not a directory of scenarios")
    files = scenario_files(args.scenarios)
    if not files:
        raise UsageError(f"{args.scenarios}: no *.toml scenario files")
    for f in files:  # every file valid before anything flies
        runs.load(f)
    runs.target(args.target).close()  # a bad target name or a missing VM: exit 2 now

    def factory():
        return runs.target(args.target)

    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(files), unit="scenario", leave=False, file=sys.stderr)

    def progress(done: int, total: int, name: str) -> None:
        if bar is not None:
            bar.n = done
            bar.set_description(name)
            bar.refresh()

    rows = check_library(args.scenarios, factory, progress, target_name=args.target, out_dir=args.out,
                         plots=args.plots, reference=not args.no_reference)
    if bar is not None:
        bar.close()
    print(format_table(rows))
    return 0 if all(r["passed"] for r in rows) else 1

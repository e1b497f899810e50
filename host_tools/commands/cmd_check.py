"""`lander check [SCENARIO_DIR]`: fly a whole scenario library and print a table of outcomes."""

from __future__ import annotations

import argparse
import contextlib
import sys

from host_tools.base import outputs
from host_tools.base.errors import Interrupted, UsageError
from host_tools.base.paths import SCENARIOS
from host_tools.commands import runs

MAX_WORKERS = 64  # --workers


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenarios", nargs="?", type=runs.path_arg, default=SCENARIOS,
                   help="a directory of scenario files (default: the built-in library)")
    p.add_argument("--target", default="vm", help="cpython | vm | serial:PORT | pico-emu (default: vm)")
    p.add_argument("--workers", type=runs.count_arg(1, MAX_WORKERS), default=1,
                   help=f"targets flying at once, 1 ..= {MAX_WORKERS} (default 1): each opens its own VM "
                        f"or emulated Pico and takes the next scenario; a serial board flies alone")
    p.add_argument("--out", type=runs.path_arg,
                   help="write each run's summary.json, log.csv (and plots) in DIR/<scenario name>/")
    p.add_argument("--plots", action="store_true", help="with --out, also plot every run")
    p.add_argument("--no-reference", action="store_true",
                   help="do not check the commands against the reference model")


def run(args: argparse.Namespace) -> int:
    from sim_harness.library import run_dirs, scenario_files
    from sim_harness.scenario import ScenarioError

    try:
        is_dir = args.scenarios.is_dir()
        files = scenario_files(args.scenarios) if is_dir else []
    except OSError as e:
        raise UsageError(f"{str(args.scenarios)[:120]}: cannot use as a directory of scenarios: "
                         f"{e.strerror or e}") from None
    if not is_dir:
        raise UsageError(f"{args.scenarios}: not a directory of scenarios")
    if not files:
        raise UsageError(f"{args.scenarios}: no *.toml scenario files")
    workers = runs.workers(args.workers, args.target, len(files))
    scenarios = [runs.load(f) for f in files]  # every file valid before anything flies
    with contextlib.ExitStack() as claims:
        if args.out is not None:  # every output directory usable and ours before anything flies
            try:
                dirs = run_dirs(args.out, files, scenarios)
            except ScenarioError as e:
                raise UsageError(str(e)) from None
            claims.enter_context(outputs.claim(args.out))
            for d in dirs:
                claims.enter_context(outputs.claim(d))
        runs.target(args.target).close()  # a bad target name or a missing VM: exit 2 now
        return _run(args, len(files), workers)


def _run(args: argparse.Namespace, nfiles: int, workers: int) -> int:
    """Fly the library (the output directories, if any, already claimed)."""
    from sim_harness.closedloop import RunInterrupted
    from sim_harness.library import check_library, format_table

    def factory():
        return runs.target(args.target)

    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=nfiles, unit="scenario", leave=False, file=sys.stderr)

    def progress(done: int, total: int, name: str) -> None:
        if bar is not None:
            bar.n = done
            bar.set_description(name)
            bar.refresh()

    try:
        rows = check_library(args.scenarios, factory, progress, target_name=args.target, out_dir=args.out,
                             plots=args.plots, reference=not args.no_reference,
                             workers=workers)
    except RunInterrupted as e:
        if bar is not None:
            bar.close()
        done = getattr(e, "rows", [])
        if done:
            print(format_table(done))
        whole = sum(1 for r in done if not r["summary"].get("interrupted"))
        kept = f"; kept each run's files in {args.out}/" if args.out is not None else ""
        if args.out is not None and not args.no_reference:
            kept += " (not compared with the reference model: \"pending\" in their summaries)"
        raise Interrupted(f"interrupted in {e.result.scenario.name} {e.result.interrupted}, after "
                          f"{whole} whole runs{kept}") from None
    if bar is not None:
        bar.close()
    print(format_table(rows))
    return 0 if all(r["passed"] for r in rows) else 1

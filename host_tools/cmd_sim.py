"""`lander sim SCENARIO.toml`: one closed-loop descent, judged, logged and plotted."""

from __future__ import annotations

import argparse
from pathlib import Path

from host_tools import runs


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", type=Path, help="scenario file (TOML, docs/scenarios.md)")
    p.add_argument("--target", default="vm", help="cpython | vm | serial:PORT (default: vm)")
    p.add_argument("--out", type=Path, help="output directory (default: runs/<scenario name>)")
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--no-plot", action="store_true", help="skip plot.png")


def run(args: argparse.Namespace) -> int:
    from sim_harness.closedloop import run_scenario
    from sim_harness.report import verdict_line, write_run

    scenario = runs.load(args.scenario)
    if args.seed is not None:
        scenario.seed = args.seed
    out = args.out or Path("runs") / scenario.name
    bar = runs.progress_bar(scenario.duration_s, scenario.name)
    last = [0]

    def progress(t_s: float, _total: float) -> None:
        if bar is not None and int(t_s) > last[0]:
            bar.update(int(t_s) - last[0])
            last[0] = int(t_s)

    with runs.target(args.target) as target:
        target.hello()
        result = run_scenario(scenario, target, progress=progress, target_name=args.target)
    if bar is not None:
        bar.close()
    summary = write_run(result, out, plot=not args.no_plot)
    print(verdict_line(summary))
    print(f"wrote {out}/summary.json, log.csv" + ("" if args.no_plot else ", plot.png"))
    return 0 if summary["passed"] else 1

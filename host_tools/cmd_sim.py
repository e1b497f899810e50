"""`lander sim SCENARIO.toml`: one closed-loop descent, judged, logged and plotted."""

from __future__ import annotations

import argparse
from pathlib import Path

from host_tools import recording, runs
from host_tools.compare import CheckedTarget
from host_tools.telemetry import summarize_step_telemetry


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", type=Path, help="scenario file (TOML, docs/scenarios.md)")
    p.add_argument("--target", default="vm", help="cpython | vm | serial:PORT (default: vm)")
    p.add_argument("--out", type=Path, help="output directory (default: runs/<scenario name>)")
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--no-plot", action="store_true", help="skip plot.png")
    p.add_argument("--no-reference", action="store_true",
                   help="do not check the commands against the reference model")


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
        target.start_recording()
        flown = target if args.no_reference else CheckedTarget(target)
        result = run_scenario(scenario, flown, progress=progress, target_name=args.target)
        recording.write_target(out, target)
    if bar is not None:
        bar.close()
    summary = write_run(result, out, plot=not args.no_plot)
    print(verdict_line(summary))
    ref = summary["reference"]
    if not args.no_reference:
        print(f"reference model: {ref['steps_compared']} steps compared, {ref['mismatches']} mismatches"
              + (f"; first: {ref['first_mismatch']}" if ref.get("first_mismatch") else ""))
    print(summarize_step_telemetry(recording.read_commands(out / recording.COMMANDS_FILE)))
    plot = "" if args.no_plot else ", plot.png"
    print(f"wrote {out}/summary.json, log.csv, frames.bin, commands.bin{plot}")
    return 0 if summary["passed"] else 1


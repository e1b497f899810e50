"""`lander sim SCENARIO.toml`: one closed-loop descent, judged, logged and plotted.

The output directory is checked and claimed (host_tools.base.outputs) before the target is opened,
so an unusable or busy directory is refused before anything flies; every file is written
atomically. Ctrl-C ends the run and still writes what it flew (a partial log and summary,
`interrupted` set), then exits 130.
"""

from __future__ import annotations

import argparse

from host_tools.base import outputs
from host_tools.base.errors import Interrupted
from host_tools.commands import runs
from host_tools.link import recording
from host_tools.link.telemetry import summarize_step_telemetry
from host_tools.reference.compare import CheckedTarget


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", type=runs.path_arg, help="scenario file (TOML, docs/scenarios.md)")
    p.add_argument("--target", default="vm", help="cpython | vm | serial:PORT | pico-emu (default: vm)")
    p.add_argument("--out", type=runs.path_arg,
                   help="output directory (default: runs/<scenario name>, the name made safe)")
    p.add_argument("--seed", type=runs.seed_arg, help="override the scenario's seed (0 ..= 2^63 - 1)")
    p.add_argument("--no-plot", action="store_true", help="skip plot.png")
    p.add_argument("--no-reference", action="store_true",
                   help="do not check the commands against the reference model")


def run(args: argparse.Namespace) -> int:
    from sim_harness.closedloop import RunInterrupted, run_scenario
    from sim_harness.report import link_report, verdict_line, write_run

    scenario = runs.load(args.scenario)
    if args.seed is not None:
        scenario.seed = args.seed
    out = args.out or runs.default_out(scenario.name)
    with outputs.claim(out):
        bar = runs.progress_bar(scenario.duration_s, scenario.name)
        last = [0]

        def progress(t_s: float, _total: float) -> None:
            if bar is not None and int(t_s) > last[0]:
                bar.update(int(t_s) - last[0])
                last[0] = int(t_s)

        with runs.target(args.target) as target:
            target.start_recording()
            flown = target if args.no_reference else CheckedTarget(target)
            try:
                result = run_scenario(scenario, flown, progress=progress, target_name=args.target)
            except RunInterrupted as e:
                result = e.result
            recording.write_target(out, target)
        if bar is not None:
            bar.close()
        summary = write_run(result, out, plot=not args.no_plot and not result.interrupted)
        telemetry = summarize_step_telemetry(recording.read_commands(out / recording.COMMANDS_FILE))
    if result.interrupted:
        raise Interrupted(f"interrupted {result.interrupted}; kept the partial log and summary "
                          f"in {out}/")
    print(verdict_line(summary))
    ref = summary["reference"]
    if not args.no_reference:
        print(f"reference model: {ref['steps_compared']} steps compared, {ref['mismatches']} mismatches"
              + (f"; first: {ref['first_mismatch']}" if ref.get("first_mismatch") else ""))
    link = link_report(result)
    if link["rx_errors"] or link["frames_rejected"]:
        print(f"link: {link['rx_errors']} receive errors, {link['frames_rejected']} frames rejected by the "
              f"firmware over {link['steps_with_errors']} steps, first at t={link['first_error_t_s']:.2f} s "
              f"(the link's, not compared with the model)")
    print(telemetry)
    plot = "" if args.no_plot else ", plot.png"
    print(f"wrote {out}/summary.json, log.csv, frames.bin, commands.bin{plot}")
    return 0 if summary["passed"] else 1

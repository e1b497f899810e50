"""`lander montecarlo SCENARIO.toml -n N`: dispersed runs of a scenario, with statistics.

The output directory is checked and claimed (host_tools.base.outputs) before the first run. The runs
fly on a Dask cluster (sim_harness.cluster): a local one, or the scheduler `--scheduler` names;
each run's result is kept in OUT/runs/ as it comes back, and `--resume` flies only the rest."""

from __future__ import annotations

import argparse
import json
import sys

from host_tools.base import outputs
from host_tools.base.errors import Interrupted, UsageError
from host_tools.commands import runs

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
                   help=f"worker processes of the local cluster, 1 ..= {MAX_WORKERS} (default: all cores, "
                        f"at most one per run)")
    add_cluster_arguments(p, "run")
    p.add_argument("--out", type=runs.path_arg,
                   help="output directory (default: runs/<scenario name>-montecarlo, the name made safe)")
    p.add_argument("--no-reference", action="store_true",
                   help="do not check the commands against the reference model")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")


def add_cluster_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """--scheduler and --resume (montecarlo and campaign)."""
    p.add_argument("--scheduler", metavar="ADDRESS", type=scheduler_arg,
                   help="a running Dask scheduler to fly on, e.g. tcp://10.0.0.5:8786 (default: a local "
                        "cluster on this machine's cores)")
    p.add_argument("--resume", action="store_true",
                   help=f"complete a stopped campaign in --out: keep each {what} it finished (OUT/runs/), "
                        f"fly the rest")


def scheduler_arg(text: str) -> str:
    """--scheduler: a Dask address, [tcp://|tls://]host:port."""
    if not text or "\x00" in text or len(text) > 300 or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"not a scheduler address: {text[:60]!r}")
    rest = text.split("://", 1)[1] if "://" in text else text
    if "://" in text and text.split("://", 1)[0] not in ("tcp", "tls", "ws", "wss", "inproc", "ucx"):
        raise argparse.ArgumentTypeError(f"not a scheduler address (tcp://, tls://...): {text[:60]!r}")
    if not rest:
        raise argparse.ArgumentTypeError(f"not a scheduler address: {text[:60]!r}")
    return text


def check_cluster_options(args: argparse.Namespace) -> None:
    if args.scheduler and args.workers:
        raise UsageError("--workers sizes the local cluster; with --scheduler the runs fly on the workers "
                         "that joined that scheduler")


def interrupted(out) -> Interrupted:
    """Ctrl-C: what was kept, and the command that completes the campaign."""
    import shlex

    argv = [a for a in sys.argv[1:] if a != "--resume"]
    command = "lander " + " ".join(shlex.quote(a) for a in argv) + " --resume"
    return Interrupted(f"interrupted; each run finished is kept in {out}/runs/, and `{command[:300]}` "
                       f"completes the campaign")


def run(args: argparse.Namespace) -> int:
    from sim_harness.montecarlo import format_stats, run_montecarlo

    check_cluster_options(args)
    scenario = runs.load(args.scenario)
    out = args.out or runs.default_out(scenario.name, "-montecarlo")
    workers = runs.workers(args.workers, args.target, args.n)
    with outputs.claim(out):
        runs.target(args.target).close()  # a bad target name or a missing VM: exit 2 now
        try:
            stats = run_montecarlo(scenario, args.n, args.seed, args.target, workers, out_dir=out,
                                   reference=not args.no_reference, progress=sys.stdout.isatty(),
                                   scheduler=args.scheduler, resume=args.resume)
        except KeyboardInterrupt:
            raise interrupted(out) from None
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

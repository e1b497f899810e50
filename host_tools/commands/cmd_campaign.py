"""`lander campaign [-n N] [--seed S] [--velocimeter]`: a random fault campaign, screened by the truth pilot.

The output directory is checked and claimed (host_tools.base.outputs) before the first run. The cases
fly on a Dask cluster like Monte Carlo's (host_tools.commands.cmd_montecarlo: --scheduler, --resume)."""

from __future__ import annotations

import argparse
import json
import sys

from host_tools.base import outputs
from host_tools.commands import runs
from host_tools.commands.cmd_montecarlo import add_cluster_arguments, check_cluster_options, interrupted

MAX_CASES = 1_000_000  # -n
MAX_WORKERS = 256  # --workers


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", type=runs.count_arg(1, MAX_CASES), default=100,
                   help=f"number of fault cases to fly, 1 ..= {MAX_CASES} (default 100)")
    p.add_argument("--seed", type=runs.seed_arg, default=1,
                   help="the campaign's base seed, 0 ..= 2^63 - 1 (default 1)")
    p.add_argument("--target", default="vm",
                   help="vm | cpython | serial:PORT (default: vm; cpython is faster)")
    p.add_argument("--workers", type=runs.count_arg(1, MAX_WORKERS),
                   help=f"worker processes of the local cluster, 1 ..= {MAX_WORKERS} (default: all cores, "
                        f"at most one per case)")
    add_cluster_arguments(p, "case")
    p.add_argument("--out", type=runs.path_arg, help="output directory (default: runs/campaign-<seed>)")
    p.add_argument("--no-reference", action="store_true",
                   help="do not check the commands against the reference model")
    p.add_argument("--velocimeter", action="store_true",
                   help="fit every case with the default Doppler velocimeter and draw velocimeter faults "
                        "(every kind, on one beam or the whole unit) as a class of their own")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")


def run(args: argparse.Namespace) -> int:
    from sim_harness.campaign import format_campaign, run_campaign

    check_cluster_options(args)
    out = args.out or runs.default_out(f"campaign-{args.seed}")
    workers = runs.workers(args.workers, args.target, args.n)
    with outputs.claim(out):
        runs.target(args.target).close()  # a bad target name or a missing VM: exit 2 now
        try:
            stats = run_campaign(args.n, args.seed, args.target, workers, out_dir=out,
                                 progress=sys.stdout.isatty(), reference=not args.no_reference,
                                 scheduler=args.scheduler, resume=args.resume, velocimeter=args.velocimeter)
        except KeyboardInterrupt:
            raise interrupted(out) from None
    if args.json:
        print(json.dumps(stats, indent=2, default=str))
    else:
        print(format_campaign(stats))
        print(f"wrote {out}/campaign.json, campaign.png" + (", failing/*.toml" if stats["failing"] else ""))
    ok = not stats["failing"] and (stats.get("reference") or {}).get("mismatches", 0) == 0
    return 0 if ok else 1

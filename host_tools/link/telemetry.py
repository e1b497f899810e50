"""What the board says about itself in every COMMAND frame: its step time and free heap."""

from __future__ import annotations

import math
from collections.abc import Sequence

from host_tools.link.wire import Command


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by the nearest-rank method; values need not be sorted."""
    if not values:
        raise ValueError("`values` must not be empty.")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100.0 * len(ordered))))
    return float(ordered[rank - 1])


def step_stats(commands: Sequence[Command]) -> dict[str, float | int | None]:
    """p50/p99/max of step_us, and the free heap's minimum and last value."""
    if not commands:
        return {"steps": 0, "step_us_p50": None, "step_us_p99": None, "step_us_max": None,
                "heap_free_min": None, "heap_free_last": None}
    us = [c.step_us for c in commands]
    heap = [c.heap_free for c in commands]
    return {"steps": len(commands), "step_us_p50": percentile(us, 50), "step_us_p99": percentile(us, 99),
            "step_us_max": max(us), "heap_free_min": min(heap), "heap_free_last": heap[-1]}


def summarize_step_telemetry(commands: Sequence[Command]) -> str:
    """One line for the end of a run: the board's own step time and free heap."""
    s = step_stats(commands)
    if not s["steps"]:
        return "step time: no COMMAND frames"
    heap = (f"free heap min {s['heap_free_min']} B, last {s['heap_free_last']} B"
            if s["heap_free_min"] else "free heap not reported")
    return (f"step time (board's ticks_us) p50 {s['step_us_p50']:.0f} us, p99 {s['step_us_p99']:.0f} us, "
            f"max {s['step_us_max']} us over {s['steps']} steps; {heap}")

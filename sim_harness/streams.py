"""Random streams: deterministic from the scenario seed, drawn by numpy in blocks.

`sensor_streams(seed)` gives one independent SeedSequence per stream name (SeedSequence spawn),
so adding a fault or changing one sensor never changes another sensor's noise. `Stream` hands
out plain Python floats from blocks drawn by numpy: the per-frame path stays in plain Python.
"""

from __future__ import annotations

import numpy as np

# New names go at the end: a SeedSequence's i-th child does not depend on how many are spawned,
# so the existing streams stay the same.
STREAM_NAMES = ("radar", "lrf", "imu", "attitude", "contact", "radar_faults", "lrf_faults",
                "imu_faults", "attitude_faults", "velocimeter", "velocimeter_faults")


def sensor_streams(seed: int) -> dict[str, np.random.SeedSequence]:
    """One independent SeedSequence per name of STREAM_NAMES, from the scenario seed."""
    children = np.random.SeedSequence(seed).spawn(len(STREAM_NAMES))
    return dict(zip(STREAM_NAMES, children, strict=True))


class Stream:
    """Standard normal (kind "normal") or uniform [0, 1) ("uniform") draws as plain floats."""

    __slots__ = ("_rng", "_kind", "_block", "_buf", "_i")

    def __init__(self, seed_seq, kind: str = "normal", block: int = 4096):
        self._rng = np.random.default_rng(seed_seq)
        self._kind = kind
        self._block = block
        self._buf: list[float] = []
        self._i = 0

    def next(self) -> float:
        i = self._i
        if i >= len(self._buf):
            if self._kind == "normal":
                self._buf = self._rng.standard_normal(self._block).tolist()
            else:
                self._buf = self._rng.random(self._block).tolist()
            i = 0
        self._i = i + 1
        return self._buf[i]

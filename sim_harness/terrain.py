"""Terrain: a piecewise-linear height profile h(x), flat beyond both ends.

`height(x)` is the terrain height [m] above the datum at downrange `x` [m].
`ray_range(x, z, angle)` is the slant range [m] from the point (x, z) along a beam tilted
`angle` from straight down (direction (sin angle, -cos angle)) to its first intersection with
the profile, or `math.inf` when the beam never meets the ground (|angle| >= pi/2). An
altimeter's beam is the thrust axis pointing down (angle = pitch); a velocimeter beam canted
alpha from the thrust axis has angle = pitch + alpha. The ray walk visits the segments in the
beam's direction one by one, so cliffs (steep segments) of any height are met where the beam
first touches them.

Scalar plain-float code on purpose: it runs once per sensor sample inside the control loop.
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np


class Terrain:
    def __init__(self, xs, hs):
        if len(xs) != len(hs) or not xs:
            raise ValueError("xs and hs must be non-empty and of equal length")
        self.xs = [float(x) for x in xs]  # [m] breakpoints, strictly increasing
        self.hs = [float(h) for h in hs]  # [m] heights at the breakpoints
        for a, b in zip(self.xs, self.xs[1:], strict=False):
            if not b > a:
                raise ValueError("terrain x must increase strictly")
        n = len(self.xs)
        # slope of each segment i (between xs[i] and xs[i+1])
        self._slope = [(self.hs[i + 1] - self.hs[i]) / (self.xs[i + 1] - self.xs[i]) for i in range(n - 1)]

    def __eq__(self, other) -> bool:
        return isinstance(other, Terrain) and self.xs == other.xs and self.hs == other.hs

    def __repr__(self) -> str:
        return f"Terrain({len(self.xs)} points, x {self.xs[0]:g}..{self.xs[-1]:g} m)"

    @classmethod
    def flat(cls, height: float = 0.0) -> Terrain:
        return cls([0.0], [height])

    def height(self, x: float) -> float:
        """[m] terrain height at downrange x [m]."""
        xs = self.xs
        if x <= xs[0]:
            return self.hs[0]
        if x >= xs[-1]:
            return self.hs[-1]
        i = bisect_right(xs, x) - 1
        return self.hs[i] + self._slope[i] * (x - xs[i])

    def ray_range(self, x: float, z: float, angle: float) -> float:
        """[m] slant range from (x, z) along (sin angle, -cos angle) to the terrain, or inf.

        `angle` [rad] is the beam's tilt from straight down, positive toward +x: the pitch for
        an altimeter, pitch + alpha for a beam canted alpha from the thrust axis.
        A point at or under the terrain gives 0.
        """
        c = math.cos(angle)
        s = math.sin(angle)
        gap = z - self.height(x)
        if gap <= 0.0:
            return 0.0
        if c <= 1e-9:
            return math.inf
        xs, hs = self.xs, self.hs
        if abs(s) < 1e-12 or len(xs) == 1:
            # vertical beam (tilted so little that the next breakpoint is beyond 1e12 m and
            # the march below would overflow), or flat ground everywhere
            return gap / c
        # Walk the breakpoints ahead of the beam in its horizontal direction. At breakpoint u
        # the beam has travelled r = (u - x) / s and its gap to the ground is
        # g = z - r c - h(u); g is linear in r between breakpoints, so the first sign change
        # brackets the hit.
        r0, g0 = 0.0, gap
        if s > 0.0:
            i = bisect_right(xs, x)  # first breakpoint strictly ahead
            step = 1
        else:
            i = bisect_right(xs, x) - 1
            if i >= 0 and xs[i] == x:
                i -= 1  # the breakpoint under the lander is not ahead
            step = -1
        n = len(xs)
        while 0 <= i < n:
            r1 = (xs[i] - x) / s
            g1 = z - r1 * c - hs[i]
            if g1 <= 0.0:
                return r0 + (r1 - r0) * g0 / (g0 - g1)
            r0, g0 = r1, g1
            i += step
        # beyond the last breakpoint the ground is flat at the end height
        return r0 + g0 / c


class VecTerrain:
    """sim_harness.terrain for many points: height and the beam's range (the same geometry)."""

    def __init__(self, terrain) -> None:
        self.xs = np.array(terrain.xs, dtype=float)
        self.hs = np.array(terrain.hs, dtype=float)

    def height(self, x: np.ndarray) -> np.ndarray:
        return np.interp(x, self.xs, self.hs)

    def ray_range(self, x: np.ndarray, z: np.ndarray, pitch: np.ndarray) -> np.ndarray:
        c, s = np.cos(pitch), np.sin(pitch)
        gap = z - self.height(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            best = np.where(c > 1e-9, gap / c, np.inf) if len(self.xs) == 1 else np.full_like(x, np.inf)
            if len(self.xs) > 1:
                # every segment, and the flat extensions beyond both ends, as lines h = a + b x
                xs, hs = self.xs, self.hs
                lo = np.concatenate(([-np.inf], xs))
                hi = np.concatenate((xs, [np.inf]))
                slope = np.concatenate(([0.0], np.diff(hs) / np.diff(xs), [0.0]))
                base_x = np.concatenate(([xs[0]], xs))
                base_h = np.concatenate(([hs[0]], hs))
                for k in range(len(lo)):
                    # beam point: (x + r s, z - r c); meets the line where
                    # z - r c = base_h + slope (x + r s - base_x)
                    den = c + slope[k] * s
                    r = (z - base_h[k] - slope[k] * (x - base_x[k])) / den
                    xh = x + r * s
                    hit = (den > 0) & (r >= 0) & (xh >= lo[k] - 1e-9) & (xh <= hi[k] + 1e-9)
                    best = np.where(hit & (r < best), r, best)
        return np.where(gap <= 0.0, 0.0, best)

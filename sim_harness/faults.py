"""Fault injection: the scenario's [[fault]] entries applied to a sensor's output.

A fault is active for start_s <= t < end_s (end_s absent: to the end of the run). The faults
of one sensor act on each of its samples in the order of the file. Altimeter faults act on the
reading of each sample (a sample that is invalid stays invalid and reads 0), except `dropout`,
`stuck` and `delay`, which also decide validity:

- dropout: altimeter: no samples, valid and new flags clear; imu: both axes read NaN.
- stuck: altimeter: reads its last output before start_s, flagged valid, with new flags at its
  rate (no valid output yet: the first valid reading inside the window is frozen); imu: both
  axes frozen at their last output.
- bias: altimeter reading + value [m]; imu axial + value [m/s^2].
- drift: altimeter reading + value * (t - start_s) [value in m/s]; imu axial likewise [m/s^3].
- spike: each sample is an outlier with probability 1 / rate_hz (one per second on average):
  reading + value or - value, random sign [m]; imu: the axial channel, same rule at its rate.
- noise: altimeter reading + N(0, value) [m]; imu both axes + N(0, value) [m/s^2].
- delay: the healthy sample taken value seconds earlier [s], with its validity (none that
  old yet: invalid); imu: both axes from value seconds earlier.
- scale: altimeter reading * value; imu both axes * value.

Attitude (the pitch reading of the IMU, sensor `attitude`; the accelerometer faults leave it
alone) takes every kind, in radians: dropout (reads NaN), stuck (frozen at its last output),
bias (+ value [rad]), drift (+ value * (t - start_s) [rad/s]), spike (one sample in rate_hz is
off by +-value [rad]), noise (+ N(0, value) [rad]), delay (the reading value seconds earlier)
and scale (reading * value). A saturated rate channel (Schiaparelli, 2016) is a drift over the
saturation followed by a bias of what it integrated: two entries.

Contact (a switch) takes dropout (reads open), stuck (value 1: reads closed from start_s, the
Mars Polar Lander latch; otherwise frozen at its last output), spike (reads closed for one frame
at start_s and then every `value` seconds until end_s; value 0: a single pulse) and delay (the
switch as it was value seconds earlier).

Velocimeter (sensor `velocimeter`): each beam's readings take every kind with the altimeter's
semantics above, in m/s (bias m/s, drift m/s per s, spike m/s, noise sigma m/s, delay s, scale
factor); the spike probability is 1 / the velocimeter's rate_hz. `beam = "a"` or `"b"` puts
the fault on that beam alone; without it the fault acts on each beam (the whole unit), with
independent draws per beam for spike and noise. Each beam is an AltimeterFaults of its own.

Random draws (spike, noise) come from one stream per fault, seeded from the scenario seed.
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

from sim_harness.scenario import Fault
from sim_harness.streams import Stream

_EPS = 1e-9  # [s] tolerance on window edges (frame times are k / rate)


class _Active:
    """One fault with its window, random streams and state."""

    def __init__(self, fault: Fault, seed_seq):
        self.kind = fault.kind
        self.start = fault.start_s  # [s]
        self.end = math.inf if fault.end_s is None else fault.end_s  # [s]
        self.value = fault.value
        self.normal = Stream(seed_seq.spawn(1)[0])
        self.uniform = Stream(seed_seq.spawn(1)[0], kind="uniform")
        self.frozen = None  # stuck: the frozen output
        self.next_pulse = self.start  # contact spike: time of the next pulse [s]

    def on(self, t: float) -> bool:
        return self.start - _EPS <= t < self.end - _EPS


def _seeds(faults: list[Fault], seed_seq) -> list:
    return seed_seq.spawn(len(faults)) if seed_seq is not None else \
        np.random.SeedSequence(0).spawn(len(faults))


class _History:
    """Time-stamped healthy samples, for the delay fault."""

    def __init__(self):
        self.t: list[float] = []
        self.v: list = []

    def add(self, t: float, v) -> None:
        self.t.append(t)
        self.v.append(v)

    def at(self, t: float):
        """The latest sample taken at or before t, or None."""
        i = bisect_right(self.t, t + _EPS) - 1
        return self.v[i] if i >= 0 else None


class AltimeterFaults:
    def __init__(self, faults: list[Fault], seed_seq, rate_hz: float):
        self.faults = [_Active(f, s) for f, s in zip(faults, _seeds(faults, seed_seq), strict=True)]
        self.spike_p = min(1.0, 1.0 / rate_hz)  # [1] probability that a sample is a spike
        self.history = _History() if any(f.kind == "delay" for f in self.faults) else None
        self.out = (0.0, False)  # the last output (reading, valid)
        self._dropouts = [f for f in self.faults if f.kind == "dropout"]

    def dropped(self, t: float) -> bool:
        for f in self._dropouts:
            if f.on(t):
                return True
        return False

    def on_sample(self, t: float, reading: float, valid: bool) -> tuple[float, bool]:
        if self.history is not None:
            self.history.add(t, (reading, valid))
        for f in self.faults:
            if not f.on(t):
                continue
            k = f.kind
            if k == "dropout":
                reading, valid = 0.0, False
            elif k == "stuck":
                if f.frozen is None:
                    if self.out[1]:
                        f.frozen = self.out[0]
                    elif valid:
                        f.frozen = reading
                if f.frozen is not None:
                    reading, valid = f.frozen, True
            elif k == "delay":
                old = self.history.at(t - f.value)
                reading, valid = old if old is not None else (0.0, False)
            elif not valid:
                continue
            elif k == "bias":
                reading += f.value
            elif k == "drift":
                reading += f.value * (t - f.start)
            elif k == "spike":
                u = f.uniform.next()
                sign = 1.0 if f.uniform.next() < 0.5 else -1.0
                if u < self.spike_p:
                    reading += sign * f.value
            elif k == "noise":
                reading += f.value * f.normal.next()
            elif k == "scale":
                reading *= f.value
        self.out = (reading, valid)
        return reading, valid


class ImuFaults:
    def __init__(self, faults: list[Fault], seed_seq, rate_hz: float):
        self.faults = [_Active(f, s) for f, s in zip(faults, _seeds(faults, seed_seq), strict=True)]
        self.spike_p = min(1.0, 1.0 / rate_hz)
        self.history = _History() if any(f.kind == "delay" for f in self.faults) else None
        self.out = None  # the last output (f_axial, f_lateral)

    def on_sample(self, t: float, fa: float, fl: float) -> tuple[float, float]:
        if self.history is not None:
            self.history.add(t, (fa, fl))
        for f in self.faults:
            if not f.on(t):
                continue
            k = f.kind
            if k == "dropout":
                fa, fl = math.nan, math.nan
            elif k == "stuck":
                if f.frozen is None:
                    f.frozen = self.out if self.out is not None else (fa, fl)
                fa, fl = f.frozen
            elif k == "delay":
                old = self.history.at(t - f.value)
                if old is not None:
                    fa, fl = old
            elif k == "bias":
                fa += f.value
            elif k == "drift":
                fa += f.value * (t - f.start)
            elif k == "spike":
                u = f.uniform.next()
                sign = 1.0 if f.uniform.next() < 0.5 else -1.0
                if u < self.spike_p:
                    fa += sign * f.value
            elif k == "noise":
                fa += f.value * f.normal.next()
                fl += f.value * f.normal.next()
            elif k == "scale":
                fa *= f.value
                fl *= f.value
        self.out = (fa, fl)
        return fa, fl


class AttitudeFaults:
    """Faults of the attitude (pitch) reading, one sample per control frame."""

    def __init__(self, faults: list[Fault], seed_seq, rate_hz: float):
        self.faults = [_Active(f, s) for f, s in zip(faults, _seeds(faults, seed_seq), strict=True)]
        self.spike_p = min(1.0, 1.0 / rate_hz)
        self.history = _History() if any(f.kind == "delay" for f in self.faults) else None
        self.out = None  # the last output [rad]

    def on_sample(self, t: float, pitch: float) -> float:
        if self.history is not None:
            self.history.add(t, pitch)
        for f in self.faults:
            if not f.on(t):
                continue
            k = f.kind
            if k == "dropout":
                pitch = math.nan
            elif k == "stuck":
                if f.frozen is None:
                    f.frozen = self.out if self.out is not None else pitch
                pitch = f.frozen
            elif k == "delay":
                old = self.history.at(t - f.value)
                if old is not None:
                    pitch = old
            elif k == "bias":
                pitch += f.value
            elif k == "drift":
                pitch += f.value * (t - f.start)
            elif k == "spike":
                u = f.uniform.next()
                sign = 1.0 if f.uniform.next() < 0.5 else -1.0
                if u < self.spike_p:
                    pitch += sign * f.value
            elif k == "noise":
                pitch += f.value * f.normal.next()
            elif k == "scale":
                pitch *= f.value
        self.out = pitch
        return pitch


class ContactFaults:
    def __init__(self, faults: list[Fault]):
        self.faults = [_Active(f, np.random.SeedSequence(0)) for f in faults]
        self.history = _History() if any(f.kind == "delay" for f in self.faults) else None
        self.out = False

    def on_sample(self, t: float, closed: bool) -> bool:
        if self.history is not None:
            self.history.add(t, closed)
        for f in self.faults:
            if not f.on(t):
                continue
            k = f.kind
            if k == "dropout":
                closed = False
            elif k == "stuck":
                if f.frozen is None:
                    f.frozen = True if f.value == 1.0 else self.out
                closed = f.frozen
            elif k == "delay":
                old = self.history.at(t - f.value)
                closed = bool(old) if old is not None else False
            elif k == "spike":
                if t >= f.next_pulse - _EPS:
                    closed = True
                    f.next_pulse = f.next_pulse + f.value if f.value > 0.0 else math.inf
        self.out = closed
        return closed

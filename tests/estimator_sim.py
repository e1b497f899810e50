"""A small sensor simulator for the estimator tests (the way PX4's EKF tests drive the filter).

A truth trajectory in the vertical plane (a lander braking toward a vertical-speed profile,
pitched to null its horizontal speed), a terrain profile, and the sensors the harness
models: accelerometers at the control rate with bias and noise, attitude with noise, radar
(20 Hz, 0.5 m + 0.3 %, 1 m .. 15 km) and laser range finder (10 Hz, 0.1 m + 0.05 %, .. 3 km),
with per-sample fault functions. Deterministic from the seed; pure Python (random.Random).

`frames()` returns one tuple per control step:
    (t_s, dt, f_axial, f_lateral, pitch, flags, radar_range, lrf_range, truth)
where truth is a dict with agl, z, vz, vx and terrain at t_s.
"""

from __future__ import annotations

import math
import random

RADAR_VALID, RADAR_NEW, LRF_VALID, LRF_NEW, CONTACT = 1, 2, 4, 8, 16
RADAR_BAD, LRF_BAD = 32, 64
G = 1.62


class Prior:
    def __init__(self, **kw):
        self.t_us = 0
        self.z, self.z_sigma = 2000.0, 50.0
        self.vz, self.vz_sigma = -40.0, 1.0
        self.vx, self.vx_sigma = 20.0, 1.0
        self.terrain, self.terrain_sigma = 0.0, 100.0
        self.mass, self.dry_mass, self.max_thrust = 540.0, 340.0, 1600.0
        self.isp, self.min_throttle, self.engine_tau = 310.0, 0.1, 0.15
        self.beam_cant = 0.35  # [rad] the velocimeter's beams (INIT, docs/protocol.md)
        for k, v in kw.items():
            setattr(self, k, v)


def flat(_x):
    return 0.0


def step_terrain(x_step, before, after):
    """A sharp cliff at x_step: terrain `before` for x < x_step, `after` beyond."""
    return lambda x: before if x < x_step else after


class Sim:
    def __init__(self, seed=1, z0=2000.0, vz0=-40.0, vx0=20.0, x0=0.0, terrain=flat, rate=50.0,
                 accel_bias=0.003, accel_noise=0.004, pitch_noise=0.002, radar=True, lrf=True,
                 radar_fault=None, lrf_fault=None, imu_fault=None, acquire_below=None,
                 vz_floor=-1.0):
        self.rng = random.Random(seed)
        self.z, self.vz, self.vx, self.x = z0, vz0, vx0, x0
        self.terrain = terrain
        self.dt = 1.0 / rate
        self.accel_bias, self.accel_noise, self.pitch_noise = accel_bias, accel_noise, pitch_noise
        self.fit = {"radar": radar, "lrf": lrf}
        self.fault = {"radar": radar_fault, "lrf": lrf_fault}
        self.imu_fault = imu_fault
        self.acquire_below = acquire_below  # [m] no valid range until the true range falls below
        self.acquired = acquire_below is None
        self.vz_floor = vz_floor  # [m/s] slowest descent of the profile
        self.last = {"radar": (0.0, False), "lrf": (0.0, False)}
        self.last_j = {"radar": 0, "lrf": 0}
        self.t = 0.0
        self.pitch = 0.0

    def agl(self):
        return self.z - self.terrain(self.x)

    def _altimeter(self, name, rate_hz, sigma0, frac, rmax):
        """(reading, valid, new) for this frame: a sample at each multiple of 1 / rate_hz,
        delivered in the first frame at or after it (as the harness does)."""
        if not self.fit[name]:
            return 0.0, False, False
        j = math.floor(self.t * rate_hz + 1e-9)
        if j <= self.last_j[name]:
            r, v = self.last[name]
            return r, v, False
        self.last_j[name] = j
        c = math.cos(self.pitch)
        r_true = self.agl() / c
        if self.acquire_below is not None and r_true < self.acquire_below:
            self.acquired = True
        valid = self.acquired and 1.0 <= r_true <= rmax
        r = r_true + (sigma0 + frac * r_true) * self.rng.gauss(0.0, 1.0) if valid else 0.0
        f = self.fault[name]
        if f is not None:
            r, valid = f(self.t, r, valid, r_true)
        self.last[name] = (r, valid)
        return r, valid, True

    def frames(self, duration):
        out = []
        n = int(round(duration / self.dt))
        for k in range(1, n + 1):
            dt = self.dt
            # guidance of the truth: track a vertical-speed profile, null vx with pitch
            agl = self.agl()
            vz_ref = max(-0.05 * agl - 1.0, -60.0)
            vz_ref = min(vz_ref, self.vz_floor)
            az_cmd = G + 0.5 * (vz_ref - self.vz)
            pitch = max(-0.4, min(0.4, 0.05 * self.vx))
            self.pitch += 0.2 * (pitch - self.pitch)
            c, s = math.cos(self.pitch), math.sin(self.pitch)
            f = max(0.5, min(4.7, az_cmd / c))
            ax, az = -f * s, f * c - G
            self.x += (self.vx + 0.5 * ax * dt) * dt
            self.z += (self.vz + 0.5 * az * dt) * dt
            self.vx += ax * dt
            self.vz += az * dt
            self.t = k * dt
            fa = f + self.accel_bias + self.accel_noise * self.rng.gauss(0.0, 1.0)
            fl = self.accel_noise * self.rng.gauss(0.0, 1.0)
            if self.imu_fault is not None:
                fa = self.imu_fault(self.t, fa)
            pm = self.pitch + self.pitch_noise * self.rng.gauss(0.0, 1.0)
            rr, rv, rn = self._altimeter("radar", 20.0, 0.5, 0.003, 15000.0)
            lr, lv, ln = self._altimeter("lrf", 10.0, 0.1, 0.0005, 3000.0)
            flags = 0
            if rv:
                flags |= RADAR_VALID | (RADAR_NEW if rn else 0)
            if lv:
                flags |= LRF_VALID | (LRF_NEW if ln else 0)
            truth = {"agl": self.agl(), "z": self.z, "vz": self.vz, "vx": self.vx,
                     "terrain": self.terrain(self.x)}
            out.append((self.t, dt, fa, fl, pm, flags, rr if rv else 0.0, lr if lv else 0.0, truth))
            if self.agl() < 2.0:
                break
        return out


def run(est, prior, frames, every=1):
    """Drive an Estimator with frames, on the flight core's schedule (a frame, and a cycle
    when the core's clock says one is due); returns a list of per-step records."""
    from flight.core import CycleClock

    est.reset(prior)
    clock = CycleClock()
    rows = []
    last_us = 0
    for i, (t, dt, fa, fl, pm, flags, rr, lr, truth) in enumerate(frames):
        t_us = round(t * 1e6)
        est.frame(dt, fa, fl, pm, flags, rr, lr, t_us, 0, 0.0, 0.0)  # no velocimeter sample
        if clock.due(t_us, t_us - last_us):
            est.aid(t_us, False)
            est.cycle(t_us * 1e-6, t_us, clock.dt)
        else:
            est.aid(t_us, True)
        last_us = t_us
        if i % every == 0:
            rows.append({"t": t, "agl": est.agl, "agl_sigma": est.agl_sigma, "vz": est.vz, "vx": est.vx,
                         "z": est.z, "terrain": est.terrain, "aiding": est.aiding,
                         "radar": (est.radar.health, est.radar.reason),
                         "lrf": (est.lrf.health, est.lrf.reason), "truth": truth})
    return rows


# fault functions: f(t, reading, valid, true_range) -> (reading, valid)
def stuck(start):
    held = {}

    def f(t, r, v, rt):
        if t < start:
            held["r"] = (r, v)
            return r, v
        return held.get("r", (r, v))
    return f


def bias(start, value, end=1e9):
    return lambda t, r, v, rt: (r + value, v) if v and start <= t < end else (r, v)


def drift(start, rate, end=1e9):
    return lambda t, r, v, rt: (r + rate * (t - start), v) if v and start <= t < end else (r, v)


def scale(start, factor, end=1e9):
    return lambda t, r, v, rt: (r * factor, v) if v and start <= t < end else (r, v)


def dropout(start, end=1e9):
    return lambda t, r, v, rt: (0.0, False) if start <= t < end else (r, v)


def noise(start, sigma, seed=5, end=1e9):
    g = random.Random(seed)
    return lambda t, r, v, rt: (r + sigma * g.gauss(0.0, 1.0), v) if v and start <= t < end else (r, v)


def spikes(start, value, rate_hz, seed=6, end=1e9):
    g = random.Random(seed)

    def f(t, r, v, rt):
        if v and start <= t < end and g.random() < 1.0 / rate_hz:
            return r + (value if g.random() < 0.5 else -value), v
        return r, v
    return f

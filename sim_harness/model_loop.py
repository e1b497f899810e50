"""Model in the loop: many dispersed descents flown at once, the reference model as the flight core.

`fly_dispersed(scenario, n)` disperses the scenario with the harness's own Monte Carlo
(sim_harness.montecarlo.disperse, run_seed: the same dispersed scenarios `montecarlo` flies),
builds each run's INIT with sim_harness.closedloop.make_init, and then steps every run together:
the vehicle, the sensors and the flight core are arrays with one row per run.

The vehicle and sensors here are a vectorised transcription of sim_harness.dynamics and
sim_harness.sensors (same closed forms, same sensor equations, frames rounded to float32 as
the wire carries them; the velocimeter's beams too, when one is fitted) for fault-free
scenarios, with two simplifications, both documented in docs/reference.md: the random draws
come from one numpy generator per campaign (the same distributions, not the per-run streams of
the harness, so a run is statistically, not bit for bit, the run `sim` would fly; the
velocimeter's from a second generator, so that fitting one leaves the other draws alone), and a
step in which the tanks run dry ends with the thrust cut at the step's end rather than at the
dry instant. It answers "how does this design fly over
dispersions" in seconds; the per-run harness with a real target remains the judge.

`model_throughput()` reports run-steps per second for `bench`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from host_tools.link import wire
from host_tools.reference.model import ReferenceModel, priors_from


@dataclass
class Fleet:
    """Per-run constants, arrays of shape (n,)."""

    dry: np.ndarray
    tmax: np.ndarray
    ve: np.ndarray
    umin: np.ndarray
    tau_e: np.ndarray
    tau_p: np.ndarray
    rate_p: np.ndarray
    max_pitch: np.ndarray
    g: np.ndarray
    td_vz: np.ndarray
    td_vx: np.ndarray
    td_pitch: np.ndarray


def _arr(values) -> np.ndarray:
    return np.array([float(v) for v in values])


class VecDynamics:
    """sim_harness.dynamics for n runs at once (closed forms over a step, Simpson's rule)."""

    def __init__(self, scenarios) -> None:
        v = [s.vehicle for s in scenarios]
        ini = [s.initial for s in scenarios]
        self.p = Fleet(
            dry=_arr(x.dry_mass_kg for x in v), tmax=_arr(x.max_thrust_n for x in v),
            ve=_arr(x.isp_s * x.g0_mps2 for x in v), umin=_arr(x.min_throttle for x in v),
            tau_e=_arr(x.engine_time_constant_s for x in v), tau_p=_arr(x.pitch_time_constant_s for x in v),
            rate_p=_arr(x.pitch_rate_limit_radps for x in v), max_pitch=_arr(x.max_pitch_rad for x in v),
            g=_arr(x.gravity_mps2 for x in v), td_vz=_arr(x.max_touchdown_vertical_mps for x in v),
            td_vx=_arr(x.max_touchdown_horizontal_mps for x in v),
            td_pitch=_arr(x.max_touchdown_pitch_rad for x in v))
        self.x = _arr(i.downrange_m for i in ini)
        self.z = _arr(i.altitude_m for i in ini)
        self.vx = _arr(i.horizontal_speed_mps for i in ini)
        self.vz = _arr(i.vertical_speed_mps for i in ini)
        self.prop = _arr(s.propellant_kg for s in scenarios)
        self.thrust = np.where(self.prop > 0, _arr(i.throttle for i in ini) * self.p.tmax, 0.0)
        self.pitch = _arr(i.pitch_rad for i in ini)
        self.u = _arr(i.throttle for i in ini)
        self.pitch_cmd = self.pitch.copy()
        self.f_mean = np.zeros_like(self.x)  # [m/s^2] mean T/m over the last step (the IMU's truth)

    @property
    def mass(self) -> np.ndarray:
        return self.p.dry + self.prop

    def set_command(self, throttle: np.ndarray, pitch_cmd: np.ndarray) -> None:
        p = self.p
        u = np.where(np.isnan(throttle) | (throttle <= 0.0), 0.0, np.clip(throttle, p.umin, 1.0))
        self.u = u
        keep = np.isnan(pitch_cmd)
        self.pitch_cmd = np.where(keep, self.pitch_cmd, np.clip(pitch_cmd, -p.max_pitch, p.max_pitch))

    def _pitch_after(self, t: float) -> np.ndarray:
        p = self.p
        th = self.pitch
        e = self.pitch_cmd - th
        knee = p.rate_p * p.tau_p
        t_up = (e - knee) / p.rate_p
        t_dn = (-e - knee) / p.rate_p
        exp_ = np.exp
        up = np.where(t >= t_up, self.pitch_cmd - knee * exp_(-np.maximum(t - t_up, 0.0) / p.tau_p),
                      th + p.rate_p * t)
        dn = np.where(t >= t_dn, self.pitch_cmd + knee * exp_(-np.maximum(t - t_dn, 0.0) / p.tau_p),
                      th - p.rate_p * t)
        mid = self.pitch_cmd - e * exp_(-t / p.tau_p)
        return np.where(e > knee, up, np.where(e < -knee, dn, mid))

    def step(self, h: float, active: np.ndarray) -> None:
        p = self.p
        tc = np.where(self.prop > 0.0, self.u * p.tmax, 0.0)
        t0 = self.thrust
        e_mid = np.exp(-0.5 * h / p.tau_e)
        e_end = e_mid * e_mid
        tm = tc + (t0 - tc) * e_mid
        t1 = tc + (t0 - tc) * e_end
        i_mid = tc * 0.5 * h + (t0 - tc) * p.tau_e * (1.0 - e_mid)
        i_end = tc * h + (t0 - tc) * p.tau_e * (1.0 - e_end)
        m0 = p.dry + self.prop
        mm = m0 - i_mid / p.ve
        m1 = m0 - i_end / p.ve
        th0 = self.pitch
        thm = self._pitch_after(0.5 * h)
        th1 = self._pitch_after(h)
        f0, fm, f1 = t0 / m0, tm / mm, t1 / m1
        ax0, az0 = -f0 * np.sin(th0), f0 * np.cos(th0) - p.g
        axm, azm = -fm * np.sin(thm), fm * np.cos(thm) - p.g
        ax1, az1 = -f1 * np.sin(th1), f1 * np.cos(th1) - p.g
        h6 = h / 6.0
        hh6 = h * h6
        a = active
        self.x = np.where(a, self.x + h * self.vx + hh6 * (ax0 + 2.0 * axm), self.x)
        self.z = np.where(a, self.z + h * self.vz + hh6 * (az0 + 2.0 * azm), self.z)
        self.vx = np.where(a, self.vx + h6 * (ax0 + 4.0 * axm + ax1), self.vx)
        self.vz = np.where(a, self.vz + h6 * (az0 + 4.0 * azm + az1), self.vz)
        prop = self.prop - i_end / p.ve
        dry = prop <= 0.0
        self.prop = np.where(a, np.maximum(prop, 0.0), self.prop)
        self.thrust = np.where(a, np.where(dry, 0.0, t1), self.thrust)
        self.pitch = np.where(a, th1, self.pitch)
        self.f_mean = np.where(a, (f0 + 4.0 * fm + f1) / 6.0, self.f_mean)


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


class VecAltimeter:
    def __init__(self, params, rng: np.random.Generator) -> None:
        def col(name):
            return np.array([float(getattr(p, name)) for p in params])

        self.fitted = np.array([p.fitted for p in params])
        self.rate = col("rate_hz")
        self.phase = col("phase_s")
        self.noise_m = col("noise_m")
        self.noise_f = col("noise_fraction")
        self.rmin = col("min_range_m")
        self.rmax = col("max_range_m")
        self.first = col("first_valid_s")
        self.bias = col("bias_m")
        self.scale = col("scale_factor")
        self.acq_below = np.array([np.inf if p.acquire_below_m is None else p.acquire_below_m
                                   for p in params])
        self.lost_below = np.array([-np.inf if p.lost_below_m is None else p.lost_below_m
                                    for p in params])
        self.acquired = np.array([p.acquire_below_m is None for p in params])
        self.lost = np.zeros(len(params), dtype=bool)
        self.last_j = np.full(len(params), -1)
        self.reading = np.zeros(len(params))
        self.valid = np.zeros(len(params), dtype=bool)
        self.rng = rng

    def frame(self, t: float, r: np.ndarray):
        j = np.floor((t - self.phase) * self.rate + 1e-9).astype(np.int64)
        new = self.fitted & (j > self.last_j) & (j >= 0)
        self.last_j = np.where(new, j, self.last_j)
        self.acquired |= new & (r < self.acq_below)
        self.lost |= new & (r < self.lost_below)
        valid = self.acquired & ~self.lost & (self.rmin <= r) & (r <= self.rmax) & (t >= self.first)
        sigma = self.noise_m + self.noise_f * np.where(np.isfinite(r), r, 0.0)
        noise = self.rng.standard_normal(len(r))
        with np.errstate(invalid="ignore"):
            reading = np.where(valid, self.scale * r + self.bias + sigma * noise, 0.0)
        self.reading = np.where(new, reading, self.reading)
        self.valid = np.where(new, valid, self.valid)
        return self.reading, self.valid & self.fitted, new


class VecVelocimeter:
    """sim_harness.sensors.VelocimeterModel for n runs at once (no faults): beam A at -cant,
    beam B at +cant from the thrust axis, reading scale * v.d + bias + noise, valid while the
    beam's slant range is within [min_range_m, max_range_m]."""

    def __init__(self, params, rng: np.random.Generator) -> None:
        def col(name):
            return np.array([float(getattr(p, name)) for p in params])

        n = len(params)
        self.fitted = np.array([p.fitted for p in params], dtype=bool)
        self.any_fitted = bool(self.fitted.any())
        self.cant = col("cant_rad")
        self.rate = col("rate_hz")
        self.noise_m = col("noise_mps")
        self.noise_f = col("noise_fraction")
        self.bias = col("bias_mps")
        self.scale = col("scale")
        self.rmin = col("min_range_m")
        self.rmax = col("max_range_m")
        self.last_j = np.full(n, -1)
        self.reading = np.zeros((2, n))  # [m/s] beam A, beam B: the last sample
        self.valid = np.zeros((2, n), dtype=bool)
        self.rng = rng
        self._zeros = np.zeros(n)
        self._no_flags = np.zeros(n, dtype=np.int64)

    def frame(self, t: float, dyn: VecDynamics, terrain: VecTerrain):
        """(beam_a [m/s], beam_b [m/s], beam_flags) of every run at time t [s]."""
        if not self.any_fitted:
            return self._zeros, self._zeros, self._no_flags
        n = len(self.fitted)
        j = np.floor(t * self.rate + 1e-9).astype(np.int64)
        new = self.fitted & (j > self.last_j) & (j >= 0)
        self.last_j = np.where(new, j, self.last_j)
        for i, sign in enumerate((-1.0, 1.0)):
            angle = dyn.pitch + sign * self.cant
            r = terrain.ray_range(dyn.x, dyn.z, angle)
            los = dyn.vx * np.sin(angle) - dyn.vz * np.cos(angle)  # [m/s] v . d, closing positive
            valid = (self.rmin <= r) & (r <= self.rmax)
            sigma = self.noise_m + self.noise_f * np.abs(los)
            reading = np.where(valid, self.scale * los + self.bias + sigma * self.rng.standard_normal(n), 0.0)
            self.reading[i] = np.where(new, reading, self.reading[i])
            self.valid[i] = np.where(new, valid, self.valid[i])
        va, vb = self.valid[0] & self.fitted, self.valid[1] & self.fitted
        flags = (np.where(va, wire.BEAM_A_VALID, 0) | np.where(new, wire.BEAM_A_NEW, 0)
                 | np.where(vb, wire.BEAM_B_VALID, 0) | np.where(new, wire.BEAM_B_NEW, 0))
        return self.reading[0], self.reading[1], flags


def fly_dispersed(scenario, n: int, seed: int | None = None, dtype=np.float64,
                  scenarios: list | None = None) -> dict:
    """Fly n dispersed runs of `scenario` with the reference model in the loop; returns arrays
    (outcome, touchdown speeds, propellant, steps...) and the wall time."""
    from sim_harness.closedloop import make_init
    from sim_harness.montecarlo import disperse, run_seed

    wall0 = time.perf_counter()
    base = scenario.seed if seed is None else seed
    if scenarios is None:
        scenarios = [disperse(scenario, run_seed(base, i)) for i in range(n)]
    n = len(scenarios)
    if any(s.faults for s in scenarios):
        raise ValueError("`scenario` has faults: the model loop flies fault-free scenarios only.")
    if any(s.terrain != scenarios[0].terrain for s in scenarios):
        raise ValueError("all runs must share one terrain.")
    rate = scenario.control_rate_hz
    dt = 1.0 / rate
    n_max = int(math.ceil(scenario.duration_s * rate - 1e-9))
    rng = np.random.default_rng(base)
    dyn = VecDynamics(scenarios)
    terrain = VecTerrain(scenarios[0].terrain)
    sn = [s.sensors for s in scenarios]
    radar = VecAltimeter([x.radar for x in sn], rng)
    lrf = VecAltimeter([x.lrf for x in sn], rng)
    imu = {k: np.array([float(getattr(x.imu, k)) for x in sn]) for k in
           ("accel_bias_mps2", "lateral_bias_mps2", "noise_density", "scale_factor",
            "attitude_noise_rad", "attitude_bias_rad")}
    accel_sigma = imu["noise_density"] * math.sqrt(rate)
    # its own generator: fitting a velocimeter leaves the draws of the other sensors alone
    velocimeter = VecVelocimeter([x.velocimeter for x in sn], np.random.default_rng([base, 1]))
    contact_fitted = np.array([x.contact.fitted for x in sn])
    probe = np.array([x.contact.probe_length_m for x in sn])

    model = ReferenceModel(n, dtype=dtype, track_decisions=False)
    model.init(priors_from([make_init(s) for s in scenarios]))
    flying = np.ones(n, dtype=bool)
    steps = np.zeros(n, dtype=np.int64)
    td = {k: np.full(n, np.nan) for k in ("time_s", "vz", "vx", "pitch", "propellant")}
    dyn.set_command(dyn.u, dyn.pitch_cmd)
    dyn.step(dt, flying)
    run_steps = 0
    for k in range(1, n_max + 1):
        t = k * dt
        ground = terrain.height(dyn.x)
        gap = dyn.z - ground
        fa = imu["scale_factor"] * dyn.f_mean + imu["accel_bias_mps2"] + accel_sigma * rng.standard_normal(n)
        fl = imu["lateral_bias_mps2"] + accel_sigma * rng.standard_normal(n)
        pm = dyn.pitch + imu["attitude_bias_rad"] + imu["attitude_noise_rad"] * rng.standard_normal(n)
        r_true = terrain.ray_range(dyn.x, dyn.z, dyn.pitch)
        rr, rv, rn = radar.frame(t, r_true)
        lr, lv, ln = lrf.frame(t, r_true)
        ba, bb, beam_flags = velocimeter.frame(t, dyn, terrain)
        closed = contact_fitted & (gap <= probe)
        flags = (np.where(rv, wire.RADAR_VALID, 0) | np.where(rn, wire.RADAR_NEW, 0)
                 | np.where(lv, wire.LRF_VALID, 0) | np.where(ln, wire.LRF_NEW, 0)
                 | np.where(closed, wire.CONTACT, 0))
        f32 = np.float32
        with np.errstate(over="ignore", invalid="ignore"):
            frames = {"t_us": np.full(n, round(t * 1e6), dtype=np.int64),
                      "f_axial": fa.astype(f32).astype(float), "f_lateral": fl.astype(f32).astype(float),
                      "pitch": pm.astype(f32).astype(float), "radar_range": rr.astype(f32).astype(float),
                      "lrf_range": lr.astype(f32).astype(float), "flags": flags,
                      "beam_a": ba.astype(f32).astype(float), "beam_b": bb.astype(f32).astype(float),
                      "beam_flags": beam_flags}
        out = model.step(frames, flying)
        run_steps += int(flying.sum())
        steps += flying
        x0, vz0, vx0, p0 = dyn.x, dyn.vz, dyn.vx, dyn.prop
        dyn.set_command(np.asarray(out["throttle"], dtype=float), np.asarray(out["pitch_cmd"], dtype=float))
        dyn.step(dt, flying)
        gap1 = dyn.z - terrain.height(dyn.x)
        down = flying & (gap1 <= 0.0)
        if down.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.where(gap <= 0.0, 0.0, gap / (gap - gap1))
            td["time_s"] = np.where(down, t + frac * dt, td["time_s"])
            td["vz"] = np.where(down, vz0 + (dyn.vz - vz0) * frac, td["vz"])
            td["vx"] = np.where(down, vx0 + (dyn.vx - vx0) * frac, td["vx"])
            td["pitch"] = np.where(down, dyn.pitch, td["pitch"])
            td["propellant"] = np.where(down, p0 + (dyn.prop - p0) * frac, td["propellant"])
            flying &= ~down
        del x0
        if not flying.any():
            break
    p = dyn.p
    landed_ok = ((np.abs(td["vz"]) <= p.td_vz) & (np.abs(td["vx"]) <= p.td_vx)
                 & (np.abs(td["pitch"]) <= p.td_pitch))
    outcome = np.where(np.isnan(td["time_s"]), "timeout", np.where(landed_ok, "landed", "crashed"))
    wall = time.perf_counter() - wall0
    return {"n": n, "outcome": outcome, "touchdown_vz_mps": td["vz"], "touchdown_vx_mps": td["vx"],
            "touchdown_pitch_rad": td["pitch"], "propellant_kg": td["propellant"], "time_s": td["time_s"],
            "steps": steps, "run_steps": run_steps, "wall_s": wall,
            "run_steps_per_s": run_steps / wall if wall > 0 else 0.0}


def model_throughput(n: int = 200, scenario_path=None) -> dict:
    """Run-steps per second of the model in the loop over n dispersed nominal descents (bench)."""
    from host_tools.base.paths import SCENARIOS
    from sim_harness.scenario import load_scenario

    scn = load_scenario(scenario_path or SCENARIOS / "nominal-flat.toml")
    r = fly_dispersed(scn, n)
    landed = int((r["outcome"] == "landed").sum())
    return {"runs": r["n"], "run_steps": r["run_steps"], "wall_s": r["wall_s"],
            "run_steps_per_s": r["run_steps_per_s"], "landed": landed}

"""Model in the loop: many dispersed descents flown at once, the reference model as the flight core.

`fly_dispersed(scenario, n)` disperses the scenario with the harness's own Monte Carlo
(sim_harness.montecarlo.disperse, run_seed: the same dispersed scenarios `montecarlo` flies),
builds each run's INIT with sim_harness.closedloop.make_init, and then steps every run together:
the vehicle, the sensors and the flight core are arrays with one row per run.

The vehicle, terrain and sensors are the vectorised twins of the closed loop's, beside them in
sim_harness.dynamics, terrain and sensors (tests/test_vectorised_harness.py ties each pair):
the same closed forms and sensor equations, frames rounded to float32 as the wire carries them
(the velocimeter's beams too, when one is fitted), for fault-free scenarios, with two
simplifications, both documented in docs/reference.md: the random draws come from one numpy
generator per campaign (the same distributions, not the per-run streams of the harness, so a
run is statistically, not bit for bit, the run `sim` would fly; the velocimeter's from a second
generator, so that fitting one leaves the other draws alone), and a step in which the tanks run
dry ends with the thrust cut at the step's end rather than at the dry instant. It answers "how
does this design fly over dispersions" in seconds; the per-run harness with a real target
remains the judge.

`model_throughput()` reports run-steps per second for `bench`.
"""

from __future__ import annotations

import math
import time

import numpy as np

from host_tools.link import wire
from host_tools.reference.model import ReferenceModel, priors_from
from sim_harness.dynamics import VecDynamics
from sim_harness.sensors import VecAltimeter, VecVelocimeter
from sim_harness.terrain import VecTerrain


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

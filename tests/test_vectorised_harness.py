"""The vectorised world of the model in the loop (sim_harness.model_loop) is the scalar one of
the closed loop, run by run (each vectorised class lives beside its scalar twin in
sim_harness.dynamics, terrain and sensors): the same dynamics over
the same commands, the same terrain geometry, the same sensor readings and flags with the
noise taken out (their noise streams differ by design: numpy's generator against the harness's
per-sensor streams). Without this, a Monte Carlo pre-screen could fly another vehicle than the
one the firmware is judged on."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from sim_harness.dynamics import Dynamics, VecDynamics
from sim_harness.montecarlo import disperse
from sim_harness.scenario import load_scenario
from sim_harness.sensors import AltimeterModel, VecAltimeter, VecVelocimeter, VelocimeterModel
from sim_harness.terrain import Terrain, VecTerrain

SCENARIOS = Path(__file__).resolve().parents[1] / "sim_harness" / "scenarios"


def _fleet(name: str, n: int = 4):
    base = load_scenario(SCENARIOS / f"{name}.toml")
    return [disperse(base, seed) for seed in range(1, n + 1)]


def _commands(k: int, i: int) -> tuple[float, float]:
    # a throttle and pitch history that visits the clamps, the engine lag and the rate limit
    throttle = 0.05 + 0.9 * (0.5 + 0.5 * math.sin(0.013 * k + i))
    pitch = 0.7 * math.sin(0.021 * k + 0.5 * i)  # beyond max_pitch at the peaks: clamped
    return throttle, pitch


def test_vectorised_dynamics_fly_as_the_scalar_dynamics_run_by_run():
    scenarios = _fleet("nominal-rough")
    n, h = len(scenarios), 0.02
    vec = VecDynamics(scenarios)
    scalar = [Dynamics(s.vehicle, s.initial.downrange_m, s.initial.altitude_m, s.initial.horizontal_speed_mps,
                       s.initial.vertical_speed_mps, s.propellant_kg, s.initial.pitch_rad, s.initial.throttle)
              for s in scenarios]
    active = np.ones(n, dtype=bool)
    for k in range(3000):  # 60 s
        cmds = [_commands(k, i) for i in range(n)]
        for d, (u, p) in zip(scalar, cmds, strict=True):
            d.set_command(u, p)
            d.step(h)
        vec.set_command(np.array([c[0] for c in cmds]), np.array([c[1] for c in cmds]))
        vec.step(h, active)
        assert all(d.propellant > 0.0 for d in scalar), "the comparison is of burning engines"
        for name, got in (("x", vec.x), ("z", vec.z), ("vx", vec.vx), ("vz", vec.vz), ("pitch", vec.pitch),
                          ("propellant", vec.prop), ("thrust", vec.thrust), ("f_mean", vec.f_mean)):
            want = np.array([getattr(d, name) if name != "f_mean" else d.means.specific_force
                             for d in scalar])
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9, err_msg=f"{name} at step {k}")


PROFILES = [[[0.0, 0.0]], [[-50.0, 0.0], [40.0, 30.0], [120.0, -200.0], [300.0, 5.0]]]  # flat; cliffs


@pytest.mark.parametrize("profile", PROFILES)
def test_vectorised_terrain_has_the_scalar_heights_and_ranges(profile):
    t = Terrain([p[0] for p in profile], [p[1] for p in profile])
    vt = VecTerrain(t)
    rng = np.random.default_rng(3)
    x = rng.uniform(-200.0, 500.0, 400)
    z = rng.uniform(-10.0, 800.0, 400)
    pitch = rng.uniform(-0.9, 0.9, 400)
    np.testing.assert_allclose(vt.height(x), [t.height(a) for a in x], rtol=0, atol=1e-9)
    want = np.array([t.ray_range(a, b, c) for a, b, c in zip(x, z, pitch, strict=True)])
    got = vt.ray_range(x, z, pitch)
    assert np.array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-9, atol=1e-6)


def _silent(p):
    # the sensor with its noise taken out, everything else (bias, scale, phase, window) kept
    names = {f.name for f in dataclasses.fields(p)} & {"noise_m", "noise_fraction", "noise_mps"}
    return dataclasses.replace(p, **dict.fromkeys(names, 0.0))


@pytest.mark.parametrize("which", ["radar", "lrf"])
def test_vectorised_altimeters_read_as_the_scalar_ones(which):
    scenarios = _fleet("late-rangefinder-2025" if which == "lrf" else "nominal-flat")
    params = [_silent(getattr(s.sensors, which)) for s in scenarios]
    vec = VecAltimeter(params, np.random.default_rng(0))
    scalar = [AltimeterModel(which, p, np.random.SeedSequence(1), [], None) for p in params]
    ranges = np.array([4000.0, 3100.0, 2950.0, 15100.0])  # below the lrf's window, above the radar's
    for k in range(1, 2000):
        t = k * 0.02
        r = np.maximum(ranges - 1.6 * t * np.array([40.0, 25.0, 30.0, 60.0]), 0.5)
        got = vec.frame(t, r)
        for i, m in enumerate(scalar):
            reading, valid, new = m.frame(t, lambda i=i, r=r: float(r[i]))
            assert (got[1][i], got[2][i]) == (valid, new), f"{which} run {i} at t={t}"
            assert got[0][i] == pytest.approx(reading, rel=1e-12, abs=1e-9)


def test_the_vectorised_velocimeter_reads_as_the_scalar_one():
    scenarios = _fleet("nominal-velocimeter")
    params = [_silent(s.sensors.velocimeter) for s in scenarios]
    vec = VecVelocimeter(params, np.random.default_rng(0))
    scalar = [VelocimeterModel(p, np.random.SeedSequence(1), [], None) for p in params]
    terrain = Terrain([-1e4, 0.0, 1e4], [0.0, 20.0, -300.0])
    vt = VecTerrain(terrain)

    class Truth:  # what VecVelocimeter reads of the vehicle
        def __init__(self, k):
            n = len(params)
            self.x = np.linspace(-500.0, 500.0, n) + 20.0 * k * 0.02
            self.z = np.full(n, 3000.0) - 30.0 * k * 0.02
            self.vx = np.full(n, 20.0) - 0.01 * k
            self.vz = np.full(n, -30.0) + 0.01 * k
            self.pitch = np.linspace(-0.4, 0.4, n)

    for k in range(1, 3000):
        t = k * 0.02
        d = Truth(k)
        ba, bb, flags = vec.frame(t, d, vt)
        for i, m in enumerate(scalar):
            def slant(angle, i=i, d=d):
                return terrain.ray_range(d.x[i], d.z[i], angle)

            (a, av, an), (b, bv, bn) = m.frame(t, d.vx[i], d.vz[i], d.pitch[i], slant)
            want = ((1 if av else 0) | (2 if an else 0) | (4 if bv else 0) | (8 if bn else 0))
            assert int(flags[i]) == want, f"run {i} at t={t}"
            assert (ba[i], bb[i]) == (pytest.approx(a, abs=1e-9), pytest.approx(b, abs=1e-9))

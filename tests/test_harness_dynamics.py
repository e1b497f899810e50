"""Dynamics: conservation against an independent fine integration, limits, exhaustion, touchdown."""

import math
import random

import pytest

from sim_harness.dynamics import Dynamics, judge_touchdown, touchdown_fraction
from sim_harness.scenario import Vehicle


def reference(v: Vehicle, state, commands, dt, sub=400):
    """Independent RK4 of the full ODE (thrust, pitch, mass, velocity, position) with fine steps.

    state: (x, z, vx, vz, m, T, th); commands: list of (throttle, pitch_cmd) held for dt each.
    Returns the final state and the integral of T dt.
    """
    ve = v.isp_s * v.g0_mps2

    def f(y, u, pc):
        x, z, vx, vz, m, T, th = y
        if m <= v.dry_mass_kg:
            T = 0.0
        dT = (u * v.max_thrust_n - T) / v.engine_time_constant_s
        dth = max(
            -v.pitch_rate_limit_radps, min(v.pitch_rate_limit_radps, (pc - th) / v.pitch_time_constant_s)
        )
        a = T / m
        return (vx, vz, -a * math.sin(th), a * math.cos(th) - v.gravity_mps2, -T / ve, dT, dth), T

    y = list(state)
    impulse = 0.0
    h = dt / sub
    for u, pc in commands:
        for _ in range(sub):
            k1, t1 = f(y, u, pc)
            k2, t2 = f([a + 0.5 * h * b for a, b in zip(y, k1, strict=True)], u, pc)
            k3, t3 = f([a + 0.5 * h * b for a, b in zip(y, k2, strict=True)], u, pc)
            k4, t4 = f([a + h * b for a, b in zip(y, k3, strict=True)], u, pc)
            y = [
                a + h / 6 * (b1 + 2 * b2 + 2 * b3 + b4)
                for a, b1, b2, b3, b4 in zip(y, k1, k2, k3, k4, strict=True)
            ]
            impulse += h / 6 * (t1 + 2 * t2 + 2 * t3 + t4)
    return y, impulse


def random_commands(n, seed):
    rnd = random.Random(seed)
    return [(rnd.choice([0.0, rnd.uniform(0.1, 1.0)]), rnd.uniform(-0.6, 0.6)) for _ in range(n)]


def test_mass_burnt_equals_the_thrust_integral_and_velocity_change_the_acceleration_integral():
    # GIVEN random throttle and pitch commands held for 50 steps of 20 ms
    v = Vehicle()
    cmds = random_commands(50, 1)
    d = Dynamics(v, 0.0, 3000.0, 20.0, -40.0, 200.0, pitch=0.1, throttle=0.5)
    y0 = (0.0, 3000.0, 20.0, -40.0, 540.0, 800.0, 0.1)
    # WHEN the harness integrates them
    burnt_log = 0.0
    for u, pc in cmds:
        d.set_command(u, pc)
        d.step(0.02)
        burnt_log += d.means.thrust * 0.02 / (v.isp_s * v.g0_mps2)
    y, impulse = reference(v, y0, cmds, 0.02)
    burnt = 200.0 - d.propellant
    # THEN the mass burnt equals the integral of T / (Isp g0) to 1e-6 relative
    assert burnt == pytest.approx(impulse / (v.isp_s * v.g0_mps2), rel=1e-6)
    assert burnt == pytest.approx(burnt_log, rel=1e-12)  # the log's mean thrust is exact
    # AND the velocity change equals the integral of (thrust + gravity) / m
    assert d.vx == pytest.approx(y[2], abs=1e-6)
    assert d.vz == pytest.approx(y[3], abs=1e-6)
    assert d.x == pytest.approx(y[0], abs=1e-5)
    assert d.z == pytest.approx(y[1], abs=1e-5)
    assert d.pitch == pytest.approx(y[6], abs=1e-6)


def test_free_fall_is_exact():
    d = Dynamics(Vehicle(), 0.0, 1000.0, 5.0, -10.0, 200.0)
    for _ in range(100):
        d.set_command(0.0, 0.0)
        d.step(0.02)
    assert d.vz == pytest.approx(-10.0 - 1.62 * 2.0, abs=1e-12)
    assert d.z == pytest.approx(1000.0 - 20.0 - 0.5 * 1.62 * 4.0, abs=1e-9)
    assert d.x == pytest.approx(10.0, abs=1e-12)


def test_throttle_commands_are_clamped_to_off_or_the_engine_range():
    d = Dynamics(Vehicle(), 0.0, 1000.0, 0.0, 0.0, 200.0)
    for cmd, held in ((0.05, 0.1), (1.7, 1.0), (-0.2, 0.0), (float("nan"), 0.0), (0.0, 0.0), (0.6, 0.6)):
        d.set_command(cmd, 0.0)
        assert d.throttle_cmd == held
    d.set_command(0.5, 3.0)
    assert d.pitch_cmd == 1.2
    d.set_command(0.5, float("nan"))
    assert d.pitch_cmd == 1.2  # NaN holds the previous command
    assert d.command_clamps == 6


def test_pitch_follows_its_command_no_faster_than_the_rate_limit():
    d = Dynamics(Vehicle(), 0.0, 1000.0, 0.0, 0.0, 200.0)
    d.set_command(0.5, 1.0)
    last = 0.0
    for _ in range(50):
        d.step(0.02)
        assert d.pitch - last <= 0.35 * 0.02 + 1e-12
        last = d.pitch
    assert d.pitch == pytest.approx(0.35)  # still on the ramp after 1 s


def test_engine_follows_the_throttle_with_its_time_constant():
    d = Dynamics(Vehicle(), 0.0, 1000.0, 0.0, 0.0, 200.0)
    d.set_command(1.0, 0.0)
    d.step(0.15)
    assert d.thrust == pytest.approx(1600.0 * (1.0 - math.exp(-1.0)), rel=1e-12)


def test_thrust_stops_when_the_tanks_run_dry_inside_a_step():
    v = Vehicle()
    d = Dynamics(v, 0.0, 1000.0, 0.0, 0.0, 0.01, throttle=1.0)
    d.set_command(1.0, 0.0)
    d.step(0.02)  # 0.01 kg lasts about 0.0187 s at full thrust
    assert d.propellant == 0.0 and d.thrust == 0.0 and d.ran_dry_at is not None
    assert d.means.thrust * 0.02 / (v.isp_s * v.g0_mps2) == pytest.approx(0.01, rel=1e-9)
    vz = d.vz
    d.step(0.02)
    assert d.vz == pytest.approx(vz - 1.62 * 0.02, abs=1e-12)  # a ballistic fall from then on


def test_touchdown_limits():
    v = Vehicle()
    assert judge_touchdown(-2.9, 1.4, 0.19, v) == "landed"
    assert judge_touchdown(-3.1, 0.0, 0.0, v) == "crashed"
    assert judge_touchdown(-1.0, 1.6, 0.0, v) == "crashed"
    assert judge_touchdown(-1.0, 0.0, 0.21, v) == "crashed"
    assert touchdown_fraction(1.0, -3.0) == 0.25

"""Throttle law: limits, rate limit, anti-windup, engine lag and mass tracking
(docs/algorithms.md section 4), with property tests over random estimator states."""

from __future__ import annotations

import math

from fw import CoreSchedule, EstimateStandIn, import_firmware
from hypothesis import given, settings
from hypothesis import strategies as st

import_firmware()

from flight.core import Prior  # noqa: E402
from flight.guidance import Guidance  # noqa: E402
from flight.throttle import G0, Throttle, engine_gain  # noqa: E402

U_RATE = 1.5  # [1/s] the documented throttle rate limit
PITCH_RATE = 0.3  # [rad/s] the documented pitch-command rate limit


def prior(mass=540.0, tau=0.15, u_min=0.1):
    p = Prior()
    p.set((0, 3000.0, 10.0, -50.0, 0.5, 30.0, 0.5, 0.0, 5.0, mass, 340.0, 1600.0, 310.0, u_min, tau, 0.35))
    return p


Est = EstimateStandIn

def test_engine_gain_is_a_stable_first_order_step():
    # GIVEN the engine's lag over a 20 ms step
    k = engine_gain(0.02, 0.15)
    # THEN it is close to 1 - exp(-dt/tau), and never above 1 (no overshoot)
    assert abs(k - (1.0 - math.exp(-0.02 / 0.15))) < 1e-3
    assert engine_gain(0.02, 0.0) == 1.0
    assert engine_gain(5.0, 0.15) == 1.0


def test_ignition_jumps_to_minimum_then_the_command_is_rate_limited():
    # GIVEN an engine that is off, and a law that wants full thrust
    t = Throttle()
    t.reset(prior())
    t.step(0.0, -100.0, 0.0, 1.0, 0.02, False)
    # THEN the first command is the lowest throttle of a lit engine
    assert t.u == 0.1
    # AND then it climbs by at most the rate limit per step
    for _ in range(10):
        before = t.u
        t.step(0.0, -100.0, 0.0, 1.0, 0.02, False)
        assert t.u - before <= U_RATE * 0.02 + 1e-12
    assert t.u > 0.1


def test_integral_does_not_wind_up_while_saturated():
    # GIVEN a law held at full throttle by an error it cannot remove
    t = Throttle()
    t.reset(prior())
    for _ in range(2000):
        t.step(0.0, -100.0, 0.0, 1.0, 0.02, False)
    assert t.u == 1.0
    # THEN the integral stayed where it was when the command hit the limit
    assert abs(t.integ) < 0.05
    # WHEN the error reverses, the command leaves the limit at once
    t.step(-100.0, 0.0, 0.0, 1.0, 0.02, False)
    assert t.u < 1.0


def test_mass_falls_with_the_propellant_the_commands_burnt():
    # GIVEN full throttle held for 10 s with the engine's lag
    t = Throttle()
    t.reset(prior())
    t.u = 1.0
    for _ in range(500):
        t.burn(0.02)
    # THEN the mass fell by thrust * time / (Isp g0), less the lag's first 0.15 s or so
    ideal = 1600.0 * 10.0 / (310.0 * G0)
    burnt = 540.0 - t.mass
    assert ideal - 1600.0 * 0.2 / (310.0 * G0) < burnt < ideal


def test_mass_never_falls_below_the_dry_mass():
    t = Throttle()
    t.reset(prior(mass=341.0))
    t.u = 1.0
    for _ in range(5000):
        t.burn(0.02)
    assert t.mass == 340.0


def test_hold_floor_keeps_at_least_the_hover_throttle():
    # GIVEN a law that would throttle down (too slow), but a hold is asked (after a link gap)
    t = Throttle()
    t.reset(prior())
    t.u = 0.6
    t.step(-10.0, 0.0, 0.0, 1.0, 0.02, True)
    # THEN the command does not fall under what balances gravity (within the rate limit)
    assert t.u >= min(t.hover, 0.6 - U_RATE * 0.02)


finite = st.floats(allow_nan=True, allow_infinity=True)
state = st.tuples(
    st.one_of(st.floats(-1e4, 1e5), finite),  # agl
    st.one_of(st.floats(0.0, 5e3), finite),  # agl_sigma
    st.one_of(st.floats(-200.0, 50.0), finite),  # vz
    st.one_of(st.floats(0.0, 20.0), finite),  # vz_sigma
    st.one_of(st.floats(-100.0, 100.0), finite),  # vx
    st.booleans(),  # aiding
    st.booleans(),  # contact
    st.sampled_from([0, 0, 0, 16]),  # faults
    st.sampled_from([0.02, 0.02, 0.001, 0.1, 0.6, 5.0]),  # dt
)


@settings(max_examples=150, deadline=None)
@given(st.lists(state, min_size=1, max_size=60), st.floats(340.5, 700.0), st.floats(0.0, 0.5),
       st.floats(0.0, 0.9))
def test_commands_stay_in_range_finite_and_rate_limited(states, mass, tau, u_min):
    # GIVEN any sequence of estimator states, contacts, link gaps and step lengths
    g = Guidance()
    g.reset(prior(mass=mass, tau=tau, u_min=u_min))
    t = 0.0
    core = CoreSchedule()
    u_prev, p_prev = g.throttle, g.pitch_cmd
    for agl, sig, vz, vzs, vx, aiding, contact, faults, dt in states:
        t += dt
        core.guidance(g, t, Est(agl, sig, vz, vzs, vx, aiding), contact, faults)
        u, p = g.throttle, g.pitch_cmd
        # THEN the throttle is 0 or within [min_throttle, 1], never NaN
        assert u == 0.0 or u_min <= u <= 1.0
        assert math.isfinite(p) and abs(p) <= 0.6
        assert math.isfinite(g.mass) and 340.0 <= g.mass <= mass
        # AND a lit engine's command changes no faster than the rate limit over the cycle
        # (between cycles it holds); the only jumps are ignition (0 -> min_throttle) and
        # cut-off (-> 0)
        h = min(core.clock.dt, 0.1) if core.cycled else 0.0
        if u_prev > 0.0 and u > 0.0:
            assert abs(u - u_prev) <= U_RATE * h + 1e-9
        elif u_prev == 0.0 and u > 0.0:
            assert u == u_min
        assert abs(p - p_prev) <= PITCH_RATE * h + 1e-9
        u_prev, p_prev = u, p

"""Guidance: the vertical-speed profile against the low end of the height, the pitch law,
and identical numbers in CPython and in the MicroPython VM (docs/algorithms.md section 4)."""

from __future__ import annotations

import ast
import math
from functools import partial

import pytest
from fw import CoreSchedule, EstimateStandIn, import_firmware, run_in_cpython, run_in_vm

import_firmware()

from flight.core import Prior  # noqa: E402
from flight.guidance import Guidance, atan1  # noqa: E402

VEHICLE = (540.0, 340.0, 1600.0, 310.0, 0.1, 0.15, 0.35)  # mass, dry, thrust, isp, min throttle, tau,
# beam cant (INIT's layout, docs/protocol.md)


Est = partial(EstimateStandIn, agl=3000.0, agl_sigma=3.0, vz=-50.0, vz_sigma=0.2, vx=30.0)

def make(agl=3000.0, vz=-50.0, vx=30.0, sigma=3.0, propellant=200.0):
    p = Prior()
    p.set((0, agl, sigma, vz, 0.5, vx, 0.5, 0.0, 1.0, 340.0 + propellant, *VEHICLE[1:]))
    g = Guidance()
    g.reset(p)
    return g


def run(g, est, n, dt=0.02, t0=0.0):
    # n frames on the flight core's schedule (a cycle every 0.1 s, the first at once)
    core = CoreSchedule()
    core.last_us = round(t0 * 1e6)
    for i in range(n):
        core.guidance(g, t0 + dt * (i + 1), est)
    return g


def test_profile_brakes_for_the_low_end_of_the_height():
    # GIVEN two estimates of the same height, one far less certain
    sure = run(make(), Est(agl=2000.0, agl_sigma=2.0), 1)
    unsure = run(make(), Est(agl=2000.0, agl_sigma=300.0), 1)
    # THEN the uncertain one plans a slower descent: it brakes for the height it could be at
    assert sure.vz_ref < unsure.vz_ref < 0.0
    assert sure.h_low == pytest.approx(2000.0 - 3.0 * 2.0)
    assert unsure.h_low < 2000.0 - 300.0


def test_profile_ends_in_a_slow_constant_rate_descent():
    # GIVEN the lander a few metres up with a trusted altimeter
    g = run(make(agl=4.0, vz=-0.8, vx=0.0), Est(agl=4.0, agl_sigma=0.2, vz=-0.8, vx=0.0), 5)
    # THEN the reference is the slow final rate, and the mode is terminal
    assert g.vz_ref == -0.8
    assert g.mode == 3


def test_terminal_rate_is_kept_when_aiding_ends_below_the_altimeters_minimum_range():
    # GIVEN the lander in terminal descent at 2 m with a trusted altimeter
    g = run(make(agl=2.0, vz=-0.8, vx=0.0), Est(agl=2.0, agl_sigma=0.1, vz=-0.8, vx=0.0), 5)
    assert g.vz_ref == -0.8
    # WHEN aiding stops (the altimeters' 1 m minimum range) a metre lower
    run(g, Est(agl=1.0, agl_sigma=0.15, vz=-0.8, vx=0.0, vz_sigma=0.05, aiding=False), 5, t0=0.1)
    # THEN the final rate stays 0.8 m/s (it rose to V_SAFE - 2 vz_sigma = 1.5 m/s before)
    assert g.vz_ref == -0.8


def test_altitude_unknown_higher_up_still_descends_at_the_safe_rate():
    # GIVEN aiding lost at 4 m low-end height (not yet below H_KEEP_TERM)
    g = run(make(agl=4.0, vz=-0.8, vx=0.0), Est(agl=4.0, agl_sigma=0.2, vz=-0.8, vx=0.0), 5)
    run(g, Est(agl=4.0, agl_sigma=0.2, vz=-0.8, vx=0.0, vz_sigma=0.05, aiding=False), 5, t0=0.1)
    # THEN the rate is the survivable one of altitude_unknown
    assert g.vz_ref == pytest.approx(-(1.6 - 2.0 * 0.05))


def test_faster_than_the_profile_means_more_thrust():
    # GIVEN the same height, once on the profile and once 20 m/s faster (no speed across)
    slow = run(make(vx=0.0), Est(agl=1500.0, vz=-40.0, vx=0.0), 30)
    fast = run(make(vx=0.0), Est(agl=1500.0, vz=-60.0, vx=0.0), 30)
    # THEN the faster one throttles harder
    assert fast.throttle > slow.throttle


@pytest.mark.parametrize("vx", [25.0, -25.0])
def test_the_descent_waits_for_the_horizontal_speed(vx):
    # GIVEN 400 m up, once nearly still across and once 25 m/s across (either way)
    still = run(make(agl=400.0, vz=-20.0, vx=0.1), Est(agl=400.0, agl_sigma=1.0, vz=-20.0, vx=0.1), 1)
    fast = run(make(agl=400.0, vz=-20.0, vx=vx), Est(agl=400.0, agl_sigma=1.0, vz=-20.0, vx=vx), 1)
    # THEN the still one follows the braking curve, and the fast one descends no faster than
    # the height left over the time the tilt limit there needs to null vx
    dh = still.h_low - 5.0
    a_ref = 0.6 * (1600.0 / 540.0 - 1.62)
    assert still.vz_ref == pytest.approx(-math.sqrt(0.8**2 + 2.0 * a_ref * dh))
    a_x = 1.62 * 0.6  # [m/s^2] above 300 m the limit is 0.6 rad
    assert fast.vz_ref == pytest.approx(-dh * a_x / 25.0, rel=1e-9)
    assert still.vz_ref < fast.vz_ref < -0.8


def test_pitch_brakes_the_horizontal_speed_and_is_small_near_the_ground():
    # GIVEN a lander moving downrange (+x) high up (descending at the rate the horizontal
    # speed allows: 2 km over the 53 s it needs) and one near the ground
    high = run(make(), Est(agl=2000.0, vz=-35.0, vx=30.0), 200)
    low = run(make(agl=8.0), Est(agl=8.0, agl_sigma=0.3, vz=-1.0, vx=5.0), 200)
    # THEN pitch is positive (thrust toward -x); near the ground at most 0.1 rad
    assert high.pitch_cmd > 0.2
    assert 0.0 < low.pitch_cmd <= 0.1 + 1e-12
    # AND moving the other way pitches the other way
    back = run(make(), Est(agl=2000.0, vz=-35.0, vx=-30.0), 200)
    assert back.pitch_cmd == pytest.approx(-high.pitch_cmd)


def test_arctangent_is_within_its_stated_error():
    for i in range(-100, 101):
        r = i / 100.0
        assert abs(atan1(r) - math.atan(r)) < 0.0016


def test_non_finite_estimates_never_reach_the_command():
    # GIVEN an estimate that turns into NaN and infinities
    g = run(make(), Est(agl=2000.0), 10)
    bad = Est(agl=float("nan"), agl_sigma=float("inf"), vz=float("-inf"), vz_sigma=float("nan"),
              vx=float("nan"))
    run(g, bad, 50, t0=1.0)
    # THEN the command stays a finite number in range
    assert 0.1 <= g.throttle <= 1.0
    assert math.isfinite(g.pitch_cmd) and math.isfinite(g.mass)


SNIPPET = """
import struct
import binascii
from flight.guidance import Guidance
from flight.core import CycleClock, Prior
class E:
    def __init__(self):
        self.agl = 3000.0
        self.agl_sigma = 3.0
        self.vz = -50.0
        self.vz_sigma = 0.2
        self.vx = 30.0
        self.aiding = True
        self.below = 0.0
P = Prior()
P.set((0, 3000.0, 10.0, -50.0, 0.5, 30.0, 0.5, 0.0, 5.0, 540.0, 340.0, 1600.0, 310.0, 0.1, 0.15, 0.35))
EST = E()
G = Guidance()
G.reset(P)
CLOCK = CycleClock()
I = 0
while I < 3000:
    # a crude fall with the commanded thrust, so the law visits every phase
    EST.vz += (G.throttle * 1600.0 / G.mass - 1.62) * 0.02
    EST.agl += EST.vz * 0.02
    EST.vx *= 0.999
    if EST.agl < 50.0:
        EST.aiding = (I % 7) != 0
    # the flight core's schedule: every frame, and a cycle every 0.1 s
    G.frame(1 if EST.agl < 0.3 else 0, 20000)
    if CLOCK.due(20000 * (I + 1), 20000):
        G.cycle(0.02 * (I + 1), CLOCK.dt, EST, 16 if 1496 <= I <= 1500 else 0,
                G.pitch_model + (0.1 if 2000 <= I < 2100 else 0.0))
    if I % 100 == 0:
        print(binascii.hexlify(struct.pack('<5d', G.throttle, G.pitch_cmd, G.mass, G.mode,
                                           G.vz_ref)).decode())
    I += 1
"""


def test_vm_and_cpython_give_identical_numbers():
    # GIVEN the same closed loop of guidance run in both interpreters
    # (every object hangs from a global: this WASI VM's collector does not see a function's
    # locals, the way the firmware's loop keeps its state reachable from main.py)
    vm = run_in_vm(SNIPPET).strip()
    here = run_in_cpython(SNIPPET).strip()
    # THEN every number agrees to the last bit (compared as the bytes of IEEE doubles:
    # MicroPython's repr of a float may drop the last digit)
    assert vm == here
    assert len(vm.splitlines()) == 30


def test_an_attitude_reading_off_the_commanded_attitude_is_not_believed_until_it_returns():
    # GIVEN a descent whose attitude reading follows the modelled attitude
    g = make()
    core = CoreSchedule()
    t = 0.0
    for _ in range(50):
        t += 0.02
        core.guidance(g, t, Est())
    assert g.attitude_ok
    # WHEN the reading jumps 0.05 rad off (a saturated rate channel's integrated error)
    for k in range(15):
        t += 0.02
        core.guidance(g, t, Est(), pitch=core.attitude + 0.05)
        if k == 4:  # one cycle off: still believed
            assert g.attitude_ok
    # THEN after two cycles off it is not believed
    assert not g.attitude_ok
    # AND it is believed again only after a second (ten cycles) back within 0.02 rad
    for k in range(50):
        t += 0.02
        core.guidance(g, t, Est(), pitch=core.attitude + 0.01)
        if k == 44:
            assert not g.attitude_ok
    assert g.attitude_ok


def test_the_estimator_rotates_by_the_model_while_the_reading_is_not_believed():
    from flight import wire
    from flight.core import FAULT_ATTITUDE_DISTRUSTED, FlightCore

    # GIVEN a flight core whose attitude reading is stuck 0.3 rad off what it commands
    core = FlightCore()
    assert core.configure((0, 3000.0, 3.0, -50.0, 0.5, 30.0, 0.5, 0.0, 1.0, 540.0, *VEHICLE[1:]))
    s = wire.Sensor()
    s.f_axial, s.f_lateral, s.pitch, s.flags = 1.62, 0.0, 0.3, 0
    for k in range(1, 40):
        s.t_us = 20_000 * k
        assert core.step(s)
    # THEN the attitude is distrusted, the COMMAND's fault flags say so, and the attitude the
    # estimator integrates over a cycle is the model's, not the reading's
    assert not core.guid.attitude_ok and core.fault_flags & FAULT_ATTITUDE_DISTRUSTED
    s.t_us += 20_000
    core.step(s)
    frames = (s.t_us - core.clock.last_us) // 20_000  # since the last cycle (INIT at t_us 0)
    # (the frames' readings are summed and multiplied by the interval at the next fold)
    integral = core.est.pitch_dt + core.est.sum_pitch * 0.02  # [rad s]
    assert frames == 4 and abs(integral - frames * 0.02 * core.guid.pitch_model) < 1e-12


WAIT_SNIPPET = """
from flight.guidance import Guidance
from flight.core import CycleClock, Prior
class E:
    pass
EST = E()
EST.agl = 400.0
EST.agl_sigma = 1.0
EST.vx = 25.0
EST.vz_sigma = 0.2
EST.aiding = True
EST.below = 0.0
# descending at the rate the wait allows (dh over the time 0.6 rad of tilt needs to null vx)
EST.vz = -(400.0 - 3.0 * 1.0 - 5.0) * 1.62 * 0.6 / 25.0
P = Prior()
P.set((0, 400.0, 1.0, EST.vz, 0.5, 25.0, 0.5, 0.0, 5.0, 540.0, 340.0, 1600.0, 310.0, 0.1, 0.15, 0.35))
G = Guidance()
G.reset(P)
CLOCK = CycleClock()
I = 0
while I < 300:
    G.frame(0, 20000)
    if CLOCK.due(20000 * (I + 1), 20000):
        G.cycle(0.02 * (I + 1), CLOCK.dt, EST, 0, G.pitch_model)
    I += 1
print(repr((G.vz_ref, EST.vz, G.throttle, G.cos_model, G.mass)))
"""


@pytest.mark.vm
@pytest.mark.parametrize("where", ["vm", "cpython"])
def test_while_the_descent_waits_for_vx_the_throttle_holds_the_wait_s_rate_without_feed_forward(where):
    # GIVEN 400 m up and 25 m/s across, descending at exactly the rate the wait allows, for 6 s
    out = (run_in_vm if where == "vm" else run_in_cpython)(WAIT_SNIPPET).strip()
    vz_ref, vz, throttle, c, mass = (float(x) for x in out.strip("()").split(","))
    # THEN the reference is that rate, and the thrust only holds the lander up: off the
    # braking curve there is no deceleration to feed forward (it would add 0.27 of throttle)
    assert vz_ref == pytest.approx(vz, rel=1e-12)
    assert throttle == pytest.approx(1.62 * mass / (1600.0 * c), rel=0.01)


FLOOR_SNIPPET = """
from flight.guidance import Guidance
from flight.core import CycleClock, Prior
class E:
    pass
EST = E()
EST.agl = 300.0
EST.agl_sigma = 0.5
EST.vz = -20.0
EST.vz_sigma = 0.2
EST.vx = 0.0
EST.aiding = True
out = []
for below, wet in ((0.0, 540.0), (20.0, 540.0), (20.0, 342.0)):
    EST.below = below
    P = Prior()
    P.set((0, 300.0, 0.5, -20.0, 0.5, 0.0, 0.5, 0.0, 5.0, wet, 340.0, 1600.0, 310.0, 0.1, 0.15, 0.35))
    G = Guidance()
    G.reset(P)
    G.frame(0, 20000)
    G.cycle(0.02, 0.1, EST, 0, 0.0)
    out.append((G.h_low, G.modes.h_low, G.k_sigma, G.vz_ref))
print(repr(out))
"""


@pytest.mark.vm
@pytest.mark.parametrize("where", ["vm", "cpython"])
def test_the_floor_of_an_outvoted_altimeter_sets_the_profile_and_the_modes_height(where):
    # GIVEN 300 m up, sure of the height: with no altimeter outvoted, and with one reading
    # 20 m lower, once with 200 kg of propellant and once with 2 kg
    out = (run_in_vm if where == "vm" else run_in_cpython)(FLOOR_SNIPPET).strip()
    plain, (h, h3, _k, vz_ref), (h_dry, h3_dry, k_dry, _v) = ast.literal_eval(out)
    # THEN with propellant the profile and the modes (phases, contact) both use 280 m, and
    # the descent is slower than without the floor
    assert plain[0] == pytest.approx(300.0 - 3.0 * 0.5, abs=1e-4)
    assert h == pytest.approx(280.0, abs=1e-4) and h3 == pytest.approx(280.0, abs=1e-4)
    assert plain[3] < vz_ref < 0.0
    # AND with none to pay for the slow descent, neither does
    assert h_dry == pytest.approx(300.0 - k_dry * 0.5, abs=1e-4)
    assert h3_dry == pytest.approx(300.0 - 3.0 * 0.5, abs=1e-4)

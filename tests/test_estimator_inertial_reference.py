"""The inertial velocities the cross-checks judge against (docs/algorithms.md section 2): v_ins
and vx_ins integrate the same velocity increments as the filter's vz and vx, and are pulled
toward them only over T_INS, so an aid that moves the filter does not move them at once."""

import math

import estimator_sim as sim
from fw import import_firmware

import_firmware()
from flight.core import CycleClock  # noqa: E402
from flight.estimator import _T_INS, Estimator  # noqa: E402

STEP_S = 10.0  # [s] the filter's velocities are moved here, as an aid would move them
DV = 2.0  # [m/s] by this much


def fly(duration_s):
    """No altimeter, no velocimeter: only inertial data; at STEP_S the filter's vz and vx jump
    by DV. Per cycle: (t, vz - v_ins, vx - vx_ins, vz_sigma, ins_sigma)."""
    frames = sim.Sim(radar=False, lrf=False, accel_bias=0.0).frames(duration_s)
    est = Estimator()
    est.reset(sim.Prior(vz_sigma=3.0))
    clock = CycleClock()
    rows = []
    last_us = 0
    moved = False
    for t, dt, fa, fl, pm, flags, rr, lr, _truth in frames:
        t_us = round(t * 1e6)
        est.frame(dt, fa, fl, pm, flags, rr, lr, t_us, 0, 0.0, 0.0)
        if clock.due(t_us, t_us - last_us):
            est.aid(t_us, False)
            est.cycle(t_us * 1e-6, t_us, clock.dt)
            if t >= STEP_S and not moved:
                est.x[1] += DV
                est.vx += DV
                moved = True
            rows.append((t, est.x[1] - est.v_ins, est.vx - est.vx_ins, est.vz_sigma, est.ins_sigma))
        else:
            est.aid(t_us, True)
        last_us = t_us
    return rows


def test_the_inertial_velocities_follow_inertial_motion_and_are_pulled_to_the_filter_over_t_ins():
    rows = fly(STEP_S + 2.0 * _T_INS + 1.0)
    # GIVEN only inertial data THEN v_ins and vx_ins move exactly as the filter's vz and vx
    before = [r for r in rows if r[0] < STEP_S]
    assert all(abs(dz) < 1e-6 and abs(dx) < 1e-6 for _t, dz, dx, _s, _i in before), before[-1]
    # WHEN the filter's vz and vx jump by DV (an aid) THEN the inertial ones close the gap only
    # as exp(-t / T_INS): 1 s later most of it is left, after T_INS about 1/e of it
    for after_s, tol in ((1.0, 0.02), (_T_INS, 0.02), (2.0 * _T_INS, 0.02)):
        t, dz, dx, _s, _i = next(r for r in rows if r[0] >= STEP_S + after_s)
        left = DV * math.exp(-(t - STEP_S) / _T_INS)
        assert abs(dz - left) < tol * DV and abs(dx - left) < tol * DV, (after_s, dz, dx, left)
    # AND the bound on v_ins's error starts at the prior's and follows the filter's vz sigma,
    # which grows without an altimeter, only slowly: between the two throughout
    assert all(3.0 <= i <= s + 1e-9 for _t, _dz, _dx, s, i in rows), rows[-1]
    assert rows[-1][3] - rows[-1][4] > 0.1 * (rows[-1][3] - 3.0), rows[-1]

"""The Doppler velocimeter in the firmware (docs/algorithms.md section 3b): fused for vx; a
witness for vz while an altimeter backs the filter (withheld, then rejected), believed and
fused when none does; a third voter on an altimeter's rate; never back through a lone beam once
found at fault; a bad beam value counted, never fused; on CPython and in the MicroPython VM.
(That each velocimeter fault of the library is isolated within 2 s of becoming observable,
with neither altimeter blamed, is the library's own expectation, flown on both host targets by
tests/test_library.py.)"""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
from fw import run_in_cpython, run_in_vm

from host_tools.base.paths import SCENARIOS

START_S = 40.0  # [s] every fault scenario's fault starts here


def fly(name: str, out) -> list[dict]:
    # the scenario in closed loop on the CPython target, as a user runs it: its log
    cmd = [sys.executable, "-m", "host_tools", "sim", str(SCENARIOS / f"{name}.toml"), "--target",
           "cpython", "--no-reference", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(out / "log.csv") as f:
        return list(csv.DictReader(f))


def test_a_beam_lost_leaves_the_other_measuring_vx(tmp_path):
    # GIVEN beam A lost from 40 s on WHEN flown
    rows = fly("velocimeter-beam-dropout", tmp_path)
    after = [r for r in rows if START_S + 1.0 < float(r["t_s"]) and float(r["z_m"]) > 20.0]
    # THEN the unit is suspect for missing data, never rejected, and beam B keeps vx measured as
    # well as the filter's vz error, carried through the beam's angle, allows (unmeasured, the
    # lateral bias would take vx's 1 sigma past 0.6 m/s), the estimate within 3 sigma of the truth
    assert all(r["vel_health"] == "suspect" and r["vel_reason"] == "no_data" for r in after)
    assert max(float(r["est_vx_sigma_mps"]) for r in after) < 0.5
    assert all(abs(float(r["est_vx_mps"]) - float(r["vx_mps"])) < 3.0 * float(r["est_vx_sigma_mps"])
               for r in after)
    assert abs(float(rows[-1]["vx_mps"])) <= 0.2


def test_the_horizontal_speed_is_nulled_from_the_measurement(tmp_path):
    # GIVEN the nominal descent with a velocimeter WHEN flown
    rows = fly("nominal-velocimeter", tmp_path)
    # THEN it is ok through the descent, the estimate of vx follows the truth, and the
    # touchdown is at most 0.2 m/s across
    mid = [r for r in rows if 20.0 < float(r["t_s"]) < 90.0]
    assert all(r["vel_health"] == "ok" for r in mid)
    assert max(abs(float(r["est_vx_mps"]) - float(r["vx_mps"])) for r in mid) < 0.15
    assert abs(float(rows[-1]["vx_mps"])) <= 0.2


# Direct calls of the unit: a rejected unit, then samples whose lone beam agrees with the
# filter (beam B invalid), then whole pairs that agree.
SNIPPET = """
from flight.velocimeter import Velocimeter
from flight.fmath import sin, cos_of
from flight import wire
v = Velocimeter()
v.configure(0.35)
v.reset()
th = 0.2
s = sin(th)
c = cos_of(s)
sa = sin(0.35)
ca = cos_of(sa)
vx = 20.0
vz = -40.0
a = vx * (s * ca - c * sa) - vz * (c * ca + s * sa)
b = vx * (s * ca + c * sa) - vz * (c * ca - s * sa)
out = []
t = 0
for k in range(40):
    t += 200000
    dvz = 0.0
    if k < 10:
        flags = 15  # both beams, agreeing
        aa, bb = a + 0.001 * (k % 2), b
    elif k < 15:
        flags = 15  # both beams stuck at a reading while the filter's vz moves 1 m/s a sample
        aa, bb = a, b
        dvz = -1.0 * (k - 9)
    elif k < 25:
        flags = 3  # beam A alone, agreeing with the filter
        aa, bb = a + 0.001 * (k % 2), 0.0
    else:
        flags = 15  # the pair again, agreeing
        aa, bb = a + 0.001 * (k % 2), b + 0.001 * (k % 3)
    v.take(flags, aa, bb, s, c, t)
    act = v.update(vx, vz + dvz, 0.01, 1.0, 0.0, 0.0, t, vz + dvz, vx, 0.01, True)
    out.append((k, act, v.health, v.reason))
print(repr(out))
"""


@pytest.mark.parametrize("target", ["cpython", pytest.param("vm", marks=pytest.mark.vm)])
def test_a_unit_found_at_fault_comes_back_only_through_the_pair(target):
    # GIVEN a unit rejected as stuck, then fed samples whose lone beam agrees, then pairs
    out = eval((run_in_vm if target == "vm" else run_in_cpython)(SNIPPET).strip())  # noqa: S307
    health = {k: (act, h, r) for k, act, h, r in out}
    # THEN the agreeing pair is ok and fused
    assert health[9][:2] == (1, 1)
    # AND the stuck beams are rejected for it
    assert health[14][1:] == (3, 4)
    # AND the lone beam, though it agrees, is never fused while the unit is rejected
    assert all(health[k][0] == 0 and health[k][1] == 3 for k in range(15, 25))
    # AND the pair brings it back only after 5 passing samples in a row, fused again
    back = [k for k in range(25, 40) if health[k][0] == 1]
    assert back and back[0] >= 29 and health[39][:2] == (1, 1)


CORE_SNIPPET = """
from flight.core import FlightCore
from flight import wire
core = FlightCore()
assert core.configure((0, 100.0, 5.0, -3.0, 0.5, 2.0, 0.2, 0.0, 1000.0, 540.0, 340.0, 1600.0, 310.0,
                       0.1, 0.15, 0.35))
s = wire.Sensor()
out = []
for k in range(1, 40):
    s.t_us = k * 20000
    s.f_axial = 1.62
    s.flags = 0
    s.beam_flags = 7 if k % 10 == 0 else 4  # A valid and new (NaN) at every 10th, B never new
    s.beam_a = float("nan") if k % 10 == 0 else 1.0
    s.beam_b = 3.0
    core.step(s)
    out.append((core.fault_flags, core.est.vel.health, core.est.vel.reason, core.est.vx))
print(repr(out))
"""


@pytest.mark.parametrize("target", ["cpython", pytest.param("vm", marks=pytest.mark.vm)])
def test_a_beam_value_that_is_not_a_number_is_counted_and_never_fused(target):
    # GIVEN frames whose beam A reads NaN at each of its new samples
    out = eval((run_in_vm if target == "vm" else run_in_cpython)(CORE_SNIPPET).strip())  # noqa: S307
    # THEN each such frame sets fault flag 64
    flagged = [i for i, (f, _h, _r, _vx) in enumerate(out) if f & 64]
    assert flagged == [k - 1 for k in range(1, 40) if k % 10 == 0]
    # AND no sample was ever taken: the unit is still not acquired, vx a finite propagation
    assert all(h == 0 for _f, h, _r, _vx in out)
    assert all(vx == vx and abs(vx - 2.0) < 0.1 for _f, _h, _r, vx in out)


def test_a_gap_above_the_beams_reach_is_no_fault(tmp_path):
    # GIVEN a dispersed nominal descent whose velocimeter sees the ground for a moment high
    # up, then loses it for seconds while still beyond its reach (found by 200 dispersed runs)
    from sim_harness.montecarlo import disperse
    from sim_harness.scenario import load_scenario, scenario_to_toml

    case = tmp_path / "case.toml"
    case.write_text(scenario_to_toml(disperse(load_scenario(SCENARIOS / "nominal-velocimeter.toml"),
                                              1835504127)))
    cmd = [sys.executable, "-m", "host_tools", "sim", str(case), "--target", "cpython", "--out",
           str(tmp_path / "out")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    # WHEN flown THEN it lands with no reference mismatch, and the unit goes back to not
    # acquired (out of range), never failed (it is rejected for a moment later, for its rate:
    # docs/algorithms.md section 3b, False alarms)
    import json

    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["outcome"] == "landed" and summary["reference"]["mismatches"] == 0, r.stdout + r.stderr
    with open(tmp_path / "out" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert any(r["vel_reason"] == "out_of_range" for r in rows)
    assert all(r["vel_health"] != "failed" for r in rows)


RULES_SNIPPET = """
from flight.velocimeter import Velocimeter
from flight.fmath import sin, cos_of
out = {}
# the 5 Hz cap: a sample 0.1 s after the last one taken is skipped, one 0.2 s after is taken
v = Velocimeter()
v.configure(0.35)
v.reset()
v.take(15, 1.0, 1.0, 0.0, 1.0, 1000000)
out["due"] = (v.due(1100000), v.due(1190000), v.due(1200000))
# a lone beam too near the vertical (pitch = cant: beam A upright) is of no use, no fault
s = sin(0.35)
c = cos_of(s)
acts = []
for k in range(12):
    t = 1000000 + 200000 * k
    v.take(3, 40.0, 0.0, s, c, t)  # beam A alone
    acts.append((v.update(0.0, -40.0, 0.01, 0.01, 0.0, 0.0, t, -40.0, 0.0, 0.01, True), v.health, v.reason))
out["steep"] = acts
# a gap: high up it is out of range, low down a failure
def gap_at(h):
    g = Velocimeter()
    g.configure(0.35)
    g.reset()
    g.take(15, 40.0, 40.0, 0.0, 1.0, 0)
    g.update(0.0, -40.0 / cos_of(sin(0.35)), 0.01, 0.01, 0.0, 0.0, 0, 0.0, 0.0, 0.01, True)
    g.no_sample(2000000, h)
    return (g.health, g.reason)
out["gap"] = (gap_at(3000.0), gap_at(500.0))
print(repr(out))
"""


@pytest.mark.parametrize("target", ["cpython", pytest.param("vm", marks=pytest.mark.vm)])
def test_the_cap_a_lone_upright_beam_and_a_gap_high_up_are_no_faults(target):
    # GIVEN direct calls of the unit WHEN each rule's case is fed
    out = eval((run_in_vm if target == "vm" else run_in_cpython)(RULES_SNIPPET).strip())  # noqa: S307
    # THEN samples are taken at most every 0.19 s (5 Hz: the Pico's budget)
    assert out["due"] == (False, True, True)
    # AND a lone beam along the thrust axis's vertical is never fused and never a fault: the
    # unit stays suspect for missing data
    assert all(act == 0 and h == 2 and r == 1 for act, h, r in out["steep"]), out["steep"]
    # AND a gap of 2 s above 2 km is out of range (not acquired), below it a failure
    assert out["gap"] == ((0, 2), (4, 1))


# Direct calls: the pair reads a vz off the filter's by `off` m/s (P_vv 0.01: the filter's
# 1 sigma is 0.1 m/s) for 30 samples, with an altimeter passing (backed) or none.
WITNESS_SNIPPET = """
from flight.velocimeter import Velocimeter
from flight.fmath import sin, cos_of
sa = sin(0.35)
ca = cos_of(sa)
out = {}
for name, off, backed in (("near", 0.25, True), ("far", 1.5, True), ("alone", 1.5, False)):
    v = Velocimeter()
    v.configure(0.35)
    v.reset()
    vz = -20.0
    m = -(vz + off) * ca  # both beams (level attitude, no vx)
    rows = []
    for k in range(30):
        t = 200000 * (k + 1)
        v.take(15, m + 0.001 * (k % 2), m, 0.0, 1.0, t)
        act = v.update(0.0, vz, 0.01, 0.01, 0.0, 0.0, t, vz, 0.0, 0.01, backed)
        rows.append((act, v.health, v.reason, v.fuse_z))
        if v.fuse_z:  # the estimator's vz update (P_vv kept at 0.01)
            vz += v.innov_z * 0.01 / (0.01 + v.var_z)
    out[name] = rows
print(repr(out))
"""


@pytest.mark.parametrize("target", ["cpython", pytest.param("vm", marks=pytest.mark.vm)])
def test_the_vz_witness_withholds_rejects_or_is_believed_by_who_backs_the_filter(target):
    out = eval((run_in_vm if target == "vm" else run_in_cpython)(WITNESS_SNIPPET).strip())  # noqa: S307
    # GIVEN an altimeter passing, a unit 2.5 filter sigmas off THEN it is withheld (suspect, rate),
    # never fused, never rejected: the filter's own slow error may be what is off
    near = out["near"][10:]
    assert all(act == 0 and h == 2 and r == 5 for act, h, r, _z in near), near
    # AND 15 sigmas off it is rejected for its rate
    assert out["far"][-1][1:3] == (3, 5), out["far"][-1]
    # AND with no altimeter passing the same unit is the best there is: ok, vx and vz fused
    alone = out["alone"][5:]
    assert all(act == 1 and h == 1 and z for act, h, _r, z in alone), alone


# Direct calls: an ok unit whose pairs agree with the filter, the inertial velocity v_ins
# equal to the filter's vz (or 2 m/s off it), then asked about an altimeter's rate test.
VOTE_SNIPPET = """
from flight.velocimeter import Velocimeter
from flight.fmath import sin, cos_of
ca = cos_of(sin(0.35))
out = {}
for name, ins_off in (("inertial agrees", 0.0), ("inertial off", 2.0)):
    v = Velocimeter()
    v.configure(0.35)
    v.reset()
    vz = -20.0
    m = -vz * ca
    t = 0
    for k in range(12):
        t = 200000 * (k + 1)
        v.take(15, m + 0.001 * (k % 2), m, 0.0, 1.0, t)
        v.update(0.0, vz, 0.01, 0.01, 0.0, 0.0, t, vz + ins_off, 0.0, 0.01, True)
    t_s = t * 1e-6
    out[name] = (v.health, v.outvotes(t_s, 3.0, 0.01, 0.01), v.outvotes(t_s, 0.3, 0.01, 0.01),
                 v.outvotes(t_s + 1.0, 3.0, 0.01, 0.01))
print(repr(out))
"""


@pytest.mark.parametrize("target", ["cpython", pytest.param("vm", marks=pytest.mark.vm)])
def test_the_velocimeter_outvotes_an_altimeter_rate_only_with_inertial_motion_on_its_side(target):
    out = eval((run_in_vm if target == "vm" else run_in_cpython)(VOTE_SNIPPET).strip())  # noqa: S307
    # GIVEN an ok unit that agrees with inertial motion THEN an altimeter whose range rate is 3 m/s
    # off inertial motion (1 sigma 0.14 m/s) is outvoted, one 0.3 m/s off is not, and a unit
    # whose last pair is 1 s old has no opinion
    assert out["inertial agrees"] == (1, True, False, False), out
    # AND a unit itself 2 m/s off inertial motion (0.1 m/s) outvotes nobody: two against one
    # needs the inertial data on its side
    assert out["inertial off"][0] == 1 and not out["inertial off"][1], out


FUSE_Z_SNIPPET = """
from flight.core import FlightCore
from flight import wire
from flight.fmath import sin, cos_of
core = FlightCore()
# 100 m up, vz -3.0 +- 0.5 m/s by the prior, no altimeter ever: nothing backs the filter's vz
assert core.configure((0, 100.0, 5.0, -3.0, 0.5, 2.0, 0.2, 0.0, 1000.0, 540.0, 340.0, 1600.0, 310.0,
                       0.1, 0.15, 0.35))
sa = sin(0.35)
ca = cos_of(sa)
vx, vz = 2.0, -2.0  # what the beams say: 1 m/s slower down than the prior
s = wire.Sensor()
for k in range(1, 151):
    s.t_us = k * 20000
    s.f_axial = 1.62  # level, thrust balancing gravity: inertial motion keeps vz
    s.flags = 0
    s.beam_flags = 15 if k % 5 == 0 else 5
    s.beam_a = -vx * sa - vz * ca + 0.002 * (k % 3)  # (never exactly repeated: not stuck)
    s.beam_b = vx * sa - vz * ca
    core.step(s)
    if k == 70:  # 6 pairs after acquisition (ok after the 5th)
        vz_70, p_vv_70 = core.est.x[1], core.est.p[5]
print(repr((core.est.vel.health, vz_70, p_vv_70)))
"""


@pytest.mark.parametrize("target", ["cpython", pytest.param("vm", marks=pytest.mark.vm)])
def test_with_no_altimeter_the_velocimeter_vz_is_fused(target):
    # GIVEN no altimeter and a prior 1 m/s (2 sigma) off what a healthy velocimeter measures
    health, vz, p_vv = eval((run_in_vm if target == "vm" else run_in_cpython)(FUSE_Z_SNIPPET).strip())  # noqa: S307
    # THEN the unit stays ok (never rejected against the unbacked filter, nor as noisy for the
    # jump its own fusion makes in its innovation) and once ok the filter's vz is the unit's,
    # its variance the unit's too
    assert health == 1
    assert abs(vz + 2.0) < 0.05, vz
    assert p_vv < 0.01, p_vv


# Direct calls at a pitch equal to the beams' cant, where beam B's reading does not move the
# pair's vz: beam B drifts 0.1 m/s a second (0.02 a sample), so the pair's vx drifts 1.55 times
# that while its vz stays right. The filter's vx follows the fused unit (the estimator's update,
# P_vx kept at 0.01); the inertial vx (vx_ins) stays on the true vx, its 1 sigma 0.1 m/s.
HORIZONTAL_SNIPPET = """
from flight.velocimeter import Velocimeter
from flight.fmath import sin, cos_of
sa = sin(0.35)
ca = cos_of(sa)
s, c = sa, ca
vx_true, vz = 20.0, -40.0
a = vx_true * (s * ca - c * sa) - vz * (c * ca + s * sa)
b = vx_true * (s * ca + c * sa) - vz * (c * ca - s * sa)
out = {}
for name, drift, inertial in (("healthy", 0.0, True), ("drift", 0.02, True),
                              ("drift, filter only", 0.02, False)):
    v = Velocimeter()
    v.configure(0.35)
    v.reset()
    vx = vx_true
    rows = []
    for k in range(120):
        t = 200000 * (k + 1)
        off = drift * max(0, k - 10)
        x_var = 0.01
        if k >= 60:  # the drift stops where it is; the inertial vx's error has grown meanwhile
            off = drift * 49
            x_var = 0.09
        if k >= 90:  # the fault is gone
            off = 0.0
        v.take(15, a + 0.001 * (k % 2), b + off, s, c, t)
        act = v.update(vx, vz, 0.01, 0.01, 0.0, 0.0, t, vz, vx_true if inertial else vx, x_var, True)
        if act == 1:
            vx += 0.01 / (0.01 + v.meas_var) * (v.meas - vx)
        rows.append((act, v.health, v.reason, vx - vx_true))
    out[name] = rows
print(repr(out))
"""


@pytest.mark.parametrize("target", ["cpython", pytest.param("vm", marks=pytest.mark.vm)])
def test_a_beam_drift_that_leaves_vz_alone_is_seen_against_the_inertial_vx(target):
    out = eval((run_in_vm if target == "vm" else run_in_cpython)(HORIZONTAL_SNIPPET).strip())  # noqa: S307
    # GIVEN a healthy unit THEN it is ok and fused throughout
    assert all(act == 1 and h == 1 for act, h, _r, _e in out["healthy"][5:]), out["healthy"]
    # AND a beam drifting where the pair's vz cannot see it is rejected for its rate, against
    # the inertial vx within 6 s of its onset, the filter's vx by then off by about half the
    # pair's error (0.8 m/s)
    drift = out["drift"]
    first = next(k for k, (_a, h, _r, _e) in enumerate(drift) if h == 3)
    assert drift[first][2] == 5 and first <= 40, (first, drift[first])
    assert abs(drift[first][3]) < 0.5, drift[first]
    # AND the sample that finds it at fault asks for the filter's vx to go back to the inertial
    # vx (ACT_RESET: what the unit fused is in it)
    assert drift[first][0] == 2, drift[first]
    # AND it is not taken back while its vx stays off by more than the inertial vx's 1 sigma,
    # though that error has grown enough to pass the fault limit; once right it is ok again
    assert all(h == 3 and act == 0 for act, h, _r, _e in drift[first + 1:90]), drift[first:90]
    assert drift[-1][:2] == (1, 1), drift[-1]
    # AND the filter alone follows the same drift: nothing in it rejects the unit
    alone = out["drift, filter only"]
    assert all(h == 1 for _a, h, _r, _e in alone[5:60]), alone
    assert abs(alone[59][3]) > 1.0, alone[59]


# Direct calls: an ok unit, then beam A alone (level attitude, agreeing with the filter), with
# the filter's vx known worse (P_vx 1) or better (P_vx 1e-4) than its vz error carries into it
# (P_vv 0.01 through cos/sin of the beam's angle: about 0.08 (m/s)^2).
LONE_SNIPPET = """
from flight.velocimeter import Velocimeter
from flight.fmath import sin, cos_of
sa = sin(0.35)
ca = cos_of(sa)
vx, vz = 5.0, -20.0
a = vx * (-sa) - vz * ca
b = vx * sa - vz * ca
out = {}
for name, p_vx in (("vx unknown", 1.0), ("vx known", 1e-4)):
    v = Velocimeter()
    v.configure(0.35)
    v.reset()
    rows = []
    for k in range(20):
        t = 200000 * (k + 1)
        v.take(15 if k < 10 else 3, a + 0.001 * (k % 2), b, 0.0, 1.0, t)
        act = v.update(vx, vz, p_vx, 0.01, 0.0, 0.0, t, vz, vx, 0.01, True)
        rows.append((act, v.health, v.reason))
    out[name] = rows
print(repr(out))
"""


@pytest.mark.parametrize("target", ["cpython", pytest.param("vm", marks=pytest.mark.vm)])
def test_a_lone_beam_is_fused_only_while_vx_is_known_worse_than_the_filter_vz_carries(target):
    out = eval((run_in_vm if target == "vm" else run_in_cpython)(LONE_SNIPPET).strip())  # noqa: S307
    # GIVEN an ok unit whose beam B is lost THEN with vx poorly known the lone beam is fused
    assert all(row == (1, 2, 1) for row in out["vx unknown"][10:]), out["vx unknown"]
    # AND with vx known better than the filter's vz error reaches it through the beam, it is
    # not fused (its error is the filter's own, the same sample after sample), and no fault
    assert all(row == (0, 2, 1) for row in out["vx known"][10:]), out["vx known"]


@pytest.mark.parametrize("target", ["cpython", pytest.param("vm", marks=pytest.mark.vm)])
def test_a_unit_found_at_fault_is_judged_against_an_inertial_vx_it_did_not_drag(target):
    # GIVEN fault campaign case 520 of base seed 1 with the velocimeter (truth pilot down in
    # 131.4 s): beam B delayed 0.6 s from 35 s. While the lander brakes the delayed beam reads
    # the velocity of 0.6 s before; the unit, fused for 5 s, is rejected at 40 s with the
    # filter's vx 0.6 m/s off. Nothing else measures vx: had vx_ins been pulled toward that
    # vx, the unit, reading right again near the ground, would be rejected against it, and the
    # lander would touch down 1.01 m/s across
    from host_tools.link.connect import open_target
    from sim_harness.campaign_cases import build_case
    from sim_harness.closedloop import run_scenario
    from sim_harness.report import summarize

    # WHEN the firmware flies it in closed loop (in CPython, or in the MicroPython VM)
    with open_target(target) as t:
        summ = summarize(run_scenario(build_case((1, 520, 131.4, True)), t))
    # THEN the unit is found at fault, taken back before touchdown, and the lander lands
    # without sliding
    vel = [c for c in summ["faults_declared"] if c["sensor"] == "velocimeter"]
    rejected = [i for i, c in enumerate(vel) if c["state"] in ("rejected", "failed")]
    assert rejected and any(c["state"] == "ok" for c in vel[rejected[-1]:]), vel
    assert summ["outcome"] == "landed"
    assert summ["touchdown"]["vertical_speed_mps"] <= 2.0
    assert summ["touchdown"]["horizontal_speed_mps"] <= 1.0


# The estimator's side of decision 0018, with the unit's verdict set by hand: frames with no
# beam sample, the filter's vx 1 m/s above vx_ins; then a sample whose verdict is ACT_RESET.
INERTIAL_SNIPPET = """
from flight.core import FlightCore
from flight import wire
from flight.altimeter import ACT_RESET, OK, REJECTED
out = {}
for name, health in (("ok", OK), ("rejected", REJECTED)):
    core = FlightCore()
    assert core.configure((0, 100.0, 5.0, -3.0, 0.5, 2.0, 0.2, 0.0, 1000.0, 540.0, 340.0, 1600.0,
                           310.0, 0.1, 0.15, 0.35))
    est = core.est
    s = wire.Sensor()
    s.f_axial = 1.62
    s.flags = 0
    s.beam_flags = 0
    est.vel.health = health
    est.vel.t_good_us = 10 ** 9  # no gap to declare
    est.vx = 5.0
    est.vx_ins = 4.0
    for k in range(1, 51):  # 1 s: ten cycles
        s.t_us = k * 20000
        core.step(s)
    out[name] = (est.vel.health, est.vx - 5.0, est.vx_ins - 4.0)
est.vx = 5.0
est.vx_ins = 4.0
est.xins_sigma = 0.3
est.p_vx = 0.01
est.vel.update = lambda *args: ACT_RESET
est.vel.w_t_us = est.t_state_us
est._aid_velocity()
out["reset"] = (est.vx, est.p_vx)
print(repr(out))
"""


@pytest.mark.parametrize("target", ["cpython", pytest.param("vm", marks=pytest.mark.vm)])
def test_a_unit_found_at_fault_no_longer_drags_vx_ins_and_gives_vx_back_to_it(target):
    out = eval((run_in_vm if target == "vm" else run_in_cpython)(INERTIAL_SNIPPET).strip())  # noqa: S307
    # GIVEN the filter's vx 1 m/s above vx_ins for ten cycles
    health, dvx, dvx_ins = out["ok"]
    # THEN with the unit ok vx_ins is pulled toward the filter's vx (T_INS, 20 s: about 5 cm)
    assert health == 1 and 0.03 < dvx_ins - dvx < 0.07, out["ok"]
    # AND with the unit rejected it follows the inertial motion alone, as vx does
    health, dvx, dvx_ins = out["rejected"]
    assert health == 3 and abs(dvx_ins - dvx) < 1e-4, out["rejected"]
    # AND a sample that finds the unit at fault gives the filter's vx back to vx_ins, with
    # vx_ins's variance
    vx, p_vx = out["reset"]
    assert vx == 4.0 and abs(p_vx - 0.09) < 1e-6, out["reset"]

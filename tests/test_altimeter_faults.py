"""Sick altimeters: each fault kind is isolated within 2 s of becoming observable, with its reason,
while the other altimeter keeps the estimate right (the vote of two altimeters and inertial data)."""

import estimator_sim as sim
import pytest
from fw import import_firmware

import_firmware()
from flight.estimator import Estimator  # noqa: E402

OK, SUSPECT, REJECTED, FAILED = 1, 2, 3, 4
STUCK, RATE, DISAGREE, NOISY, NO_DATA = 4, 5, 6, 7, 1
START = 10.0  # [s] the fault starts (true height about 1540 m: both altimeters in range)

# name: (fault, the time after START by which it is observable [s], accepted reasons)
CASES = {
    "stuck": (sim.stuck(START), 0.5, {STUCK}),
    "bias": (sim.bias(START, 30.0), 0.0, {DISAGREE, NOISY}),
    # reading short: lower, but its own readings stepped against inertial motion
    "bias-short": (sim.bias(START, -30.0), 0.0, {DISAGREE, NOISY}),
    "drift": (sim.drift(START, 5.0), None, {RATE, DISAGREE}),
    "noise": (sim.noise(START, 20.0), 0.0, {NOISY}),
    "spikes": (sim.spikes(START, 200.0, 4), 1.0, {NOISY}),
    "scale": (sim.scale(START, 1.1), 0.0, {DISAGREE, RATE, NOISY}),
    "scale-short": (sim.scale(START, 0.9), 0.0, {DISAGREE, RATE, NOISY}),
    "dropout": (sim.dropout(START), 0.5, {NO_DATA}),
}
SIGMA = {"radar": (0.5, 0.003), "lrf": (0.1, 0.0005)}


@pytest.mark.parametrize("which", ["radar", "lrf"])
@pytest.mark.parametrize("kind", list(CASES))
def test_a_sick_altimeter_is_isolated_with_its_reason(which, kind):
    fault, observable, reasons = CASES[kind]
    if observable is None:  # a drift: observable when it reaches 3 sigma of the sensor at 1.5 km
        s0, f = SIGMA[which]
        observable = 3.0 * (s0 + f * 1500.0) / 5.0
    # GIVEN a nominal descent in which one altimeter falls sick at START
    kw = {which + "_fault": fault}
    frames = sim.Sim(seed=7, **kw).frames(START + 8.0)
    # WHEN the estimator runs
    rows = sim.run(Estimator(), sim.Prior(), frames)
    other = "lrf" if which == "radar" else "radar"
    # THEN the sick one is declared not ok within 2 s of the fault becoming observable
    sick = [r for r in rows if r["t"] >= START and r[which][0] != OK]
    assert sick, "never isolated"
    assert sick[0]["t"] - START <= observable + 2.0, sick[0]["t"]
    # AND by the end it is rejected or failed with the expected reason
    assert rows[-1][which][0] in (REJECTED, FAILED), rows[-1][which]
    assert rows[-1][which][1] in reasons, rows[-1][which]
    # AND the healthy one was never rejected or failed, and the estimate stayed right
    assert all(r[other][0] not in (REJECTED, FAILED) for r in rows)
    for r in rows:
        if r["t"] > 1.0:
            assert abs(r["agl"] - r["truth"]["agl"]) <= 2.0 + 0.01 * r["truth"]["agl"], r["t"]


def test_an_altimeter_outvoted_for_drifting_off_says_how_far_below_it_reads():
    # GIVEN a precise range finder drifting 0.3 m/s long from START: the filter follows it, and
    # the healthy radar, now reading lower, is outvoted by the mean test (its rate test, as
    # blunt as its noise, cannot tell which of the two drifted)
    frames = sim.Sim(seed=7, lrf_fault=sim.drift(START, 0.3)).frames(60.0)
    rows = sim.run(Estimator(), sim.Prior(), frames)
    out = [r for r in rows if r["radar"] == (REJECTED, DISAGREE)]
    assert out, "the radar was never outvoted"
    # THEN from then on the estimator says how far below the filter the radar reads (what
    # guidance brakes for): the filter's error, within the radar's noise
    for r in out[5:]:
        h = r["truth"]["agl"]
        assert abs(r["below"] - (r["agl"] - h)) <= 5.0 * (0.5 + 0.003 * h), r["t"]
    assert out[-1]["below"] > 10.0
    # AND never before it was outvoted
    assert all(r["below"] == 0.0 for r in rows if r["t"] < out[0]["t"])


def test_an_altimeter_rejected_for_a_jump_says_nothing_of_how_low_it_reads():
    # GIVEN a radar that jumps 30 m short at START (its own readings stepped against inertial
    # motion: it is the one at fault)
    frames = sim.Sim(seed=7, radar_fault=sim.bias(START, -30.0)).frames(START + 20.0)
    rows = sim.run(Estimator(), sim.Prior(), frames)
    # THEN it is rejected, and guidance is never asked to brake for it
    assert rows[-1]["radar"][0] == REJECTED
    assert all(r["below"] == 0.0 for r in rows)


@pytest.mark.parametrize("vx", [0.0, 30.0])
def test_a_lone_range_finder_that_jumps_higher_leaves_a_floor_only_if_the_lander_did_not_move_across(vx):
    # GIVEN the radar lost from the start and the range finder jumping 20 m long at 25 s
    # (about 1.2 km up), once with the lander still across and once at 30 m/s across
    s = sim.Sim(seed=7, vx0=vx, radar_fault=sim.dropout(0.0), lrf_fault=sim.bias(25.0, 20.0))
    rows = sim.run(Estimator(), sim.Prior(vx=vx), s.frames(30.0))
    # THEN the lone unit's new level is believed either way (nothing can show otherwise)
    assert abs(rows[-1]["agl"] - rows[-1]["truth"]["agl"] - 20.0) < 2.0
    # AND only over terrain that cannot have dropped away does the old level stay a floor
    # that guidance brakes for, 20 m below
    end = rows[-1]["below"]
    if vx == 0.0:
        assert end == pytest.approx(20.0, abs=2.0)
    else:
        assert end == 0.0

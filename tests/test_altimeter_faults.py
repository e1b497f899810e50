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


"""Invalid values (NaN, negative, huge) flagged by the core never reach the state."""

import math

import estimator_sim as sim
from fw import import_firmware

import_firmware()
from flight.estimator import Estimator  # noqa: E402

OK, SUSPECT, FAILED = 1, 2, 4
INVALID = 9


def _bad_radar(frames, start, end):
    # the core turns a bad radar value into: valid and new bits clear, RADAR_BAD set, range 0
    out = []
    for f in frames:
        t, dt, fa, fl, pm, flags, rr, lr, truth = f
        if start <= t < end and flags & sim.RADAR_NEW:
            flags = (flags & ~(sim.RADAR_VALID | sim.RADAR_NEW)) | sim.RADAR_BAD
            rr = 0.0
        out.append((t, dt, fa, fl, pm, flags, rr, lr, truth))
    return out


def test_a_single_bad_value_is_an_event_not_a_fault():
    # GIVEN one bad radar sample at 10 s
    frames = _bad_radar(sim.Sim(seed=3).frames(14.0), 10.0, 10.05)
    rows = sim.run(Estimator(), sim.Prior(), frames)
    # THEN the radar is reported suspect (invalid_value) at most briefly and is ok again,
    # and the estimate is finite and right throughout
    assert any(r["radar"] == (SUSPECT, INVALID) for r in rows)
    assert rows[-1]["radar"] == (OK, 0)
    for r in rows:
        assert math.isfinite(r["agl"]) and math.isfinite(r["agl_sigma"])
        if r["t"] > 1.0:
            assert abs(r["agl"] - r["truth"]["agl"]) <= 2.0 + 0.01 * r["truth"]["agl"]


def test_persistent_bad_values_fail_the_altimeter_and_it_recovers():
    # GIVEN bad radar values from 10 s to 13 s
    frames = _bad_radar(sim.Sim(seed=3).frames(16.0), 10.0, 13.0)
    rows = sim.run(Estimator(), sim.Prior(), frames)
    # THEN it is failed with reason invalid_value, then ok again within 1 s of the end
    assert any(r["radar"] == (FAILED, INVALID) for r in rows if r["t"] < 13.0)
    assert all(r["radar"][0] == OK for r in rows if r["t"] > 14.0)

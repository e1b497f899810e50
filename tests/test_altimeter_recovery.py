"""Recovery: no altimeter is rejected forever (the 2023 loss)."""

import estimator_sim as sim
from fw import import_firmware

import_firmware()
from flight.estimator import Estimator  # noqa: E402

OK, REJECTED, FAILED = 1, 3, 4


def test_a_rejected_altimeter_comes_back_when_its_fault_ends():
    # GIVEN a 30 m radar bias from 10 s to 13 s, and a radar dropout from 17 s to 19 s
    bias = sim.bias(10.0, 30.0, end=13.0)
    drop = sim.dropout(17.0, 19.0)
    frames = sim.Sim(seed=8, radar_fault=lambda t, r, v, rt: drop(t, *bias(t, r, v, rt), rt)).frames(25.0)
    rows = sim.run(Estimator(), sim.Prior(), frames)
    # THEN it is rejected during the bias, failed in the dropout, and ok within 3 s after each
    assert any(r["radar"][0] == REJECTED for r in rows if 10.0 <= r["t"] < 13.0)
    assert any(r["radar"][0] == OK for r in rows if 13.0 <= r["t"] < 17.0)
    assert any(r["radar"][0] == FAILED for r in rows if 17.0 <= r["t"] < 19.0)
    assert all(r["radar"][0] == OK for r in rows if r["t"] > 22.0)


def test_a_lone_altimeter_is_never_rejected_forever():
    # GIVEN only a radar (no LRF fitted) that jumps by 200 m at 10 s (bias or terrain:
    # alone, nothing can tell)
    frames = sim.Sim(seed=9, lrf=False, radar_fault=sim.bias(10.0, 200.0)).frames(16.0)
    rows = sim.run(Estimator(), sim.Prior(), frames)
    # THEN it is believed again within 3 s (as terrain) and the estimate follows it
    assert all(r["radar"][0] == OK for r in rows if r["t"] > 13.0)
    assert all(r["aiding"] for r in rows if r["t"] > 13.0)

"""Estimator, nominal descent: convergence, error bounds, honest uncertainty, no false alarm."""

import estimator_sim as sim
from fw import import_firmware

import_firmware()
from flight.estimator import Estimator  # noqa: E402

OK = 1


def test_nominal_descent_meets_error_bounds_and_stays_ok():
    # GIVEN a flat-terrain descent from 2 km with both altimeters healthy
    for seed in (1, 2, 3):
        frames = sim.Sim(seed=seed).frames(120.0)
        # WHEN the estimator runs on the frames
        rows = sim.run(Estimator(), sim.Prior(), frames)
        # THEN after acquisition the height error is within 2 m + 1 %, within 1 m below 100 m,
        # and neither altimeter ever leaves ok once acquired
        for r in rows:
            if r["t"] < 1.0:
                continue
            true = r["truth"]["agl"]
            err = abs(r["agl"] - true)
            assert err <= 2.0 + 0.01 * true, (seed, r["t"], err)
            if true < 100.0:
                assert err <= 1.0, (seed, r["t"], err)
            assert r["radar"][0] == OK and r["lrf"][0] == OK, (seed, r["t"], r["radar"], r["lrf"])
            assert r["aiding"]


def test_sigma_is_consistent_with_the_error():
    # GIVEN a nominal descent
    rows = sim.run(Estimator(), sim.Prior(), sim.Sim(seed=4).frames(80.0))
    # WHEN the normalised error is collected after acquisition
    n = [(r["agl"] - r["truth"]["agl"]) / r["agl_sigma"] for r in rows if r["t"] > 2.0]
    # THEN it is neither overconfident nor hugely pessimistic (rms near 1)
    rms = (sum(x * x for x in n) / len(n)) ** 0.5
    assert 0.2 < rms < 2.0, rms


def test_vertical_velocity_converges_from_a_wrong_prior():
    # GIVEN a prior vertical speed 2 m/s wrong (its sigma says 2 m/s)
    prior = sim.Prior(vz=-38.0, vz_sigma=2.0)
    rows = sim.run(Estimator(), prior, sim.Sim(seed=5).frames(30.0))
    # WHEN 10 s of altimeter data have been fused
    late = [r for r in rows if r["t"] > 10.0]
    # THEN vz is within 0.5 m/s of the truth (the radar at 1-2 km is a noisy rate sensor)
    assert max(abs(r["vz"] - r["truth"]["vz"]) for r in late) < 0.5


def test_an_axial_accelerometer_bias_learnt_from_the_altimeters_corrects_vx_too():
    # GIVEN a pitched descent (up to 0.4 rad) with a 0.05 m/s^2 axial bias, 10 sigma of the
    # prior: until the altimeters have taught the filter the bias, it drives vx as well
    for vx0 in (20.0, 40.0):
        frames = sim.Sim(seed=3, z0=3000.0, vx0=vx0, accel_bias=0.05).frames(120.0)
        # WHEN the estimator runs on the frames
        rows = sim.run(Estimator(), sim.Prior(z=3000.0, vx=vx0), frames)
        # THEN by touchdown the horizontal speed the bias drove is taken back with it (left
        # uncorrected it is 0.6-0.8 m/s, corrected 0.1-0.2)
        end = rows[-1]
        assert abs(end["vx"] - end["truth"]["vx"]) < 0.3, (vx0, end["vx"], end["truth"]["vx"])

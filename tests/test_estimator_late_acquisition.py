"""Late acquisition (the 2025 loss): no altimeter until about 900 m, a prior hundreds of metres off."""

import estimator_sim as sim
from fw import import_firmware

import_firmware()
from flight.estimator import Estimator  # noqa: E402

NOT_ACQUIRED, OK = 0, 1


def _run(z_sigma):
    # the prior says 3400 m, the truth is 3000 m; nothing valid until the range is below 900 m
    frames = sim.Sim(seed=11, z0=3000.0, acquire_below=900.0).frames(60.0)
    prior = sim.Prior(z=3400.0, z_sigma=z_sigma, terrain_sigma=z_sigma)
    return sim.run(Estimator(), prior, frames)


def test_without_an_altimeter_the_sigma_grows_and_aiding_is_false():
    # GIVEN an honest prior (400 m off, sigma 300 m on z and terrain)
    rows = _run(300.0)
    blind = [r for r in rows if r["truth"]["agl"] > 1000.0]
    # THEN while blind: not aiding, not acquired (not a fault), sigma never shrinks and grows
    assert all(not r["aiding"] for r in blind)
    assert all(r["radar"][0] == NOT_ACQUIRED and r["lrf"][0] == NOT_ACQUIRED for r in blind)
    sig = [r["agl_sigma"] for r in blind]
    assert all(b >= a for a, b in zip(sig, sig[1:], strict=False))
    assert sig[-1] > sig[0]
    # AND the error stays within 3 sigma
    assert all(abs(r["agl"] - r["truth"]["agl"]) < 3.0 * r["agl_sigma"] for r in blind)


def test_first_ranges_are_accepted_even_when_the_prior_lied():
    # GIVEN a prior that claims 30 m sigma but is 400 m off
    for z_sigma in (300.0, 30.0):
        rows = _run(z_sigma)
        first = next(r["t"] for r in rows if r["truth"]["agl"] < 900.0 * 0.99)
        # WHEN the first valid ranges arrive
        # THEN within 1 s the radar is ok, the estimate is right and aiding is true
        after = [r for r in rows if r["t"] > first + 1.0]
        assert after[0]["radar"][0] == OK and after[0]["aiding"]
        assert all(abs(r["agl"] - r["truth"]["agl"]) <= 2.0 + 0.01 * r["truth"]["agl"] for r in after)

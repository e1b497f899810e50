"""Terrain steps (the 2023 crater rim): a 3 km step either way is terrain, not a fault."""

import estimator_sim as sim
import pytest
from fw import import_firmware

import_firmware()
from flight.estimator import Estimator  # noqa: E402

OK = 1
REJECTED, FAILED = 3, 4


@pytest.mark.parametrize("before,after", [(3000.0, 0.0), (0.0, 3000.0)])
def test_a_3km_terrain_step_is_accepted_within_3s_and_z_is_kept(before, after):
    # GIVEN a lander at 5 km above datum crossing a 3 km cliff at x = 100 m (about 3.3 s)
    s = sim.Sim(seed=2, z0=5000.0, vx0=30.0, terrain=sim.step_terrain(100.0, before, after))
    frames = s.frames(12.0)
    t_step = next(f[0] for f in frames if f[8]["terrain"] == after)
    est = Estimator()
    # WHEN the estimator runs across it
    rows = sim.run(est, sim.Prior(z=5000.0, terrain=before, vx=30.0), frames)
    z_before = [r["z"] for r in rows if r["t"] < t_step][-1]
    # THEN the radar is never rejected or failed, is ok again within 3 s of the step,
    # the height above terrain is right again, and z (height above datum) did not jump
    assert all(r["radar"][0] not in (REJECTED, FAILED) for r in rows)
    back = [r for r in rows if r["t"] >= t_step and r["radar"][0] == OK
            and abs(r["agl"] - r["truth"]["agl"]) < 20.0]
    assert back and back[0]["t"] - t_step < 3.0
    z_after = [r["z"] for r in rows if r["t"] >= t_step + 3.0][0]
    assert abs(z_after - z_before) < 3.0 * 50.0 + 200.0  # moved by inertia only, never by 3 km
    assert abs(rows[-1]["terrain"] - after) < 50.0 + 3 * 50.0
    assert abs(rows[-1]["agl"] - rows[-1]["truth"]["agl"]) < 10.0

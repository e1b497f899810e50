"""Terrain: heights and the altimeter beam's intersection with the profile."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim_harness.terrain import Terrain

RIM = Terrain([-20000.0, -2600.0, -2400.0, 20000.0], [3000.0, 3000.0, 0.0, 0.0])


def brute_range(t: Terrain, x, z, pitch, max_r=40000.0, n=400001):
    """The first sample along the beam at or under the ground, refined by bisection."""
    r = np.linspace(0.0, max_r, n)
    px = x + r * math.sin(pitch)
    pz = z - r * math.cos(pitch)
    ground = np.interp(px, t.xs, t.hs)  # numpy interp is flat beyond the ends too
    under = np.flatnonzero(pz <= ground)
    if under.size == 0:
        return math.inf
    hi = r[under[0]]
    lo = r[max(under[0] - 1, 0)]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        gx, gz = x + mid * math.sin(pitch), z - mid * math.cos(pitch)
        if gz <= np.interp(gx, t.xs, t.hs):
            hi = mid
        else:
            lo = mid
    return hi


def test_height_is_linear_between_points_and_flat_beyond():
    t = Terrain([0.0, 10.0, 20.0], [0.0, 10.0, 0.0])
    assert t.height(-5.0) == 0.0 and t.height(25.0) == 0.0
    assert t.height(5.0) == pytest.approx(5.0) and t.height(15.0) == pytest.approx(5.0)
    assert t.height(10.0) == 10.0


def test_vertical_beam_gives_the_height_above_the_terrain():
    assert RIM.ray_range(-3000.0, 5500.0, 0.0) == pytest.approx(2500.0)
    assert RIM.ray_range(0.0, 5500.0, 0.0) == pytest.approx(5500.0)


def test_pitched_beam_over_flat_ground_is_height_over_cos():
    t = Terrain.flat(100.0)
    assert t.ray_range(0.0, 1100.0, 0.5) == pytest.approx(1000.0 / math.cos(0.5))


def test_beam_meets_the_cliff_face_before_the_floor():
    # GIVEN a lander on the low side looking toward a 3 km wall 300 m ahead
    up = Terrain([-20000.0, -2600.0, -2400.0, 20000.0], [0.0, 0.0, 3000.0, 3000.0])
    # WHEN the beam is tilted toward the wall
    r = up.ray_range(-2900.0, 2000.0, 0.6)
    # THEN it hits the wall, far shorter than the floor at 2000 / cos 0.6
    assert r < 2000.0 / math.cos(0.6)
    assert r == pytest.approx(brute_range(up, -2900.0, 2000.0, 0.6), abs=1e-3)


def test_beam_that_never_points_down_has_no_range():
    assert RIM.ray_range(0.0, 100.0, math.pi / 2) == math.inf


def test_point_under_the_ground_has_zero_range():
    assert RIM.ray_range(-3000.0, 2000.0, 0.1) == 0.0


profiles = st.lists(st.tuples(st.floats(-500.0, 500.0), st.floats(-300.0, 300.0)), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(profiles, st.floats(-1.2, 1.2), st.floats(-800.0, 800.0), st.floats(1.0, 1500.0))
def test_ray_range_matches_a_brute_force_march(points, pitch, x, height):
    xs = sorted({round(p[0], 3) for p in points})
    hs = [p[1] for p in points][: len(xs)]
    t = Terrain(xs, hs)
    z = t.height(x) + height
    r = t.ray_range(x, z, pitch)
    expected = brute_range(t, x, z, pitch, max_r=6000.0, n=60001)
    assert r == pytest.approx(expected, abs=1e-3, rel=1e-6)

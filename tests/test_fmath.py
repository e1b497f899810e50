"""flight.fmath: sine and cosine from + - * / only, cut where further terms cannot change them."""

from __future__ import annotations

import math

from fw import import_firmware

import_firmware()

from flight import fmath  # noqa: E402

GRID = [i * (math.pi / 2) / 5000 for i in range(-5000, 5001)]  # [rad] the clamped range


def _full_series(x: float) -> tuple[float, float]:
    # every term to degree 22 (cos) and 23 (sin), Horner's form, whatever x is
    x2 = x * x
    s = fmath._SIN[fmath._TERMS]
    c = fmath._COS[fmath._TERMS]
    for k in range(fmath._TERMS - 1, -1, -1):
        s = s * x2 + fmath._SIN[k]
        c = c * x2 + fmath._COS[k]
    return x * s, c


def test_sine_and_cosine_are_within_rounding_of_the_library_over_the_attitude_range():
    # GIVEN angles across [-pi/2, pi/2]
    # THEN both functions are within two roundings of a result near 1 (the reference model's
    # numpy sin and cos differ from them by no more)
    assert max(abs(fmath.sin(x) - math.sin(x)) for x in GRID) < 4e-16
    assert max(abs(fmath.cos(x) - math.cos(x)) for x in GRID) < 4e-16
    # AND the sine of a small angle is right relative to its size
    for x in (1e-9, 1e-5, 3e-3, -0.02):
        assert abs(fmath.sin(x) - math.sin(x)) <= 2.3e-16 * abs(x)


def test_cutting_the_series_changes_a_result_by_a_rounding_at_most():
    # GIVEN the series cut after the last term that can matter at each angle
    # THEN it equals the full series to within half a unit in the last place of 1 (the
    # rounding of a Horner step near 1; a small cosine near pi/2 carries the same absolute
    # rounding), and for nearly every angle bit for bit
    same = 0
    for x in GRID:
        s, c = _full_series(x)
        assert abs(fmath.sin(x) - s) <= 2.0 ** -53
        assert abs(fmath.cos(x) - c) <= 2.0 ** -53
        same += fmath.sin(x) == s and fmath.cos(x) == c
    assert same > 0.98 * len(GRID)


def test_the_cut_follows_the_bound_of_the_first_term_left_out():
    # GIVEN each limit of x^2 at which the series may stop after the x^2n term
    for n, x2 in enumerate(fmath._X2_MAX):
        # THEN the first term left out, x^(2n+2) / (2n+2)!, is below 2^-57 there
        assert x2 ** (n + 1) / math.factorial(2 * n + 2) < 2.0 ** -57
    # AND the last one keeps every term up to degree 22 at pi/2
    assert (math.pi / 2) ** 2 > fmath._X2_MAX[-1]
    assert fmath._order((math.pi / 2) ** 2) == fmath._TERMS


def test_angles_beyond_the_envelope_are_clamped():
    assert fmath.sin(2.0) == fmath.sin(math.pi / 2)
    assert fmath.cos(-3.0) == fmath.cos(-math.pi / 2)
    assert fmath.sin(0.0) == 0.0 and fmath.cos(0.0) == 1.0

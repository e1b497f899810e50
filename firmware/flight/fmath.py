# Elementary functions for the flight core, built from + - * / only so that every
# target (CPython, the MicroPython VM, a board) rounds them the same way: library
# sin/cos differ in the last bit between C libraries.
from micropython import const

_HALF_PI = 1.5707963267948966  # [rad]
_TERMS = const(11)


def sin_cos(x):
    # sin(x), cos(x) for |x| <= pi/2 (the attitude envelope), by Taylor series
    # to degree 22: truncation error below 1e-16 at pi/2
    if x > _HALF_PI:
        x = _HALF_PI
    elif x < -_HALF_PI:
        x = -_HALF_PI
    x2 = x * x
    s = 1.0
    c = 1.0
    n = _TERMS
    while n > 0:
        # Horner form of the series, innermost term first
        s = 1.0 - x2 * s / ((2 * n) * (2 * n + 1))
        c = 1.0 - x2 * c / ((2 * n - 1) * (2 * n))
        n -= 1
    return x * s, c

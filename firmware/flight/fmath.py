# Elementary functions for the flight core, built from + - * / only so that every
# target (CPython, the MicroPython VM, a board) rounds them the same way: library
# sin/cos differ in the last bit between C libraries.
#
# Cost matters here: on a board every float result is a new heap object, so each
# function returns one float (no tuple) and evaluates only the terms of the series that
# can change its result, and a cosine that goes with a sine is its square root's (three
# floats instead of a second series).
import math

from micropython import const

_HALF_PI = 1.5707963267948966  # [rad]
_NEG_HALF_PI = -_HALF_PI  # [rad] (a negated name would be a new float at every use)
_TERMS = const(11)  # degree 22 for cos, 23 for sin: enough at pi/2


def _coefficients(first):
    # Taylor coefficients (-1)^k / (first + 2k)!, k = 0.._TERMS, by division (every
    # target rounds them alike)
    out = [1.0]
    c = 1.0
    for k in range(1, _TERMS + 1):
        c = -c / ((first + 2 * k - 1) * (first + 2 * k))
        out.append(c)
    return tuple(out)


_COS = _coefficients(0)  # cos x = sum _COS[k] x^2k
_SIN = _coefficients(1)  # sin x = x sum _SIN[k] x^2k

# _X2_MAX[n]: up to this x^2 the series may stop after the x^2n term: the first term left
# out, below x^(2n+2)/(2n+2)!, is then under 2^-57 (a sixteenth of the rounding of a result
# near 1). Short decimals, read alike by every target's parser, each below the exact bound.
_X2_MAX = (0.0, 1.2e-8, 1.7e-5, 7.2e-4, 7.5e-3, 0.038, 0.129, 0.331, 0.707, 1.32, 2.25)


def _order(x2):
    # the last term of the series that can change a result at x^2 = x2 (|x| <= pi/2)
    n = 0
    while n < _TERMS and x2 > _X2_MAX[n]:
        n += 1
    return n


def _clamp(x):
    # the attitude envelope: the series is exact to rounding for |x| <= pi/2
    if x > _HALF_PI:
        return _HALF_PI
    if x < _NEG_HALF_PI:
        return _NEG_HALF_PI
    return x


def sin(x):
    # sin(x) for |x| <= pi/2 (clamped), within 1e-16: Horner's form of the Taylor series
    x = _clamp(x)
    x2 = x * x
    n = _order(x2)
    s = _SIN[n]
    while n > 0:
        n -= 1
        s = s * x2 + _SIN[n]
    return x * s


def cos(x):
    # cos(x) for |x| <= pi/2 (clamped), within 1e-16
    x = _clamp(x)
    x2 = x * x
    n = _order(x2)
    c = _COS[n]
    while n > 0:
        n -= 1
        c = c * x2 + _COS[n]
    return c


def cos_of(s):
    # cos(x) from s = sin(x) for |x| <= pi/2, where the cosine is not negative: sqrt(1 - s^2)
    v = 1.0 - s * s
    if v < 0.0:  # |s| one rounding above 1
        return 0.0
    return math.sqrt(v)

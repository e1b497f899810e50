# What more than one module of the flight core names, in one home: the Moon's gravity, the
# COMMAND frame's fault bits, the flags core hands the estimator beside a frame's own bits,
# the longest step a rate limit credits, and finite(). docs/algorithms.md sections 1, 2 and 4
# give the values. The bottom of the flight core: it imports nothing of it.
from micropython import const

G_MOON = 1.62  # [m/s^2]

# fault_flags of the COMMAND frame (docs/protocol.md)
FAULT_IMU = const(1)
FAULT_ATTITUDE = const(2)
FAULT_RANGE_VALUE = const(4)
FAULT_TIME_STEP = const(8)
FAULT_LINK_GAP = const(16)  # frames stopped for more than LINK_GAP_S
FAULT_ATTITUDE_DISTRUSTED = const(32)  # the reading disagrees with the modelled attitude
FAULT_VELOCITY_VALUE = const(64)

# core-only flag bits passed to the estimator beside the frame's own bits
RADAR_BAD = const(32)  # a radar value arrived but was not a usable number
LRF_BAD = const(64)

DT_RATE_MAX = 0.1  # [s] longest step credited to a rate limit (a link gap is no licence)

_INF = float("inf")
_NEG_INF = -_INF


def finite(x):
    # neither NaN (which fails every comparison) nor infinite; allocates nothing on a board
    return _NEG_INF < x < _INF

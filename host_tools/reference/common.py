"""What more than one section of the reference model uses: the constants of docs/algorithms.md that
several sections name, and `clamp` (host_tools.reference; the firmware's counterparts are in
firmware/flight)."""

from __future__ import annotations

import numpy as np

RADAR_BAD = 32  # core flag handed to the estimator: a radar value arrived but was unusable
LRF_BAD = 64
FAULT_IMU, FAULT_ATTITUDE, FAULT_RANGE_VALUE, FAULT_TIME_STEP, FAULT_LINK_GAP = 1, 2, 4, 8, 16
G_MOON = 1.62  # [m/s^2]
G0 = 9.80665  # [m/s^2]
NEVER = -1e9  # [s] the time stamp of "never"


def clamp(x, lo, hi):
    """lo if x < lo, else hi if x > hi, else x (section 4)."""
    return np.where(x < lo, lo, np.where(x > hi, hi, x)).astype(np.result_type(x))

"""The altimeter cross-check keeps its timing in a Pico's single precision."""

from __future__ import annotations

import numpy as np

from host_tools.link.binary32 import Binary32Transport


def test_the_kinematic_check_restarts_at_the_sample_time_in_binary32():
    # GIVEN the firmware rewritten to compute in binary32 (the emulated Pico), an altimeter
    # whose kinematic check was just restarted
    emu = Binary32Transport()
    radar = emu.firmware.core.est.radar
    restart_mark = radar.t_slow
    assert restart_mark < -1e8
    t = np.float32(50.02)
    # WHEN its first sample arrives at t = 50.02 s
    radar._kinematic(t, np.float32(12.5), np.float32(0.25), np.float32(0.01))
    # THEN both low-passes start at that sample, not at what -1e9 + (t + 1e9) rounds to (0)
    assert radar.t_slow == t and radar.t_fast == t
    assert radar.o_slow == np.float32(12.5)
    emu.close()

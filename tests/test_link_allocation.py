"""The link loop's heap allocation around the control step, counted in the MicroPython VM.

What the firmware's loop (flight/loop.py, flight/wire.py) allocates per SENSOR frame besides
FlightCore.step: reading the frame, checking its CRC, decoding it, packing and writing the
COMMAND. On a Pico every heap object is time and heap (docs/boards.md); the VM counts every
allocation (micropython.mem_current(); it never collects), so the count is exact.
"""

from __future__ import annotations

import pytest
from fw import run_in_vm

from host_tools import wire
from host_tools.bench import canned_stream

# [bytes] per frame: the decoded SENSOR frame (a tuple of six, 32 bytes, and its five floats,
# 16 bytes each) and, for three CRCs in four, the COMMAND's CRC as an int of 2**30 or more
# (24 bytes in the VM). Kept views, a CRC checked against the CRC-32 residue and a kept
# step_end pair leave nothing else; before them the loop allocated 270-380 bytes a frame.
FRAME_MAX_LIMIT = 160

PROGRAM = """
import array, io, sys
from micropython import mem_current
from flight.loop import Firmware


class Board:
    name = "virtual"
    flash_root = "/flash"

    def step_begin(self):
        pass

    def step_end(self):
        return 0, 0

    def actuate(self, throttle, pitch_cmd):
        pass

    def link_lost(self):
        pass

    def log_exception(self, e):
        sys.print_exception(e)


fw = Firmware(Board())
at_write = array.array("i", [0] * 200)  # mem_current() at each frame written
in_step = array.array("i", [0] * 200)  # what each FlightCore.step allocated
count = array.array("i", [0, 0])


def write(frame):
    i = count[0]
    at_write[i] = mem_current()
    count[0] = i + 1


step = fw.core.step


def counted_step(sensor):
    m = mem_current()
    r = step(sensor)
    j = count[1]
    in_step[j] = mem_current() - m
    count[1] = j + 1
    return r


fw.core.step = counted_step
fw.run(io.BytesIO(sys.stdin.buffer.read()).readinto, write)
# written: the IDENT, the INIT_ACK, then one COMMAND per SENSOR frame; between two writes,
# one turn of the loop
n = count[0]
print(repr([at_write[k + 1] - at_write[k] - in_step[k - 1] for k in range(1, n - 1)]))
"""


def _stream(steps: int) -> bytes:
    init, frames = canned_stream(steps)
    init.seq = 1
    out = [wire.encode_init(init)]
    for i, s in enumerate(frames):
        s.seq = i + 2
        out.append(wire.encode_sensor(s))
    return b"".join(out)


@pytest.mark.vm
def test_the_link_loop_allocates_only_the_decoded_frame_and_the_crc_around_the_step():
    # GIVEN a nominal descent of 100 SENSOR frames after an INIT
    # WHEN the firmware's own loop serves them in the VM, each turn of the loop counted
    # without what FlightCore.step allocates
    per_frame = eval(run_in_vm(PROGRAM, stdin=_stream(100)).strip())  # noqa: S307 - our own repr
    assert len(per_frame) == 100
    # THEN after the first (which makes the views of frames of its length) no turn
    # allocates more than the decoded frame and one CRC
    assert max(per_frame[1:]) <= FRAME_MAX_LIMIT, per_frame

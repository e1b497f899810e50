"""The link loop's heap allocation around the control step, counted in the MicroPython VM.

What the firmware's loop (flight/loop.py, flight/wire.py) allocates per SENSOR frame besides
FlightCore.step: reading the frame, checking its CRC, decoding it, packing and writing the
COMMAND. On a Pico every heap object is time and heap (docs/boards.md); the VM counts every
allocation (micropython.mem_current(); it never collects), so the count is exact.
"""

from __future__ import annotations

import pytest
from fw import run_in_vm

from host_tools.commands.bench import canned_stream
from host_tools.link import wire

# [bytes] per frame: the decoded SENSOR frame's time, inertial and attitude readings (a tuple
# of four, 24 bytes, and three floats, 16 bytes each) and, for three CRCs in four, the
# COMMAND's CRC as an int of 2**30 or more (24 bytes in the VM). Kept views, a CRC checked
# against the CRC-32 residue and a kept step_end pair leave nothing else; before them the
# loop allocated 270-380 bytes a frame.
FRAME_MAX_LIMIT = 96
# and for each pair of values read only in a frame with a new sample of one of them (the
# altimeters' ranges, the velocimeter's beams: flight/wire.py, Sensor.unpack): a tuple of two
# (16 bytes) and two floats
PAIR_BYTES = 48


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
    # allocates more than the decoded frame and one CRC, and the ranges and the beams in a
    # frame that brings a new sample of them
    _, frames = canned_stream(100)
    ranges_new, beams_new = wire.RADAR_NEW | wire.LRF_NEW, wire.BEAM_A_NEW | wire.BEAM_B_NEW
    pairs = [bool(f.flags & ranges_new) + bool(f.beam_flags & beams_new) for f in frames]
    assert 19 <= sum(bool(f.beam_flags & wire.BEAM_A_NEW) for f in frames) <= 21  # a velocimeter at 10 Hz
    over = [(k, n, p) for k, (n, p) in enumerate(zip(per_frame, pairs, strict=True))
            if k and n > FRAME_MAX_LIMIT + PAIR_BYTES * p]
    assert not over, f"(frame, bytes, pairs read) over the limit: {over[:5]}; all: {per_frame}"

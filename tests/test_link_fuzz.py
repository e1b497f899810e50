"""Bad input on the link: the firmware never crashes, counts what it rejects, and keeps going.

The firmware's own loop object (firmware/flight/loop.py) is fed random bytes, truncated
frames, bit flips, wrong CRCs, oversize lengths, NaN and infinite values and stale
sequence numbers. LANDER_FUZZ_EXAMPLES sets the number of cases of the main property
(default 6000; the suite's properties together run well over 10,000 cases). The same
abuse is then sent to the real MicroPython VM.
"""

from __future__ import annotations

import math
import os
import random
import struct

import pytest
from fw import import_firmware
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_tools.link import wire
from host_tools.link.connect import open_target
from host_tools.link.targets import HostBoard, load_firmware

EXAMPLES = int(os.environ.get("LANDER_FUZZ_EXAMPLES", "6000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
PRIOR = wire.Init(0, 0, 3000.0, 50.0, -40.0, 1.0, 20.0, 1.0, 0.0, 3000.0, 540.0, 340.0,
                  1600.0, 310.0, 0.1, 0.15)


class Harness:
    """The firmware's loop in this interpreter, with its replies decoded."""

    def __init__(self) -> None:
        import_firmware()
        self.board = HostBoard()
        self.fw = load_firmware()(self.board)
        self.out = bytearray()
        self.deframer = wire.Deframer()

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        self.fw.feed(data, self.out.extend)
        frames = self.deframer.feed(bytes(self.out))
        self.out.clear()
        return frames


def sensor(seq: int, t_us: int, *values: float, flags: int = 3, beams: tuple[float, float] = (0.0, 0.0),
           beam_flags: int = 0) -> bytes:
    v = list(values) + [1.62, 0.0, 0.0, 2900.0, 0.0][len(values):]
    return wire.encode_sensor(wire.Sensor(seq, t_us, *v, flags, *beams, beam_flags))


BEAMS_NEW = wire.BEAM_A_VALID | wire.BEAM_A_NEW | wire.BEAM_B_VALID | wire.BEAM_B_NEW
BEAMS_HELD = wire.BEAM_A_VALID | wire.BEAM_B_VALID  # valid, no new sample this frame


def corrupt(frame: bytes, how: str, rnd: random.Random) -> bytes:
    b = bytearray(frame)
    if how == "flip":  # one bit anywhere after the sync pair
        i = rnd.randrange(2, len(b))
        b[i] ^= 1 << rnd.randrange(8)
    elif how == "truncate":
        b = b[: rnd.randrange(3, len(b))]
    elif how == "crc":
        b[-1] ^= 0xFF
    elif how == "oversize":
        b[2] = rnd.randrange(251, 256)
    elif how == "undersize":
        b[2] = rnd.randrange(0, 3)
    return bytes(b)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_never_escape_the_loop(data):
    h = Harness()
    h.feed(data)
    # THEN the loop is still alive: a fresh INIT and SENSOR after 260 flush bytes are answered
    replies = h.feed(bytes(260) + wire.encode_init(PRIOR) + sensor(1, 20_000))
    assert [r[0] for r in replies][-2:] == [wire.INIT_ACK, wire.COMMAND]
    assert not h.board.errors


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["ok", "flip", "truncate", "crc", "oversize", "undersize",
                                           "garbage", "stale"]),
                          st.integers(0, 2**32 - 1)), min_size=1, max_size=12))
def test_every_intact_frame_is_answered_and_every_bad_one_is_counted(plan):
    # GIVEN a configured firmware
    h = Harness()
    assert h.feed(wire.encode_init(PRIOR))[0][0] == wire.INIT_ACK
    stream = b""
    expected = []
    seq, t_us, flips, last_ok = 0, 0, 0, 0  # the INIT was frame 0
    for how, seed in plan:
        rnd = random.Random(seed)
        seq += 1
        t_us += 20_000
        # a velocimeter as the harness's: a new sample of both beams every fifth frame (10 Hz)
        good = sensor(seq, t_us, beams=(37.6, 37.6), beam_flags=BEAMS_NEW if seq % 5 == 0 else BEAMS_HELD)
        if how == "ok":
            stream += good
            expected.append(seq)
            last_ok = seq
        elif how == "garbage":
            stream += rnd.randbytes(rnd.randrange(1, 40))
        elif how == "stale":
            stream += sensor(last_ok, t_us)  # a repeat of the last accepted number
        else:
            stream += corrupt(good, how, rnd)
            flips += 1
    # WHEN the stream arrives, followed by enough filler to complete any bogus length
    replies = h.feed(stream + bytes(260))
    # THEN exactly the intact frames are answered, in order, and the counters moved
    assert [r[1] for r in replies] == expected
    for ftype, _, body in replies:
        cmd = wire.decode_body(ftype, 0, body)
        assert isinstance(cmd, wire.Command) and math.isfinite(cmd.throttle)
    assert not h.board.errors
    last = h.feed(sensor(seq + 1, t_us + 20_000))
    cmd = wire.decode_body(*last[0])
    assert isinstance(cmd, wire.Command)
    assert cmd.rx_errors + cmd.frames_rejected >= 1 if (flips or "stale" in [p[0] for p in plan]) else True


@settings(max_examples=max(EXAMPLES // 2, 100), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=7, max_size=7),
       st.integers(0, 255), st.integers(0, 255))
def test_nan_infinite_and_absurd_values_never_reach_the_commands(values, flags, beam_flags):
    # the five numbers of a frame and the velocimeter's two beams, any bits in either flags byte
    h = Harness()
    h.feed(wire.encode_init(PRIOR))
    bad = sensor(1, 20_000, *values[:5], flags=flags, beams=(values[5], values[6]), beam_flags=beam_flags)
    replies = h.feed(bad + sensor(2, 40_000, beams=(37.6, 37.6), beam_flags=BEAMS_NEW))
    assert [r[0] for r in replies] == [wire.COMMAND, wire.COMMAND]
    for r in replies:
        cmd = wire.decode_body(*r)
        assert isinstance(cmd, wire.Command)
        for name in wire.COMMAND_FIELDS[2:21]:  # the 19 doubles, throttle ... vel_test_ratio
            assert math.isfinite(getattr(cmd, name)), name
        assert cmd.throttle == 0.0 or 0.1 <= cmd.throttle <= 1.0
    assert not h.board.errors


def test_an_invalid_velocimeter_value_is_flagged_and_not_fused():
    # GIVEN a configured firmware WHEN a frame brings a new sample of both beams, one infinite
    h = Harness()
    h.feed(wire.encode_init(PRIOR))
    first = wire.decode_body(*h.feed(sensor(1, 20_000))[0])
    cmd = wire.decode_body(*h.feed(sensor(2, 40_000, beams=(float("inf"), 37.6), beam_flags=BEAMS_NEW))[0])
    nxt = wire.decode_body(*h.feed(sensor(3, 60_000))[0])
    # THEN that step says so (fault_flags bit 6), the next does not, and the estimate stays finite
    assert isinstance(first, wire.Command) and isinstance(cmd, wire.Command) and isinstance(nxt, wire.Command)
    assert not first.fault_flags & 64 and cmd.fault_flags & 64 and not nxt.fault_flags & 64
    assert math.isfinite(cmd.vx) and math.isfinite(cmd.vz) and math.isfinite(cmd.vel_test_ratio)


def test_a_stale_or_repeated_sequence_number_is_rejected_and_counted():
    h = Harness()
    h.feed(wire.encode_init(PRIOR))
    assert len(h.feed(sensor(5, 20_000))) == 1
    assert h.feed(sensor(5, 40_000)) == []  # repeated
    assert h.feed(sensor(3, 60_000)) == []  # older
    cmd = wire.decode_body(*h.feed(sensor(6, 80_000))[0])
    assert isinstance(cmd, wire.Command) and cmd.frames_rejected == 2


def test_a_resent_frame_gets_the_same_answer_and_is_not_stepped_twice():
    # GIVEN a frame answered once
    h = Harness()
    h.feed(wire.encode_init(PRIOR))
    frame = sensor(5, 20_000)
    first = h.feed(frame)
    # WHEN the host, having lost that answer, sends the very same frame again
    again = h.feed(frame)
    # THEN the firmware answers it with the same bytes, without stepping or counting a rejection
    assert again == first and len(first) == 1
    cmd = wire.decode_body(*h.feed(sensor(6, 40_000))[0])
    assert isinstance(cmd, wire.Command) and cmd.steps == 2 and cmd.frames_rejected == 0


def test_a_lost_answer_is_recovered_by_resending_the_frame():
    from host_tools.link.targets import CPythonTarget, InProcessTransport

    class LosesOneAnswer(InProcessTransport):
        lost = False

        def read(self, timeout):
            data = super().read(timeout)
            if data and not self.lost and data[3] == wire.COMMAND:
                self.lost = True  # the first COMMAND never reaches the host
                return b""
            return data

    # GIVEN a link that loses one answer, and a host that resends after 0.05 s
    target = CPythonTarget()
    target.transport = LosesOneAnswer()
    target.resend_after = 0.05
    target.init(wire.Init(**PRIOR.__dict__))  # a copy: init() numbers the frame it sends
    # WHEN a step is asked for
    cmd = target.step(wire.Sensor(0, 20_000, 1.62, 0.0, 0.0, 2900.0, 0.0, 3))
    # THEN its answer arrives after one resend, the firmware stepped once
    assert cmd.t_us == 20_000 and cmd.steps == 1 and target.resends == 1
    assert target.step(wire.Sensor(0, 40_000, 1.62, 0.0, 0.0, 2899.0, 0.0, 3)).steps == 2


def test_time_that_does_not_advance_is_rejected():
    h = Harness()
    h.feed(wire.encode_init(PRIOR))
    h.feed(sensor(1, 40_000))
    assert h.feed(sensor(2, 40_000)) == []
    cmd = wire.decode_body(*h.feed(sensor(3, 60_000))[0])
    assert isinstance(cmd, wire.Command) and cmd.frames_rejected == 1


def test_an_insane_init_is_refused_and_the_old_configuration_kept():
    h = Harness()
    assert wire.decode_body(*h.feed(wire.encode_init(PRIOR))[0]) is True
    bad = wire.Init(**{**PRIOR.__dict__, "seq": 2, "mass": float("nan")})
    assert wire.decode_body(*h.feed(wire.encode_init(bad))[0]) is False
    bad = wire.Init(**{**PRIOR.__dict__, "seq": 3, "dry_mass": 900.0})
    assert wire.decode_body(*h.feed(wire.encode_init(bad))[0]) is False
    assert h.fw.core.configured


def test_unknown_types_and_wrong_body_lengths_are_rejected_and_counted():
    h = Harness()
    h.feed(wire.encode_init(PRIOR))
    assert h.feed(wire.frame(0x77, 1, b"abc")) == []
    assert h.feed(wire.frame(wire.SENSOR, 2, b"\x00" * 24)) == []
    assert h.feed(wire.frame(wire.HELLO, 3, b"x")) == []
    cmd = wire.decode_body(*h.feed(sensor(4, 20_000))[0])
    assert isinstance(cmd, wire.Command) and cmd.frames_rejected == 3


@pytest.mark.vm
def test_the_vm_survives_the_same_abuse_and_reports_it():
    rnd = random.Random(20230425)
    with open_target("vm") as target:
        target.hello()
        assert target.init(wire.Init(**{**PRIOR.__dict__}))
        blobs = []
        seq = target.seq
        t_us = 0
        for i in range(400):
            seq += 1
            t_us += 20_000
            good = sensor(seq, t_us, 1.62, 0.0, 0.0, float("nan") if i % 7 == 0 else 2900.0)
            blobs.append(corrupt(good, rnd.choice(["flip", "crc", "oversize", "undersize"]), rnd))
            blobs.append(rnd.randbytes(rnd.randrange(0, 30)))
        target.send_raw(b"".join(blobs) + bytes(260), settle=1.0)
        target.seq = seq
        cmd = target.step(wire.Sensor(0, t_us + 20_000, 1.62, 0.0, 0.0, float("inf"), 0.0, 3))
        assert cmd.rx_errors > 100
        assert cmd.fault_flags & 4  # the infinite range was seen and refused
        assert math.isfinite(cmd.agl) and math.isfinite(cmd.throttle)


def test_struct_layouts_match_the_document():
    assert wire.SENSOR_FMT.size == 34 and wire.INIT_FMT.size == 124 and wire.COMMAND_FMT.size == 170
    assert struct.calcsize("<I18d8BHHH") == wire.COMMAND_DETERMINISTIC_BYTES == 162
    import_firmware()
    from flight import wire as fw_wire  # type: ignore[import-not-found]

    assert (fw_wire.SENSOR_SIZE, fw_wire.INIT_SIZE, fw_wire.COMMAND_SIZE) == (34, 124, 170)
    assert (fw_wire.SENSOR_FMT, fw_wire.INIT_FMT, fw_wire.COMMAND_FMT) == (
        wire.SENSOR_FMT.format, wire.INIT_FMT.format, wire.COMMAND_FMT.format)


@pytest.mark.vm
def test_an_attitude_beyond_the_envelope_is_refused_on_the_vm():
    # GIVEN a configured firmware in the VM; WHEN a frame says pitch 1.59 rad (past the 1.4 rad
    # bound: cos(pitch) near 0 once divided the slant range and raised)
    with open_target("vm") as target:
        target.hello()
        assert target.init(wire.Init(**{**PRIOR.__dict__}))
        cmd = target.step(wire.Sensor(0, 20_000, 1.62, 0.0, 1.59375, 2950.0, 0.0, 3))
        nxt = target.step(wire.Sensor(0, 40_000, 1.62, 0.0, 0.0, 2949.0, 0.0, 3))
    # THEN both frames are answered, the attitude is flagged invalid, the commands are finite
    assert cmd.fault_flags & 2 and not nxt.fault_flags & 2
    assert math.isfinite(cmd.throttle) and math.isfinite(nxt.agl)


@pytest.mark.vm
def test_the_vm_refuses_an_init_with_a_value_that_is_not_a_finite_number():
    # core's INIT check uses flight.common.finite (comparisons, no float made): NaN and both
    # infinities are refused in MicroPython as in CPython, and the configuration is kept
    with open_target("vm") as target:
        target.hello()
        assert target.init(wire.Init(**PRIOR.__dict__))
        for field, value in (("mass", float("nan")), ("z", float("inf")), ("vz", float("-inf")),
                             ("terrain_sigma", float("inf"))):
            assert target.init(wire.Init(**{**PRIOR.__dict__, field: value})) is False, (field, value)
        cmd = target.step(wire.Sensor(0, 20_000, 1.62, 0.0, 0.0, 2900.0, 0.0, 3))
        assert math.isfinite(cmd.agl) and cmd.frames_rejected == 4

"""Golden byte vectors of docs/protocol.md, pinned for both codecs and both targets.

A change to any of these bytes is a protocol change: bump the protocol version and
update docs/protocol.md on purpose.
"""

import struct
import zlib

import pytest
from fw import import_firmware, run_in_vm

from host_tools.link import wire

SENSOR_HEX = (
    "a55a2503070087d6120000002040000000be0000803e0090bb440078bb440700001942000012420f155a112f")
INIT_HEX = (
    "a55a7f02010000000000000000000088b340000000000000494000000000000044c0000000000000f03f"
    "0000000000003e40000000000000f03f0000000000000000000000000070a7400000000000e080400000"
    "000000407540000000000000994000000000006073409a9999999999b93f333333333333c33f00000000"
    "0000d83fa607b931")
COMMAND_HEX = (
    "a55aad83070087d61200000000000000e03f000000000000b0bf0000000000709740000000000000f83f"
    "0000000000709740000000000000494000000000000044c0000000000000e03f0000000000003e400000"
    "00000000d03f00000000000000000000000000004e40fca9f1d24d62503ffca9f1d24d62603f00000000"
    "00928040333333333333d33f9a9999999999d93f000000000000e43f0101000100020340050006006400"
    "2c03000020bf0200b323a210")
HELLO_HEX = "a55a03010000c51a3332"
EXIT_HEX = "a55a0304ffffd1cade8a"

BEAM_FLAGS = wire.BEAM_A_VALID | wire.BEAM_A_NEW | wire.BEAM_B_VALID | wire.BEAM_B_NEW
SENSOR = wire.Sensor(7, 1_234_567, 2.5, -0.125, 0.25, 1500.5, 1499.75,
                     wire.RADAR_VALID | wire.RADAR_NEW | wire.LRF_VALID, 38.25, 36.5, BEAM_FLAGS)
INIT_VALUES = (0, 5000.0, 50.0, -40.0, 1.0, 30.0, 1.0, 0.0, 3000.0, 540.0, 340.0, 1600.0, 310.0,
               0.1, 0.15, 0.375)
INIT = wire.Init(1, *INIT_VALUES)
COMMAND_VALUES = (1_234_567, 0.5, -0.0625, 1500.0, 1.5, 1500.0, 50.0, -40.0, 0.5, 30.0, 0.25,
                  0.0, 60.0, 0.001, 0.002, 530.25, 0.3, 0.4, 0.625,
                  1, 1, 0, 1, 0, 2, 3, 64, 5, 6, 100, 812, 180000)
COMMAND = wire.Command(7, *COMMAND_VALUES)

# docs/protocol.md's tables, typed in from the page: (body offset, struct code, value)
SENSOR_LAYOUT = [(0, "I", 1_234_567), (4, "f", 2.5), (8, "f", -0.125), (12, "f", 0.25),
                 (16, "f", 1500.5), (20, "f", 1499.75), (24, "B", 0b0111), (25, "f", 38.25),
                 (29, "f", 36.5), (33, "B", 0b1111)]
INIT_LAYOUT = [(0, "I", 0), (4, "d", 5000.0), (12, "d", 50.0), (20, "d", -40.0), (28, "d", 1.0),
               (36, "d", 30.0), (44, "d", 1.0), (52, "d", 0.0), (60, "d", 3000.0), (68, "d", 540.0),
               (76, "d", 340.0), (84, "d", 1600.0), (92, "d", 310.0), (100, "d", 0.1), (108, "d", 0.15),
               (116, "d", 0.375)]
COMMAND_LAYOUT = [(0, "I", 1_234_567), (4, "d", 0.5), (12, "d", -0.0625), (20, "d", 1500.0),
                  (28, "d", 1.5), (36, "d", 1500.0), (44, "d", 50.0), (52, "d", -40.0), (60, "d", 0.5),
                  (68, "d", 30.0), (76, "d", 0.25), (84, "d", 0.0), (92, "d", 60.0), (100, "d", 0.001),
                  (108, "d", 0.002), (116, "d", 530.25), (124, "d", 0.3), (132, "d", 0.4),
                  (140, "d", 0.625),  # vel_test_ratio
                  (148, "B", 1), (149, "B", 1), (150, "B", 0), (151, "B", 1), (152, "B", 0),
                  (153, "B", 2), (154, "B", 3),  # vel_health suspect, vel_reason innovation
                  (155, "B", 64),  # fault_flags bit 6: a velocimeter value was invalid
                  (156, "H", 5), (158, "H", 6), (160, "H", 100), (162, "I", 812), (166, "I", 180000)]


def test_host_codec_encodes_the_golden_frames():
    assert wire.encode_sensor(SENSOR).hex() == SENSOR_HEX
    assert wire.encode_init(INIT).hex() == INIT_HEX
    assert wire.encode_command(COMMAND).hex() == COMMAND_HEX
    assert wire.frame(wire.HELLO, 0).hex() == HELLO_HEX
    assert wire.frame(wire.EXIT, 65535).hex() == EXIT_HEX


@pytest.mark.parametrize("hexframe, ftype, seq, size, layout", [
    (SENSOR_HEX, 0x03, 7, 34, SENSOR_LAYOUT),
    (INIT_HEX, 0x02, 1, 124, INIT_LAYOUT),
    (COMMAND_HEX, 0x83, 7, 170, COMMAND_LAYOUT),
], ids=["SENSOR", "INIT", "COMMAND"])
def test_golden_frames_follow_the_document_field_by_field(hexframe, ftype, seq, size, layout):
    # GIVEN a vector WHEN read by hand as docs/protocol.md lays it out
    raw = bytes.fromhex(hexframe)
    assert raw[:2] == b"\xa5\x5a" and raw[2] == 3 + size and raw[3] == ftype
    assert struct.unpack_from("<H", raw, 4)[0] == seq
    # THEN every field sits at its offset, the fields tile the body without a gap
    at = 0
    for offset, code, value in layout:
        assert offset == at, f"a gap or an overlap before offset {offset}"
        assert struct.unpack_from("<" + code, raw, 6 + offset)[0] == value, f"body offset {offset}"
        at = offset + struct.calcsize(code)
    assert at == size
    # AND the CRC is CRC-32 over LEN..BODY
    assert struct.unpack_from("<I", raw, 6 + size)[0] == zlib.crc32(raw[2:6 + size])
    assert len(raw) == raw[2] + 7


def test_the_deterministic_part_ends_before_step_us():
    raw = bytes.fromhex(COMMAND_HEX)
    assert wire.COMMAND_DETERMINISTIC_BYTES == 162 == COMMAND_LAYOUT[-2][0]
    assert wire.command_deterministic_bytes(raw) == raw[:6 + 162]


def test_host_deframer_decodes_the_golden_frames():
    frames = wire.Deframer().feed(bytes.fromhex(COMMAND_HEX + SENSOR_HEX + INIT_HEX))
    assert [wire.decode_body(*f) for f in frames] == [COMMAND, SENSOR, INIT]
    assert COMMAND.vel_health_name == "suspect" and COMMAND.vel_reason_name == "innovation"
    assert wire.FAULT_FLAGS[6] == "velocity_value_invalid"


FIRMWARE_ROUNDTRIP = """
import struct
from flight import wire
out = []
p = wire.Parser()
for hexframe in FRAMES:
    data = bytes.fromhex(hexframe)
    for b in data:
        p.space(1)[0] = b
        if p.advance(1):
            out.append((p.buf[3], p.buf[4] | (p.buf[5] << 8), bytes(p.buf[6:3 + p.length]).hex()))
            p.consume()
s = wire.Sensor()
s.unpack(bytes.fromhex(FRAMES[0]), 6)
fields = (s.t_us, s.f_axial, s.f_lateral, s.pitch, s.radar_range, s.lrf_range, s.flags,
          s.beam_a, s.beam_b, s.beam_flags)
# a frame with no new sample of a range or a beam (valid bits, no new bit): those bytes are not read
quiet = bytearray(bytes.fromhex(FRAMES[0]))
struct.pack_into("<ffB", quiet, 6 + 16, -3.0, -4.0, 0b0101)
struct.pack_into("<ffB", quiet, 6 + 25, -1.0, -2.0, 0b0101)
s.unpack(quiet, 6)
kept = (s.radar_range, s.lrf_range, s.flags, s.beam_a, s.beam_b, s.beam_flags)
init = struct.unpack_from(wire.INIT_FMT, bytes.fromhex(FRAMES[1]), 6)
sizes = (wire.SENSOR_SIZE, wire.INIT_SIZE, wire.COMMAND_SIZE, struct.calcsize(wire.SENSOR_FMT),
         struct.calcsize(wire.INIT_FMT), struct.calcsize(wire.COMMAND_FMT))
w = wire.Writer()
w.begin(wire.COMMAND, 7)
struct.pack_into(wire.COMMAND_FMT, w.buf, 6, *VALUES)
cmd = bytes(w.finish(wire.COMMAND_SIZE)).hex()
print(repr((out, fields, kept, init, sizes, cmd)))
"""


def _firmware_roundtrip_code() -> str:
    return (f"FRAMES = {[SENSOR_HEX, INIT_HEX, HELLO_HEX, EXIT_HEX]!r}\n"
            f"VALUES = {COMMAND_VALUES!r}\n" + FIRMWARE_ROUNDTRIP)


def _check_firmware_roundtrip(result: tuple) -> None:
    frames, sensor_fields, kept, init, sizes, command_hex = result
    assert [f[:2] for f in frames] == [(0x03, 7), (0x02, 1), (0x01, 0), (0x04, 65535)]
    assert frames[0][2] == SENSOR_HEX[12:-8] and frames[1][2] == INIT_HEX[12:-8]
    assert sensor_fields == tuple(v for _, _, v in SENSOR_LAYOUT)
    assert kept == (1500.5, 1499.75, 0b0101, 38.25, 36.5, 0b0101)  # the last new samples, this frame's flags
    assert tuple(init) == INIT_VALUES
    assert tuple(sizes) == (34, 124, 170, 34, 124, 170)
    assert command_hex == COMMAND_HEX


def test_firmware_codec_reads_and_writes_the_golden_frames_in_cpython(capsys):
    import_firmware()
    exec(_firmware_roundtrip_code(), {})
    _check_firmware_roundtrip(eval(capsys.readouterr().out))


@pytest.mark.vm
def test_firmware_codec_reads_and_writes_the_golden_frames_in_the_vm():
    _check_firmware_roundtrip(eval(run_in_vm(_firmware_roundtrip_code())))

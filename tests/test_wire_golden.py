"""Golden byte vectors of docs/protocol.md, pinned for both codecs and both targets.

A change to any of these bytes is a protocol change: bump the protocol version and
update docs/protocol.md on purpose.
"""

import struct
import zlib

import pytest
from fw import import_firmware, run_in_vm

from host_tools import wire

SENSOR_HEX = "a55a1c03070087d6120000002040000000be0000803e0090bb440078bb4407ba0aae05"
INIT_HEX = (
    "a55a7702010000000000000000000088b340000000000000494000000000000044c0000000000000f03f"
    "0000000000003e40000000000000f03f0000000000000000000000000070a7400000000000e080400000"
    "000000407540000000000000994000000000006073409a9999999999b93f333333333333c33f5cb07109")
COMMAND_HEX = (
    "a55aa383070087d61200000000000000e03f000000000000b0bf0000000000709740000000000000f83f"
    "0000000000709740000000000000494000000000000044c0000000000000e03f0000000000003e400000"
    "00000000d03f00000000000000000000000000004e40fca9f1d24d62503ffca9f1d24d62603f00000000"
    "00928040333333333333d33f9a9999999999d93f0101000100000200030064002c03000020bf0200b0a38f0c")
HELLO_HEX = "a55a03010000c51a3332"
EXIT_HEX = "a55a0304ffffd1cade8a"

SENSOR = wire.Sensor(7, 1_234_567, 2.5, -0.125, 0.25, 1500.5, 1499.75,
                     wire.RADAR_VALID | wire.RADAR_NEW | wire.LRF_VALID)
INIT = wire.Init(1, 0, 5000.0, 50.0, -40.0, 1.0, 30.0, 1.0, 0.0, 3000.0, 540.0, 340.0,
                 1600.0, 310.0, 0.1, 0.15)
COMMAND_VALUES = (1_234_567, 0.5, -0.0625, 1500.0, 1.5, 1500.0, 50.0, -40.0, 0.5, 30.0, 0.25,
                  0.0, 60.0, 0.001, 0.002, 530.25, 0.3, 0.4, 1, 1, 0, 1, 0, 0, 2, 3, 100, 812, 180000)
COMMAND = wire.Command(7, *COMMAND_VALUES)


def test_host_codec_encodes_the_golden_frames():
    assert wire.encode_sensor(SENSOR).hex() == SENSOR_HEX
    assert wire.encode_init(INIT).hex() == INIT_HEX
    assert wire.encode_command(COMMAND).hex() == COMMAND_HEX
    assert wire.frame(wire.HELLO, 0).hex() == HELLO_HEX
    assert wire.frame(wire.EXIT, 65535).hex() == EXIT_HEX


def test_golden_frames_follow_the_document_field_by_field():
    # GIVEN the SENSOR vector WHEN read by hand as docs/protocol.md lays it out
    raw = bytes.fromhex(SENSOR_HEX)
    assert raw[:2] == b"\xa5\x5a" and raw[2] == 3 + 25 and raw[3] == 0x03
    assert struct.unpack_from("<H", raw, 4)[0] == 7
    assert struct.unpack_from("<I", raw, 6)[0] == 1_234_567
    assert struct.unpack_from("<f", raw, 10)[0] == 2.5
    assert raw[30] == 0b0111
    # THEN the CRC is CRC-32 over LEN..BODY
    assert struct.unpack_from("<I", raw, 31)[0] == zlib.crc32(raw[2:31])
    assert len(raw) == raw[2] + 7


def test_host_deframer_decodes_the_golden_command():
    frames = wire.Deframer().feed(bytes.fromhex(COMMAND_HEX))
    assert len(frames) == 1
    ftype, seq, body = frames[0]
    assert wire.decode_body(ftype, seq, body) == COMMAND


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
w = wire.Writer()
w.begin(wire.COMMAND, 7)
struct.pack_into(wire.COMMAND_FMT, w.buf, 6, *VALUES)
cmd = bytes(w.finish(wire.COMMAND_SIZE)).hex()
print(repr((out, (s.t_us, s.f_axial, s.f_lateral, s.pitch, s.radar_range, s.lrf_range, s.flags), cmd)))
"""


def _firmware_roundtrip_code() -> str:
    return (f"FRAMES = {[SENSOR_HEX, INIT_HEX, HELLO_HEX, EXIT_HEX]!r}\n"
            f"VALUES = {COMMAND_VALUES!r}\n" + FIRMWARE_ROUNDTRIP)


def _check_firmware_roundtrip(result: tuple) -> None:
    frames, sensor_fields, command_hex = result
    assert [f[:2] for f in frames] == [(0x03, 7), (0x02, 1), (0x01, 0), (0x04, 65535)]
    assert frames[0][2] == SENSOR_HEX[12:-8]
    assert sensor_fields == (1_234_567, 2.5, -0.125, 0.25, 1500.5, 1499.75, 0b0111)
    assert command_hex == COMMAND_HEX


def test_firmware_codec_reads_and_writes_the_golden_frames_in_cpython(capsys):
    import_firmware()
    exec(_firmware_roundtrip_code(), {})
    _check_firmware_roundtrip(eval(capsys.readouterr().out))


@pytest.mark.vm
def test_firmware_codec_reads_and_writes_the_golden_frames_in_the_vm():
    _check_firmware_roundtrip(eval(run_in_vm(_firmware_roundtrip_code())))

"""Host and firmware of different wire protocol versions (docs/protocol.md, "Versions").

A host of version 2 against a firmware that answers IDENT with version 1 stops after HELLO
with one line naming both versions and what to do (exit 2 on the command line), without
resetting the board; `lander flash` can still stop the old loop. A firmware of version 2
fed version-1 frames rejects them by their length, counts them and does not answer.
"""

from __future__ import annotations

import os
import select
import struct
import threading

import pytest
from fw import import_firmware

from host_tools.base.errors import ProtocolMismatch
from host_tools.commands import cli, runs
from host_tools.link import wire
from host_tools.link.recording import RecordingError, read_sessions
from host_tools.link.targets import HostBoard, Target, Transport, load_firmware

PRIOR = wire.Init(0, 0, 3000.0, 50.0, -40.0, 1.0, 20.0, 1.0, 0.0, 3000.0, 540.0, 340.0,
                  1600.0, 310.0, 0.1, 0.15)
V1_SENSOR_FMT = "<IfffffB"  # version 1's SENSOR body, 25 bytes
V1_INIT_FMT = "<I14d"  # and its INIT body, 116 bytes


def v1_ident(seq: int) -> bytes:
    """The IDENT frame a firmware 0.1.0 of protocol 1 on a Pico answers HELLO with."""
    body = bytes([1, 0, 1, 0]) + bytes(range(8)) + bytes([32, 4]) + b"pico"
    return wire.frame(wire.IDENT, seq, body)


class OldFirmware:
    """Answers like a firmware of protocol version 1: IDENT to HELLO, BYE to EXIT."""

    def __init__(self) -> None:
        self.deframer = wire.Deframer()
        self.received = bytearray()  # every byte the host sent
        self.types: list[int] = []  # the frames among them

    def answer(self, data: bytes) -> bytes:
        self.received += data
        out = b""
        for ftype, seq, _body in self.deframer.feed(data):
            self.types.append(ftype)
            if ftype == wire.HELLO:
                out += v1_ident(seq)
            elif ftype == wire.EXIT:
                out += wire.frame(wire.BYE, seq)
        return out


class OldFirmwareTransport(Transport):
    def __init__(self) -> None:
        self.firmware = OldFirmware()
        self.out = b""

    def write(self, data: bytes) -> None:
        self.out += self.firmware.answer(data)

    def read(self, timeout: float) -> bytes:
        data, self.out = self.out, b""
        return data


def test_a_host_of_version_2_stops_at_the_ident_of_a_version_1_firmware():
    # GIVEN a firmware that answers HELLO with protocol 1
    transport = OldFirmwareTransport()
    target = Target(transport)
    target.name = "cpython"
    # WHEN the host says HELLO THEN it stops, naming both versions and the remedy
    with pytest.raises(ProtocolMismatch) as e:
        target.hello()
    text = str(e.value)
    assert "speaks wire protocol 1" in text and "this host speaks protocol 2" in text
    assert "PROTOCOL_VERSION" in text and "\n" not in text
    assert transport.firmware.types == [wire.HELLO]  # nothing after the HELLO
    # AND a caller that only means to stop the loop can still talk to it
    assert target.hello(any_protocol=True).protocol == 1


def test_the_command_line_reports_a_mismatch_in_one_line_with_exit_2(monkeypatch, capsys):
    def old_target(name: str) -> Target:
        t = Target(OldFirmwareTransport())
        t.name = name
        return t

    monkeypatch.setattr(runs, "open_target", old_target)
    assert cli.main(["info", "--target", "cpython"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lander: cpython: the firmware speaks wire protocol 1 ")
    assert "Traceback" not in err[0] and "no firmware answers" not in err[0]


class OldBoard:
    """A board on a pseudo-terminal whose loop speaks protocol 1."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        self.slave = slave
        self.firmware = OldFirmware()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            reply = self.firmware.answer(data)
            if reply:
                os.write(self.master, reply)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def old_board():
    board = OldBoard()
    yield board
    board.close()


def test_a_board_of_version_1_is_named_for_reflashing_not_reset(old_board, capsys):
    # GIVEN a board whose loop answers IDENT protocol 1 WHEN `lander info` asks it
    assert cli.main(["info", "--target", f"serial:{old_board.path}"]) == 2
    # THEN one line names both versions and says how to reflash it
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "the firmware speaks wire protocol 1 (firmware 0.1.0 on pico)" in err[0]
    assert "this host speaks protocol 2" in err[0]
    assert f"lander flash --port {old_board.path}" in err[0]
    # AND the host sent nothing but HELLO: no Ctrl-C, no soft reset, no INIT
    sent = bytes(old_board.firmware.received)
    assert set(old_board.firmware.types) == {wire.HELLO}
    assert b"\r\x03\x03" not in sent
    assert len(sent) == len(wire.frame(wire.HELLO, 1)) * len(old_board.firmware.types)


def test_flash_can_stop_the_loop_of_a_version_1_firmware(old_board):
    from host_tools.link.serial_link import SerialTarget

    # GIVEN a board running a loop of protocol 1 WHEN lander flash stops it
    with SerialTarget(old_board.path, start_loop=False) as target:
        ident = target.stop_loop()
    # THEN it was recognised and sent EXIT (the frames that do so are the same in every version)
    assert ident is not None and ident.protocol == 1 and ident.version == (0, 1, 0)
    assert old_board.firmware.types == [wire.HELLO, wire.EXIT]


def test_a_firmware_of_version_2_rejects_version_1_frames_by_their_length():
    # GIVEN a configured firmware of version 2 (the CPython target's loop object)
    import_firmware()
    board = HostBoard()
    fw = load_firmware()(board)
    out = bytearray()
    fw.feed(wire.encode_init(wire.Init(**PRIOR.__dict__)), out.extend)
    assert wire.Deframer().feed(bytes(out)) == [(wire.INIT_ACK, 0, b"\x00")]
    out.clear()
    # WHEN a host of version 1 sends its SENSOR frame (25-byte body) and its INIT (116 bytes)
    v1_sensor = wire.frame(wire.SENSOR, 1, struct.pack(V1_SENSOR_FMT, 20_000, 1.62, 0.0, 0.0, 2900.0, 0.0, 3))
    v1_values = [getattr(PRIOR, n) for n in wire.INIT_FIELDS[1:16]]  # t_us ... engine_tau
    v1_init = wire.frame(wire.INIT, 2, struct.pack(V1_INIT_FMT, *v1_values))
    assert len(v1_sensor) == 25 + 10 and len(v1_init) == 116 + 10
    fw.feed(v1_sensor, out.extend)
    fw.feed(v1_init, out.extend)
    # THEN neither is answered nor stepped, both are counted, nothing raised
    assert out == b""
    assert fw.core.frames_rejected == 2 and fw.core.steps == 0 and fw.core.configured
    assert not board.errors
    # AND the next frame of version 2 is answered, its COMMAND carrying the count
    fw.feed(wire.encode_sensor(wire.Sensor(3, 20_000, 1.62, 0.0, 0.0, 2900.0, 0.0, 3)), out.extend)
    frames = wire.Deframer().feed(bytes(out))
    assert not board.errors, board.errors
    cmd = wire.decode_body(*frames[0])
    assert isinstance(cmd, wire.Command) and cmd.frames_rejected == 2 and cmd.steps == 1


def test_a_recording_of_version_1_is_refused_by_name(tmp_path, capsys):
    # GIVEN a frames.bin recorded with protocol 1
    path = tmp_path / "frames.bin"
    path.write_bytes(wire.frame(wire.INIT, 1, struct.pack(V1_INIT_FMT, 0, *([1.0] * 14)))
                     + wire.frame(wire.SENSOR, 2, struct.pack(V1_SENSOR_FMT, 20_000, 1.62, 0, 0, 2900, 0, 3)))
    # WHEN it is read or replayed THEN the message says which version it is, exit 2
    with pytest.raises(RecordingError, match="wire protocol version 1 .*INIT frame of 116 body bytes"):
        read_sessions(path)
    assert cli.main(["replay", str(path), "--target", "none"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "wire protocol version 1" in err[0]

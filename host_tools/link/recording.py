"""Recordings of a session with a firmware: the frames sent and received, as raw wire bytes.

A run directory holds `frames.bin` (host -> firmware: the INIT and SENSOR frames exactly as
sent, concatenated) and `commands.bin` (firmware -> host: the INIT_ACK and COMMAND answers,
concatenated). The format is docs/protocol.md, section "Recordings": nothing but whole wire
frames, so any frame reader (the firmware's own) can read them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from host_tools.base import outputs
from host_tools.link import wire

FRAMES_FILE = "frames.bin"
COMMANDS_FILE = "commands.bin"


class RecordingError(ValueError):
    """A recording that is missing, empty or corrupt; the message names the file and the fault."""


# body lengths of wire protocol version 1 (docs/protocol.md, "Versions"): a recording made
# with it is refused by name, not as a corrupt file
_V1_BODY_BYTES = {wire.INIT: 116, wire.SENSOR: 25, wire.COMMAND: 160}


def _old_version(path: object, ftype: int, body: bytes) -> RecordingError | None:
    if _V1_BODY_BYTES.get(ftype) != len(body):
        return None
    return RecordingError(f"{path}: a recording of wire protocol version 1 (a {wire.TYPE_NAMES[ftype]} frame "
                          f"of {len(body)} body bytes); this host reads version {wire.PROTOCOL_VERSION}: "
                          f"record it again")


@dataclass
class Session:
    """One INIT and the SENSOR frames that follow it (raw bytes kept beside the decoded)."""

    init: wire.Init
    init_raw: bytes
    sensors: list[wire.Sensor] = field(default_factory=list)
    sensors_raw: list[bytes] = field(default_factory=list)


def write(directory: Path, sent: bytes, received: bytes) -> tuple[Path, Path]:
    """Write frames.bin and commands.bin into directory (created if needed), each atomically."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise outputs.OutputError(f"{directory}: cannot create the output directory: "
                                  f"{e.strerror or e}") from None
    frames = outputs.write_bytes(directory / FRAMES_FILE, bytes(sent))
    commands = outputs.write_bytes(directory / COMMANDS_FILE, bytes(received))
    return frames, commands


def write_target(directory: Path, target) -> tuple[Path, Path] | None:
    """Write a target's recording (Target.recording), if it has one."""
    rec = getattr(target, "recording", None)
    if rec is None:
        return None
    return write(directory, rec[0], rec[1])


def resolve(path: Path) -> Path:
    """The frames.bin that `path` names: the file itself, or the one inside a run directory."""
    path = Path(path)
    try:
        if path.is_dir():
            path = path / FRAMES_FILE
        if not path.is_file():
            raise RecordingError(f"{path}: no such recording")
    except (OSError, ValueError) as e:  # a name too long for the system, a NUL byte
        raise RecordingError(f"{str(path)[:120]}: cannot use as a recording: "
                             f"{getattr(e, 'strerror', None) or e}") from None
    return path


def split_frames(data: bytes, what: str) -> list[tuple[int, int, bytes, bytes]]:
    """Every frame of a recording as (type, seq, body, raw bytes); any byte outside a valid
    frame is corruption (a recording is written whole, never resynchronised)."""
    out = []
    i = 0
    n = len(data)
    while i < n:
        if n - i < 7 or data[i:i + 2] != wire.SYNC:
            raise RecordingError(f"{what}: no frame at byte {i} (the file is corrupt or truncated)")
        length = data[i + 2]
        total = length + 7
        if length < 3 or length > wire.MAX_LEN or i + total > n:
            raise RecordingError(f"{what}: bad or truncated frame at byte {i}")
        raw = bytes(data[i:i + total])
        dec = wire.Deframer()
        got = dec.feed(raw)
        if len(got) != 1:
            raise RecordingError(f"{what}: frame at byte {i} fails its CRC")
        ftype, seq, body = got[0]
        out.append((ftype, seq, body, raw))
        i += total
    return out


def read_sessions(path: Path) -> list[Session]:
    """The sessions of a frames.bin: each INIT with the SENSOR frames that follow it."""
    path = resolve(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RecordingError(f"{path}: cannot read: {e.strerror or e}") from None
    sessions: list[Session] = []
    for ftype, seq, body, raw in split_frames(data, str(path)):
        if ftype == wire.INIT and len(body) == wire.INIT_FMT.size:
            sessions.append(Session(wire.Init(seq, *wire.INIT_FMT.unpack(body)), raw))
        elif ftype == wire.SENSOR and len(body) == wire.SENSOR_FMT.size:
            if not sessions:
                raise RecordingError(f"{path}: a SENSOR frame comes before any INIT frame")
            sessions[-1].sensors.append(wire.Sensor(seq, *wire.SENSOR_FMT.unpack(body)))
            sessions[-1].sensors_raw.append(raw)
        elif ftype in (wire.HELLO, wire.EXIT):
            continue
        elif (old := _old_version(path, ftype, body)) is not None:
            raise old
        else:
            raise RecordingError(f"{path}: unexpected frame type 0x{ftype:02x} "
                                 f"({len(body)} body bytes) in a frames file")
    if not sessions:
        raise RecordingError(f"{path}: holds no INIT frame")
    if not any(s.sensors for s in sessions):
        raise RecordingError(f"{path}: holds no SENSOR frame: nothing to replay or check")
    return sessions


def read_commands(path: Path) -> list[wire.Command]:
    """The COMMAND frames of a commands.bin, in order (INIT_ACK answers skipped)."""
    path = Path(path)
    try:
        if not path.is_file():
            raise RecordingError(f"{path}: no such recording")
        data = path.read_bytes()
    except OSError as e:
        raise RecordingError(f"{path}: cannot read: {e.strerror or e}") from None
    out = []
    for ftype, seq, body, _raw in split_frames(data, str(path)):
        if ftype == wire.COMMAND:
            try:
                out.append(wire.decode_body(ftype, seq, body))
            except wire.WireError as e:
                raise (_old_version(path, ftype, body) or RecordingError(f"{path}: {e}")) from None
    return out

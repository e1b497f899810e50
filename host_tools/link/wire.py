"""Host-side codec of the wire protocol (docs/protocol.md).

Written from the document, apart from the firmware's own codec (firmware/flight/wire.py);
golden byte vectors in the tests pin both to the document.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, fields

SYNC = b"\xa5\x5a"
MAX_LEN = 250
PROTOCOL_VERSION = 2

HELLO, INIT, SENSOR, EXIT = 0x01, 0x02, 0x03, 0x04
IDENT, INIT_ACK, COMMAND, BYE = 0x81, 0x82, 0x83, 0x84
TYPE_NAMES = {HELLO: "HELLO", INIT: "INIT", SENSOR: "SENSOR", EXIT: "EXIT",
              IDENT: "IDENT", INIT_ACK: "INIT_ACK", COMMAND: "COMMAND", BYE: "BYE"}

RADAR_VALID, RADAR_NEW, LRF_VALID, LRF_NEW, CONTACT = 1, 2, 4, 8, 16
BEAM_A_VALID, BEAM_A_NEW, BEAM_B_VALID, BEAM_B_NEW = 1, 2, 4, 8  # beam_flags

MODES = ("standby", "braking", "approach", "terminal", "touchdown",
         "altitude_unknown", "low_propellant", "link_lost")
HEALTH = ("not_acquired", "ok", "suspect", "rejected", "failed")
REASONS = ("none", "no_data", "out_of_range", "innovation", "stuck", "rate", "disagree",
           "noisy", "terrain_step", "invalid_value")
FAULT_FLAGS = ("imu_invalid", "attitude_invalid", "range_value_invalid", "time_step", "link_gap",
               "attitude_distrusted", "velocity_value_invalid")

SENSOR_FMT = struct.Struct("<IfffffBffB")
INIT_FMT = struct.Struct("<I15d")
COMMAND_FMT = struct.Struct("<I18d8BHHHII")
COMMAND_DETERMINISTIC_BYTES = 162  # body bytes before step_us and heap_free
DEFAULT_BEAM_CANT = 0.35  # [rad] the velocimeter's beams at +-20 degrees from the thrust axis


class WireError(ValueError):
    """A frame that does not follow docs/protocol.md."""


@dataclass
class Sensor:
    seq: int
    t_us: int  # [us]
    f_axial: float  # [m/s^2]
    f_lateral: float  # [m/s^2]
    pitch: float  # [rad]
    radar_range: float  # [m]
    lrf_range: float  # [m]
    flags: int
    beam_a: float = 0.0  # [m/s] velocimeter beam A: velocity along its line of sight, toward the ground
    beam_b: float = 0.0  # [m/s] beam B
    beam_flags: int = 0


@dataclass
class Init:
    seq: int
    t_us: int  # [us]
    z: float  # [m]
    z_sigma: float  # [m]
    vz: float  # [m/s]
    vz_sigma: float  # [m/s]
    vx: float  # [m/s]
    vx_sigma: float  # [m/s]
    terrain: float  # [m]
    terrain_sigma: float  # [m]
    mass: float  # [kg]
    dry_mass: float  # [kg]
    max_thrust: float  # [N]
    isp: float  # [s]
    min_throttle: float  # [1]
    engine_tau: float  # [s]
    beam_cant: float = DEFAULT_BEAM_CANT  # [rad] each velocimeter beam's angle off the thrust axis (A -, B +)


@dataclass
class Command:
    seq: int
    t_us: int  # [us]
    throttle: float  # [1]
    pitch_cmd: float  # [rad]
    agl: float  # [m]
    agl_sigma: float  # [m]
    z: float  # [m]
    z_sigma: float  # [m]
    vz: float  # [m/s]
    vz_sigma: float  # [m/s]
    vx: float  # [m/s]
    vx_sigma: float  # [m/s]
    terrain: float  # [m]
    terrain_sigma: float  # [m]
    accel_bias: float  # [m/s^2]
    accel_bias_sigma: float  # [m/s^2]
    mass: float  # [kg]
    radar_test_ratio: float  # [1]
    lrf_test_ratio: float  # [1]
    vel_test_ratio: float  # [1] the velocimeter's
    mode: int
    radar_health: int
    radar_reason: int
    lrf_health: int
    lrf_reason: int
    vel_health: int
    vel_reason: int
    fault_flags: int
    rx_errors: int
    frames_rejected: int
    steps: int
    step_us: int  # [us]
    heap_free: int  # [bytes]

    @property
    def mode_name(self) -> str:
        return name_of(MODES, self.mode)

    @property
    def radar_health_name(self) -> str:
        return name_of(HEALTH, self.radar_health)

    @property
    def lrf_health_name(self) -> str:
        return name_of(HEALTH, self.lrf_health)

    @property
    def vel_health_name(self) -> str:
        return name_of(HEALTH, self.vel_health)

    @property
    def vel_reason_name(self) -> str:
        return name_of(REASONS, self.vel_reason)

    @property
    def radar_reason_name(self) -> str:
        return name_of(REASONS, self.radar_reason)

    @property
    def lrf_reason_name(self) -> str:
        return name_of(REASONS, self.lrf_reason)


@dataclass
class Ident:
    seq: int
    protocol: int
    version: tuple[int, int, int]
    content_hash: bytes
    float_bits: int
    board: str

    @property
    def version_text(self) -> str:
        return ".".join(str(v) for v in self.version)


COMMAND_FIELDS = tuple(f.name for f in fields(Command))
INIT_FIELDS = tuple(f.name for f in fields(Init))


def name_of(table: tuple[str, ...], index: int) -> str:
    return table[index] if 0 <= index < len(table) else f"unknown({index})"


def frame(ftype: int, seq: int, body: bytes = b"") -> bytes:
    """One whole frame: sync, LEN, TYPE, SEQ, body, CRC-32."""
    if len(body) + 3 > MAX_LEN:
        raise WireError(f"body of {len(body)} bytes is longer than a frame holds")
    core = bytes([len(body) + 3, ftype]) + struct.pack("<H", seq & 0xFFFF) + body
    return SYNC + core + struct.pack("<I", zlib.crc32(core))


def encode_sensor(s: Sensor) -> bytes:
    return frame(SENSOR, s.seq, SENSOR_FMT.pack(s.t_us, s.f_axial, s.f_lateral, s.pitch, s.radar_range,
                                                s.lrf_range, s.flags, s.beam_a, s.beam_b, s.beam_flags))


def encode_init(i: Init) -> bytes:
    return frame(INIT, i.seq, INIT_FMT.pack(*(getattr(i, name) for name in INIT_FIELDS[1:])))


def encode_command(c: Command) -> bytes:
    return frame(COMMAND, c.seq, COMMAND_FMT.pack(*(getattr(c, name) for name in COMMAND_FIELDS[1:])))


def decode_body(ftype: int, seq: int, body: bytes) -> object:
    """The typed content of a frame from the firmware."""
    if ftype == COMMAND:
        if len(body) != COMMAND_FMT.size:
            raise WireError(f"COMMAND body has {len(body)} bytes, expected {COMMAND_FMT.size}")
        return Command(seq, *COMMAND_FMT.unpack(body))
    if ftype == IDENT:
        if len(body) < 14 or len(body) != 14 + body[13]:
            raise WireError(f"IDENT body of {len(body)} bytes is malformed")
        return Ident(seq, body[0], (body[1], body[2], body[3]), bytes(body[4:12]), body[12],
                     body[14:].decode("ascii", "replace"))
    if ftype == INIT_ACK:
        if len(body) != 1:
            raise WireError(f"INIT_ACK body has {len(body)} bytes, expected 1")
        return body[0] == 0
    if ftype == BYE:
        return None
    if ftype == SENSOR and len(body) == SENSOR_FMT.size:
        return Sensor(seq, *SENSOR_FMT.unpack(body))
    if ftype == INIT and len(body) == INIT_FMT.size:
        return Init(seq, *INIT_FMT.unpack(body))
    raise WireError(f"unexpected frame type 0x{ftype:02x} with {len(body)} body bytes")


class Deframer:
    """Finds frames in a byte stream; resynchronises after garbage (docs/protocol.md)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.rx_errors = 0
        self.received = 0  # [bytes] everything fed, frames or not

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        """Add bytes; return the complete frames found as (type, seq, body)."""
        self.received += len(data)
        self.buf += data
        out = []
        while True:
            start = self.buf.find(SYNC)
            if start < 0:
                # keep a trailing SYNC0, it may start a frame
                del self.buf[: max(0, len(self.buf) - 1) if self.buf[-1:] == SYNC[:1] else len(self.buf)]
                return out
            del self.buf[:start]
            if len(self.buf) < 3:
                return out
            length = self.buf[2]
            if length < 3 or length > MAX_LEN:
                self.rx_errors += 1
                del self.buf[:1]
                continue
            total = length + 7
            if len(self.buf) < total:
                return out
            core = bytes(self.buf[2 : 3 + length])
            (crc,) = struct.unpack_from("<I", self.buf, 3 + length)
            if zlib.crc32(core) != crc:
                self.rx_errors += 1
                del self.buf[:1]
                continue
            del self.buf[:total]
            out.append((core[1], core[2] | (core[3] << 8), core[4:]))


def command_deterministic_bytes(frame_bytes: bytes) -> bytes:
    """The part of a COMMAND frame that every double-precision target must agree on."""
    return frame_bytes[: 6 + COMMAND_DETERMINISTIC_BYTES]

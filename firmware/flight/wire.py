# Wire codec of the firmware: frames in, frames out (docs/protocol.md).
#
# Decoding never raises on what arrives over the link: garbage, a bad CRC or a bad
# length is counted and skipped. Encoding packs into preallocated buffers.
#
# On a board, reading and checking a frame allocates nothing, and writing one at most its
# CRC (below): a slice of a memoryview is a new heap object, so the views of a frame are
# kept and made again only when the frame length changes; and an int of 2**30 or more is
# a heap object (small ints are 31-bit), so a received CRC is never built as a number.
import struct
from binascii import crc32

from micropython import const

SYNC0 = const(0xA5)
SYNC1 = const(0x5A)
MAX_LEN = const(250)  # [bytes] TYPE + SEQ + BODY
HEADER = const(6)  # [bytes] SYNC0 SYNC1 LEN TYPE SEQ
OVERHEAD = const(7)  # [bytes] a whole frame is LEN + OVERHEAD

HELLO = const(0x01)
INIT = const(0x02)
SENSOR = const(0x03)
EXIT = const(0x04)
IDENT = const(0x81)
INIT_ACK = const(0x82)
COMMAND = const(0x83)
BYE = const(0x84)

SENSOR_FMT = "<IfffffBffB"
SENSOR_NUMBERS_FMT = "<Ifff"  # the time and the inertial and attitude readings
RANGES_FMT = "<ff"  # the altimeters' ranges, after them
_RANGES_AT = const(16)  # [bytes] their offset in the body
BEAMS_FMT = "<ff"  # the velocimeter's two beams, after the flags byte
_BEAMS_AT = const(25)  # [bytes] their offset in the body
SENSOR_SIZE = const(34)
INIT_FMT = "<I15d"
INIT_SIZE = const(124)
COMMAND_FMT = "<I18d8BHHHII"
COMMAND_SIZE = const(170)

# flags of a SENSOR frame
RADAR_VALID = const(1)
RADAR_NEW = const(2)
LRF_VALID = const(4)
LRF_NEW = const(8)
CONTACT = const(16)
RANGES_NEW = const(10)  # either altimeter's new-sample bit
# beam flags of a SENSOR frame (its last byte)
BEAM_A_VALID = const(1)
BEAM_A_NEW = const(2)
BEAM_B_VALID = const(4)
BEAM_B_NEW = const(8)
BEAMS_NEW = const(10)  # either beam's new-sample bit

# CRC-32 (ISO-HDLC, binascii.crc32 on every target) of any bytes followed by their own CRC,
# little-endian: the CRC-32 residue. Four appended bytes map the CRC one to one, so the
# bytes LEN ... CRC of a frame give this value exactly when its CRC is right; it is below
# 2**30, a small int on a board.
CRC_RESIDUE = const(0x2144DF1C)


class Sensor:
    # one decoded SENSOR frame; reused for every frame
    def __init__(self):
        self.seq = 0
        self.t_us = 0  # [us]
        self.f_axial = 0.0  # [m/s^2]
        self.f_lateral = 0.0  # [m/s^2]
        self.pitch = 0.0  # [rad]
        self.radar_range = 0.0  # [m]
        self.lrf_range = 0.0  # [m]
        self.flags = 0
        self.beam_a = 0.0  # [m/s] velocimeter beam A, line-of-sight velocity toward the ground
        self.beam_b = 0.0  # [m/s] beam B
        self.beam_flags = 0

    def unpack(self, buf, offset):
        # The ranges and the beams are read only in a frame that brings a new sample of one
        # of them (their values are meaningful only then): most frames at 50 Hz carry none,
        # and two floats and their tuple are 48 bytes on a board.
        (self.t_us, self.f_axial, self.f_lateral,
         self.pitch) = struct.unpack_from(SENSOR_NUMBERS_FMT, buf, offset)
        flags = buf[offset + 24]
        self.flags = flags
        if flags & RANGES_NEW:
            self.radar_range, self.lrf_range = struct.unpack_from(RANGES_FMT, buf, offset + _RANGES_AT)
        bf = buf[offset + (SENSOR_SIZE - 1)]
        self.beam_flags = bf
        if bf & BEAMS_NEW:
            self.beam_a, self.beam_b = struct.unpack_from(BEAMS_FMT, buf, offset + _BEAMS_AT)


class Parser:
    """Finds frames in a byte stream.

    A caller asks `need()` how many bytes to read next, reads them into `space()` and
    calls `advance(n)`. When `advance` returns True a whole, CRC-checked frame sits in
    `buf` (TYPE at `buf[3]`, SEQ at `buf[4:6]`, body from `buf[6]`, `length` = LEN).
    Bytes are read in exact counts so a blocking read never waits for bytes that are
    not coming; on a board that can peek, a larger read is fine too.
    """

    def __init__(self):
        self.buf = bytearray(MAX_LEN + OVERHEAD)
        mv = memoryview(self.buf)
        self.mv = mv
        self.have = 0  # [bytes] in buf
        self.length = 0  # LEN of the frame being read, 0 while hunting for sync
        self.rx_errors = 0
        # kept views of buf: SYNC0, SYNC1 and LEN are read one byte at a time, then the
        # rest of the frame (TYPE ... CRC) at once; `checked` is LEN ... CRC, whose CRC-32
        # is the residue. The last two belong to frames of LEN `viewed`.
        self.byte_views = (mv[0:1], mv[1:2], mv[2:3])
        self.viewed = 0
        self.rest = mv[3:3]
        self.checked = mv[2:2]

    def need(self):
        if self.have < 3:
            return 1
        return self.length + OVERHEAD - self.have

    def space(self, n):
        # buf[have:have + n] as a memoryview: a kept one when a frame is read as need() asks
        have = self.have
        if have < 3 and n == 1:
            return self.byte_views[have]
        if have == 3 and n == len(self.rest):
            return self.rest
        return self.mv[have:have + n]

    def advance(self, n):
        # account for n bytes written at space(); True when a frame is complete
        buf = self.buf
        self.have += n
        while True:
            have = self.have
            if have == 0:
                return False
            if buf[0] != SYNC0:
                self._drop(1, False)
                continue
            if have < 2:
                return False
            if buf[1] != SYNC1:
                self._drop(1, False)
                continue
            if have < 3:
                return False
            length = buf[2]
            if length < 3 or length > MAX_LEN:
                self._drop(1, True)
                continue
            self.length = length
            if length != self.viewed:
                self.viewed = length
                self.rest = self.mv[3:length + OVERHEAD]
                self.checked = self.mv[2:length + OVERHEAD]
            if have < length + OVERHEAD:
                return False
            if crc32(self.checked) != CRC_RESIDUE:  # the received CRC is not that of LEN ... BODY
                self._drop(1, True)
                continue
            return True

    def consume(self):
        # the caller is done with the complete frame in buf
        self._drop(self.length + OVERHEAD, False)

    def _drop(self, k, error):
        # forget the first k bytes and hunt again from there (resynchronisation)
        if error and self.rx_errors < 65535:
            self.rx_errors += 1
        rest = self.have - k
        if rest > 0:
            self.mv[0:rest] = self.mv[k:self.have]  # a memoryview copies in place (memmove)
        self.have = rest if rest > 0 else 0
        self.length = 0


class Writer:
    # builds outgoing frames in one preallocated buffer
    def __init__(self):
        self.buf = bytearray(MAX_LEN + OVERHEAD)
        self.mv = memoryview(self.buf)
        # kept views of buf for frames of LEN `viewed`: LEN ... BODY (the CRC's input) and
        # the whole frame
        self.viewed = 0
        self.checked = self.mv[2:2]
        self.frame = self.mv[0:0]

    def begin(self, ftype, seq):
        buf = self.buf
        buf[0] = SYNC0
        buf[1] = SYNC1
        buf[3] = ftype
        buf[4] = seq & 0xFF
        buf[5] = (seq >> 8) & 0xFF

    def finish(self, body_len):
        # write LEN and CRC; returns the frame as a memoryview (the same one for every
        # frame of this length)
        length = body_len + 3
        buf = self.buf
        buf[2] = length
        end = length + 3
        if length != self.viewed:
            self.viewed = length
            self.checked = self.mv[2:end]
            self.frame = self.mv[0:end + 4]
        # crc32 is unsigned on every target; on a board a CRC of 2**30 or more is one heap int
        struct.pack_into("<I", buf, end, crc32(self.checked))
        return self.frame

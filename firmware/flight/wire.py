# Wire codec of the firmware: frames in, frames out (docs/protocol.md).
#
# Decoding never raises on what arrives over the link: garbage, a bad CRC or a bad
# length is counted and skipped. Encoding packs into preallocated buffers.
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

SENSOR_FMT = "<IfffffB"
SENSOR_SIZE = const(25)
INIT_FMT = "<I14d"
INIT_SIZE = const(116)
COMMAND_FMT = "<I17d5BBHHHII"
COMMAND_SIZE = const(160)

# flags of a SENSOR frame
RADAR_VALID = const(1)
RADAR_NEW = const(2)
LRF_VALID = const(4)
LRF_NEW = const(8)
CONTACT = const(16)


def checksum(data):
    # CRC-32 (ISO-HDLC) as an unsigned 32-bit number; every target has binascii.crc32
    return crc32(data) & 0xFFFFFFFF


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

    def unpack(self, buf, offset):
        (self.t_us, self.f_axial, self.f_lateral, self.pitch, self.radar_range,
         self.lrf_range, self.flags) = struct.unpack_from(SENSOR_FMT, buf, offset)


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
        self.mv = memoryview(self.buf)
        self.have = 0  # [bytes] in buf
        self.length = 0  # LEN of the frame being read, 0 while hunting for sync
        self.rx_errors = 0

    def need(self):
        if self.have < 3:
            return 1
        return self.length + OVERHEAD - self.have

    def space(self, n):
        return self.mv[self.have:self.have + n]

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
            total = length + OVERHEAD
            if have < total:
                return False
            crc = buf[total - 4] | (buf[total - 3] << 8) | (buf[total - 2] << 16) | (buf[total - 1] << 24)
            if checksum(self.mv[2:total - 4]) != crc:
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
            self.buf[0:rest] = self.buf[k:self.have]
        self.have = rest if rest > 0 else 0
        self.length = 0


class Writer:
    # builds outgoing frames in one preallocated buffer
    def __init__(self):
        self.buf = bytearray(MAX_LEN + OVERHEAD)
        self.mv = memoryview(self.buf)

    def begin(self, ftype, seq):
        buf = self.buf
        buf[0] = SYNC0
        buf[1] = SYNC1
        buf[3] = ftype
        buf[4] = seq & 0xFF
        buf[5] = (seq >> 8) & 0xFF

    def finish(self, body_len):
        # write LEN and CRC; returns the frame as a memoryview
        length = body_len + 3
        buf = self.buf
        buf[2] = length
        end = length + 3
        struct.pack_into("<I", buf, end, checksum(self.mv[2:end]))
        return self.mv[0:end + 4]

# The firmware's link loop: read a frame -> run a step -> write the command.
#
# Nothing that arrives over the link raises out of here: a bad frame is counted and
# reported in the next COMMAND, and the loop keeps running.
import struct

from flight import PROTOCOL, VERSION, wire
from flight.core import FlightCore
from flight.identity import content_hash


class Firmware:
    def __init__(self, board):
        self.board = board
        self.core = FlightCore()
        self.parser = wire.Parser()
        self.writer = wire.Writer()
        self.sensor = wire.Sensor()
        self.last_seq = -1  # -1: the next frame is accepted whatever its SEQ
        # the last SENSOR frame answered, by its SEQ and CRC, and the answer (still in the
        # writer's buffer): a host that lost the answer resends the frame and gets it again
        self.answered_seq = -1
        self.answered_crc = bytearray(4)
        self.answer = None
        self.running = True
        self.ident = self._ident_body(board)

    def _ident_body(self, board):
        name = board.name.encode()
        body = bytearray(14 + len(name))
        body[0] = PROTOCOL
        body[1] = VERSION[0]
        body[2] = VERSION[1]
        body[3] = VERSION[2]
        body[4:12] = content_hash(board.flash_root)
        body[12] = 32 if 1.0 + 2.0 ** -30 == 1.0 else 64
        body[13] = len(name)
        body[14:] = name
        return body

    def run(self, read_into, write):
        """Serve frames until an EXIT frame or the end of the stream.

        read_into(mv) fills the memoryview and returns the byte count (0 at the end of
        the stream), or None when the board's read timed out: the link is silent, and the
        board's link_lost() hook runs before the next read.
        """
        parser = self.parser
        board = self.board
        # announce the loop: an IDENT with SEQ 0, unasked. A host that has just reset the
        # board waits for it in silence (a frame's 0x03 byte would be a Ctrl-C in the
        # boot-time escape window) instead of guessing how long booting takes.
        write(self._ident_frame(0))
        while self.running:
            n = read_into(parser.space(parser.need()))
            if n is None:
                board.link_lost()
                continue
            if not n:
                return
            if parser.advance(n):
                self._decode()
                reply = self.handle()
                parser.consume()
                if reply is not None:
                    write(reply)

    def feed(self, data, write):
        # push bytes that arrived by other means (the CPython target, tests)
        parser = self.parser
        i = 0
        end = len(data)
        while i < end and self.running:
            k = min(parser.need(), end - i)
            parser.space(k)[:] = data[i:i + k]
            i += k
            if parser.advance(k):
                self._decode()
                reply = self.handle()
                parser.consume()
                if reply is not None:
                    write(reply)

    def _decode(self):
        # A SENSOR frame's body is decoded as soon as the frame is complete, before
        # handle() runs, so that its floats are the frame's first heap objects. On a
        # board, handle()'s frame is too large for the C stack: a heap block, freed at
        # every return. Were it the first thing each frame allocates, it would take the
        # same block every time, and the heap's search for free blocks would restart from
        # there, below all the garbage since the last collection: each step a little
        # slower than the one before (a light step from 0.57 to 0.92 ms between two
        # collections on the emulated Pico).
        # The board's step clock starts here, so that the decoding is in step_us.
        parser = self.parser
        if parser.buf[3] == wire.SENSOR and parser.length - 3 == wire.SENSOR_SIZE:
            self.board.step_begin()
            self.sensor.unpack(parser.buf, wire.HEADER)

    def _seq_ok(self, seq):
        last = self.last_seq
        if last < 0 or 0 < ((seq - last) & 0xFFFF) < 32768:
            self.last_seq = seq
            return True
        self.core.reject()
        return False

    def handle(self):
        # dispatch the complete frame in the parser; returns the reply frame or None
        buf = self.parser.buf
        ftype = buf[3]
        seq = buf[4] | (buf[5] << 8)
        body_len = self.parser.length - 3
        core = self.core
        try:
            if ftype == wire.SENSOR and body_len == wire.SENSOR_SIZE:
                if seq == self.answered_seq and self._resent(buf):
                    return self.answer  # not stepped again: the answer was lost, not the frame
                if not self._seq_ok(seq):
                    return None
                if not core.step(self.sensor):  # decoded (and the clock started) by _decode()
                    return None
                self.board.actuate(core.guid.throttle, core.guid.pitch_cmd)
                self.answer = self._command(seq)
                self.answered_seq = seq
                crc = self.answered_crc
                for i in range(4):
                    crc[i] = buf[wire.HEADER + wire.SENSOR_SIZE + i]
                return self.answer
            if ftype == wire.HELLO and body_len == 0:
                self.last_seq = -1
                return self._ident_frame(seq)
            if ftype == wire.INIT and body_len == wire.INIT_SIZE:
                self.last_seq = -1
                accepted = core.configure(struct.unpack_from(wire.INIT_FMT, buf, 6))
                self.last_seq = seq
                self.answered_seq = -1
                w = self.writer
                w.begin(wire.INIT_ACK, seq)
                w.buf[6] = 0 if accepted else 1
                return w.finish(1)
            if ftype == wire.EXIT and body_len == 0:
                self.running = False
                self.answered_seq = -1
                w = self.writer
                w.begin(wire.BYE, seq)
                return w.finish(0)
        except Exception as e:  # never let a frame take the loop down
            self.board.log_exception(e)
        core.reject()
        return None

    def _resent(self, buf):
        # the frame in buf is the last answered one again (same CRC; its SEQ already matched)
        crc = self.answered_crc
        for i in range(4):
            if buf[wire.HEADER + wire.SENSOR_SIZE + i] != crc[i]:
                return False
        return True

    def _ident_frame(self, seq):
        self.answered_seq = -1
        w = self.writer
        w.begin(wire.IDENT, seq)
        n = len(self.ident)
        w.buf[6:6 + n] = self.ident
        return w.finish(n)

    def _command(self, seq):
        core = self.core
        est = core.est
        guid = core.guid
        w = self.writer
        w.begin(wire.COMMAND, seq)
        step_us, heap_free = self.board.step_end()
        struct.pack_into(
            wire.COMMAND_FMT, w.buf, 6, core.last_t_us,
            guid.throttle, guid.pitch_cmd, est.agl, est.agl_sigma, est.z, est.z_sigma,
            est.vz, est.vz_sigma, est.vx, est.vx_sigma, est.terrain, est.terrain_sigma,
            est.accel_bias, est.accel_bias_sigma, guid.mass,
            est.radar.test_ratio, est.lrf.test_ratio, est.vel.test_ratio,
            guid.mode, est.radar.health, est.radar.reason, est.lrf.health, est.lrf.reason,
            est.vel.health, est.vel.reason,
            core.fault_flags, self.parser.rx_errors, core.frames_rejected, core.steps,
            step_us, heap_free)
        return w.finish(wire.COMMAND_SIZE)

"""The `serial:PORT` target: a board on a serial port (USB CDC, a UART adapter, or the
emulated Pico's pseudo-terminal), over pyserial.

Opening a target makes sure the firmware's loop is running, without guessing how long a
board takes to boot:

1. If the board is in its boot-time escape window (it printed "Ctrl-C for the REPL"), the
   host stays silent until the loop announces itself: the firmware sends an IDENT frame
   with SEQ 0, unasked, when its loop starts.
2. HELLO is sent; an IDENT within `HELLO_TIMEOUT` s means the loop runs: done.
3. Otherwise the board is taken to be at its REPL (after an EXIT, a boot-time escape, a
   crash): two Ctrl-C, Ctrl-B (friendly REPL) and Ctrl-D soft-reset it, which runs
   main.py as a power-on does. The host then says nothing (every frame's LEN byte of a
   HELLO is 0x03, a Ctrl-C in the escape window) until the loop's announcement arrives,
   up to `BOOT_TIMEOUT` s: a slow board, or a Pico whose USB enumerates late, still starts.
4. No IDENT then: a `TargetError` that says why (not flashed, a `noflight` file, or
   nothing answering at all).

An IDENT of another protocol version at any point is `ProtocolMismatch` (exit 2 on the
command line): the board is not reset, it is to be reflashed (docs/protocol.md, "Versions").

During a run, text that only MicroPython's REPL prints ("soft reboot", "MicroPython v",
"Traceback") or the port going away means the board reset or vanished: `TargetError`.
Garbage between frames is skipped by the host's Deframer (docs/protocol.md).
"""

from __future__ import annotations

import time

from host_tools.base.errors import ProtocolMismatch
from host_tools.link import wire
from host_tools.link.targets import Target, TargetError, Transport

HELLO_TIMEOUT = 2.0  # [s] the loop answers a HELLO within this when it is running (milliseconds on
# a board; an emulated one on a loaded machine can take a second)
RESET_TIMEOUT = 15.0  # [s] for "soft reboot" to appear after Ctrl-D (an emulated board on a busy
# machine is slow; the wait ends as soon as it appears)
BOOT_TIMEOUT = 60.0  # [s] longest wait for the loop's announcement after a reset (an emulated
# Pico imports the firmware at a third of a real one's speed; a real Pico takes about 2 s)
SILENT_BOOT_S = 8.0  # [s] a board that says nothing at all may still be booting: ask this long
ESCAPE_TEXT = b"Ctrl-C for the REPL"  # what an rp2 board prints in its boot-time escape window
_REPL_MARKERS = (b"soft reboot", b"MicroPython v", b"Traceback (most recent call last)", b"raw REPL;",
                 b"Ctrl-C for the REPL")  # the last: an rp2 board booting again (it reset)


def open_port(port: str, timeout: float = 0.05):
    """The pyserial port, opened exclusively; ValueError with a clear message if it cannot be."""
    import serial

    try:
        return serial.Serial(port, 115200, timeout=timeout, write_timeout=5.0, exclusive=True)
    except serial.SerialException as e:
        text = str(e)
        if "No such file" in text or "could not open port" in text and "[Errno 2]" in text:
            raise ValueError(f"no serial port {port} (is the board plugged in? docs/hardware.md)") from None
        if "busy" in text.lower() or "lock" in text.lower() or "[Errno 16]" in text or "[Errno 11]" in text:
            raise ValueError(f"serial port {port} is busy: another program (mpremote, a terminal, "
                             f"a second lander) has it open") from None
        if "[Errno 13]" in text:
            raise ValueError(f"no permission to open {port} (on Linux, join the 'dialout' group)") from None
        raise ValueError(f"cannot open serial port {port}: {text}") from None


class SerialTransport(Transport):
    """Bytes to and from a serial port. Timeouts in seconds."""

    def __init__(self, port: str) -> None:
        self.port = port
        self.ser = open_port(port)
        self.watch = True  # raise TargetError when REPL text shows up (the board reset)
        self._tail = b""

    def write(self, data: bytes) -> None:
        import serial

        try:
            self.ser.write(data)
            self.ser.flush()
        except (serial.SerialException, OSError) as e:
            raise TargetError(f"the board on {self.port} vanished while writing ({e}): "
                              f"unplugged, or it reset") from None

    def read(self, timeout: float) -> bytes:
        import serial

        try:
            self.ser.timeout = max(0.0, timeout)
            data = self.ser.read(1)
            if data:
                waiting = self.ser.in_waiting
                if waiting:
                    data += self.ser.read(waiting)
        except (serial.SerialException, OSError, TypeError) as e:
            raise TargetError(f"the board on {self.port} vanished ({e}): unplugged, or it reset") from None
        if data and self.watch:
            seen = self._tail + data
            for marker in _REPL_MARKERS:
                if marker in seen:
                    text = seen[seen.find(marker):].decode("ascii", "replace").splitlines()[0][:80]
                    raise TargetError(f"the board on {self.port} reset or left its loop mid-run "
                                      f"(it printed {text!r})")
            self._tail = seen[-40:]
        return data

    def drain(self, settle: float = 0.1) -> bytes:
        """Read until the line has been quiet for settle seconds; return what came."""
        out = b""
        while True:
            self.ser.timeout = settle
            data = self.ser.read(4096)
            if not data:
                return out
            out += data

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:
            pass

    def describe_failure(self) -> str:
        return f"port {self.port}"


class SerialTarget(Target):
    name = "serial"
    reply_timeout = 5.0  # [s] a step on a Pico takes milliseconds; USB may stall briefly
    resend_after = 1.0  # [s] a frame or an answer lost on the line is resent after this

    def __init__(self, port: str, start_loop: bool = True, after_reset: bool = False) -> None:
        """after_reset: the board is booting (just reset or powered): see ensure_loop."""
        self.port = port
        self.name = f"serial:{port}"
        super().__init__(SerialTransport(port))
        self.ident = None
        try:
            if start_loop:
                self.ident = self.ensure_loop(after_reset)
        except BaseException:
            self.transport.close()
            raise

    @property
    def serial(self) -> SerialTransport:
        assert isinstance(self.transport, SerialTransport)
        return self.transport

    def protocol_remedy(self) -> str:
        return f"reflash the board with this checkout's firmware: lander flash --port {self.port}"

    def _try_hello(self, timeout: float, any_protocol: bool = False):
        """The IDENT, or None if nothing answered; a firmware of another protocol version
        raises ProtocolMismatch (unless any_protocol): it answered, so it is not reset."""
        self.serial.watch = False
        try:
            return self.hello(timeout=timeout, any_protocol=any_protocol)
        except ProtocolMismatch:
            raise
        except TargetError:
            return None
        finally:
            self.serial.watch = True
            self.heard = self.deframer.received  # [bytes] anything at all, frames or REPL text
            self.deframer = type(self.deframer)()
            self.pending.clear()
            self.seq = 0  # the caller's first frame is numbered as on every other target

    def stop_loop(self, timeout: float = HELLO_TIMEOUT):
        """If the loop runs, send EXIT and wait for BYE (the board returns to its REPL).

        Returns the IDENT of the firmware that was running, or None if nothing answered. A
        firmware of any protocol version is stopped: EXIT and BYE are the same in every one.
        """
        ident = self._try_hello(timeout, any_protocol=True)
        if ident is not None:
            self.serial.watch = False
            try:
                self.exit()
            finally:
                self.serial.watch = True
        return ident

    def wait_for_loop(self, timeout: float = BOOT_TIMEOUT):
        """Listen, silent, for the loop's announcement (an IDENT frame) for up to timeout s.

        Returns the IDENT, or None when it did not come: the board printed its REPL prompt
        after booting (the loop did not start), or the time ran out.
        """
        link = self.serial
        deframer = type(self.deframer)()
        heard = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            link.ser.timeout = 0.1
            data = link.ser.read(4096)
            if not data:
                continue
            heard = (heard + data)[-512:]
            for ftype, _seq, body in deframer.feed(data):
                if ftype == wire.IDENT:
                    ident = wire.decode_body(ftype, 0, body)
                    self.heard = heard
                    return ident
            tail = heard.rsplit(b"soft reboot", 1)[-1]
            if b"\n>>> " in tail or tail.endswith(b">>> "):
                break  # booted to the REPL prompt: the loop is not coming
        self.heard = heard
        return None

    def ensure_loop(self, after_reset: bool = False):
        """Make sure the firmware's loop runs (see the module's docstring); return its IDENT.

        after_reset: the board was just reset (flash does so): listen first, silent, for up
        to SILENT_BOOT_S for its escape-window text or the loop's announcement.
        """
        link = self.serial
        early = link.drain(0.05)
        deadline = time.monotonic() + (SILENT_BOOT_S if after_reset else 0.0)
        while ESCAPE_TEXT not in early and wire.SYNC not in early and time.monotonic() < deadline:
            link.ser.timeout = 0.1
            early = (early + link.ser.read(4096))[-512:]
        if ESCAPE_TEXT in early or wire.SYNC in early:  # booting: the loop announces itself soon
            if self.wait_for_loop() is not None:
                link.drain(0.05)
        ident = self._try_hello(HELLO_TIMEOUT)
        deadline = time.monotonic() + SILENT_BOOT_S
        while ident is None and not self.heard and time.monotonic() < deadline:
            ident = self._try_hello(HELLO_TIMEOUT)  # silent: perhaps still booting (or a slow VM)
        if ident is not None:
            return ident
        # at the REPL (or busy): interrupt, friendly REPL, soft reset -> main.py
        link.ser.write(b"\r\x03\x03")
        heard = link.drain(0.2)
        link.ser.write(b"\x02")
        heard += link.drain(0.2)
        link.ser.write(b"\x04")
        deadline = time.monotonic() + RESET_TIMEOUT
        while b"soft reboot" not in heard and time.monotonic() < deadline:
            link.ser.timeout = 0.1
            heard += link.ser.read(4096)
        if b"soft reboot" not in heard:
            if not heard:
                raise TargetError(f"nothing answers on {self.port}: neither the firmware's loop nor a "
                                  f"MicroPython REPL (is it a MicroPython board? try unplugging it)")
            raise TargetError(f"the device on {self.port} does not answer like a MicroPython board "
                              f"(it said {heard[-60:]!r})")
        announced = self.wait_for_loop()
        # the loop has said it runs: its answer may only be slow
        ident = self._try_hello(self.reply_timeout) if announced is not None else None
        if ident is None:
            after = self.heard
            hint = (" (it is at its REPL)" if b">>>" in after or b"MicroPython" in after else "")
            raise TargetError(f"the board on {self.port} did not start the flight loop after a soft "
                              f"reset{hint}: flash the firmware (lander flash --port {self.port}) "
                              f"or remove a `noflight` file from it")
        return ident

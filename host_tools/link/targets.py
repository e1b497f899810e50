"""Targets: where the firmware runs. One interface for all of them.

- `cpython`: the firmware's own files imported in this interpreter; frames still go through
  the firmware's decoder and encoder, as bytes.
- `cpython-f32`: the same, rewritten to compute in binary32 as a Pico does (host_tools/link/binary32.py).
- `vm`: the same files inside the MicroPython VM on the host, over its standard input and
  output (the default).
- `serial:PORT`: a board (real, or a virtual one behind a pseudo-terminal) over pyserial.
- `pico-emu`: an emulated Pico (MicroPython's rp2 port in rp2040js) started for the run and
  flashed with the current firmware, over its pseudo-terminal (host_tools/link/pico_emu.py).

A target is opened with `open_target(name)` (host_tools.link.connect), then `hello()`,
`init(...)`, `step(...)` any number of times, and `close()`. Every failure of the link raises
`TargetError` with a message that says what happened.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools.base.errors import TargetError
from host_tools.base.paths import FIRMWARE
from host_tools.link import wire
from host_tools.link.identity import build_image


class Transport:
    """Moves bytes to and from a firmware. Timeouts are in seconds."""

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, timeout: float) -> bytes:
        """Bytes that arrived within timeout (b"" if none); raises TargetError if the far end died."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def describe_failure(self) -> str:
        return ""


class Target:
    """The protocol over a transport: one request, one answer."""

    name = "target"
    reply_timeout = 5.0  # [s] how long an answer may take
    resend_after: float | None = None  # [s] a SENSOR frame unanswered this long is sent again
    # (the firmware answers a resent frame with the answer it gave it); None: never

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.deframer = wire.Deframer()
        self.seq = 0
        self.pending: list[tuple[int, int, bytes]] = []
        self.last_frame = b""  # the raw bytes of the last answer, for byte-level comparisons
        # the firmware's float width, as its IDENT says: a 32-bit board is compared with the
        # float32 reference model (compare.tolerance_for)
        self.float_bits = 64
        self.resends = 0  # SENSOR frames sent again after a lost answer
        # Recording (docs/protocol.md, "Recordings"): when not None, a pair of bytearrays
        # (sent, received) to which every INIT and SENSOR frame and its answer are appended,
        # as raw wire bytes. host_tools.link.recording writes them as frames.bin and commands.bin.
        self.recording: tuple[bytearray, bytearray] | None = None

    def start_recording(self) -> tuple[bytearray, bytearray]:
        """Record from now on; returns the (sent, received) pair that fills up."""
        self.recording = (bytearray(), bytearray())
        return self.recording

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFF
        return self.seq

    def request(self, frame: bytes, want: int, seq: int, timeout: float | None = None) -> object:
        rec = self.recording if want in (wire.INIT_ACK, wire.COMMAND) else None
        if rec is not None:
            rec[0].extend(frame)
        self.transport.write(frame)
        deadline = time.monotonic() + (self.reply_timeout if timeout is None else timeout)
        resend = self.resend_after if want == wire.COMMAND else None
        resend_at = None if resend is None else time.monotonic() + resend
        while True:
            for i, (ftype, fseq, body) in enumerate(self.pending):
                if ftype == want and fseq == seq:
                    del self.pending[: i + 1]
                    self.last_frame = wire.frame(ftype, fseq, body)
                    if rec is not None:
                        rec[1].extend(self.last_frame)
                    return wire.decode_body(ftype, fseq, body)
            left = deadline - time.monotonic()
            if left <= 0:
                extra = self.transport.describe_failure()
                raise TargetError(
                    f"{self.name}: no {wire.TYPE_NAMES.get(want, hex(want))} answer to frame {seq} "
                    f"within {self.reply_timeout if timeout is None else timeout:.1f} s"
                    + (f"; {extra}" if extra else ""))
            if resend_at is not None and time.monotonic() >= resend_at:
                self.transport.write(frame)  # the answer (or the frame) was lost: once more
                self.resends += 1
                resend_at += resend
            data = self.transport.read(min(left, 0.5, resend or 0.5))
            if data:
                self.pending.extend(self.deframer.feed(data))

    def hello(self, timeout: float | None = None, any_protocol: bool = False) -> wire.Ident:
        """HELLO -> IDENT. A firmware of another protocol version raises ProtocolMismatch
        (docs/protocol.md, "Versions") unless any_protocol (enough to send it EXIT)."""
        seq = self._next_seq()
        ident = self.request(wire.frame(wire.HELLO, seq), wire.IDENT, seq, timeout)
        assert isinstance(ident, wire.Ident)
        if ident.protocol != wire.PROTOCOL_VERSION and not any_protocol:
            from host_tools.base.errors import ProtocolMismatch  # errors imports this module

            raise ProtocolMismatch(
                f"{self.name}: the firmware speaks wire protocol {ident.protocol} (firmware "
                f"{ident.version_text} on {ident.board}), this host speaks protocol "
                f"{wire.PROTOCOL_VERSION}: {self.protocol_remedy()}")
        self.float_bits = ident.float_bits
        return ident

    def protocol_remedy(self) -> str:
        """What to do about a firmware of another protocol version (the end of the message)."""
        return ("this target runs the checkout's own firmware/, so firmware/flight/__init__.py's "
                "PROTOCOL and host_tools/link/wire.py's PROTOCOL_VERSION must agree")

    def init(self, init: wire.Init) -> bool:
        init.seq = self._next_seq()
        return bool(self.request(wire.encode_init(init), wire.INIT_ACK, init.seq))

    def step(self, sensor: wire.Sensor) -> wire.Command:
        sensor.seq = self._next_seq()
        cmd = self.request(wire.encode_sensor(sensor), wire.COMMAND, sensor.seq)
        assert isinstance(cmd, wire.Command)
        return cmd

    def send_raw(self, data: bytes, settle: float = 0.2) -> list[tuple[int, int, bytes]]:
        """Write arbitrary bytes; return whatever frames come back within settle seconds."""
        self.transport.write(data)
        out = []
        deadline = time.monotonic() + settle
        while (left := deadline - time.monotonic()) > 0:
            data = self.transport.read(min(left, 0.05))
            if data:
                out.extend(self.deframer.feed(data))
        return out

    def exit(self) -> None:
        seq = self._next_seq()
        self.request(wire.frame(wire.EXIT, seq), wire.BYE, seq)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HostBoard:
    """The board services the firmware needs, when it runs inside CPython."""

    def __init__(self, firmware_dir: Path | None = None) -> None:
        self.name = "cpython"
        self.flash_root = str(firmware_dir or FIRMWARE)
        self._t0 = 0
        self.errors: list[str] = []

    def step_begin(self) -> None:
        self._t0 = time.perf_counter_ns()

    def step_end(self) -> tuple[int, int]:
        return (time.perf_counter_ns() - self._t0) // 1000, 0

    def actuate(self, throttle: float, pitch_cmd: float) -> None:
        pass

    def log_exception(self, e: BaseException) -> None:
        self.errors.append(f"{type(e).__name__}: {e}")


def load_firmware(firmware_dir: Path | None = None):
    """Import the firmware's flight package in this interpreter, as it is on the board.

    firmware_dir: another firmware tree (a modified copy, in tests) instead of firmware/. Its
    `flight` package is imported under the same name in isolation and the modules of the
    checkout's own firmware are put back afterwards, so both can live in one interpreter.
    """
    if "micropython" not in sys.modules:
        from host_tools.link import upy_shim

        sys.modules["micropython"] = upy_shim
    if firmware_dir is not None and Path(firmware_dir).resolve() != FIRMWARE.resolve():
        return _load_firmware_copy(Path(firmware_dir))
    if str(FIRMWARE) not in sys.path:
        sys.path.insert(0, str(FIRMWARE))
    from flight.loop import Firmware  # type: ignore[import-not-found]

    return Firmware


def _load_firmware_copy(firmware_dir: Path):
    import importlib

    if not (firmware_dir / "flight" / "loop.py").is_file():
        raise TargetError(f"{firmware_dir}: not a firmware tree (no flight/loop.py)")
    saved = {k: v for k, v in sys.modules.items() if k == "flight" or k.startswith("flight.")}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(firmware_dir))
    try:
        return importlib.import_module("flight.loop").Firmware
    finally:
        sys.path.remove(str(firmware_dir))
        for k in [k for k in sys.modules if k == "flight" or k.startswith("flight.")]:
            del sys.modules[k]
        sys.modules.update(saved)


class InProcessTransport(Transport):
    """The firmware's loop object in this interpreter, fed bytes directly."""

    def __init__(self, firmware_dir: Path | None = None) -> None:
        self.board = HostBoard(firmware_dir)
        self.firmware = load_firmware(firmware_dir)(self.board)
        self.out = bytearray()

    def write(self, data: bytes) -> None:
        self.firmware.feed(data, self.out.extend)

    def read(self, timeout: float) -> bytes:
        data = bytes(self.out)
        self.out.clear()
        if not data and self.board.errors:
            # the firmware caught an exception and dropped the frame: say which, at once
            raise TargetError(f"the firmware raised {self.board.errors[-1]} and dropped the frame")
        return data


class ProcessTransport(Transport):
    """A child process whose stdin and stdout are the link (the MicroPython VM)."""

    def __init__(self, proc: subprocess.Popen, what: str) -> None:
        self.proc = proc
        self.what = what
        self.stderr_tail = b""

    def write(self, data: bytes) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise TargetError(f"{self.what} is gone ({e}); {self.describe_failure()}") from None

    def read(self, timeout: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            if self.proc.poll() is not None:
                raise TargetError(f"{self.what} exited with code {self.proc.returncode}; "
                                  f"{self.describe_failure()}")
            return b""
        data = os.read(fd, 65536)
        if not data:
            self.proc.wait(timeout=5)
            raise TargetError(f"{self.what} closed its output (exit code {self.proc.returncode}); "
                              f"{self.describe_failure()}")
        return data

    def describe_failure(self) -> str:
        if self.proc.stderr is None:
            return ""
        if self.proc.poll() is None:
            # still running: show what it has said on stderr so far, without waiting for more
            os.set_blocking(self.proc.stderr.fileno(), False)
            said = self.proc.stderr.read() or b""
            tail = said.decode("utf-8", "replace").strip().splitlines()[-6:]
            return "it is still running" + (", and said: " + " | ".join(tail) if tail else "")
        tail = self.proc.stderr.read().decode("utf-8", "replace").strip().splitlines()[-6:]
        return "its last words: " + (" | ".join(tail) if tail else "(nothing)")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


class CPythonTarget(Target):
    name = "cpython"

    def __init__(self, firmware_dir: Path | None = None) -> None:
        """firmware_dir: run another firmware tree (e.g. a perturbed copy in a test)."""
        super().__init__(InProcessTransport(firmware_dir))


class VMTarget(Target):
    """The firmware in the MicroPython VM.

    The VM board never collects garbage (boards/virtual.py), so a VM serves runs until
    its heap runs low: before an INIT, a VM with less free heap than a long run needs is
    replaced by a freshly started one, as a board would be power-cycled between runs.
    """

    name = "vm"
    reply_timeout = 20.0  # [s] the first answer waits for the VM to start
    heap_for_a_run = 410 * 2**20  # [bytes] a 900 s run at 50 Hz, about 9 KB a step

    def __init__(self, board: str = "virtual") -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="lander-vm-")
        self.image = build_image(board, Path(self._tmp.name))
        self.heap_free: int | None = None  # [bytes] as the last COMMAND reported
        super().__init__(self._start())

    def _start(self) -> ProcessTransport:
        from host_tools.link.vm import start_vm

        return ProcessTransport(start_vm(self.image), "the MicroPython VM")

    def init(self, init: wire.Init) -> bool:
        if self.heap_free is not None and self.heap_free < self.heap_for_a_run:
            self.transport.close()
            self.transport = self._start()
            self.deframer = wire.Deframer()
            self.pending.clear()
            self.heap_free = None
        return super().init(init)

    def step(self, sensor: wire.Sensor) -> wire.Command:
        cmd = super().step(sensor)
        self.heap_free = cmd.heap_free
        return cmd

    def close(self) -> None:
        super().close()
        self._tmp.cleanup()

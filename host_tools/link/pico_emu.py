"""The emulated Pico: MicroPython's own RPI_PICO image in an emulated RP2040, behind a pty.

The chip is emulated by rp2040js under Node (`emulator/pico.mjs`, docs/emulator.md); its
USB CDC port is that process's standard input and output. This module gives it a
pseudo-terminal, so every tool opens it as it opens /dev/ttyACM0: mpremote, `lander flash`,
`--target serial:/dev/pts/N`. When nobody reads the pty for `OUTPUT_STALL_S`, the board's
output is dropped, as a Pico's USB CDC drops it with no host attached.

The image (the UF2 and the boot ROM) is found in `LANDER_RP2_DIR`, by default a per-user
cache directory (`image_dir()`); nothing is downloaded.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

from host_tools.base.errors import UsageError
from host_tools.base.paths import ROOT

EMULATOR = ROOT / "emulator"
UF2_NAME = "RPI_PICO-v1.28.0.uf2"
BOOTROM_NAME = "rp2040-bootrom-b1.bin"
FLASH_IMAGE_BYTES = 1408 * 1024  # [bytes] the littlefs part of the flash (RPI_PICO)
OUTPUT_STALL_S = 5.0  # [s] output nobody reads is dropped after this, as USB CDC drops it with no
# host attached; long enough that a host that is only slow (a loaded machine) loses nothing
IMAGE_HELP = (f"put MicroPython's official image for the Raspberry Pi Pico ({UF2_NAME}, board "
              f"RPI_PICO, from micropython.org/download/RPI_PICO) and the RP2040 boot ROM "
              f"({BOOTROM_NAME}, revision B1, 16,384 bytes) there, or name another directory "
              f"with LANDER_RP2_DIR (docs/emulator.md)")


def image_dir() -> Path:
    """Where the UF2 and the boot ROM are looked for: $LANDER_RP2_DIR, else the user's cache."""
    named = os.environ.get("LANDER_RP2_DIR")
    if named:
        return Path(named)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "lander" / "rp2"


def image_files() -> tuple[Path, Path]:
    """(uf2, boot ROM); UsageError with what to do when either is missing or wrong."""
    where = image_dir()
    uf2, rom = where / UF2_NAME, where / BOOTROM_NAME
    missing = [p.name for p in (uf2, rom) if not p.is_file()]
    if missing:
        raise UsageError(f"no {' and no '.join(missing)} in {where}: {IMAGE_HELP}")
    if rom.stat().st_size != 16384:
        raise UsageError(f"{rom}: {rom.stat().st_size} bytes, a boot ROM has 16,384")
    with uf2.open("rb") as f:
        head = f.read(8)
    if head[:4] != b"UF2\n":
        raise UsageError(f"{uf2}: not a UF2 file")
    return uf2, rom


def node_command() -> list[str]:
    """The Node command that runs the emulator; UsageError when Node or rp2040js is missing."""
    node = shutil.which("node")
    if node is None:
        raise UsageError("the emulated Pico needs Node.js (18 or later) on the PATH")
    if not (EMULATOR / "node_modules" / "rp2040js" / "package.json").is_file():
        raise UsageError(f"the emulator is not installed: run `make setup` (npm ci in {EMULATOR})")
    return [node, str(EMULATOR / "pico.mjs")]


def check_flash_image(path: Path) -> None:
    """A flash image to load and keep: UsageError when it cannot serve."""
    if path.is_dir():
        raise UsageError(f"--flash-image {path}: a directory, not a file")
    if path.exists() and path.stat().st_size != FLASH_IMAGE_BYTES:
        raise UsageError(f"--flash-image {path}: {path.stat().st_size} bytes, a flash image of the "
                         f"emulated Pico has {FLASH_IMAGE_BYTES}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--flash-image {path}: no directory {parent}")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"--flash-image {path}: cannot write in {parent}")


class EmulatedPico:
    """One emulated Pico: a Node process running the RP2040 and a pty in front of its USB port.

    `start()` returns once the pty exists (the chip boots in the background: its banner
    comes about half a second later); `path` is the device to open; `stop()` ends it, the
    flash image (when one is named) written first. `died` is set when the emulator exits by
    itself, with `exit_message` saying how.
    """

    def __init__(self, flash_image: Path | None = None, log=None) -> None:
        self.flash_image = flash_image
        self.log = log or (lambda line: None)  # gets the emulator's own lines (chip resets, errors)
        self.proc: subprocess.Popen | None = None
        self.path = ""
        self.died = threading.Event()
        self.exit_message = ""
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def start(self) -> EmulatedPico:
        uf2, rom = image_files()
        cmd = node_command() + ["--uf2", str(uf2), "--bootrom", str(rom)]
        if self.flash_image is not None:
            check_flash_image(self.flash_image)
            cmd += ["--flash-image", str(self.flash_image)]
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # until a client sets it up: no echo, no line editing
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0)
        for fn in (self._host_to_board, self._board_to_host, self._messages):
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    # -- the pumps -----------------------------------------------------------------------

    def _host_to_board(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        while not self._stopping and self.proc.poll() is None:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except BlockingIOError:
                continue
            except OSError:
                return
            try:
                self.proc.stdin.write(data)
            except (BrokenPipeError, OSError):
                return

    def _board_to_host(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        out = self.proc.stdout.fileno()
        while True:
            data = os.read(out, 65536)
            if not data:
                break
            self._to_pty(data)
        code = self.proc.wait()
        if not self._stopping:
            self.exit_message = f"the emulated Pico stopped (Node exited with code {code})"
            self.died.set()

    def _to_pty(self, data: bytes) -> None:
        deadline = time.monotonic() + OUTPUT_STALL_S
        while data and not self._stopping:
            try:
                data = data[os.write(self.master, data):]
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    return  # nobody reads: dropped, as on USB CDC
                select.select([], [self.master], [], min(left, 0.05))
            except OSError:
                return

    def _messages(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self.log(line)

    # -- life ----------------------------------------------------------------------------

    def press_reset(self) -> None:
        """Reset the chip as its reset button does (the flash is kept, the pty stays)."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGUSR1)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the emulator writes its flash image, then exits
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._threads:
            t.join(timeout=2)
        for fd in (getattr(self, "master", -1), getattr(self, "slave", -1)):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = -1
        if self.proc is not None:
            for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if f is not None:
                    f.close()

    def __enter__(self) -> EmulatedPico:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def log_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# -- the `pico-emu` target -------------------------------------------------------------

MPY_ABI = 4870  # sys.implementation._mpy of RPI_PICO v1.28.0: .mpy 6.3, armv6m


def flash_cache_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "lander" / "pico-emu"


def cached_flash_image() -> Path:
    """Where the flash of an emulated Pico flashed with the current firmware is kept."""
    from host_tools.link.flash import image_hash

    return flash_cache_dir() / f"flash-{image_hash('pico', MPY_ABI).hex()}.img"


def start_flashed(say=lambda line: None, log=None) -> tuple[EmulatedPico, Path]:
    """An emulated Pico running the current firmware: (board, its temporary directory).

    Flashing costs about ten seconds, so the flash of a board flashed with the same image
    (same content hash) is kept in flash_cache_dir() and a later start begins from a copy.
    """
    import tempfile

    from host_tools.link.flash import flash_port

    tmp = Path(tempfile.mkdtemp(prefix="lander-pico-emu-"))
    image = tmp / "flash.img"
    cached = cached_flash_image()
    if cached.is_file():
        shutil.copyfile(cached, image)
    pico = EmulatedPico(image, log=log).start()
    if not cached.is_file():
        say(f"pico-emu: flashing the firmware onto the emulated Pico on {pico.path}")
        try:
            flash_port(pico.path, "pico", say=say)
        except BaseException:
            pico.stop()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        time.sleep(0.5)  # the emulator writes its flash image 0.3 s after the last write
        cached.parent.mkdir(parents=True, exist_ok=True)
        # two boards of one check (--workers) may flash at once
        part = cached.with_suffix(f".tmp-{os.getpid()}-{threading.get_ident()}")
        shutil.copyfile(image, part)
        os.replace(part, cached)
    return pico, tmp


def open_pico_emu():
    """The `pico-emu` target: an emulated Pico started for the run, flashed, behind serial."""
    from host_tools.link.serial_link import SerialTarget
    from host_tools.link.targets import TargetError

    messages: list[str] = []
    pico, tmp = start_flashed(say=lambda line: print(line, file=sys.stderr, flush=True),
                              log=messages.append)

    class PicoEmuTarget(SerialTarget):
        """SerialTarget on the emulated Pico's pty; closing it stops the emulator."""

        reply_timeout = 30.0  # [s] an emulated step is slow, and a reset reboots the chip
        resend_after = 3.0  # [s] a loaded machine may pause the emulator for a moment

        def __init__(self) -> None:
            self.pico = pico
            try:
                super().__init__(pico.path, after_reset=True)  # it is booting now
            except BaseException:
                self._stop()
                raise
            self.name = "pico-emu"

        def request(self, frame, want, seq, timeout=None):
            if pico.died.is_set():
                raise TargetError(f"pico-emu: {pico.exit_message}{self._said()}")
            try:
                return super().request(frame, want, seq, timeout)
            except TargetError as e:
                state = pico.exit_message if pico.died.is_set() else "the emulator is still running"
                raise TargetError(f"{e}; {state}{self._said()}") from None

        @staticmethod
        def _said() -> str:
            return ("; it said: " + " | ".join(messages[-3:])) if messages else ""

        def _stop(self) -> None:
            pico.stop()
            shutil.rmtree(tmp, ignore_errors=True)

        def close(self) -> None:
            try:
                super().close()
            finally:
                self._stop()

    return PicoEmuTarget()

"""`lander virtual-board [--board pico] [--flash-image FILE]`: a virtual Pico behind a pty.

The board is the emulated Pico (host_tools/link/pico_emu.py): MicroPython's own RPI_PICO image
running in an emulated RP2040, its USB serial port a pseudo-terminal. The device path is the
first line of stdout; tools open it as they open /dev/ttyACM0 (`mpremote connect PATH ...`,
`lander flash --port PATH`, `lander sim ... --target serial:PATH`). Its filesystem survives
soft and hard resets; `--flash-image FILE` loads it from FILE and keeps it there across runs.
Runs until Ctrl-C or SIGTERM; exit 1 if the emulator stops by itself.
docs/decisions/0006-emulated-pico.md says why the board is this and not a stand-in.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from host_tools.base.errors import UsageError
from host_tools.link.pico_emu import EmulatedPico, check_flash_image

BOARDS = ("pico",)  # the emulated boards (an RP2350 is not emulated)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", default="pico",
                   help="the board to emulate: pico (Raspberry Pi Pico, RP2040; the default)")
    p.add_argument("--flash-image", type=Path, metavar="FILE",
                   help="the filesystem's flash: loaded from FILE when it exists, written back to it "
                        "(default: a fresh filesystem, gone when the board stops)")
    p.add_argument("--verbose", action="store_true", help="print the emulator's own messages (chip resets)")


def run(args: argparse.Namespace) -> int:
    if args.board not in BOARDS:
        raise UsageError(f"--board {args.board}: the emulated boards are {', '.join(BOARDS)}")
    if args.flash_image is not None:
        check_flash_image(args.flash_image)
    stop = threading.Event()

    def log(line: str) -> None:
        if args.verbose or "error" in line.lower():
            print(line, file=sys.stderr, flush=True)

    board = EmulatedPico(args.flash_image, log=log)
    board.start()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(board.path, flush=True)
    print(f"virtual-board: an emulated Raspberry Pi Pico on {board.path}"
          + (f", flash image {args.flash_image}" if args.flash_image else "") + "; Ctrl-C to stop",
          file=sys.stderr, flush=True)
    try:
        while not stop.is_set() and not board.died.is_set():
            stop.wait(0.2)
    finally:
        board.stop()
    if board.died.is_set():
        print(f"lander: {board.exit_message}", file=sys.stderr)
        return 1
    print("virtual-board: stopped", file=sys.stderr, flush=True)
    return 0

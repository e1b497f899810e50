"""`lander flash --port PORT [--board B] [--py] [--no-verify]`: build the firmware image for the
board, copy it with mpremote and verify its identity over the link (host_tools.link.flash does
the work; docs/hardware.md, step by step)."""

from __future__ import annotations

import argparse

from host_tools.link.boards import board_names
from host_tools.link.flash import flash_port


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True, help="the board's serial port (/dev/ttyACM0, COM3, /dev/pts/N)")
    p.add_argument("--board", choices=board_names(),
                   help="the board you expect (default: recognised from the board's MicroPython)")
    p.add_argument("--py", action="store_true", help="copy .py sources, do not compile to .mpy")
    p.add_argument("--no-verify", action="store_true", help="skip the identity check over the link")


def run(args: argparse.Namespace) -> int:
    flash_port(args.port, args.board, force_py=args.py, verify=not args.no_verify)
    return 0

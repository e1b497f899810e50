"""`lander info`: ask a target who it is (HELLO -> IDENT)."""

from __future__ import annotations

import argparse

from host_tools.commands import runs


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", default="vm", help="cpython | vm | serial:PORT | pico-emu (default: vm)")


def run(args: argparse.Namespace) -> int:
    with runs.target(args.target) as target:  # no firmware answering: NoFirmware, exit 2
        ident = target.hello()
    print(f"board {ident.board}, firmware {ident.version_text}, protocol {ident.protocol}, "
          f"content hash {ident.content_hash.hex()}, {ident.float_bits}-bit floats")
    return 0

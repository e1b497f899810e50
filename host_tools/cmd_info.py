"""`lander info`: ask a target who it is (HELLO -> IDENT)."""

from __future__ import annotations

import argparse

from host_tools.errors import UsageError
from host_tools.targets import open_target


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", default="vm", help="cpython | vm | serial:PORT (default: vm)")


def run(args: argparse.Namespace) -> int:
    try:
        target = open_target(args.target)
    except ValueError as e:
        raise UsageError(str(e)) from None
    with target:
        ident = target.hello()
    print(f"board {ident.board}, firmware {ident.version_text}, protocol {ident.protocol}, "
          f"content hash {ident.content_hash.hex()}, {ident.float_bits}-bit floats")
    return 0

"""`lander` / `python -m host_tools`: the command line.

A table maps each command to the module that implements it; each such module has
`add_arguments(parser)` and `run(args) -> int`. Errors are raised as typed exceptions and
printed once, here, as `lander: message` on stderr. Exit status: 0 success, 1 the run
completed but a check failed, 2 bad usage or bad input (NoFirmware: no firmware answers on
the target; ProtocolMismatch: its firmware speaks another protocol version), 130
interrupted (Ctrl-C). Anything else that escapes a command is a bug: it is still one line
(`lander: internal error: ...`, exit 1); LANDER_TRACEBACK=1 shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from host_tools.base.errors import CheckFailed, Interrupted, UsageError
from host_tools.link.targets import TargetError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "sim": ("host_tools.commands.cmd_sim", "fly one closed-loop descent of a scenario"),
    "replay": ("host_tools.commands.cmd_replay",
               "feed recorded sensor frames to a target, check every command"),
    "check": ("host_tools.commands.cmd_check", "run a whole scenario library and print a table of outcomes"),
    "flash": ("host_tools.commands.cmd_flash", "build and copy the firmware to a board, verify its identity"),
    "montecarlo": ("host_tools.commands.cmd_montecarlo", "dispersed runs of a scenario, with statistics"),
    "campaign": ("host_tools.commands.cmd_campaign",
                 "a random fault campaign from a seed, statistics per class"),
    "bench": ("host_tools.commands.bench", "the cost of one control step on each available target"),
    "virtual-board": ("host_tools.commands.cmd_virtual_board",
                      "start a virtual Pico behind a pseudo-terminal"),
    "info": ("host_tools.commands.cmd_info", "ask a target for its firmware identity"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lander", description="Fly the lander firmware in closed loop, check it, flash it.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            p.set_defaults(_missing=name)
            continue
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _terminated(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    # SIGTERM (kill, timeout, a batch scheduler) stops a command as Ctrl-C does: what was flown
    # is written, an emulated Pico and its temporary flash are stopped and removed, exit 130
    restore = None
    if threading.current_thread() is threading.main_thread() \
            and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        restore = signal.signal(signal.SIGTERM, _terminated)
    try:
        return _main(argv)
    finally:
        if restore is not None:
            signal.signal(signal.SIGTERM, restore)


def _main(argv: list[str] | None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if getattr(args, "_missing", None):
            raise UsageError(f"'{args._missing}' is not built yet")
        return int(args._run(args))
    except UsageError as e:
        print(f"lander: {_one_line(e)}", file=sys.stderr)
        return 2
    except CheckFailed as e:
        print(f"lander: {_one_line(e)}", file=sys.stderr)
        return 1
    except TargetError as e:
        print(f"lander: target failed: {_one_line(e)}", file=sys.stderr)
        return 1
    except Interrupted as e:
        print(f"lander: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("lander: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # whoever read the report went away (`| head`): nothing more to tell them, no
        # complaint; stdout goes to the null device so that the exit's flush is quiet too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:  # noqa: BLE001 - a bug; the promise of one line holds even then
        if os.environ.get("LANDER_TRACEBACK"):
            raise
        print(f"lander: internal error (a bug; LANDER_TRACEBACK=1 shows where): {type(e).__name__}: "
              f"{_one_line(e)}", file=sys.stderr)
        return 1


def _one_line(e: BaseException) -> str:
    text = " | ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return text[:500]


if __name__ == "__main__":
    sys.exit(main())

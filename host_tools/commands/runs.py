"""What the run commands share: loading a scenario, opening a target, the options' checks, a
progress bar, the output directory."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from host_tools.base import outputs
from host_tools.base.errors import NoFirmware, ProtocolMismatch, UsageError
from host_tools.link.connect import open_target
from host_tools.link.targets import Target, TargetError

RUNS_DIR = Path("runs")  # the default parent of every run's directory (relative to the cwd)


def load(path: Path):
    """A scenario from its TOML file; a bad file is a UsageError naming the file and key."""
    from sim_harness.scenario import ScenarioError, load_scenario

    try:
        if not path.is_file():
            raise UsageError(f"{path}: no such scenario file")
    except (OSError, ValueError) as e:  # a name too long for the system, a NUL byte
        raise UsageError(f"{str(path)[:120]}: cannot use as a scenario file: "
                         f"{getattr(e, 'strerror', None) or e}") from None
    try:
        return load_scenario(path)
    except ScenarioError as e:
        raise UsageError(str(e)) from None


def target(name: str) -> Target:
    """An open target that has answered HELLO.

    An unknown name is a UsageError; a target where no firmware answers (a silent port,
    a board without the firmware, a VM that does not start) is NoFirmware, one whose firmware
    speaks another protocol version ProtocolMismatch: all exit 2.
    """
    try:
        t = open_target(name)
    except ValueError as e:
        raise UsageError(str(e)) from None
    except (NoFirmware, ProtocolMismatch):
        raise
    except TargetError as e:  # raised while opening: nothing answered like the firmware
        raise NoFirmware(f"{name}: no firmware answers ({e})") from None
    try:
        t.hello()
    except ProtocolMismatch:
        t.close()
        raise
    except TargetError as e:
        t.close()
        raise NoFirmware(f"{name}: no firmware answers ({e})") from None
    except BaseException:
        t.close()
        raise
    return t


def workers(requested: int | None, target_name: str, runs: int) -> int:
    """How many targets fly at once: `requested` (default all cores), never more than the runs;
    one on a serial board, which flies one run at a time (asking for more is a UsageError: a
    second worker's exclusive open of the port would fail mid-flight)."""
    if target_name.startswith("serial:"):
        if requested is not None and requested > 1:
            raise UsageError(f"--workers {requested}: {target_name} is one board, flying one run at a time")
        return 1
    return max(1, min(requested or os.cpu_count() or 1, runs))


def default_out(name: str, suffix: str = "") -> Path:
    """runs/<name><suffix>, the name made safe (host_tools.base.outputs.safe_name)."""
    return RUNS_DIR / outputs.safe_name(name + suffix)


# ---------------------------------------------------------------- option types (argparse)


def seed_arg(text: str) -> int:
    """--seed: an integer 0 ..= 2^63 - 1 (sim_harness.scenario.check_seed)."""
    from sim_harness.scenario import check_seed

    try:
        n = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
    try:
        return check_seed(n)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("seed ")) from None


def count_arg(lo: int, hi: int):
    """An integer option within lo ..= hi."""
    def parse(text: str) -> int:
        try:
            n = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"must be within {lo} ..= {hi}, not {n}")
        return n

    parse.__name__ = "integer"
    return parse


def path_arg(text: str) -> Path:
    """A path option: not empty, no NUL byte (the system takes none)."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    if "\x00" in text:
        raise argparse.ArgumentTypeError("must not contain a NUL byte")
    return Path(text)


def progress_bar(total_s: float, label: str):
    """A tqdm bar over simulated seconds on stderr, or None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=round(total_s), unit="sim s", desc=label, leave=False, file=sys.stderr)

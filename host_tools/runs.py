"""What the run commands share: loading a scenario, opening a target, a progress bar."""

from __future__ import annotations

import sys
from pathlib import Path

from host_tools.errors import UsageError
from host_tools.targets import Target, TargetError, open_target


def load(path: Path):
    """A scenario from its TOML file; a bad file is a UsageError naming the file and key."""
    from sim_harness.scenario import ScenarioError, load_scenario

    if not path.is_file():
        raise UsageError(f"{path}: no such scenario file")
    try:
        return load_scenario(path)
    except ScenarioError as e:
        raise UsageError(str(e)) from None


def target(name: str) -> Target:
    """An open target that has answered HELLO; no target, or no answer, is a UsageError."""
    try:
        t = open_target(name)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        t.hello()
    except TargetError as e:
        t.close()
        raise UsageError(f"{name}: no firmware answers ({e})") from None
    return t


def progress_bar(total_s: float, label: str):
    """A tqdm bar over simulated seconds on stderr, or None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=round(total_s), unit="sim s", desc=label, leave=False, file=sys.stderr)

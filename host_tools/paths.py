"""Where the parts of a checkout are."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
BOARDS = ROOT / "boards"
SCENARIOS = ROOT / "sim_harness" / "scenarios"

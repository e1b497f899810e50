"""Where the parts of a checkout are."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
BOARDS = ROOT / "boards"
SCENARIOS = ROOT / "sim_harness" / "scenarios"

"""Run firmware code on both targets from a test.

`run_in_vm(code)` runs a snippet inside the MicroPython VM with the firmware image at
/flash (on sys.path), and returns what it printed. `import_firmware()` imports the same
files in CPython. A test that checks firmware behaviour should do both: the snippet
prints its results (e.g. as repr of a tuple of floats) and the test compares them.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

from host_tools.identity import build_image
from host_tools.targets import load_firmware
from host_tools.vm import run_script


@lru_cache(maxsize=1)
def _image() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="lander-test-image-"))
    return build_image("virtual", tmp)


def run_in_vm(code: str, stdin: bytes = b"", timeout: float = 300.0) -> str:
    prelude = "import sys\nsys.path.insert(0, '/flash')\n"
    r = run_script(prelude + code, flash_dir=_image(), stdin=stdin, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(
            f"MicroPython VM exited with {r.returncode}:\n{r.stderr.decode('utf-8', 'replace')[-3000:]}")
    return r.stdout.decode("utf-8", "replace")


def import_firmware() -> None:
    """Make `import flight...` work in this interpreter, as on the board."""
    load_firmware()


class EstimateStandIn:
    """The estimator's attributes that guidance reads, set by hand (guidance tests)."""

    def __init__(self, agl: float, agl_sigma: float, vz: float, vz_sigma: float, vx: float,
                 aiding: bool = True) -> None:
        self.agl = agl  # [m]
        self.agl_sigma = agl_sigma  # [m]
        self.vz = vz  # [m/s]
        self.vz_sigma = vz_sigma  # [m/s]
        self.vx = vx  # [m/s]
        self.aiding = aiding

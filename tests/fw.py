"""Run firmware code on both targets from a test.

`run_in_vm(code)` runs a snippet inside the MicroPython VM with the firmware image at
/flash (on sys.path), and returns what it printed; `run_in_cpython(code)` the same here.
`import_firmware()` imports the same files in CPython. A test that checks firmware
behaviour should do both: the snippet prints its results (e.g. as repr of a tuple of
floats) and the test compares them.
"""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from host_tools.link.identity import build_image
from host_tools.link.targets import load_firmware
from host_tools.link.vm import run_script


@lru_cache(maxsize=1)
def hears_ctrl_c() -> None:
    """preexec_fn of a child process that a test stops with Ctrl-C (SIGINT): a shell without job
    control that started the suite in the background leaves SIGINT ignored, the child would
    inherit that, and Python keeps an ignored SIGINT ignored instead of raising KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def firmware_image() -> Iterator[Path]:
    """The virtual board's flash image, built in a temporary directory removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="lander-test-image-") as tmp:
        yield build_image("virtual", Path(tmp))


def run_in_vm(code: str, stdin: bytes = b"", timeout: float = 300.0) -> str:
    prelude = "import sys\nsys.path.insert(0, '/flash')\n"
    with firmware_image() as image:
        r = run_script(prelude + code, flash_dir=image, stdin=stdin, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(
            f"MicroPython VM exited with {r.returncode}:\n{r.stderr.decode('utf-8', 'replace')[-3000:]}")
    return r.stdout.decode("utf-8", "replace")


def run_in_cpython(code: str) -> str:
    """The same snippet in this interpreter (the firmware imported): what it printed."""
    import contextlib
    import io

    import_firmware()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(code, {})  # noqa: S102 - our own snippet
    return buf.getvalue()


def import_firmware() -> None:
    """Make `import flight...` work in this interpreter, as on the board."""
    load_firmware()


class EstimateStandIn:
    """The estimator's attributes that guidance reads, set by hand (guidance tests)."""

    def __init__(self, agl: float, agl_sigma: float, vz: float, vz_sigma: float, vx: float,
                 aiding: bool = True, below: float = 0.0) -> None:
        self.agl = agl  # [m]
        self.agl_sigma = agl_sigma  # [m]
        self.vz = vz  # [m/s]
        self.vz_sigma = vz_sigma  # [m/s]
        self.vx = vx  # [m/s]
        self.aiding = aiding
        self.below = below  # [m] how far below agl an outvoted, slowly drifted altimeter reads


class CoreSchedule:
    """Guidance on the flight core's schedule, for tests that drive it without an estimator:
    Guidance.frame every frame, Guidance.cycle when the core's clock says a cycle is due
    (flight.core.CycleClock, docs/algorithms.md section 1)."""

    def __init__(self) -> None:
        from flight.core import CycleClock

        self.clock = CycleClock()
        self.last_us = 0  # [us] the last frame
        self.faults = 0  # the fault flags of the frames since the last cycle
        self.cycled = False  # the last frame ran a cycle
        self.attitude = 0.0  # [rad] a vehicle that follows the pitch commands (the harness's law)

    def guidance(self, g, t: float, est, contact: int = 0, faults: int = 0, pitch=None) -> None:
        """pitch: the attitude reading (None: the vehicle's, which follows the commands)."""
        t_us = round(t * 1e6)
        d_us = t_us - self.last_us
        self.last_us = t_us
        dt = d_us * 1e-6
        step = (g.pitch_cmd - self.attitude) * min(1.0, dt / 0.5)  # PITCH_TAU 0.5 s
        self.attitude += max(-0.35 * dt, min(0.35 * dt, step))  # PITCH_RATE_VEH 0.35 rad/s
        g.frame(contact, d_us)
        self.faults |= faults
        self.cycled = self.clock.due(t_us, d_us)
        if self.cycled:
            g.cycle(t_us * 1e-6, self.clock.dt, est, self.faults, self.attitude if pitch is None else pitch)
            self.faults = 0

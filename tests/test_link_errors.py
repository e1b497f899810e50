"""Errors of the link are the link's: counted and reported, never a firmware mismatch.

Garbage carrying sync bytes, and whole frames the host never sent, are written into the
firmware's input in the middle of a closed-loop run, as noise on a serial line or a second
program on the port would. The firmware counts them (rx_errors, frames_rejected); the run
still lands with zero reference mismatches, and summary.json and log.csv say what the link lost.
"""

from __future__ import annotations

import csv
import dataclasses
import struct
import tomllib
import zlib

from host_tools.link import wire
from host_tools.link.targets import CPythonTarget
from host_tools.reference.compare import CheckedTarget
from sim_harness.closedloop import run_scenario
from sim_harness.library import builtin_dir
from sim_harness.report import summarize, write_run
from sim_harness.scenario import load_scenario, parse_scenario

SHORT = """name = "short-descent"
seed = 5
duration_s = 120.0

[initial]
altitude_m = 150.0
downrange_m = 0.0
vertical_speed_mps = -6.0
horizontal_speed_mps = 0.0
"""
GARBAGE = b"\x00noise\xa5\x5a\xff\xa5\x5a\x10" + bytes(range(40)) + b"\xa5"


def junk_frame(ftype: int = 0x7E) -> bytes:
    """A well-formed frame (good CRC) of a type the firmware does not know."""
    core = bytes([3 + 4, ftype]) + struct.pack("<H", 0x1234) + b"junk"
    return wire.SYNC + core + struct.pack("<I", zlib.crc32(core))


class NoisyLink:
    """A target whose input gets `noise` written into it before every `every`-th step."""

    def __init__(self, target, noise: bytes, every: int = 97) -> None:
        self.target = target
        self.noise = noise
        self.every = every
        self.k = 0

    def __getattr__(self, name):
        return getattr(self.target, name)

    def init(self, init):
        return self.target.init(init)

    def step(self, sensor):
        self.k += 1
        if self.k % self.every == 0:
            self.target.transport.write(self.noise)
        return self.target.step(sensor)


def fly(noise: bytes):
    s = parse_scenario(tomllib.loads(SHORT))  # lands in some 1,300 steps
    target = CPythonTarget()
    try:
        result = run_scenario(s, CheckedTarget(NoisyLink(target, noise)), target_name="cpython")
    finally:
        target.close()
    return result


def test_garbage_on_the_link_is_counted_not_called_a_firmware_mismatch(tmp_path):
    result = fly(GARBAGE)
    summary = write_run(result, tmp_path, plot=False)
    assert result.target_error is None
    assert summary["outcome"] == "landed" and summary["passed"], summary["expect"]["failures"]
    ref = summary["reference"]
    assert ref["mismatches"] == 0 and ref["steps_compared"] == summary["steps"]
    assert ref["link"]["rx_errors"] > 10 and ref["link"]["frames_rejected"] == 0
    link = summary["link"]
    assert link["rx_errors"] == ref["link"]["rx_errors"] and link["frames_rejected"] == 0
    assert link["steps_with_errors"] == summary["steps"] // 97 and 1.9 < link["first_error_t_s"] < 2.0
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rx = [int(r["rx_errors"]) for r in rows]
    assert rx[-1] - rx[0] == link["rx_errors"] and "frames_rejected" in rows[0]


def test_frames_the_host_never_sent_are_counted_as_the_links(tmp_path):
    result = fly(junk_frame())
    summary = summarize(result)
    assert summary["passed"], summary["expect"]["failures"]
    assert summary["reference"]["mismatches"] == 0
    assert summary["link"]["frames_rejected"] == summary["steps"] // 97 > 0
    assert summary["reference"]["link"]["frames_rejected"] == summary["link"]["frames_rejected"]


def test_a_quiet_link_reports_no_errors():
    summary = summarize(fly(b""))
    assert summary["link"] == {"rx_errors": 0, "frames_rejected": 0, "steps_with_errors": 0,
                               "first_error_t_s": None, "resends": 0}
    assert summary["reference"]["link"] == {"rx_errors": 0, "frames_rejected": 0, "runs_with_errors": 0}


def _stale_run(stale_at: int):
    """A replayed session on the cpython target in which frame `stale_at` repeats the time of
    the frame before it (the firmware must refuse it unanswered and count it)."""
    from host_tools.commands.cmd_replay import replay_sessions
    from host_tools.link import recording

    s = dataclasses.replace(load_scenario(builtin_dir() / "nominal-flat.toml"), duration_s=1.0)
    target = CPythonTarget()
    try:
        target.start_recording()
        run_scenario(s, target, target_name="cpython")
        sent = bytes(target.recording[0])
    finally:
        target.close()
    frames = recording.split_frames(sent, "frames")
    init = next(f for f in frames if f[0] == wire.INIT)
    sensors = [f for f in frames if f[0] == wire.SENSOR][:40]
    session = recording.Session(wire.decode_body(init[0], init[1], init[2]), init[3])
    for k, (ftype, seq, body, raw) in enumerate(sensors):
        sensor = wire.decode_body(ftype, seq, body)
        if k == stale_at:
            sensor.t_us = session.sensors[-1].t_us
            raw = wire.encode_sensor(sensor)
        session.sensors.append(sensor)
        session.sensors_raw.append(raw)
    target = CPythonTarget()
    try:
        target.hello()
        return replay_sessions(target, [session])[0]
    finally:
        target.close()


def test_a_refused_frame_counted_by_the_firmware_agrees_with_the_model():
    from host_tools.reference.compare import DOUBLE, compare_runs

    run = _stale_run(stale_at=10)
    assert run.commands[10] is None
    assert run.commands[11].frames_rejected == run.commands[9].frames_rejected + 1
    res = compare_runs([run], DOUBLE)
    assert res.ok and res.link["frames_rejected"] == 0, res.verdict()


def test_a_firmware_that_fails_to_count_a_frame_it_refused_is_still_a_mismatch():
    from host_tools.reference.compare import DOUBLE, compare_runs

    run = _stale_run(stale_at=10)
    for c in run.commands[11:]:  # the firmware "forgets" the frame it refused
        c.frames_rejected -= 1
    res = compare_runs([run], DOUBLE)
    assert res.mismatches == 1 and res.first_mismatch.field == "frames_rejected", res.verdict()

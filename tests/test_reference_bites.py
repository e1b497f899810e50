"""The back-to-back check bites: a firmware changed in one constant fails it, with a useful message.

Each test copies firmware/ to a temporary directory, edits one constant with a regular
expression (which must match exactly once, so a test never passes because its edit missed),
runs the copy on the cpython target and compares every command with the reference model.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from test_targets import PRIOR, canned_frames

from host_tools.base.paths import FIRMWARE, SCENARIOS
from host_tools.link import wire
from host_tools.link.targets import CPythonTarget
from host_tools.reference.compare import CheckedTarget


def perturbed_firmware(tmp_path: Path, file: str, pattern: str, replacement: str) -> Path:
    """A copy of firmware/ with one edit in flight/<file>; the pattern must match once."""
    dest = tmp_path / "firmware"
    shutil.copytree(FIRMWARE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    src = dest / "flight" / file
    text, n = re.subn(pattern, replacement, src.read_text())
    assert n == 1, f"the perturbation {pattern!r} matched {n} times in flight/{file}"
    src.write_text(text)
    return dest


def check_canned(firmware_dir: Path | None, n: int = 600):
    target = CheckedTarget(CPythonTarget(firmware_dir))
    try:
        target.hello()
        target.init(wire.Init(**PRIOR.__dict__))
        for f in canned_frames(n):
            target.step(f)
    finally:
        target.close()
    return target.result()


def check_scenario(firmware_dir: Path | None, name: str):
    from sim_harness.closedloop import run_scenario
    from sim_harness.scenario import load_scenario

    target = CheckedTarget(CPythonTarget(firmware_dir), batch=True)  # keep the run for result()
    try:
        target.hello()
        run = run_scenario(load_scenario(SCENARIOS / f"{name}.toml"), target)
    finally:
        target.close()
    assert run.target_error is None, run.target_error
    return target.result(), run


def test_the_unperturbed_firmware_agrees_with_the_model_on_a_canned_stream():
    # GIVEN the firmware as it is WHEN fed a canned descent-like stream THEN no mismatch
    result = check_canned(None)
    assert result.mismatches == 0, result.verdict()
    assert result.steps_compared == 600 or result.flips, result.verdict()


def test_a_changed_filter_gain_fails_the_check_within_the_first_cycles(tmp_path):
    # GIVEN the estimator's acceleration noise density (the process noise that sets the
    # Kalman gain) raised by 2 %
    fw = perturbed_firmware(tmp_path, "estimator.py", r"(?m)^_ACC_PSD = 0\.01\b", "_ACC_PSD = 0.0102")
    # WHEN the canned stream is replayed through it
    result = check_canned(fw)
    # THEN the check fails within the first cycles (the variance grows by 4 % of ACC_PSD^2 dt a
    # cycle: 1e-10 relative at the first, one frame long, past the 1e-9 bound at the second,
    # step 6, five frames long) in the vertical speed's sigma, naming both values and the frame
    assert result.mismatches == 1, result.verdict()
    first = result.first_mismatch
    assert first is not None and first.field == "vz_sigma" and first.step <= 6, first.message
    assert "target" in first.message and "model" in first.message and "SENSOR seq=" in first.message


@pytest.mark.slow
def test_a_changed_throttle_gain_fails_the_check_in_closed_loop(tmp_path):
    # GIVEN the throttle law's proportional gain raised by 2 % (on the canned stream the
    # throttle sits at its minimum, where the gain does not act)
    fw = perturbed_firmware(tmp_path, "throttle.py", r"(?m)^_K_V = 1\.0\b", "_K_V = 1.02")
    # WHEN the nominal scenario is flown in closed loop
    result, _run = check_scenario(fw, "nominal-flat")
    # THEN the check fails in a command, with both values and the frame
    first = result.first_mismatch
    assert first is not None, result.verdict()
    assert first.field in ("throttle", "pitch_cmd", "mass"), first.message
    assert "target" in first.message and "model" in first.message and "SENSOR seq=" in first.message


def test_a_moved_altimeter_threshold_fails_the_check(tmp_path):
    # GIVEN the innovation gate of the cross-check narrowed from 5 to 4.5 sigma
    fw = perturbed_firmware(tmp_path, "altimeter.py", r"(?m)^_GATE2 = 25\.0", "_GATE2 = 20.25")
    # WHEN the canned stream is replayed
    result = check_canned(fw)
    # THEN the check fails in the radar's test ratio (reported 23 % high), as soon as it is
    # large enough to pass the absolute floor of its tolerance
    first = result.first_mismatch
    assert first is not None, result.verdict()
    assert first.field == "radar_test_ratio" and first.step < 30, first.message
    assert first.target_value > first.model_value


def test_an_off_by_one_in_the_recovery_counter_fails_the_check_in_a_health(tmp_path):
    # GIVEN an altimeter that needs one good sample fewer to (re)enter ok
    fw = perturbed_firmware(tmp_path, "altimeter.py", r"(?m)^_RECOVER_N = const\(3\)",
                            "_RECOVER_N = const(2)")
    # WHEN the canned stream is replayed (both altimeters acquire from not_acquired)
    result = check_canned(fw)
    # THEN the check fails when the target declares an altimeter ok one sample early (on the
    # frame that judged the sample: its own, or the next when it came on a cycle frame)
    first = result.first_mismatch
    assert first is not None, result.verdict()
    assert first.field == "radar_health", first.message
    assert "target 1, model 0" in first.message


def test_an_off_by_one_in_the_step_counter_fails_the_check_at_step_one(tmp_path):
    # GIVEN the step counter counting two per step
    fw = perturbed_firmware(tmp_path, "core.py", r"self\.steps = \(self\.steps \+ 1\)",
                            "self.steps = (self.steps + 2)")
    # WHEN THEN the very first command disagrees in `steps`: target 2, model 1
    result = check_canned(fw, n=20)
    first = result.first_mismatch
    assert first is not None, result.verdict()
    assert (first.step, first.field, first.target_value, first.model_value) == (1, "steps", 2, 1)
    assert "step 1" in first.message and "field steps: target 2, model 1" in first.message


def test_a_moved_inertial_validity_threshold_fails_on_a_frame_beside_it(tmp_path):
    # GIVEN the inertial validity bound moved from 50 to 40 m/s^2
    fw = perturbed_firmware(tmp_path, "core.py", r"_MAX_SPECIFIC_FORCE = 50\.0", "_MAX_SPECIFIC_FORCE = 40.0")
    # WHEN a frame of 45 m/s^2 arrives
    target = CheckedTarget(CPythonTarget(fw))
    target.hello()
    target.init(wire.Init(**PRIOR.__dict__))
    frames = canned_frames(10)
    frames[4].f_axial = 45.0
    for f in frames:
        target.step(f)
    target.close()
    result = target.result()
    # THEN the check fails at that step, in fault_flags (imu_invalid set by the target only)
    first = result.first_mismatch
    assert first is not None, result.verdict()
    assert first.step == 5 and first.field == "fault_flags", first.message
    assert "f_axial=45.0" in first.message


@pytest.mark.slow
def test_a_moved_mode_threshold_fails_the_check_in_closed_loop(tmp_path):
    # GIVEN the approach-mode height moved by 10 m (more than the 1-2 m the low end of the
    # height falls in a cycle there, so that the mode changes a cycle early, whatever the run)
    fw = perturbed_firmware(tmp_path, "modes.py", r"(?m)^_H_APPROACH = 300\.0", "_H_APPROACH = 310.0")
    # WHEN the nominal scenario is flown in closed loop
    result, _run = check_scenario(fw, "nominal-flat")
    # THEN the check fails where the mode changes
    first = result.first_mismatch
    assert first is not None, result.verdict()
    assert first.field in ("mode", "throttle", "pitch_cmd"), first.message


def test_a_run_gets_the_same_reference_block_alone_or_among_others(tmp_path):
    # GIVEN a run that agrees with the model and one whose firmware's filter gain is off
    good = CheckedTarget(CPythonTarget(), batch=True)
    bad = CheckedTarget(CPythonTarget(perturbed_firmware(tmp_path, "estimator.py", r"(?m)^_ACC_PSD = 0\.01\b",
                                                         "_ACC_PSD = 0.0102")), batch=True)
    for target in (good, bad):
        try:
            target.hello()
            target.init(wire.Init(**PRIOR.__dict__))
            for f in canned_frames(300):
                target.step(f)
        finally:
            target.close()
    from host_tools.reference.compare import DOUBLE, check_runs

    runs = [good.runs[0], bad.runs[0]]
    # WHEN each is checked alone and both together (as sim does one run, and a library or a
    # campaign's block many) THEN each run's block is the same, keys and values
    together = check_runs(runs, DOUBLE).blocks()
    alone = [check_runs([r], DOUBLE).block(0) for r in runs]
    assert together == alone
    assert alone[0]["mismatches"] == 0 and alone[0]["steps_compared"] == 300
    assert alone[1]["mismatches"] == 1 and 0 < alone[1]["steps_compared"] < 300
    assert alone[1]["first_mismatch"] and alone[1]["max_diff_over_tolerance"] > 1.0
    assert set(alone[0]) == {"steps_compared", "max_throttle_diff", "mismatches", "tolerance",
                             "max_diff_over_tolerance", "worst_field", "first_mismatch", "flips", "link"}

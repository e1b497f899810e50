"""The whole scenario library, flown in closed loop as a user runs it, on both host targets.

Every command of every run is checked against the reference model (zero mismatches), and
every scenario's [expect] block must hold: the 2023 crater rim, the 2025 late range finder,
each sick altimeter, and the rest.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from host_tools.base.paths import SCENARIOS


def check(target: str, out) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "host_tools", "check", "--target", target, "--out", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200)


def assert_library_passes(r: subprocess.CompletedProcess, out) -> None:
    scenarios = sorted(p.stem for p in SCENARIOS.glob("*.toml"))
    assert len(scenarios) >= 15
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert f"{len(scenarios)} passed, 0 failed" in r.stdout
    for name in scenarios:
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["expect"]["passed"], (name, summary["expect"]["failures"])
        ref = summary["reference"]
        assert ref["mismatches"] == 0 and ref["steps_compared"] == summary["steps"], (name, ref)


@pytest.mark.slow
def test_the_library_passes_on_cpython_with_zero_reference_mismatches(tmp_path):
    assert_library_passes(check("cpython", tmp_path), tmp_path)


@pytest.mark.slow
@pytest.mark.vm
def test_the_library_passes_in_the_micropython_vm_with_zero_reference_mismatches(tmp_path):
    assert_library_passes(check("vm", tmp_path), tmp_path)


def test_a_float32_target_is_checked_against_the_float32_model(tmp_path):
    # GIVEN a one-scenario library and a target that reports 32-bit floats (a Pico, or the
    # emulated one: `lander check --target pico-emu` compared it with the double model, and
    # every scenario failed on float32 rounding at its first step)
    import shutil

    from host_tools.link.targets import CPythonTarget
    from sim_harness.library import check_library

    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(SCENARIOS / "nominal-flat.toml", lib)

    def float32_target():
        t = CPythonTarget()
        t.float_bits = 32
        return t

    # WHEN the library is checked against the reference model
    rows = check_library(lib, float32_target, target_name="cpython", reference=True)
    # THEN each run is compared with the single-precision model's tolerance
    ref = rows[0]["summary"]["reference"]
    assert ref["tolerance"] == "single" and ref["steps_compared"] > 4000, ref


def test_a_summary_written_before_the_batch_comparison_says_it_is_pending(tmp_path):
    # GIVEN a library checked against the reference model, all runs compared in one batch at
    # the end
    import shutil

    from sim_harness.library import check_library

    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(SCENARIOS / "nominal-flat.toml", lib)
    out = tmp_path / "out"
    seen = {}

    def progress(done, total, name):
        if name == "reference model":  # the run is written, the comparison about to start
            seen.update(json.loads((out / "nominal-flat" / "summary.json").read_text())["reference"])

    # WHEN the check runs
    check_library(lib, None, progress, target_name="cpython", out_dir=out, reference=True)
    # THEN a summary written before the comparison does not read as "0 mismatches" of a check
    # that ran: it says the comparison is pending (an interrupted check leaves it so)
    assert seen["pending"] is True and seen["steps_compared"] == 0
    # AND the comparison's block replaces it at the end
    ref = json.loads((out / "nominal-flat" / "summary.json").read_text())["reference"]
    assert "pending" not in ref and ref["steps_compared"] > 4000 and ref["mismatches"] == 0


def test_two_workers_fly_the_library_as_one_does(tmp_path):
    # GIVEN a three-scenario library
    import shutil
    import threading

    from host_tools.link.targets import CPythonTarget
    from sim_harness.library import check_library

    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("nominal-flat", "lrf-bias", "radar-stuck"):
        shutil.copy(SCENARIOS / f"{name}.toml", lib)
    opened = []

    def factory():
        opened.append(threading.current_thread().name)
        return CPythonTarget()

    # WHEN it is checked by one target, then by two flying at once
    one = check_library(lib, CPythonTarget, target_name="cpython", out_dir=tmp_path / "one", reference=True)
    two = check_library(lib, factory, target_name="cpython", out_dir=tmp_path / "two", reference=True,
                        workers=2)
    # THEN two targets flew, and the rows (in the files' order), the logs and the reference
    # verdicts are those of the one
    assert len(opened) == 2
    assert [r["file"] for r in two] == sorted(p.name for p in lib.glob("*.toml"))
    keys = ("scenario", "outcome", "touchdown_vz_mps", "touchdown_vx_mps", "passed", "failures")
    assert [[r[k] for k in keys] for r in two] == [[r[k] for k in keys] for r in one]
    for r1, r2 in zip(one, two, strict=True):
        assert (r1["dir"] / "log.csv").read_bytes() == (r2["dir"] / "log.csv").read_bytes()
        ref = r2["summary"]["reference"]
        assert ref["mismatches"] == 0 and ref["steps_compared"] == r2["summary"]["steps"] > 4000
        assert json.loads((r2["dir"] / "summary.json").read_text())["reference"] == ref

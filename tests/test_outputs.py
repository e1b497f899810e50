"""Where runs write: safe file names, claimed output directories, atomic files, Ctrl-C.

Nothing a scenario or an option says makes a command write outside its output directory; two
runs never write into one directory at once; an unusable output directory is refused before
anything flies; an interrupted run keeps what it flew.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fw import hears_ctrl_c
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools.base import outputs
from host_tools.base.paths import ROOT

SCENARIO = """name = {name}
seed = 3
duration_s = {duration}
control_rate_hz = {rate}

[initial]
altitude_m = 60.0
downrange_m = 0.0
vertical_speed_mps = -3.0
horizontal_speed_mps = 0.0
"""


def scenario(path: Path, name: str = "probe", duration: float = 0.4, rate: float = 50.0) -> Path:
    path.write_text(SCENARIO.format(name=json.dumps(name), duration=duration, rate=rate), encoding="utf-8")
    return path


def lander(*args, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "host_tools", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})


def one_line(r: subprocess.CompletedProcess) -> bool:
    return r.stderr.startswith("lander: ") and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def tree(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


# ---------------------------------------------------------------- 1. untrusted names


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_a_safe_name_is_one_plain_file_name_whatever_the_text(text):
    name = outputs.safe_name(text)
    assert name and len(name) <= outputs.MAX_NAME
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert name not in (".", "..") and not name.startswith((".", "-"))
    assert Path("/base", name).parent == Path("/base")
    assert outputs.safe_name(name) == name  # a safe name stays as it is


def test_long_names_that_differ_only_at_their_ends_stay_different():
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert outputs.safe_name(a) != outputs.safe_name(b)
    assert outputs.safe_name("crater rim (2023)") == "crater_rim_2023"


@pytest.mark.parametrize("name", ["../../escaped", "{tmp}/abs-escape", "a/b", "..", "back\\slash",
                                  "nul\x00byte", "x" * 5000, "new\nline"])
def test_a_name_that_is_a_path_or_not_a_label_is_refused_before_the_run(tmp_path, name):
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    s = scenario(work / "s.toml", name.replace("{tmp}", str(tmp_path)))
    before = tree(tmp_path)
    r = lander("sim", s, "--target", "cpython", "--no-plot", cwd=work)
    assert r.returncode == 2 and one_line(r) and ": name: " in r.stderr
    assert tree(tmp_path) == before  # (abs-escape would be in it)


def test_the_default_directory_is_made_of_the_safe_name(tmp_path):
    r = lander("sim", scenario(tmp_path / "s.toml", "rim crossing (2023) #2"), "--target", "cpython",
               "--no-plot", cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["rim_crossing_2023_2"]
    assert (tmp_path / "runs" / "rim_crossing_2023_2" / "summary.json").is_file()


def test_check_refuses_two_scenarios_that_would_share_a_directory(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    scenario(lib / "a.toml", "same name")
    scenario(lib / "b.toml", "same_name")
    r = lander("check", lib, "--target", "cpython", "--out", tmp_path / "out")
    assert r.returncode == 2 and one_line(r) and "same output directory" in r.stderr
    assert not (tmp_path / "out").exists()


def test_montecarlo_names_its_worst_files_safely(tmp_path):
    from sim_harness.montecarlo import worst_file
    from sim_harness.scenario import load_scenario

    s = load_scenario(scenario(tmp_path / "s.toml", "a name with spaces"))
    assert worst_file(s, 7) == "a_name_with_spaces-mc7.toml"


# ---------------------------------------------------------------- 2. claimed directories, atomic files


def test_a_second_run_into_a_claimed_directory_is_refused(tmp_path):
    out = tmp_path / "out"
    with outputs.claim(out):  # a run in progress
        r = lander("sim", scenario(tmp_path / "s.toml"), "--target", "cpython", "--out", out)
        assert r.returncode == 2 and one_line(r) and "in use by pid" in r.stderr
        assert sorted(p.name for p in out.iterdir()) == [outputs.CLAIM_FILE]
    assert not out.exists()  # the claim made it, nothing was written: gone again


def test_two_runs_of_one_scenario_collide_on_the_default_directory_and_the_second_is_refused(tmp_path):
    s = scenario(tmp_path / "s.toml")
    with outputs.claim(tmp_path / "runs" / "probe"):
        r = lander("sim", s, "--target", "cpython", cwd=tmp_path)
    assert r.returncode == 2 and one_line(r) and "in use" in r.stderr
    r = lander("sim", s, "--target", "cpython", "--no-plot", cwd=tmp_path)  # once released: fine
    assert r.returncode in (0, 1), r.stderr
    assert sorted(p.name for p in (tmp_path / "runs" / "probe").iterdir()) == [
        "commands.bin", "frames.bin", "log.csv", "summary.json"]


def test_check_and_montecarlo_claim_their_directories_too(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    scenario(lib / "a.toml", "one")
    with outputs.claim(tmp_path / "out" / "one"):
        r = lander("check", lib, "--target", "cpython", "--out", tmp_path / "out")
    assert r.returncode == 2 and one_line(r) and "in use" in r.stderr
    with outputs.claim(tmp_path / "mc"):
        r = lander("montecarlo", lib / "a.toml", "-n", "1", "--workers", "1", "--out", tmp_path / "mc")
    assert r.returncode == 2 and one_line(r) and "in use" in r.stderr


def test_the_claim_of_a_killed_run_does_not_outlive_it(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", f"from host_tools.base import outputs; import time; "
                               f"c = outputs.claim({str(out)!r}); print('ok', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(outputs.OutputInUse, match=f"pid {holder.pid}"):
            outputs.claim(out)
    finally:
        holder.kill()
        holder.wait()
    with outputs.claim(out):  # the lock died with its process; the stale file is taken over
        pass


def test_a_write_that_fails_halfway_leaves_the_old_file_whole_and_no_temporary_file(tmp_path):
    target = tmp_path / "log.csv"
    outputs.write_text(target, "old\n")
    with pytest.raises(RuntimeError), outputs.replacing(target) as f:
        f.write("new, half")
        raise RuntimeError("the disk filled up")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]
    outputs.write_text(target, "new\n")
    assert target.read_text() == "new\n" and oct(target.stat().st_mode & 0o777) != "0o600"


# ---------------------------------------------------------------- 3. unusable output directories


@pytest.mark.parametrize("command", ["sim", "check", "montecarlo"])
@pytest.mark.parametrize("where", ["a file", "under a file", "not allowed"])
def test_an_unusable_out_is_refused_in_one_line_before_anything_flies(tmp_path, command, where):
    if where == "not allowed" and not Path("/sys").is_dir():
        pytest.skip("needs /sys (Linux) for a place even root cannot write")
    (tmp_path / "file").write_text("not a directory\n")
    out = {"a file": tmp_path / "file", "under a file": tmp_path / "file" / "sub",
           "not allowed": Path("/sys/lander-test-out")}[where]
    lib = tmp_path / "lib"
    lib.mkdir()
    s = scenario(lib / "s.toml", duration=600.0)  # long enough that running it first would show
    args = {"sim": ["sim", s, "--target", "cpython"], "check": ["check", lib, "--target", "cpython"],
            "montecarlo": ["montecarlo", s, "-n", "2", "--workers", "1"]}[command]
    t0 = time.monotonic()
    r = lander(*args, "--out", out)
    assert r.returncode == 2 and one_line(r), r.stderr
    assert str(out) in r.stderr
    assert time.monotonic() - t0 < 20
    assert (tmp_path / "file").read_text() == "not a directory\n"


# ---------------------------------------------------------------- 7. Ctrl-C


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_keeps_the_partial_log_and_summary(tmp_path, stop):
    # 100 s of descent at 1 kHz: some 100,000 steps, far longer than the wait below
    s = scenario(tmp_path / "s.toml", "long", duration=400.0, rate=1000.0)
    s.write_text(s.read_text().replace("altitude_m = 60.0", "altitude_m = 3000.0"))
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "host_tools", "sim", str(s), "--target", "cpython", "--out",
                          str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=hears_ctrl_c)
    deadline = time.monotonic() + 30
    while not (out / outputs.CLAIM_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)
    p.send_signal(stop)  # SIGTERM (kill, timeout) is taken as Ctrl-C
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, stderr
    assert stderr.startswith("lander: interrupted after step ") and stderr.count("\n") == 1
    assert "kept the partial log and summary" in stderr
    summary = json.loads((out / "summary.json").read_text())
    rows = (out / "log.csv").read_text().splitlines()
    assert summary["interrupted"] and summary["passed"] is False
    assert any(f.startswith("interrupted") for f in summary["expect"]["failures"])
    assert summary["steps"] == len(rows) - 1 > 100
    assert (out / "frames.bin").is_file() and not (out / outputs.CLAIM_FILE).exists()


def test_ctrl_c_on_a_check_with_two_workers_keeps_both_partial_runs(tmp_path):
    # GIVEN a library of three long descents checked with two targets flying at once
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("a", "b", "c"):
        s = scenario(lib / f"{name}.toml", name, duration=400.0, rate=1000.0)
        s.write_text(s.read_text().replace("altitude_m = 60.0", "altitude_m = 3000.0"))
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "host_tools", "check", str(lib), "--target", "cpython",
                          "--workers", "2", "--out", str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         preexec_fn=hears_ctrl_c)
    deadline = time.monotonic() + 30
    while not (out / outputs.CLAIM_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(3.0)
    # WHEN Ctrl-C arrives while the first two fly
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=60)
    # THEN one line, exit 130, no whole run, and both runs in flight are written as far as they flew
    assert p.returncode == 130, stderr
    assert stderr.startswith("lander: interrupted in ") and stderr.count("\n") == 1, stderr
    assert "after 0 whole runs" in stderr, stderr
    for name in ("a", "b"):
        summary = json.loads((out / name / "summary.json").read_text())
        rows = (out / name / "log.csv").read_text().splitlines()
        assert summary["interrupted"] and summary["passed"] is False, name
        assert summary["steps"] == len(rows) - 1 > 100, name
    assert not (out / "c" / "summary.json").exists()  # never started
    assert "a " in stdout and "b " in stdout  # the table of what flew
    assert not list(out.rglob(outputs.CLAIM_FILE))

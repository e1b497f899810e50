"""The command line: the contract's commands, exit codes, one clear line on bad input."""

from __future__ import annotations

import os
import subprocess
import sys

CONTRACT_COMMANDS = ("sim", "replay", "check", "flash", "montecarlo", "bench", "virtual-board")


def lander(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "host_tools", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_help_lists_every_command_of_the_contract():
    r = lander("--help")
    assert r.returncode == 0
    for name in CONTRACT_COMMANDS:
        assert name in r.stdout
    for name in CONTRACT_COMMANDS:
        assert lander(name, "--help").returncode == 0


def test_a_bad_option_is_one_line_and_exit_2():
    r = lander("--no-such-option")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("lander: ")
    assert "Traceback" not in r.stderr


def test_an_unknown_target_is_one_line_and_exit_2():
    r = lander("info", "--target", "pico")
    assert r.returncode == 2 and "unknown target 'pico'" in r.stderr and r.stderr.count("\n") == 1


def test_a_missing_vm_is_one_line_and_exit_2():
    r = lander("info", "--target", "vm", env={"LANDER_MICROPYTHON_WASM": "/nonexistent/micropython.wasm"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "LANDER_MICROPYTHON_WASM names no file" in r.stderr and r.stderr.count("\n") == 1


def test_info_on_the_vm_names_the_virtual_board():
    r = lander("info", "--target", "vm")
    assert r.returncode == 0 and r.stdout.startswith("board virtual, firmware ")


def test_a_reader_that_goes_away_gets_no_complaint_and_the_run_is_still_written(tmp_path):
    # GIVEN `lander sim ... | head -1`: the reader closes the pipe after the first line
    scenario = os.path.join(os.path.dirname(__file__), "..", "sim_harness", "scenarios", "nominal-flat.toml")
    p = subprocess.Popen([sys.executable, "-m", "host_tools", "sim", scenario, "--target", "cpython",
                          "--no-plot", "--no-reference", "--out", str(tmp_path / "run")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read()
    p.wait(timeout=120)
    # THEN the line came, nothing is said of the closed pipe, and the run's files are there
    assert first.startswith("nominal-flat: landed")
    assert err == "", err
    assert (tmp_path / "run" / "log.csv").is_file() and (tmp_path / "run" / "summary.json").is_file()

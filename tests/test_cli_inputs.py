"""Every input is checked where it enters: exit 2 and one line on stderr, never a traceback.

Run in this interpreter (host_tools.commands.cli.main) to be quick; `internal error` is what main says
when an exception escapes a command, so it must never appear either.
"""

from __future__ import annotations

import contextlib
import io
import os

import pytest

from host_tools.commands.cli import main
from host_tools.link import wire

GOOD = """name = "probe"
seed = 3
duration_s = 0.4

[initial]
altitude_m = 60.0
downrange_m = 0.0
vertical_speed_mps = -3.0
horizontal_speed_mps = 0.0
"""


def run(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


def refused(rc: int, err: str, *words: str) -> bool:
    one = err.startswith("lander: ") and err.count("\n") == 1
    return rc == 2 and one and "internal error" not in err and all(w in err for w in words)


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path, text: str | bytes):
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- 4. files, options, numbers


@pytest.mark.parametrize("content, words", [
    (b'name = "caf\xe9"\nseed = 1\n', ("not UTF-8", "byte 0xe9 at offset 11")),
    ("a = " + "[" * 5000 + "]" * 5000 + "\n", ("nested too deeply",)),
    ("x = {" * 3000 + "}" * 3000 + "\n", ("TOML",)),
    (GOOD.replace("seed = 3", "seed = 99999999999999999999999"), ("seed",)),
    (GOOD.replace("seed = 3", "seed = -1"), ("seed", ">= 0")),
    (GOOD.replace("altitude_m = 60.0", "altitude_m = 1e300"), ("initial.altitude_m", "magnitude")),
    (GOOD.replace("altitude_m = 60.0", "altitude_m = 99999999999999999999999"), ("initial.altitude_m",)),
    (GOOD.replace("duration_s = 0.4", "duration_s = 1e8"), ("duration_s", "control steps")),
    (GOOD.replace("duration_s = 0.4", "control_rate_hz = 1e-300"), ("control_rate_hz",)),
    (GOOD + "[vehicle]\nmax_thrust_n = 1e15\n", ("vehicle.max_thrust_n",)),
    ("a" * (1 << 20) + "\n", ("larger than",)),
])
def test_a_bad_scenario_file_is_one_line(work, content, words):
    rc, _, err = run("sim", write(work / "s.toml", content), "--target", "cpython")
    assert refused(rc, err, "s.toml", *words), err
    assert not (work / "runs").exists()


@pytest.mark.parametrize("args, words", [
    (["sim", "{s}", "--seed", "-1"], ("--seed", ">= 0")),
    (["sim", "{s}", "--seed", str(2**64)], ("--seed",)),
    (["sim", "{s}", "--seed", "seven"], ("--seed", "not an integer")),
    (["montecarlo", "{s}", "--seed", "-1"], ("--seed",)),
    (["montecarlo", "{s}", "-n", "0"], ("-n",)),
    # each absurd count comes with a second bad option after it: a command line that checked
    # neither would try to hold 10^12 seeds or fork a million workers
    (["montecarlo", "{s}", "-n", str(10**12), "--workers", "0"], ("-n",)),
    (["montecarlo", "{s}", "--workers", "0", "-n", "0"], ("--workers",)),
    (["montecarlo", "{s}", "--workers", "1000000", "-n", "0"], ("--workers",)),
    (["sim", "x" * 5000 + ".toml"], ("cannot use as a scenario file",)),
    (["sim", "{dir}"], ("no such scenario file",)),
    (["sim", "{s}", "--out", ""], ("--out",)),
    (["check", "x" * 5000], ("cannot use as a directory",)),
    (["replay", "x" * 5000], ("cannot use as a recording",)),
    # one board flies one run at a time: a second worker's exclusive open of the port would
    # fail mid-flight (refused before the port is opened: this one does not exist)
    (["montecarlo", "{s}", "-n", "4", "--workers", "2", "--target", "serial:/no/tty"], ("one board",)),
    (["campaign", "-n", "4", "--workers", "2", "--target", "serial:/no/tty"], ("one board",)),
    (["check", "{dir}", "--workers", "2", "--target", "serial:/no/tty"], ("one board",)),
    (["bench", "--campaign", "20", "--target", "serial:/no/tty"], ("one board",)),
])
def test_a_bad_option_value_is_one_line(work, args, words):
    s = write(work / "s.toml", GOOD)
    rc, _, err = run(*[a.format(s=s, dir=work) for a in args])
    assert refused(rc, err, *words), err
    assert not (work / "runs").exists()


def test_a_thrust_too_small_to_compute_an_ideal_burn_is_no_traceback(work):
    s = write(work / "s.toml", GOOD + "[vehicle]\nmax_thrust_n = 5e-324\n")
    rc, out, err = run("sim", s, "--target", "cpython", "--no-plot")
    assert rc in (0, 1) and "internal error" not in err, err
    assert "probe: " in out


# ---------------------------------------------------------------- 6. no firmware on a port


@pytest.fixture
def silent_port(monkeypatch):
    """A pseudo-terminal with nothing behind it (its far end open, saying nothing)."""
    from host_tools.link import serial_link

    for name, value in (("HELLO_TIMEOUT", 0.2), ("BOOT_TIMEOUT", 0.3), ("RESET_TIMEOUT", 0.3),
                        ("SILENT_BOOT_S", 0.3), ("BOOT_ESCAPE_WAIT", 0.0)):
        if hasattr(serial_link, name):  # the waits of opening a port, shortened where they exist
            monkeypatch.setattr(serial_link, name, value)
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(slave)
    os.close(master)


@pytest.mark.parametrize("command", ["info", "sim", "replay"])
def test_a_port_where_no_firmware_answers_is_exit_2(work, silent_port, command):
    s = write(work / "s.toml", GOOD)
    args = {"info": ["info"], "sim": ["sim", s], "replay": ["replay", _recording(work, sensors=3)]}[command]
    rc, _, err = run(*args, "--target", f"serial:{silent_port}")
    assert refused(rc, err, silent_port, "no firmware answers"), err
    assert not (work / "runs").exists()


# ---------------------------------------------------------------- 7. a recording with nothing to check


def _recording(directory, sensors: int):
    init = wire.Init(1, 0, 100.0, 5.0, -3.0, 0.5, 0.0, 0.2, 0.0, 1000.0, 540.0, 340.0, 1600.0, 310.0,
                     0.1, 0.15)
    data = wire.encode_init(init)
    for k in range(1, sensors + 1):
        data += wire.encode_sensor(wire.Sensor(k + 1, k * 20_000, 1.62, 0.0, 0.0, 100.0, 100.0, 0))
    return write(directory / "frames.bin", data)


@pytest.mark.parametrize("target", ["cpython", "none"])
def test_a_recording_with_no_sensor_frame_is_an_error_not_a_pass(work, target):
    frames = _recording(work, sensors=0)
    write(work / "commands.bin", b"")
    rc, out, err = run("replay", frames, "--target", target)
    assert refused(rc, err, "no SENSOR frame"), (out, err)


def test_a_recording_with_sensor_frames_still_replays(work):
    rc, out, err = run("replay", _recording(work, sensors=5), "--target", "cpython")
    assert rc == 0, err
    assert "1 session(s), 5 sensor frames" in out


def test_a_serial_board_flies_with_one_worker_unless_told_otherwise():
    # the default of --workers is every core; on a serial board it is one
    from host_tools.commands import runs

    assert runs.workers(None, "serial:/dev/ttyACM0", 100) == 1
    assert runs.workers(None, "vm", 1) == 1 and runs.workers(3, "vm", 100) == 3

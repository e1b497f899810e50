"""The virtual board answers like a Pico on USB: mpremote, flash and the serial target work on it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from host_tools import wire
from host_tools.paths import ROOT, SCENARIOS
from host_tools.serial_link import SerialTarget

pytestmark = [pytest.mark.vm, pytest.mark.slow]

TIMING_FIELDS = {"target", "wall_s", "target_step_us", "step_telemetry"}


def mpremote(port: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, text=True, timeout=timeout)


def lander(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "host_tools", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """GIVEN a virtual board started as a user starts it, with its flash in a directory."""
    flash = tmp_path_factory.mktemp("flash")
    proc = subprocess.Popen([sys.executable, "-m", "host_tools", "virtual-board", "--flash-dir", str(flash)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    port = proc.stdout.readline().strip()
    assert port.startswith("/dev/"), proc.stderr.read() if proc.poll() is not None else port
    yield port, flash, proc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_mpremote_lists_copies_executes_and_resets(board, tmp_path):
    port, flash, _ = board
    # WHEN mpremote copies a file, lists, executes, soft-resets and hard-resets
    src = tmp_path / "hello.py"
    src.write_text("print('hello from the flash')\n")
    r = mpremote(port, "fs", "cp", str(src), ":hello.py", "+", "fs", "ls", "+", "exec", "import hello",
                 "+", "fs", "cp", str(src), ":hello.py")
    # THEN each works as on a board, and an identical file is not copied again
    assert r.returncode == 0, r.stderr
    assert "hello.py" in r.stdout and "hello from the flash" in r.stdout
    assert "Up to date: hello.py" in r.stdout
    assert (flash / "hello.py").read_text() == src.read_text()
    r = mpremote(port, "soft-reset", "+", "exec", "print(6 * 7)")
    assert r.returncode == 0 and "42" in r.stdout, r.stderr
    assert mpremote(port, "reset").returncode == 0
    # the filesystem survives the reset, and errors come back as MicroPython prints them
    r = mpremote(port, "exec", "import os; print(sorted(os.listdir()))")
    assert r.returncode == 0 and "hello.py" in r.stdout, r.stderr
    r = mpremote(port, "exec", "1/0")
    assert r.returncode != 0 and "ZeroDivisionError" in r.stdout + r.stderr
    r = mpremote(port, "fs", "rm", ":hello.py")
    assert r.returncode == 0, r.stderr


def test_machine_services_are_recorded_by_the_host(board):
    port, _, _ = board
    r = mpremote(port, "exec", "import machine\np = machine.Pin(15)\nw = machine.PWM(p)\nw.duty_u16(1234)\n"
                 "print(machine.unique_id(), machine.freq())\nprint(machine.record())")
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout.strip().splitlines()[-1])
    assert record["pwm"]["15"]["duty"] == 1234


def test_flash_then_the_serial_target_flies_frames(board):
    port, flash, _ = board
    # WHEN the firmware is flashed to the virtual board
    r = lander("flash", "--port", port)
    # THEN it is compiled, copied, reset and verified over the link
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified" in r.stdout
    assert (flash / "main.py").is_file() and (flash / "flight" / "core.mpy").is_file()
    # AND a second flash copies nothing (mpremote skips identical files), first stopping the loop
    r = lander("flash", "--port", port)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sent EXIT" in r.stdout and "copied 0 files" in r.stdout
    # AND the serial target drives frames through the firmware, resynchronising after garbage
    with SerialTarget(port) as target:
        ident = target.hello()
        assert ident.board == "virtual"
        init = wire.Init(0, 0, 3000.0, 50.0, -40.0, 1.0, 20.0, 1.0, 0.0, 3000.0, 540.0, 340.0, 1600.0,
                         310.0, 0.1, 0.15)
        assert target.init(init)
        target.send_raw(b"\x00garbage\xa5\x5a\xff" + bytes(range(40)), settle=0.2)
        cmd = target.step(wire.Sensor(0, 20_000, 1.62, 0.0, 0.0, 2950.0, 2950.0, 15))
        assert cmd.t_us == 20_000 and cmd.rx_errors >= 1 and cmd.step_us > 0


def test_a_library_scenario_gives_the_same_summary_on_serial_as_on_vm(board, tmp_path):
    port, _, _ = board
    assert lander("flash", "--port", port).returncode == 0
    scenario = SCENARIOS / "nominal-flat.toml"
    out = {}
    for target in ("vm", f"serial:{port}"):
        d = tmp_path / target.replace("/", "_").replace(":", "_")
        r = lander("sim", str(scenario), "--target", target, "--out", str(d), "--no-plot", timeout=900)
        assert (d / "summary.json").is_file(), r.stdout + r.stderr
        out[target] = json.loads((d / "summary.json").read_text())
    a, b = (out[t] for t in out)
    assert {k: v for k, v in a.items() if k not in TIMING_FIELDS} == \
           {k: v for k, v in b.items() if k not in TIMING_FIELDS}


def test_ctrl_c_interrupts_a_running_exec(board):
    import serial

    port, _, _ = board
    with SerialTarget(port, start_loop=False) as target:  # GIVEN the board at its REPL
        target.stop_loop()
    with serial.Serial(port, 115200, timeout=0.2) as s:
        s.write(b"\r\x03\x03\x02")
        s.read(4096)
        s.write(b"while True: pass\r\r")
        s.read(100)
        s.write(b"\x03")
        seen = b""
        for _ in range(30):
            seen += s.read(4096)
            if b">>> " in seen:
                break
    assert b"KeyboardInterrupt" in seen and seen.endswith(b">>> ")


@pytest.mark.skipif(not os.environ.get("LANDER_PORT"), reason="needs a board: set LANDER_PORT")
@pytest.mark.hardware
def test_flash_a_real_board():
    r = lander("flash", "--port", os.environ["LANDER_PORT"])
    assert r.returncode == 0, r.stdout + r.stderr




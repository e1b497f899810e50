"""A Pico on the desk, or the emulated one: every host path works on it as on a real board.

With LANDER_PORT set these tests run against the board on that port (docs/hardware.md);
otherwise against the emulated Pico (MicroPython's own RPI_PICO image in rp2040js,
host_tools/link/pico_emu.py), which CI always runs. Without the image they are skipped on a
desk and fail in CI (the image is in ../shared/rp2 there).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

import pytest

from host_tools.base.paths import ROOT, SCENARIOS
from host_tools.link import wire
from host_tools.link.serial_link import SerialTarget

# the tests on the shared board run on one worker (group "pico"); those that start an emulated
# Pico of their own may run beside them (group "pico-emu")
pytestmark = [pytest.mark.hardware, pytest.mark.slow]
shared_board = pytest.mark.xdist_group("pico")
own_emulator = pytest.mark.xdist_group("pico-emu")

REAL_PORT = os.environ.get("LANDER_PORT")


def mpremote(port: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, text=True, timeout=timeout)


def lander(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "host_tools", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def nominal_init() -> wire.Init:
    """The prior of a braking descent from 3000 m (bench's canned stream)."""
    from host_tools.commands.bench import canned_stream

    return canned_stream(1)[0]


def need_image() -> None:
    from host_tools.base.errors import UsageError
    from host_tools.link.pico_emu import image_files, node_command

    try:
        image_files()
        node_command()
    except UsageError as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the emulated Pico: {e}")
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def port(tmp_path_factory):
    """GIVEN a board: the one on LANDER_PORT, or an emulated Pico started as a user starts it."""
    if REAL_PORT:
        yield REAL_PORT
        return
    need_image()
    image = tmp_path_factory.mktemp("flash") / "flash.img"
    cmd = [sys.executable, "-m", "host_tools", "virtual-board", "--flash-image", str(image)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    path = proc.stdout.readline().strip()
    assert path.startswith("/dev/"), proc.stderr.read() if proc.poll() is not None else path
    yield path
    proc.terminate()
    assert proc.wait(timeout=20) == 0
    assert image.stat().st_size == 1408 * 1024  # the filesystem was written back


def at_repl(port: str) -> None:
    with SerialTarget(port, start_loop=False) as target:
        target.stop_loop()
    time.sleep(2.0)  # a board whose watchdog was armed reboots to its REPL after EXIT


@shared_board
def test_mpremote_copies_both_ways_lists_executes_mounts_and_resets(port, tmp_path):
    at_repl(port)
    src = tmp_path / "hello.py"
    src.write_text("print('hello from the flash')\n")
    # WHEN mpremote copies a file up, lists, executes it, copies it back and again
    r = mpremote(port, "fs", "cp", str(src), ":hello.py", "+", "fs", "ls", "+", "exec", "import hello",
                 "+", "fs", "cp", ":hello.py", str(tmp_path / "back.py"),
                 "+", "fs", "cp", str(src), ":hello.py")
    # THEN each works as on a board (hash-checked both ways), an identical file is not copied again
    assert r.returncode == 0, r.stderr
    assert "hello.py" in r.stdout and "hello from the flash" in r.stdout
    assert "Up to date: hello.py" in r.stdout
    assert (tmp_path / "back.py").read_text() == src.read_text()
    # AND a host directory mounts (mpremote's remote filesystem needs the board's timeouts to
    # pass at wall-clock pace)
    (tmp_path / "mounted.py").write_text("print('from the host', 6 * 7)\n")
    r = mpremote(port, "mount", str(tmp_path), "exec", "import mounted")
    assert r.returncode == 0 and "from the host 42" in r.stdout, r.stdout + r.stderr
    # AND soft and hard resets keep the filesystem; errors come back as MicroPython prints them
    r = mpremote(port, "soft-reset", "+", "exec", "print(6 * 7)")
    assert r.returncode == 0 and "42" in r.stdout, r.stderr
    assert mpremote(port, "reset").returncode == 0
    time.sleep(2.0)
    r = mpremote(port, "exec", "import os; print(sorted(os.listdir()))")
    assert r.returncode == 0 and "hello.py" in r.stdout, r.stderr
    r = mpremote(port, "exec", "1/0")
    assert r.returncode != 0 and "ZeroDivisionError" in r.stdout + r.stderr
    assert mpremote(port, "fs", "rm", ":hello.py").returncode == 0


@shared_board
def test_ctrl_c_interrupts_a_running_exec(port):
    import serial

    at_repl(port)
    with serial.Serial(port, 115200, timeout=0.2) as s:
        s.write(b"\r\x03\x03\x02")
        s.read(4096)
        s.write(b"while True: pass\r\r")
        s.read(100)
        s.write(b"\x03")
        seen = b""
        for _ in range(50):
            seen += s.read(4096)
            if seen.endswith(b">>> "):
                break
    assert b"KeyboardInterrupt" in seen and seen.endswith(b">>> ")


@shared_board
def test_flash_compiles_copies_resets_and_verifies_then_stops_a_running_loop(port):
    # WHEN the firmware is flashed
    r = lander("flash", "--port", port)
    # THEN it is compiled for the board's ABI, copied, reset, and its identity verified over the
    # link, with no fixed wait for the boot (the loop announces itself)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Raspberry Pi Pico with RP2040 (pico), MicroPython 1.28.0, .mpy 6.3" in r.stdout
    assert "for armv6m" in r.stdout and "32-bit floats; the flight loop is running" in r.stdout
    # AND flashing a board busy in its loop stops the loop first and copies nothing new
    r = lander("flash", "--port", port)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sent EXIT" in r.stdout and "copied 0 files" in r.stdout
    # AND the wrong board is refused before anything changes
    r = lander("flash", "--port", port, "--board", "pico2")
    assert r.returncode == 2 and "wrong board: --board pico2" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@shared_board
def test_the_serial_target_flies_frames_and_resynchronises_after_garbage(port):
    assert lander("flash", "--port", port).returncode == 0
    with SerialTarget(port) as target:
        ident = target.hello()
        assert ident.board == "pico" and ident.float_bits == 32 and target.float_bits == 32
        assert target.init(nominal_init())
        target.send_raw(b"\x00garbage\xa5\x5a\xff" + bytes(range(40)), settle=0.5)
        cmd = target.step(wire.Sensor(0, 20_000, 1.62, 0.0, 0.0, 2950.0, 2950.0, 15))
        assert cmd.t_us == 20_000 and cmd.rx_errors >= 1 and cmd.step_us > 0 and cmd.heap_free > 0


def fly(scenario, target: str, out) -> dict:
    """sim of a scenario (a library name or a path) on target: it passes, every step checked
    against the float32 model."""
    r = lander("sim", str(SCENARIOS / scenario), "--target", target, "--out", str(out), "--no-plot",
               timeout=1800)
    assert (out / "summary.json").is_file(), r.stdout + r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert r.returncode == 0 and summary["expect"]["passed"], r.stdout + r.stderr
    ref = summary["reference"]
    assert ref["tolerance"] == "single" and ref["mismatches"] == 0
    assert ref["steps_compared"] == summary["steps"]
    return summary


@shared_board
def test_a_nominal_descent_agrees_with_the_float32_model_at_every_step(port, tmp_path):
    # WHEN the nominal descent is flown in closed loop on the board, flashed with this firmware
    assert lander("flash", "--port", port).returncode == 0
    summary = fly("nominal-flat.toml", f"serial:{port}", tmp_path)
    # THEN it lands as on the host, and every command matches the single-precision model
    assert summary["outcome"] == "landed" and not summary["reference"]["flips"]
    step_us = summary["target_step_us"]
    assert summary["steps"] > 4000 and 0 < step_us["median"] <= step_us["p99"] <= step_us["max"]
    # AND the collection's schedule keeps the free heap above its floor all the way down
    # (docs/boards.md): the board's heap probes, as its COMMAND frames carry them
    from host_tools.link import recording

    heap = [c.heap_free for c in recording.read_commands(tmp_path / recording.COMMANDS_FILE)]
    assert len(set(heap)) > 5 and min(heap) >= 100_000


@shared_board
def test_a_velocimeter_found_at_fault_agrees_with_the_float32_model_at_every_step(port, tmp_path):
    # GIVEN the library's beam bias: the velocimeter fused, then found at fault against the
    # inertial vx, the filter's vx given back to it (decision 0018), the unit out to touchdown
    assert lander("flash", "--port", port).returncode == 0
    # WHEN it is flown in closed loop on the board
    summary = fly("velocimeter-beam-bias.toml", f"serial:{port}", tmp_path)
    # THEN it passes its expectations, every command (the velocimeter's health and reason
    # among them) equal to the single-precision model's
    declared = [c["state"] for c in summary["faults_declared"] if c["sensor"] == "velocimeter"]
    assert "ok" in declared and ("rejected" in declared or "failed" in declared), declared
    assert summary["outcome"] == "landed" and summary["steps"] > 4000


def radar_spike_low():
    """The library's radar-spike started 700 m up, the spikes from 5 s: 2,460 steps instead of
    5,000 (the full descent is the nominal test's, above; the whole library on the emulated
    Pico is `lander check --target pico-emu --workers 2`, about 50 minutes on 2 cores)."""
    from sim_harness.scenario import Initial, load_scenario

    scn = load_scenario(SCENARIOS / "radar-spike.toml")
    return dataclasses.replace(
        scn, name="radar-spike-low", initial=Initial(700.0, -300.0, -15.0, 5.0),
        knowledge=dataclasses.replace(scn.knowledge, terrain_sigma_m=200.0),
        faults=[dataclasses.replace(f, start_s=5.0) for f in scn.faults])


@own_emulator
def test_a_fault_scenario_on_the_pico_emu_target_agrees_with_the_float32_model(tmp_path):
    from sim_harness.scenario import scenario_to_toml

    need_image()
    scenario = tmp_path / "radar-spike-low.toml"
    scenario.write_text(scenario_to_toml(radar_spike_low()))
    # WHEN a fault scenario is flown with one command on a freshly started emulated Pico
    summary = fly(scenario, "pico-emu", tmp_path / "out")
    # THEN it passes its expectations with zero mismatches against the float32 model, the
    # radar isolated and the range finder never blamed
    assert summary["target"] == "pico-emu" and summary["steps"] > 2000


@own_emulator
def test_a_run_stopped_by_sigterm_writes_its_log_and_leaves_no_emulator_behind(tmp_path):
    import signal

    from host_tools.base import outputs
    from host_tools.link.pico_emu import cached_flash_image
    from sim_harness.scenario import scenario_to_toml

    need_image()
    scenario = tmp_path / "radar-spike-low.toml"
    scenario.write_text(scenario_to_toml(radar_spike_low()))
    tmp, out = tmp_path / "tmp", tmp_path / "out"
    tmp.mkdir()
    p = subprocess.Popen([sys.executable, "-m", "host_tools", "sim", str(scenario), "--target", "pico-emu",
                          "--out", str(out), "--no-plot"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp)})
    # WHEN a run on the emulated Pico is flying and is sent SIGTERM (kill, timeout, a scheduler)
    deadline = time.monotonic() + 300
    while not (out / outputs.CLAIM_FILE).exists() and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.2)
    while not (list(tmp.glob("lander-pico-emu-*")) and cached_flash_image().is_file()) \
            and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.2)  # started, and flashed (a first run flashes, then keeps the flash)
    time.sleep(15)  # booted from the flash and flying
    p.send_signal(signal.SIGTERM)
    _, stderr = p.communicate(timeout=120)
    # THEN it stops as Ctrl-C stops it: the partial run written, exit 130, one line
    assert p.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("lander: interrupted")
    assert json.loads((out / "summary.json").read_text())["interrupted"]
    # AND the emulator is stopped and its temporary flash removed
    assert not list(tmp.iterdir())
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(tmp) not in ps


@own_emulator
def test_bench_on_the_emulated_pico_reports_sane_numbers():
    need_image()
    r = lander("bench", "--json", "--target", "pico-emu", "--steps", "200", timeout=900)
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)["pico-emu"]
    assert 0 < b["step_us_median"] <= b["step_us_p99"] <= b["step_us_max"] < 1e6
    assert b["gc_us"] > 0 and 0 < b["heap_bytes_per_step"] < 50_000
    assert 0 < b["heap_free_min"] < b["heap_free_after_import"] < 245_888
    assert b["firmware_mpy_bytes"] > 0 and b["steps"] == 200


def _flying_pico_emu():
    from host_tools.link.connect import open_target

    target = open_target("pico-emu")
    assert target.init(nominal_init())
    target.step(wire.Sensor(0, 20_000, 1.62, 0.0, 0.0, 2950.0, 2950.0, 15))
    return target


@own_emulator
def test_an_emulator_that_dies_mid_run_is_a_clear_target_error():
    from host_tools.link.targets import TargetError

    need_image()
    target = _flying_pico_emu()
    try:
        # WHEN the emulator process dies between two frames
        target.pico.proc.kill()
        target.pico.died.wait(10)
        # THEN the next frame fails at once with a message that says so
        with pytest.raises(TargetError, match="emulated Pico stopped"):
            target.step(wire.Sensor(0, 40_000, 1.62, 0.0, 0.0, 2949.0, 2949.0, 15))
    finally:
        target.close()


@own_emulator
def test_a_board_reset_mid_run_is_noticed_and_the_board_flies_again():
    from host_tools.link.targets import TargetError

    need_image()
    target = _flying_pico_emu()
    try:
        # WHEN the chip resets mid-run (its reset button)
        target.pico.press_reset()
        # THEN the run ends with a message naming the reset, not with a wrong number
        with pytest.raises(TargetError, match="reset or left its loop mid-run"):
            for k in range(2, 200):
                target.step(wire.Sensor(0, 20_000 * k, 1.62, 0.0, 0.0, 2950.0 - k, 2950.0 - k, 15))
        # AND the board is usable afterwards: a new session starts its loop and flies
        target.serial.close()
        again = SerialTarget(target.pico.path)
        with again:
            assert again.init(nominal_init())
            assert again.step(wire.Sensor(0, 20_000, 1.62, 0.0, 0.0, 2950.0, 2950.0, 15)).t_us == 20_000
    finally:
        target.close()


@own_emulator
def test_mpremote_cannot_interrupt_a_flight_and_says_why_in_one_line():
    need_image()
    target = _flying_pico_emu()
    try:
        # WHEN a user runs mpremote on the port while the host flies the board
        r = mpremote(target.pico.path, "exec", "print('hello')", timeout=60)
        # THEN mpremote leaves at once with one line naming the port in use
        assert r.returncode == 1 and "in use by another program" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        # AND the flight goes on undisturbed: every frame answered, no byte lost
        for k in range(2, 60):
            cmd = target.step(wire.Sensor(0, 20_000 * k, 1.62, 0.0, 0.0, 2950.0 - k, 2950.0 - k, 15))
            assert cmd.t_us == 20_000 * k
        assert cmd.rx_errors == 0 and target.resends == 0
    finally:
        target.close()


@own_emulator
def test_virtual_board_refuses_what_it_cannot_run_with_in_one_line(tmp_path):
    bad = tmp_path / "small.img"
    bad.write_bytes(b"\xff" * 1000)
    for args, says in ((["--board", "pico2"], "the emulated boards are pico"),
                       (["--flash-image", str(bad)], "a flash image of the emulated Pico has"),
                       (["--flash-image", str(tmp_path / "no" / "such" / "x.img")], "no directory"),
                       (["--flash-image", str(tmp_path)], "a directory, not a file")):
        r = lander("virtual-board", *args, timeout=60)
        assert r.returncode == 2 and says in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and not r.stdout


@own_emulator
def test_without_the_image_a_user_gets_one_line_and_exit_2(tmp_path):
    env = dict(os.environ, LANDER_RP2_DIR=str(tmp_path))
    for args in (["virtual-board"], ["sim", str(SCENARIOS / "nominal-flat.toml"), "--target", "pico-emu",
                                     "--out", str(tmp_path / "out")]):
        r = subprocess.run([sys.executable, "-m", "host_tools", *args], capture_output=True, text=True,
                           timeout=120, cwd=ROOT, env=env)
        assert r.returncode == 2, r.stderr
        assert "RPI_PICO-v1.28.0.uf2" in r.stderr and "micropython.org/download/RPI_PICO" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1

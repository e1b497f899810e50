"""flash refuses clearly (exit 2, one line) when the port or the board is not right."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from host_tools.paths import ROOT


def lander(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "host_tools", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_flash_to_a_port_that_does_not_exist_is_a_usage_error():
    r = lander("flash", "--port", "/dev/does-not-exist-42")
    assert r.returncode == 2
    assert "no serial port /dev/does-not-exist-42" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_flash_to_a_port_where_nothing_answers_is_a_usage_error():
    # GIVEN a pseudo-terminal that nobody answers on
    master, slave = os.openpty()
    try:
        port = os.ttyname(slave)
        r = lander("flash", "--port", port)
    finally:
        os.close(master)
        os.close(slave)
    # THEN flash says so in one line, within seconds
    assert r.returncode == 2, r.stdout + r.stderr
    assert "does not answer" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.vm
@pytest.mark.slow
def test_flash_refuses_the_wrong_board(tmp_path):
    cmd = [sys.executable, "-m", "host_tools", "virtual-board", "--flash-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        port = proc.stdout.readline().strip()
        r = lander("flash", "--port", port, "--board", "pico")
        assert r.returncode == 2, r.stdout + r.stderr
        assert "wrong board: --board pico" in r.stderr
        assert not (tmp_path / "main.py").exists()  # nothing was changed
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_flash_needs_a_port():
    r = lander("flash")
    assert r.returncode == 2 and "--port" in r.stderr

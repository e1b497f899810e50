"""flash refuses clearly (exit 2, one line) when the port or the board is not right."""

from __future__ import annotations

import os
import subprocess
import sys

from host_tools.base.paths import ROOT


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


def test_flash_needs_a_port():
    r = lander("flash")
    assert r.returncode == 2 and "--port" in r.stderr

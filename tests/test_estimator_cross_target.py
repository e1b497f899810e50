"""The same synthetic stream gives identical numbers in CPython and in the MicroPython VM."""


import ast
import struct

import estimator_sim as sim
import pytest
from fw import firmware_image, import_firmware

from host_tools.link.vm import run_script

import_firmware()
from flight.estimator import Estimator  # noqa: E402

# The WASI VM's collector must not run inside these snippets (docs/decisions/0001): a heap
# large enough for the whole stream avoids it.
VM_HEAP = 64 * 1024 * 1024  # [bytes]

PROGRAM = """
from flight.estimator import Estimator
from flight.core import CycleClock
class P:
    pass
def run(prior, frames):
    p = P()
    for k in prior:
        setattr(p, k, prior[k])
    e = Estimator()
    e.reset(p)
    clock = CycleClock()
    out = []
    n = 0
    last = 0
    for f in frames:
        # the flight core's schedule: every frame, and a cycle every 0.1 s
        t_us = round(f[0] * 1e6)
        e.frame(f[1], f[2], f[3], f[4], f[5], f[6], f[7], t_us, 0, 0.0, 0.0)  # no velocimeter sample
        if clock.due(t_us, t_us - last):
            e.aid(t_us, False)
            e.cycle(t_us * 1e-6, t_us, clock.dt)
        else:
            e.aid(t_us, True)
        last = t_us
        n += 1
        if n % 25 == 0:
            out.append((e.agl, e.agl_sigma, e.z, e.z_sigma, e.vz, e.vz_sigma, e.vx, e.vx_sigma,
                        e.terrain, e.terrain_sigma, e.accel_bias, e.accel_bias_sigma,
                        e.radar.health, e.radar.reason, e.radar.test_ratio,
                        e.lrf.health, e.lrf.reason, e.lrf.test_ratio, e.aiding, e.below))
    return out
"""


def _stream():
    # a descent over a 300 m cliff with a stuck LRF from 9 s and radar spikes from 12 s
    s = sim.Sim(seed=21, z0=2500.0, vx0=25.0, terrain=sim.step_terrain(120.0, 300.0, 0.0),
                lrf_fault=sim.stuck(9.0), radar_fault=sim.spikes(12.0, 150.0, 5))
    frames = [f[:8] for f in s.frames(16.0)]
    prior = dict(vars(sim.Prior(z=2500.0, terrain=300.0, vx=25.0)))
    return prior, frames


def test_cpython_and_the_vm_print_identical_numbers():
    # GIVEN one synthetic stream with a terrain step and two sick altimeters
    prior, frames = _stream()
    # WHEN the estimator runs on it in CPython and in the MicroPython VM
    ns = {"Estimator": Estimator}
    exec(PROGRAM.replace("from flight.estimator import Estimator\n", ""), ns)
    rows = ns["run"](prior, frames)
    code = ("import sys\nsys.path.insert(0, '/flash')\n" + PROGRAM
            + f"print(repr(run({prior!r}, {frames!r})))\n")
    with firmware_image() as image:
        r = run_script(code, flash_dir=image, heap=VM_HEAP, timeout=300.0)
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")[-2000:]
    there = ast.literal_eval(r.stdout.decode().strip())
    # THEN every number and every decision is the same (read back from the repr, which may
    # spell the same double with a digit more in MicroPython)
    assert there == rows
    # AND the run went through the interesting paths
    assert any(row[12:14] == (1, 0) for row in rows)  # radar ok
    assert rows[-1][15:17] == (3, 4)  # lrf rejected: stuck


def rows_in_the_vm(prior, frames):
    """The estimator's rows (every 25th frame) for a stream handed to the VM as packed doubles."""
    data = b"".join(struct.pack("<8d", *f[:8]) for f in frames)
    code = ("import sys, struct\nsys.path.insert(0, '/flash')\n" + PROGRAM
            + "d = sys.stdin.buffer.read()\nfr = []\nfor i in range(0, len(d), 64):\n"
            + "    f = struct.unpack_from('<8d', d, i)\n    fr.append(f[:5] + (int(f[5]),) + f[6:])\n"
            + f"print(repr(run({prior!r}, fr)))\n")
    with firmware_image() as image:
        r = run_script(code, flash_dir=image, heap=VM_HEAP, timeout=300.0, stdin=data)
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")[-2000:]
    return ast.literal_eval(r.stdout.decode().strip())


@pytest.mark.vm
def test_in_the_vm_the_bias_learnt_from_the_altimeters_corrects_vx_too():
    # GIVEN a pitched descent with a 0.05 m/s^2 axial bias (10 sigma of the prior), 120 s
    s = sim.Sim(seed=3, z0=3000.0, vx0=40.0, accel_bias=0.05)
    frames = s.frames(120.0)
    # WHEN the firmware's estimator runs it in the MicroPython VM
    vx = rows_in_the_vm(dict(vars(sim.Prior(z=3000.0, vx=40.0))), frames)[-1][6]
    # (the last reported row, within 0.5 s of the end)
    # THEN the horizontal speed the bias drove is taken back with it (0.8 m/s uncorrected)
    assert abs(vx - frames[-1][8]["vx"]) < 0.3, vx


@pytest.mark.vm
def test_in_the_vm_a_radar_outvoted_by_a_drifting_range_finder_is_braked_for():
    # GIVEN a range finder drifting 0.3 m/s long from 10 s: the filter follows it, and the
    # healthy radar, reading lower, is outvoted by the mean test
    s = sim.Sim(seed=7, lrf_fault=sim.drift(10.0, 0.3))
    frames = s.frames(60.0)
    # WHEN the firmware's estimator runs it in the MicroPython VM (a row every 25th frame)
    rows = rows_in_the_vm(dict(vars(sim.Prior())), frames)
    truth = [frames[25 * (i + 1) - 1][8]["agl"] for i in range(len(rows))]
    out = [i for i, r in enumerate(rows) if r[12:14] == (3, 6)]
    assert out, "the radar was never outvoted"
    # THEN from then on the estimator says how far below the filter the radar reads (what
    # guidance brakes for): the filter's error, within the radar's noise; never before
    for i in out[1:]:
        err = rows[i][0] - truth[i]
        assert abs(rows[i][19] - err) <= 5.0 * (0.5 + 0.003 * truth[i]), (i, rows[i], err)
    assert rows[-1][0] - truth[-1] > 10.0 and rows[-1][19] > 10.0, rows[-1]
    assert all(r[19] == 0.0 for r in rows[:out[0]])


@pytest.mark.vm
def test_in_the_vm_a_unit_that_starts_reading_short_is_still_outvoted():
    # GIVEN a descent in which the range finder starts reading 30 m short at 10 s, both units
    # in view: lower, but its own readings stepped against inertial motion
    s = sim.Sim(seed=7, lrf_fault=sim.bias(10.0, -30.0))
    frames = s.frames(18.0)
    # WHEN the firmware's estimator runs it in the MicroPython VM
    rows = rows_in_the_vm(dict(vars(sim.Prior())), frames)
    row = rows[-1]
    # THEN the range finder is rejected, the radar is not, and the height is the radar's
    assert row[15] == 3 and row[12] != 3, row
    assert abs(row[0] - frames[-1][8]["agl"]) < 10.0, row
    # AND it jumped, so it is no floor that guidance brakes for
    assert all(r[19] == 0.0 for r in rows)


@pytest.mark.vm
def test_in_the_vm_a_radar_that_parts_from_the_filter_faster_than_a_drift_could_is_not_braked_for():
    # GIVEN a radar drifting 3 m/s short from 10 s beside a healthy range finder: outvoted by
    # the mean test at first, like a unit the filter drifted away from
    s = sim.Sim(seed=7, radar_fault=sim.drift(10.0, -3.0))
    frames = s.frames(50.0)
    # WHEN the firmware's estimator runs it in the MicroPython VM
    rows = rows_in_the_vm(dict(vars(sim.Prior())), frames)
    # THEN it is braked for while the parting could be the range finder's unseen drift, and
    # no longer once it parts faster than the range finder's rate test could miss: by the
    # end it is still rejected, and guidance is not asked to brake for it
    assert max(r[19] for r in rows) > 10.0
    assert rows[-1][12] == 3 and rows[-1][19] == 0.0, rows[-1]


@pytest.mark.vm
@pytest.mark.parametrize("vx", [0.0, 30.0])
def test_in_the_vm_a_lone_unit_that_rises_leaves_a_floor_only_over_ground_not_crossed(vx):
    # GIVEN the radar lost from the start and the range finder jumping 20 m long at 25 s
    s = sim.Sim(seed=7, vx0=vx, radar_fault=sim.dropout(0.0), lrf_fault=sim.bias(25.0, 20.0))
    frames = s.frames(30.0)
    # WHEN the firmware's estimator runs it in the MicroPython VM
    row = rows_in_the_vm(dict(vars(sim.Prior(vx=vx))), frames)[-1]
    # THEN the new level is believed, and the old one, 20 m below, stays a floor only when
    # the lander has not moved across
    assert abs(row[0] - frames[-1][8]["agl"] - 20.0) < 2.0, row
    assert (abs(row[19] - 20.0) < 2.0) if vx == 0.0 else row[19] == 0.0, row

"""The control step's heap allocation, counted in the MicroPython VM (issue 10, part 5).

On a Pico every float result is a new 16-byte heap object and the board collects every
cycle, so bytes allocated per step are time and heap. The VM counts every allocation
(micropython.mem_current(); it never collects), so the count is exact and repeatable: these
tests fail when a change makes the step allocate more, not when a machine is slow.
"""

from __future__ import annotations

import estimator_sim as sim
import pytest
from fw import run_in_vm

from host_tools.link import wire

# [bytes] mean over a nominal descent of what FlightCore.step allocates (the VM's floats are
# 16 bytes, as a Pico's heap blocks). The Pico's budget is 2048 per step; the flight core
# reaches about 1.8 KB with the cycle of docs/algorithms.md section 1 (4.2 KB when every
# frame ran the whole filter and guidance, 8.1 KB before the rewrite for allocation).
STEP_MEAN_LIMIT = 1900
STEP_MAX_LIMIT = 4608  # [bytes] any single step (a cycle, or a frame judging both altimeters)
# [bytes] a frame with neither a cycle nor a new sample: its increments and bookkeeping only
LIGHT_MAX_LIMIT = 400

PROGRAM = """
import sys, struct
from micropython import mem_current
from flight import wire
from flight.core import FlightCore
data = sys.stdin.buffer.read()
parser = wire.Parser()
core = FlightCore()
sensor = wire.Sensor()
rows = []
i = 0
while i < len(data):
    k = min(parser.need(), len(data) - i)
    parser.space(k)[:] = data[i:i + k]
    i += k
    if not parser.advance(k):
        continue
    buf = parser.buf
    if buf[3] == wire.INIT:
        core.configure(struct.unpack_from(wire.INIT_FMT, buf, 6))
    elif buf[3] == wire.SENSOR:
        sensor.unpack(buf, 6)
        m = mem_current()
        core.step(sensor)
        rows.append((mem_current() - m, sensor.flags & 10, core.cycled))
    parser.consume()
print(repr(rows))
"""


def _nominal_stream() -> bytes:
    # a nominal braking descent from 3 km, both altimeters healthy (the LRF from 3 km down).
    # Open loop: the attitude reading is the stream's, not one that follows the firmware's
    # commands, so guidance does not believe it and the estimator rotates by the modelled
    # attitude; a step allocates about the same either way.
    s = sim.Sim(seed=3, z0=3000.0, vz0=-50.0, vx0=30.0)
    prior = sim.Prior(z=3000.0, vz=-50.0, vx=30.0)
    out = [wire.encode_init(wire.Init(1, 0, prior.z, prior.z_sigma, prior.vz, prior.vz_sigma, prior.vx,
                                      prior.vx_sigma, prior.terrain, prior.terrain_sigma, prior.mass,
                                      prior.dry_mass, prior.max_thrust, prior.isp, prior.min_throttle,
                                      prior.engine_tau))]
    for k, (t, _dt, fa, fl, pitch, flags, rr, lr, _truth) in enumerate(s.frames(60.0)):
        out.append(wire.encode_sensor(wire.Sensor((k + 2) & 0xFFFF, round(t * 1e6), fa, fl, pitch, rr, lr,
                                                  flags)))
    return b"".join(out)


@pytest.fixture(scope="module")
def allocations() -> list[tuple[int, int]]:
    return eval(run_in_vm(PROGRAM, stdin=_nominal_stream()).strip())  # noqa: S307 - our own repr


@pytest.mark.vm
def test_a_nominal_step_allocates_no_more_than_the_flight_core_reached(allocations):
    # GIVEN a nominal descent, frame by frame through the firmware's own parser
    # WHEN each FlightCore.step is counted by the VM's allocator
    per_step = [b for b, _, _ in allocations]
    # THEN the mean and the worst step stay within the limits
    assert len(per_step) > 2000
    mean = sum(per_step) / len(per_step)
    assert mean <= STEP_MEAN_LIMIT, f"mean {mean:.0f} bytes per step"
    assert max(per_step) <= STEP_MAX_LIMIT


@pytest.mark.vm
def test_a_frame_without_a_cycle_or_a_sample_does_only_its_bookkeeping(allocations):
    # GIVEN the frames that ran no cycle and in which neither altimeter delivered a sample,
    # nor one came on the frame before (a cycle frame's samples are judged on the next)
    light = [b for k, (b, new, cycled) in enumerate(allocations)
             if not new and not cycled and k and not allocations[k - 1][1]]
    # THEN they allocate only the inertial increments and the carried height (the step's
    # work is spread: the cycle and the samples have frames of their own)
    assert len(light) > 500
    assert max(light) <= LIGHT_MAX_LIMIT, f"max {max(light)} bytes"

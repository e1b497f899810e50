"""A truth pilot: a target that flies on the true state, for the harness's own tests.

It is not flight software: it reads the truth through `observe_truth(dynamics, terrain)` (see
sim_harness.closedloop) and ignores the sensor frames, so it shows what the vehicle can do
from a scenario's initial state (a scenario that the truth pilot cannot land is not a fair
test of the firmware), and it lets the harness be tested without the firmware.

Guidance: pitch nulls the horizontal speed with a time constant of `tau_x_s`; the vertical
speed follows v_ref(h) = -sqrt(v_final^2 + 2 a_brake (h - h_final)) above h_final and
-v_final below, with a_brake a fraction of the net deceleration the vehicle can make.
"""

from __future__ import annotations

import inspect
import math

from host_tools.link import wire

_INT_FIELDS = ("t_us", "mode", "radar_health", "radar_reason", "lrf_health", "lrf_reason", "vel_health",
               "vel_reason", "fault_flags", "rx_errors", "frames_rejected", "steps", "step_us", "heap_free",
               "seq")
_ZERO = None


def make_command(**fields) -> object:
    """A wire Command from keyword fields; the ones not given are zero."""
    global _ZERO
    if _ZERO is None:
        _ZERO = {n: 0 if n in _INT_FIELDS else 0.0 for n in inspect.signature(wire.Command).parameters}
    values = dict(_ZERO)
    values.update({k: v for k, v in fields.items() if k in values})
    return wire.Command(**values)


class TruthPilot:
    def __init__(self, v_final_mps: float = 0.8, h_final_m: float = 15.0, brake_fraction: float = 0.6,
                 tau_x_s: float = 8.0, max_pitch_rad: float = 0.5):
        self.v_final = v_final_mps  # [m/s] final constant descent rate
        self.h_final = h_final_m  # [m] height where the final constant-rate descent starts
        self.brake_fraction = brake_fraction  # [1] share of the net deceleration to plan with
        self.tau_x = tau_x_s  # [s]
        self.max_pitch = max_pitch_rad  # [rad]
        self.init_frame = None
        self.frames = 0
        self._truth = None

    def init(self, init) -> None:
        self.init_frame = init
        self.frames = 0

    def observe_truth(self, dyn, terrain) -> None:
        self._truth = (dyn, terrain)

    def close(self) -> None:
        pass

    def step(self, frame):
        self.frames += 1
        dyn, terrain = self._truth
        v = dyn.v
        m = dyn.mass
        g = v.gravity_mps2
        agl = dyn.z - terrain.height(dyn.x)
        a_max = v.max_thrust_n / m  # [m/s^2]
        a_brake = max(0.05, self.brake_fraction * (a_max - g))
        h = agl - self.h_final
        v_ref = -math.sqrt(self.v_final ** 2 + 2.0 * a_brake * h) if h > 0.0 else -self.v_final
        az = g + 2.0 * (v_ref - dyn.vz)  # [m/s^2] wanted upward thrust acceleration
        ax = -dyn.vx / self.tau_x  # [m/s^2] wanted horizontal acceleration
        pitch = math.atan2(-ax, max(az, 0.1))
        pitch = max(-self.max_pitch, min(self.max_pitch, pitch))
        thrust_acc = max(az, 0.0) / max(math.cos(dyn.pitch), 0.3)
        u = thrust_acc * m / v.max_thrust_n
        u = min(1.0, max(v.min_throttle, u))
        return make_command(t_us=frame.t_us, throttle=u, pitch_cmd=pitch, agl=agl, agl_sigma=1.0,
                            z=dyn.z, z_sigma=1.0, vz=dyn.vz, vz_sigma=0.1, vx=dyn.vx, vx_sigma=0.1,
                            terrain=terrain.height(dyn.x), terrain_sigma=1.0, mass=m, mode=3,
                            radar_health=1, lrf_health=1, steps=self.frames & 0xFFFF)

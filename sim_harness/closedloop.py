"""The closed loop: fly a scenario with a target (the firmware, or any object that answers like it).

A target has three methods (host_tools.link.targets implements them for cpython, vm and serial):

    target.init(init: Init) -> bool | None   the prior and the vehicle (wire INIT); False: rejected
    target.step(frame: Sensor) -> Command    one control step (wire SENSOR -> COMMAND)
    target.close() -> None                   (the caller's to call; run_scenario does not)

The INIT frame carries the prior at t = 0 (t_us 0); the first SENSOR frame is at t = dt
(the firmware rejects a frame whose time does not advance), the vehicle flying [0, dt) with its
initial engine state. Each control step k = 1, 2, ..., at t = k dt, dt = 1 / control_rate_hz:
  1. the sensor frame is built from the true state at t (sim_harness.sensors, with faults:
     IMU, altimeters, contact and the velocimeter's beams), its floats rounded to float32 as
     the wire carries them, and sent to the target;
  2. the command it returns is clamped to the vehicle's limits and held over [t, t + dt]
     (sim_harness.dynamics);
  3. one log row is recorded: the state at t, what acted during the step, the frame, the
     command; then touchdown (the footpads reaching the terrain inside the step) ends the run.

The run ends at touchdown (outcome landed, crashed, or propellant_exhausted when the tanks
ran dry before a touchdown outside the landing limits), at duration_s (timeout), or when the
target raises: then `target_error` holds the message, the outcome is the vehicle's state at
that moment (timeout: it was still flying) and the run counts as failed; the rows so far are
kept so the partial log and summary can be written.

A target that has a method `observe_truth(dynamics, terrain)` is shown the true state before
every step. Only the harness's own test pilot (sim_harness.pilot) uses it. A target that has a
method `check_run()` (host_tools.reference.compare.CheckedTarget) is asked, after the run, for the
back-to-back comparison of its commands with the reference model: `result.reference`.
"""

from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass, field

import numpy as np

from host_tools.link import wire
from sim_harness.dynamics import Dynamics, judge_touchdown, touchdown_fraction
from sim_harness.scenario import Scenario
from sim_harness.sensors import AltimeterModel, ContactModel, ImuModel, VelocimeterModel
from sim_harness.streams import sensor_streams

COLUMNS = (
    # the contract's columns (section 5), in its order
    "t_s", "x_m", "z_m", "vx_mps", "vz_mps", "mass_kg", "pitch_rad", "thrust_n", "terrain_m",
    "throttle_cmd", "pitch_cmd_rad", "est_agl_m", "est_vz_mps", "radar_range_m", "lrf_range_m", "mode",
    # more: truth
    "agl_true_m", "propellant_kg", "radar_true_m", "lrf_true_m",
    # more: the rest of the frame the firmware saw
    "f_axial_mps2", "f_lateral_mps2", "pitch_meas_rad", "radar_valid", "radar_new", "lrf_valid",
    "lrf_new", "contact",
    # more: the rest of the command
    "est_agl_sigma_m", "est_z_m", "est_z_sigma_m", "est_vz_sigma_mps", "est_vx_mps", "est_vx_sigma_mps",
    "est_terrain_m", "est_terrain_sigma_m", "est_accel_bias_mps2", "est_mass_kg",
    "radar_health", "radar_reason", "radar_test_ratio", "lrf_health", "lrf_reason", "lrf_test_ratio",
    "fault_flags",
    # more: the link's counters as the firmware reports them (cumulative since it started):
    # bytes or frames it could not read, and frames it read and refused (docs/protocol.md)
    "rx_errors", "frames_rejected",
    # more: the velocimeter's beams as sent (0 and invalid when none is fitted), and the
    # firmware's verdict on them
    "beam_a_mps", "beam_b_mps", "beam_a_valid", "beam_b_valid", "vel_health", "vel_reason",
    "vel_test_ratio",
)
# step_us and heap_free are measurements of the machine: they go to the summary, never to
# log.csv, so that the log is the same on every target that computes in double precision.

_F32 = struct.Struct("<7f")


@dataclass
class RunResult:
    scenario: Scenario
    target_name: str
    outcome: str  # landed | crashed | propellant_exhausted | timeout
    steps: int  # control steps run (log rows)
    rows: list[tuple] = field(default_factory=list)  # one per step, in COLUMNS order
    touchdown: dict | None = None  # time_s, vertical/horizontal speed, pitch, propellant, x
    target_error: str | None = None  # message of an exception raised by the target
    ran_dry_at: float | None = None  # [s] when the tanks ran dry
    command_clamps: int = 0  # commands outside their range, clamped by the vehicle
    step_us: list[int] = field(default_factory=list)  # [us] the target's own step timings
    wall_s: float = 0.0  # [s] wall-clock time of the run
    init: object = None  # the INIT frame sent
    reference: dict | None = None  # the back-to-back check of the target's commands, if it was checked
    interrupted: str | None = None  # where a Ctrl-C stopped the run (RunInterrupted carries the result)
    resends: int = 0  # SENSOR frames the host sent again after a lost answer

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS

    def column(self, name: str) -> np.ndarray:
        """One log column as a numpy array (strings stay an object array)."""
        i = COLUMNS.index(name)
        values = [r[i] for r in self.rows]
        if values and isinstance(values[0], str):
            return np.array(values, dtype=object)
        return np.array(values, dtype=float)


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: a KeyboardInterrupt that carries the partial result (`result`,
    with `interrupted` set and the rows flown so far), so a caller can still write them."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(f"interrupted {result.interrupted}")
        self.result = result


def _f32(*values: float) -> tuple[float, ...]:
    """Round the frame's seven floats to float32 as the wire does (numpy rules: overflow gives
    inf)."""
    try:
        return _F32.unpack(_F32.pack(*values))
    except (OverflowError, struct.error):
        return tuple(float(np.float32(v)) for v in values)


def make_init(s: Scenario) -> object:
    """The INIT frame: the truth plus the scenario's knowledge errors, and the vehicle as told
    (the true vehicle plus the knowledge's mass, thrust and Isp errors; a mass error is taken as
    an error of the dry mass)."""
    ini, k, v = s.initial, s.knowledge, s.vehicle
    return wire.Init(
        seq=0, t_us=0,
        z=ini.altitude_m + k.altitude_error_m, z_sigma=k.altitude_sigma_m,
        vz=ini.vertical_speed_mps + k.vertical_speed_error_mps, vz_sigma=k.vertical_speed_sigma_mps,
        vx=ini.horizontal_speed_mps + k.horizontal_speed_error_mps, vx_sigma=k.horizontal_speed_sigma_mps,
        terrain=k.terrain_m, terrain_sigma=k.terrain_sigma_m,
        mass=v.dry_mass_kg + s.propellant_kg + k.mass_error_kg, dry_mass=v.dry_mass_kg + k.mass_error_kg,
        max_thrust=v.max_thrust_n + k.max_thrust_error_n, isp=v.isp_s + k.isp_error_s,
        min_throttle=v.min_throttle, engine_tau=v.engine_time_constant_s,
        beam_cant=s.sensors.velocimeter.cant_rad)


def run_scenario(scenario: Scenario, target, *, progress=None, target_name: str = "") -> RunResult:
    """Fly `scenario` with `target`; never raises for a target's failure (see target_error).

    progress: optional callable progress(t_s, duration_s), called about once a simulated second.
    """
    s = scenario
    wall0 = time.perf_counter()
    v = s.vehicle
    ini = s.initial
    terrain = s.terrain
    rate = s.control_rate_hz
    dt = 1.0 / rate  # [s]
    n_max = int(math.ceil(s.duration_s * rate - 1e-9))
    dyn = Dynamics(v, ini.downrange_m, ini.altitude_m, ini.horizontal_speed_mps, ini.vertical_speed_mps,
                   s.propellant_kg, ini.pitch_rad, ini.throttle)
    seeds = sensor_streams(s.seed)
    faults = {name: [f for f in s.faults if f.sensor == name]
              for name in ("radar", "lrf", "imu", "attitude", "contact", "velocimeter")}
    sn = s.sensors
    radar = AltimeterModel("radar", sn.radar, seeds["radar"], faults["radar"], seeds["radar_faults"])
    lrf = AltimeterModel("lrf", sn.lrf, seeds["lrf"], faults["lrf"], seeds["lrf_faults"])
    imu = ImuModel(sn.imu, rate, seeds["imu"], seeds["attitude"], faults["imu"], seeds["imu_faults"],
                   faults["attitude"], seeds["attitude_faults"])
    contact = ContactModel(sn.contact, faults["contact"])
    velocimeter = VelocimeterModel(sn.velocimeter, seeds["velocimeter"], faults["velocimeter"],
                                   seeds["velocimeter_faults"])

    def true_range() -> float:
        return terrain.ray_range(dyn.x, dyn.z, dyn.pitch)

    def beam_range(angle: float) -> float:
        return terrain.ray_range(dyn.x, dyn.z, angle)

    result = RunResult(scenario=s, target_name=target_name, outcome="timeout", steps=0)
    result.init = make_init(s)
    try:
        accepted = target.init(result.init)
        if accepted is False:
            raise RuntimeError("the target rejected the INIT frame (INIT_ACK status 1)")
    except KeyboardInterrupt:
        result.interrupted = "at INIT, before the first step"
        result.wall_s = time.perf_counter() - wall0
        raise RunInterrupted(result) from None
    except Exception as e:  # noqa: BLE001 - any failure of the target ends the run, recorded
        result.target_error = f"init: {type(e).__name__}: {e}"
        result.wall_s = time.perf_counter() - wall0
        return result
    try:
        _fly(result, target, dyn, radar, lrf, imu, contact, velocimeter, true_range, beam_range,
             n_max, dt, progress)
    except KeyboardInterrupt:
        t = result.rows[-1][0] if result.rows else 0.0
        result.interrupted = f"after step {len(result.rows)} (t={t:.2f} s)"
    result.steps = len(result.rows)
    result.resends = int(getattr(target, "resends", 0) or 0)
    result.ran_dry_at = dyn.ran_dry_at
    result.command_clamps = dyn.command_clamps
    result.wall_s = time.perf_counter() - wall0
    if result.interrupted:
        raise RunInterrupted(result)
    check = getattr(target, "check_run", None)  # a target checked against the reference model
    if check is not None:
        result.reference = check()
    result.wall_s = time.perf_counter() - wall0
    return result


def _fly(result: RunResult, target, dyn: Dynamics, radar: AltimeterModel, lrf: AltimeterModel,
         imu: ImuModel, contact: ContactModel, velocimeter: VelocimeterModel, true_range, beam_range,
         n_max: int, dt: float, progress) -> None:
    """The control steps of run_scenario (rows appended to result.rows as they are flown)."""
    s = result.scenario
    v = s.vehicle
    ini = s.initial
    terrain = s.terrain
    rate = s.control_rate_hz

    observe = getattr(target, "observe_truth", None)
    modes, healths, reasons = wire.MODES, wire.HEALTH, wire.REASONS
    name_of = wire.name_of
    rows = result.rows
    step_us = result.step_us
    sensor_cls = wire.Sensor
    # The prior (INIT, t_us 0) describes t = 0. The firmware rejects a frame whose time does not
    # advance past the INIT's, so the first frame comes one period later: over [0, dt) the
    # vehicle flies the initial engine state and pitch ([initial] throttle and pitch_rad).
    dyn.set_command(ini.throttle, ini.pitch_rad)
    dyn.step(dt)
    f_true = dyn.means.specific_force  # [m/s^2] the IMU's truth for the first frame
    progress_every = max(1, int(rate))
    for k in range(1, n_max + 1):
        t = k * dt
        h_ground = terrain.height(dyn.x)
        gap = dyn.z - h_ground
        fa, fl, pm = imu.frame(t, f_true, dyn.pitch)
        rr, rv, rn = radar.frame(t, true_range)
        lr, lv, ln = lrf.frame(t, true_range)
        closed = contact.frame(t, gap)
        (ba, bav, ban), (bb, bbv, bbn) = velocimeter.frame(t, dyn.vx, dyn.vz, dyn.pitch, beam_range)
        fa, fl, pm, rr, lr, ba, bb = _f32(fa, fl, pm, rr, lr, ba, bb)
        flags = ((wire.RADAR_VALID if rv else 0) | (wire.RADAR_NEW if rn else 0)
                 | (wire.LRF_VALID if lv else 0) | (wire.LRF_NEW if ln else 0)
                 | (wire.CONTACT if closed else 0))
        beam_flags = ((wire.BEAM_A_VALID if bav else 0) | (wire.BEAM_A_NEW if ban else 0)
                      | (wire.BEAM_B_VALID if bbv else 0) | (wire.BEAM_B_NEW if bbn else 0))
        frame = sensor_cls(seq=k & 0xFFFF, t_us=round(t * 1e6), f_axial=fa, f_lateral=fl,
                           pitch=pm, radar_range=rr, lrf_range=lr, flags=flags,
                           beam_a=ba, beam_b=bb, beam_flags=beam_flags)
        if observe is not None:
            observe(dyn, terrain)
        try:
            cmd = target.step(frame)
        except Exception as e:  # noqa: BLE001 - the run ends as a failure with its partial log
            result.target_error = f"step {k} at t={t:.2f} s: {type(e).__name__}: {e}"
            break
        x0, z0, vx0, vz0, m0, p0 = dyn.x, dyn.z, dyn.vx, dyn.vz, dyn.mass, dyn.propellant
        dyn.set_command(cmd.throttle, cmd.pitch_cmd)
        dyn.step(dt)
        means = dyn.means
        f_true = means.specific_force
        step_us.append(int(getattr(cmd, "step_us", 0)))
        rows.append((
            t, x0, z0, vx0, vz0, m0, means.pitch, means.thrust, h_ground,
            float(cmd.throttle), float(cmd.pitch_cmd), float(cmd.agl), float(cmd.vz), rr, lr,
            name_of(modes, cmd.mode),
            gap, p0, radar.true_range, lrf.true_range,
            fa, fl, pm, int(rv), int(rn), int(lv), int(ln), int(closed),
            float(cmd.agl_sigma), float(cmd.z), float(cmd.z_sigma), float(cmd.vz_sigma), float(cmd.vx),
            float(cmd.vx_sigma), float(cmd.terrain), float(cmd.terrain_sigma), float(cmd.accel_bias),
            float(cmd.mass), name_of(healths, cmd.radar_health), name_of(reasons, cmd.radar_reason),
            float(cmd.radar_test_ratio), name_of(healths, cmd.lrf_health), name_of(reasons, cmd.lrf_reason),
            float(cmd.lrf_test_ratio), int(cmd.fault_flags),
            int(getattr(cmd, "rx_errors", 0)), int(getattr(cmd, "frames_rejected", 0)),
            ba, bb, int(bav), int(bbv), name_of(healths, int(cmd.vel_health)),
            name_of(reasons, int(cmd.vel_reason)), float(cmd.vel_test_ratio),
        ))
        gap1 = dyn.z - terrain.height(dyn.x)
        if gap1 <= 0.0:
            frac = touchdown_fraction(gap, gap1)
            vz_td = vz0 + (dyn.vz - vz0) * frac
            vx_td = vx0 + (dyn.vx - vx0) * frac
            pitch_td = dyn.pitch  # changes by at most rate * dt within the step
            prop_td = p0 + (dyn.propellant - p0) * frac
            outcome = judge_touchdown(vz_td, vx_td, pitch_td, v)
            if outcome == "crashed" and dyn.ran_dry_at is not None:
                outcome = "propellant_exhausted"
            result.outcome = outcome
            result.touchdown = {"time_s": t + frac * dt, "vertical_speed_mps": vz_td,
                                "horizontal_speed_mps": vx_td, "pitch_rad": pitch_td,
                                "propellant_kg": prop_td, "x_m": x0 + (dyn.x - x0) * frac}
            break
        if progress is not None and k % progress_every == 0:
            progress(t, s.duration_s)

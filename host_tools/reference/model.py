"""The reference model: the flight core of docs/algorithms.md, again, in numpy.

Written from the document, never from the firmware (it imports nothing of firmware/). Its
modules follow the document's sections as the firmware's do: this one section 1 (the order of
a control step) and the model as a whole; `estimator` section 2, `altimeter` section 3,
`velocimeter` section 3b, `guidance` sections 4 and 5; `common` what several sections name,
`decisions` the record of decisions near their thresholds. Every state is an array of shape
(n,), one row per run, so the same code checks one recorded run (n = 1) or flies a thousand
dispersed runs in the loop (sim_harness.model_loop).

Use:

    model = ReferenceModel(n)                 # dtype=np.float32 to model a Pico
    accepted = model.init(priors_from([init]))
    out = model.step(frames_from([sensor]))   # dict: every COMMAND field -> array (n,)

`out["accepted"]` is False for a run whose frame was rejected (its time does not advance):
that run keeps its state, and its other outputs repeat the last answer (the firmware sends
no COMMAND then). Every decision taken on a computed quantity (not on a raw input, which both
sides see bit for bit) is recorded: `out["near_name"]`, `out["near_value"]`,
`out["near_threshold"]` and `out["near_margin"]` (|value - threshold| / scale) describe, per
run, the decision of this step that came closest to its threshold, so that a comparison can
tell a decision flipped by rounding from a real difference (host_tools.reference.compare).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from host_tools.link import wire
from host_tools.reference.common import (
    FAULT_ATTITUDE,
    FAULT_IMU,
    FAULT_LINK_GAP,
    FAULT_RANGE_VALUE,
    FAULT_TIME_STEP,
    LRF_BAD,
    RADAR_BAD,
)
from host_tools.reference.decisions import Decisions
from host_tools.reference.estimator import (
    Estimator,
)
from host_tools.reference.guidance import (
    Guidance,
)
from host_tools.reference.velocimeter import MAX_SPEED

# --- section 1: order of a control step -------------------------------------------------
LINK_GAP_S = 0.5  # [s] dt above this sets fault flag link_gap
MAX_DT_S = 5.0  # [s] longest dt propagated; longer is clamped (fault flag time_step)
MAX_SPECIFIC_FORCE = 50.0  # [m/s^2] |f| at or above this is not a valid inertial reading
MAX_PITCH = 1.4  # [rad] |pitch| at or above this is not a valid attitude reading
MAX_RANGE = 100000.0  # [m] a valid range above this is an invalid value
MAX_D_US = 5_000_000  # [us] MAX_DT_S in microseconds: a frame's interval counted toward a cycle
CYCLE_US = 100_000  # [us] period of the navigation-and-guidance cycle

FAULT_ATTITUDE_DISTRUSTED = 32  # the attitude reading disagrees with the modelled attitude
FAULT_VELOCITY_VALUE = 64  # a velocimeter beam's value was not usable
MIN_CANT, MAX_CANT = 0.05, 1.0  # [rad] the beams' cant an INIT may give


FLOAT_FIELDS = ("throttle", "pitch_cmd", "agl", "agl_sigma", "z", "z_sigma", "vz", "vz_sigma",
                "vx", "vx_sigma", "terrain", "terrain_sigma", "accel_bias", "accel_bias_sigma",
                "mass", "radar_test_ratio", "lrf_test_ratio", "vel_test_ratio")
INT_FIELDS = ("t_us", "mode", "radar_health", "radar_reason", "lrf_health", "lrf_reason",
              "vel_health", "vel_reason", "fault_flags", "frames_rejected", "steps")
SENSOR_KEYS = ("t_us", "f_axial", "f_lateral", "pitch", "radar_range", "lrf_range", "flags",
               "beam_a", "beam_b", "beam_flags")
INIT_KEYS = ("t_us", "z", "z_sigma", "vz", "vz_sigma", "vx", "vx_sigma", "terrain",
             "terrain_sigma", "mass", "dry_mass", "max_thrust", "isp", "min_throttle", "engine_tau",
             "beam_cant")


def frames_from(sensors: Sequence[wire.Sensor]) -> dict[str, np.ndarray]:
    """Arrays (one element per run) from one SENSOR frame per run."""
    out = {k: np.array([getattr(s, k) for s in sensors], dtype=np.float64) for k in SENSOR_KEYS}
    out["t_us"] = np.array([s.t_us for s in sensors], dtype=np.int64)
    out["flags"] = np.array([s.flags for s in sensors], dtype=np.int64)
    out["beam_flags"] = np.array([s.beam_flags for s in sensors], dtype=np.int64)
    return out


def priors_from(inits: Sequence[wire.Init]) -> dict[str, np.ndarray]:
    """Arrays (one element per run) from one INIT frame per run."""
    out = {k: np.array([getattr(i, k) for i in inits], dtype=np.float64) for k in INIT_KEYS}
    out["t_us"] = np.array([i.t_us for i in inits], dtype=np.int64)
    return out



class ReferenceModel(Decisions, Estimator, Guidance):
    """n independent flight cores, computed in `dtype` (float64: host targets; float32: a Pico)."""

    def __init__(self, n: int, dtype=np.float64, track_decisions: bool = True) -> None:
        """track_decisions: record the decision nearest its threshold (for comparisons; the
        model in the loop turns it off to run faster)."""
        if n < 1:
            raise ValueError("`n` must be at least 1.")
        self.n = n
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ValueError("`dtype` must be float64 or float32.")
        self._near_names: list[str] = []
        self.track = track_decisions
        self._us = self.dtype.type(1e-6)  # [s/us]
        z = self._zeros
        self.configured = np.zeros(n, dtype=bool)
        self.last_t_us = np.zeros(n, dtype=np.int64)  # [us]
        self.init_t_us = np.zeros(n, dtype=np.int64)  # [us]
        self.frames_rejected = np.zeros(n, dtype=np.int64)
        self.steps = np.zeros(n, dtype=np.int64)
        self.fault_flags = np.zeros(n, dtype=np.int64)
        self.f_axial = z()  # [m/s^2] last good inertial reading
        self.f_lateral = z()  # [m/s^2]
        self.pitch = z()  # [rad] last good attitude reading
        self.cycle_t_us = np.full(n, -CYCLE_US, dtype=np.int64)  # [us] since INIT, the last cycle
        self.cycle_us = np.zeros(n, dtype=np.int64)  # [us] the frames' intervals since then
        self.cycle_faults = np.zeros(n, dtype=np.int64)  # their fault flags
        self.cycled = np.zeros(n, dtype=bool)  # the last frame ran a cycle
        self.out: dict[str, np.ndarray] = {}
        self._reset_estimator(np.ones(n, dtype=bool), None)
        self._reset_guidance(np.ones(n, dtype=bool), None)
        self._fill_outputs(np.ones(n, dtype=bool))

    # --- helpers -----------------------------------------------------------------------
    def _zeros(self) -> np.ndarray:
        return np.zeros(self.n, dtype=self.dtype)

    def _f(self, a) -> np.ndarray:
        """An array of the model's float type (inputs from frames arrive as float64)."""
        return np.asarray(a).astype(self.dtype)

    # --- INIT ---------------------------------------------------------------------------
    def init(self, priors: dict[str, np.ndarray], where=None) -> np.ndarray:
        """Apply one INIT frame per run (runs outside `where` untouched); returns accepted."""
        where = np.ones(self.n, dtype=bool) if where is None else np.asarray(where, dtype=bool)
        p = {k: np.asarray(v, dtype=np.float64) for k, v in priors.items() if k != "t_us"}
        finite = np.ones(self.n, dtype=bool)
        for k in INIT_KEYS[1:]:
            finite &= np.isfinite(p[k])
        with np.errstate(invalid="ignore"):
            sane = (finite & (p["z_sigma"] > 0) & (p["vz_sigma"] > 0) & (p["vx_sigma"] > 0)
                    & (p["terrain_sigma"] > 0) & (p["dry_mass"] > 0) & (p["dry_mass"] <= p["mass"])
                    & (p["max_thrust"] > 0) & (p["isp"] > 0) & (p["min_throttle"] >= 0)
                    & (p["min_throttle"] < 1) & (p["engine_tau"] >= 0) & (p["engine_tau"] < 10)
                    & (p["beam_cant"] >= MIN_CANT) & (p["beam_cant"] <= MAX_CANT))
        ok = where & sane
        bad = where & ~sane
        self.frames_rejected = np.where(bad, np.minimum(self.frames_rejected + 1, 65535),
                                        self.frames_rejected)
        if ok.any():
            t_us = np.asarray(priors["t_us"], dtype=np.int64)
            self.configured |= ok
            self.steps = np.where(ok, 0, self.steps)
            self.fault_flags = np.where(ok, 0, self.fault_flags)
            self.last_t_us = np.where(ok, t_us, self.last_t_us)
            self.init_t_us = np.where(ok, t_us, self.init_t_us)
            self.cycle_t_us = np.where(ok, -CYCLE_US, self.cycle_t_us)
            self.cycle_us = np.where(ok, 0, self.cycle_us)
            self.cycle_faults = np.where(ok, 0, self.cycle_faults)
            self.cycled = np.where(ok, False, self.cycled)
            for a in ("f_axial", "f_lateral", "pitch"):
                setattr(self, a, np.where(ok, 0.0, getattr(self, a)).astype(self.dtype))
            pf = {k: np.where(ok, v, 0.0) for k, v in p.items()}
            self._reset_estimator(ok, pf)
            self._reset_guidance(ok, pf)
            self._fill_outputs(ok)
        return ok

    # --- one control step (section 1) -----------------------------------------------------
    def step(self, frames: dict[str, np.ndarray], where=None) -> dict[str, np.ndarray]:
        """One SENSOR frame per run (runs outside `where` get none); returns the outputs."""
        n = self.n
        active = np.ones(n, dtype=bool) if where is None else np.asarray(where, dtype=bool)
        self._near_begin()
        t_us = np.asarray(frames["t_us"], dtype=np.int64)
        # before any INIT: answered in standby, only the time is taken
        standby = active & ~self.configured
        self.last_t_us = np.where(standby, t_us, self.last_t_us)
        live = active & self.configured
        advancing = t_us > self.last_t_us
        rejected = live & ~advancing
        self.frames_rejected = np.where(rejected, np.minimum(self.frames_rejected + 1, 65535),
                                        self.frames_rejected)
        run = live & advancing
        accepted = standby | run
        if run.any():
            self._core_step(frames, t_us, run)
        self._fill_outputs(standby | run)
        out = dict(self.out)
        out["accepted"] = accepted
        out["near_idx"] = self._near_idx
        out["near_margin"] = self._near_margin
        out["near_value"] = self._near_value
        out["near_threshold"] = self._near_threshold
        # the variance of each test ratio's innovation (its tolerance allows for cancellation)
        out["radar_innov_var"] = self.radar.innov_var
        out["lrf_innov_var"] = self.lrf.innov_var
        out["vel_innov_var"] = self.vel.innov_var
        return out

    def _core_step(self, frames, t_us, run) -> None:
        f = self._f
        # the integer difference first, then one multiplication in the model's precision
        # (a Pico converts the int to float32, then multiplies by float32(1e-6))
        dt = f(np.where(run, t_us - self.last_t_us, 0)) * self._us  # [s]
        prev_t_us = self.last_t_us
        self.last_t_us = np.where(run, t_us, self.last_t_us)
        flags = np.asarray(frames["flags"], dtype=np.int64) & 31
        faults = np.where(dt > LINK_GAP_S, FAULT_LINK_GAP, 0)
        over = dt > MAX_DT_S
        dt = np.where(over, MAX_DT_S, dt).astype(self.dtype)
        faults |= np.where(over, FAULT_TIME_STEP, 0)

        fa = np.asarray(frames["f_axial"], dtype=np.float64)
        fl = np.asarray(frames["f_lateral"], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            imu_ok = (np.isfinite(fa) & np.isfinite(fl) & (np.abs(fa) < MAX_SPECIFIC_FORCE)
                      & (np.abs(fl) < MAX_SPECIFIC_FORCE))
        self.f_axial = np.where(run & imu_ok, f(np.nan_to_num(fa)), self.f_axial)
        self.f_lateral = np.where(run & imu_ok, f(np.nan_to_num(fl)), self.f_lateral)
        faults |= np.where(imu_ok, 0, FAULT_IMU)
        p = np.asarray(frames["pitch"], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            att_ok = np.isfinite(p) & (np.abs(p) < MAX_PITCH)
        self.pitch = np.where(run & att_ok, f(np.nan_to_num(p)), self.pitch)
        faults |= np.where(att_ok, 0, FAULT_ATTITUDE)

        ranges = {}
        for name, valid, new, bad in (("radar", wire.RADAR_VALID, wire.RADAR_NEW, RADAR_BAD),
                                      ("lrf", wire.LRF_VALID, wire.LRF_NEW, LRF_BAD)):
            r = np.asarray(frames[f"{name}_range"], dtype=np.float64)
            with np.errstate(invalid="ignore"):
                usable = np.isfinite(r) & (r >= 0.0) & (r <= MAX_RANGE)
            # read only in a frame with its new-sample bit
            broken = ((flags & valid) != 0) & ((flags & new) != 0) & ~usable
            flags = np.where(broken, (flags & ~(valid | new)) | bad, flags)
            ranges[name] = f(np.where(broken | ~np.isfinite(r), 0.0, r))
            faults |= np.where(broken, FAULT_RANGE_VALUE, 0)
        # the velocimeter's beams, read only in a frame with a new sample of either
        bflags = np.asarray(frames["beam_flags"], dtype=np.int64) & 15
        read = (bflags & (wire.BEAM_A_NEW | wire.BEAM_B_NEW)) != 0
        beams = {}
        for name, valid, new in (("beam_a", wire.BEAM_A_VALID, wire.BEAM_A_NEW),
                                 ("beam_b", wire.BEAM_B_VALID, wire.BEAM_B_NEW)):
            v = np.asarray(frames[name], dtype=np.float64)
            with np.errstate(invalid="ignore"):
                usable = np.isfinite(v) & (np.abs(v) < MAX_SPEED)
            broken = run & read & ((bflags & valid) != 0) & ~usable
            bflags = np.where(broken, bflags & ~(valid | new), bflags)
            beams[name] = f(np.where(usable, v, 0.0))
            faults |= np.where(broken, FAULT_VELOCITY_VALUE, 0)
        self.vel.bad_seen |= (faults & FAULT_VELOCITY_VALUE) != 0

        # every frame: the estimator takes the increments and the samples, guidance watches
        # for touchdown; a cycle when one is due (section 1)
        t_rel = t_us - self.init_t_us  # [us] since INIT
        d_us = np.where(run, t_us - prev_t_us, 0)
        # the attitude the estimator rotates by: the reading while guidance believes it, else
        # the attitude modelled from the commands (section 4, step 2)
        pitch = np.where(self.attitude_ok, self.pitch, self.theta_model).astype(self.dtype)
        faults |= np.where(run & ~self.attitude_ok, FAULT_ATTITUDE_DISTRUSTED, 0)
        self._estimator_frame(run, dt, flags, ranges["radar"], ranges["lrf"], t_rel, pitch)
        due = self.vel.due(run, bflags, t_rel)
        self.vel.take(due, bflags, beams["beam_a"], beams["beam_b"], pitch, t_rel)
        self._guidance_frame(run, flags & wire.CONTACT, d_us)
        self.cycle_us = np.where(run, self.cycle_us + np.minimum(d_us, MAX_D_US), self.cycle_us)
        self.cycle_faults = np.where(run, self.cycle_faults | faults, self.cycle_faults)
        cyc = run & (t_rel - self.cycle_t_us >= CYCLE_US - (d_us >> 1))
        self.cycled = cyc
        # a cycle frame's own samples wait for the next frame
        self._estimator_aid(run & ~cyc, t_rel, True)
        if cyc.any():
            self._estimator_aid(cyc, t_rel, False)
            t_s = f(t_rel) * self._us  # [s] since INIT
            T = f(self.cycle_us) * self._us  # [s] the cycle's interval
            self._estimator_cycle(cyc, t_s, t_rel, T)
            self._guidance_step(cyc, t_s, T, self.cycle_faults)
            self.cycle_t_us = np.where(cyc, t_rel, self.cycle_t_us)
            self.cycle_us = np.where(cyc, 0, self.cycle_us)
            self.cycle_faults = np.where(cyc, 0, self.cycle_faults)
        self.fault_flags = np.where(run, faults, self.fault_flags)
        self.steps = np.where(run, (self.steps + 1) & 0xFFFF, self.steps)

    # --- outputs ------------------------------------------------------------------------
    def _fill_outputs(self, where) -> None:
        """Copy the state into the COMMAND fields of the runs in `where`."""
        new = {
            "t_us": self.last_t_us, "throttle": self.throttle, "pitch_cmd": self.pitch_cmd,
            "agl": self.agl, "agl_sigma": self.agl_sigma, "z": self.z_out, "z_sigma": self.z_sigma,
            "vz": self.vz_out, "vz_sigma": self.vz_sigma, "vx": self.vx, "vx_sigma": self.vx_sigma,
            "terrain": self.terrain, "terrain_sigma": self.terrain_sigma,
            "accel_bias": self.accel_bias, "accel_bias_sigma": self.accel_bias_sigma,
            "mass": self.mass, "radar_test_ratio": self.radar.test_ratio,
            "lrf_test_ratio": self.lrf.test_ratio, "vel_test_ratio": self.vel.test_ratio,
            "mode": self.mode,
            "radar_health": self.radar.health, "radar_reason": self.radar.reason,
            "lrf_health": self.lrf.health, "lrf_reason": self.lrf.reason,
            "vel_health": self.vel.health, "vel_reason": self.vel.reason,
            "fault_flags": self.fault_flags, "frames_rejected": self.frames_rejected,
            "steps": self.steps,
        }
        if not self.out:
            self.out = {k: np.array(v, copy=True) for k, v in new.items()}
            return
        for k, v in new.items():
            self.out[k] = np.where(where, v, self.out[k]).astype(self.out[k].dtype)

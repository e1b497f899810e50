"""The reference model: the flight core of docs/algorithms.md, again, in numpy.

Written from the document, never from the firmware (it imports nothing of firmware/). Every
state is an array of shape (n,), one row per run, so the same code checks one recorded run
(n = 1) or flies a thousand dispersed runs in the loop (sim_harness.model_loop).

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
from host_tools.reference.fields import FieldArrays
from host_tools.reference.velocimeter import MAX_SPEED, VelocitySource

# docs/algorithms.md sections 2-3 (estimation, cross-check) are transcribed below.
ESTIMATOR_IMPLEMENTED = True

# --- section 1: order of a control step -------------------------------------------------
LINK_GAP_S = 0.5  # [s] dt above this sets fault flag link_gap
MAX_DT_S = 5.0  # [s] longest dt propagated; longer is clamped (fault flag time_step)
MAX_SPECIFIC_FORCE = 50.0  # [m/s^2] |f| at or above this is not a valid inertial reading
MAX_PITCH = 1.4  # [rad] |pitch| at or above this is not a valid attitude reading
MAX_RANGE = 100000.0  # [m] a valid range above this is an invalid value
MAX_D_US = 5_000_000  # [us] MAX_DT_S in microseconds: a frame's interval counted toward a cycle
CYCLE_US = 100_000  # [us] period of the navigation-and-guidance cycle
RADAR_BAD = 32  # core flag handed to the estimator: a radar value arrived but was unusable
LRF_BAD = 64

FAULT_IMU, FAULT_ATTITUDE, FAULT_RANGE_VALUE, FAULT_TIME_STEP, FAULT_LINK_GAP = 1, 2, 4, 8, 16
FAULT_ATTITUDE_DISTRUSTED = 32  # the attitude reading disagrees with the modelled attitude
FAULT_VELOCITY_VALUE = 64  # a velocimeter beam's value was not usable
MIN_CANT, MAX_CANT = 0.05, 1.0  # [rad] the beams' cant an INIT may give

G_MOON = 1.62  # [m/s^2]
G0 = 9.80665  # [m/s^2]

# --- section 2: estimation ----------------------------------------------------------------
H, V, Z, B = 0, 1, 2, 3  # indices of the state (h, vz, z, b) and of P
ACC_PSD = 0.01  # [m/s^2/sqrt(Hz)] vertical acceleration noise
BIAS_SIGMA0 = 0.02  # [m/s^2] prior sigma of the axial bias
BIAS_RW = 0.0005  # [m/s^2/sqrt(s)] bias random walk
T_XB = 120.0  # [s] memory of the correlation of vx with the axial bias
NO_ANGLE = 10.0  # [rad] no cycle's attitude yet
BIAS_DOUBT_RW = 0.02  # [m/s^2/sqrt(s)] bias random walk while altimeters doubt inertial data
SLOPE = 0.1  # [1] rms terrain slope
SLOPE_TIME = 1.0  # [s] correlation time of the terrain seen while moving
LAT_BIAS_SIGMA = 0.01  # [m/s^2] lateral accelerometer bias (not estimated)
MIN_VAR = 1e-6  # [(unit)^2] floor of each variance after an update
AIDING_S = 1.0  # [s] aiding: an altimeter fused within this time
ACROSS_M = 2.0  # [m] a lander that moved less across than this is over the same terrain
T_INS = 20.0  # [s] time constant of the pull of v_ins toward vz
NEVER = -1e9  # [s] the time stamp of "never"
ACT_NONE, ACT_FUSE, ACT_RESET = 0, 1, 2  # what an aid source answers

# --- section 3: the altimeter cross-check -------------------------------------------------
# noise sigma0 [m] and f [1], calibration cal0 [m] and calf [1], range window [m]
RADAR_SIGMA0, RADAR_FRACTION, RADAR_CAL0, RADAR_CALF = 0.5, 0.003, 0.3, 0.001
RADAR_MIN, RADAR_MAX = 1.0, 15000.0
LRF_SIGMA0, LRF_FRACTION, LRF_CAL0, LRF_CALF = 0.1, 0.0005, 0.05, 0.0003
LRF_MIN, LRF_MAX = 1.0, 3000.0
NOT_ACQUIRED, OK, SUSPECT, REJECTED, FAILED = (wire.HEALTH.index(h) for h in (
    "not_acquired", "ok", "suspect", "rejected", "failed"))
(NONE, NO_DATA, OUT_OF_RANGE, INNOVATION, STUCK, RATE, DISAGREE, NOISY, TERRAIN_STEP,
 INVALID) = (wire.REASONS.index(r) for r in (
    "none", "no_data", "out_of_range", "innovation", "stuck", "rate", "disagree", "noisy",
    "terrain_step", "invalid_value"))
VOTE_ALONE, VOTE_AGREE, VOTE_DISAGREE, VOTE_WAIT = range(4)
GATE = 5.0  # [sigma] innovation gate
GATE2 = GATE * GATE  # [1]
K_TEST = 0.05  # [1 per sample] low-pass gain of the mean and noise tests
MEAN_LIMIT = 1.0  # [1]
K_CAL = 4.0  # [sigma] calibration errors the mean test allows
NOISE_LIMIT = 4.0  # [1]
SCATTER_N = 20  # [samples] in the gate in a row before the noise test's scatter is whole (1/K_TEST)
STUCK_N = 5  # [samples]
STUCK_BAND = 0.02  # [sigma]
STUCK_MOTION = 3.0  # [sigma]
STEP_N = 4  # [samples]
STEP_S = 0.35  # [s]
STEP_WAIT_S = 1.5  # [s]
RECOVER_N = 3  # [samples]
NODATA_S = 0.5  # [s]
FAIL_S = 1.5  # [s]
VIEW_S = 0.5  # [s]
K_FAST, K_SLOW = 0.25, 0.05  # [1 per sample]
RATE_VAR = (K_FAST / (2.0 - K_FAST) + K_SLOW / (2.0 - K_SLOW)
            - 2.0 * K_FAST * K_SLOW / (K_FAST + K_SLOW - K_FAST * K_SLOW))  # [1]
RATE_CALM = 0.25  # [1]
RATE_FLOOR = 0.05  # [m/s]
MIN_LAG, VOTE_LAG = 0.05, 0.5  # [s]
PITCH_SIGMA = 0.003  # [rad]
MARGIN_FRACTION = 0.03  # [1]
MAX_WAITING = 8  # [samples] held for one cycle; a newer one replaces the last beyond

# --- section 4: guidance and throttle control --------------------------------------------
K_SIGMA = 3.0  # [1]
K_LOW_PROP = 1.0  # [1]
V_TERM = 0.8  # [m/s]
H_KEEP_TERM = 3.0  # [m] in phase terminal below this, V_TERM is kept without aiding
V_SAFE = 1.6  # [m/s]
K_VZ_SIGMA = 2.0  # [1]
V_MIN = 0.5  # [m/s]
V_LOW_PROP = 1.8  # [m/s]
H_TERMINAL = 5.0  # [m]
F_REF = 0.6  # [1]
A_REF_MIN, A_REF_MAX = 0.3, 2.0  # [m/s^2]
FF_MAX = 1.5  # [1]
T_RESERVE = 10.0  # [s]
K_V = 1.0  # [1/s]
K_I = 0.1  # [1/s^2]
I_MAX = 0.5  # [m/s^2]
U_RATE = 1.5  # [1/s]
PITCH_RATE = 0.3  # [rad/s]
DT_RATE_MAX = 0.1  # [s]
K_X = 2.0  # [1]
T_GO_MIN = 5.0  # [s]
A_SHARE = 0.95  # [1]
A_Z_MIN = 0.1  # [m/s^2]
THETA_LOW, THETA_HIGH = 0.1, 0.6  # [rad]
H_THETA_LOW, H_THETA_HIGH = 10.0, 300.0  # [m]
PITCH_TAU, PITCH_RATE_VEH = 0.5, 0.35  # [s], [rad/s]
ATT_LIMIT = 0.02  # [rad] the attitude reading is off the modelled attitude beyond this ...
ATT_OFF_N = 2  # [cycles] ... at this many cycles in a row: not believed
ATT_BACK_N = 10  # [cycles] within the limit this many in a row: believed again
BIG = 1e5  # [m], [m/s]

# --- section 5: modes ----------------------------------------------------------------------
(MODE_STANDBY, MODE_BRAKING, MODE_APPROACH, MODE_TERMINAL, MODE_TOUCHDOWN, MODE_ALTITUDE_UNKNOWN,
 MODE_LOW_PROPELLANT, MODE_LINK_LOST) = range(8)
H_TERMINAL_EXIT = 15.0  # [m]
H_APPROACH = 300.0  # [m]
H_APPROACH_EXIT = 400.0  # [m]
H_CONTACT = 1.0  # [m]
T_CONTACT_US = 400_000  # [us]
T_LINK_RECOVER = 1.0  # [s]
K_LOW_PROP_EXIT = 1.5  # [1]

# scales of decisions (|value - threshold| / scale is a decision's margin; host_tools.reference.compare)
SCALE_H = 1e4  # [m]
SCALE_V = 100.0  # [m/s]

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


class ReferenceModel:
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

    def _near_begin(self) -> None:
        self._near_margin = np.full(self.n, np.inf)
        self._near_idx = np.full(self.n, -1, dtype=np.int64)
        self._near_value = np.zeros(self.n)
        self._near_threshold = np.zeros(self.n)

    def _decide(self, name: str, value, threshold, scale: float, where) -> None:
        """Record a decision `value <op> threshold` taken by the runs in `where`."""
        if not self.track:
            return
        if name not in self._near_names:
            self._near_names.append(name)
        idx = self._near_names.index(name)
        value = np.broadcast_to(np.asarray(value, dtype=np.float64), (self.n,))
        threshold = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (self.n,))
        with np.errstate(invalid="ignore"):
            margin = np.abs(value - threshold) / scale
        closer = np.asarray(where, dtype=bool) & (margin < self._near_margin)
        if closer.any():
            self._near_margin = np.where(closer, margin, self._near_margin)
            self._near_idx = np.where(closer, idx, self._near_idx)
            self._near_value = np.where(closer, value, self._near_value)
            self._near_threshold = np.where(closer, threshold, self._near_threshold)

    def near_names(self, idx: np.ndarray) -> list[str]:
        return [self._near_names[i] if i >= 0 else "" for i in idx]

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

    # --- section 2: estimation ---------------------------------------------------------------
    def _reset_estimator(self, where, p) -> None:
        """Section 2, Reset (INIT) for the runs in `where`; p None: the power-on zeros."""
        n, dt_ = self.n, self.dtype
        if p is None:
            self.h, self.vz, self.z, self.b = (self._zeros() for _ in range(4))  # [m, m/s, m, m/s^2]
            self.P = np.zeros((4, 4, n), dtype=dt_)  # covariance of (h, vz, z, b)
            self.vx, self.p_vx, self.p_vxb = self._zeros(), self._zeros(), self._zeros()
            self.p_xb = self._zeros()  # [m/s * m/s^2] covariance of vx and the axial bias b
            # b and P_bb after the last cycle's propagation
            self.b_ref, self.p_bb_ref = self._zeros(), self._zeros()
            self.v_ins, self.travel = self._zeros(), self._zeros()  # [m/s], [m]
            # sums over the frames since the last cycle: f_axial dt, f_lateral dt [m/s], pitch dt [rad s]
            self.dv_axial, self.dv_lateral, self.pitch_dt = self._zeros(), self._zeros(), self._zeros()
            # ... of which the frames since the last fold (at one interval, frame_dt) are sums of
            # the readings alone: f_axial, f_lateral [m/s^2], pitch [rad]; n_sum frames
            self.sum_axial, self.sum_lateral, self.sum_pitch = self._zeros(), self._zeros(), self._zeros()
            self.n_sum = np.zeros(n, dtype=np.int64)
            self.frame_dt = self._zeros()  # [s] the last frame's interval
            self.z_out = self._zeros()  # [m] the reported z (carried along vz between cycles)
            self.vz_out = self._zeros()  # [m/s] the reported vz (the last cycle's)
            self.t_state_us = np.zeros(n, dtype=np.int64)  # [us] since INIT, the time of the state
            self.c_state = np.ones(n, dtype=dt_)  # [1] cosine of the last cycle's mean attitude
            self.theta_prev = np.full(n, NO_ANGLE, dtype=dt_)  # [rad] the last cycle's mean attitude
            self.t_fused = np.full(n, NEVER, dtype=dt_)  # [s]
            self.ins_sigma = self._zeros()  # [m/s] bound of the 1-sigma error of v_ins
            self.vx_ins, self.xins_sigma = self._zeros(), self._zeros()  # [m/s] the same for vx
            self.held = self._zeros()  # [m] how far below h the level before a lone unit's rise was
            self.held_by = np.zeros(n, dtype=np.int64)  # the unit that rose: 1 radar, 2 lrf
            self.radar = AidSource(self, "radar", wire.RADAR_VALID, wire.RADAR_NEW, RADAR_BAD,
                                   RADAR_SIGMA0, RADAR_FRACTION, RADAR_CAL0, RADAR_CALF,
                                   RADAR_MIN, RADAR_MAX)
            self.lrf = AidSource(self, "lrf", wire.LRF_VALID, wire.LRF_NEW, LRF_BAD,
                                 LRF_SIGMA0, LRF_FRACTION, LRF_CAL0, LRF_CALF, LRF_MIN, LRF_MAX)
            self.vel = VelocitySource(self)
            self.ax, self.az = self._zeros(), self._zeros()  # [m/s^2] the last cycle's acceleration
            self._outputs(np.ones(n, dtype=bool), self._zeros())
            return
        f = self._f
        w = where
        zs2 = f(p["z_sigma"]) * f(p["z_sigma"])
        ts2 = f(p["terrain_sigma"]) * f(p["terrain_sigma"])
        self.h = np.where(w, f(p["z"]) - f(p["terrain"]), self.h)
        self.vz = np.where(w, f(p["vz"]), self.vz)
        self.z = np.where(w, f(p["z"]), self.z)
        self.b = np.where(w, 0.0, self.b).astype(dt_)
        prior = np.zeros((4, 4, n), dtype=dt_)
        prior[H, H] = zs2 + ts2
        prior[H, Z] = prior[Z, H] = prior[Z, Z] = zs2
        prior[V, V] = f(p["vz_sigma"]) * f(p["vz_sigma"])
        prior[B, B] = BIAS_SIGMA0 * BIAS_SIGMA0
        self.P = np.where(w, prior, self.P)
        self.vx = np.where(w, f(p["vx"]), self.vx)
        self.p_vx = np.where(w, f(p["vx_sigma"]) * f(p["vx_sigma"]), self.p_vx)
        self.p_vxb = np.where(w, 0.0, self.p_vxb).astype(dt_)
        self.p_xb = np.where(w, 0.0, self.p_xb).astype(dt_)
        self.b_ref = np.where(w, 0.0, self.b_ref).astype(dt_)
        self.p_bb_ref = np.where(w, prior[B, B], self.p_bb_ref).astype(dt_)
        self.v_ins = np.where(w, f(p["vz"]), self.v_ins)
        self.held = np.where(w, 0.0, self.held).astype(dt_)
        self.held_by = np.where(w, 0, self.held_by)
        self.travel = np.where(w, 0.0, self.travel).astype(dt_)
        for a in ("dv_axial", "dv_lateral", "pitch_dt", "sum_axial", "sum_lateral", "sum_pitch"):
            setattr(self, a, np.where(w, 0.0, getattr(self, a)).astype(dt_))
        self.n_sum = np.where(w, 0, self.n_sum)
        self.t_state_us = np.where(w, 0, self.t_state_us)
        self.c_state = np.where(w, 1.0, self.c_state).astype(dt_)
        self.theta_prev = np.where(w, NO_ANGLE, self.theta_prev).astype(dt_)
        self.ins_sigma = np.where(w, f(p["vz_sigma"]), self.ins_sigma)
        self.vx_ins = np.where(w, f(p["vx"]), self.vx_ins)
        self.xins_sigma = np.where(w, f(p["vx_sigma"]), self.xins_sigma)
        self.t_fused = np.where(w, NEVER, self.t_fused).astype(dt_)
        self.radar.reset(w)
        self.lrf.reset(w)
        self.vel.reset(w, p["beam_cant"])
        self.ax = np.where(w, 0.0, self.ax).astype(dt_)
        self.az = np.where(w, 0.0, self.az).astype(dt_)
        self._outputs(w, self._zeros())

    def _estimator_frame(self, run, dt, flags, radar_range, lrf_range, t_rel, pitch) -> None:
        """Section 2, Frame, for the runs in `run`."""
        def add(name, value):
            setattr(self, name, np.where(run, getattr(self, name) + value, getattr(self, name)))

        self._fold(run & (dt != self.frame_dt))
        add("sum_axial", self.f_axial)
        add("sum_lateral", self.f_lateral)
        add("sum_pitch", pitch)
        self.n_sum = np.where(run, self.n_sum + 1, self.n_sum)
        d = self.vz_out * dt
        add("agl", d)
        add("z_out", d)
        self.frame_dt = np.where(run, dt, self.frame_dt)
        self.radar.take(run, flags, radar_range, pitch, t_rel)
        self.lrf.take(run, flags, lrf_range, pitch, t_rel)

    def _fold(self, where) -> None:
        """Section 2, Frame: the readings summed at the interval frame_dt join the increments."""
        w = where & (self.n_sum > 0)
        pairs = (("dv_axial", "sum_axial"), ("dv_lateral", "sum_lateral"), ("pitch_dt", "sum_pitch"))
        for total, part in pairs:
            setattr(self, total, np.where(w, getattr(self, total) + getattr(self, part) * self.frame_dt,
                                          getattr(self, total)).astype(self.dtype))
            setattr(self, part, np.where(w, 0.0, getattr(self, part)).astype(self.dtype))
        self.n_sum = np.where(w, 0, self.n_sum)

    def _estimator_cycle(self, cyc, t_s, t_rel, dt) -> None:
        """Section 2, Cycle, for the runs in `cyc` (dt: the cycle's interval)."""
        self._fold(cyc)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            theta = np.where(cyc, self.pitch_dt / dt, 0.0).astype(self.dtype)  # 1.
            s = np.sin(theta).astype(self.dtype)
            c = np.sqrt(np.maximum(0.0, 1.0 - s * s))
            self.c_state = np.where(cyc, c, self.c_state).astype(self.dtype)
            # the beam's sweep over the terrain as the attitude turns: h theta' / c^2
            turned = (self.theta_prev != NO_ANGLE) & (theta != self.theta_prev)
            d = np.where(turned, self.h * (theta - self.theta_prev) / (c * c), 0.0)  # [m]
            q_sweep = (SLOPE * SLOPE * (d * d)).astype(self.dtype)
            self.theta_prev = np.where(cyc, theta, self.theta_prev)
            self._correct_vx(cyc & (self.b != self.b_ref))  # 2.
            self._predict(cyc, dt, s, c, q_sweep)
            self.b_ref = np.where(cyc, self.b, self.b_ref)
            self.p_bb_ref = np.where(cyc, self.P[B, B], self.p_bb_ref)
            self.t_state_us = np.where(cyc, t_rel, self.t_state_us)
            none = np.full(self.n, -1, dtype=np.int64)
            zero = self._zeros()
            # 3. an altimeter with no sample waiting is checked for missing data
            self._aid(self.radar, self.lrf, cyc & (self.radar.waiting == 0), none, t_s, zero)
            self._aid(self.lrf, self.radar, cyc & (self.lrf.waiting == 0), none, t_s, zero)
            self.vel.no_sample(cyc & ~self.vel.waiting, t_rel, self.h)
            self._outputs(cyc, t_s)  # 4.
            self.ins_sigma = np.where(cyc, self.ins_sigma + dt / T_INS * (self.vz_sigma - self.ins_sigma),
                                      self.ins_sigma).astype(self.dtype)
            self.xins_sigma = np.where(cyc, self.xins_sigma + dt / T_INS * (self.vx_sigma - self.xins_sigma),
                                       self.xins_sigma).astype(self.dtype)

    def _estimator_aid(self, run, t_rel, this_frame) -> None:
        """Section 2, Samples: the waiting samples (of this frame too if this_frame), in order."""
        vel = self.vel
        judge = run & vel.waiting & (this_frame | (vel.w_t_us < t_rel))
        if judge.any():
            self._aid_velocity(judge)
        radar, lrf = self.radar, self.lrf
        nr = np.where(run, radar.arrived(t_rel, this_frame), 0)
        nl = np.where(run, lrf.arrived(t_rel, this_frame), 0)
        if not ((nr > 0) | (nl > 0)).any():
            return
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            v_var = (self.ins_sigma * self.ins_sigma).astype(self.dtype)
            n_doubt = np.zeros(self.n, dtype=np.int64)
            i = np.zeros(self.n, dtype=np.int64)
            j = np.zeros(self.n, dtype=np.int64)
            while ((i < nr) | (j < nl)).any():
                tr = np.take_along_axis(radar.w_t_us, np.minimum(i, MAX_WAITING - 1)[None, :], 0)[0]
                tl = np.take_along_axis(lrf.w_t_us, np.minimum(j, MAX_WAITING - 1)[None, :], 0)[0]
                use_r = (i < nr) & ((j >= nl) | (tr <= tl))
                use_l = (j < nl) & ~use_r
                if use_r.any():
                    self._aid(radar, lrf, use_r, i, self._f(tr) * self._us, v_var)
                    n_doubt += use_r & radar.doubt
                if use_l.any():
                    self._aid(lrf, radar, use_l, j, self._f(tl) * self._us, v_var)
                    n_doubt += use_l & lrf.doubt
                i = i + use_r
                j = j + use_l
            radar.drop(nr)
            lrf.drop(nl)
            # each sample that doubted inertial data frees the bias for one frame interval
            q = BIAS_DOUBT_RW * BIAS_DOUBT_RW * self.frame_dt
            self.P[B, B] = np.where(n_doubt > 0, self.P[B, B] + np.where(n_doubt == 1, q, n_doubt * q),
                                    self.P[B, B]).astype(self.dtype)

    def _aid(self, alt, other, m, idx, t_s, v_var) -> None:
        """One update of an altimeter (waiting sample idx at its time t_s, -1: none) and its answer."""
        act = alt.update(m, idx, t_s, self.t_state_us, self.c_state, self.h, self.vz, self.P[H, H],
                         self.travel, v_var, other, self.vel)
        unit = 1 if alt is self.radar else 2
        fuse = act == ACT_FUSE
        if fuse.any():
            self._fuse(fuse, alt.innov, alt.meas_var * alt.r_scale)
            # the other unit is back and agrees with the new level
            self.held = np.where(fuse & (self.held != 0.0) & (self.held_by != unit), 0.0,
                                 self.held).astype(self.dtype)
        reset = act == ACT_RESET
        if reset.any():
            off = alt.step_mean
            self._reset_terrain(reset, off, alt.meas_var)
            other.shifted(reset, off)
            # a lone unit's higher level under a lander that has not moved across: the terrain
            # under it cannot have dropped, so the old level stays a floor (section 2, step 3)
            across = np.abs(self.vx) * (t_s - alt.t_step)
            self._decide("held: moved across < ACROSS_M", across, ACROSS_M, SCALE_H,
                         reset & (off > 0.0) & ~other.in_view(t_s))
            held = reset & (off > 0.0) & ~other.in_view(t_s) & (across < ACROSS_M)
            self.held = np.where(reset, np.where(held, off, 0.0), self.held).astype(self.dtype)
            self.held_by = np.where(held, unit, self.held_by)
        done = fuse | reset
        alt.t_fused = np.where(done, t_s, alt.t_fused)
        self.t_fused = np.where(done, t_s, self.t_fused)

    def _aid_velocity(self, m) -> None:
        """Section 3b, Update and Fusion: vx fused, the biases considered (a Schmidt update); vz
        fused where no altimeter passes."""
        t_s = self._f(self.vel.w_t_us) * self._us
        backed = self.radar.passing(t_s, m) | self.lrf.passing(t_s, m)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            x_var = self.xins_sigma * self.xins_sigma
            fuse = self.vel.update(m, self.vx, self.vz, self.p_vx, self.P[V, V], self.ax, self.az,
                                   self.t_state_us, self._us, self.v_ins, self.vx_ins, x_var, backed)
            # the unit just found at fault against vx_ins: the filter's vx goes back to vx_ins
            reset = self.vel.reset_x
            self.vx = np.where(reset, self.vx_ins, self.vx).astype(self.dtype)
            self.p_vx = np.where(reset & (self.p_vx < x_var), x_var, self.p_vx).astype(self.dtype)
            k = self.p_vx / (self.p_vx + self.vel.meas_var)
            keep = 1.0 - k
            self.vx = np.where(fuse, self.vx + k * (self.vel.meas - self.vx), self.vx).astype(self.dtype)
            p_vx = self.p_vx * keep
            self.p_vx = np.where(fuse, np.where(p_vx < MIN_VAR, MIN_VAR, p_vx), self.p_vx).astype(self.dtype)
            self.p_xb = np.where(fuse, self.p_xb * keep, self.p_xb).astype(self.dtype)
            self.p_vxb = np.where(fuse, self.p_vxb * keep, self.p_vxb).astype(self.dtype)
            fuse_z = fuse & self.vel.fuse_z
            if fuse_z.any():
                self._fuse(fuse_z, self.vel.innov_z, self.vel.var_z, V)

    def _correct_vx(self, run) -> None:
        """Section 2, step 2: vx corrected with the bias by the regression of its error on the bias's."""
        a = self.p_xb / np.maximum(self.P[B, B], self.p_bb_ref)
        self.vx = np.where(run, self.vx + a * (self.b - self.b_ref), self.vx)
        r = self.P[B, B] / self.p_bb_ref
        shrink = run & (r < 1.0)
        p_xb = self.p_xb * r
        self.p_vx = np.where(shrink, self.p_vx + a * (p_xb - self.p_xb), self.p_vx)
        self.p_xb = np.where(shrink, p_xb, self.p_xb)

    def _predict(self, run, dt, s, c, q_sweep) -> None:
        """Section 2, step 2: the state over the cycle from the frames' sums, and the covariance."""
        da = self.dv_axial - self.b * dt  # [m/s] bias-corrected axial velocity increment
        dl = self.dv_lateral
        dv = da * c + dl * s - G_MOON * dt
        half = 0.5 * dv
        dz = (self.vz + half) * dt
        vz = self.vz + dv
        v_ins = self.v_ins
        self.travel = np.where(run, self.travel + (v_ins + half) * dt, self.travel)
        self.v_ins = np.where(run, v_ins + dv + dt / T_INS * (vz - v_ins), v_ins)
        self.h = np.where(run, self.h + dz, self.h)
        self.z = np.where(run, self.z + dz, self.z)
        self.vz = np.where(run, vz, self.vz)
        dvx = dl * c - da * s
        vx = self.vx + dvx
        # a velocimeter found at fault: vx_ins follows the inertial motion alone
        pulled = run & (self.vel.health != REJECTED) & (self.vel.health != FAILED)
        self.vx_ins = np.where(pulled, self.vx_ins + dvx + dt / T_INS * (vx - self.vx_ins),
                               np.where(run, self.vx_ins + dvx, self.vx_ins))
        self.vx = np.where(run, vx, self.vx)
        acquired = run & (self.vel.health != NOT_ACQUIRED)
        self.ax = np.where(acquired, dvx / dt, self.ax).astype(self.dtype)
        self.az = np.where(acquired, dv / dt, self.az).astype(self.dtype)
        for a in ("dv_axial", "dv_lateral", "pitch_dt"):
            setattr(self, a, np.where(run, 0.0, getattr(self, a)).astype(self.dtype))
        # P = F P F^T, F rows h (1, dt, 0, beta), vz (0, 1, 0, gamma), z (0, dt, 1, beta), b (0, 0, 0, 1)
        P = self.P
        beta = -0.5 * c * dt * dt
        gamma = -c * dt
        A = np.empty_like(P)
        A[H] = P[H] + dt * P[V] + beta * P[B]
        A[V] = P[V] + gamma * P[B]
        A[Z] = P[Z] + dt * P[V] + beta * P[B]
        A[B] = P[B]
        Pn = np.empty_like(P)
        Pn[:, H] = A[:, H] + dt * A[:, V] + beta * A[:, B]
        Pn[:, V] = A[:, V] + gamma * A[:, B]
        Pn[:, Z] = A[:, Z] + dt * A[:, V] + beta * A[:, B]
        Pn[:, B] = A[:, B]
        Pn = 0.5 * (Pn + Pn.transpose(1, 0, 2))  # the diagonal is unchanged: 0.5 (p + p) = p
        Pn[V, V] += ACC_PSD * ACC_PSD * dt
        Pn[B, B] += BIAS_RW * BIAS_RW * dt
        Pn[H, H] += SLOPE * SLOPE * (self.vx * self.vx + self.p_vx) * SLOPE_TIME * dt
        Pn[H, H] += q_sweep  # the terrain under the beam as it sweeps with the attitude
        self.P = np.where(run, Pn, P)
        lat = LAT_BIAS_SIGMA * LAT_BIAS_SIGMA
        e = s * dt  # the axial bias enters vx by e
        a_xb = self.p_xb * (1.0 - dt / T_XB) + e * P[B, B]
        p_vx = (self.p_vx + dt * (2.0 * self.p_vxb + dt * lat) + ACC_PSD * ACC_PSD * dt
                + e * (self.p_xb + a_xb))
        self.p_vx = np.where(run, p_vx, self.p_vx)
        self.p_xb = np.where(run, a_xb, self.p_xb)
        self.p_vxb = np.where(run, self.p_vxb + dt * lat, self.p_vxb)

    def _fuse(self, where, nu, r_var, i=H) -> None:
        """Section 2, step 3, fuse: the scalar update of a measurement of state i (H: an altimeter,
        H = (1, 0, 0, 0); V: the velocimeter's vz, section 3b)."""
        P = self.P
        ph = P[:, i].copy()
        s_var = ph[i] + r_var
        gain = ph / s_var
        x = np.stack((self.h, self.vz, self.z, self.b)) + gain * nu
        Pn = P - ph[:, None] * ph[None, :] / s_var
        for i in range(4):
            Pn[i, i] = np.where(Pn[i, i] < MIN_VAR, MIN_VAR, Pn[i, i])
        self.P = np.where(where, Pn, P)
        self.h, self.vz, self.z, self.b = (np.where(where, x[i], old) for i, old in
                                           enumerate((self.h, self.vz, self.z, self.b)))

    def _reset_terrain(self, where, offset, r_var) -> None:
        """Section 2, step 3, reset terrain: h jumps by the offset, its error is the measurement's."""
        self.h = np.where(where, self.h + offset, self.h)
        P = self.P.copy()
        P[H, :] = np.where(where, 0.0, P[H, :])
        P[:, H] = np.where(where, 0.0, P[:, H])
        P[H, H] = np.where(where, r_var, self.P[H, H])
        self.P = P

    def _outputs(self, where, t_s) -> None:
        """Section 2, step 5."""
        P = self.P

        def put(name, value):
            cur = getattr(self, name, None)
            value = np.asarray(value)
            setattr(self, name, value if cur is None else np.where(where, value, cur))

        put("agl", self.h)
        put("z_out", self.z)
        put("vz_out", self.vz)
        put("agl_sigma", np.sqrt(P[H, H]))
        put("vz_sigma", np.sqrt(P[V, V]))
        put("z_sigma", np.sqrt(P[Z, Z]))
        put("accel_bias", self.b)
        put("accel_bias_sigma", np.sqrt(P[B, B]))
        put("terrain", self.z - self.h)
        put("terrain_sigma", np.sqrt(np.maximum(0.0, P[Z, Z] - 2.0 * P[H, Z] + P[H, H])))
        put("vx_sigma", np.sqrt(self.p_vx))
        put("aiding", t_s - self.t_fused <= AIDING_S)
        put("below", np.maximum(self.held, np.maximum(self.radar.below(t_s), self.lrf.below(t_s))))

    # --- section 4 and 5: guidance, throttle and modes ------------------------------------
    def _reset_guidance(self, where, p) -> None:
        f = self._f
        if p is None:
            for a in ("throttle", "pitch_cmd", "mass", "dry_mass", "max_thrust", "ve", "u_min", "tau_e",
                      "thrust_model", "theta_model", "integ", "hold_throttle", "g_agl", "g_agl_sigma",
                      "g_vz", "g_vz_sigma", "g_vx", "g_below", "vz_ref", "h_low", "k_sigma"):
                setattr(self, a, self._zeros())
            self.contact_us = np.zeros(self.n, dtype=np.int64)  # [us] contact held without a break
            self.seen_open = np.zeros(self.n, dtype=bool)  # the switch seen open with h3 <= H_CONTACT
            self.td_h3 = np.full(self.n, BIG, dtype=self.dtype)  # [m] h3 of the last cycle (section 5)
            self.attitude_ok = np.ones(self.n, dtype=bool)  # the attitude reading is believed
            self.att_off = np.zeros(self.n, dtype=np.int64)  # [cycles] in a row off the model
            self.att_back = np.zeros(self.n, dtype=np.int64)  # [cycles] in a row within ATT_LIMIT
            self.g_first = np.ones(self.n, dtype=bool)  # no guidance cycle yet
            self.link_until = np.full(self.n, -1.0, dtype=self.dtype)
            self.mode = np.zeros(self.n, dtype=np.int64)
            self.phase = np.full(self.n, MODE_BRAKING, dtype=np.int64)
            self.low_prop = np.zeros(self.n, dtype=bool)
            return

        def put(name, value):
            cur = getattr(self, name)
            setattr(self, name, np.where(where, value, cur).astype(cur.dtype))

        for a in ("throttle", "pitch_cmd", "thrust_model", "theta_model", "integ", "hold_throttle",
                  "vz_ref", "h_low", "k_sigma"):
            put(a, 0.0)
        put("contact_us", 0)
        put("seen_open", False)
        put("attitude_ok", True)
        put("att_off", 0)
        put("att_back", 0)
        put("g_first", True)
        put("td_h3", BIG)
        put("mass", f(p["mass"]))
        put("dry_mass", f(p["dry_mass"]))
        put("max_thrust", f(p["max_thrust"]))
        put("ve", f(p["isp"]) * G0)
        put("u_min", f(p["min_throttle"]))
        put("tau_e", f(p["engine_tau"]))
        put("g_agl", f(p["z"]) - f(p["terrain"]))
        put("g_agl_sigma", f(p["z_sigma"]) + f(p["terrain_sigma"]))
        put("g_vz", f(p["vz"]))
        put("g_vz_sigma", f(p["vz_sigma"]))
        put("g_vx", f(p["vx"]))
        put("g_below", 0.0)
        put("link_until", -1.0)
        put("mode", MODE_BRAKING)
        put("phase", MODE_BRAKING)
        put("low_prop", False)

    def _guidance_frame(self, run, contact, d_us) -> None:
        """Sections 4 and 5, every frame: a contact confirmed by the last cycle's h3 cuts the engine."""
        act = run & (self.mode != MODE_TOUCHDOWN) & (self.mode != MODE_STANDBY)
        opened = act & (contact == 0)
        self._decide("modes: h3 <= H_CONTACT (switch seen open)", self.td_h3, H_CONTACT, SCALE_H, opened)
        self.seen_open = self.seen_open | (opened & (self.td_h3 <= H_CONTACT))
        held = act & (contact != 0) & self.seen_open
        self.contact_us = np.where(act, np.where(held, self.contact_us + d_us, 0), self.contact_us)
        long_enough = held & (self.contact_us >= T_CONTACT_US)
        self._decide("modes: h3 <= H_CONTACT", self.td_h3, H_CONTACT, SCALE_H, long_enough)
        td = long_enough & (self.td_h3 <= H_CONTACT)
        if td.any():
            self.mode = np.where(td, MODE_TOUCHDOWN, self.mode)
            for a in ("throttle", "hold_throttle", "integ"):
                setattr(self, a, np.where(td, 0.0, getattr(self, a)).astype(self.dtype))

    def _guidance_step(self, run, t_s, dt, faults) -> None:
        run = run & (self.mode != MODE_STANDBY)
        if not run.any():
            return
        dec = self._decide
        ok = np.errstate(invalid="ignore", divide="ignore", over="ignore")
        ok.__enter__()
        try:
            # 1. read the estimate: a finite value replaces the kept one, clamped
            def read(new, old, lo, hi):
                return np.where(np.isfinite(new), np.clip(new, lo, hi), old).astype(self.dtype)

            agl = read(self.agl, self.g_agl, -BIG, BIG)
            sig = read(self.agl_sigma, self.g_agl_sigma, 0.0, BIG)
            vz = read(self.vz_out, self.g_vz, -BIG, BIG)
            vz_sigma = read(self.vz_sigma, self.g_vz_sigma, 0.0, BIG)
            vx = read(self.vx, self.g_vx, -BIG, BIG)
            below = read(self.below, self.g_below, 0.0, BIG)
            aiding = self.aiding

            # 2. the step that just ended: engine model, mass, attitude model
            t_old = self.thrust_model
            thrust = t_old + lag(dt, self.tau_e) * (self.throttle * self.max_thrust - t_old)
            mass = self.mass - 0.5 * (t_old + thrust) * dt / self.ve
            mass = np.where(mass < self.dry_mass, self.dry_mass, mass).astype(self.dtype)
            invalid = (faults & FAULT_ATTITUDE) != 0
            first = run & self.g_first
            theta0 = np.where(first & ~invalid, self.pitch, self.theta_model).astype(self.dtype)
            d = lag(dt, PITCH_TAU) * (self.pitch_cmd - theta0)
            lim = PITCH_RATE_VEH * dt
            theta_m = theta0 + clamp(d, -lim, lim)
            c = np.cos(theta_m)
            # the attitude reading against the modelled attitude
            r = self.pitch - theta_m
            dec("attitude: |reading - model| > ATT_LIMIT", np.abs(r), ATT_LIMIT, 1.0, run & ~invalid)
            off = invalid | (r > ATT_LIMIT) | (r < -ATT_LIMIT)
            att_off = np.where(off, self.att_off + 1, 0)
            att_back = np.where(off, 0, self.att_back + 1)
            att_ok = np.where(off & (att_off >= ATT_OFF_N), False,
                              np.where(~off & (att_back >= ATT_BACK_N), True, self.attitude_ok))

            # 3. profile deceleration and final rate
            a_max = self.max_thrust / mass
            a_ref = clamp(F_REF * (a_max - G_MOON), A_REF_MIN, A_REF_MAX)
            dec("final rate: agl <= H_KEEP_TERM", agl, H_KEEP_TERM, SCALE_H,
                run & ~aiding & (self.phase == MODE_TERMINAL))
            keep = aiding | ((self.phase == MODE_TERMINAL) & (agl <= H_KEEP_TERM))
            v_fin = np.where(keep, self.dtype.type(V_TERM),
                             np.maximum(V_MIN, V_SAFE - K_VZ_SIGMA * vz_sigma)).astype(self.dtype)

            # 4. what the tanks pay for
            dv_left = (mass - self.dry_mass) * self.ve / mass
            t_left = (dv_left - np.abs(vz) * (1.0 + G_MOON / a_ref)) / G_MOON - T_RESERVE
            k_fit = margin(t_left, v_fin, sig)
            # an outvoted altimeter that drifted off slowly and reads lower: braked for as far
            # as the hover time left pays for descending the difference at v_fin
            band = t_left * v_fin - H_TERMINAL
            # (below is exactly 0 unless an altimeter is outvoted: no rounding decides that)
            dec("floor: below > band", below, band, SCALE_H, run & (below > 0.0))
            d = np.minimum(below, band)
            dec("floor: min(below, band) > 0", d, 0.0, SCALE_H, run & (below > 0.0))
            floor = np.where((below > 0.0) & (d > 0.0), agl - d, BIG).astype(self.dtype)

            # 5. modes (section 5)
            h3 = np.minimum(agl - K_SIGMA * sig, floor)
            mode, low_prop = self._modes(run, t_s, h3, faults, aiding, k_fit)

            # 6. touchdown: engine off, pitch back to upright
            td = mode == MODE_TOUCHDOWN

            # 7. margin and height
            v_lp = np.maximum(V_MIN, V_LOW_PROP - K_VZ_SIGMA * vz_sigma)
            v_fin = np.where(low_prop, v_lp, v_fin).astype(self.dtype)
            k = np.where(low_prop, margin(t_left, v_fin, sig),
                         clamp(k_fit, K_LOW_PROP, K_SIGMA)).astype(self.dtype)
            h = np.minimum(agl - k * sig, floor)

            # 8. vertical-speed profile; the tilt limit at this height (for 10 as well)
            t_max = np.where(h <= H_THETA_LOW, self.dtype.type(THETA_LOW),
                             np.where(h >= H_THETA_HIGH, self.dtype.type(THETA_HIGH),
                                      THETA_LOW + (THETA_HIGH - THETA_LOW) * (h - H_THETA_LOW)
                                      / (H_THETA_HIGH - H_THETA_LOW))).astype(self.dtype)
            dh = h - H_TERMINAL
            up = dh > 0.0
            dec("profile: h > H_TERMINAL", h, H_TERMINAL, SCALE_H, run & ~td)
            dh_up = np.where(up, dh, 0.0).astype(self.dtype)
            v2 = (v_fin * v_fin + 2.0 * a_ref * dh_up).astype(self.dtype)
            # the horizontal speed must be gone before the ground: no faster than dh over the
            # time the tilt limit here needs to null vx (a_x >= G_MOON t_max)
            q = (G_MOON * t_max * dh_up).astype(self.dtype)
            wait = up & (v2 * (vx * vx) > q * q)
            dec("profile: sqrt(v2) |vx| > q", np.sqrt(v2) * np.abs(vx), q, SCALE_V * SCALE_V, run & ~td & up)
            with np.errstate(divide="ignore", invalid="ignore"):
                v_wait = np.maximum(q / np.abs(vx), v_fin)
            v_mag = np.where(wait, v_wait, np.sqrt(v2))
            vz_ref = np.where(up, -v_mag, -v_fin).astype(self.dtype)
            a_ff = np.where(up & ~wait, clamp(a_ref * vz / vz_ref, 0.0, FF_MAX * a_ref),
                            0.0).astype(self.dtype)

            # 9. throttle law
            e = vz_ref - vz
            a_cmd = G_MOON + a_ff + K_V * e + self.integ
            a_z = clamp(a_cmd, 0.0, a_max)
            cp = np.maximum(c, 0.1)
            hover = G_MOON * mass / (self.max_thrust * cp)
            want = a_cmd * mass / (self.max_thrust * cp)
            hold = mode == MODE_LINK_LOST
            want = np.where(hold & (want < hover), hover, want).astype(self.dtype)
            u = clamp(want, self.u_min, 1.0)
            lit = self.throttle > 0.0
            u = np.where(lit, ratelim(u, self.throttle, U_RATE, dt), self.u_min).astype(self.dtype)
            aw = run & ~td
            dec("throttle: want vs u_min", want, self.u_min, 1.0, aw)
            dec("throttle: want vs 1", want, 1.0, 1.0, aw)
            h_r = np.minimum(dt, DT_RATE_MAX)
            dec("throttle: want vs rate limit up", want, self.throttle + U_RATE * h_r, 1.0, aw & lit)
            dec("throttle: want vs rate limit down", want, self.throttle - U_RATE * h_r, 1.0, aw & lit)
            dec("anti-windup: e vs 0", e, 0.0, SCALE_V, aw & (u != want))
            follow = (u == want) | ((u < want) & (e < 0.0)) | ((u > want) & (e > 0.0))
            integ = np.where(follow, clamp(self.integ + K_I * e * dt, -I_MAX, I_MAX),
                             self.integ).astype(self.dtype)
            hold_thr = np.where(u > hover, u, np.minimum(hover, 1.0)).astype(self.dtype)

            # 10. pitch law
            t_go = np.maximum(-vz_ref / a_ref, T_GO_MIN)
            a_x = -K_X * vx / t_go
            a_s = A_SHARE * a_max
            room = a_s * a_s - a_z * a_z
            a_lim = np.where(room > 0.0, np.sqrt(np.where(room > 0.0, room, 0.0)), 0.0).astype(self.dtype)
            a_x = clamp(a_x, -a_lim, a_lim)
            a_zt = np.maximum(np.maximum(a_z, self.u_min * a_max), A_Z_MIN)
            theta = atan1(-a_x / a_zt)
            pitch_new = ratelim(clamp(theta, -t_max, t_max), self.pitch_cmd, PITCH_RATE, dt)
            pitch_td = ratelim(self.dtype.type(0.0), self.pitch_cmd, PITCH_RATE, dt)
        finally:
            ok.__exit__(None, None, None)

        def commit(name, value):
            cur = getattr(self, name)
            setattr(self, name, np.where(run, value, cur).astype(cur.dtype))

        commit("g_agl", agl)
        commit("g_agl_sigma", sig)
        commit("g_vz", vz)
        commit("g_vz_sigma", vz_sigma)
        commit("g_vx", vx)
        commit("g_below", below)
        commit("thrust_model", thrust)
        commit("mass", mass)
        commit("theta_model", theta_m)
        commit("att_off", att_off)
        commit("att_back", att_back)
        commit("attitude_ok", att_ok)
        commit("g_first", False)
        commit("throttle", np.where(td, 0.0, u))
        commit("integ", np.where(td, 0.0, integ))
        commit("hold_throttle", np.where(td, 0.0, hold_thr))
        commit("pitch_cmd", np.where(td, pitch_td, pitch_new))
        commit("vz_ref", np.where(td, self.vz_ref, vz_ref))
        commit("h_low", np.where(td, self.h_low, h))
        commit("k_sigma", np.where(td, self.k_sigma, k))

    def _modes(self, run, t_s, h3, faults, aiding, k_fit):
        """Section 5, Update; returns (mode, low_prop) of every run (committed for the runs in `run`)."""
        dec = self._decide
        latched = self.mode == MODE_TOUCHDOWN
        go = run & ~latched
        self.td_h3 = np.where(go, h3, self.td_h3).astype(self.dtype)
        dec("modes: h3 > H_CONTACT (seen open forgotten)", h3, H_CONTACT, SCALE_H, go & self.seen_open)
        self.seen_open = np.where(go & (h3 > H_CONTACT), False, self.seen_open)
        ph = self.phase
        dec("modes: h3 <= H_TERMINAL", h3, H_TERMINAL, SCALE_H, go)
        dec("modes: h3 > H_TERMINAL_EXIT", h3, H_TERMINAL_EXIT, SCALE_H, go & (ph == MODE_TERMINAL))
        ph = np.where(h3 <= H_TERMINAL, MODE_TERMINAL,
                      np.where((ph == MODE_TERMINAL) & (h3 > H_TERMINAL_EXIT), MODE_APPROACH, ph))
        nt = ph != MODE_TERMINAL
        dec("modes: h3 <= H_APPROACH", h3, H_APPROACH, SCALE_H, go & nt)
        dec("modes: h3 > H_APPROACH_EXIT", h3, H_APPROACH_EXIT, SCALE_H, go & nt)
        ph = np.where(nt & (h3 <= H_APPROACH), MODE_APPROACH,
                      np.where(nt & (h3 > H_APPROACH_EXIT), MODE_BRAKING, ph))
        dec("modes: k_fit > K_LOW_PROP_EXIT", k_fit, K_LOW_PROP_EXIT, 1.0, go & self.low_prop)
        dec("modes: k_fit < K_LOW_PROP", k_fit, K_LOW_PROP, 1.0, go & ~self.low_prop)
        low = np.where(self.low_prop, ~(k_fit > K_LOW_PROP_EXIT), k_fit < K_LOW_PROP)
        link_until = np.where((faults & FAULT_LINK_GAP) != 0, t_s + T_LINK_RECOVER,
                              self.link_until).astype(self.dtype)
        dec("modes: t_s < link_until", t_s, link_until, 1.0, go)
        mode = np.select([t_s < link_until, ~aiding, low], [MODE_LINK_LOST, MODE_ALTITUDE_UNKNOWN,
                                                            MODE_LOW_PROPELLANT], ph)
        mode = np.where(latched, MODE_TOUCHDOWN, mode)
        self.phase = np.where(go, ph, self.phase)
        self.low_prop = np.where(go, low, self.low_prop)
        self.link_until = np.where(go, link_until, self.link_until).astype(self.dtype)
        self.mode = np.where(run, mode, self.mode)
        return self.mode, self.low_prop


def clamp(x, lo, hi):
    """lo if x < lo, else hi if x > hi, else x (section 4)."""
    return np.where(x < lo, lo, np.where(x > hi, hi, x)).astype(np.result_type(x))


def lag(dt, tau):
    """min(1, 2 dt / (2 tau + dt)); 1 when 2 tau + dt <= 0 (section 4)."""
    d = 2.0 * tau + dt
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(d > 0.0, 2.0 * dt / np.where(d > 0.0, d, 1.0), 1.0)
    return np.minimum(k, 1.0).astype(np.result_type(dt))


def ratelim(x, prev, rate, dt):
    h = np.minimum(dt, DT_RATE_MAX)
    return clamp(x, prev - rate * h, prev + rate * h)


def atan1(r):
    r = clamp(r, -1.0, 1.0)
    a = np.abs(r)
    return r * (0.7853981633974483 - (a - 1.0) * (0.2447 + 0.0663 * a))


def margin(t_left, v, sig):
    """The height margin in sigmas that t_left [s] of hover pays for at final rate v (section 4)."""
    band = t_left * v - H_TERMINAL
    with np.errstate(divide="ignore", invalid="ignore"):
        mid = band / (2.0 * sig)
    return np.where(band <= 0.0, 0.0, np.where(band >= 2.0 * K_SIGMA * sig, K_SIGMA, mid)).astype(
        np.result_type(t_left))


# --- section 3: the altimeter cross-check -------------------------------------------------
class AidSource(FieldArrays):
    """One altimeter as an aid source (docs/algorithms.md section 3), for n runs at once.

    Every field of the status record and of the tests is an array of shape (n,); `update`
    returns, per run, what the estimator must do: ACT_NONE, ACT_FUSE or ACT_RESET. Each phase of
    the document is one method; `m` is always the mask of the runs the phase applies to.
    """

    FLOATS = ("test_ratio", "innov", "innov_var", "meas", "meas_var", "r_scale", "t_fused",
              "t_good", "t_bad", "mean", "noise", "frozen", "d_frozen", "step_mean", "t_step",
              "t_div", "d_div", "o_fast", "o_slow", "t_fast", "t_slow", "rate", "rate_ratio",
              "rate_ratio0", "rate_var", "rate_var0")
    INTS = ("health", "reason", "n_pass", "n_gate", "n_same", "n_step", "n_kin", "waiting")
    BOOLS = ("acquired", "doubt", "bad_seen", "diverged", "vel_out")
    RESET = {"health": NOT_ACQUIRED, "reason": NO_DATA, "r_scale": 1.0, "t_fused": NEVER,
             "t_good": NEVER, "t_bad": NEVER, "noise": 1.0, "frozen": -1.0, "t_slow": NEVER}

    def __init__(self, model: ReferenceModel, name: str, valid_bit: int, new_bit: int, bad_bit: int,
                 sigma0: float, fraction: float, cal0: float, calf: float, r_min: float,
                 r_max: float) -> None:
        self.model = model
        self.name = name
        self.valid_bit, self.new_bit, self.bad_bit = valid_bit, new_bit, bad_bit
        self.sigma0 = sigma0  # [m] noise at zero range
        self.fraction = fraction  # [1] noise per metre of range
        self.cal0, self.calf = cal0, calf  # [m], [1] 1-sigma calibration bias and scale error
        self.r_min, self.r_max = r_min, r_max  # [m] range window
        n, dt_ = model.n, model.dtype
        self._alloc(n, dt_)
        # the samples waiting for the cycle, (MAX_WAITING, n): slant range [m], the attitude of
        # their frame [rad], its time [us] since INIT
        self.w_range = np.zeros((MAX_WAITING, n), dtype=dt_)
        self.w_pitch = np.zeros((MAX_WAITING, n), dtype=dt_)
        self.w_t_us = np.zeros((MAX_WAITING, n), dtype=np.int64)

    def take(self, run, flags, rng, pitch, t_us) -> None:
        """A frame's reading: a new valid sample waits for the cycle; a bad value is noted."""
        self.bad_seen = self.bad_seen | (run & ((flags & self.bad_bit) != 0))
        new = run & ((flags & self.valid_bit) != 0) & ((flags & self.new_bit) != 0)
        if not new.any():
            return
        slot = np.minimum(self.waiting, MAX_WAITING - 1)
        cols = np.nonzero(new)[0]
        self.w_range[slot[cols], cols] = rng[cols]
        self.w_pitch[slot[cols], cols] = pitch[cols]
        self.w_t_us[slot[cols], cols] = t_us[cols]
        self.waiting = np.where(new, np.minimum(self.waiting + 1, MAX_WAITING), self.waiting)

    def arrived(self, t_us, this_frame):
        """Per run, how many waiting samples arrived before the frame at t_us (or at it too)."""
        if this_frame:
            return self.waiting.copy()
        slots = np.arange(MAX_WAITING)[:, None]
        return ((slots < self.waiting[None, :]) & (self.w_t_us < t_us[None, :])).sum(axis=0)

    def drop(self, n) -> None:
        """The first n[run] waiting samples have been judged: the rest move to the front."""
        if not (n > 0).any():
            return
        src = np.minimum(np.arange(MAX_WAITING)[:, None] + n[None, :], MAX_WAITING - 1)
        for a in ("w_range", "w_pitch", "w_t_us"):
            setattr(self, a, np.take_along_axis(getattr(self, a), src, 0))
        self.waiting = self.waiting - n

    def _decide(self, what, value, threshold, scale, m) -> None:
        self.model._decide(f"{self.name}: {what}", value, threshold, scale, m)

    def reset(self, m) -> None:
        """Reset: every field to its initial value."""
        self._put(m, **{a: self.RESET.get(a, 0) for a in self.FLOATS + self.INTS + self.BOOLS})

    # --- predicates, as the other altimeter answers them ---------------------------------------
    def _diverging(self, m, t, nu, r_var, o) -> None:
        """An outvoted, drifted-off unit stays a plausible floor while it parts from the filter
        no faster than the other's rate test could miss (GATE sigma of its rate)."""
        lim = GATE * (np.sqrt(o.rate_var) * (t - self.t_div) + np.sqrt(2.0 * r_var))
        d = -nu - self.d_div
        self._decide("diverging: parts no faster than the other's rate test sees", d, lim, SCALE_H, m)
        self._put(m & (d > lim), diverged=False)

    def below(self, t):
        """[m] How far below the filter it reads if the mean test alone outvoted it (it drifted
        off, never jumped) and it reads lower, with a recent sample; else 0."""
        m = ((self.health == REJECTED) & self.diverged & (self.innov < 0.0)
             & (t - self.t_good <= VIEW_S))
        return np.where(m, -self.innov, 0.0).astype(self.model.dtype)

    def in_view(self, t):
        return (t - self.t_good <= VIEW_S) & (self.health != REJECTED) & (self.health != FAILED)

    def _set(self, m, health, reason) -> None:
        super()._set(m, health, reason)
        self._put(m & (np.asarray(health) == OK), vel_out=False)  # ok again: no longer outvoted

    def passing(self, t, m):
        """Fused recently and every test passes: it can outvote the other altimeter."""
        self._decide("passing: noise <= NOISE_LIMIT", self.noise, NOISE_LIMIT, 1.0, m)
        self._decide("passing: rate_ratio <= RATE_CALM", self.rate_ratio, RATE_CALM, 1.0, m)
        return ((self.health == OK) & (t - self.t_fused <= VIEW_S) & (self.n_step == 0)
                & (self.noise <= NOISE_LIMIT) & (self.rate_ratio <= RATE_CALM)
                & (self.t_fast - self.t_slow >= VOTE_LAG))

    def vote(self, t, t_step, offset, var, m):
        """This altimeter's vote on the other's terrain-step candidate (offset [m], var [m^2])."""
        alone = (self.t_good < t_step) | ~self.in_view(t)
        no_step = self.n_step == 0
        d = self.step_mean - offset
        lim = GATE2 * (var + self.meas_var)
        self._decide("vote: test_ratio <= 1", self.test_ratio, 1.0, 1.0, m & ~alone & no_step)
        self._decide("vote: |step offsets' difference| <= GATE sigma", np.abs(d), np.sqrt(lim), SCALE_H,
                     m & ~alone & ~no_step & (self.n_step >= 2))
        agree = (self.n_step >= 2) & (d * d <= lim)
        return np.select([alone, no_step & (self.test_ratio <= 1.0), no_step, agree],
                         [VOTE_ALONE, VOTE_DISAGREE, VOTE_WAIT, VOTE_AGREE], VOTE_WAIT)

    def shifted(self, m, offset) -> None:
        """The terrain was reset by offset [m]: a candidate of this altimeter saw the same step."""
        m = m & (self.n_step > 0)
        self._put(m, step_mean=self.step_mean - offset, mean=0.0, noise=1.0, t_slow=NEVER)

    # --- update, in the document's order ------------------------------------------------------
    def update(self, run, idx, t, t_state_us, c, h, vz, p_hh, travel, v_var, o, vel):
        """Waiting sample idx judged at its time t [s] (-1: a cycle without one, at t); the
        estimator's state (h, vz, p_hh, travel) is for t_state_us [us]; c the cycle's cosine; o the
        other altimeter, vel the velocimeter (a third voter on the rate test)."""
        act = np.zeros(self.model.n, dtype=np.int64)
        # 1.
        self._put(run, doubt=False, r_scale=1.0)
        self._put(run & self.bad_seen, t_bad=t)
        self._put(run, bad_seen=False)
        # 2.
        has = idx >= 0
        k = np.maximum(idx, 0)[None, :]
        rng = np.take_along_axis(self.w_range, k, 0)[0]
        outside = run & has & ((rng < self.r_min) | (rng > self.r_max))
        self._put(outside, t_bad=t)
        self._no_sample(run & (~has | outside), t, h, c, p_hh)
        m = run & has & ~outside
        if not m.any():
            return act
        # 3. the sample, carried from its frame to now along vz
        s = np.sin(np.take_along_axis(self.w_pitch, k, 0)[0]).astype(self.model.dtype)
        c = np.sqrt(np.maximum(0.0, 1.0 - s * s))
        sig = self.sigma0 + self.fraction * rng  # [m]
        e = rng * s * PITCH_SIGMA  # [m]
        r_var = sig * sig * c * c + e * e  # [m^2]
        hm = rng * c
        age = t_state_us - np.take_along_axis(self.w_t_us, k, 0)[0]  # [us]
        hm = np.where(age != 0, hm + vz * (age.astype(self.model.dtype) * self.model._us), hm)
        nu = hm - h
        s_var = p_hh + r_var
        ratio = nu * nu / (GATE2 * s_var)
        self._put(m, meas=hm, meas_var=r_var, innov=nu, innov_var=s_var, test_ratio=ratio)
        self._diverging(m & self.diverged & (self.health == REJECTED), t, nu, r_var, o)
        self._kinematic_restart(m & (t - self.t_good > NODATA_S))
        self._put(m, t_good=t, acquired=True)
        sd = np.sqrt(s_var)
        x = nu / sd
        d = x - self.mean  # the scatter about the mean before this sample
        self._put(m, noise=self.noise + K_TEST * (np.minimum(GATE2, d * d) - self.noise))
        self._put(m, mean=self.mean + K_TEST * (clamp(x, -GATE, GATE) - self.mean))
        cal = K_CAL * (self.cal0 + o.cal0 + (self.calf + o.calf) * rng) * c  # [m]
        mean_limit = MEAN_LIMIT + cal / sd
        # 4. stuck
        band = STUCK_BAND * sig
        same = m & (np.abs(rng - self.frozen) <= band)
        self._put(m, n_same=np.where(same, self.n_same + 1, 1))
        self._put(m & ~same, frozen=rng, d_frozen=travel)
        moved = np.abs(travel - self.d_frozen)
        self._decide("stuck: travel > STUCK_MOTION sigma", moved, STUCK_MOTION * sig, SCALE_H,
                     m & (self.n_same >= STUCK_N))
        stuck = m & (self.n_same >= STUCK_N) & (moved > STUCK_MOTION * sig)
        self._set(stuck, REJECTED, STUCK)
        self._put(stuck, n_pass=0, n_step=0, diverged=False)
        m &= ~stuck
        # 5. outside the gate
        self._decide("test_ratio > 1", ratio, 1.0, 1.0, m)
        out = m & (ratio > 1.0)
        self._put(out, n_gate=0)
        if out.any():
            act = np.where(out, self._outlier(out, t, nu, r_var, hm - travel, v_var, o, vel), act)
        m &= ~out
        # 6. inside the gate
        self._put(m, n_step=0, n_gate=self.n_gate + 1)
        self._kinematic(m, t, hm - travel, r_var, v_var)
        # 7. the tests, first that fails
        fault = self._tests(m, t, o, mean_limit)
        # 8. with a fault: outvoted, or alone
        faulty = m & (fault != NONE)
        self._decide("outvote: rate_ratio >= other's", self.rate_ratio, o.rate_ratio, 1.0,
                     faulty & (fault == DISAGREE))
        # a noise fault whose scatter in metres is no larger than the other's is fused, down-weighted;
        # only a whole scatter counts (no sample beyond the gate, clipped, in its last SCATTER_N)
        whole = self.n_gate >= SCATTER_N
        scatter, o_scatter = self.noise * s_var, o.noise * o.innov_var  # [m^2]
        with np.errstate(divide="ignore", invalid="ignore"):  # judged as a ratio: a margin of rounding
            self._decide("outvote: scatter / other's scatter > 1", scatter / o_scatter, 1.0, 1.0,
                         faulty & (fault == NOISY) & whole)
        outvoted = (faulty & o.passing(t, faulty)
                    & ((fault != DISAGREE) | (self.rate_ratio >= o.rate_ratio))
                    & ((fault != NOISY) | ~whole | (scatter > o_scatter)))
        self._put(outvoted, n_pass=0)
        # a rate fault against a blunter rate test (the other's larger noise), or seen through a
        # shorter window than the other's (faster samples, or a window still opening), is withheld
        self._decide("outvote: other's rate_var > rate_var", o.rate_var, self.rate_var, SCALE_V ** 2,
                     outvoted & (fault == RATE))
        lag_, o_lag = self.t_fast - self.t_slow, o.t_fast - o.t_slow
        self._decide("outvote: lag < other's lag", lag_, o_lag, 1.0, outvoted & (fault == RATE))
        blunt = outvoted & (fault == RATE) & ((o.rate_var > self.rate_var) | (lag_ < o_lag))
        self._set(blunt & ((self.health == OK) | (self.health == SUSPECT)), SUSPECT, RATE)
        outvoted &= ~blunt
        # diverged: first outvoted by the mean test; kept while rejected unless the rate is off
        self._put(outvoted & (self.health != REJECTED), diverged=fault == DISAGREE, t_div=t, d_div=-nu)
        self._put(outvoted & (self.health == REJECTED) & (fault == RATE), diverged=False)
        self._set(outvoted, REJECTED, fault)
        # the velocimeter agrees with inertial motion where this unit's rate does not
        by_vel = faulty & ~outvoted & ~blunt & (fault == RATE)
        self._decide("velocimeter's vote: lag >= VOTE_LAG", lag_, VOTE_LAG, 1.0, by_vel)
        by_vel &= lag_ >= VOTE_LAG
        by_vel &= vel.outvotes(by_vel, t, self.rate, self.rate_var0, v_var)
        self._put(by_vel, n_pass=0, diverged=False, vel_out=True)
        self._set(by_vel, REJECTED, RATE)
        outvoted |= by_vel
        alone = faulty & ~outvoted & ~blunt
        noisy = alone & (fault == NOISY)
        self._put(noisy, r_scale=self.noise)
        noisy_fused = noisy & ((self.health == OK) | (self.health == SUSPECT))
        self._set(noisy_fused, SUSPECT, NOISY)
        act = np.where(noisy_fused, ACT_FUSE, act)
        self._put(alone & ~noisy, doubt=True)
        # 8. without a fault: a rate off only against an exact inertial velocity is withheld
        clean = m & (fault == NONE) & ~self.doubt
        self._decide("rate_ratio0 > 1", self.rate_ratio0, 1.0, 1.0, clean)
        withheld = clean & (self.rate_ratio0 > 1.0) & o.in_view(t)
        self._put(withheld, n_pass=0)
        self._set(withheld & ((self.health == OK) | (self.health == SUSPECT)), SUSPECT, RATE)
        # 9. a passing sample
        m &= ~outvoted & ~blunt & ~noisy_fused & ~withheld
        self._put(m, n_pass=self.n_pass + 1)
        was_ok = m & (self.health == OK)
        recovered = m & ~was_ok & (self.n_pass >= RECOVER_N)
        self._set(recovered, OK, NONE)
        return np.where(was_ok | recovered, ACT_FUSE, act)

    def _tests(self, m, t, o, mean_limit):
        """Step 7: the noise, rate and mean tests; the first that fails is the fault."""
        self._decide("noise > NOISE_LIMIT", self.noise, NOISE_LIMIT, 1.0, m)
        noisy = self.noise > NOISE_LIMIT
        self._decide("rate_ratio > 1", self.rate_ratio, 1.0, 1.0, m & ~noisy)
        rate = m & ~noisy & (self.rate_ratio > 1.0)
        # both altimeters move alike against inertial motion: the inertial data or the terrain
        d = self.rate - o.rate
        lim = GATE2 * (self.rate_var + o.rate_var)
        look = rate & o.in_view(t) & (o.t_fast - o.t_slow >= VOTE_LAG)
        # (the products and squares are recorded by their factors and roots: a margin on the
        # square of a small number would be far below its rounding)
        self._decide("common mode: sign of rate", self.rate, 0.0, SCALE_V, look)
        self._decide("common mode: sign of other's rate", o.rate, 0.0, SCALE_V, look)
        self._decide("common mode: 2 |other's rate| >= |rate|", 2.0 * np.abs(o.rate),
                     np.abs(self.rate), SCALE_V, look)
        self._decide("common mode: |rate - other's| <= GATE sigma", np.abs(d), np.sqrt(lim), SCALE_V, look)
        common = (look & (o.rate * self.rate > 0.0) & (4.0 * o.rate * o.rate >= self.rate * self.rate)
                  & (d * d <= lim))
        self._put(common, doubt=True)
        rest = m & ~noisy & ~rate
        self._decide("|mean| > mean_limit", np.abs(self.mean), mean_limit, 1.0, rest)
        return np.select([m & noisy, rate & ~common, rest & (np.abs(self.mean) > mean_limit)],
                         [NOISY, RATE, DISAGREE], NONE)

    def _outlier(self, m, t, nu, r_var, o_k, v_var, o, vel):
        """A sample outside the gate: a spike, a sick altimeter or a terrain step; o_k [m] its
        measured height minus inertial travel, v_var [(m/s)^2] the inertial velocity's variance."""
        act = np.zeros(self.model.n, dtype=np.int64)
        self._put(m, n_pass=0)
        d = nu - self.step_mean
        tol = GATE2 * 2.0 * r_var
        self._decide("step candidate: |nu - step_mean| <= GATE sigma", np.abs(d), np.sqrt(tol), SCALE_H,
                     m & (self.n_step > 0))
        joins = m & (self.n_step > 0) & (d * d <= tol)
        n_step = np.where(joins, self.n_step + 1, 1)
        self._put(m, step_mean=np.where(joins, self.step_mean + d / n_step, nu), n_step=n_step)
        self._put(m & ~joins, t_step=t)
        mature = m & (self.n_step >= STEP_N) & (t - self.t_step >= STEP_S)
        v = o.vote(t, self.t_step, self.step_mean, r_var, mature)
        # a disagreement is this unit's fault if it reads higher, was distrusted already, or its
        # own readings moved against inertial motion; else (it reads lower and did not move) the
        # data cannot tell which is right: brake for the lower (as if alone)
        vetoed = mature & (v == VOTE_DISAGREE)
        self._decide("veto: step_mean > 0", self.step_mean, 0.0, SCALE_H, vetoed)
        disagree = vetoed & ((self.step_mean > 0.0) | (self.health == REJECTED)
                             | self._moved(vetoed & (self.step_mean <= 0.0) & (self.health != REJECTED),
                                           t, o_k, r_var, v_var))
        v = np.where(vetoed & ~disagree, VOTE_ALONE, v)
        # (a unit only distrusted already may still be one that drifted off the filter)
        self._put(disagree & ((self.health != REJECTED) | (self.step_mean > 0.0)), diverged=False)
        self._set(disagree, REJECTED, DISAGREE)
        # outvoted on its rate by the velocimeter, which still looks: a level only it sees is
        # its drift, not terrain
        kept = mature & ~disagree & (v != VOTE_AGREE) & self.vel_out & (self.reason == RATE) & vel.looking(t)
        terrain = mature & ~disagree & ~kept & ((v == VOTE_AGREE) | (v == VOTE_ALONE)
                                                | (t - self.t_step >= STEP_S + STEP_WAIT_S))
        self._put(terrain, mean=0.0, noise=1.0, n_step=0, n_pass=1)
        self._kinematic_restart(terrain)
        self._set(terrain, OK, NONE)
        act = np.where(terrain, ACT_RESET, act)
        held = m & ~disagree & ~terrain & ~kept & ((self.health == OK) | (self.health == SUSPECT))
        self._set(held, SUSPECT, np.where(self.n_step == 1, INNOVATION, TERRAIN_STEP))
        return act

    def _moved(self, m, t, o_k, r_var, v_var):
        """Its readings moved against inertial motion since its last sample inside the gate (the
        fast low-pass of the kinematic offset, its age carrying the inertial velocity's error);
        never without such a sample."""
        age = t - self.t_fast
        d = o_k - self.o_fast
        lim = GATE2 * (2.0 * r_var + v_var * age * age)
        seen = self.n_kin > 0
        self._decide("veto: own readings moved", np.abs(d), np.sqrt(lim), SCALE_H, m & seen)
        return seen & (d * d > lim)

    def _no_sample(self, m, t, h, c, p_hh) -> None:
        """No valid sample in this frame: a fault only if one was expected for a while."""
        gap = t - self.t_good
        bad_age = t - self.t_bad
        m = m & ~((gap <= NODATA_S) & (bad_age > NODATA_S))
        invalid = m & (bad_age <= NODATA_S) & (self.health == OK)
        self._set(invalid, SUSPECT, INVALID)
        self._put(invalid, n_pass=0)
        m = m & ~invalid & (gap > NODATA_S)
        if not m.any():
            return
        rp = h / c  # [m] predicted slant range
        margin = 3.0 * np.sqrt(p_hh) / c + MARGIN_FRACTION * self.r_max
        lo, hi = self.r_min + margin, self.r_max - margin
        self._decide("window: min + margin < rp", rp, lo, SCALE_H, m)
        self._decide("window: rp < max - margin", rp, hi, SCALE_H, m)
        inside = (lo < rp) & (rp < hi)
        self._put(m, n_pass=0, n_step=0)
        out = m & ~inside
        self._put(out, mean=0.0, noise=1.0)
        self._kinematic_restart(out)
        self._set(out, NOT_ACQUIRED, OUT_OF_RANGE)
        m = m & inside
        why = np.where(bad_age <= FAIL_S, INVALID, NO_DATA)
        self._set(m & ~self.acquired, NOT_ACQUIRED, why)
        m = m & self.acquired
        self._set(m & (gap > FAIL_S), FAILED, why)
        self._set(m & ~(gap > FAIL_S) & ((self.health == OK) | (self.health == SUSPECT)), SUSPECT, why)

    # --- the kinematic check ---------------------------------------------------------------------
    def _kinematic_restart(self, m) -> None:
        self._put(m, t_slow=NEVER)

    def _kinematic(self, m, t, o_k, r_var, v_var) -> None:
        """Range rate against inertial motion: fast minus slow low-pass of o_k over their lag."""
        self._put(m & (self.t_slow == NEVER), n_kin=0)
        self._put(m, n_kin=self.n_kin + 1)
        inv_n = (1.0 / np.maximum(self.n_kin, 1)).astype(self.model.dtype)
        gf = np.maximum(K_FAST, inv_n)
        gs = np.maximum(K_SLOW, inv_n)
        first = m & (self.n_kin == 1)  # the first sample after a restart copies
        later = m & ~first
        self._put(first, o_fast=o_k, o_slow=o_k, t_fast=t, t_slow=t)
        self._put(later, o_fast=self.o_fast + gf * (o_k - self.o_fast),
                  o_slow=self.o_slow + gs * (o_k - self.o_slow),
                  t_fast=self.t_fast + gf * (t - self.t_fast),
                  t_slow=self.t_slow + gs * (t - self.t_slow))
        lag_ = self.t_fast - self.t_slow
        short = lag_ < MIN_LAG
        rate = (self.o_fast - self.o_slow) / lag_
        var0 = np.maximum(RATE_VAR, K_FAST / (2.0 - K_FAST) - gs) * r_var / (lag_ * lag_) \
            + RATE_FLOOR * RATE_FLOOR
        r2 = rate * rate
        var = var0 + v_var
        self._put(m & short, rate=0.0, rate_ratio=0.0, rate_ratio0=0.0, rate_var=0.0, rate_var0=0.0)
        self._put(m & ~short, rate=rate, rate_var=var, rate_var0=var0, rate_ratio0=r2 / (GATE2 * var0),
                  rate_ratio=r2 / (GATE2 * var))

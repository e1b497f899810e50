"""The reference model: the flight core of docs/algorithms.md, again, in numpy.

Written from the document, never from the firmware (it imports nothing of firmware/). Every
state is an array of shape (n,), one row per run, so the same code checks one recorded run
(n = 1) or flies a thousand dispersed runs in the loop (host_tools.model_loop).

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
tell a decision flipped by rounding from a real difference (host_tools.compare).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from host_tools import wire

# --- section 1: order of a control step -------------------------------------------------
LINK_GAP_S = 0.5  # [s] dt above this sets fault flag link_gap
MAX_DT_S = 5.0  # [s] longest dt propagated; longer is clamped (fault flag time_step)
MAX_SPECIFIC_FORCE = 50.0  # [m/s^2] |f| at or above this is not a valid inertial reading
MAX_PITCH = 1.6  # [rad] |pitch| at or above this is not a valid attitude reading
MAX_RANGE = 100000.0  # [m] a valid range above this is an invalid value
RADAR_BAD = 32  # core flag handed to the estimator: a radar value arrived but was unusable
LRF_BAD = 64

FAULT_IMU, FAULT_ATTITUDE, FAULT_RANGE_VALUE, FAULT_TIME_STEP, FAULT_LINK_GAP = 1, 2, 4, 8, 16

G_MOON = 1.62  # [m/s^2]
G0 = 9.80665  # [m/s^2]

FLOAT_FIELDS = ("throttle", "pitch_cmd", "agl", "agl_sigma", "z", "z_sigma", "vz", "vz_sigma",
                "vx", "vx_sigma", "terrain", "terrain_sigma", "accel_bias", "accel_bias_sigma",
                "mass", "radar_test_ratio", "lrf_test_ratio")
INT_FIELDS = ("t_us", "mode", "radar_health", "radar_reason", "lrf_health", "lrf_reason",
              "fault_flags", "frames_rejected", "steps")
SENSOR_KEYS = ("t_us", "f_axial", "f_lateral", "pitch", "radar_range", "lrf_range", "flags")
INIT_KEYS = ("t_us", "z", "z_sigma", "vz", "vz_sigma", "vx", "vx_sigma", "terrain",
             "terrain_sigma", "mass", "dry_mass", "max_thrust", "isp", "min_throttle", "engine_tau")


def frames_from(sensors: Sequence[wire.Sensor]) -> dict[str, np.ndarray]:
    """Arrays (one element per run) from one SENSOR frame per run."""
    out = {k: np.array([getattr(s, k) for s in sensors], dtype=np.float64) for k in SENSOR_KEYS}
    out["t_us"] = np.array([s.t_us for s in sensors], dtype=np.int64)
    out["flags"] = np.array([s.flags for s in sensors], dtype=np.int64)
    return out


def priors_from(inits: Sequence[wire.Init]) -> dict[str, np.ndarray]:
    """Arrays (one element per run) from one INIT frame per run."""
    out = {k: np.array([getattr(i, k) for i in inits], dtype=np.float64) for k in INIT_KEYS}
    out["t_us"] = np.array([i.t_us for i in inits], dtype=np.int64)
    return out


class ReferenceModel:
    """n independent flight cores, computed in `dtype` (float64: host targets; float32: a Pico)."""

    def __init__(self, n: int, dtype=np.float64) -> None:
        if n < 1:
            raise ValueError("`n` must be at least 1.")
        self.n = n
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ValueError("`dtype` must be float64 or float32.")
        self._near_names: list[str] = []
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
                    & (p["min_throttle"] < 1) & (p["engine_tau"] >= 0) & (p["engine_tau"] < 10))
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
        return out

    def _core_step(self, frames, t_us, run) -> None:
        f = self._f
        # the integer difference first, then one multiplication in the model's precision
        # (a Pico converts the int to float32, then multiplies by float32(1e-6))
        dt = f(np.where(run, t_us - self.last_t_us, 0)) * self._us  # [s]
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
            broken = ((flags & valid) != 0) & ~usable
            flags = np.where(broken, (flags & ~(valid | new)) | bad, flags)
            ranges[name] = f(np.where(broken | ~np.isfinite(r), 0.0, r))
            faults |= np.where(broken, FAULT_RANGE_VALUE, 0)

        t_s = f(t_us - self.init_t_us) * self._us  # [s] since INIT
        self._estimator_step(run, t_s, dt, flags, ranges["radar"], ranges["lrf"], faults)
        self._guidance_step(run, t_s, dt, flags & wire.CONTACT, faults)
        self.fault_flags = np.where(run, faults, self.fault_flags)
        self.steps = np.where(run, (self.steps + 1) & 0xFFFF, self.steps)

    # --- outputs ------------------------------------------------------------------------
    def _fill_outputs(self, where) -> None:
        """Copy the state into the COMMAND fields of the runs in `where`."""
        new = {
            "t_us": self.last_t_us, "throttle": self.throttle, "pitch_cmd": self.pitch_cmd,
            "agl": self.agl, "agl_sigma": self.agl_sigma, "z": self.z, "z_sigma": self.z_sigma,
            "vz": self.vz, "vz_sigma": self.vz_sigma, "vx": self.vx, "vx_sigma": self.vx_sigma,
            "terrain": self.terrain, "terrain_sigma": self.terrain_sigma,
            "accel_bias": self.accel_bias, "accel_bias_sigma": self.accel_bias_sigma,
            "mass": self.mass, "radar_test_ratio": self.radar_test_ratio,
            "lrf_test_ratio": self.lrf_test_ratio, "mode": self.mode,
            "radar_health": self.radar_health, "radar_reason": self.radar_reason,
            "lrf_health": self.lrf_health, "lrf_reason": self.lrf_reason,
            "fault_flags": self.fault_flags, "frames_rejected": self.frames_rejected,
            "steps": self.steps,
        }
        if not self.out:
            self.out = {k: np.array(v, copy=True) for k, v in new.items()}
            return
        for k, v in new.items():
            self.out[k] = np.where(where, v, self.out[k]).astype(self.out[k].dtype)

    # --- section 2 and 3: estimation and the altimeter cross-check -------------------------
    def _reset_estimator(self, where, p) -> None:
        z = self._zeros
        if p is None:
            for a in ("z", "z_sigma", "vz", "vz_sigma", "vx", "vx_sigma", "terrain", "terrain_sigma",
                      "accel_bias", "accel_bias_sigma", "agl", "agl_sigma", "radar_test_ratio",
                      "lrf_test_ratio"):
                setattr(self, a, z())
            for a in ("radar_health", "radar_reason", "lrf_health", "lrf_reason"):
                setattr(self, a, np.zeros(self.n, dtype=np.int64))
            self.aiding = np.zeros(self.n, dtype=bool)
            return
        f = self._f

        def put(name, value):
            cur = getattr(self, name)
            setattr(self, name, np.where(where, value, cur).astype(cur.dtype))

        for a in ("z", "z_sigma", "vz", "vz_sigma", "vx", "vx_sigma", "terrain", "terrain_sigma"):
            put(a, f(p[a]))
        for a in ("accel_bias", "accel_bias_sigma", "agl_sigma", "radar_test_ratio",
                  "lrf_test_ratio"):
            put(a, 0.0)
        for a in ("radar_health", "radar_reason", "lrf_health", "lrf_reason"):
            put(a, 0)
        put("agl", self.z - self.terrain)
        put("aiding", False)

    def _estimator_step(self, run, t_s, dt, flags, radar_range, lrf_range, faults) -> None:
        # interim (before docs/algorithms.md section 2): inertial propagation only
        s, c = np.sin(self.pitch), np.cos(self.pitch)
        ax = -self.f_axial * s + self.f_lateral * c
        az = self.f_axial * c + self.f_lateral * s - G_MOON
        self.z = np.where(run, self.z + (self.vz + 0.5 * az * dt) * dt, self.z)
        self.vz = np.where(run, self.vz + az * dt, self.vz)
        self.vx = np.where(run, self.vx + ax * dt, self.vx)
        self.agl = np.where(run, self.z - self.terrain, self.agl)

    # --- section 4 and 5: guidance, throttle and modes ------------------------------------
    def _reset_guidance(self, where, p) -> None:
        if p is None:
            self.throttle = self._zeros()
            self.pitch_cmd = self._zeros()
            self.mass = self._zeros()
            self.mode = np.zeros(self.n, dtype=np.int64)
            return
        self.throttle = np.where(where, 0.0, self.throttle).astype(self.dtype)
        self.pitch_cmd = np.where(where, 0.0, self.pitch_cmd).astype(self.dtype)
        self.mass = np.where(where, self._f(p["mass"]), self.mass).astype(self.dtype)
        self.mode = np.where(where, 1, self.mode)

    def _guidance_step(self, run, t_s, dt, contact, faults) -> None:
        # interim (before docs/algorithms.md section 4): a fixed safe throttle
        self.throttle = np.where(run, 0.5, self.throttle).astype(self.dtype)
        self.pitch_cmd = np.where(run, 0.0, self.pitch_cmd).astype(self.dtype)

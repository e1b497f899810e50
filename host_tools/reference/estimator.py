"""docs/algorithms.md section 2, estimation: the filter of the reference model (a part of
ReferenceModel)."""

from __future__ import annotations

import numpy as np

from host_tools.link import wire
from host_tools.reference.altimeter import (
    ACT_FUSE,
    ACT_RESET,
    FAILED,
    LRF_CAL0,
    LRF_CALF,
    LRF_FRACTION,
    LRF_MAX,
    LRF_MIN,
    LRF_SIGMA0,
    MAX_WAITING,
    NOT_ACQUIRED,
    RADAR_CAL0,
    RADAR_CALF,
    RADAR_FRACTION,
    RADAR_MAX,
    RADAR_MIN,
    RADAR_SIGMA0,
    REJECTED,
    AidSource,
)
from host_tools.reference.common import (
    G_MOON,
    LRF_BAD,
    NEVER,
    RADAR_BAD,
)
from host_tools.reference.decisions import SCALE_H
from host_tools.reference.velocimeter import VelocitySource

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


class Estimator:
    """Section 2 of ReferenceModel: the filter, its aid sources and its outputs."""

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

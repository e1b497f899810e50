# Navigation estimator (docs/algorithms.md section 2): a 4-state Kalman filter on
# [h (height above terrain), vz, z (height above datum), accel bias], driven by the
# accelerometers and aided by the two altimeters (flight.altimeter, section 3), plus the
# horizontal velocity propagated with its variance (no horizontal measurement exists).
#
# Two rates: every frame adds the accelerometers' velocity increments and the attitude to
# sums and hands each altimeter its reading (frame); every cycle (10 Hz) propagates the
# state and its covariance over the cycle with those sums (cycle). The samples are judged
# and fused on the frame they came on, or on the next one when that was a cycle frame
# (aid), against the state of the last cycle.
#
# The covariance is a flat 4x4 list (row-major, kept symmetric) updated in place; no
# matrix library. Attributes are what the COMMAND frame and guidance read.
#
# On a board every float result is a new heap object, so the cycle is written for few of
# them: each of the 10 distinct covariance entries is computed once (the other 6 are the
# same objects), F P F' in closed form for this F, and the terms that depend only on the
# cycle's interval are computed when it changes (at a steady frame rate it does not).
import math

from micropython import const

from flight import wire
from flight.altimeter import (
    ACT_FUSE,
    ACT_RESET,
    FAILED,
    NOT_ACQUIRED,
    REJECTED,
    SLOPE,
    SLOPE2,
    Altimeter,
    Unit,
)
from flight.common import G_MOON, LRF_BAD, RADAR_BAD
from flight.fmath import cos_of, sin
from flight.velocimeter import Velocimeter

_NEW = wire.RADAR_NEW | wire.LRF_NEW  # the new-sample bits of a frame

_ACC_PSD = 0.01  # [m/s^2/sqrt(Hz)] vertical acceleration noise (IMU noise and attitude error)
_BIAS_SIGMA0 = 0.02  # [m/s^2] prior 1-sigma of the axial accelerometer bias
_BIAS_RW = 0.0005  # [m/s^2/sqrt(s)] random walk of the bias
_BIAS_DOUBT_RW = 0.02  # [m/s^2/sqrt(s)] random walk of the bias while altimeters doubt inertial
_SLOPE_TIME = 1.0  # [s] correlation time of the terrain height seen while moving
_NO_ANGLE = 10.0  # [rad] no cycle's attitude yet
_LAT_BIAS_SIGMA = 0.01  # [m/s^2] lateral accelerometer bias, not estimated: vx uncertainty
_MIN_VAR = 1.0e-6  # [m^2, (m/s)^2, (m/s^2)^2] floor of each variance
_AIDING_S = 1.0  # [s] aiding: an altimeter fused within this time
_ACROSS_M = 2.0  # [m] a lander that moved less across than this is over the same terrain
_T_INS = 20.0  # [s] time constant of the pull of the inertial velocity toward the filter's
_T_XB = 120.0  # [s] memory of the correlation of vx with the axial bias (a bias changes)

# indices of the distinct entries of the row-major covariance (h, vz, z, b)
_HH = const(0)
_HV = const(1)
_HZ = const(2)
_HB = const(3)
_VV = const(5)
_VZ = const(6)
_VB = const(7)
_ZZ = const(10)
_ZB = const(11)
_BB = const(15)
_VH = const(4)  # and their mirrors below the diagonal
_ZH = const(8)
_BH = const(12)
_ZV = const(9)
_BV = const(13)
_BZ = const(14)

# the altimeters (as the harness models them; the reasoning in docs/algorithms.md)
_RADAR_NOISE_M = 0.5  # [m]
_RADAR_NOISE_FRACTION = 0.003  # [1]
_RADAR_CAL_M = 0.3  # [m] 1-sigma calibration bias of a healthy unit
_RADAR_CAL_FRACTION = 0.001  # [1] 1-sigma calibration scale error
_RADAR_MIN_M = 1.0  # [m]
_RADAR_MAX_M = 15000.0  # [m]
_LRF_NOISE_M = 0.1  # [m]
_LRF_NOISE_FRACTION = 0.0005  # [1]
_LRF_CAL_M = 0.05  # [m]
_LRF_CAL_FRACTION = 0.0003  # [1]
_LRF_MIN_M = 1.0  # [m]
_LRF_MAX_M = 3000.0  # [m]


class Estimator:
    def __init__(self):
        self.radar = Altimeter(Unit(valid_bit=wire.RADAR_VALID, new_bit=wire.RADAR_NEW, bad_bit=RADAR_BAD,
                                    noise_m=_RADAR_NOISE_M, noise_fraction=_RADAR_NOISE_FRACTION,
                                    cal_m=_RADAR_CAL_M, cal_fraction=_RADAR_CAL_FRACTION,
                                    min_range=_RADAR_MIN_M, max_range=_RADAR_MAX_M))
        self.lrf = Altimeter(Unit(valid_bit=wire.LRF_VALID, new_bit=wire.LRF_NEW, bad_bit=LRF_BAD,
                                  noise_m=_LRF_NOISE_M, noise_fraction=_LRF_NOISE_FRACTION,
                                  cal_m=_LRF_CAL_M, cal_fraction=_LRF_CAL_FRACTION,
                                  min_range=_LRF_MIN_M, max_range=_LRF_MAX_M))
        self.vel = Velocimeter()
        self.x = [0.0, 0.0, 0.0, 0.0]  # [m, m/s, m, m/s^2] h, vz, z, accel bias
        self.p = [0.0] * 16  # covariance of x, row-major, symmetric
        self._dt = -1.0  # [s] the cycle interval the constants below are for (-1: none yet)
        self._half_dt = 0.0  # [s] dt / 2
        self._g_dt = 0.0  # [m/s] G_MOON * dt
        self._k_ins = 0.0  # [1] dt / _T_INS
        self._keep_xb = 1.0  # [1] 1 - dt / _T_XB
        self._q_vv = 0.0  # [(m/s)^2] process noise of vz over dt
        self._q_bb = 0.0  # [(m/s^2)^2] bias random walk over dt
        self._frame_dt = -1.0  # [s] the frame interval _q_doubt and _carry are for (-1: none yet)
        self._carry = 0.0  # [m] vz * _frame_dt: the reported height's change in a frame
        self._q_doubt = 0.0  # [(m/s^2)^2] bias random walk over a frame of doubt about inertial data
        self._q_slope = 0.0  # [s^2] terrain seen while moving: P_hh grows by (vx^2 + P_vx) times this
        self._q_lat = 0.0  # [m/s * m/s^2] lateral bias variance times dt
        self._clear()

    def _clear(self):
        self.radar.reset()
        self.lrf.reset()
        self.vel.reset()
        self.ax = 0.0  # [m/s^2] the last cycle's mean acceleration (once a velocimeter is seen)
        self.az = 0.0
        for i in range(16):
            self.p[i] = 0.0
        for i in range(4):
            self.x[i] = 0.0
        self.vx = 0.0  # [m/s]
        self.p_vx = 0.0  # [(m/s)^2]
        self.p_vxb = 0.0  # [m/s * m/s^2] covariance of vx and the lateral bias
        self.p_xb = 0.0  # [m/s * m/s^2] covariance of vx and the axial bias x[3]
        self.b_ref = 0.0  # [m/s^2] x[3] after the last cycle's propagation
        self.p_bb_ref = 0.0  # [(m/s^2)^2] P_bb then
        self.dv_axial = 0.0  # [m/s] sum of f_axial * dt over the frames since the last cycle
        self.dv_lateral = 0.0  # [m/s] sum of f_lateral * dt
        self.pitch_dt = 0.0  # [rad s] sum of pitch * dt
        # ... of which the frames since the last fold, at one interval _frame_dt, are still
        # sums of the readings alone (one product per sum at the fold, not one per frame)
        self.sum_axial = 0.0  # [m/s^2]
        self.sum_lateral = 0.0  # [m/s^2]
        self.sum_pitch = 0.0  # [rad]
        self.n_sum = 0  # [frames] in those sums
        self.t_state_us = 0  # [us] since INIT, the time the state is for (the last cycle's)
        self.c = 1.0  # [1] the cosine of the last cycle's mean attitude
        self.theta = _NO_ANGLE  # [rad] the last cycle's mean attitude
        self.v_ins = 0.0  # [m/s] inertial vertical velocity, slowly pulled to the filter's
        self.travel = 0.0  # [m] its integral since reset (stuck and kinematic checks)
        self.ins_sigma = 0.0  # [m/s] 1-sigma error of v_ins (bound)
        self.vx_ins = 0.0  # [m/s] inertial horizontal velocity, as v_ins (the velocimeter's test)
        self.xins_sigma = 0.0  # [m/s] 1-sigma error of vx_ins (bound)
        self.t_fused = -1.0e9  # [s] last altimeter fusion
        self.aiding = False
        self.z = 0.0  # [m]
        self.z_sigma = 0.0  # [m]
        self.vz = 0.0  # [m/s]
        self.vz_sigma = 0.0  # [m/s]
        self.vx_sigma = 0.0  # [m/s]
        self.terrain = 0.0  # [m]
        self.terrain_sigma = 0.0  # [m]
        self.accel_bias = 0.0  # [m/s^2]
        self.accel_bias_sigma = 0.0  # [m/s^2]
        self.agl = 0.0  # [m]
        self.agl_sigma = 0.0  # [m]
        self.below = 0.0  # [m] how far below agl the lander may be: an outvoted unit that only
        # drifted off reads that low, or a lone unit rose by that much (guidance's floor)
        self.held = 0.0  # [m] how far below agl the level before a lone unit's rise was
        self.held_by = None  # the unit that rose

    def reset(self, prior):
        self._clear()
        self.vel.configure(prior.beam_cant)
        x = self.x
        p = self.p
        x[0] = prior.z - prior.terrain
        x[1] = prior.vz
        self.v_ins = prior.vz
        self.ins_sigma = prior.vz_sigma
        self.vx_ins = prior.vx
        self.xins_sigma = prior.vx_sigma
        x[2] = prior.z
        x[3] = 0.0
        vz2 = prior.z_sigma * prior.z_sigma
        p[_HH] = vz2 + prior.terrain_sigma * prior.terrain_sigma
        p[_HZ] = vz2
        p[_ZH] = vz2
        p[_ZZ] = vz2
        p[_VV] = prior.vz_sigma * prior.vz_sigma
        p[_BB] = _BIAS_SIGMA0 * _BIAS_SIGMA0
        self.p_bb_ref = p[_BB]
        self.vx = prior.vx
        self.p_vx = prior.vx_sigma * prior.vx_sigma
        self._outputs(0.0)

    def frame(self, dt, f_axial, f_lateral, pitch, flags, radar_range, lrf_range, t_us,
              bflags, beam_a, beam_b):
        # every frame: dt [s], the last good inertial and attitude readings, the sanitised
        # flags, ranges and beams, t_us [us] since INIT (the time stamp of a sample)
        if dt != self._frame_dt:
            self._fold()
            self._frame_dt = dt
            self._q_doubt = _BIAS_DOUBT_RW * _BIAS_DOUBT_RW * dt
            self._carry = self.vz * dt
        self.sum_axial += f_axial
        self.sum_lateral += f_lateral
        self.sum_pitch += pitch
        self.n_sum += 1
        # the height reported between cycles is the last cycle's carried along its vz
        self.agl += self._carry
        self.z += self._carry
        s = 0.0
        c = 1.0
        take_beams = bflags & wire.BEAMS_NEW and self.vel.due(t_us)
        if flags & _NEW or take_beams:
            # a sample arrives: the sine and cosine of its attitude, once for all sensors
            s = sin(pitch)
            c = cos_of(s)
        self.radar.take(flags, radar_range, s, c, t_us)
        self.lrf.take(flags, lrf_range, s, c, t_us)
        if take_beams:
            self.vel.take(bflags, beam_a, beam_b, s, c, t_us)

    def cycle(self, t_s, t_us, dt):
        # every cycle: t_s [s] and t_us [us] since INIT, dt [s] the interval since the last.
        # The state is propagated to now; an altimeter with no sample waiting is checked for
        # missing data (a waiting one is judged on the next frame).
        self._fold()
        theta = self.pitch_dt / dt  # [rad] the mean attitude over the interval
        s = sin(theta)
        c = cos_of(s)
        self.c = c
        if dt != self._dt:
            self._set_dt(dt)
        # the beam sweeps the terrain as the attitude turns: its footprint jumps over the
        # ground by h dtheta / c^2 in the cycle, and the terrain it sees by the slope times that
        q_sweep = 0.0  # [m^2]
        if self.theta != _NO_ANGLE and theta != self.theta:
            d = self.x[0] * (theta - self.theta) / (c * c)  # [m]
            q_sweep = SLOPE2 * (d * d)
        self.theta = theta
        if self.x[3] != self.b_ref:
            self._correct_vx()
        self._predict(dt, s, c, q_sweep)
        self.b_ref = self.x[3]
        self.p_bb_ref = self.p[_BB]
        self.t_state_us = t_us
        if not self.radar.waiting:
            self._aid(self.radar, self.lrf, -1, t_s, 0.0)
        if not self.lrf.waiting:
            self._aid(self.lrf, self.radar, -1, t_s, 0.0)
        if not self.vel.waiting:
            self.vel.no_sample(t_us, self.x[0])
        self._outputs(t_s)
        # v_ins's error: the prior's, pulled toward the filter's as v_ins is (a bound: |corr| <= 1)
        self.ins_sigma += self._k_ins * (self.vz_sigma - self.ins_sigma)
        self.xins_sigma += self._k_ins * (self.vx_sigma - self.xins_sigma)

    def aid(self, t_us, this_frame):
        # the waiting samples, those of this frame (t_us [us]) only if this_frame, in the
        # order they arrived (radar first within a frame): each judged at its own time and
        # carried along vz to the state's time (the last cycle's)
        vel = self.vel
        if vel.waiting and (this_frame or vel.w_t_us < t_us):
            self._aid_velocity()
        radar = self.radar
        lrf = self.lrf
        nr = radar.arrived(t_us, this_frame)
        nl = lrf.arrived(t_us, this_frame)
        if not nr and not nl:
            return
        # the variance of the inertial velocity, left by the last cycle's outputs
        v_var = self.ins_sigma * self.ins_sigma
        doubt = 0  # [samples] that doubt inertial data
        i = 0
        j = 0
        while i < nr or j < nl:
            if j >= nl or (i < nr and radar.w_t_us[i] <= lrf.w_t_us[j]):
                self._aid(radar, lrf, i, radar.w_t_us[i] * 1e-6, v_var)
                doubt += radar.doubt
                i += 1
            else:
                self._aid(lrf, radar, j, lrf.w_t_us[j] * 1e-6, v_var)
                doubt += lrf.doubt
                j += 1
        radar.drop(nr)
        lrf.drop(nl)
        if doubt:
            # each sample that doubts inertial data frees the bias for one frame interval
            self.p[_BB] += self._q_doubt if doubt == 1 else doubt * self._q_doubt

    def _fold(self):
        # the readings summed at the interval _frame_dt join the sums of increments
        if self.n_sum:
            f = self._frame_dt
            self.dv_axial += self.sum_axial * f
            self.dv_lateral += self.sum_lateral * f
            self.pitch_dt += self.sum_pitch * f
            self.sum_axial = 0.0
            self.sum_lateral = 0.0
            self.sum_pitch = 0.0
            self.n_sum = 0

    def _set_dt(self, dt):
        # the terms of a cycle that depend on its interval dt alone
        self._dt = dt
        self._half_dt = 0.5 * dt
        self._g_dt = G_MOON * dt
        self._k_ins = dt / _T_INS
        self._keep_xb = 1.0 - dt / _T_XB
        self._q_vv = _ACC_PSD * _ACC_PSD * dt
        self._q_bb = _BIAS_RW * _BIAS_RW * dt
        self._q_slope = SLOPE * SLOPE * _SLOPE_TIME * dt
        self._q_lat = dt * (_LAT_BIAS_SIGMA * _LAT_BIAS_SIGMA)

    def _correct_vx(self):
        # the altimeters corrected the axial bias since the last cycle: the horizontal
        # velocity its error drove (through the attitude's sine) is corrected with it, by the
        # regression of vx's error on the bias's (vx is correlated with the rest only
        # through the bias), and P_vx, P_xb shrink with P_bb (not when doubt grew it)
        p_bb = self.p[_BB]
        a = self.p_xb / max(p_bb, self.p_bb_ref)  # [s]
        self.vx += a * (self.x[3] - self.b_ref)
        r = p_bb / self.p_bb_ref
        if r < 1.0:
            p_xb = self.p_xb * r
            self.p_vx += a * (p_xb - self.p_xb)
            self.p_xb = p_xb

    def _predict(self, dt, s, c, q_sweep):
        # the state over the cycle's interval dt from the frames' sums (the velocity
        # increments rotated by the mean attitude: s, c its sine and cosine), then P
        x = self.x
        p = self.p
        da = self.dv_axial - x[3] * dt  # [m/s] bias-corrected axial velocity increment
        dl = self.dv_lateral  # [m/s]
        dv = da * c + dl * s - self._g_dt  # [m/s] vertical velocity increment
        half = 0.5 * dv  # [m/s] (a halving is exact)
        vz = x[1]
        dz = (vz + half) * dt
        x[0] += dz
        x[2] += dz
        x[1] = vz + dv
        v = self.v_ins
        self.travel += (v + half) * dt
        self.v_ins = v + dv + self._k_ins * (x[1] - v)
        dvx = dl * c - da * s  # [m/s]
        self.vx += dvx
        w = self.vx_ins
        if self.vel.health == REJECTED or self.vel.health == FAILED:
            # a velocimeter found at fault: nothing else measures vx, so the filter's holds what
            # the unit fused before, and vx_ins, the unit's judge when it reads right again,
            # follows the inertial motion alone
            self.vx_ins = w + dvx
        else:
            self.vx_ins = w + dvx + self._k_ins * (self.vx - w)
        if self.vel.health != NOT_ACQUIRED:  # the velocimeter's samples are carried along these
            self.ax = dvx / dt
            self.az = dv / dt
        self.dv_axial = 0.0
        self.dv_lateral = 0.0
        self.pitch_dt = 0.0

        # P = F P F' + Q with F rows h (1, dt, 0, be), vz (0, 1, 0, ga), z (0, dt, 1, be),
        # b (0, 0, 0, 1), be = -0.5 c dt^2, ga = -c dt. A = F P entry by entry (the 9 that
        # are needed), then the upper triangle of A F'; an entry below the diagonal is the
        # same object as its mirror. Below g = -ga, bp = -be (x + be y is x - bp y exactly).
        g = c * dt
        bp = g * self._half_dt
        p_hv = p[_HV]
        p_hb = p[_HB]
        p_vv = p[_VV]
        p_vz = p[_VZ]
        p_vb = p[_VB]
        p_zb = p[_ZB]
        p_bb = p[_BB]
        dt_vv = dt * p_vv
        bp_vb = bp * p_vb
        dt_vb = dt * p_vb
        bp_bb = bp * p_bb
        dt_vz = dt * p_vz
        bp_zb = bp * p_zb
        a_hh = p[_HH] + dt * p_hv - bp * p_hb
        a_hv = p_hv + dt_vv - bp_vb
        a_hb = p_hb + dt_vb - bp_bb
        a_hz = p[_HZ] + dt_vz - bp_zb
        a_zv = p_vz + dt_vv - bp_vb
        a_zb = p_zb + dt_vb - bp_bb
        a_zz = p[_ZZ] + dt_vz - bp_zb
        a_vv = p_vv - g * p_vb
        a_vb = p_vb - g * p_bb
        dt_ahv = dt * a_hv
        bp_ahb = bp * a_hb
        # the terrain under the beam changes as the lander moves over it (vx after this
        # step's propagation, P_vx before)
        vx = self.vx
        p[_HH] = a_hh + dt_ahv - bp_ahb + (vx * vx + self.p_vx) * self._q_slope
        if q_sweep:
            p[_HH] += q_sweep
        p[_HV] = p[_VH] = a_hv - g * a_hb
        p[_HZ] = p[_ZH] = a_hz + dt_ahv - bp_ahb
        p[_HB] = p[_BH] = a_hb
        p[_VV] = a_vv - g * a_vb + self._q_vv
        p[_VZ] = p[_ZV] = a_zv - g * a_zb
        p[_VB] = p[_BV] = a_vb
        p[_ZZ] = a_zz + dt * a_zv - bp * a_zb
        p[_ZB] = p[_BZ] = a_zb
        p[_BB] = p_bb + self._q_bb
        # vx with an unestimated lateral bias: [vx, b_lat] covariance, no measurement; and
        # with the axial bias, which enters vx by e = s dt
        e = s * dt
        p_xb = self.p_xb
        a_xb = p_xb * self._keep_xb + e * p_bb
        self.p_vx += dt * (2.0 * self.p_vxb + self._q_lat) + self._q_vv + e * (p_xb + a_xb)
        self.p_xb = a_xb
        self.p_vxb += self._q_lat

    def _aid(self, alt, other, i, t_s, v_var):
        # one update of alt: waiting sample i at its time t_s [s], or (i = -1) none at t_s
        x = self.x
        act = alt.update(i, t_s, self.t_state_us, self.c, x[0], x[1], self.p[_HH], self.travel,
                         v_var, other, self.vel)
        if act == ACT_FUSE:
            r_var = alt.meas_var
            if alt.r_scale != 1.0:  # inflated: noisy and alone
                r_var *= alt.r_scale
            self._fuse(0, alt.innov, r_var)
            if self.held != 0.0 and alt is not self.held_by:
                self.held = 0.0  # the other unit is back and agrees with the new level
        elif act == ACT_RESET:
            off = alt.step_mean
            self._reset_terrain(off, alt.meas_var)
            other.shifted(off)
            self.held = 0.0
            if off > 0.0 and not other.in_view(t_s) \
                    and abs(self.vx) * (t_s - alt.t_step) < _ACROSS_M:
                # a lone unit's higher level under a lander that has not moved across: the
                # terrain under it cannot have dropped away, so the unit may have jumped;
                # the old level stays a floor that guidance brakes for
                self.held = off
                self.held_by = alt
        else:
            return
        alt.t_fused = t_s
        self.t_fused = t_s

    def _aid_velocity(self):
        # the velocimeter's waiting sample, judged against the state of the last cycle; vx
        # fused with the lateral and axial biases as considered (not estimated) states: their
        # covariances with vx shrink with its variance, nothing else changes
        vel = self.vel
        t_s = vel.w_t_us * 1e-6
        backed = self.radar.passing(t_s) or self.lrf.passing(t_s)
        act = vel.update(self.vx, self.x[1], self.p_vx, self.p[_VV], self.ax, self.az,
                         self.t_state_us, self.v_ins, self.vx_ins,
                         self.xins_sigma * self.xins_sigma, backed)
        if act == ACT_RESET:
            # the unit just found at fault against vx_ins: the filter's vx is what the unit
            # fused, and nothing else measures vx; it goes back to vx_ins, with vx_ins's error
            self.vx = self.vx_ins
            x_var = self.xins_sigma * self.xins_sigma
            if self.p_vx < x_var:
                self.p_vx = x_var
            return
        if act != ACT_FUSE:
            return
        p_vx = self.p_vx
        k = p_vx / (p_vx + vel.meas_var)
        self.vx += k * (vel.meas - self.vx)
        keep = 1.0 - k
        self.p_vx = _floor(p_vx * keep)
        self.p_xb *= keep
        self.p_vxb *= keep
        if vel.fuse_z:
            # no altimeter passes: the velocimeter's vz is the best there is (a witness no
            # longer), and a descent without a height is flown on it
            self._fuse(1, vel.innov_z, vel.var_z)

    def _fuse(self, i, nu, r_var):
        # scalar update with a measurement of state i (0: an altimeter measures h; 1: the
        # velocimeter vz): with ph = P H' (column i of P) and gain k = ph / S: x += k nu,
        # P -= k ph' on the 10 distinct entries
        x = self.x
        p = self.p
        ph_h = p[i]
        ph_v = p[4 + i]
        ph_z = p[8 + i]
        ph_b = p[12 + i]
        s_var = p[5 * i] + r_var
        k_h = ph_h / s_var
        k_v = ph_v / s_var
        k_z = ph_z / s_var
        k_b = ph_b / s_var
        x[0] += k_h * nu
        x[1] += k_v * nu
        x[2] += k_z * nu
        x[3] += k_b * nu
        p[_HH] = _floor(p[_HH] - k_h * ph_h)
        p[_HV] = p[_VH] = p[_HV] - k_h * ph_v
        p[_HZ] = p[_ZH] = p[_HZ] - k_h * ph_z
        p[_HB] = p[_BH] = p[_HB] - k_h * ph_b
        p[_VV] = _floor(p[_VV] - k_v * ph_v)
        p[_VZ] = p[_ZV] = p[_VZ] - k_v * ph_z
        p[_VB] = p[_BV] = p[_VB] - k_v * ph_b
        p[_ZZ] = _floor(p[_ZZ] - k_z * ph_z)
        p[_ZB] = p[_BZ] = p[_ZB] - k_z * ph_b
        p[_BB] = _floor(p[_BB] - k_b * ph_b)

    def _reset_terrain(self, offset, r_var):
        # a terrain step: h jumps by offset [m], z and vz stay; h's error is now the
        # measurement's, uncorrelated with the rest
        p = self.p
        self.x[0] += offset
        p[_HH] = r_var
        for i in range(1, 4):
            p[i] = 0.0
            p[4 * i] = 0.0

    def _outputs(self, t_s):
        x = self.x
        p = self.p
        self.agl = x[0]
        self.agl_sigma = math.sqrt(p[_HH])
        self.vz = x[1]
        self._carry = self.vz * self._frame_dt
        self.vz_sigma = math.sqrt(p[_VV])
        self.z = x[2]
        self.z_sigma = math.sqrt(p[_ZZ])
        self.accel_bias = x[3]
        self.accel_bias_sigma = math.sqrt(p[_BB])
        self.terrain = x[2] - x[0]
        self.terrain_sigma = math.sqrt(max(0.0, p[_ZZ] - 2.0 * p[_HZ] + p[_HH]))
        self.vx_sigma = math.sqrt(self.p_vx)
        self.aiding = t_s - self.t_fused <= _AIDING_S
        self.below = max(self.held, self.radar.below(t_s), self.lrf.below(t_s))


def _floor(var):
    # a variance after an update, at least _MIN_VAR
    return _MIN_VAR if var < _MIN_VAR else var

# The Doppler velocimeter as an aid source of the estimator (docs/algorithms.md section 3b):
# two beams in the vertical plane at -cant (A) and +cant (B) from the thrust axis, each
# the velocity along its line of sight. Their sum and difference are the velocity along
# the thrust axis and across it; rotated by the attitude, vx and vz.
#
# vx is fused: nothing else measures it. vz is a witness while an altimeter passes every
# test: the altimeters and the accelerometers give it, and a velocimeter that drifts is then
# seen against them instead of dragging the filter (and with it the altimeters' own checks)
# along; with no altimeter passing, the unit is the best there is and its vz is fused.
# Tests on each sample: a gate on both innovations (vz's only while backed), the low-passed
# vz innovation (bias, drift, scale: only while backed; withheld beyond the filter's 1
# sigma, rejected beyond 4), the low-passed vx measured minus the estimator's inertial vx
# (a beam that drifts or steps at a pitch where the pair's vz does not move: rejected
# beyond 4 sigma, back only within 1), the low-passed change of the vz innovation from one
# pair to the next (noise), stuck beams. A failed gate is traced to one beam when the other
# alone agrees with the filter; that beam is then left out, and the other fuses vx alone
# (with the filter's vz), as when a beam loses the ground, but only while vx is known worse
# than the filter's vz error that the lone beam carries into it.
#
# Every float result is a new heap object on a board: the times are integers [us], a beam's
# own innovation is computed only when the pair fails, and the one-beam geometry only when
# a beam is missing or left out.
from micropython import const

from flight import wire
from flight.altimeter import (
    ACT_FUSE,
    ACT_NONE,
    ACT_RESET,
    FAILED,
    INNOVATION,
    INVALID,
    NO_DATA,
    NOISY,
    NONE,
    NOT_ACQUIRED,
    OK,
    OUT_OF_RANGE,
    RATE,
    REJECTED,
    SLOPE2,
    STUCK,
    SUSPECT,
)
from flight.fmath import cos_of, sin

_NOISE_MPS = 0.05  # [m/s] 1-sigma noise of a beam, with a healthy unit's calibration bias
_NOISE_FRACTION = 0.003  # [1] ... per m/s of speed, with its calibration scale error
_GATE2 = 25.0  # [1] innovation gate (5 sigma) squared
_K_TEST = 0.1  # [1] low-pass gain per sample of the mean and noise tests
_MEAN_LIMIT2 = 1.0  # [1] (low-passed vz innovation)^2 above this times its variance: off by
# more than the filter's 1 sigma, withheld (the low-pass of white innovations has 0.23 of
# their sigma: 4.4 of its own; the filter's own vz error is slow and passes it whole)
_FAULT_LIMIT2 = 16.0  # [1] ... above this times the low-pass's own variance: beyond what the
# filter's error explains (4 sigma), rejected
_LP_VAR = _K_TEST / (2.0 - _K_TEST)  # [1] variance of the low-pass per unit innovation variance
_NOISE_LIMIT = 4.0 / _GATE2  # [1] low-passed test ratio above: noisy (4 times the variance)
_JITTER2 = 0.05 * 0.05  # [(m/s)^2] the filter's vz moves this much between samples (altimeters' fusion)
_STUCK_N = const(5)  # [samples] identical readings in a row while the velocity moved ...
_STUCK_MOTION2 = 9.0  # [1] ... by more than 3 sigma (squared): stuck
_RECOVER_N = const(5)  # [samples] passing in a row before (re)entering ok
_REJECT_US = const(1000000)  # [us] failing the gate this long: rejected
_NODATA_US = const(500000)  # [us] no valid sample this long: suspect
_FAIL_US = const(1500000)  # [us] no valid sample this long: failed
_IN_VIEW_M = 2000.0  # [m] below this height both beams see the ground at any attitude within
# 0.6 rad (a slant of at most 1.7 h against the unit's 4 km), so missing data is a fault
_MIN_SIN = 0.1  # [1] a lone beam this close to vertical sees too little of vx to fuse
_NEG_MIN_SIN = -_MIN_SIN
_NEVER = const(-(1 << 29))  # [us] time of "never" (a small int on a board)
_VIEW_S = 0.5  # [s] a pair this recent is an opinion on an altimeter's rate
_PERIOD_US = const(190000)  # [us] samples are judged at most this often (5 Hz, with jitter):
# a judged sample costs about 0.9 KB on a board, the budget's margin is about 0.1 KB a step

_BOTH = const(3)  # beam bits of `use`: A 1, B 2
_WITHHELD = const(-1)  # _failed: the mean is off, not yet a fault


class Velocimeter:
    def __init__(self):
        self.configure(0.35)
        self.reset()

    def configure(self, cant):
        # the beams' cant [rad] from INIT: the constants of the pair's geometry
        sa = sin(cant)
        ca = cos_of(sa)
        self.cos_cant = ca
        self.sin_cant = sa
        self.k_u = 0.5 / ca  # [1] along the thrust axis = (a + b) k_u
        self.k_w = 0.5 / sa  # [1] across it = (b - a) k_w
        self.v_u = 0.5 / (ca * ca)  # [1] their variances per unit beam variance
        self.v_w = 0.5 / (sa * sa)
        self.v_d = self.v_w - self.v_u

    def reset(self):
        self.health = NOT_ACQUIRED
        self.reason = NO_DATA
        self.test_ratio = 0.0  # [1] the larger innovation^2 / (gate^2 * variance)
        self.waiting = False  # a sample waits to be judged
        self.t_taken_us = _NEVER  # [us] the last sample taken to be judged
        self.w_a = 0.0  # [m/s] its beams,
        self.w_b = 0.0
        self.w_use = 0  # the beams valid in it (A 1, B 2),
        self.w_sin = 0.0  # the sine and cosine of its frame's attitude,
        self.w_cos = 1.0
        self.w_t_us = 0  # [us] and its time since INIT
        self.bad_seen = False  # a frame since the last sample had a bad beam value
        self.t_good_us = _NEVER  # [us] last valid sample
        self.t_pass_us = _NEVER  # [us] last sample that passed the gate
        self.n_pass = 0  # [samples] passing in a row
        self.left_out = 0  # the beam left out (A 1, B 2), 0 none
        self.mean = 0.0  # [m/s] low-passed vz innovation
        self.mean_x = 0.0  # [m/s] low-passed vx measured minus the inertial vx
        self.noise = 0.0  # [1] low-passed test ratio of the change of the vz innovation
        self.nu_last = 0.0  # [m/s] the last pair's vz innovation
        self.rate_ins = 0.0  # [m/s] low-passed vz measured minus the inertial velocity
        self.paired = False  # a pair has been judged (nu_last is one)
        self.n_same = 0  # [samples] readings repeated in a row
        self.vz_same = 0.0  # [m/s] the filter's vz when the repetition began
        self.meas = 0.0  # [m/s] vx measured, carried to the state's time
        self.meas_var = 0.0  # [(m/s)^2] its variance
        self.fuse_z = False  # vz may be fused too (an ok unit, both beams)
        self.innov_z = 0.0  # [m/s] the pair's vz innovation (at the sample and the state's time)
        self.var_z = 0.0  # [(m/s)^2] the variance of the vz it measures
        self.a_last = 0.0  # [m/s] the last sample's beams (stuck check)
        self.b_last = 0.0

    def due(self, t_us):
        # a sample at t_us [us] since INIT is taken to be judged: none was for _PERIOD_US
        return t_us - self.t_taken_us >= _PERIOD_US

    def take(self, bflags, a, b, s, c, t_us):
        # a frame's beams as the core left them (a new sample of either, due), s, c the sine
        # and cosine of its attitude, t_us [us] since INIT
        use = 0
        if bflags & wire.BEAM_A_VALID and bflags & wire.BEAM_A_NEW:
            use = 1
        if bflags & wire.BEAM_B_VALID and bflags & wire.BEAM_B_NEW:
            use |= 2
        if not use:
            return
        self.waiting = True
        self.t_taken_us = t_us
        self.w_a = a
        self.w_b = b
        self.w_use = use
        self.w_sin = s
        self.w_cos = c
        self.w_t_us = t_us

    def no_sample(self, t_us, h):
        # a cycle without a sample waiting, at t_us [us] since INIT, h [m] the estimator's
        # height above the terrain: missing data is a fault only where the beams must see the
        # ground; higher up a gap is what a healthy unit gives
        if self.health == NOT_ACQUIRED:
            return
        gap = t_us - self.t_good_us
        if gap <= _NODATA_US:
            return
        self.paired = False
        if h > _IN_VIEW_M:
            self._set(NOT_ACQUIRED, OUT_OF_RANGE)
            self.n_pass = 0
            return
        if gap > _FAIL_US:
            self._set(FAILED, INVALID if self.bad_seen else NO_DATA)
        elif self.health == OK:
            self._set(SUSPECT, INVALID if self.bad_seen else NO_DATA)
            self.n_pass = 0

    def update(self, vx, vz, p_vx, p_vv, ax, az, t_state_us, v_ins, vx_ins, x_var, backed):
        # the waiting sample against the filter's vx, vz [m/s] and variances at t_state_us
        # [us], carried to the sample's time along the last cycle's acceleration ax, az
        # [m/s^2]; v_ins, vx_ins [m/s] the inertial velocities then, x_var [(m/s)^2] the
        # variance of vx_ins; backed: an altimeter
        # passes every test, so the filter's vz can judge the unit's. ACT_FUSE when vx is to
        # be fused (meas, meas_var, carried to t_state_us), and fuse_z when vz is too;
        # ACT_RESET when this sample finds the unit at fault against vx_ins
        self.waiting = False
        self.fuse_z = False
        t_us = self.w_t_us
        self.t_good_us = t_us
        self.bad_seen = False
        if self.health == NOT_ACQUIRED:
            self._set(SUSPECT, NO_DATA)
            self.t_pass_us = t_us
        dt = (t_us - t_state_us) * 1e-6  # [s]
        vx_t = vx + ax * dt  # [m/s] the filter's velocity at the sample
        vz_t = vz + az * dt
        a = self.w_a
        b = self.w_b
        use = self.w_use
        s = self.w_sin
        c = self.w_cos
        # stuck: the beams repeat while the filter's vz moved
        if a == self.a_last and b == self.b_last:
            self.n_same += 1
            if self.n_same >= _STUCK_N:
                d = vz_t - self.vz_same
                if d * d > _STUCK_MOTION2 * (p_vv + _NOISE_MPS * _NOISE_MPS):
                    return self._failed(t_us, STUCK)
        else:
            self.n_same = 1
            self.vz_same = vz_t
        self.a_last = a
        self.b_last = b

        if use != _BOTH:
            self.paired = False  # the noise test restarts at the next pair
        else:
            u = (a + b) * self.k_u  # [m/s] along the thrust axis, toward the ground
            w = (b - a) * self.k_w  # [m/s] across it, along the body lateral axis
            sig = _NOISE_MPS + _NOISE_FRACTION * (u if u > 0.0 else -u)  # [m/s] each beam's
            var = sig * sig
            s2 = s * s
            r = var * (self.v_w - s2 * self.v_d)  # [(m/s)^2] of vx measured
            r_z = var * (self.v_u + s2 * self.v_d)  # [(m/s)^2] of vz measured
            nu = u * s + w * c - vx_t
            vz_m = w * s - u * c  # [m/s] vz measured
            nu_z = vz_m - vz_t
            s_z = p_vv + r_z
            ratio = nu * nu / (_GATE2 * (p_vx + r))
            ratio_z = nu_z * nu_z / (_GATE2 * s_z)
            self.test_ratio = ratio if ratio > ratio_z else ratio_z
            self.innov_z = nu_z
            self.var_z = r_z
            # the vz witness's low-passed innovation (bias, drift and scale; in m/s), and the
            # low-passed change of the innovation from the last pair's (noise, a test ratio:
            # the filter's own error, slow, cancels, and so does an offset)
            self.mean += _K_TEST * (nu_z - self.mean)
            # and the low-passed vx measured minus the inertial vx, which the unit's fusion
            # drags only slowly: the filter follows a beam that drifts or steps, and this
            # does not (the only test of a fault that moves the beams apart at a pitch where
            # their vz does not move)
            self.mean_x += _K_TEST * (nu + vx - vx_ins - self.mean_x)
            # and the low-passed vz measured minus the inertial velocity (the altimeters'
            # rate tests are against the same: the third voter on an altimeter's rate)
            o = vz_m - v_ins - az * dt
            if self.paired:
                d = nu_z - self.nu_last
                self.noise += _K_TEST * (d * d / (_GATE2 * (r_z + r_z + _JITTER2)) - self.noise)
                self.rate_ins += _K_TEST * (o - self.rate_ins)
            else:
                self.rate_ins = o
            self.paired = True
            self.nu_last = nu_z
            # the unit's own tests first: a fault of both beams (a scale error, a bias of the
            # unit) can leave one beam inside its gate, never to be used alone then
            if self.noise > _NOISE_LIMIT:
                return self._failed(t_us, NOISY)
            m2 = self.mean_x * self.mean_x
            v = x_var + _LP_VAR * r  # [(m/s)^2] of mean_x: vx_ins's error and the low-pass's
            if m2 > v:
                if m2 > _FAULT_LIMIT2 * v:
                    if self.health == REJECTED or self.health == FAILED:
                        return self._failed(t_us, RATE)
                    # found at fault against the inertial vx now: what it fused is in the
                    # filter's vx, which goes back to vx_ins (ACT_RESET)
                    self._failed(t_us, RATE)
                    return ACT_RESET
                if self.health == REJECTED or self.health == FAILED:
                    # back only within 1 sigma: vx_ins's error grows while the unit is out,
                    # and so would the fault it may still have
                    return self._failed(t_us, _WITHHELD)
            if backed:
                # the mean beyond the filter's 1 sigma is withheld: which of the two is off,
                # the filter's slow error or the unit, the data cannot yet tell (fusing it
                # would absorb a beam's bias into vx); beyond 4 sigma of the filter's error
                # it is the unit
                m2 = self.mean * self.mean
                if m2 > _MEAN_LIMIT2 * s_z:
                    if m2 > _FAULT_LIMIT2 * (p_vv + _LP_VAR * r_z):
                        return self._failed(t_us, RATE)
                    return self._failed(t_us, _WITHHELD)
            else:
                # no altimeter to back the filter's vz (lost, noisy, or off against inertial
                # motion itself): the unit is the best there is, judged by its own scatter and
                # its vx, and its vz fused
                ratio_z = 0.0
            if ratio <= 1.0 and ratio_z <= 1.0:
                self.left_out = 0
            else:
                use = self._one_beam_agrees(a, b, s, c, vx_t, vz_t, p_vx, p_vv, var)
                if not use:
                    return self._failed(t_us, INNOVATION)
        if use != _BOTH:
            # one beam: vx from it with the filter's vz (sp, cp: the sine and cosine of its
            # angle from the vertical)
            if use == 1:
                m = a
                sp = s * self.cos_cant - c * self.sin_cant
                cp = c * self.cos_cant + s * self.sin_cant
            else:
                m = b
                sp = s * self.cos_cant + c * self.sin_cant
                cp = c * self.cos_cant - s * self.sin_cant
            if _NEG_MIN_SIN < sp < _MIN_SIN:
                # too near the vertical to see vx (braking tilts beam A upright while beam B
                # is still beyond its range): of no use, and no fault
                self.t_pass_us = t_us
                if self.health == OK or self.health == SUSPECT:
                    self._set(SUSPECT, NO_DATA)
                return ACT_NONE
            sig = _NOISE_MPS + _NOISE_FRACTION * (m if m > 0.0 else -m)
            r = (sig * sig + cp * cp * p_vv) / (sp * sp)
            nu = (m + vz_t * cp) / sp - vx_t
            ratio = nu * nu / (_GATE2 * (p_vx + r))
            self.test_ratio = ratio
            if ratio > 1.0:
                return self._failed(t_us, INNOVATION)
        self.t_pass_us = t_us
        if self.health == REJECTED or self.health == FAILED:
            # back only through the pair, _RECOVER_N in a row: a lone beam of a unit found at
            # fault may be its faulty one (a unit's bias reaches vx through a lone beam three
            # times over)
            if use != _BOTH:
                self.n_pass = 0
                return ACT_NONE
            self.n_pass += 1
            if self.n_pass < _RECOVER_N:
                return ACT_NONE
        else:
            self.n_pass += 1
        if use != _BOTH:
            self._set(SUSPECT, INNOVATION if self.left_out else NO_DATA)
        elif self.n_pass >= _RECOVER_N:
            self._set(OK, NONE)
            if not backed:
                # its vz is fused: the filter moves by P_vv / S_z of the innovation, and the
                # noise test's next change is from what is left of it
                self.fuse_z = True
                self.nu_last = self.innov_z * self.var_z / (p_vv + self.var_z)
        self.meas = vx + nu  # the innovation is the same at the sample and at the state's time
        self.meas_var = r
        if use != _BOTH and p_vx * sp * sp <= cp * cp * p_vv:
            # a lone beam's vx carries the filter's own vz error, slow, the same in sample
            # after sample: once vx is known better than that error, fusing it again would
            # only pull vx toward it
            return ACT_NONE
        return ACT_FUSE

    def looking(self, t_s):
        # ok, with a pair judged within _VIEW_S of t_s [s]
        return self.health == OK and self.paired and t_s - self.t_good_us * 1e-6 <= _VIEW_S

    def outvotes(self, t_s, rate, var0, v_var):
        # an altimeter's rate test failed: its range rate minus the inertial velocity is rate
        # [m/s], of variance var0 [(m/s)^2] without the inertial velocity's v_var. This unit,
        # ok with a pair judged within _VIEW_S of t_s [s], agrees with inertial motion and
        # not with the altimeter: two against one, the altimeter is outvoted
        if not self.looking(t_s):
            return False
        r = self.rate_ins
        var = _LP_VAR * self.var_z + _JITTER2
        if r * r > _GATE2 * (var + v_var):
            return False
        # the terrain's slope under the altimeter's beam moves its range rate by slope * vx
        vx = self.meas
        d = rate - r
        return d * d > _GATE2 * (var0 + var + SLOPE2 * (vx * vx))

    def _one_beam_agrees(self, a, b, s, c, vx_t, vz_t, p_vx, p_vv, var):
        # the pair failed the gate: each beam against the filter's velocity along it. One
        # that agrees while the other does not is used alone, the other is left out until
        # the pair passes again; else none (0)
        sc = s * self.cos_cant
        cc = c * self.cos_cant
        ss = s * self.sin_cant
        cs = c * self.sin_cant
        ok_a = _agrees(a, sc - cs, cc + ss, vx_t, vz_t, p_vx, p_vv, var)
        ok_b = _agrees(b, sc + cs, cc - ss, vx_t, vz_t, p_vx, p_vv, var)
        if ok_a and not ok_b:
            self.left_out = 2
            return 1
        if ok_b and not ok_a:
            self.left_out = 1
            return 2
        self.left_out = 0
        return 0

    def _failed(self, t_us, reason):
        # a sample not fused: a gate fails it for _REJECT_US before the unit is rejected; a
        # mean off by less than the fault limit only withholds it; the other tests reject at
        # once
        self.n_pass = 0
        if reason == _WITHHELD:
            if self.health == OK or self.health == SUSPECT:
                self._set(SUSPECT, RATE)
            return ACT_NONE
        if reason == INNOVATION:
            if t_us - self.t_pass_us <= _REJECT_US:
                if self.health != REJECTED and self.health != FAILED:
                    self._set(SUSPECT, reason)
                return ACT_NONE
        self._set(REJECTED, reason)
        return ACT_NONE

    def _set(self, health, reason):
        self.health = health
        self.reason = reason



def _agrees(m, sp, cp, vx, vz, p_vx, p_vv, var):
    # a beam reading m [m/s] along (sp, -cp) passes the gate against the filter's velocity
    nu = m - (vx * sp - vz * cp)
    return nu * nu <= _GATE2 * (var + sp * sp * p_vx + cp * cp * p_vv)

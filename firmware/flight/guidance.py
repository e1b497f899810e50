# Guidance: the vertical-speed profile against the low end of the height (or the floor an
# outvoted altimeter sets, as far as the propellant pays), which waits for the horizontal
# speed, and the pitch law that nulls it. The throttle law is flight/throttle.py, the mode
# machine flight/modes.py. docs/algorithms.md sections 4 and 5 are the
# specification: every number below is written there.
#
# Every float result is a new heap object on a board: negated constants are names of their
# own, terms that depend on dt alone are computed when dt changes, and the cosine of the
# modelled pitch only when that pitch moves.
import math

from flight.common import DT_RATE_MAX, FAULT_ATTITUDE, G_MOON, finite
from flight.fmath import cos
from flight.modes import (
    H_TERMINAL,
    K_LOW_PROP,
    MODE_LINK_LOST,
    MODE_STANDBY,
    MODE_TERMINAL,
    MODE_TOUCHDOWN,
    Modes,
)
from flight.throttle import Throttle, engine_gain

_K_SIGMA = 3.0  # [1] braking uses the height agl - _K_SIGMA * agl_sigma
_V_TERM = 0.8  # [m/s] final descent rate with a trusted altimeter
_V_SAFE = 1.6  # [m/s] final descent rate without one, before the speed uncertainty
_K_VZ_SIGMA = 2.0  # [1] speed uncertainties taken off _V_SAFE
_V_MIN = 0.5  # [m/s] slowest final descent rate: never a hover
_V_LOW_PROP = 1.8  # [m/s] final descent rate when propellant is low
_H_KEEP_TERM = 3.0  # [m] below this, in terminal, the rate stays _V_TERM when aiding stops
_F_REF = 0.6  # [1] share of the available net deceleration the profile plans with
_A_REF_MIN = 0.3  # [m/s^2]
_A_REF_MAX = 2.0  # [m/s^2]
_FF_MAX = 1.5  # [1] feed-forward bound, in units of the profile deceleration
_T_RESERVE = 10.0  # [s] hover time kept in reserve by the low-propellant test
_K_X = 2.0  # [1] horizontal law: a_x = -_K_X * vx / t_go
_T_GO_MIN = 5.0  # [s]
_A_SHARE = 0.95  # [1] share of the maximum thrust acceleration pitch may use
_A_Z_MIN = 0.1  # [m/s^2] smallest vertical acceleration a tilt is computed against
_THETA_LOW = 0.1  # [rad] tilt limit at and below _H_THETA_LOW
_THETA_HIGH = 0.6  # [rad] tilt limit at and above _H_THETA_HIGH
_H_THETA_LOW = 10.0  # [m] low-end height
_H_THETA_HIGH = 300.0  # [m]
_PITCH_RATE = 0.3  # [rad/s] largest change of the pitch command per second
_PITCH_TAU = 0.5  # [s] attitude response time constant (vehicle model)
_PITCH_RATE_VEH = 0.35  # [rad/s] attitude rate limit (vehicle model)
_ATT_LIMIT = 0.02  # [rad] the attitude reading is off the modelled attitude beyond this ...
_NEG_ATT_LIMIT = -_ATT_LIMIT
_ATT_OFF_N = 2  # [cycles] ... at this many cycles in a row: it is not believed
_ATT_BACK_N = 10  # [cycles] within the limit this many cycles in a row: believed again
_BIG = 100000.0  # [m], [m/s] inputs are clamped to +-_BIG
_NEG_BIG = -_BIG
_NEG_K_X = -_K_X
_THETA_SPAN = _THETA_HIGH - _THETA_LOW  # [rad]
_H_SPAN = _H_THETA_HIGH - _H_THETA_LOW  # [m]
_TWO_K_SIGMA = 2.0 * _K_SIGMA  # [1]


def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def atan1(r):
    # [rad] arctangent for |r| <= 1 (clamped): a polynomial with error below 0.0016 rad
    r = clamp(r, -1.0, 1.0)
    a = abs(r)
    return r * (0.7853981633974483 - (a - 1.0) * (0.2447 + 0.0663 * a))


def margin(t_left, v_fin, sig):
    # [1] the height margin, in sigmas, that t_left [s] of hover pays for when the final
    # descent at v_fin [m/s] may have to cross the whole band +-k*sig [m], within [0, _K_SIGMA]
    band = t_left * v_fin - H_TERMINAL  # [m]
    if band <= 0.0:
        return 0.0
    if band >= _TWO_K_SIGMA * sig:
        return _K_SIGMA
    return band / (2.0 * sig)


def limit_step(x, prev, d):
    # clamp(x, prev - d, prev + d): the rate limit, d the largest change in this step
    hi = prev + d
    if x > hi:
        return hi
    lo = prev - d
    if x < lo:
        return lo
    return x


class Guidance:
    def __init__(self):
        self.thr = Throttle()
        self.modes = Modes()
        self.throttle = 0.0  # [1] engine command: 0 or within [min_throttle, 1]
        self.pitch_cmd = 0.0  # [rad] commanded tilt of the thrust axis
        self.mode = MODE_STANDBY
        self.mass = 0.0  # [kg] tracked vehicle mass
        self.pitch_model = 0.0  # [rad] modelled tilt (the attitude's lag behind pitch_cmd)
        self.cos_model = 1.0  # [1] its cosine
        self.attitude_ok = True  # the attitude reading agrees with the modelled attitude
        self._att_off = 0  # [cycles] in a row with the reading off the model (or invalid)
        self._att_back = 0  # [cycles] in a row with it within _ATT_LIMIT
        self._first = True  # no cycle yet: the model starts from the first valid reading
        self.vz_ref = 0.0  # [m/s] vertical speed reference
        self.h_low = 0.0  # [m] the height the profile used
        self.k_sigma = 0.0  # [1] the margin it used, in sigmas
        self.hold_throttle = 0.0  # [1] what a board's watchdog holds when frames stop
        # the last finite estimate
        self.agl = 0.0  # [m]
        self.agl_sigma = 0.0  # [m]
        self.vz = 0.0  # [m/s]
        self.vz_sigma = 0.0  # [m/s]
        self.vx = 0.0  # [m/s]
        self.below = 0.0  # [m]
        # the terms that depend on dt alone
        self._dt = -1.0  # [s] the step they are for (-1: none yet)
        self._k_pitch = 0.0  # [1] engine_gain(dt, _PITCH_TAU): the attitude's lag
        self._pitch_move = 0.0  # [rad] the attitude model's largest move over dt
        self._neg_pitch_move = 0.0  # [rad]
        self._pitch_step = 0.0  # [rad] the pitch command's largest change over dt

    def reset(self, prior):
        Guidance.__init__(self)
        self.thr.reset(prior)
        self.modes.reset()
        self.mode = self.modes.mode
        self.mass = prior.mass
        self.agl = prior.z - prior.terrain
        self.agl_sigma = prior.z_sigma + prior.terrain_sigma
        self.vz = prior.vz
        self.vz_sigma = prior.vz_sigma
        self.vx = prior.vx

    def _set_dt(self, dt):
        self._dt = dt
        self._k_pitch = engine_gain(dt, _PITCH_TAU)
        self._pitch_move = _PITCH_RATE_VEH * dt
        self._neg_pitch_move = -self._pitch_move
        h = dt
        if h > DT_RATE_MAX:
            h = DT_RATE_MAX
        self._pitch_step = _PITCH_RATE * h

    def _check_attitude(self, pitch, invalid):
        # The vehicle's attitude loop follows the commands (it closes on its own sensors,
        # outside the firmware), so the reading the estimator rotates by must follow the
        # modelled attitude: one that stays off it, or is not a number, is not believed
        # and the estimator rotates by the model instead (a saturated rate channel that
        # integrated a wrong attitude: Schiaparelli, 2016).
        r = pitch - self.pitch_model
        if invalid or r > _ATT_LIMIT or r < _NEG_ATT_LIMIT:
            self._att_back = 0
            self._att_off += 1
            if self._att_off >= _ATT_OFF_N:
                self.attitude_ok = False
        else:
            self._att_off = 0
            self._att_back += 1
            if self._att_back >= _ATT_BACK_N:
                self.attitude_ok = True

    def _read(self, est):
        # the estimate, each value clamped; a value that is not finite keeps the last one
        x = est.agl
        if finite(x):
            self.agl = clamp(x, _NEG_BIG, _BIG)
        x = est.agl_sigma
        if finite(x):
            self.agl_sigma = clamp(x, 0.0, _BIG)
        x = est.vz
        if finite(x):
            self.vz = clamp(x, _NEG_BIG, _BIG)
        x = est.vz_sigma
        if finite(x):
            self.vz_sigma = clamp(x, 0.0, _BIG)
        x = est.vx
        if finite(x):
            self.vx = clamp(x, _NEG_BIG, _BIG)
        x = est.below
        if finite(x):
            self.below = clamp(x, 0.0, _BIG)

    def frame(self, contact, d_us):
        # every frame: a confirmed contact cuts the engine at once (d_us [us] since the last)
        if self.modes.frame(contact, d_us):
            self.mode = MODE_TOUCHDOWN
            self.thr.off()
            self.throttle = 0.0
            self.hold_throttle = 0.0

    def cycle(self, t_s, dt, est, faults, pitch):
        # every cycle: dt [s] since the last, faults the core's flags of its frames, pitch
        # [rad] the last valid attitude reading
        if self.mode == MODE_STANDBY:
            return
        thr = self.thr
        self._read(est)
        if dt != self._dt:
            self._set_dt(dt)
        invalid = faults & FAULT_ATTITUDE
        if self._first:
            self._first = False
            if not invalid:
                self.pitch_model = pitch
                self.cos_model = cos(pitch)
        # 1. the step that just ended: mass burnt, attitude moved toward the command
        thr.burn(dt)
        mass = thr.mass
        self.mass = mass
        if self.pitch_cmd != self.pitch_model:  # else the model stays where it is
            d = self._k_pitch * (self.pitch_cmd - self.pitch_model)
            theta_m = self.pitch_model + clamp(d, self._neg_pitch_move, self._pitch_move)
            if theta_m != self.pitch_model:
                self.pitch_model = theta_m
                self.cos_model = cos(theta_m)
        self._check_attitude(pitch, invalid)
        c = self.cos_model

        # 2. the figures the mode machine needs
        a_max = thr.a_max  # [m/s^2]
        a_ref = clamp(_F_REF * (a_max - G_MOON), _A_REF_MIN, _A_REF_MAX)
        agl = self.agl
        sig = self.agl_sigma
        vz = self.vz
        aiding = est.aiding
        if aiding or (self.modes.phase == MODE_TERMINAL and agl <= _H_KEEP_TERM):
            # the altimeters' 1 m minimum range ends aiding in the last second: keep the rate
            v_fin = _V_TERM
        else:
            v_fin = _V_SAFE - _K_VZ_SIGMA * self.vz_sigma
            if v_fin < _V_MIN:
                v_fin = _V_MIN
        # hover time the propellant pays for after braking from vz and a reserve
        dv_left = thr.propellant() * thr.ve / mass  # [m/s]
        t_left = (dv_left - abs(vz) * (1.0 + G_MOON / a_ref)) / G_MOON - _T_RESERVE  # [s]
        k_fit = margin(t_left, v_fin, sig)
        h3 = agl - _K_SIGMA * sig  # [m] the low end of the height
        floor = _BIG  # [m] the lowest plausible height, as far as braking can afford
        d = self.below
        if d > 0.0:
            # an altimeter outvoted for drifting off reads lower, or a lone one rose over
            # ground the lander has not crossed: the data could not tell which is right, so
            # brake for the lower as far as the hover time left pays for descending the
            # difference at v_fin
            band = t_left * v_fin - H_TERMINAL  # [m]
            if d > band:
                d = band
            if d > 0.0:
                floor = agl - d
                if floor < h3:
                    h3 = floor
        mode = self.modes.update(t_s, h3, faults, aiding, k_fit)
        self.mode = mode

        # 3. touchdown: engine off, pitch back to upright
        if mode == MODE_TOUCHDOWN:
            thr.off()
            self.throttle = 0.0
            self.hold_throttle = 0.0
            self.pitch_cmd = limit_step(0.0, self.pitch_cmd, self._pitch_step)
            return

        # 4. the vertical-speed profile against the low end of the height
        if self.modes.low_prop:
            v_fin = _V_LOW_PROP - _K_VZ_SIGMA * self.vz_sigma
            if v_fin < _V_MIN:
                v_fin = _V_MIN
            k = margin(t_left, v_fin, sig)
        else:
            k = clamp(k_fit, K_LOW_PROP, _K_SIGMA)
        h = h3 if k == _K_SIGMA else agl - k * sig  # [m]
        if floor < h:
            h = floor
        self.k_sigma = k
        self.h_low = h
        if h <= _H_THETA_LOW:  # the tilt limit at this height (step 6)
            t_max = _THETA_LOW
        elif h >= _H_THETA_HIGH:
            t_max = _THETA_HIGH
        else:
            t_max = _THETA_LOW + _THETA_SPAN * (h - _H_THETA_LOW) / _H_SPAN
        dh = h - H_TERMINAL
        if dh > 0.0:
            v2 = v_fin * v_fin + 2.0 * a_ref * dh  # [(m/s)^2]
            # the horizontal speed must be gone before the ground: descend no faster than dh
            # over the time the tilt limit here needs to null vx (a_x >= G_MOON t_max)
            vx = self.vx
            q = G_MOON * t_max * dh  # [m^2/s^2]
            if v2 * (vx * vx) > q * q:
                v_mag = q / abs(vx)
                if v_mag < v_fin:
                    v_mag = v_fin
                vz_ref = -v_mag
                a_ff = 0.0  # off the braking curve: no deceleration to feed forward
            else:
                v_mag = math.sqrt(v2)  # [m/s] = -vz_ref
                vz_ref = -v_mag
                a_ff = clamp(a_ref * vz / vz_ref, 0.0, _FF_MAX * a_ref)
        else:
            v_mag = v_fin
            vz_ref = -v_fin
            a_ff = 0.0
        self.vz_ref = vz_ref

        # 5. the throttle law (vertical first)
        thr.step(vz_ref, vz, a_ff, c, dt, mode == MODE_LINK_LOST)
        self.throttle = thr.u
        self.hold_throttle = thr.u if thr.u > thr.hover else min(thr.hover, 1.0)

        # 6. the pitch law: null vx by the end of the profile with what thrust is left.
        # Below b = -a_x (the tilt is atan(-a_x / a_zt)), so no float is spent on signs.
        t_go = v_mag / a_ref  # [s] (-vz_ref / a_ref)
        if t_go < _T_GO_MIN:
            t_go = _T_GO_MIN
        b = _K_X * self.vx / t_go  # [m/s^2]
        a_s = _A_SHARE * a_max
        a_z = thr.a_z
        room = a_s * a_s - a_z * a_z
        if room > 0.0:
            a_lim = math.sqrt(room)
            if b > a_lim:
                b = a_lim
            elif b < 0.0 and -b > a_lim:
                b = -a_lim
        else:
            b = 0.0
        a_zt = a_z
        a_lit = thr.u_min * a_max
        if a_zt < a_lit:
            a_zt = a_lit
        if a_zt < _A_Z_MIN:
            a_zt = _A_Z_MIN
        theta = atan1(b / a_zt)
        if theta > t_max:
            theta = t_max
        elif theta < 0.0 and -theta > t_max:
            theta = -t_max
        self.pitch_cmd = limit_step(theta, self.pitch_cmd, self._pitch_step)

# One altimeter as an aid source of the estimator (docs/algorithms.md section 3):
# validity and range checks, stuck check, innovation gate, low-passed mean (kinematic
# consistency) and noise tests, terrain-step acceptance, the vote with the other
# altimeter, and the health state machine. The status record (health, reason,
# test_ratio, innovation, its variance, time of the last fusion) is telemetry.
#
# Every frame the estimator hands each altimeter its reading (take): a new sample waits,
# with the attitude and the time of its frame, until the estimator judges it (on that
# frame, or on the next when it was a cycle frame): update() for each waiting sample in the
# order they arrived (radar first within a frame), and once without one at a cycle when
# none waits. update() returns what the estimator must do with the sample: nothing, fuse
# it, or reset the terrain by step_mean.
#
# Every float result is a new heap object on a board: a test whose outcome is already
# known is not computed (the mean test's calibration allowance only when the mean is
# beyond its bare limit; the running-mean gains only while they still run), and negated
# constants are names of their own.
import math

from micropython import const

# health states (wire)
NOT_ACQUIRED = const(0)
OK = const(1)
SUSPECT = const(2)
REJECTED = const(3)
FAILED = const(4)

# reasons (wire)
NONE = const(0)
NO_DATA = const(1)
OUT_OF_RANGE = const(2)
INNOVATION = const(3)
STUCK = const(4)
RATE = const(5)
DISAGREE = const(6)
NOISY = const(7)
TERRAIN_STEP = const(8)
INVALID = const(9)

# what update() asks of the estimator
ACT_NONE = const(0)
ACT_FUSE = const(1)
ACT_RESET = const(2)

# votes of the other altimeter on a terrain-step candidate
_VOTE_ALONE = const(0)  # the other is not looking: decide alone
_VOTE_AGREE = const(1)  # the other sees the same step
_VOTE_DISAGREE = const(2)  # the other sees no step
_VOTE_WAIT = const(3)  # the other cannot tell yet

SLOPE = 0.1  # [1] rms terrain slope under a beam: a range rate is vz - slope * vx
SLOPE2 = SLOPE * SLOPE  # [1]
_GATE = 5.0  # [sigma] innovation gate
_GATE2 = 25.0  # [1] _GATE squared
_NEG_GATE = -_GATE
_K_TEST = 0.05  # [1] low-pass gain per sample of the mean and noise tests
_MEAN_LIMIT = 1.0  # [1] |low-passed normalised innovation| above (plus the calibration allowance): drift
_NEG_MEAN_LIMIT = -_MEAN_LIMIT
_K_CAL = 4.0  # [sigma] calibration error (bias, scale) a healthy unit may have, in its 1-sigma
_NOISE_LIMIT = 4.0  # [1] low-passed squared scatter of the normalised innovation above: noisy
_SCATTER_N = const(20)  # [samples] in the gate in a row (1 / _K_TEST) before the noise test's
# scatter is whole: each sample beyond the gate enters it clipped at _GATE2
_STUCK_N = const(5)  # [samples] identical readings in a row ...
_STUCK_BAND = 0.02  # [sigma] ... within this band of the first ...
_STUCK_MOTION = 3.0  # [sigma] ... while inertial motion moved the vehicle this far: stuck
_STEP_N = const(4)  # [samples] a terrain-step candidate needs this many consistent samples ...
_STEP_S = 0.35  # [s] ... spanning at least this long
_STEP_WAIT_S = 1.5  # [s] longest wait for the other altimeter's opinion on a mature candidate
_RECOVER_N = const(3)  # [samples] good samples in a row before (re)entering ok
_NODATA_S = 0.5  # [s] no valid sample for this long: suspect (if one was expected)
_FAIL_S = 1.5  # [s] no valid sample for this long: failed (if one was expected)
_VIEW_S = 0.5  # [s] the other altimeter votes only with a sample this recent
_K_FAST = 0.25  # [1] kinematic check: fast low-pass gain per sample of the offset
_K_SLOW = 0.05  # [1] kinematic check: slow low-pass gain per sample of the offset
# variance of (fast - slow) per unit measurement variance, for white measurement noise
_RATE_VAR = _K_FAST / (2.0 - _K_FAST) + _K_SLOW / (2.0 - _K_SLOW) \
    - 2.0 * _K_FAST * _K_SLOW / (_K_FAST + _K_SLOW - _K_FAST * _K_SLOW)
# variance of the fast low-pass alone, and the factor of the rate's variance once both gains
# have reached their constants (after _N_SLOW samples: 1/n <= _K_SLOW)
_FAST_VAR = _K_FAST / (2.0 - _K_FAST)
_N_SLOW = const(20)  # [samples] 1 / _K_SLOW
_RATE_VAR_SLOW = max(_RATE_VAR, _FAST_VAR - _K_SLOW)
_RATE_CALM = 0.25  # [1] rate test ratio below: moves with inertial motion (can outvote)
_RATE_FLOOR = 0.05  # [m/s] change of the inertial velocity's error over the lag (1 sigma)
_RATE_FLOOR2 = _RATE_FLOOR * _RATE_FLOOR  # [(m/s)^2]
_MIN_LAG = 0.05  # [s] kinematic check: no rate before the low-passes separate this much
_VOTE_LAG = 0.5  # [s] kinematic check: lag needed before this altimeter can outvote the other
_PITCH_SIGMA = 0.003  # [rad] attitude error assumed in the slant-to-vertical conversion
_MARGIN_FRACTION = 0.03  # [1] of the range window: readings near its edges may be missing
_NEVER = -1.0e9  # [s] time stamp of "never"
MAX_WAITING = const(8)  # [samples] held until judged (a newer one replaces the last beyond)
_ALONE = const(-1)  # _vote's answer for a fault no other source outvotes: judged on its own


class Unit:
    # what one altimeter is (docs/algorithms.md section 3): its bits in a frame's flags (valid,
    # new, and core's bad bit), its noise, the calibration errors a healthy unit may carry, its
    # range window; given by name, read once when its Altimeter is made
    def __init__(self, *, valid_bit, new_bit, bad_bit, noise_m, noise_fraction, cal_m,
                 cal_fraction, min_range, max_range):
        self.valid_bit = valid_bit
        self.new_bit = new_bit
        self.bad_bit = bad_bit
        self.noise_m = noise_m  # [m] 1-sigma noise of a reading at zero range
        self.noise_fraction = noise_fraction  # [1] 1-sigma noise per metre of range
        self.cal_m = cal_m  # [m] 1-sigma calibration bias of a healthy unit
        self.cal_fraction = cal_fraction  # [1] 1-sigma calibration scale error of a healthy unit
        self.min_range = min_range  # [m] no valid reading below
        self.max_range = max_range  # [m] no valid reading above


class Altimeter:
    def __init__(self, unit):
        # the unit's parameters are copied: the hot paths read them as this object's own
        self.valid_bit = unit.valid_bit
        self.new_bit = unit.new_bit
        self.bad_bit = unit.bad_bit
        self.noise_m = unit.noise_m
        self.noise_fraction = unit.noise_fraction
        self.cal_m = unit.cal_m
        self.cal_fraction = unit.cal_fraction
        self.min_range = unit.min_range
        self.max_range = unit.max_range
        self.edge = _MARGIN_FRACTION * unit.max_range  # [m] readings this near an edge may be missing
        # the samples waiting to be judged: slant range [m], the sine and cosine of the
        # frame's attitude, its time [us] since INIT (preallocated: a frame only stores
        # references)
        self.w_range = [0.0] * MAX_WAITING
        self.w_sin = [0.0] * MAX_WAITING
        self.w_cos = [1.0] * MAX_WAITING
        self.w_t_us = [0] * MAX_WAITING
        self.waiting = 0  # [samples] waiting to be judged
        self.reset()

    def take(self, flags, rng, s, c, t_us):
        # a frame's reading, flags and range as the core left them; s, c the sine and
        # cosine of its attitude (the estimator's, once for both altimeters)
        if flags & self.bad_bit:
            self.bad_seen = True
        if flags & self.valid_bit and flags & self.new_bit:
            i = self.waiting
            if i < MAX_WAITING:
                self.waiting = i + 1
            else:
                i = MAX_WAITING - 1
            self.w_range[i] = rng
            self.w_sin[i] = s
            self.w_cos[i] = c
            self.w_t_us[i] = t_us

    def arrived(self, t_us, this_frame):
        # how many of the waiting samples arrived before the frame at t_us [us] (or at it too)
        n = self.waiting
        if this_frame:
            return n
        k = 0
        while k < n and self.w_t_us[k] < t_us:
            k += 1
        return k

    def drop(self, n):
        # the first n waiting samples have been judged
        left = self.waiting - n
        for k in range(left):
            self.w_range[k] = self.w_range[n + k]
            self.w_sin[k] = self.w_sin[n + k]
            self.w_cos[k] = self.w_cos[n + k]
            self.w_t_us[k] = self.w_t_us[n + k]
        self.waiting = left

    def reset(self):
        self.waiting = 0  # [samples] waiting to be judged
        self.bad_seen = False  # a frame since the last update had a bad value
        self.health = NOT_ACQUIRED
        self.reason = NO_DATA
        self.test_ratio = 0.0  # [1] innovation^2 / (gate^2 * innovation variance)
        self.innov = 0.0  # [m] last innovation (vertical height)
        self.innov_var = 0.0  # [m^2] its variance
        self.meas = 0.0  # [m] last vertical height measured
        self.meas_var = 0.0  # [m^2] its variance
        self.r_scale = 1.0  # [1] variance inflation of the fusion (noisy, alone)
        self.t_fused = _NEVER  # [s] last fusion
        self.t_good = _NEVER  # [s] last valid sample
        self.t_bad = _NEVER  # [s] last invalid value
        self.acquired = False  # a valid sample has been seen since reset
        self.mean = 0.0  # [1] low-passed normalised innovation
        self.noise = 1.0  # [1] low-passed normalised innovation squared
        self.doubt = False  # this sample says inertial data (or terrain) drifts: bias noise up
        self.n_pass = 0  # [samples] good samples in a row
        self.n_gate = 0  # [samples] in the gate in a row since the last outlier
        self.o_fast = 0.0  # [m] kinematic check: fast low-pass of (measured h - inertial travel)
        self.o_slow = 0.0  # [m] slow low-pass of the same
        self.t_fast = 0.0  # [s] the same low-passes of the sample times
        self.t_slow = _NEVER  # [s] (_NEVER: the low-passes restart at the next sample)
        self.n_kin = 0  # [samples] since the kinematic check (re)started
        self.rate = 0.0  # [m/s] range rate minus inertial vertical velocity
        self.rate_ratio = 0.0  # [1] rate^2 / (gate^2 * its variance)
        self.rate_var = 0.0  # [(m/s)^2] variance of rate
        self.rate_ratio0 = 0.0  # [1] rate^2 / (gate^2 * its variance with a perfect inertial velocity)
        self.rate_var0 = 0.0  # [(m/s)^2] that variance
        self.frozen = -1.0  # [m] stuck check: the reading being repeated
        self.n_same = 0  # [samples] readings in a row within the band of frozen
        self.d_frozen = 0.0  # [m] inertial travel when frozen was first seen
        self.n_step = 0  # [samples] terrain-step candidate: consistent samples
        self.step_mean = 0.0  # [m] candidate: mean innovation
        self.t_step = 0.0  # [s] candidate: time of its first sample
        self.diverged = False  # rejected by the mean test alone: it drifted off the filter
        self.vel_out = False  # rejected for its rate by the velocimeter's vote (until ok again)
        self.t_div = 0.0  # [s] ... at this time,
        self.d_div = 0.0  # [m] ... reading this far below the filter

    def _set(self, health, reason):
        self.health = health
        self.reason = reason
        if health == OK:
            self.vel_out = False

    def in_view(self, t_s):
        # a valid sample recently and not distrusted: its opinion counts in a vote
        return t_s - self.t_good <= _VIEW_S and self.health != REJECTED \
            and self.health != FAILED

    def passing(self, t_s):
        # in view, fused, and every test passes: it can outvote the other altimeter
        return self.health == OK and t_s - self.t_fused <= _VIEW_S and self.n_step == 0 \
            and self.noise <= _NOISE_LIMIT and self.rate_ratio <= _RATE_CALM \
            and self.t_fast - self.t_slow >= _VOTE_LAG

    def below(self, t_s):
        # [m] how far below the filter this unit reads, if the mean test alone outvoted it
        # (it drifted off slowly, never jumped: which of the two drifted, the data could not
        # always tell) and it reads lower, with a recent sample; else 0
        if self.health == REJECTED and self.diverged and self.innov < 0.0 \
                and t_s - self.t_good <= _VIEW_S:
            return -self.innov
        return 0.0

    def vote(self, t_s, t_step, offset, var):
        # this altimeter's opinion of the other's terrain-step candidate (offset [m], var [m^2])
        if self.t_good < t_step or not self.in_view(t_s):
            return _VOTE_ALONE
        if self.n_step == 0:
            return _VOTE_DISAGREE if self.test_ratio <= 1.0 else _VOTE_WAIT
        d = self.step_mean - offset
        if self.n_step >= 2 and d * d <= _GATE2 * (var + self.meas_var):
            return _VOTE_AGREE
        return _VOTE_WAIT

    def shifted(self, offset):
        # the terrain was reset by offset [m]: a candidate that saw the same step is over
        if self.n_step > 0:
            self.step_mean -= offset
            self.mean = 0.0
            self.noise = 1.0
            self.t_slow = _NEVER

    def update(self, i, t_s, t_state_us, c, h, vz, p_hh, travel, v_var, other, vel):
        # waiting sample i judged at its time t_s [s] since INIT, or (i = -1) a cycle without
        # one at t_s. The estimator's state is for t_state_us [us]: h [m], vz [m/s] and p_hh
        # [m^2] its height above terrain, rate and variance, travel [m] the inertial vertical
        # travel; c the cosine of the last cycle's attitude, v_var [(m/s)^2] the variance of
        # the inertial velocity, other the other Altimeter, vel the velocimeter (a third
        # voter on the rate test)
        self.doubt = False
        self.r_scale = 1.0
        if self.bad_seen:
            self.bad_seen = False
            self.t_bad = t_s
        # validity: no sample, or one outside the range window, is judged as missing data
        if i < 0:
            self._no_sample(t_s, h, c, p_hh)
            return ACT_NONE
        rng = self.w_range[i]
        if rng < self.min_range or rng > self.max_range:
            self.t_bad = t_s
            self._no_sample(t_s, h, c, p_hh)
            return ACT_NONE

        # a new valid sample: the vertical height it measures, carried from its frame to
        # now along vz, and the innovation
        s = self.w_sin[i]
        c = self.w_cos[i]
        sig = self.noise_m + self.noise_fraction * rng  # [m]
        e_att = rng * s * _PITCH_SIGMA  # [m]
        r_var = sig * sig * c * c + e_att * e_att  # [m^2]
        hm = rng * c
        d_us = t_state_us - self.w_t_us[i]
        if d_us:
            hm += vz * (d_us * 1e-6)
        nu = hm - h
        s_var = p_hh + r_var
        ratio = nu * nu / (_GATE2 * s_var)
        self.meas = hm
        self.meas_var = r_var
        self.innov = nu
        self.innov_var = s_var
        self.test_ratio = ratio
        if self.diverged and self.health == REJECTED:
            self._diverging(t_s, nu, r_var, other)
        if t_s - self.t_good > _NODATA_S:
            self.t_slow = _NEVER  # after a gap the kinematic check starts again
        self.t_good = t_s
        self.acquired = True
        s_sigma = math.sqrt(s_var)  # [m]
        x = nu / s_sigma
        d = x - self.mean  # the scatter about the mean: a calibration offset is not noise
        self.noise += _K_TEST * (min(_GATE2, d * d) - self.noise)
        self.mean += _K_TEST * (max(_NEG_GATE, min(_GATE, x)) - self.mean)

        # consistency: stuck, then the gate (outside it: an outlier or a terrain step), then
        # inside it the kinematic, noise and mean tests
        if abs(rng - self.frozen) <= _STUCK_BAND * sig:  # stuck: the reading stops varying
            self.n_same += 1
        else:
            self.frozen = rng
            self.n_same = 1
            self.d_frozen = travel
        if self.n_same >= _STUCK_N and abs(travel - self.d_frozen) > _STUCK_MOTION * sig:
            self._set(REJECTED, STUCK)
            self.diverged = False
            self.n_pass = 0
            self.n_step = 0
            return ACT_NONE
        if ratio > 1.0:
            self.n_gate = 0
            return self._outlier(t_s, nu, r_var, hm, travel, v_var, other, vel)
        self.n_step = 0
        self.n_gate += 1
        self._kinematic(t_s, hm - travel, r_var, v_var)
        fault = self._tests(t_s, rng, c, s_sigma, other)

        # the fusion decision: a fault is voted on; off against an exact inertial velocity
        # only, withheld while the other altimeter is looking (never rejected for it)
        if fault != NONE:
            act = self._vote(t_s, fault, s_var, v_var, other, vel)
            if act != _ALONE:
                return act
        elif not self.doubt and self.rate_ratio0 > 1.0 and other.in_view(t_s):
            self.n_pass = 0
            if self.health == OK or self.health == SUSPECT:
                self._set(SUSPECT, RATE)
            return ACT_NONE

        # health: fused while ok; back to ok after _RECOVER_N good samples in a row
        self.n_pass += 1
        if self.health == OK:
            return ACT_FUSE
        if self.n_pass >= _RECOVER_N:
            self._set(OK, NONE)
            return ACT_FUSE
        return ACT_NONE

    def _tests(self, t_s, rng, c, s_sigma, other):
        # inside the gate, the first test that fails: noisy, rate (unless both altimeters move
        # alike against inertial motion: then the inertial data is doubted), disagree (mean)
        if self.noise > _NOISE_LIMIT:
            return NOISY
        if self.rate_ratio > 1.0:
            if self._common_mode(t_s, other):
                self.doubt = True
                return NONE
            return RATE
        if (self.mean > _MEAN_LIMIT or self.mean < _NEG_MEAN_LIMIT) \
                and abs(self.mean) > self._mean_limit(rng, c, s_sigma, other):
            return DISAGREE
        return NONE

    def _vote(self, t_s, fault, s_var, v_var, other, vel):
        # a fault found inside the gate: outvoted, withheld, or (alone) _ALONE to go on to the
        # health step. The other altimeter and inertial motion agree, this one does not:
        # outvoted; but a rate fault against a blunter rate test (the other's noise is larger),
        # or seen through a shorter window than the other's (a faster sample rate, or a window
        # still opening), is only withheld: that the other passes then says nothing against
        # this one, which sees the same terrain (a turn's moves both readings, and a longer
        # window averages it away). Likewise a noise fault whose scatter, in metres, is no
        # larger than the other's: it is fused, down-weighted (alone, below); but only a whole
        # scatter counts: one with recent samples beyond the gate, clipped, reads low (a unit
        # drifting off fast would keep its vote)
        if other.passing(t_s) and (fault != DISAGREE or self.rate_ratio >= other.rate_ratio) \
                and (fault != NOISY or self.n_gate < _SCATTER_N
                     or self.noise * s_var > other.noise * other.innov_var):
            self.n_pass = 0
            if fault == RATE and (other.rate_var > self.rate_var
                                  or self.t_fast - self.t_slow < other.t_fast - other.t_slow):
                if self.health == OK or self.health == SUSPECT:
                    self._set(SUSPECT, RATE)
                return ACT_NONE
            # diverged: first outvoted by the mean test; kept while rejected, unless its
            # rate too is off against inertial motion
            if self.health != REJECTED:
                self.diverged = fault == DISAGREE
                self.t_div = t_s
                self.d_div = -self.innov
            elif fault == RATE:
                self.diverged = False
            self._set(REJECTED, fault)
            return ACT_NONE
        if fault == RATE and self.t_fast - self.t_slow >= _VOTE_LAG \
                and vel.outvotes(t_s, self.rate, self.rate_var0, v_var):
            # the velocimeter agrees with inertial motion, this unit does not (seen through
            # a window long enough to vote with: a young one follows the terrain's detail)
            self.n_pass = 0
            self.diverged = False
            self.vel_out = True
            self._set(REJECTED, RATE)
            return ACT_NONE
        # alone: it is the best there is; fused, down-weighted if noisy
        if fault == NOISY:
            self.r_scale = self.noise
            if self.health == OK or self.health == SUSPECT:
                self._set(SUSPECT, NOISY)
                return ACT_FUSE
        else:
            self.doubt = True
        return _ALONE

    def _common_mode(self, t_s, other):
        # both altimeters move alike against inertial motion (the same sign, the other's rate
        # at least half this one's, within the gate of each other): it is the inertial data
        # (or the terrain's slope), not this altimeter
        if not other.in_view(t_s) or other.t_fast - other.t_slow < _VOTE_LAG \
                or other.rate * self.rate <= 0.0 \
                or 4.0 * other.rate * other.rate < self.rate * self.rate:
            return False
        d = self.rate - other.rate
        return d * d <= _GATE2 * (self.rate_var + other.rate_var)

    def _mean_limit(self, rng, c, s_sigma, other):
        # the mean test's limit: it allows the calibration errors (_K_CAL sigma) of this unit
        # and of the other, which h may follow; never below _MEAN_LIMIT
        cal = _K_CAL * (self.cal_m + other.cal_m + (self.cal_fraction + other.cal_fraction) * rng) * c
        return _MEAN_LIMIT + cal / s_sigma

    def _kinematic(self, t_s, o, r_var, v_var):
        # range rate against inertial motion: the offset o [m] (measured height minus
        # inertial travel) is constant for a healthy altimeter over level terrain; the
        # difference of a fast and a slow low-pass of it, over their difference in lag,
        # is its rate; v_var [(m/s)^2]: the inertial velocity's error is in the rate as well
        if self.t_slow == _NEVER:
            self.n_kin = 0
        # running means at first, so that the first samples are not remembered for long
        self.n_kin += 1
        n = self.n_kin
        if n == 1:
            # the first sample copies: a low-pass from the restart mark would lose t in
            # single precision (-1e9 + (t + 1e9) is 0 in binary32 on a Pico)
            self.o_fast = o
            self.o_slow = o
            self.t_fast = t_s
            self.t_slow = t_s
        else:
            if n < _N_SLOW:
                inv = 1.0 / n
                gf = max(_K_FAST, inv)
                gs = max(_K_SLOW, inv)
                var_gain = max(_RATE_VAR, _FAST_VAR - gs)
            else:
                gf = _K_FAST
                gs = _K_SLOW
                var_gain = _RATE_VAR_SLOW
            self.o_fast += gf * (o - self.o_fast)
            self.o_slow += gs * (o - self.o_slow)
            self.t_fast += gf * (t_s - self.t_fast)
            self.t_slow += gs * (t_s - self.t_slow)
        lag = self.t_fast - self.t_slow
        if lag < _MIN_LAG:
            self.rate = 0.0
            self.rate_ratio = 0.0
            self.rate_var = 0.0
            self.rate_ratio0 = 0.0
            self.rate_var0 = 0.0
            return
        rate = (self.o_fast - self.o_slow) / lag
        self.rate = rate
        var = var_gain * r_var / (lag * lag) + _RATE_FLOOR2
        r2 = rate * rate
        self.rate_ratio0 = r2 / (_GATE2 * var)
        self.rate_var0 = var
        var += v_var
        self.rate_var = var
        self.rate_ratio = r2 / (_GATE2 * var)

    def _outlier(self, t_s, nu, r_var, hm, travel, v_var, other, vel):
        # a sample outside the gate: a spike, a sick altimeter, or the terrain has stepped;
        # hm [m] the height it measures, travel [m] the inertial travel, v_var [(m/s)^2] the
        # variance of the inertial velocity (for _moved, only when a vote vetoes the step),
        # vel the velocimeter
        self.n_pass = 0
        tol = _GATE2 * 2.0 * r_var
        d = nu - self.step_mean
        if self.n_step > 0 and d * d <= tol:
            # consistent with the candidate: the readings move with the vehicle's inertial motion
            self.n_step += 1
            self.step_mean += d / self.n_step
        else:
            self.n_step = 1
            self.step_mean = nu
            self.t_step = t_s
        mature = self.n_step >= _STEP_N and t_s - self.t_step >= _STEP_S
        if mature:
            v = other.vote(t_s, self.t_step, self.step_mean, r_var)
            if v == _VOTE_DISAGREE and (self.step_mean > 0.0 or self.health == REJECTED
                                        or self._moved(t_s, hm, travel, r_var, v_var)):
                # it reads higher, or was distrusted already, or its own readings stepped
                # against inertial motion: it is at fault (and, unless only distrusted
                # already, not a unit that merely drifted off the filter)
                if self.health != REJECTED or self.step_mean > 0.0:
                    self.diverged = False
                self._set(REJECTED, DISAGREE)
                return ACT_NONE
            if v == _VOTE_DISAGREE:
                # it reads lower, and its readings did not step (the filter moved, made of
                # the other alone, or this unit has just acquired): the data cannot tell
                # which is right, so brake for the lower
                v = _VOTE_ALONE
            if v != _VOTE_AGREE and self.vel_out and self.reason == RATE and vel.looking(t_s):
                # outvoted on its rate by the velocimeter (and not since by the other unit's
                # vote), which still looks: a new level that only the unit itself sees is its
                # drift, not terrain; it comes back only through the gate, its rate passing
                return ACT_NONE
            if v == _VOTE_AGREE or v == _VOTE_ALONE \
                    or t_s - self.t_step >= _STEP_S + _STEP_WAIT_S:
                # terrain: reset it, keep the vehicle's height
                self.mean = 0.0
                self.noise = 1.0
                self.t_slow = _NEVER
                self.n_step = 0
                self.n_pass = 1
                self._set(OK, NONE)
                return ACT_RESET
        if self.health == OK or self.health == SUSPECT:
            self._set(SUSPECT, INNOVATION if self.n_step == 1 else TERRAIN_STEP)
        return ACT_NONE

    def _moved(self, t_s, hm, travel, r_var, v_var):
        # this unit's readings moved against inertial motion since its last sample inside
        # the gate: its kinematic offset hm - travel against their fast low-pass, the age
        # carrying the inertial velocity's error; without such a sample, it cannot tell
        if self.n_kin == 0:
            return False
        age = t_s - self.t_fast
        d = hm - travel - self.o_fast
        return d * d > _GATE2 * (2.0 * r_var + v_var * age * age)

    def _diverging(self, t_s, nu, r_var, other):
        # a unit outvoted for drifting off the filter stays a plausible floor while it parts
        # from the filter no faster than the other's rate test could miss a drift of the
        # other (GATE sigma of its rate); faster, it is this unit that moves
        age = t_s - self.t_div
        lim = _GATE * (math.sqrt(other.rate_var) * age + math.sqrt(2.0 * r_var))
        if -nu - self.d_div > lim:
            self.diverged = False

    def _no_sample(self, t_s, h, c, p_hh):
        # no valid sample in this frame: a fault only if one was expected for a while
        gap = t_s - self.t_good
        # (a unit that never sent a bad value needs no subtraction: t_s - _NEVER is large)
        bad_recently = self.t_bad != _NEVER and t_s - self.t_bad <= _NODATA_S
        if gap <= _NODATA_S and not bad_recently:
            return
        if bad_recently and self.health == OK:
            self._set(SUSPECT, INVALID)
            self.n_pass = 0
            return
        if gap <= _NODATA_S:
            return
        rp = h / c  # [m] predicted slant range
        margin = 3.0 * math.sqrt(p_hh) / c + self.edge
        inside = self.min_range + margin < rp < self.max_range - margin
        self.n_pass = 0
        self.n_step = 0
        if not inside:
            # out of its range window: no data is what a healthy unit gives
            self.mean = 0.0
            self.noise = 1.0
            self.t_slow = _NEVER
            self._set(NOT_ACQUIRED, OUT_OF_RANGE)
            return
        why = INVALID if t_s - self.t_bad <= _FAIL_S else NO_DATA
        if not self.acquired:
            self._set(NOT_ACQUIRED, why)
        elif gap > _FAIL_S:
            self._set(FAILED, why)
        elif self.health == OK or self.health == SUSPECT:
            self._set(SUSPECT, why)

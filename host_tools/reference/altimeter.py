"""docs/algorithms.md section 3, the altimeter cross-check: each altimeter an aid source, for n
runs at once."""

from __future__ import annotations

import numpy as np

from host_tools.link import wire
from host_tools.reference.common import (
    NEVER,
    clamp,
)
from host_tools.reference.decisions import SCALE_H, SCALE_V
from host_tools.reference.fields import FieldArrays

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

ACT_NONE, ACT_FUSE, ACT_RESET = 0, 1, 2  # what an aid source answers


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

    def __init__(self, model, name: str, valid_bit: int, new_bit: int, bad_bit: int,
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

"""The reference model's velocimeter: docs/algorithms.md section 3b, in numpy, for n runs at once.

Written from the document, never from the firmware. Every field is an array of shape (n,);
`update` returns the mask of the runs whose sample is to be fused (measurement `meas`,
variance `meas_var`), `m` is always the mask of the runs a phase applies to.
"""

from __future__ import annotations

import numpy as np

from host_tools.link import wire
from host_tools.reference.fields import FieldArrays

NOT_ACQUIRED, OK, SUSPECT, REJECTED, FAILED = (wire.HEALTH.index(h) for h in (
    "not_acquired", "ok", "suspect", "rejected", "failed"))
NONE, NO_DATA, OUT_OF_RANGE, INNOVATION, STUCK, RATE, NOISY, INVALID = (wire.REASONS.index(r) for r in (
    "none", "no_data", "out_of_range", "innovation", "stuck", "rate", "noisy", "invalid_value"))

MAX_SPEED = 1000.0  # [m/s] a beam reading at or beyond this is an invalid value
NOISE = 0.05  # [m/s] 1-sigma of a beam, with a healthy unit's calibration bias
FRACTION = 0.003  # [1] per m/s of speed, with its calibration scale error
GATE2 = 25.0  # [1] the innovation gate (5 sigma), squared
K_TEST = 0.1  # [1 per sample] low-pass gain of the witness's mean and noise
MEAN_LIMIT2 = 1.0  # [1] mean^2 above this times S_z: withheld
FAULT_LIMIT2 = 16.0  # [1] ... and above this times (P_vv + K_TEST/(2 - K_TEST) R_z): rate
NOISE_LIMIT = 4.0 / 25.0  # [1]
JITTER2 = 0.05 * 0.05  # [(m/s)^2] the filter's vz change between samples
STUCK_N = 5  # [samples]
STUCK_MOTION2 = 9.0  # [1]
RECOVER_N = 5  # [samples]
REJECT_US = 1_000_000  # [us]
NODATA_US = 500_000  # [us]
FAIL_US = 1_500_000  # [us]
MIN_SIN = 0.1  # [1]
IN_VIEW_M = 2000.0  # [m] below this height missing data is a fault
PERIOD_US = 190_000  # [us] samples are taken at most this often
VIEW_S = 0.5  # [s] a pair this recent is an opinion on an altimeter's rate
SLOPE = 0.1  # [1] rms terrain slope under an altimeter's beam (section 2)
NEVER_US = -(1 << 29)  # [us] the time of "never"
A, B, BOTH = 1, 2, 3  # beams in use

SCALE_V = 100.0  # [m/s] scale of a decision's margin (host_tools.reference.compare)


class VelocitySource(FieldArrays):
    FLOATS = ("test_ratio", "innov_var", "w_a", "w_b", "w_pitch", "mean", "mean_x", "noise", "nu_last",
              "rate_ins", "vz_same", "meas", "meas_var", "innov_z", "var_z", "a_last", "b_last")
    INTS = ("health", "reason", "w_use", "w_t_us", "t_taken_us", "t_good_us", "t_pass_us", "n_pass",
            "left_out", "n_same")
    BOOLS = ("waiting", "bad_seen", "fuse_z", "paired")
    RESET = {"health": NOT_ACQUIRED, "reason": NO_DATA, "t_taken_us": NEVER_US, "t_good_us": NEVER_US,
             "t_pass_us": NEVER_US}

    def __init__(self, model) -> None:
        self.model = model
        self._alloc(model.n, model.dtype)
        self.cant = np.full(model.n, wire.DEFAULT_BEAM_CANT, dtype=model.dtype)  # [rad]

    def _decide(self, what, value, threshold, m) -> None:
        self.model._decide(f"velocimeter: {what}", value, threshold, SCALE_V, m)

    def reset(self, m, cant=None) -> None:
        for a in self.FLOATS + self.INTS:
            self._put(m, **{a: self.RESET.get(a, 0)})
        for a in self.BOOLS:
            self._put(m, **{a: False})
        if cant is not None:
            self._put(m, cant=self.model._f(cant))

    # --- Take --------------------------------------------------------------------------
    def due(self, run, bflags, t_us):
        """The runs whose frame brings a beam's new sample, PERIOD_US since the last taken."""
        new = (bflags & (wire.BEAM_A_NEW | wire.BEAM_B_NEW)) != 0
        return run & new & (t_us - self.t_taken_us >= PERIOD_US)

    def take(self, m, bflags, a, b, pitch, t_us) -> None:
        use = np.where(((bflags & wire.BEAM_A_VALID) != 0) & ((bflags & wire.BEAM_A_NEW) != 0), A, 0)
        use |= np.where(((bflags & wire.BEAM_B_VALID) != 0) & ((bflags & wire.BEAM_B_NEW) != 0), B, 0)
        m = m & (use != 0)
        self._put(m, waiting=True, t_taken_us=t_us, w_a=a, w_b=b, w_use=use, w_pitch=pitch, w_t_us=t_us)

    # --- The third voter on an altimeter's rate -----------------------------------------
    def looking(self, t):
        """Ok, with a pair judged within VIEW_S of t [s]."""
        recent = t - self.model._f(self.t_good_us) * self.model._us <= VIEW_S
        return (self.health == OK) & self.paired & recent

    def outvotes(self, m, t, rate, var0, v_var):
        """The runs in m where this unit, ok with a pair within VIEW_S of t [s], agrees with the
        inertial velocity and an altimeter's rate (range rate minus it, variance var0 without
        v_var) does not."""
        m = m & self.looking(t)
        r = self.rate_ins
        var = K_TEST / (2.0 - K_TEST) * self.var_z + JITTER2
        lim = GATE2 * (var + v_var)
        self._decide("outvotes: rate_ins within GATE", np.abs(r), np.sqrt(lim), m)
        d = rate - r
        # the terrain's slope under the altimeter's beam moves its range rate by slope * vx
        lim2 = GATE2 * (var0 + var + SLOPE * SLOPE * (self.meas * self.meas))
        self._decide("outvotes: altimeter's rate off GATE", np.abs(d), np.sqrt(lim2), m & (r * r <= lim))
        return m & (r * r <= lim) & (d * d > lim2)

    # --- No sample ----------------------------------------------------------------------
    def no_sample(self, m, t_us, h) -> None:
        m = m & (self.health != NOT_ACQUIRED)
        gap = t_us - self.t_good_us
        why = np.where(self.bad_seen, INVALID, NO_DATA)
        m = m & (gap > NODATA_US)
        self._put(m, paired=False)
        self._decide("no sample: h > IN_VIEW_M", h, IN_VIEW_M, m)
        high = m & (h > IN_VIEW_M)
        self._put(high, health=NOT_ACQUIRED, reason=OUT_OF_RANGE, n_pass=0)
        m = m & ~high
        failed = m & (gap > FAIL_US)
        suspect = m & ~failed & (self.health == OK)
        self._put(failed, health=FAILED, reason=why)
        self._put(suspect, health=SUSPECT, reason=why, n_pass=0)

    # --- Update ---------------------------------------------------------------------------
    def update(self, m, vx, vz, p_vx, p_vv, ax, az, t_state_us, us, v_ins, vx_ins, x_var, backed):
        """Section 3b, Update, for the runs in m (each with a sample waiting); returns fuse (vx), and
        fuse_z (vz too). v_ins, vx_ins: the inertial velocities, x_var the variance of vx_ins;
        backed: the runs where an altimeter passes every test."""
        f = self.model._f
        dt_ = self.model.dtype
        t_us = self.w_t_us
        self._put(m, waiting=False, t_good_us=t_us, bad_seen=False, fuse_z=False)
        was_out = (self.health == REJECTED) | (self.health == FAILED)
        first = m & (self.health == NOT_ACQUIRED)
        self._put(first, health=SUSPECT, reason=NO_DATA, t_pass_us=t_us)
        dt = f(t_us - t_state_us) * us  # [s]
        vx_t = vx + ax * dt
        vz_t = vz + az * dt
        a, b = self.w_a, self.w_b
        s = np.sin(self.w_pitch).astype(dt_)
        c = np.sqrt(np.maximum(0.0, 1.0 - s * s)).astype(dt_)
        sa = np.sin(self.cant).astype(dt_)
        ca = np.sqrt(1.0 - sa * sa).astype(dt_)
        failed = np.zeros_like(m)
        why = np.zeros(self.model.n, dtype=np.int64)

        def fail(mask, reason):
            nonlocal failed, why
            mask = mask & ~failed
            failed = failed | mask
            why = np.where(mask, reason, why)

        # 2. stuck
        same = m & (a == self.a_last) & (b == self.b_last)
        n_same = np.where(same, self.n_same + 1, 1)
        d = vz_t - self.vz_same
        motion = d * d - STUCK_MOTION2 * (p_vv + NOISE * NOISE)
        self._decide("stuck: vz moved", motion, 0.0, same & (n_same >= STUCK_N))
        fail(same & (n_same >= STUCK_N) & (motion > 0.0), STUCK)
        self._put(m, n_same=n_same, a_last=a, b_last=b)
        self._put(m & ~same, vz_same=vz_t)

        # 3. both beams
        use = np.where(m, self.w_use, 0)
        self._put(m & ~failed & (use != BOTH), paired=False)  # the noise test restarts at the next pair
        both = m & ~failed & (use == BOTH)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            u = (a + b) * (0.5 / ca)
            w = (b - a) * (0.5 / sa)
            sig = NOISE + FRACTION * np.abs(u)
            var = sig * sig
            s2 = s * s
            v_u = 0.5 / (ca * ca)
            v_w = 0.5 / (sa * sa)
            r_x = var * (v_w - s2 * (v_w - v_u))
            r_z = var * (v_u + s2 * (v_w - v_u))
            nu_x = u * s + w * c - vx_t
            vz_m = w * s - u * c  # vz measured
            nu_z = vz_m - vz_t
            s_z = p_vv + r_z
            ratio_x = nu_x * nu_x / (GATE2 * (p_vx + r_x))
            ratio_z = nu_z * nu_z / (GATE2 * s_z)
            self._put(both, test_ratio=np.maximum(ratio_x, ratio_z),
                      innov_var=np.where(ratio_x > ratio_z, p_vx + r_x, s_z), innov_z=nu_z, var_z=r_z)
            self._put(both, mean=self.mean + K_TEST * (nu_z - self.mean))
            d = nu_z - self.nu_last  # the change from the last pair's: the filter's slow error cancels
            self._put(both & self.paired,
                      noise=self.noise + K_TEST * (d * d / (GATE2 * (2.0 * r_z + JITTER2)) - self.noise))
            o = vz_m - v_ins - az * dt  # vz measured minus the inertial velocity, at the sample
            self._put(both, rate_ins=np.where(self.paired, self.rate_ins + K_TEST * (o - self.rate_ins), o))
            self._put(both, paired=True, nu_last=nu_z)
            # vx measured minus the inertial vx (the ax dt of both cancel), never restarted
            self._put(both, mean_x=self.mean_x + K_TEST * (nu_x + vx - vx_ins - self.mean_x))
            self._decide("pair: ratio vx > 1", ratio_x, 1.0, both)
            # the unit's own tests first (the mean only where an altimeter backs the filter's vz),
            # then the gates (vz's only where backed)
            self._decide("noise > limit", self.noise, NOISE_LIMIT, both)
            fail(both & (self.noise > NOISE_LIMIT), NOISY)
            m2x = self.mean_x * self.mean_x
            v_x = x_var + K_TEST / (2.0 - K_TEST) * r_x  # of mean_x: vx_ins's error and the low-pass's
            self._decide("vx mean > 1 sigma", m2x, v_x, both & ~failed)
            self._decide("vx mean > fault limit", m2x - FAULT_LIMIT2 * v_x, 0.0, both & ~failed & (m2x > v_x))
            # found at fault against vx_ins now: the filter's vx goes back to it (`reset_x`)
            self.reset_x = both & ~failed & (m2x > FAULT_LIMIT2 * v_x) & ~was_out
            fail(both & (m2x > FAULT_LIMIT2 * v_x), RATE)
            # a rejected or failed unit comes back only within 1 sigma
            out = (self.health == REJECTED) | (self.health == FAILED)
            withheld_x = both & ~failed & (m2x > v_x) & out
            failed = failed | withheld_x
            m2 = self.mean * self.mean
            mean_off = m2 - MEAN_LIMIT2 * s_z
            mean_fault = m2 - FAULT_LIMIT2 * (p_vv + K_TEST / (2.0 - K_TEST) * r_z)
            judged = both & ~failed & backed
            self._decide("mean > limit", mean_off, 0.0, judged)
            self._decide("mean > fault limit", mean_fault, 0.0, judged & (mean_off > 0.0))
            fail(judged & (mean_off > 0.0) & (mean_fault > 0.0), RATE)
            withheld = judged & ~failed & (mean_off > 0.0)
            failed = failed | withheld
            withheld = withheld | withheld_x
            both = both & ~failed
            self._decide("pair: ratio vz > 1", ratio_z, 1.0, both & backed)
            ratio_z = np.where(backed, ratio_z, 0.0)
            inside = both & (ratio_x <= 1.0) & (ratio_z <= 1.0)
            self._put(inside, left_out=0)
            # one by one: the beam that agrees is used alone, the other left out
            split = both & ~inside
            sp_a, cp_a = s * ca - c * sa, c * ca + s * sa
            sp_b, cp_b = s * ca + c * sa, c * ca - s * sa

            def agrees(mi, sp, cp, name):
                nu = mi - (vx_t * sp - vz_t * cp)
                lim = GATE2 * (var + sp * sp * p_vx + cp * cp * p_vv)
                self._decide(f"{name} agrees", nu * nu - lim, 0.0, split)
                return nu * nu <= lim

            ok_a = agrees(a, sp_a, cp_a, "beam A")
            ok_b = agrees(b, sp_b, cp_b, "beam B")
            only_a = split & ok_a & ~ok_b
            only_b = split & ok_b & ~ok_a
            self._put(only_a, left_out=B)
            self._put(only_b, left_out=A)
            self._put(split & ~only_a & ~only_b, left_out=0)
            fail(split & ~only_a & ~only_b, INNOVATION)
            use = np.where(only_a, A, np.where(only_b, B, use))

            # 4. one beam
            one = m & ~failed & ((use == A) | (use == B))
            mi = np.where(use == A, a, b)
            sp = np.where(use == A, sp_a, sp_b)
            cp = np.where(use == A, cp_a, cp_b)
            self._decide("lone beam: |sin| < MIN_SIN", np.abs(sp), MIN_SIN, one)
            # too near the vertical to see vx: of no use, and no fault
            steep = one & (np.abs(sp) < MIN_SIN)
            self._put(steep, t_pass_us=t_us)
            self._set(steep & ((self.health == OK) | (self.health == SUSPECT)), SUSPECT, NO_DATA)
            one = one & ~steep
            sig1 = NOISE + FRACTION * np.abs(mi)
            r_1 = (sig1 * sig1 + cp * cp * p_vv) / (sp * sp)
            nu_1 = (mi + vz_t * cp) / sp - vx_t
            ratio_1 = nu_1 * nu_1 / (GATE2 * (p_vx + r_1))
            self._put(one, test_ratio=ratio_1, innov_var=p_vx + r_1)
            self._decide("lone beam: ratio > 1", ratio_1, 1.0, one)
            fail(one & (ratio_1 > 1.0), INNOVATION)
            nu = np.where(use == BOTH, nu_x, nu_1)
            r = np.where(use == BOTH, r_x, r_1)

        # 6. failed (withheld: the mean beyond the filter's 1 sigma only)
        gated = failed & (why == INNOVATION)
        young = gated & (t_us - self.t_pass_us <= REJECT_US)
        self._put(failed, n_pass=0)
        trusted = (self.health != REJECTED) & (self.health != FAILED)
        self._set(withheld & trusted, SUSPECT, RATE)
        self._set(young & trusted, SUSPECT, why)
        self._set(failed & ~young & ~withheld, REJECTED, why)

        # 5. passed
        passed = m & ~failed & ~steep
        distrusted = (self.health == REJECTED) | (self.health == FAILED)
        # a distrusted unit comes back only through the pair, RECOVER_N in a row
        n_pass = np.where(distrusted & (use != BOTH), 0, self.n_pass + 1)
        self._put(passed, t_pass_us=t_us, n_pass=n_pass)
        held = passed & distrusted & ((use != BOTH) | (n_pass < RECOVER_N))
        go = passed & ~held
        self._set(go & (use != BOTH), SUSPECT, np.where(self.left_out != 0, INNOVATION, NO_DATA))
        ok = go & (use == BOTH) & (n_pass >= RECOVER_N)
        self._set(ok, OK, NONE)
        # its vz fused: the filter moves by P_vv / S_z of the innovation, the noise test's next
        # change is from what is left of it
        self._put(ok & ~backed, fuse_z=True, nu_last=self.innov_z * self.var_z / (p_vv + self.var_z))
        fuse = go & ((self.health == OK) | (self.health == SUSPECT))
        # a lone beam's vx carries the filter's own vz error: not fused again once vx is known
        # better than that
        lone = fuse & (use != BOTH)
        with np.errstate(invalid="ignore"):
            known = p_vx * sp * sp - cp * cp * p_vv
        self._decide("lone beam: P_vx sin^2 <= cos^2 P_vv", known, 0.0, lone)
        fuse = fuse & ~(lone & (known <= 0.0))
        self._put(fuse, meas=vx + nu, meas_var=r)
        return fuse

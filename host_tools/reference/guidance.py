"""docs/algorithms.md sections 4 and 5, guidance, throttle control and modes (a part of
ReferenceModel)."""

from __future__ import annotations

import numpy as np

from host_tools.reference.common import (
    FAULT_ATTITUDE,
    FAULT_LINK_GAP,
    G0,
    G_MOON,
    clamp,
)
from host_tools.reference.decisions import SCALE_H, SCALE_V

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


class Guidance:
    """Sections 4 and 5 of ReferenceModel: the vertical-speed profile, the throttle and pitch laws,
    the modes."""

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

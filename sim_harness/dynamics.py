"""Vehicle dynamics: a point mass in the vertical plane with a lagged engine and pitch.

State: position (x, z) [m], velocity (vx, vz) [m/s], propellant [kg], thrust T [N], pitch
[rad]. Over one step of length h the commands (throttle u, pitch command) are held and:

    engine    dT/dt = (u Tmax - T) / tau_e              exact: T(t) = Tc + (T0 - Tc) e^(-t/tau_e)
    mass      dm/dt = -T / (Isp g0)                     exact: m(t) = m0 - I(t) / (Isp g0),
              I(t) = Tc t + (T0 - Tc) tau_e (1 - e^(-t/tau_e))   (the impulse)
    pitch     dth/dt = clamp((th_c - th) / tau_p, -rate, +rate)  exact: a linear ramp at the
              rate limit until |th_c - th| = rate tau_p, then an exponential approach
    motion    a(t) = T/m (-sin th, cos th) + (0, -g)

Thrust, mass and pitch are exact closed forms of time, so the acceleration is a known function
of time within the step and the motion is integrated with Simpson's rule (what RK4 reduces to
when the right-hand side depends on time only):

    v(h) = v0 + h/6 (a0 + 4 a_mid + a_h)
    r(h) = r0 + h v0 + h^2/6 (a0 + 2 a_mid)

Propellant: when the step would burn more than is left, the step is split at the instant the
tanks run dry (found by Newton's method on I(t)); from then on the thrust is zero whatever the
command. A throttle command is clamped to 0 or [min_throttle, 1]; NaN means 0. A pitch command
is clamped to +-max_pitch; NaN holds the previous command.

Plain Python floats and `math` throughout: this runs once per control step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim_harness.scenario import Vehicle


class StepMeans:
    """What acted on the vehicle during the last step (the log's thrust_n and pitch_rad)."""

    __slots__ = ("thrust", "pitch", "specific_force")

    def __init__(self):
        self.thrust = 0.0  # [N] mean thrust over the step (exact: impulse / h)
        self.pitch = 0.0  # [rad] mean pitch over the step (Simpson)
        self.specific_force = 0.0  # [m/s^2] mean T/m over the step (Simpson): the IMU's truth


class Dynamics:
    def __init__(self, vehicle: Vehicle, x: float, z: float, vx: float, vz: float,
                 propellant: float, pitch: float = 0.0, throttle: float = 0.0):
        self.v = vehicle
        self.t = 0.0  # [s]
        self.x = float(x)  # [m]
        self.z = float(z)  # [m]
        self.vx = float(vx)  # [m/s]
        self.vz = float(vz)  # [m/s]
        self.propellant = float(propellant)  # [kg]
        self.thrust = float(throttle) * vehicle.max_thrust_n if propellant > 0.0 else 0.0  # [N]
        self.pitch = float(pitch)  # [rad]
        self.throttle_cmd = 0.0  # [1] the command in force (after clamping)
        self.pitch_cmd = float(pitch)  # [rad]
        self.ran_dry_at = None  # [s] when the tanks ran dry, or None
        self.command_clamps = 0  # commands outside their range (clamped)
        self.means = StepMeans()
        self._ve = vehicle.isp_s * vehicle.g0_mps2  # [m/s] exhaust velocity

    @property
    def mass(self) -> float:
        """[kg] total mass now."""
        return self.v.dry_mass_kg + self.propellant

    def set_command(self, throttle: float, pitch_cmd: float) -> None:
        """Clamp and hold a command: throttle 0 or [min_throttle, 1], |pitch| <= max_pitch."""
        v = self.v
        u = throttle
        if not u == u:  # NaN: the engine goes off
            u = 0.0
            self.command_clamps += 1
        elif u <= 0.0:
            if u < 0.0:
                self.command_clamps += 1
            u = 0.0
        elif u < v.min_throttle:
            u = v.min_throttle
            self.command_clamps += 1
        elif u > 1.0:
            u = 1.0
            self.command_clamps += 1
        self.throttle_cmd = u
        p = pitch_cmd
        if not p == p:
            self.command_clamps += 1
            return  # NaN: hold the previous pitch command
        lim = v.max_pitch_rad
        if p > lim or p < -lim:
            p = lim if p > 0.0 else -lim
            self.command_clamps += 1
        self.pitch_cmd = p

    def step(self, h: float) -> None:
        """Advance by h [s] with the held command; fills `self.means`."""
        tc = self.throttle_cmd * self.v.max_thrust_n if self.propellant > 0.0 else 0.0
        burn = self._impulse(tc, h) / self._ve  # [kg]
        if self.propellant > 0.0 and burn >= self.propellant:
            te = self._dry_time(tc, h)
            i1, p1, f1 = self._advance(te, tc)
            self.propellant = 0.0
            self.thrust = 0.0
            self.ran_dry_at = self.t
            i2, p2, f2 = self._advance(h - te, 0.0)
            self.means.thrust = (i1 + i2) / h
            self.means.pitch = (p1 * te + p2 * (h - te)) / h
            self.means.specific_force = (f1 * te + f2 * (h - te)) / h
            return
        impulse, pitch_mean, f_mean = self._advance(h, tc)
        self.means.thrust = impulse / h
        self.means.pitch = pitch_mean
        self.means.specific_force = f_mean

    # ------------------------------------------------------------ closed forms

    def _impulse(self, tc: float, t: float) -> float:
        """[N s] integral of the thrust over [0, t] from the current thrust toward tc."""
        tau = self.v.engine_time_constant_s
        if tau <= 0.0:
            return tc * t
        return tc * t + (self.thrust - tc) * tau * (1.0 - math.exp(-t / tau))

    def _dry_time(self, tc: float, h: float) -> float:
        """[s] the instant within [0, h] when the impulse reaches propellant * ve."""
        target = self.propellant * self._ve
        tau = self.v.engine_time_constant_s
        lo, hi = 0.0, h
        t = h * target / max(self._impulse(tc, h), 1e-300)
        for _ in range(60):  # Newton, safeguarded by bisection
            if not lo < t < hi:
                t = 0.5 * (lo + hi)
            f = self._impulse(tc, t) - target
            if abs(f) <= 1e-12 * target:
                break
            if f > 0.0:
                hi = t
            else:
                lo = t
            thrust_t = tc + (self.thrust - tc) * math.exp(-t / tau) if tau > 0.0 else tc
            t = t - f / thrust_t if thrust_t > 0.0 else 0.5 * (lo + hi)
        return min(max(t, 0.0), h)

    def _pitch_after(self, t: float) -> float:
        """[rad] pitch after t [s] toward the held command (rate-limited first order)."""
        v = self.v
        th = self.pitch
        e = self.pitch_cmd - th
        rate = v.pitch_rate_limit_radps
        tau = v.pitch_time_constant_s
        knee = rate * tau  # [rad] error below which the response is exponential
        if e > knee:
            t_ramp = (e - knee) / rate
            if t >= t_ramp:
                return self.pitch_cmd - knee * math.exp(-(t - t_ramp) / tau)
            return th + rate * t
        if e < -knee:
            t_ramp = (-e - knee) / rate
            if t >= t_ramp:
                return self.pitch_cmd + knee * math.exp(-(t - t_ramp) / tau)
            return th - rate * t
        return self.pitch_cmd - e * math.exp(-t / tau)

    def _advance(self, h: float, tc: float):
        """Move the state over h with thrust heading to tc; returns (impulse, mean pitch, mean T/m)."""
        if h <= 0.0:
            return 0.0, self.pitch, self.thrust / self.mass
        v = self.v
        tau = v.engine_time_constant_s
        t0 = self.thrust
        if tau > 0.0:
            e_mid = math.exp(-0.5 * h / tau)
            e_end = e_mid * e_mid
            tm = tc + (t0 - tc) * e_mid
            t1 = tc + (t0 - tc) * e_end
            i_mid = tc * 0.5 * h + (t0 - tc) * tau * (1.0 - e_mid)
            i_end = tc * h + (t0 - tc) * tau * (1.0 - e_end)
        else:
            tm = t1 = tc
            i_mid = tc * 0.5 * h
            i_end = tc * h
        ve = self._ve
        m0 = v.dry_mass_kg + self.propellant
        mm = m0 - i_mid / ve
        m1 = m0 - i_end / ve
        th0 = self.pitch
        thm = self._pitch_after(0.5 * h)
        th1 = self._pitch_after(h)
        g = v.gravity_mps2
        f0 = t0 / m0
        fm = tm / mm
        f1 = t1 / m1
        ax0, az0 = -f0 * math.sin(th0), f0 * math.cos(th0) - g
        axm, azm = -fm * math.sin(thm), fm * math.cos(thm) - g
        ax1, az1 = -f1 * math.sin(th1), f1 * math.cos(th1) - g
        h6 = h / 6.0
        hh6 = h * h6
        self.x += h * self.vx + hh6 * (ax0 + 2.0 * axm)
        self.z += h * self.vz + hh6 * (az0 + 2.0 * azm)
        self.vx += h6 * (ax0 + 4.0 * axm + ax1)
        self.vz += h6 * (az0 + 4.0 * azm + az1)
        self.propellant -= i_end / ve
        if self.propellant < 0.0:
            self.propellant = 0.0  # rounding at the dry instant
        self.thrust = t1
        self.pitch = th1
        self.t += h
        return i_end, (th0 + 4.0 * thm + th1) / 6.0, (f0 + 4.0 * fm + f1) / 6.0


def touchdown_fraction(gap0: float, gap1: float) -> float:
    """The fraction of a step at which the footpad gap (height above terrain) reaches zero.

    Linear in the gap between the step's ends: over a 20 ms step at touchdown speeds the
    error is well under a millimetre.
    """
    if gap0 <= 0.0:
        return 0.0
    return gap0 / (gap0 - gap1)


def judge_touchdown(vz: float, vx: float, pitch: float, vehicle: Vehicle) -> str:
    """landed if within every touchdown limit of the vehicle, else crashed."""
    if (abs(vz) <= vehicle.max_touchdown_vertical_mps and abs(vx) <= vehicle.max_touchdown_horizontal_mps
            and abs(pitch) <= vehicle.max_touchdown_pitch_rad):
        return "landed"
    return "crashed"


# ---------------------------------------------------------------- n runs at once (the model in the loop)


@dataclass
class Fleet:
    """Per-run constants, arrays of shape (n,)."""

    dry: np.ndarray
    tmax: np.ndarray
    ve: np.ndarray
    umin: np.ndarray
    tau_e: np.ndarray
    tau_p: np.ndarray
    rate_p: np.ndarray
    max_pitch: np.ndarray
    g: np.ndarray
    td_vz: np.ndarray
    td_vx: np.ndarray
    td_pitch: np.ndarray


def _arr(values) -> np.ndarray:
    return np.array([float(v) for v in values])


class VecDynamics:
    """sim_harness.dynamics for n runs at once (closed forms over a step, Simpson's rule)."""

    def __init__(self, scenarios) -> None:
        v = [s.vehicle for s in scenarios]
        ini = [s.initial for s in scenarios]
        self.p = Fleet(
            dry=_arr(x.dry_mass_kg for x in v), tmax=_arr(x.max_thrust_n for x in v),
            ve=_arr(x.isp_s * x.g0_mps2 for x in v), umin=_arr(x.min_throttle for x in v),
            tau_e=_arr(x.engine_time_constant_s for x in v), tau_p=_arr(x.pitch_time_constant_s for x in v),
            rate_p=_arr(x.pitch_rate_limit_radps for x in v), max_pitch=_arr(x.max_pitch_rad for x in v),
            g=_arr(x.gravity_mps2 for x in v), td_vz=_arr(x.max_touchdown_vertical_mps for x in v),
            td_vx=_arr(x.max_touchdown_horizontal_mps for x in v),
            td_pitch=_arr(x.max_touchdown_pitch_rad for x in v))
        self.x = _arr(i.downrange_m for i in ini)
        self.z = _arr(i.altitude_m for i in ini)
        self.vx = _arr(i.horizontal_speed_mps for i in ini)
        self.vz = _arr(i.vertical_speed_mps for i in ini)
        self.prop = _arr(s.propellant_kg for s in scenarios)
        self.thrust = np.where(self.prop > 0, _arr(i.throttle for i in ini) * self.p.tmax, 0.0)
        self.pitch = _arr(i.pitch_rad for i in ini)
        self.u = _arr(i.throttle for i in ini)
        self.pitch_cmd = self.pitch.copy()
        self.f_mean = np.zeros_like(self.x)  # [m/s^2] mean T/m over the last step (the IMU's truth)

    @property
    def mass(self) -> np.ndarray:
        return self.p.dry + self.prop

    def set_command(self, throttle: np.ndarray, pitch_cmd: np.ndarray) -> None:
        p = self.p
        u = np.where(np.isnan(throttle) | (throttle <= 0.0), 0.0, np.clip(throttle, p.umin, 1.0))
        self.u = u
        keep = np.isnan(pitch_cmd)
        self.pitch_cmd = np.where(keep, self.pitch_cmd, np.clip(pitch_cmd, -p.max_pitch, p.max_pitch))

    def _pitch_after(self, t: float) -> np.ndarray:
        p = self.p
        th = self.pitch
        e = self.pitch_cmd - th
        knee = p.rate_p * p.tau_p
        t_up = (e - knee) / p.rate_p
        t_dn = (-e - knee) / p.rate_p
        exp_ = np.exp
        up = np.where(t >= t_up, self.pitch_cmd - knee * exp_(-np.maximum(t - t_up, 0.0) / p.tau_p),
                      th + p.rate_p * t)
        dn = np.where(t >= t_dn, self.pitch_cmd + knee * exp_(-np.maximum(t - t_dn, 0.0) / p.tau_p),
                      th - p.rate_p * t)
        mid = self.pitch_cmd - e * exp_(-t / p.tau_p)
        return np.where(e > knee, up, np.where(e < -knee, dn, mid))

    def step(self, h: float, active: np.ndarray) -> None:
        p = self.p
        tc = np.where(self.prop > 0.0, self.u * p.tmax, 0.0)
        t0 = self.thrust
        e_mid = np.exp(-0.5 * h / p.tau_e)
        e_end = e_mid * e_mid
        tm = tc + (t0 - tc) * e_mid
        t1 = tc + (t0 - tc) * e_end
        i_mid = tc * 0.5 * h + (t0 - tc) * p.tau_e * (1.0 - e_mid)
        i_end = tc * h + (t0 - tc) * p.tau_e * (1.0 - e_end)
        m0 = p.dry + self.prop
        mm = m0 - i_mid / p.ve
        m1 = m0 - i_end / p.ve
        th0 = self.pitch
        thm = self._pitch_after(0.5 * h)
        th1 = self._pitch_after(h)
        f0, fm, f1 = t0 / m0, tm / mm, t1 / m1
        ax0, az0 = -f0 * np.sin(th0), f0 * np.cos(th0) - p.g
        axm, azm = -fm * np.sin(thm), fm * np.cos(thm) - p.g
        ax1, az1 = -f1 * np.sin(th1), f1 * np.cos(th1) - p.g
        h6 = h / 6.0
        hh6 = h * h6
        a = active
        self.x = np.where(a, self.x + h * self.vx + hh6 * (ax0 + 2.0 * axm), self.x)
        self.z = np.where(a, self.z + h * self.vz + hh6 * (az0 + 2.0 * azm), self.z)
        self.vx = np.where(a, self.vx + h6 * (ax0 + 4.0 * axm + ax1), self.vx)
        self.vz = np.where(a, self.vz + h6 * (az0 + 4.0 * azm + az1), self.vz)
        prop = self.prop - i_end / p.ve
        dry = prop <= 0.0
        self.prop = np.where(a, np.maximum(prop, 0.0), self.prop)
        self.thrust = np.where(a, np.where(dry, 0.0, t1), self.thrust)
        self.pitch = np.where(a, th1, self.pitch)
        self.f_mean = np.where(a, (f0 + 4.0 * fm + f1) / 6.0, self.f_mean)

# Throttle control: the vertical law, the engine's limits and lag, the mass.
#
# A PI law on the estimated vertical speed turns a speed reference into a vertical
# thrust acceleration, and that into a throttle with the tracked mass and the modelled
# pitch (thrust * cos(pitch) is what holds the lander up). The command is 0 (engine off)
# or within [min_throttle, 1] and changes by at most _U_RATE per second; the integral
# stops when the command sits on a limit (anti-windup). The mass falls with the
# propellant that the commands burnt, through a model of the engine's lag.
# docs/algorithms.md section 4 is the specification.
#
# Every float result is a new heap object on a board: the terms that depend on dt alone are
# computed when dt changes (every step at a steady frame rate has the same dt).

from flight.common import DT_RATE_MAX, G_MOON

G0 = 9.80665  # [m/s^2] standard gravity of the Isp definition
_K_V = 1.0  # [1/s] proportional gain on the vertical speed error
_K_I = 0.1  # [1/s^2] integral gain on the vertical speed error
_I_MAX = 0.5  # [m/s^2] bound of the integral term
_NEG_I_MAX = -_I_MAX  # (a negated name would be a new float at every use)
_U_RATE = 1.5  # [1/s] largest change of a lit engine's throttle command per second


def engine_gain(dt, tau):
    # [1] the weight of one step of a first-order lag: Pade (1,1) form of 1 - e^(-dt/tau),
    # at most 1
    k = 1.0
    d = 2.0 * tau + dt
    if d > 0.0:
        k = 2.0 * dt / d
    if k > 1.0:
        k = 1.0
    return k


class Throttle:
    def __init__(self):
        self.u = 0.0  # [1] the throttle command in force (0: engine off)
        self.thrust = 0.0  # [N] modelled thrust (the engine's lag behind u)
        self.mass = 0.0  # [kg] tracked vehicle mass
        self.dry_mass = 0.0  # [kg]
        self.max_thrust = 1.0  # [N]
        self.ve = 1.0  # [m/s] exhaust velocity isp * g0
        self.u_min = 0.0  # [1] lowest throttle of a lit engine
        self.tau = 0.0  # [s] engine time constant
        self.integ = 0.0  # [m/s^2] integral term
        self.a_z = 0.0  # [m/s^2] vertical thrust acceleration demanded this step
        self.a_max = 0.0  # [m/s^2] thrust acceleration at full throttle, at the tracked mass
        self.hover = 0.0  # [1] throttle that balances gravity at the modelled pitch
        self._dt = -1.0  # [s] the step the two terms below are for (-1: none yet)
        self._k_engine = 0.0  # [1] engine_gain(dt, tau)
        self._du = 0.0  # [1] largest change of the command over dt

    def reset(self, prior):
        Throttle.__init__(self)
        self.mass = prior.mass
        self.dry_mass = prior.dry_mass
        self.max_thrust = prior.max_thrust
        self.ve = prior.isp * G0
        self.u_min = prior.min_throttle
        self.tau = prior.engine_tau
        self.a_max = self.max_thrust / self.mass

    def propellant(self):
        # [kg] what the tracked mass says is left
        return self.mass - self.dry_mass

    def _set_dt(self, dt):
        self._dt = dt
        self._k_engine = engine_gain(dt, self.tau)
        h = dt
        if h > DT_RATE_MAX:
            h = DT_RATE_MAX
        self._du = _U_RATE * h

    def burn(self, dt):
        # the command in force over the step that just ended: the engine model follows it,
        # the mass loses the propellant of the mean modelled thrust
        if dt != self._dt:
            self._set_dt(dt)
        t_old = self.thrust
        self.thrust += self._k_engine * (self.u * self.max_thrust - self.thrust)
        self.mass -= 0.5 * (t_old + self.thrust) * dt / self.ve
        if self.mass < self.dry_mass:
            self.mass = self.dry_mass
        self.a_max = self.max_thrust / self.mass

    def off(self):
        self.u = 0.0
        self.integ = 0.0
        self.a_z = 0.0

    def step(self, vz_ref, vz, a_ff, cos_p, dt, hold):
        # one step of the law: reference vz_ref [m/s], estimate vz [m/s], feed-forward
        # acceleration a_ff [m/s^2], cosine of the modelled pitch, step dt [s]; hold: never
        # less than the hover throttle (after a link gap). Sets self.u and self.a_z.
        if dt != self._dt:
            self._set_dt(dt)
        e = vz_ref - vz  # [m/s]
        a_cmd = G_MOON + a_ff + _K_V * e + self.integ  # [m/s^2] what the law asks for
        self.a_z = a_cmd
        if a_cmd < 0.0:
            self.a_z = 0.0
        elif a_cmd > self.a_max:
            self.a_z = self.a_max
        if cos_p < 0.1:
            cos_p = 0.1
        t_up = self.max_thrust * cos_p  # [N] vertical thrust at full throttle
        self.hover = G_MOON * self.mass / t_up
        want = a_cmd * self.mass / t_up  # [1] unlimited
        if hold and want < self.hover:
            want = self.hover
        u = want
        if u < self.u_min:
            u = self.u_min
        elif u > 1.0:
            u = 1.0
        if self.u > 0.0:
            hi = self.u + self._du
            if u > hi:
                u = hi
            else:
                lo = self.u - self._du
                if u < lo:
                    u = lo
        else:
            # ignition: the only step allowed to jump, from off to the lowest throttle
            u = self.u_min
        # anti-windup: integrate only while the command follows the law, or when the
        # error drives the command back from the limit it sits on
        if (u == want) or (u < want and e < 0.0) or (u > want and e > 0.0):
            self.integ += _K_I * e * dt
            if self.integ > _I_MAX:
                self.integ = _I_MAX
            elif self.integ < _NEG_I_MAX:
                self.integ = _NEG_I_MAX
        self.u = u

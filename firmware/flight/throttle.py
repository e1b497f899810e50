# Throttle control: the vertical law, the engine's limits and lag, the mass.
#
# A PI law on the estimated vertical speed turns a speed reference into a vertical
# thrust acceleration, and that into a throttle with the tracked mass and the modelled
# pitch (thrust * cos(pitch) is what holds the lander up). The command is 0 (engine off)
# or within [min_throttle, 1] and changes by at most _U_RATE per second; the integral
# stops when the command sits on a limit (anti-windup). The mass falls with the
# propellant that the commands burnt, through a model of the engine's lag.
# docs/algorithms.md section 4 is the specification.

G_MOON = 1.62  # [m/s^2]
G0 = 9.80665  # [m/s^2] standard gravity of the Isp definition
_K_V = 1.0  # [1/s] proportional gain on the vertical speed error
_K_I = 0.1  # [1/s^2] integral gain on the vertical speed error
_I_MAX = 0.5  # [m/s^2] bound of the integral term
_U_RATE = 1.5  # [1/s] largest change of a lit engine's throttle command per second
_DT_RATE_MAX = 0.1  # [s] longest step credited to the rate limit (a link gap is no licence)


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
        self.hover = 0.0  # [1] throttle that balances gravity at the modelled pitch

    def reset(self, prior):
        Throttle.__init__(self)
        self.mass = prior.mass
        self.dry_mass = prior.dry_mass
        self.max_thrust = prior.max_thrust
        self.ve = prior.isp * G0
        self.u_min = prior.min_throttle
        self.tau = prior.engine_tau

    def propellant(self):
        # [kg] what the tracked mass says is left
        return self.mass - self.dry_mass

    def burn(self, dt):
        # the command in force over the step that just ended: the engine model follows it,
        # the mass loses the propellant of the mean modelled thrust
        t_old = self.thrust
        self.thrust += engine_gain(dt, self.tau) * (self.u * self.max_thrust - self.thrust)
        self.mass -= 0.5 * (t_old + self.thrust) * dt / self.ve
        if self.mass < self.dry_mass:
            self.mass = self.dry_mass

    def off(self):
        self.u = 0.0
        self.integ = 0.0
        self.a_z = 0.0

    def step(self, vz_ref, vz, a_ff, cos_p, dt, hold):
        # one step of the law: reference vz_ref [m/s], estimate vz [m/s], feed-forward
        # acceleration a_ff [m/s^2], cosine of the modelled pitch, step dt [s]; hold: never
        # less than the hover throttle (after a link gap). Sets self.u and self.a_z.
        e = vz_ref - vz  # [m/s]
        a_cmd = G_MOON + a_ff + _K_V * e + self.integ  # [m/s^2] what the law asks for
        a_max = self.max_thrust / self.mass
        self.a_z = a_cmd
        if a_cmd < 0.0:
            self.a_z = 0.0
        elif a_cmd > a_max:
            self.a_z = a_max
        if cos_p < 0.1:
            cos_p = 0.1
        self.hover = G_MOON * self.mass / (self.max_thrust * cos_p)
        want = a_cmd * self.mass / (self.max_thrust * cos_p)  # [1] unlimited
        if hold and want < self.hover:
            want = self.hover
        u = want
        if u < self.u_min:
            u = self.u_min
        elif u > 1.0:
            u = 1.0
        if self.u > 0.0:
            h = dt
            if h > _DT_RATE_MAX:
                h = _DT_RATE_MAX
            du = _U_RATE * h
            if u > self.u + du:
                u = self.u + du
            elif u < self.u - du:
                u = self.u - du
        else:
            # ignition: the only step allowed to jump, from off to the lowest throttle
            u = self.u_min
        # anti-windup: integrate only while the command follows the law, or when the
        # error drives the command back from the limit it sits on
        if (u == want) or (u < want and e < 0.0) or (u > want and e > 0.0):
            self.integ += _K_I * e * dt
            if self.integ > _I_MAX:
                self.integ = _I_MAX
            elif self.integ < -_I_MAX:
                self.integ = -_I_MAX
        self.u = u

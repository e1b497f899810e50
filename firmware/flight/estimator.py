# Navigation estimator (interim: inertial propagation only; the altimeter fusion and
# cross-check replace this). Attributes are what the COMMAND frame reports.
from flight.fmath import sin_cos

G_MOON = 1.62  # [m/s^2]


class AltimeterStatus:
    def __init__(self):
        self.health = 0  # wire HEALTH index
        self.reason = 0  # wire REASONS index
        self.test_ratio = 0.0  # [1]


class Estimator:
    def __init__(self):
        self.radar = AltimeterStatus()
        self.lrf = AltimeterStatus()
        self.z = 0.0  # [m]
        self.z_sigma = 0.0  # [m]
        self.vz = 0.0  # [m/s]
        self.vz_sigma = 0.0  # [m/s]
        self.vx = 0.0  # [m/s]
        self.vx_sigma = 0.0  # [m/s]
        self.terrain = 0.0  # [m]
        self.terrain_sigma = 0.0  # [m]
        self.accel_bias = 0.0  # [m/s^2]
        self.accel_bias_sigma = 0.0  # [m/s^2]
        self.agl = 0.0  # [m]
        self.agl_sigma = 0.0  # [m]

    def reset(self, prior):
        self.__init__()
        self.z = prior.z
        self.z_sigma = prior.z_sigma
        self.vz = prior.vz
        self.vz_sigma = prior.vz_sigma
        self.vx = prior.vx
        self.vx_sigma = prior.vx_sigma
        self.terrain = prior.terrain
        self.terrain_sigma = prior.terrain_sigma
        self.agl = self.z - self.terrain

    def step(self, t_s, dt, f_axial, f_lateral, pitch, flags, radar_range, lrf_range, faults):
        s, c = sin_cos(pitch)
        ax = -f_axial * s + f_lateral * c
        az = f_axial * c + f_lateral * s - G_MOON
        self.z += (self.vz + 0.5 * az * dt) * dt
        self.vz += az * dt
        self.vx += ax * dt
        self.agl = self.z - self.terrain

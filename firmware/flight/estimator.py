# Navigation estimator (docs/algorithms.md section 2): a 4-state Kalman filter on
# [h (height above terrain), vz, z (height above datum), accel bias], driven by the
# accelerometers and aided by the two altimeters (flight.altimeter, section 3), plus the
# horizontal velocity propagated with its variance (no horizontal measurement exists).
#
# The covariance is a flat 4x4 list (row-major, kept symmetric) updated in place; no
# matrix library. Attributes are what the COMMAND frame and guidance read.
import math

from flight import wire
from flight.altimeter import ACT_FUSE, ACT_RESET, Altimeter
from flight.fmath import sin_cos

G_MOON = 1.62  # [m/s^2]
RADAR_BAD = 32  # core.RADAR_BAD (core imports this module: no import back)
LRF_BAD = 64  # core.LRF_BAD

_ACC_PSD = 0.01  # [m/s^2/sqrt(Hz)] vertical acceleration noise (IMU noise and attitude error)
_BIAS_SIGMA0 = 0.02  # [m/s^2] prior 1-sigma of the axial accelerometer bias
_BIAS_RW = 0.0005  # [m/s^2/sqrt(s)] random walk of the bias
_BIAS_DOUBT_RW = 0.02  # [m/s^2/sqrt(s)] random walk of the bias while altimeters doubt inertial
_SLOPE = 0.1  # [1] rms terrain slope under the beam
_SLOPE_TIME = 1.0  # [s] correlation time of the terrain height seen while moving
_LAT_BIAS_SIGMA = 0.01  # [m/s^2] lateral accelerometer bias, not estimated: vx uncertainty
_MIN_VAR = 1.0e-6  # [m^2, (m/s)^2, (m/s^2)^2] floor of each variance
_AIDING_S = 1.0  # [s] aiding: an altimeter fused within this time
_K_INS = 0.001  # [1] per step: pull of the inertial velocity toward the filter's (20 s at 50 Hz)

# the altimeters (as the harness models them; the reasoning in docs/algorithms.md)
_RADAR_NOISE_M = 0.5  # [m]
_RADAR_NOISE_FRACTION = 0.003  # [1]
_RADAR_CAL_M = 0.3  # [m] 1-sigma calibration bias of a healthy unit
_RADAR_CAL_FRACTION = 0.001  # [1] 1-sigma calibration scale error
_RADAR_MIN_M = 1.0  # [m]
_RADAR_MAX_M = 15000.0  # [m]
_LRF_NOISE_M = 0.1  # [m]
_LRF_NOISE_FRACTION = 0.0005  # [1]
_LRF_CAL_M = 0.05  # [m]
_LRF_CAL_FRACTION = 0.0003  # [1]
_LRF_MIN_M = 1.0  # [m]
_LRF_MAX_M = 3000.0  # [m]


class Estimator:
    def __init__(self):
        self.radar = Altimeter(wire.RADAR_VALID, wire.RADAR_NEW, RADAR_BAD, _RADAR_NOISE_M,
                               _RADAR_NOISE_FRACTION, _RADAR_CAL_M, _RADAR_CAL_FRACTION,
                               _RADAR_MIN_M, _RADAR_MAX_M)
        self.lrf = Altimeter(wire.LRF_VALID, wire.LRF_NEW, LRF_BAD, _LRF_NOISE_M,
                             _LRF_NOISE_FRACTION, _LRF_CAL_M, _LRF_CAL_FRACTION, _LRF_MIN_M,
                             _LRF_MAX_M)
        self.x = [0.0, 0.0, 0.0, 0.0]  # [m, m/s, m, m/s^2] h, vz, z, accel bias
        self.p = [0.0] * 16  # covariance of x, row-major
        self._a = [0.0] * 16  # scratch: F P
        self._ph = [0.0] * 4  # scratch: column h of P
        self._clear()

    def _clear(self):
        self.radar.reset()
        self.lrf.reset()
        for i in range(16):
            self.p[i] = 0.0
        for i in range(4):
            self.x[i] = 0.0
        self.vx = 0.0  # [m/s]
        self.p_vx = 0.0  # [(m/s)^2]
        self.p_vxb = 0.0  # [m/s * m/s^2] covariance of vx and the lateral bias
        self.v_ins = 0.0  # [m/s] inertial vertical velocity, slowly pulled to the filter's
        self.travel = 0.0  # [m] its integral since reset (stuck and kinematic checks)
        self.ins_sigma = 0.0  # [m/s] 1-sigma error of v_ins (bound)
        self.t_fused = -1.0e9  # [s] last altimeter fusion
        self.aiding = False
        self.z = 0.0  # [m]
        self.z_sigma = 0.0  # [m]
        self.vz = 0.0  # [m/s]
        self.vz_sigma = 0.0  # [m/s]
        self.vx_sigma = 0.0  # [m/s]
        self.terrain = 0.0  # [m]
        self.terrain_sigma = 0.0  # [m]
        self.accel_bias = 0.0  # [m/s^2]
        self.accel_bias_sigma = 0.0  # [m/s^2]
        self.agl = 0.0  # [m]
        self.agl_sigma = 0.0  # [m]

    def reset(self, prior):
        self._clear()
        x = self.x
        p = self.p
        x[0] = prior.z - prior.terrain
        x[1] = prior.vz
        self.v_ins = prior.vz
        self.ins_sigma = prior.vz_sigma
        x[2] = prior.z
        x[3] = 0.0
        vz2 = prior.z_sigma * prior.z_sigma
        p[0] = vz2 + prior.terrain_sigma * prior.terrain_sigma
        p[2] = vz2
        p[8] = vz2
        p[10] = vz2
        p[5] = prior.vz_sigma * prior.vz_sigma
        p[15] = _BIAS_SIGMA0 * _BIAS_SIGMA0
        self.vx = prior.vx
        self.p_vx = prior.vx_sigma * prior.vx_sigma
        self._outputs(0.0)

    def step(self, t_s, dt, f_axial, f_lateral, pitch, flags, radar_range, lrf_range, faults):
        s, c = sin_cos(pitch)
        self._predict(dt, f_axial, f_lateral, s, c)
        self._aid(self.radar, self.lrf, t_s, flags, radar_range, s, c)
        self._aid(self.lrf, self.radar, t_s, flags, lrf_range, s, c)
        if self.radar.doubt or self.lrf.doubt:
            self.p[15] += _BIAS_DOUBT_RW * _BIAS_DOUBT_RW * dt
        self._outputs(t_s)

    def _predict(self, dt, f_axial, f_lateral, s, c):
        x = self.x
        p = self.p
        a = self._a
        fa = f_axial - x[3]  # [m/s^2] bias-corrected axial specific force
        az = fa * c + f_lateral * s - G_MOON
        ax = -fa * s + f_lateral * c
        dz = (x[1] + 0.5 * az * dt) * dt
        x[0] += dz
        x[2] += dz
        x[1] += az * dt
        v = self.v_ins
        self.travel += (v + 0.5 * az * dt) * dt
        self.v_ins = v + az * dt + _K_INS * (x[1] - v)
        self.vx += ax * dt
        # P = F P F' + Q, F rows: h (1, dt, 0, be), vz (0, 1, 0, ga), z (0, dt, 1, be), b (0,0,0,1)
        be = -0.5 * c * dt * dt
        ga = -c * dt
        for j in range(4):
            pv = p[4 + j]
            pb = p[12 + j]
            a[j] = p[j] + dt * pv + be * pb
            a[4 + j] = pv + ga * pb
            a[8 + j] = p[8 + j] + dt * pv + be * pb
            a[12 + j] = pb
        for i in range(4):
            k = 4 * i
            av = a[k + 1]
            ab = a[k + 3]
            p[k] = a[k] + dt * av + be * ab
            p[k + 1] = av + ga * ab
            p[k + 2] = a[k + 2] + dt * av + be * ab
            p[k + 3] = ab
        for i in range(4):
            for j in range(i + 1, 4):
                m = 0.5 * (p[4 * i + j] + p[4 * j + i])
                p[4 * i + j] = m
                p[4 * j + i] = m
        p[5] += _ACC_PSD * _ACC_PSD * dt
        p[15] += _BIAS_RW * _BIAS_RW * dt
        # the terrain under the beam changes as the lander moves over it
        p[0] += _SLOPE * _SLOPE * (self.vx * self.vx + self.p_vx) * _SLOPE_TIME * dt
        # vx with an unestimated lateral bias: [vx, b_lat] covariance, no measurement
        pbl = _LAT_BIAS_SIGMA * _LAT_BIAS_SIGMA
        self.p_vx += dt * (2.0 * self.p_vxb + dt * pbl) + _ACC_PSD * _ACC_PSD * dt
        self.p_vxb += dt * pbl

    def _aid(self, alt, other, t_s, flags, rng, s, c):
        act = alt.update(t_s, flags, rng, s, c, self.x[0], self.p[0], self.travel,
                         self.ins_sigma * self.ins_sigma, other)
        if act == ACT_FUSE:
            self._fuse(alt.innov, alt.meas_var * alt.r_scale)
        elif act == ACT_RESET:
            self._reset_terrain(alt.step_mean, alt.meas_var)
            other.shifted(alt.step_mean)
        else:
            return
        alt.t_fused = t_s
        self.t_fused = t_s

    def _fuse(self, nu, r_var):
        # scalar update with H = (1, 0, 0, 0): the altimeter measures h
        x = self.x
        p = self.p
        ph = self._ph
        for i in range(4):
            ph[i] = p[4 * i]
        s_var = ph[0] + r_var
        for i in range(4):
            x[i] += ph[i] / s_var * nu
            for j in range(4):
                p[4 * i + j] -= ph[i] * ph[j] / s_var
        for i in range(4):
            if p[5 * i] < _MIN_VAR:
                p[5 * i] = _MIN_VAR

    def _reset_terrain(self, offset, r_var):
        # a terrain step: h jumps by offset [m], z and vz stay; h's error is now the
        # measurement's, uncorrelated with the rest
        p = self.p
        self.x[0] += offset
        p[0] = r_var
        for i in range(1, 4):
            p[i] = 0.0
            p[4 * i] = 0.0

    def _outputs(self, t_s):
        x = self.x
        p = self.p
        self.agl = x[0]
        self.agl_sigma = math.sqrt(p[0])
        self.vz = x[1]
        self.vz_sigma = math.sqrt(p[5])
        # v_ins's error: the prior's, pulled toward the filter's at K_INS (a bound: |corr| <= 1)
        self.ins_sigma += _K_INS * (self.vz_sigma - self.ins_sigma)
        self.z = x[2]
        self.z_sigma = math.sqrt(p[10])
        self.accel_bias = x[3]
        self.accel_bias_sigma = math.sqrt(p[15])
        self.terrain = x[2] - x[0]
        self.terrain_sigma = math.sqrt(max(0.0, p[10] - 2.0 * p[2] + p[0]))
        self.vx_sigma = math.sqrt(self.p_vx)
        self.aiding = t_s - self.t_fused <= _AIDING_S

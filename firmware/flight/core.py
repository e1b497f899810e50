# The flight core: one control step per sensor frame, and a navigation-and-guidance
# cycle every CYCLE_US.
#
# Plain Python with no hardware import, driven only by frames: time comes from the
# frame, so every target computes the same answer. Each frame: sanitise the inputs ->
# the estimator takes the inertial increments and the altimeters' samples -> guidance
# watches for touchdown. Each cycle (the first frame after INIT, then the frame that ends
# about CYCLE_US since the last cycle): the estimator (with the altimeter cross-check)
# -> guidance. On a board every float result is a heap object: a frame costs a few, a
# cycle a few hundred, so the cycle's rate, not the frame's, sets what a step allocates
# (docs/algorithms.md section 1).
from micropython import const

from flight import wire
from flight.common import (
    FAULT_ATTITUDE,
    FAULT_ATTITUDE_DISTRUSTED,
    FAULT_IMU,
    FAULT_LINK_GAP,
    FAULT_RANGE_VALUE,
    FAULT_TIME_STEP,
    FAULT_VELOCITY_VALUE,
    LRF_BAD,
    RADAR_BAD,
    finite,
)
from flight.estimator import Estimator
from flight.guidance import Guidance

_MAX_SPECIFIC_FORCE = 50.0  # [m/s^2] beyond any thrust this vehicle makes: a corrupt reading
_MIN_SPECIFIC_FORCE = -_MAX_SPECIFIC_FORCE  # (a negated name would be a new float at every use)
_MAX_PITCH = 1.4  # [rad] beyond the attitude envelope (|pitch| <= 1.2): a corrupt reading;
# it also keeps cos(pitch) >= 0.17 for the slant-range geometry
_MIN_PITCH = -_MAX_PITCH
_MAX_RANGE = 100000.0  # [m] beyond any altimeter's reach
_MAX_SPEED = 1000.0  # [m/s] beyond any speed of a descent: a corrupt beam reading
_MIN_SPEED = -_MAX_SPEED
_MAX_DT = 5.0  # [s] longest gap propagated as it is; longer gaps are clamped
_MAX_D_US = const(5000000)  # [us] _MAX_DT in microseconds
_MIN_CANT = 0.05  # [rad] beams closer to the thrust axis see too little of the horizontal speed
_MAX_CANT = 1.0  # [rad]
LINK_GAP_S = 0.5  # [s] a gap between frames longer than this means the link was lost
CYCLE_US = const(100000)  # [us] period of the navigation-and-guidance cycle (10 Hz)


class CycleClock:
    # when the navigation-and-guidance cycle runs: on the first frame after INIT, then on the
    # frame that ends CYCLE_US since the last cycle, to within half of that frame's interval
    # (at 50 Hz every 5th frame; at 10 Hz or less every one). Integers only.
    def __init__(self):
        self.last_us = -CYCLE_US  # [us] since INIT, the last cycle (-CYCLE_US: none yet)
        self._sum_us = 0  # [us] the frames' intervals since then, each at most _MAX_D_US
        self._dt_us = -1  # [us] the interval that dt is for (-1: none yet)
        self.dt = 0.0  # [s] the interval of the cycle that is due

    def reset(self):
        self.last_us = -CYCLE_US
        self._sum_us = 0

    def due(self, t_us, d_us):
        # a frame at t_us [us] since INIT, d_us [us] after the last: True when a cycle runs
        # now (then dt is its interval)
        self._sum_us += d_us if d_us < _MAX_D_US else _MAX_D_US
        if t_us - self.last_us < CYCLE_US - (d_us >> 1):
            return False
        if self._sum_us != self._dt_us:
            self._dt_us = self._sum_us
            self.dt = self._sum_us * 1e-6
        self.last_us = t_us
        self._sum_us = 0
        return True


class Prior:
    # the INIT frame: the prior knowledge and the vehicle
    def __init__(self):
        self.t_us = 0  # [us]
        self.z = 0.0  # [m]
        self.z_sigma = 0.0  # [m]
        self.vz = 0.0  # [m/s]
        self.vz_sigma = 0.0  # [m/s]
        self.vx = 0.0  # [m/s]
        self.vx_sigma = 0.0  # [m/s]
        self.terrain = 0.0  # [m]
        self.terrain_sigma = 0.0  # [m]
        self.mass = 0.0  # [kg]
        self.dry_mass = 0.0  # [kg]
        self.max_thrust = 0.0  # [N]
        self.isp = 0.0  # [s]
        self.min_throttle = 0.0  # [1]
        self.engine_tau = 0.0  # [s]
        self.beam_cant = 0.0  # [rad] each velocimeter beam's angle from the thrust axis

    def set(self, values):
        (self.t_us, self.z, self.z_sigma, self.vz, self.vz_sigma, self.vx, self.vx_sigma,
         self.terrain, self.terrain_sigma, self.mass, self.dry_mass, self.max_thrust,
         self.isp, self.min_throttle, self.engine_tau, self.beam_cant) = values

    def is_sane(self):
        for v in (self.z, self.z_sigma, self.vz, self.vz_sigma, self.vx, self.vx_sigma,
                  self.terrain, self.terrain_sigma, self.mass, self.dry_mass,
                  self.max_thrust, self.isp, self.min_throttle, self.engine_tau,
                  self.beam_cant):
            if not finite(v):
                return False
        return (self.z_sigma > 0.0 and self.vz_sigma > 0.0 and self.vx_sigma > 0.0
                and self.terrain_sigma > 0.0 and 0.0 < self.dry_mass <= self.mass
                and self.max_thrust > 0.0 and self.isp > 0.0
                and 0.0 <= self.min_throttle < 1.0 and 0.0 <= self.engine_tau < 10.0
                and _MIN_CANT <= self.beam_cant <= _MAX_CANT)


class FlightCore:
    def __init__(self):
        self.prior = Prior()
        self.est = Estimator()
        self.guid = Guidance()
        self.configured = False
        self.steps = 0
        self.frames_rejected = 0
        self.fault_flags = 0
        self.last_t_us = 0  # [us]
        self._d_us = -1  # [us] the frame interval that _dt is for (-1: none yet)
        self._dt = 0.0  # [s] _d_us in seconds (at a steady frame rate, computed once)
        self.clock = CycleClock()
        self._cycle_faults = 0  # the fault flags of the frames since the last cycle
        self.cycled = False  # this frame ran a cycle
        self.f_axial = 0.0  # [m/s^2] last good inertial reading
        self.f_lateral = 0.0  # [m/s^2]
        self.pitch = 0.0  # [rad] last good attitude reading

    def configure(self, values):
        # an INIT frame; False (and the old configuration kept) when it is not sane
        candidate = Prior()
        candidate.set(values)
        if not candidate.is_sane():
            self.reject()
            return False
        self.prior = candidate
        self.est.reset(candidate)
        self.guid.reset(candidate)
        self.configured = True
        self.steps = 0
        self.fault_flags = 0
        self.last_t_us = candidate.t_us
        self.clock.reset()
        self._cycle_faults = 0
        self.cycled = False
        self.f_axial = 0.0
        self.f_lateral = 0.0
        self.pitch = 0.0
        return True

    def reject(self):
        if self.frames_rejected < 65535:
            self.frames_rejected += 1

    def step(self, s):
        # one control step from a decoded SENSOR frame; False if the frame was rejected
        if not self.configured:
            self.last_t_us = s.t_us
            return True
        if s.t_us <= self.last_t_us:
            self.reject()
            return False
        d_us = s.t_us - self.last_t_us
        if d_us != self._d_us:
            self._d_us = d_us
            self._dt = d_us * 1e-6
        dt = self._dt  # [s]
        self.last_t_us = s.t_us
        flags = s.flags & 31
        faults = 0
        if dt > LINK_GAP_S:
            faults |= FAULT_LINK_GAP
        if dt > _MAX_DT:
            dt = _MAX_DT
            faults |= FAULT_TIME_STEP

        # a corrupt inertial or attitude reading never reaches the state: hold the last good
        # one. The bounds are finite and NaN fails every comparison, so each test below
        # also rejects what is not a finite number.
        fa = s.f_axial
        fl = s.f_lateral
        if _MIN_SPECIFIC_FORCE < fa < _MAX_SPECIFIC_FORCE \
                and _MIN_SPECIFIC_FORCE < fl < _MAX_SPECIFIC_FORCE:
            self.f_axial = fa
            self.f_lateral = fl
        else:
            faults |= FAULT_IMU
        p = s.pitch
        if _MIN_PITCH < p < _MAX_PITCH:
            self.pitch = p
        else:
            faults |= FAULT_ATTITUDE

        # a range is read only with its new-sample bit (wire.Sensor); a stale one is never used
        radar_range = s.radar_range
        if flags & wire.RADAR_NEW and flags & wire.RADAR_VALID \
                and not (0.0 <= radar_range <= _MAX_RANGE):
            flags = (flags & ~(wire.RADAR_VALID | wire.RADAR_NEW)) | RADAR_BAD
            radar_range = 0.0
            faults |= FAULT_RANGE_VALUE
        lrf_range = s.lrf_range
        if flags & wire.LRF_NEW and flags & wire.LRF_VALID \
                and not (0.0 <= lrf_range <= _MAX_RANGE):
            flags = (flags & ~(wire.LRF_VALID | wire.LRF_NEW)) | LRF_BAD
            lrf_range = 0.0
            faults |= FAULT_RANGE_VALUE

        bflags = s.beam_flags & 15
        beam_a = s.beam_a
        beam_b = s.beam_b
        if bflags & wire.BEAMS_NEW:  # the beams are read only with a new sample
            if bflags & wire.BEAM_A_VALID and not (_MIN_SPEED < beam_a < _MAX_SPEED):
                bflags &= ~(wire.BEAM_A_VALID | wire.BEAM_A_NEW)
                faults |= FAULT_VELOCITY_VALUE
            if bflags & wire.BEAM_B_VALID and not (_MIN_SPEED < beam_b < _MAX_SPEED):
                bflags &= ~(wire.BEAM_B_VALID | wire.BEAM_B_NEW)
                faults |= FAULT_VELOCITY_VALUE
            if faults & FAULT_VELOCITY_VALUE:
                self.est.vel.bad_seen = True

        # every frame: the inertial increments and the samples wait for the cycle; a
        # confirmed contact cuts the engine at once
        t_us = s.t_us - self.prior.t_us  # [us] since INIT
        est = self.est
        guid = self.guid
        # the attitude the estimator rotates by: the reading while guidance believes it,
        # else the attitude modelled from the commands
        if guid.attitude_ok:
            pitch = self.pitch
        else:
            pitch = guid.pitch_model
            faults |= FAULT_ATTITUDE_DISTRUSTED
        est.frame(dt, self.f_axial, self.f_lateral, pitch, flags, radar_range, lrf_range, t_us,
                  bflags, beam_a, beam_b)
        guid.frame(flags & wire.CONTACT, d_us)
        self._cycle_faults |= faults
        self.cycled = self.clock.due(t_us, d_us)
        if self.cycled:
            # a cycle frame's own samples wait for the next frame (the work is spread)
            est.aid(t_us, False)
            t_s = t_us * 1e-6  # [s] since INIT
            est.cycle(t_s, t_us, self.clock.dt)
            guid.cycle(t_s, self.clock.dt, est, self._cycle_faults, self.pitch)
            self._cycle_faults = 0
        else:
            est.aid(t_us, True)
        self.fault_flags = faults
        self.steps = (self.steps + 1) & 0xFFFF
        return True

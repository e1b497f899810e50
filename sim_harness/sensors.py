"""Sensor models: what the firmware sees, built from the true state once per control frame.

Every model is deterministic from the scenario seed, with its own random stream
(sim_harness.streams): changing one sensor never changes another sensor's noise.

Altimeter (radar, LRF): samples on its own clock at t_j = phase_s + j / rate_hz. A sample is
delivered in the first frame at or after t_j and measures the true slant range r along the
thrust axis at that frame:

    reading = scale_factor * r + bias_m + N(0, noise_m + noise_fraction * r)

It is valid when the unit is fitted, min_range_m <= r <= max_range_m, t >= first_valid_s, the
true range has once fallen below acquire_below_m (late acquisition) and never yet below
lost_below_m (an altimeter lost low). The frame carries the
last sample's reading and validity; the new flag is set only in the frame where a fresh sample
arrived. An invalid sample reads 0. Faults (sim_harness.faults) act on each sample.

IMU: sampled every frame. The specific force is the mean thrust acceleration T/m over the
step that ends at the frame (an integrating accelerometer), along the thrust axis; the true
lateral specific force of a point mass thrusting along its axis is zero:

    f_axial   = scale_factor * f_true + accel_bias_mps2   + N(0, noise_density * sqrt(rate))
    f_lateral =                         lateral_bias_mps2 + N(0, noise_density * sqrt(rate))
    pitch     = pitch_true + attitude_bias_rad + N(0, attitude_noise_rad)

The attitude reading has faults of its own (fault sensor `attitude`); the vehicle's attitude
loop closes on the true pitch (it is outside the firmware), so a wrong reading misleads only
the firmware's navigation: the slant ranges' conversion to height and the inertial projection.

Contact: closed when the footpads are at most probe_length_m above the terrain under them.

Velocimeter (Doppler, two beams fixed in the body): beams in the vertical plane at
alpha_A = -cant_rad and alpha_B = +cant_rad from the thrust axis. With the true pitch theta
(the attitude acting on the vehicle, as for the altimeters) beam i looks toward the ground
along d_i = (sin(theta + alpha_i), -cos(theta + alpha_i)) and measures the velocity along it
(positive when closing on the ground):

    reading_i = scale * (v . d_i) + bias_mps + N(0, noise_mps + noise_fraction * |v . d_i|)

Both beams sample together on the unit's clock, t_j = j / rate_hz, delivered like an
altimeter's (the last reading repeated, new flag clear, between samples). A beam is valid when
its true slant range along d_i (Terrain.ray_range at angle theta + alpha_i) is within
[min_range_m, max_range_m]; an invalid beam reads 0. Faults act on each beam's samples as on an
altimeter's (sim_harness.faults). Not fitted: both beams invalid, zero, never new.
"""

from __future__ import annotations

import math

import numpy as np

from host_tools.link import wire
from sim_harness.faults import AltimeterFaults, AttitudeFaults, ContactFaults, ImuFaults
from sim_harness.scenario import BEAMS, Altimeter, Contact, Fault, Imu, Velocimeter
from sim_harness.streams import Stream


class AltimeterModel:
    """One range sensor. `frame(t, true_range_fn)` -> (reading [m], valid, new)."""

    def __init__(self, name: str, p: Altimeter, seed_seq, faults: list[Fault], fault_seed):
        self.name = name
        self.p = p
        self.noise = Stream(seed_seq)
        self.faults = AltimeterFaults(faults, fault_seed, p.rate_hz) if faults else None
        self.last_j = -1  # index of the last sample delivered
        self.reading = 0.0  # [m] the last sample's reading
        self.valid = False
        self.acquired = p.acquire_below_m is None
        self.lost = False  # the true range fell below lost_below_m
        self.true_range = math.nan  # [m] the truth at the last sample (for the log)

    def frame(self, t: float, true_range) -> tuple[float, bool, bool]:
        """The altimeter's part of the frame at time t [s]; true_range() is called on a sample."""
        p = self.p
        if not p.fitted:
            return 0.0, False, False
        j = math.floor((t - p.phase_s) * p.rate_hz + 1e-9)
        new = j > self.last_j and j >= 0
        if new:
            self.last_j = j
            r = true_range()
            self.true_range = r
            if not self.acquired and r < p.acquire_below_m:
                self.acquired = True
            if p.lost_below_m is not None and r < p.lost_below_m:
                self.lost = True
            valid = (self.acquired and not self.lost and p.min_range_m <= r <= p.max_range_m
                     and t >= p.first_valid_s)
            sigma = p.noise_m + p.noise_fraction * r
            reading = p.scale_factor * r + p.bias_m + sigma * self.noise.next() if valid else 0.0
            if self.faults is not None:
                reading, valid = self.faults.on_sample(t, reading, valid)
            self.reading = reading
            self.valid = valid
        if self.faults is not None and self.faults.dropped(t):
            return self.reading, False, False
        return self.reading, self.valid, new


class ImuModel:
    """Accelerometers (axial, lateral) and attitude. `frame(t, f_true, pitch_true)`."""

    def __init__(self, p: Imu, rate_hz: float, seed_seq, att_seed_seq, faults: list[Fault], fault_seed,
                 attitude_faults: list[Fault] | None = None, attitude_fault_seed=None):
        self.p = p
        self.accel_sigma = p.noise_density * math.sqrt(rate_hz)  # [m/s^2] per sample
        self.noise = Stream(seed_seq)
        self.att_noise = Stream(att_seed_seq)
        self.faults = ImuFaults(faults, fault_seed, rate_hz) if faults else None
        self.att_faults = (AttitudeFaults(attitude_faults, attitude_fault_seed, rate_hz)
                           if attitude_faults else None)

    def frame(self, t: float, f_true: float, pitch_true: float) -> tuple[float, float, float]:
        p = self.p
        s = self.accel_sigma
        fa = p.scale_factor * f_true + p.accel_bias_mps2 + s * self.noise.next()
        fl = p.lateral_bias_mps2 + s * self.noise.next()
        pitch = pitch_true + p.attitude_bias_rad + p.attitude_noise_rad * self.att_noise.next()
        if self.faults is not None:
            fa, fl = self.faults.on_sample(t, fa, fl)
        if self.att_faults is not None:
            pitch = self.att_faults.on_sample(t, pitch)
        return fa, fl, pitch


class ContactModel:
    """Leg contact switch. `frame(t, footpad_gap)` -> closed (bool)."""

    def __init__(self, p: Contact, faults: list[Fault]):
        self.p = p
        self.faults = ContactFaults(faults) if faults else None

    def frame(self, t: float, gap: float) -> bool:
        closed = self.p.fitted and gap <= self.p.probe_length_m
        if self.faults is not None:
            closed = self.faults.on_sample(t, closed)
        return closed


class VelocimeterModel:
    """Two-beam Doppler velocimeter. `frame(t, vx, vz, pitch, slant_range)` ->
    ((reading_a [m/s], valid_a, new_a), (reading_b, valid_b, new_b))."""

    _OFF = ((0.0, False, False), (0.0, False, False))  # not fitted: what the frame carries

    def __init__(self, p: Velocimeter, seed_seq, faults: list[Fault], fault_seed):
        self.p = p
        self.noise = Stream(seed_seq)
        self.alphas = (-p.cant_rad, p.cant_rad)  # [rad] beam A, beam B from the thrust axis
        # each beam is an altimeter for the fault machinery: its own faults (beam-level and
        # unit-level), its own random streams
        beam_faults = [[f for f in faults if f.beam in (None, b)] for b in BEAMS]
        seeds = fault_seed.spawn(len(BEAMS)) if faults and fault_seed is not None else [None] * len(BEAMS)
        self.faults = [AltimeterFaults(fs, sd, p.rate_hz) if fs else None
                       for fs, sd in zip(beam_faults, seeds, strict=True)]
        self.last_j = -1  # index of the last sample delivered
        self.reading = [0.0, 0.0]  # [m/s] each beam's last sample
        self.valid = [False, False]
        self.true_los = [math.nan, math.nan]  # [m/s] v . d_i at the last sample (the truth)
        self.true_range = [math.nan, math.nan]  # [m] each beam's slant range at the last sample

    def frame(self, t: float, vx: float, vz: float, pitch: float, slant_range) -> tuple:
        """The beams' part of the frame at time t [s] for the true velocity (vx, vz) [m/s] and
        pitch [rad]; slant_range(angle) [m] is called on a sample, once per beam."""
        p = self.p
        if not p.fitted:
            return self._OFF
        j = math.floor(t * p.rate_hz + 1e-9)
        new = j > self.last_j and j >= 0
        if new:
            self.last_j = j
            for i, alpha in enumerate(self.alphas):
                angle = pitch + alpha
                r = slant_range(angle)
                los = vx * math.sin(angle) - vz * math.cos(angle)  # [m/s] v . d_i, closing positive
                self.true_los[i] = los
                self.true_range[i] = r
                valid = p.min_range_m <= r <= p.max_range_m  # no return beyond, none too close
                if valid:
                    sigma = p.noise_mps + p.noise_fraction * abs(los)
                    reading = p.scale * los + p.bias_mps + sigma * self.noise.next()
                else:
                    reading = 0.0
                f = self.faults[i]
                if f is not None:
                    reading, valid = f.on_sample(t, reading, valid)
                self.reading[i] = reading
                self.valid[i] = valid
        out = []
        for i in range(len(BEAMS)):
            f = self.faults[i]
            if f is not None and f.dropped(t):
                out.append((self.reading[i], False, False))
            else:
                out.append((self.reading[i], self.valid[i], new))
        return tuple(out)


# ---------------------------------------------------------------- n runs at once (the model in the loop)


class VecAltimeter:
    def __init__(self, params, rng: np.random.Generator) -> None:
        def col(name):
            return np.array([float(getattr(p, name)) for p in params])

        self.fitted = np.array([p.fitted for p in params])
        self.rate = col("rate_hz")
        self.phase = col("phase_s")
        self.noise_m = col("noise_m")
        self.noise_f = col("noise_fraction")
        self.rmin = col("min_range_m")
        self.rmax = col("max_range_m")
        self.first = col("first_valid_s")
        self.bias = col("bias_m")
        self.scale = col("scale_factor")
        self.acq_below = np.array([np.inf if p.acquire_below_m is None else p.acquire_below_m
                                   for p in params])
        self.lost_below = np.array([-np.inf if p.lost_below_m is None else p.lost_below_m
                                    for p in params])
        self.acquired = np.array([p.acquire_below_m is None for p in params])
        self.lost = np.zeros(len(params), dtype=bool)
        self.last_j = np.full(len(params), -1)
        self.reading = np.zeros(len(params))
        self.valid = np.zeros(len(params), dtype=bool)
        self.rng = rng

    def frame(self, t: float, r: np.ndarray):
        j = np.floor((t - self.phase) * self.rate + 1e-9).astype(np.int64)
        new = self.fitted & (j > self.last_j) & (j >= 0)
        self.last_j = np.where(new, j, self.last_j)
        self.acquired |= new & (r < self.acq_below)
        self.lost |= new & (r < self.lost_below)
        valid = self.acquired & ~self.lost & (self.rmin <= r) & (r <= self.rmax) & (t >= self.first)
        sigma = self.noise_m + self.noise_f * np.where(np.isfinite(r), r, 0.0)
        noise = self.rng.standard_normal(len(r))
        with np.errstate(invalid="ignore"):
            reading = np.where(valid, self.scale * r + self.bias + sigma * noise, 0.0)
        self.reading = np.where(new, reading, self.reading)
        self.valid = np.where(new, valid, self.valid)
        return self.reading, self.valid & self.fitted, new


class VecVelocimeter:
    """sim_harness.sensors.VelocimeterModel for n runs at once (no faults): beam A at -cant,
    beam B at +cant from the thrust axis, reading scale * v.d + bias + noise, valid while the
    beam's slant range is within [min_range_m, max_range_m]."""

    def __init__(self, params, rng: np.random.Generator) -> None:
        def col(name):
            return np.array([float(getattr(p, name)) for p in params])

        n = len(params)
        self.fitted = np.array([p.fitted for p in params], dtype=bool)
        self.any_fitted = bool(self.fitted.any())
        self.cant = col("cant_rad")
        self.rate = col("rate_hz")
        self.noise_m = col("noise_mps")
        self.noise_f = col("noise_fraction")
        self.bias = col("bias_mps")
        self.scale = col("scale")
        self.rmin = col("min_range_m")
        self.rmax = col("max_range_m")
        self.last_j = np.full(n, -1)
        self.reading = np.zeros((2, n))  # [m/s] beam A, beam B: the last sample
        self.valid = np.zeros((2, n), dtype=bool)
        self.rng = rng
        self._zeros = np.zeros(n)
        self._no_flags = np.zeros(n, dtype=np.int64)

    def frame(self, t: float, dyn, terrain):  # a VecDynamics, a VecTerrain
        """(beam_a [m/s], beam_b [m/s], beam_flags) of every run at time t [s]."""
        if not self.any_fitted:
            return self._zeros, self._zeros, self._no_flags
        n = len(self.fitted)
        j = np.floor(t * self.rate + 1e-9).astype(np.int64)
        new = self.fitted & (j > self.last_j) & (j >= 0)
        self.last_j = np.where(new, j, self.last_j)
        for i, sign in enumerate((-1.0, 1.0)):
            angle = dyn.pitch + sign * self.cant
            r = terrain.ray_range(dyn.x, dyn.z, angle)
            los = dyn.vx * np.sin(angle) - dyn.vz * np.cos(angle)  # [m/s] v . d, closing positive
            valid = (self.rmin <= r) & (r <= self.rmax)
            sigma = self.noise_m + self.noise_f * np.abs(los)
            reading = np.where(valid, self.scale * los + self.bias + sigma * self.rng.standard_normal(n), 0.0)
            self.reading[i] = np.where(new, reading, self.reading[i])
            self.valid[i] = np.where(new, valid, self.valid[i])
        va, vb = self.valid[0] & self.fitted, self.valid[1] & self.fitted
        flags = (np.where(va, wire.BEAM_A_VALID, 0) | np.where(new, wire.BEAM_A_NEW, 0)
                 | np.where(vb, wire.BEAM_B_VALID, 0) | np.where(new, wire.BEAM_B_NEW, 0))
        return self.reading[0], self.reading[1], flags

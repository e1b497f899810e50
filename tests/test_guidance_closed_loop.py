"""Closed loop: guidance flying a small point-mass lander (engine and attitude lags, mass flow)
with a perfect estimate fed from the truth. Lands softly from a few kilometres; without an
altimeter it lands on contact, never cutting the engine in the air."""

from __future__ import annotations

import math

import pytest
from fw import CoreSchedule, import_firmware

import_firmware()

from flight.core import Prior  # noqa: E402
from flight.guidance import Guidance  # noqa: E402

G, G0 = 1.62, 9.80665
DRY, TMAX, ISP, UMIN, TAU_E, TAU_P, RATE_P = 340.0, 1600.0, 310.0, 0.1, 0.15, 0.5, 0.35
PROBE = 0.3  # [m] contact closes this far above the footpads


class TruthEstimate:
    """The estimator's public attributes, fed from the truth (height error and sigma settable)."""

    def __init__(self, sigma, aiding, error):
        self.agl_sigma = sigma
        self.aiding = aiding
        self.error = error  # [m] estimate minus truth
        self.agl = self.vz = self.vz_sigma = self.vx = self.below = 0.0

    def see(self, z, vz, vx):
        self.agl = z + self.error
        self.vz = vz
        self.vz_sigma = 0.05
        self.vx = vx


def fly(z=4000.0, vz=-50.0, vx=30.0, sigma=1.0, aiding=True, error=0.0, propellant=200.0,
        dt=0.02, sub=10):
    """Semi-implicit Euler at dt/sub; returns the touchdown state and what was used."""
    p = Prior()
    p.set((0, z + error, sigma, vz, 0.1, vx, 0.1, 0.0, 1.0, DRY + propellant, DRY, TMAX, ISP, UMIN,
           TAU_E, 0.35))
    g = Guidance()
    g.reset(p)
    est = TruthEstimate(sigma, aiding, error)
    m, thrust, pitch, t = DRY + propellant, 0.0, 0.0, 0.0
    h = dt / sub
    engine_off_in_air = False
    core = CoreSchedule()
    while t < 1500.0:
        est.see(z, vz, vx)
        t += dt
        core.guidance(g, t, est, 1 if z <= PROBE else 0)
        u, pc = g.throttle, g.pitch_cmd
        if u == 0.0 and z > 0.05:
            engine_off_in_air = engine_off_in_air or z > 5.0
        for _ in range(sub):
            thrust += (u * TMAX - thrust) * (1.0 - math.exp(-h / TAU_E)) if m > DRY else -thrust
            dp = (pc - pitch) * (1.0 - math.exp(-h / TAU_P))
            pitch += max(-RATE_P * h, min(RATE_P * h, dp))
            m = max(DRY, m - thrust * h / (ISP * G0))
            vx += -thrust / m * math.sin(pitch) * h
            vz += (thrust / m * math.cos(pitch) - G) * h
            z += vz * h
            if z <= 0.0:
                return dict(vz=vz, vx=vx, pitch=pitch, used=DRY + propellant - m, t=t,
                            engine_off_in_air=engine_off_in_air, mass_error=g.mass - m)
    raise AssertionError("no touchdown in 1500 s")


def ideal(h0, v0, m0):
    # free fall, then full thrust to zero speed at the ground (bisection on the burn time)
    ve, q = ISP * G0, TMAX / (ISP * G0)

    def mismatch(tb):
        m1 = m0 - q * tb
        ln = math.log(m0 / m1)
        dv = ve * ln - G * tb
        d = dv * tb - ve * tb + ve * (m1 / q) * ln + 0.5 * G * tb * tb
        return dv * dv - (v0 * v0 + 2.0 * G * (h0 - d))

    lo, hi = 0.0, 0.9 * m0 / q
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mismatch(mid) < 0.0 else (lo, mid)
    return q * lo


@pytest.mark.parametrize("z,vz,vx", [(4000.0, -50.0, 30.0), (3000.0, -60.0, 40.0),
                                     (5000.0, -40.0, 20.0)])
def test_nominal_descent_lands_softly_upright_and_cheaply(z, vz, vx):
    # GIVEN a perfect estimate from a few kilometres up
    r = fly(z, vz, vx)
    # THEN touchdown is soft, slow sideways, upright, and within 1.5x the ideal propellant
    assert -1.0 <= r["vz"] < 0.0
    assert abs(r["vx"]) <= 0.5
    assert abs(r["pitch"]) <= 0.1
    assert r["used"] <= 1.5 * ideal(z, math.hypot(vx, vz), DRY + 200.0)
    # AND the tracked mass agrees with the truth
    assert abs(r["mass_error"]) < 0.5


@pytest.mark.parametrize("error", [-150.0, 0.0, 150.0])
def test_no_altimeter_lands_on_contact_and_never_cuts_the_engine_in_the_air(error):
    # GIVEN no altimeter at all: the prior's height, wrong by up to 3 sigma (50 m)
    r = fly(sigma=50.0, aiding=False, error=error)
    # THEN it lands at most 2 m/s and the engine was never off above 5 m
    assert -2.0 <= r["vz"] < 0.0
    assert not r["engine_off_in_air"]


def test_late_altimeter_costs_propellant_not_the_lander():
    # GIVEN the height known only to 300 m the whole way (the 2025 loss), truth 250 m lower
    r = fly(sigma=300.0, error=250.0)
    # THEN it still lands at most 2 m/s
    assert -2.0 <= r["vz"] < 0.0

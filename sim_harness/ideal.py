"""The ideal descent: the propellant lower bound that `propellant_ratio_to_ideal` divides by.

From the initial state the ideal descent falls freely, then burns at full thrust, reaching zero
speed exactly at the ground. The vertical channel carries the total speed
v0 = sqrt(vx^2 + vz^2) (pointing down) and the height above the terrain under the lander h0,
so braking the horizontal speed is counted as if it were vertical speed: one simple reference
for a descent that must null both. h0 is measured down to the terrain where the run touched
down (the ground the descent actually had to reach: over a crater rim it differs from the
terrain under the start), or under the start when there was no touchdown.

With thrust T, exhaust velocity ve = Isp g0, mass flow q = T / ve, mass m0 at ignition and
m1 = m0 - q tb after a burn of tb seconds:

    speed the burn removes    dv(tb) = ve ln(m0 / m1) - g tb
    distance fallen in burn   d(tb)  = dv(tb) tb - ve tb + ve (m1 / q) ln(m0 / m1) + g tb^2 / 2
    free fall before it       vb^2   = v0^2 + 2 g (h0 - d(tb)),  with vb = dv(tb)

The burn time tb solving the last line (bisection; the left side minus the right grows with
tb) gives the ideal propellant q tb. There is none (None) when the vehicle cannot stop before
the ground even burning from the start, or the tanks would have to hold more than the whole
vehicle's mass.
"""

from __future__ import annotations

import math


def ideal_propellant(h0: float, v0: float, m0: float, max_thrust: float, isp: float, g0: float,
                     g: float) -> float | None:
    """[kg] propellant of the ideal descent from height h0 [m] at speed v0 [m/s] (downward
    magnitude), mass m0 [kg], thrust max_thrust [N], Isp isp [s], standard gravity g0 [m/s^2],
    local gravity g [m/s^2]; None when there is no such descent."""
    if h0 <= 0.0 or m0 <= 0.0 or max_thrust <= 0.0:
        return None
    ve = isp * g0  # [m/s]
    q = max_thrust / ve  # [kg/s]
    if not 0.0 < q < math.inf or not 0.0 < m0 / q < math.inf:
        return None  # a thrust (or Isp) so far out that no burn time can be computed

    def burn(tb: float) -> tuple[float, float]:
        m1 = m0 - q * tb
        ln = math.log(m0 / m1)
        dv = ve * ln - g * tb
        d = dv * tb - ve * tb + ve * (m1 / q) * ln + 0.5 * g * tb * tb
        return dv, d

    def mismatch(tb: float) -> float:
        dv, d = burn(tb)
        return dv * dv - (v0 * v0 + 2.0 * g * (h0 - d))

    hi = 0.999 * m0 / q  # [s] burning all but a sliver of the vehicle
    if mismatch(hi) < 0.0:
        return None
    lo = 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mismatch(mid) < 0.0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-9:
            break
    tb = 0.5 * (lo + hi)
    dv, d = burn(tb)
    if d > h0 + 1e-6 or dv < v0 - 1e-6:
        return None  # it would have to be braking already: no free fall phase exists
    return q * tb


def scenario_ideal_propellant(scenario, ground_m: float | None = None) -> float | None:
    """[kg] ideal propellant from a scenario's initial state and vehicle, down to the ground at
    height ground_m [m] (the terrain where the run touched down; default: under the start)."""
    s = scenario
    ini, v = s.initial, s.vehicle
    ground = s.terrain.height(ini.downrange_m) if ground_m is None else ground_m
    h0 = ini.altitude_m - ground
    v0 = math.hypot(ini.vertical_speed_mps, ini.horizontal_speed_mps)
    return ideal_propellant(h0, v0, v.dry_mass_kg + s.propellant_kg, v.max_thrust_n, v.isp_s, v.g0_mps2,
                            v.gravity_mps2)

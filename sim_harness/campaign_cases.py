"""Fault campaign cases (sim_harness.campaign): each drawn from a seed alone, the start first
(terrain, dispersions: `draw_start`), then its faults (`draw_faults`), both picklable as
`build_case` arguments. The module docstring of sim_harness.campaign says what is drawn and why;
the constants below are the fault space.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sim_harness.montecarlo import disperse, run_seed
from sim_harness.scenario import (
    Expect,
    Fault,
    Initial,
    Knowledge,
    Scenario,
    Sensors,
    Velocimeter,
)
from sim_harness.terrain import Terrain

SOFT = {"max_touchdown_vertical_mps": 2.0, "max_touchdown_horizontal_mps": 1.0}  # [m/s]
CLASSES = ("single", "double", "imu", "attitude")
CLASS_WEIGHTS = (0.35, 0.30, 0.20, 0.15)
TERRAINS = ("flat", "rough", "cliff_down", "cliff_up")
ALTIMETER_KINDS = ("dropout", "stuck", "bias", "drift", "spike", "noise", "delay", "scale")
ATTITUDE_KINDS = ("saturation", "bias", "drift", "stuck", "spike", "noise")
CONTACT_KINDS = ("dropout", "stuck", "spike", "delay")
CONTACT_P = 0.15  # [1] chance of a contact fault on top (when there is room for a third fault)
DURATION_S = 600.0  # [s] each case's duration: a lander that hovers longer times out

# magnitudes, log-uniform between the bounds (a sign drawn where both make sense)
FAULT_RANGES = {
    "bias": (2.0, 500.0),  # [m] +-
    "drift": (0.2, 20.0),  # [m/s] +-
    "spike": (10.0, 3000.0),  # [m] (a multipath return, a false lock)
    "noise": (1.0, 200.0),  # [m] sigma
    "delay": (0.1, 5.0),  # [s]
    "scale": (0.02, 0.4),  # [1] value = 1 +- this
    "duration": (0.5, 60.0),  # [s] of a transient fault (else to the end: PERMANENT_P)
    "imu_bias": (0.01, 0.2),  # [m/s^2] +- axial bias step (1-20 mg)
    "imu_drift": (0.0005, 0.01),  # [m/s^3] +-
    "att_bias": (0.005, 0.2),  # [rad] +-
    "att_drift": (0.0005, 0.01),  # [rad/s] +-
    "att_spike": (0.05, 0.5),  # [rad]
    "att_noise": (0.005, 0.05),  # [rad]
    "saturation_rate": (0.1, 1.0),  # [rad/s] +- attitude runaway while a rate channel is saturated
    "saturation_s": (0.3, 2.0),  # [s] how long it is saturated
    "contact_delay": (0.1, 2.0),  # [s]
    "contact_pulse_every": (1.0, 10.0),  # [s]
}
PERMANENT_P = 0.4  # [1] chance that an altimeter fault lasts to the end of the run

# --velocimeter: the class, its share, and the velocimeter's faults (on one beam or the unit)
VELOCIMETER_CLASS = "velocimeter"
VELOCIMETER_P = 0.25  # [1] chance that a case is of the velocimeter class
VELOCIMETER_KINDS = ALTIMETER_KINDS  # every kind of the contract
VELOCIMETER_BEAMS = ("a", "b", None)  # equally likely: beam A, beam B, the whole unit (None)
# magnitudes, log-uniform between the bounds (a sign drawn for bias and drift)
VELOCIMETER_FAULT_RANGES = {
    "vel_bias": (0.2, 5.0),  # [m/s] +-
    "vel_drift": (0.02, 0.5),  # [m/s per s] +-
    "vel_spike": (2.0, 50.0),  # [m/s]
    "vel_noise": (0.2, 3.0),  # [m/s] sigma
    "vel_delay": (0.2, 2.0),  # [s]
    "vel_scale": (0.02, 0.1),  # [1] value = 1 +- this: 0.9-0.98 and 1.02-1.1
}


# ---------------------------------------------------------------- drawing a case


def _loguniform(rng, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _sig(v: float, digits: int = 4) -> float:
    """v rounded to `digits` significant digits (readable scenario files)."""
    if v == 0.0 or not math.isfinite(v):
        return v
    return float(f"{v:.{digits}g}")


def _signed(rng, lo: float, hi: float) -> float:
    return _sig(_loguniform(rng, lo, hi) * (1.0 if rng.random() < 0.5 else -1.0))


def _terrain(rng, kind: str, x0: float, vx0: float, agl0: float) -> tuple[Terrain, str]:
    """A terrain of class `kind` for a start at x0, agl0 above the ground, moving at vx0.

    A cliff stands 10-40 % of the way the descent travels (about 40 s times vx0, which is at
    least 15 m/s over cliffs; slow descents travel less), its wall 20-100 m wide: crossed
    during the descent, with room to land beyond it. A landing on the wall itself would be no
    landing at all."""
    reach = 40.0 * vx0  # [m] about the downrange distance the descent travels
    if kind == "flat":
        return Terrain.flat(), "flat at 0 m"
    if kind == "rough":
        spacing = float(rng.uniform(50.0, 200.0))  # [m]
        amp = float(rng.uniform(0.03, 0.15)) * spacing  # [m] 1 sigma: slopes up to about 30 deg
        xs = np.arange(x0 - 6000.0, x0 + 12000.0, spacing)
        hs = rng.normal(0.0, amp, xs.size)
        text = f"rough: {amp:.0f} m 1-sigma relief, points every {spacing:.0f} m"
        return Terrain([_sig(float(x), 7) for x in xs], [_sig(float(h)) for h in hs]), text
    width = _sig(float(rng.uniform(20.0, 100.0)))  # [m] of the wall
    if kind == "cliff_down":  # the lander flies over the drop
        xc = _sig(x0 + float(rng.uniform(0.1, 0.4)) * reach)
        h = _sig(_loguniform(rng, 200.0, 3000.0))
        return Terrain([xc - 0.5 * width, xc + 0.5 * width], [h, 0.0]), \
            f"cliff_down: {h:.0f} m down, {xc - x0:.0f} m ahead"
    # cliff up: at most 40 % of the start's height, so that the lander crosses it high (the
    # firmware has no hazard avoidance: a wall in the way is a guidance test, not a cross-check
    # test)
    xc = _sig(x0 + float(rng.uniform(0.1, 0.4)) * reach)
    h = _sig(_loguniform(rng, 100.0, 0.4 * agl0))
    text = f"cliff_up: {h:.0f} m up, {xc - x0:.0f} m ahead"
    return Terrain([xc - 0.5 * width, xc + 0.5 * width], [0.0, h]), text


def draw_start(base_seed: int, index: int, velocimeter: bool = False) -> Scenario:
    """Case `index`'s start and terrain, no faults yet (what the truth pilot screens).

    velocimeter: fit the default velocimeter (before the dispersion, which draws its
    calibration after everything else: the rest of the start is the same with or without)."""
    seed = run_seed(base_seed, index)
    rng = np.random.default_rng([seed, 0])
    kind = TERRAINS[int(rng.integers(len(TERRAINS)))]  # first draw: terrain_kind() repeats it
    x0 = -3000.0
    vx0 = _sig(float(rng.uniform(15.0 if kind.startswith("cliff") else 0.0, 60.0)))
    agl0 = float(rng.uniform(2500.0, 6000.0))
    terrain, text = _terrain(rng, kind, x0, vx0, agl0)
    ground = terrain.height(x0)
    initial = Initial(altitude_m=_sig(ground + agl0, 6), downrange_m=x0,
                      vertical_speed_mps=_sig(-float(rng.uniform(30.0, 70.0))), horizontal_speed_mps=vx0)
    base = Scenario(name=f"campaign{base_seed}-{index}", seed=seed, initial=initial, duration_s=DURATION_S,
                    knowledge=Knowledge(terrain_m=ground, terrain_sigma_m=1000.0), terrain=terrain,
                    description=f"terrain {text}")
    if velocimeter:
        base.sensors = Sensors(velocimeter=Velocimeter(fitted=True))
    s = disperse(base, seed)
    return dataclasses.replace(s, name=base.name, description=base.description)


def terrain_kind(base_seed: int, index: int) -> str:
    """Case `index`'s terrain class (the first draw of draw_start)."""
    return TERRAINS[int(np.random.default_rng([run_seed(base_seed, index), 0]).integers(len(TERRAINS)))]


def _window(rng, t_end: float, permanent_p: float = PERMANENT_P) -> tuple[float, float | None]:
    start = _sig(float(rng.uniform(0.0, 0.9 * t_end)))
    if rng.random() < permanent_p:
        return start, None
    return start, _sig(start + _loguniform(rng, *FAULT_RANGES["duration"]))


def _altimeter_fault(rng, sensor: str, t_end: float) -> Fault:
    kind = ALTIMETER_KINDS[int(rng.integers(len(ALTIMETER_KINDS)))]
    start, end = _window(rng, t_end)
    r = FAULT_RANGES
    value = 0.0
    if kind in ("bias", "drift"):
        value = _signed(rng, *r[kind])
    elif kind in ("spike", "noise", "delay"):
        value = _sig(_loguniform(rng, *r[kind]))
    elif kind == "scale":
        value = _sig(1.0 + _signed(rng, *r["scale"]))
    return Fault(sensor=sensor, kind=kind, start_s=start, end_s=end, value=value)


def _imu_fault(rng, t_end: float) -> list[Fault]:
    start, end = _window(rng, t_end, permanent_p=0.6)
    if rng.random() < 0.6:
        return [Fault("imu", "bias", start, end, _signed(rng, *FAULT_RANGES["imu_bias"]))]
    return [Fault("imu", "drift", start, end, _signed(rng, *FAULT_RANGES["imu_drift"]))]


def _attitude_fault(rng, t_end: float) -> list[Fault]:
    r = FAULT_RANGES
    kind = ATTITUDE_KINDS[int(rng.integers(len(ATTITUDE_KINDS)))]
    if kind == "saturation":  # a drift while saturated, then the bias it integrated (Schiaparelli)
        start = _sig(float(rng.uniform(0.0, 0.9 * t_end)))
        rate = _signed(rng, *r["saturation_rate"])
        span = _sig(_loguniform(rng, *r["saturation_s"]))
        end = _sig(start + span)
        return [Fault("attitude", "drift", start, end, rate),
                Fault("attitude", "bias", end, None, _sig(rate * (end - start)))]
    start, end = _window(rng, t_end, permanent_p=0.5)
    value = 0.0
    if kind == "bias":
        value = _signed(rng, *r["att_bias"])
    elif kind == "drift":
        value = _signed(rng, *r["att_drift"])
    elif kind == "spike":
        value = _sig(_loguniform(rng, *r["att_spike"]))
    elif kind == "noise":
        value = _sig(_loguniform(rng, *r["att_noise"]))
    return [Fault("attitude", kind, start, end, value)]


def _contact_fault(rng, t_end: float) -> Fault:
    kind = CONTACT_KINDS[int(rng.integers(len(CONTACT_KINDS)))]
    start = _sig(float(rng.uniform(0.0, 0.95 * t_end)))
    if kind == "dropout":  # the switch never closes
        return Fault("contact", "dropout", start, None, 0.0)
    if kind == "stuck":  # latched closed (Mars Polar Lander)
        return Fault("contact", "stuck", start, None, 1.0)
    if kind == "spike":  # one pulse, or a pulse every few seconds
        every = 0.0 if rng.random() < 0.5 else _sig(_loguniform(rng, *FAULT_RANGES["contact_pulse_every"]))
        return Fault("contact", "spike", start, None, every)
    return Fault("contact", "delay", 0.0, None, _sig(_loguniform(rng, *FAULT_RANGES["contact_delay"])))


def _velocimeter_fault(rng, t_end: float) -> Fault:
    """One velocimeter fault: any kind, on beam A, beam B or the whole unit."""
    kind = VELOCIMETER_KINDS[int(rng.integers(len(VELOCIMETER_KINDS)))]
    beam = VELOCIMETER_BEAMS[int(rng.integers(len(VELOCIMETER_BEAMS)))]
    start, end = _window(rng, t_end)
    r = VELOCIMETER_FAULT_RANGES
    value = 0.0
    if kind in ("bias", "drift"):
        value = _signed(rng, *r[f"vel_{kind}"])
    elif kind in ("spike", "noise", "delay"):
        value = _sig(_loguniform(rng, *r[f"vel_{kind}"]))
    elif kind == "scale":
        value = _sig(1.0 + _signed(rng, *r["vel_scale"]))
    return Fault(sensor="velocimeter", kind=kind, start_s=start, end_s=end, value=value, beam=beam)


def draw_faults(base_seed: int, index: int, t_pilot: float,
                velocimeter: bool = False) -> tuple[str, list[Fault]]:
    """Case `index`'s fault class and faults; onsets within t_pilot [s], the pilot's descent.

    velocimeter: the case may instead be of the velocimeter class (VELOCIMETER_P), drawn from a
    stream of its own ([seed, 2]) after the others: a case outside that class has the faults it
    has without the option."""
    cls, faults = _draw_faults(np.random.default_rng([run_seed(base_seed, index), 1]), t_pilot)
    if velocimeter:
        vrng = np.random.default_rng([run_seed(base_seed, index), 2])
        if vrng.random() < VELOCIMETER_P:
            alt = ("radar", "lrf")
            cls, faults = VELOCIMETER_CLASS, [_velocimeter_fault(vrng, t_pilot)]
            for _ in range(int(vrng.choice(3, p=(0.3, 0.5, 0.2)))):
                faults.append(_altimeter_fault(vrng, alt[int(vrng.integers(2))], t_pilot))
            if _count(faults) < 3 and vrng.random() < CONTACT_P:
                faults.append(_contact_fault(vrng, t_pilot))
    return cls, faults


def _draw_faults(rng, t_pilot: float) -> tuple[str, list[Fault]]:
    """The class and faults of a case without the velocimeter (every campaign's draw)."""
    cls = CLASSES[int(rng.choice(len(CLASSES), p=CLASS_WEIGHTS))]
    alt = ("radar", "lrf")
    faults: list[Fault] = []
    if cls == "single":
        faults.append(_altimeter_fault(rng, alt[int(rng.integers(2))], t_pilot))
    elif cls == "double":
        if rng.random() < 0.7:
            faults += [_altimeter_fault(rng, "radar", t_pilot), _altimeter_fault(rng, "lrf", t_pilot)]
        else:
            a = alt[int(rng.integers(2))]
            faults += [_altimeter_fault(rng, a, t_pilot), _altimeter_fault(rng, a, t_pilot)]
    else:
        faults += _imu_fault(rng, t_pilot) if cls == "imu" else _attitude_fault(rng, t_pilot)
        for _ in range(int(rng.choice(3, p=(0.3, 0.5, 0.2)))):
            faults.append(_altimeter_fault(rng, alt[int(rng.integers(2))], t_pilot))
    if _count(faults) < 3 and rng.random() < CONTACT_P:
        faults.append(_contact_fault(rng, t_pilot))
    return cls, faults


def _count(faults: list[Fault]) -> int:
    """Faults as the campaign counts them: a saturation (drift, then its bias) is one."""
    return sum(1 for f in faults if not (f.sensor == "attitude" and f.kind == "bias"
                                         and any(g.sensor == "attitude" and g.kind == "drift"
                                                 and g.end_s == f.start_s for g in faults)))


def fault_labels(faults: list[Fault]) -> list[str]:
    """`sensor:kind` of each fault as the campaign counts them (a saturation is one)."""
    labels = []
    for f in faults:
        if f.sensor == "attitude" and f.kind == "drift" and f.end_s is not None and any(
                g.sensor == "attitude" and g.kind == "bias" and g.start_s == f.end_s for g in faults):
            labels.append("attitude:saturation")
        elif f.sensor == "attitude" and f.kind == "bias" and any(
                g.sensor == "attitude" and g.kind == "drift" and g.end_s == f.start_s for g in faults):
            continue
        else:
            labels.append(f"{f.sensor}:{f.kind}")
    return labels


def describe_fault(f: Fault) -> str:
    end = "end" if f.end_s is None else f"{f.end_s:g} s"
    value = "" if f.kind in ("dropout",) or (f.kind == "stuck" and f.sensor != "contact") else f" {f.value:g}"
    sensor = f.sensor if f.beam is None else f"{f.sensor} beam {f.beam}"
    return f"{sensor} {f.kind}{value} from {f.start_s:g} s to {end}"


def _case_arg(arg) -> tuple[int, int, float, bool]:
    """(base_seed, index, t_pilot[, velocimeter]) with the velocimeter flag (default False)."""
    base_seed, index, t_pilot, *rest = arg
    return base_seed, index, t_pilot, bool(rest[0]) if rest else False


def build_case(arg) -> Scenario:
    """The whole case: arg = (base_seed, index, t_pilot), or (base_seed, index, t_pilot, True)
    for a campaign with the velocimeter. Picklable: workers rebuild it."""
    base_seed, index, t_pilot, velocimeter = _case_arg(arg)
    s = draw_start(base_seed, index, velocimeter)
    cls, faults = draw_faults(base_seed, index, t_pilot, velocimeter)
    text = "; ".join(describe_fault(f) for f in faults)
    option = " --velocimeter" if velocimeter else ""
    return dataclasses.replace(
        s, faults=faults, expect=Expect(outcome="landed", **SOFT),
        description=f"Fault campaign case {index} of base seed {base_seed} (lander campaign --seed "
                    f"{base_seed}{option}), class {cls}, {s.description}; faults: {text}. Expectation: "
                    f"the campaign's soft landing.")


def build_case_without_faults(arg) -> Scenario:
    """The case without its faults (the baseline of a failing case)."""
    return dataclasses.replace(build_case(arg), faults=[])


def case_meta(base_seed: int, index: int, t_pilot: float, velocimeter: bool = False) -> dict:
    """What the statistics group a case by (drawn again in the parent: drawing costs nothing)."""
    s = draw_start(base_seed, index, velocimeter)
    cls, faults = draw_faults(base_seed, index, t_pilot, velocimeter)
    meta = {"index": index, "name": s.name, "class": cls, "terrain": terrain_kind(base_seed, index),
            "faults": fault_labels(faults), "fault_text": [describe_fault(f) for f in faults]}
    if velocimeter:  # where the velocimeter's faults act: "a", "b", "unit"
        meta["velocimeter_beams"] = sorted({f.beam or "unit" for f in faults if f.sensor == "velocimeter"})
    return meta

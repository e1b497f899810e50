"""The reference model checked two ways: its pieces against independent scalar code on a grid,
and invariants over whole flights (throttle range and rate, tilt limit, mass, sigmas)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_targets import PRIOR, canned_frames

from host_tools.base.paths import SCENARIOS
from host_tools.reference import guidance
from host_tools.reference import model as ref
from host_tools.reference.compare import SINGLE
from sim_harness.model_loop import fly_dispersed


def _scalar_margin(t_left, v, sig):
    band = t_left * v - 5.0
    if band <= 0.0:
        return 0.0
    if band >= 2.0 * 3.0 * sig:
        return 3.0
    return band / (2.0 * sig)


@pytest.mark.parametrize("t_left", [-50.0, 0.0, 3.0, 6.25, 10.0, 40.0, 400.0])
@pytest.mark.parametrize("sig", [0.1, 1.0, 7.0, 300.0])
def test_the_margin_is_the_documented_piecewise_function_and_continuous(t_left, sig):
    # GIVEN a grid of hover times and height sigmas WHEN margin is computed vectorised
    got = guidance.margin(np.array([t_left]), np.array([0.8]), np.array([sig]))[0]
    # THEN it equals the scalar reading of docs/algorithms.md section 4, step 4
    assert got == pytest.approx(_scalar_margin(t_left, 0.8, sig), rel=1e-15, abs=0)
    # and it has no jump: a nudge of t_left moves it by at most the slope times the nudge
    eps = 1e-6
    nudged = guidance.margin(np.array([t_left + eps]), np.array([0.8]), np.array([sig]))[0]
    assert abs(nudged - got) <= 0.8 * eps / (2 * sig) + 1e-12


def test_atan1_is_within_its_documented_error_of_atan():
    r = np.linspace(-1.0, 1.0, 20001)
    assert np.max(np.abs(guidance.atan1(r) - np.arctan(r))) < 0.0016


@pytest.mark.parametrize("dt", [0.0, 0.001, 0.02, 0.3, 5.0])
@pytest.mark.parametrize("tau", [0.0, 0.15, 0.5])
def test_lag_is_the_pade_weight_clipped_at_one(dt, tau):
    d = 2.0 * tau + dt
    expected = 1.0 if d <= 0.0 else min(1.0, 2.0 * dt / d)
    assert guidance.lag(np.array([dt]), np.array([tau]))[0] == expected


def _canned_outputs(dtype, n_frames=400):
    model = ref.ReferenceModel(1, dtype=dtype)
    model.init(ref.priors_from([PRIOR]))
    outs = []
    for f in canned_frames(n_frames):
        outs.append({k: v.copy() for k, v in model.step(ref.frames_from([f])).items()})
    return outs


def test_n_runs_at_once_give_bit_for_bit_what_each_run_gives_alone():
    # GIVEN three different priors WHEN stepped together and one by one THEN identical outputs
    import dataclasses

    priors = [PRIOR, dataclasses.replace(PRIOR, z=2500.0, vz=-30.0),
              dataclasses.replace(PRIOR, vx=-5.0, mass=600.0)]
    frames = canned_frames(150)
    together = ref.ReferenceModel(3)
    together.init(ref.priors_from(priors))
    alone = [ref.ReferenceModel(1) for _ in priors]
    for m, p in zip(alone, priors, strict=True):
        m.init(ref.priors_from([p]))
    for f in frames:
        out = together.step(ref.frames_from([f, f, f]))
        for i, m in enumerate(alone):
            one = m.step(ref.frames_from([f]))
            for k in ref.FLOAT_FIELDS + ref.INT_FIELDS:
                assert np.array_equal(out[k][i:i + 1], one[k], equal_nan=True), (k, f.t_us, i)


def test_a_frame_whose_time_does_not_advance_is_rejected_and_leaves_the_state():
    model = ref.ReferenceModel(2)
    model.init(ref.priors_from([PRIOR, PRIOR]))
    f = canned_frames(2)
    model.step(ref.frames_from([f[0], f[0]]))
    before = {k: v.copy() for k, v in model.out.items()}
    out = model.step(ref.frames_from([f[1], f[0]]))  # run 1 repeats its time
    assert out["accepted"].tolist() == [True, False]
    assert model.frames_rejected.tolist() == [0, 1]  # reported in the next answer
    for k in ref.FLOAT_FIELDS:
        assert out[k][1] == before[k][1], k


def test_single_precision_model_stays_within_the_single_tolerance_of_the_double_model():
    # GIVEN the same canned stream WHEN the model runs in float64 and float32
    d64 = _canned_outputs(np.float64)
    d32 = _canned_outputs(np.float32)
    # THEN the continuous fields agree within the Pico tolerance until a decision flips
    from host_tools.reference.compare import FIELD_SCALE

    for a, b in zip(d64, d32, strict=True):
        if a["mode"][0] != b["mode"][0]:
            break
        for k in ref.FLOAT_FIELDS:
            bound = SINGLE.bound(k, a[k], b[k].astype(float))
            assert abs(a[k][0] - float(b[k][0])) <= bound[0] or k.endswith("test_ratio"), (k, a[k], b[k])
        assert FIELD_SCALE  # scales exist for every field


@pytest.fixture(scope="module")
def flights():
    from sim_harness.scenario import load_scenario

    scn = load_scenario(SCENARIOS / "nominal-flat.toml")
    scn.duration_s = 120.0
    return scn


def test_invariants_hold_over_dispersed_flights(flights):
    # GIVEN 20 dispersed nominal runs flown with the model in the loop, recorded step by step
    from sim_harness.closedloop import make_init
    from sim_harness.montecarlo import disperse, run_seed

    scns = [disperse(flights, run_seed(1, i)) for i in range(20)]
    u_min = np.array([make_init(s).min_throttle for s in scns])
    dry = np.array([make_init(s).dry_mass for s in scns])
    seen = []

    class Spy(ref.ReferenceModel):
        def step(self, frames, where=None):
            out = super().step(frames, where)
            keys = ("throttle", "pitch_cmd", "mass", "agl_sigma", "vz_sigma", "z_sigma", "mode")
            seen.append({k: np.array(out[k], dtype=float) for k in keys}
                        | {"where": np.ones(self.n, bool) if where is None else where.copy()})
            return out

    import sim_harness.model_loop as ml

    orig = ml.ReferenceModel
    ml.ReferenceModel = Spy
    try:
        fly_dispersed(flights, 20, scenarios=scns)
    finally:
        ml.ReferenceModel = orig
    prev = None
    for s in seen:
        w = s["where"]
        u = s["throttle"][w]
        # THEN the throttle is 0 or within [u_min, 1]
        assert np.all((u == 0.0) | ((u >= u_min[w] - 1e-12) & (u <= 1.0))), u
        # the tilt never exceeds THETA_HIGH
        assert np.all(np.abs(s["pitch_cmd"][w]) <= guidance.THETA_HIGH + 1e-12)
        # the mass never rises and never falls below the dry mass
        assert np.all(s["mass"][w] >= dry[w] - 1e-9)
        # the sigmas are non-negative and finite
        for k in ("agl_sigma", "vz_sigma", "z_sigma"):
            assert np.all(np.isfinite(s[k][w]) & (s[k][w] >= 0.0)), k
        if prev is not None:
            both = w & prev["where"]
            assert np.all(s["mass"][both] <= prev["mass"][both] + 1e-9)
            # a lit engine's command moves by at most U_RATE * DT_RATE_MAX from frame to frame
            # (it moves at a cycle, by U_RATE times the cycle's interval, 0.1 s at 50 Hz)
            lit = both & (prev["throttle"] > 0) & (s["throttle"] > 0)
            assert np.all(np.abs(s["throttle"][lit] - prev["throttle"][lit])
                          <= guidance.U_RATE * guidance.DT_RATE_MAX + 1e-12)
        prev = s
    assert math.isfinite(seen[-1]["mass"][0])

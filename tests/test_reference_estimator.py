"""The reference model's estimator (docs/algorithms.md sections 2 and 3) checked two ways: the
filter's element-wise formulas against the same filter written with matrices, on a grid, and
the cross-check's behaviours (health, reason, answers) on short synthetic streams."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_targets import PRIOR

from host_tools.link import wire
from host_tools.reference import common, guidance
from host_tools.reference import estimator as est
from host_tools.reference import model as ref


def _model_with_random_covariance(n, seed=0):
    rng = np.random.default_rng(seed)
    model = ref.ReferenceModel(n)
    model.init(ref.priors_from([PRIOR] * n))
    a = rng.standard_normal((n, 4, 4))
    p = np.einsum("nij,nkj->nik", a, a) + 0.1 * np.eye(4)  # symmetric positive definite
    model.P = np.ascontiguousarray(p.transpose(1, 2, 0))
    model.vx = rng.uniform(-30, 30, n)
    model.p_vx = rng.uniform(0.1, 4.0, n)
    model.p_vxb = rng.uniform(0.0, 0.1, n)
    return model, p


@pytest.mark.parametrize("dt", [0.001, 0.02, 0.5, 5.0])
@pytest.mark.parametrize("pitch", [-1.2, 0.0, 0.3])
def test_the_prediction_is_F_P_Ft_plus_the_documented_process_noise(dt, pitch):
    # GIVEN random covariances and a grid of steps and attitudes
    n = 5
    model, p = _model_with_random_covariance(n)
    model.dv_axial = np.full(n, 2.0 * dt)  # [m/s] 2 m/s^2 along the thrust axis over dt
    vx_before = model.vx.copy()
    p_vx_before = model.p_vx.copy()
    # WHEN one prediction over the cycle's interval dt runs
    s, c = np.full(n, np.sin(pitch)), np.full(n, np.cos(pitch))
    q_sweep = np.linspace(0.0, 3.0, n)  # [m^2] the terrain under a beam that turned
    model._predict(np.ones(n, dtype=bool), np.full(n, dt), s, c, q_sweep)
    # THEN P equals F P F^T + Q written with matrices (section 2, step 2)
    c0 = np.cos(pitch)
    f = np.array([[1, dt, 0, -0.5 * c0 * dt * dt], [0, 1, 0, -c0 * dt],
                  [0, dt, 1, -0.5 * c0 * dt * dt], [0, 0, 0, 1]])
    ax = -(2.0 - 0.0) * np.sin(pitch)  # f_lateral 0, bias 0
    vx = vx_before + ax * dt
    for i in range(n):
        q = np.diag([est.SLOPE ** 2 * (vx[i] ** 2 + p_vx_before[i]) * est.SLOPE_TIME * dt + q_sweep[i],
                     est.ACC_PSD ** 2 * dt, 0.0, est.BIAS_RW ** 2 * dt])
        expected = f @ p[i] @ f.T + q
        got = model.P[:, :, i]
        assert np.allclose(got, expected, rtol=1e-13, atol=1e-13 * np.abs(expected).max())
        assert np.array_equal(got, got.T)  # kept exactly symmetric


def test_the_fusion_is_the_scalar_kalman_update_with_the_variance_floor():
    # GIVEN random covariances and innovations
    n = 6
    model, p = _model_with_random_covariance(n, seed=3)
    x0 = np.stack((model.h, model.vz, model.z, model.b)).T.copy()
    nu = np.linspace(-20.0, 20.0, n)
    r = np.linspace(0.01, 9.0, n)
    where = np.array([True, True, False, True, True, True])
    # WHEN fused with H = (1, 0, 0, 0)
    model._fuse(where, nu, r)
    # THEN x += K nu, P -= K H P with K = P H^T / (H P H^T + R), floored at MIN_VAR; runs
    # outside the mask untouched
    for i in range(n):
        k = p[i][:, 0] / (p[i][0, 0] + r[i])
        x = x0[i] + k * nu[i] if where[i] else x0[i]
        pp = p[i] - np.outer(k, p[i][0, :]) if where[i] else p[i]
        d = np.diag(pp).copy()
        np.fill_diagonal(pp, np.maximum(d, est.MIN_VAR) if where[i] else d)
        got_x = np.array([model.h[i], model.vz[i], model.z[i], model.b[i]])
        assert np.allclose(got_x, x, rtol=1e-13, atol=1e-12)
        assert np.allclose(model.P[:, :, i], pp, rtol=1e-12, atol=1e-12)


def _stream(n, radar=None, lrf=None, z0=2000.0, vz=-20.0):
    """Frames of a vehicle falling at constant vz over flat ground at 0 (gravity cancelled by
    thrust), radar at 10 Hz, LRF at 10 Hz; radar/lrf: functions (t, true range) -> reading
    or None for no sample."""
    frames = []
    for i in range(1, n + 1):
        t = 0.02 * i
        h = z0 + vz * t
        flags = 0
        rr = lr = 0.0
        if i % 5 == 0:
            v = radar(t, h) if radar else h
            if v is not None:
                flags |= wire.RADAR_VALID | wire.RADAR_NEW
                rr = v
        if i % 5 == 2:
            v = lrf(t, h) if lrf else h
            if v is not None:
                flags |= wire.LRF_VALID | wire.LRF_NEW
                lr = v
        frames.append(wire.Sensor(0, i * 20_000, common.G_MOON, 0.0, 0.0, rr, lr, flags))
    return frames


def _fly(frames, z0=2000.0, vz=-20.0):
    # no horizontal speed: guidance commands no tilt, so the frames' level attitude agrees
    # with the attitude it models (section 4, step 2) and is believed
    prior = dataclasses.replace(PRIOR, z=z0, vz=vz, vx=0.0, z_sigma=5.0, terrain_sigma=20.0,
                                vz_sigma=0.5)
    model = ref.ReferenceModel(1)
    model.init(ref.priors_from([prior]))
    outs = []
    for f in frames:
        o = model.step(ref.frames_from([f]))
        outs.append({k: (v[0] if hasattr(v, "__len__") else v) for k, v in o.items()})
    return outs


def _named(out, who):
    return wire.HEALTH[out[f"{who}_health"]], wire.REASONS[out[f"{who}_reason"]]


def test_both_altimeters_in_agreement_become_ok_after_three_samples_and_aid():
    outs = _fly(_stream(200))
    # GIVEN perfect readings THEN each altimeter is ok from its third sample (RECOVER_N = 3)
    assert _named(outs[5 * 3 - 2], "radar") == ("not_acquired", "no_data")
    assert _named(outs[5 * 3 - 1], "radar") == ("ok", "none")
    assert _named(outs[-1], "lrf") == ("ok", "none")
    assert outs[-1]["mode"] != guidance.MODE_ALTITUDE_UNKNOWN
    assert outs[-1]["agl_sigma"] < 1.0


def test_a_stuck_radar_is_rejected_as_stuck_while_the_lrf_stays_ok():
    # GIVEN a radar that repeats one reading from 1 s on while the vehicle falls at 20 m/s
    outs = _fly(_stream(300, radar=lambda t, h: 1980.0 if t >= 1.0 else h))
    # THEN it is rejected, reason stuck, and the filter follows the LRF
    assert _named(outs[-1], "radar") == ("rejected", "stuck")
    assert _named(outs[-1], "lrf") == ("ok", "none")
    assert abs(outs[-1]["agl"] - (2000.0 - 20.0 * 6.0)) < 1.0


def test_a_lost_lrf_goes_suspect_then_failed():
    # GIVEN an LRF that stops answering at 2 s (within its range window)
    outs = _fly(_stream(300, z0=1500.0, lrf=lambda t, h: h if t < 2.0 else None), z0=1500.0)
    states = [_named(o, "lrf") for o in outs]
    # THEN suspect/no_data after NODATA_S, failed/no_data after FAIL_S; the radar stays ok
    assert ("suspect", "no_data") in states and states[-1] == ("failed", "no_data")
    first_suspect = states.index(("suspect", "no_data"))
    first_failed = states.index(("failed", "no_data"))
    assert 0.02 * (first_failed - first_suspect) == pytest.approx(1.0, abs=0.11)
    assert _named(outs[-1], "radar") == ("ok", "none")


def test_a_terrain_step_seen_by_both_is_accepted_as_terrain_with_z_kept():
    # GIVEN a 100 m crater floor (readings 100 m longer: outside both gates) from 2 s on, seen
    # by both altimeters
    step = 100.0
    outs = _fly(_stream(300, radar=lambda t, h: h + (step if t >= 2.0 else 0.0),
                        lrf=lambda t, h: h + (step if t >= 2.0 else 0.0)))
    # THEN both end ok, the height above terrain follows the readings, z does not jump
    assert _named(outs[-1], "radar") == ("ok", "none")
    assert _named(outs[-1], "lrf") == ("ok", "none")
    assert abs(outs[-1]["agl"] - (2000.0 - 120.0 + step)) < 1.0
    assert abs(outs[-1]["z"] - (2000.0 - 120.0)) < 2.0
    assert abs(outs[-1]["terrain"] + step) < 2.0
    # and in between both were withheld as terrain-step candidates, z never jumped
    seen = {_named(o, w) for o in outs for w in ("radar", "lrf")}
    assert ("suspect", "terrain_step") in seen and ("suspect", "innovation") in seen
    assert max(abs(b["z"] - a["z"]) for a, b in zip(outs[:-1], outs[1:], strict=True)) < 1.0


def test_a_jump_seen_by_the_radar_alone_is_outvoted_by_the_lrf():
    # GIVEN a radar that jumps by 100 m at 2 s while the LRF sees no step
    outs = _fly(_stream(300, radar=lambda t, h: h + (100.0 if t >= 2.0 else 0.0)))
    # THEN the radar is rejected (disagree) and the estimate stays on the LRF
    assert _named(outs[-1], "radar") == ("rejected", "disagree")
    assert _named(outs[-1], "lrf") == ("ok", "none")
    assert abs(outs[-1]["agl"] - (2000.0 - 120.0)) < 1.0

"""Sensor models: noise statistics, sample rates, validity windows, new-sample flags, faults."""

import math

import numpy as np
import pytest

from sim_harness.faults import ContactFaults
from sim_harness.scenario import Contact, Fault, Imu, default_lrf, default_radar
from sim_harness.sensors import AltimeterModel, ContactModel, ImuModel
from sim_harness.streams import sensor_streams

CONTROL_HZ = 50.0


def fly_altimeter(params, true_range, seconds=60.0, faults=(), seed=5):
    """Frames of one altimeter over `seconds` at the control rate: arrays t, reading, valid, new."""
    seeds = sensor_streams(seed)
    m = AltimeterModel("radar", params, seeds["radar"], list(faults), seeds["radar_faults"])
    out = []
    for k in range(1, int(seconds * CONTROL_HZ) + 1):
        t = k / CONTROL_HZ
        r, v, n = m.frame(t, lambda t=t: true_range(t))
        out.append((t, r, v, n))
    a = np.array(out, dtype=float)
    return a[:, 0], a[:, 1], a[:, 2] > 0, a[:, 3] > 0


def test_radar_noise_has_the_stated_sigma():
    t, r, valid, new = fly_altimeter(default_radar(), lambda t: 2000.0, seconds=200.0)
    err = r[new] - 2000.0
    assert err.size == 4001  # samples at 0, 0.05, ..., 200 s
    assert abs(err.mean()) < 0.5
    assert err.std() == pytest.approx(0.5 + 0.003 * 2000.0, rel=0.05)


def test_lrf_noise_has_the_stated_sigma():
    t, r, valid, new = fly_altimeter(default_lrf(), lambda t: 1000.0, seconds=300.0)
    assert (r[new] - 1000.0).std() == pytest.approx(0.1 + 0.0005 * 1000.0, rel=0.05)


def test_samples_arrive_at_the_sensor_rate_with_new_flags_only_on_arrival():
    t, r, valid, new = fly_altimeter(default_radar(), lambda t: 500.0, seconds=10.0)
    assert new.sum() == 201  # 20 Hz: samples at 0, 0.05, ..., 10 s
    # between samples the last value is repeated with the new flag clear
    for i in np.flatnonzero(~new)[:50]:
        assert r[i] == r[i - 1]
    t, r, valid, new = fly_altimeter(default_lrf(), lambda t: 500.0, seconds=10.0)
    assert new.sum() == 101


def test_valid_only_inside_the_range_window():
    # the true range sweeps from 3300 m down to 0 at 50 m/s
    t, r, valid, new = fly_altimeter(default_lrf(), lambda t: max(0.0, 3300.0 - 50.0 * t), seconds=70.0)
    true = np.maximum(0.0, 3300.0 - 50.0 * t)
    sampled = new | ~valid
    assert not valid[true > 3000.0 + 5.0].any()
    assert valid[(true < 2990.0) & (true > 10.0)].all()
    assert not valid[true < 0.5].any()
    assert (r[~valid & sampled] == 0.0).all()


def test_late_acquisition_gives_no_valid_range_until_below_the_threshold():
    p = default_radar()
    p.acquire_below_m = 900.0
    t, r, valid, new = fly_altimeter(p, lambda t: 4000.0 - 60.0 * t, seconds=60.0)
    true = 4000.0 - 60.0 * t
    assert not valid[true > 900.0].any()
    assert valid[true < 890.0].all()


def test_lost_below_gives_no_valid_range_ever_again():
    p = default_radar()
    p.lost_below_m = 50.0
    t, r, valid, new = fly_altimeter(p, lambda t: abs(100.0 - 5.0 * t) + 10.0, seconds=40.0)
    first_low = np.argmax(np.abs(100.0 - 5.0 * t) + 10.0 < 50.0)
    assert valid[:first_low].all()
    assert not valid[first_low + 3 :].any()  # even when the range grows again


def test_unfitted_altimeter_is_never_valid():
    p = default_radar()
    p.fitted = False
    t, r, valid, new = fly_altimeter(p, lambda t: 500.0, seconds=2.0)
    assert not valid.any() and not new.any()


def test_same_seed_same_noise_other_seed_other_noise():
    a = fly_altimeter(default_radar(), lambda t: 800.0, seed=1)[1]
    b = fly_altimeter(default_radar(), lambda t: 800.0, seed=1)[1]
    c = fly_altimeter(default_radar(), lambda t: 800.0, seed=2)[1]
    assert (a == b).all() and not (a == c).all()


def test_imu_reads_bias_scale_and_noise_of_the_stated_size():
    p = Imu(
        accel_bias_mps2=0.02,
        lateral_bias_mps2=-0.01,
        noise_density=0.001,
        scale_factor=1.01,
        attitude_noise_rad=0.003,
        attitude_bias_rad=0.001,
    )
    seeds = sensor_streams(3)
    m = ImuModel(p, CONTROL_HZ, seeds["imu"], seeds["attitude"], [], None)
    frames = np.array([m.frame(k / CONTROL_HZ, 2.0, 0.2) for k in range(20000)])
    fa, fl, pitch = frames.T
    sigma = 0.001 * math.sqrt(CONTROL_HZ)
    assert fa.mean() == pytest.approx(1.01 * 2.0 + 0.02, abs=3 * sigma / math.sqrt(20000) + 1e-4)
    assert fa.std() == pytest.approx(sigma, rel=0.03)
    assert fl.mean() == pytest.approx(-0.01, abs=1e-3)
    assert pitch.mean() == pytest.approx(0.201, abs=1e-4)
    assert pitch.std() == pytest.approx(0.003, rel=0.03)


def test_contact_closes_within_the_probe_length():
    m = ContactModel(Contact(probe_length_m=0.3), [])
    assert not m.frame(0.0, 0.31)
    assert m.frame(0.0, 0.29)
    assert not ContactModel(Contact(fitted=False), []).frame(0.0, 0.0)


# ------------------------------------------------------------------ faults


def fault(kind, value=0.0, start=10.0, end=None, sensor="radar"):
    return Fault(sensor=sensor, kind=kind, start_s=start, end_s=end, value=value)


def quiet_radar():
    p = default_radar()
    p.noise_m = 0.0
    p.noise_fraction = 0.0
    return p


def descending(t):
    return 1000.0 - 10.0 * t


def test_dropout_clears_valid_and_new_inside_its_window_only():
    t, r, valid, new = fly_altimeter(quiet_radar(), descending, 30.0, [fault("dropout", end=20.0)])
    inside = (t >= 10.0) & (t < 20.0)
    assert not valid[inside].any() and not new[inside].any()
    assert valid[t < 10.0].all() and valid[t > 20.1].all()


def test_stuck_repeats_the_last_reading_as_valid_with_new_flags():
    t, r, valid, new = fly_altimeter(quiet_radar(), descending, 30.0, [fault("stuck")])
    last_before = r[t < 10.0][-1]
    after = t >= 10.0
    assert (r[after] == last_before).all() and valid[after].all()
    assert new[after].sum() == pytest.approx(20 * 20, abs=1)


def test_bias_drift_and_scale_offset_the_reading():
    # (compare in the frames where a sample arrived: between them the reading is held)
    t, r, _, new = fly_altimeter(quiet_radar(), descending, 30.0, [fault("bias", 30.0)])
    after = new & (t >= 10.0)
    before = new & (t < 10.0)
    np.testing.assert_allclose(r[after] - descending(t[after]), 30.0, atol=1e-9)
    np.testing.assert_allclose(r[before] - descending(t[before]), 0.0, atol=1e-9)
    t, r, _, new = fly_altimeter(quiet_radar(), descending, 30.0, [fault("drift", 2.0)])
    np.testing.assert_allclose(r[after] - descending(t[after]), 2.0 * (t[after] - 10.0), atol=1e-9)
    t, r, _, new = fly_altimeter(quiet_radar(), descending, 30.0, [fault("scale", 1.1)])
    np.testing.assert_allclose(r[after], 1.1 * descending(t[after]))


def test_spikes_are_single_sample_outliers_about_once_a_second():
    t, r, valid, new = fly_altimeter(quiet_radar(), lambda t: 500.0, 210.0, [fault("spike", 150.0)])
    err = r[new & (t >= 10.0)] - 500.0
    spikes = np.abs(err) > 1.0
    assert set(np.round(np.abs(err[spikes]))) == {150.0}
    assert 150 < spikes.sum() < 250  # about 200 in 200 s
    assert (err > 100).any() and (err < -100).any()


def test_noise_burst_adds_the_stated_sigma_inside_its_window():
    t, r, valid, new = fly_altimeter(quiet_radar(), lambda t: 500.0, 300.0, [fault("noise", 40.0, end=210.0)])
    inside = new & (t >= 10.0) & (t < 210.0)
    assert (r[inside] - 500.0).std() == pytest.approx(40.0, rel=0.05)
    assert (r[new & (t >= 210.0)] == 500.0).all()


def test_delay_returns_the_sample_taken_value_seconds_earlier():
    t, r, valid, new = fly_altimeter(quiet_radar(), descending, 30.0, [fault("delay", 2.0)])
    after = new & (t >= 10.0)
    np.testing.assert_allclose(r[after], descending(t[after] - 2.0), atol=1e-9)


def test_imu_faults_act_on_the_accelerometers():
    def run(f):
        seeds = sensor_streams(1)
        m = ImuModel(
            Imu(accel_bias_mps2=0.0, lateral_bias_mps2=0.0, noise_density=0.0, attitude_noise_rad=0.0),
            CONTROL_HZ,
            seeds["imu"],
            seeds["attitude"],
            [f],
            seeds["imu_faults"],
        )
        return np.array([m.frame(k / CONTROL_HZ, 2.0 + 0.01 * k, 0.0) for k in range(1000)])

    out = run(fault("bias", 0.05, sensor="imu"))
    assert out[600, 0] == pytest.approx(2.0 + 6.0 + 0.05)
    out = run(fault("dropout", sensor="imu"))
    assert math.isnan(out[600, 0]) and math.isnan(out[600, 1]) and out[499, 0] == pytest.approx(6.99)
    out = run(fault("stuck", sensor="imu"))
    assert out[600, 0] == out[499, 0]
    out = run(fault("scale", 2.0, sensor="imu"))
    assert out[600, 0] == pytest.approx(2 * 8.0)


def test_contact_faults():
    stuck_closed = ContactFaults([fault("stuck", 1.0, sensor="contact")])
    assert not stuck_closed.on_sample(9.0, False) and stuck_closed.on_sample(10.0, False)
    dead = ContactFaults([fault("dropout", sensor="contact")])
    assert not dead.on_sample(11.0, True)
    pulse = ContactFaults([fault("spike", 0.0, sensor="contact")])
    seen = [pulse.on_sample(k / CONTROL_HZ, False) for k in range(1000)]
    assert sum(seen) == 1 and seen[500]

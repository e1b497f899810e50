"""Attitude faults (fault sensor `attitude`): the pitch reading lies, the accelerometers do not."""

import math

import numpy as np
import pytest

from sim_harness.closedloop import run_scenario
from sim_harness.library import builtin_dir
from sim_harness.pilot import TruthPilot
from sim_harness.scenario import Fault, Imu, ScenarioError, load_scenario, parse_scenario
from sim_harness.sensors import ImuModel
from sim_harness.streams import sensor_streams

CONTROL_HZ = 50.0


def fault(kind, value=0.0, start=10.0, end=None, sensor="attitude"):
    return Fault(sensor=sensor, kind=kind, start_s=start, end_s=end, value=value)


def fly_imu(faults, seconds=20.0, pitch=lambda t: 0.1 + 0.01 * t, imu_faults=()):
    """Frames (t, f_axial, f_lateral, pitch reading) of a noiseless IMU with attitude faults."""
    seeds = sensor_streams(3)
    m = ImuModel(Imu(accel_bias_mps2=0.0, lateral_bias_mps2=0.0, noise_density=0.0, attitude_noise_rad=0.0),
                 CONTROL_HZ, seeds["imu"], seeds["attitude"], list(imu_faults), seeds["imu_faults"],
                 list(faults), seeds["attitude_faults"])
    out = []
    for k in range(1, int(seconds * CONTROL_HZ) + 1):
        t = k / CONTROL_HZ
        out.append((t, *m.frame(t, 2.0, pitch(t))))
    return np.array(out)


def test_every_kind_acts_on_the_pitch_reading_only_inside_its_window():
    truth = lambda t: 0.1 + 0.01 * t  # noqa: E731
    a = fly_imu([fault("bias", 0.3, end=15.0)])
    t, fa, p = a[:, 0], a[:, 1], a[:, 3]
    inside = (t >= 10.0) & (t < 15.0)
    np.testing.assert_allclose(p[inside], truth(t[inside]) + 0.3)
    np.testing.assert_allclose(p[~inside], truth(t[~inside]))
    assert (fa == 2.0).all()  # the accelerometers are untouched

    a = fly_imu([fault("drift", 0.5, end=11.0)])
    t, p = a[:, 0], a[:, 3]
    w = (t >= 10.0) & (t < 11.0)
    np.testing.assert_allclose(p[w], truth(t[w]) + 0.5 * (t[w] - 10.0))

    a = fly_imu([fault("dropout")])
    assert np.isnan(a[a[:, 0] >= 10.0, 3]).all() and not np.isnan(a[a[:, 0] < 10.0, 3]).any()

    a = fly_imu([fault("stuck")])
    t, p = a[:, 0], a[:, 3]
    assert (p[t >= 10.0] == p[np.flatnonzero(t < 10.0)[-1]]).all()

    a = fly_imu([fault("scale", 2.0)])
    t, p = a[:, 0], a[:, 3]
    np.testing.assert_allclose(p[t >= 10.0], 2.0 * truth(t[t >= 10.0]))

    a = fly_imu([fault("delay", 1.0)])
    t, p = a[:, 0], a[:, 3]
    np.testing.assert_allclose(p[t >= 11.0], truth(t[t >= 11.0] - 1.0), atol=1e-12)

    a = fly_imu([fault("noise", 0.05)], seconds=210.0)
    t, p = a[:, 0], a[:, 3]
    assert (p[t >= 10.0] - truth(t[t >= 10.0])).std() == pytest.approx(0.05, rel=0.05)

    a = fly_imu([fault("spike", 0.4)], seconds=210.0)
    t, p = a[:, 0], a[:, 3]
    err = p[t >= 10.0] - truth(t[t >= 10.0])
    spikes = np.abs(err) > 1e-9
    np.testing.assert_allclose(np.abs(err[spikes]), 0.4)
    assert 150 < spikes.sum() < 250  # one a second on average


def test_a_saturation_is_a_drift_then_the_bias_it_integrated():
    a = fly_imu([fault("drift", 0.5, start=10.0, end=11.0), fault("bias", 0.5, start=11.0)])
    t, p = a[:, 0], a[:, 3]
    err = p - (0.1 + 0.01 * t)
    assert err[t < 10.0] == pytest.approx(0.0)
    assert err[(t >= 10.98) & (t < 11.0)] == pytest.approx(0.49, abs=0.011)
    assert err[t >= 11.0] == pytest.approx(0.5)


def test_imu_faults_and_attitude_faults_are_independent():
    both = fly_imu([fault("bias", 0.2)], imu_faults=[fault("bias", 0.05, sensor="imu")])
    t = both[:, 0]
    assert both[t >= 10.0, 1] == pytest.approx(2.05)
    assert both[t >= 10.0, 3] == pytest.approx(0.1 + 0.01 * t[t >= 10.0] + 0.2)


GOOD = {"name": "t", "seed": 1, "initial": {"altitude_m": 3000.0, "downrange_m": 0.0,
                                             "vertical_speed_mps": -40.0, "horizontal_speed_mps": 20.0}}


def test_scenario_validation_knows_the_attitude_sensor():
    bias = {"sensor": "attitude", "kind": "bias", "start_s": 1.0, "value": 0.2}
    s = parse_scenario({**GOOD, "fault": [bias]})
    assert s.faults[0].sensor == "attitude"
    with pytest.raises(ScenarioError, match=r"fault\[0\]\.kind: unknown fault kind 'gremlin' for attitude"):
        parse_scenario({**GOOD, "fault": [{"sensor": "attitude", "kind": "gremlin", "start_s": 1.0}]})
    with pytest.raises(ScenarioError, match="attitude"):  # the message lists it among the known sensors
        parse_scenario({**GOOD, "fault": [{"sensor": "gyro", "kind": "bias", "start_s": 1.0}]})
    # its model is part of [sensors.imu]
    with pytest.raises(ScenarioError, match=r"sensors\.attitude: unknown sensor"):
        parse_scenario({**GOOD, "sensors": {"attitude": {}}})


def test_an_attitude_fault_leaves_the_other_sensors_streams_alone():
    s = load_scenario(builtin_dir() / "nominal-flat.toml")
    a = run_scenario(s, TruthPilot())
    s.faults = [fault("bias", 0.3, start=5.0)]
    b = run_scenario(s, TruthPilot())
    assert a.steps == b.steps
    for name in ("radar_range_m", "lrf_range_m", "f_axial_mps2", "f_lateral_mps2"):
        np.testing.assert_array_equal(a.column(name), b.column(name))
    pa, pb, t = a.column("pitch_meas_rad"), b.column("pitch_meas_rad"), a.column("t_s")
    np.testing.assert_array_equal(pa[t < 5.0], pb[t < 5.0])
    np.testing.assert_allclose(pb[t >= 5.0] - pa[t >= 5.0], 0.3, atol=1e-6)  # float32 on the wire


def test_the_schiaparelli_like_scenario_is_fair_and_asks_for_a_soft_landing():
    # a library scenario (it waited in scenarios/pending/ until the firmware survived it)
    s = load_scenario(builtin_dir() / "attitude-saturation-2016.toml")
    assert {f.sensor for f in s.faults} == {"attitude"}
    assert "Schiaparelli" in s.description
    integrated = sum(f.value * ((f.end_s or f.start_s) - f.start_s) for f in s.faults if f.kind == "drift")
    assert math.isclose(integrated, next(f.value for f in s.faults if f.kind == "bias"))
    e = s.expect
    assert e.outcome == "landed"
    assert e.max_touchdown_vertical_mps == 2.0 and e.max_touchdown_horizontal_mps == 1.0
    assert e.never_rejected == ["radar", "lrf"]
    r = run_scenario(s, TruthPilot())  # the truth pilot ignores the sensors: the descent can be flown
    assert r.outcome == "landed" and abs(r.touchdown["vertical_speed_mps"]) <= 2.0

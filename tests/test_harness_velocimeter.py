"""The Doppler velocimeter: beam geometry, validity window, default off, faults per beam and per
unit, scenario keys and their errors, the TOML round trip, Monte Carlo, frames and log."""

import dataclasses
import math
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from host_tools.link import wire
from sim_harness import model_loop, montecarlo
from sim_harness.closedloop import COLUMNS, make_init, run_scenario
from sim_harness.library import builtin_dir
from sim_harness.pilot import TruthPilot
from sim_harness.scenario import (
    Fault,
    ScenarioError,
    Velocimeter,
    load_scenario,
    parse_scenario,
    scenario_to_toml,
)
from sim_harness.sensors import VecVelocimeter, VelocimeterModel
from sim_harness.streams import sensor_streams
from sim_harness.terrain import Terrain, VecTerrain

CONTROL_HZ = 50.0
CANT = 0.35  # [rad] the default cant

GOOD = """
name = "v"
seed = 3
duration_s = 20.0
[initial]
altitude_m = 1500.0
downrange_m = 0.0
vertical_speed_mps = -30.0
horizontal_speed_mps = 10.0
"""


def quiet(**kw) -> Velocimeter:
    """A fitted velocimeter without noise, bias or scale error (overrides by keyword)."""
    return Velocimeter(**{"fitted": True, "noise_mps": 0.0, "noise_fraction": 0.0, **kw})


def los(vx, vz, angle):
    """[m/s] v . d for the beam direction d = (sin angle, -cos angle), written out by hand."""
    return vx * math.sin(angle) + (-vz) * math.cos(angle)


def fly(params, state, seconds=30.0, faults=(), seed=5, terrain=None):
    """Frames of one velocimeter at the control rate. state(t) -> (x, z, vx, vz, pitch).
    Returns arrays t, and per beam (reading, valid, new) as a[0..1], v[0..1], n[0..1]."""
    terrain = terrain or Terrain.flat()
    seeds = sensor_streams(seed)
    m = VelocimeterModel(params, seeds["velocimeter"], list(faults), seeds["velocimeter_faults"])
    rows = []
    for k in range(1, int(seconds * CONTROL_HZ) + 1):
        t = k / CONTROL_HZ
        x, z, vx, vz, pitch = state(t)
        (ra, va, na), (rb, vb, nb) = m.frame(t, vx, vz, pitch,
                                             lambda angle, x=x, z=z: terrain.ray_range(x, z, angle))
        rows.append((t, ra, rb, va, vb, na, nb))
    a = np.array(rows, dtype=float)
    return a[:, 0], a[:, 1:3].T, a[:, 3:5].T > 0, a[:, 5:7].T > 0


def steady(t, x=0.0, z=1000.0, vx=10.0, vz=-20.0, pitch=0.2):
    return x, z, vx, vz, pitch


def descending(t):
    """Speeds that change with time, so that held, delayed and frozen readings differ."""
    return 0.0, 1000.0, 10.0 - 0.2 * t, -20.0 + 0.5 * t, 0.1


def true_beams(t, alpha=CANT):
    x, z, vx, vz, pitch = descending(t)
    return np.array([los(vx, vz, pitch - alpha), los(vx, vz, pitch + alpha)])


# ------------------------------------------------------------------ geometry


@pytest.mark.parametrize("pitch", [-0.9, -0.35, 0.0, 0.2, 0.35, 0.7])
@pytest.mark.parametrize("vx, vz", [(0.0, -40.0), (30.0, -10.0), (-5.0, 2.0)])
def test_each_beam_reads_the_velocity_along_its_line_of_sight(pitch, vx, vz):
    # given a noiseless velocimeter at 1000 m over flat ground, moving at (vx, vz) at a pitch
    m = VelocimeterModel(quiet(), sensor_streams(1)["velocimeter"], [], None)
    # when a sample is taken
    (ra, va, na), (rb, vb, nb) = m.frame(0.02, vx, vz, pitch, lambda a: Terrain.flat().ray_range(0, 1000, a))
    # then beam A (at pitch - cant) and beam B (at pitch + cant) read v . d of their direction
    assert va and vb and na and nb
    assert ra == pytest.approx(los(vx, vz, pitch - CANT), abs=1e-12)
    assert rb == pytest.approx(los(vx, vz, pitch + CANT), abs=1e-12)


def test_hand_computed_beams():
    # given pitch = +cant: beam A looks straight down, beam B at 2 cant toward +x
    m = VelocimeterModel(quiet(), sensor_streams(1)["velocimeter"], [], None)
    (ra, _, _), (rb, _, _) = m.frame(0.0, 10.0, -40.0, CANT, lambda a: 500.0)
    # then A reads the descent rate alone, B adds the downrange speed's share
    assert ra == pytest.approx(40.0, abs=1e-12)
    assert rb == pytest.approx(10.0 * math.sin(0.7) + 40.0 * math.cos(0.7), abs=1e-12)
    # given a level vehicle moving only across at +10 m/s: B closes, A opens, symmetric
    m = VelocimeterModel(quiet(), sensor_streams(1)["velocimeter"], [], None)
    (ra, _, _), (rb, _, _) = m.frame(0.0, 10.0, 0.0, 0.0, lambda a: 500.0)
    assert rb == pytest.approx(10.0 * math.sin(CANT)) and ra == pytest.approx(-rb)


def test_bias_scale_and_noise_of_the_stated_size():
    # given a unit with bias, scale error and noise, flying steadily
    p = Velocimeter(fitted=True, bias_mps=0.05, scale=1.01, noise_mps=0.02, noise_fraction=0.002)
    t, r, valid, new = fly(p, steady, seconds=400.0)
    # then each beam's samples have mean scale * v.d + bias and sigma noise + fraction * |v.d|
    for i, alpha in enumerate((-CANT, CANT)):
        truth = los(10.0, -20.0, 0.2 + alpha)
        err = r[i][new[i]] - (1.01 * truth + 0.05)
        assert err.size == 4001  # 10 Hz: samples at 0, 0.1, ..., 400 s
        assert abs(err.mean()) < 0.003
        assert err.std() == pytest.approx(0.02 + 0.002 * abs(truth), rel=0.05)
    # and the two beams' noises are independent
    ea = r[0][new[0]] - r[0][new[0]].mean()
    eb = r[1][new[1]] - r[1][new[1]].mean()
    assert abs(np.corrcoef(ea, eb)[0, 1]) < 0.1


def test_samples_arrive_at_the_rate_and_are_held_with_new_clear():
    # given the default 10 Hz unit read at 50 Hz
    t, r, valid, new = fly(Velocimeter(fitted=True), descending, seconds=10.0)
    # then a new sample arrives every fifth frame, on both beams together
    assert new[0].sum() == 101 and (new[0] == new[1]).all()  # samples at 0, 0.1, ..., 10 s
    # and between samples the last reading is repeated, still valid
    for i in np.flatnonzero(~new[0]):
        assert r[0][i] == r[0][i - 1] and r[1][i] == r[1][i - 1]
    assert valid.all()


def test_same_seed_same_noise_other_seed_other_noise():
    p = Velocimeter(fitted=True)
    a = fly(p, steady, seed=1)[1]
    b = fly(p, steady, seed=1)[1]
    c = fly(p, steady, seed=2)[1]
    assert (a == b).all() and not (a == c).all()


# ------------------------------------------------------------------ validity window


def test_a_canted_beam_loses_the_ground_beyond_max_range():
    # given a level descent from 4200 m at 20 m/s: the beams' slant range is h / cos(cant)
    def state(t):
        return 0.0, 4200.0 - 20.0 * t, 0.0, -20.0, 0.0

    t, r, valid, new = fly(Velocimeter(fitted=True), state, seconds=60.0)
    slant = (4200.0 - 20.0 * t) / math.cos(CANT)
    # then the beams are invalid and read 0 while the slant range exceeds 4000 m, even though
    # the height (under 4000 m from t = 10 s) is within it
    held = 0.2  # [s] a sample is held for up to 0.1 s
    out = slant > 4000.0 + 20.0 * held
    assert out.any() and not valid[:, out].any() and (r[:, out] == 0.0).all()
    assert not valid[:, (4200.0 - 20.0 * t < 4000.0) & out].any()
    # and valid once it is within
    assert valid[:, slant < 4000.0 - 20.0 * held].all()


def test_at_a_pitch_one_beam_is_out_of_range_and_the_other_not():
    # given a pitch of 0.3 rad at 3700 m over flat ground: beam A is 0.05 rad from vertical
    # (slant 3705 m), beam B 0.65 rad (slant 4666 m)
    t, r, valid, new = fly(Velocimeter(fitted=True), lambda t: (0.0, 3700.0, 5.0, -20.0, 0.3), seconds=1.0)
    # then A is valid, B not
    assert valid[0].all() and not valid[1].any() and (r[1] == 0.0).all()


def test_min_range_and_the_terrain_under_each_beam():
    # given a wall 400 m high at x = 100 m, the lander at x = 0, 300 m up, level
    wall = Terrain([-1000.0, 100.0, 100.001, 1000.0], [0.0, 0.0, 400.0, 400.0])
    seeds = sensor_streams(1)
    m = VelocimeterModel(quiet(min_range_m=1.0, max_range_m=320.0), seeds["velocimeter"], [], None)
    ranges = []

    def slant(angle):
        ranges.append(wall.ray_range(0.0, 300.0, angle))
        return ranges[-1]

    # when a sample is taken
    (ra, va, _), (rb, vb, _) = m.frame(0.0, 0.0, -10.0, 0.0, slant)
    # then beam B (toward +x) meets the wall 100 m across: 100 / sin(cant) = 292.3 m along it,
    # in range; beam A (toward -x) meets the floor at 300 / cos(cant) = 319.4 m, in range
    assert ranges[1] == pytest.approx(100.0 / math.sin(CANT), rel=1e-4) and vb
    assert ranges[0] == pytest.approx(300.0 / math.cos(CANT)) and va
    assert m.true_range == ranges
    # given a range window that starts beyond 300 m, a beam closer than that is invalid
    m = VelocimeterModel(quiet(min_range_m=300.0), seeds["velocimeter"], [], None)
    (ra, va, _), (rb, vb, _) = m.frame(0.0, 0.0, -10.0, 0.0, slant)
    assert va and not vb and rb == 0.0


def test_a_beam_at_or_above_the_horizontal_never_meets_the_ground():
    # given a pitch of 1.25 rad: beam A (0.9 rad from straight down) meets the ground, beam B
    # (1.6 rad: above the horizontal) never does
    m = VelocimeterModel(quiet(max_range_m=1e9), sensor_streams(1)["velocimeter"], [], None)
    (_, va, _), (_, vb, _) = m.frame(0.0, 0.0, -1.0, 1.25, lambda a: Terrain.flat().ray_range(0.0, 10.0, a))
    assert va and not vb


# ------------------------------------------------------------------ default off


def test_without_the_table_no_velocimeter_is_fitted(tmp_path):
    # given a scenario without [sensors.velocimeter]
    s = parse_scenario(tomllib.loads(GOOD))
    # then none is fitted, its model reads nothing, the INIT carries the default cant
    assert s.sensors.velocimeter == Velocimeter() and not s.sensors.velocimeter.fitted
    m = VelocimeterModel(s.sensors.velocimeter, sensor_streams(1)["velocimeter"], [], None)
    assert m.frame(0.0, 10.0, -20.0, 0.0, lambda a: 100.0) == ((0.0, False, False), (0.0, False, False))
    assert make_init(s).beam_cant == wire.DEFAULT_BEAM_CANT == Velocimeter().cant_rad


def test_the_table_fits_one_unless_it_says_not():
    s = parse_scenario(tomllib.loads(GOOD + "[sensors.velocimeter]\nrate_hz = 20.0\n"))
    assert s.sensors.velocimeter.fitted and s.sensors.velocimeter.rate_hz == 20.0
    s = parse_scenario(tomllib.loads(GOOD + "[sensors.velocimeter]\n"))
    assert s.sensors.velocimeter == dataclasses.replace(Velocimeter(), fitted=True)
    s = parse_scenario(tomllib.loads(GOOD + "[sensors.velocimeter]\nfitted = false\ncant_rad = 0.3\n"))
    assert not s.sensors.velocimeter.fitted and make_init(s).beam_cant == 0.3


def test_library_frames_carry_zero_beams():
    # given an existing scenario of the library (no velocimeter) flown by the truth pilot
    s = load_scenario(builtin_dir() / "nominal-flat.toml")
    s = dataclasses.replace(s, duration_s=5.0)
    frames = []

    class Recorder(TruthPilot):
        def step(self, frame):
            frames.append(frame)
            return super().step(frame)

    r = run_scenario(s, Recorder())
    # then every frame's beams are zero with no flags, and so is the log
    assert len(frames) == 250
    assert all(f.beam_a == 0.0 and f.beam_b == 0.0 and f.beam_flags == 0 for f in frames)
    assert (r.column("beam_a_mps") == 0.0).all() and (r.column("beam_b_valid") == 0).all()


# ------------------------------------------------------------------ faults


def vfault(kind, value=0.0, beam=None, start=10.0, end=None):
    return Fault(sensor="velocimeter", kind=kind, start_s=start, end_s=end, value=value, beam=beam)


BEAM_CASES = [("a", (0,), (1,)), ("b", (1,), (0,)), (None, (0, 1), ())]


@pytest.mark.parametrize("beam, hit, spared", BEAM_CASES)
def test_dropout_on_a_beam_or_the_unit(beam, hit, spared):
    # given a dropout from 10 s to 20 s
    t, r, valid, new = fly(quiet(), descending, 30.0, [vfault("dropout", beam=beam, end=20.0)])
    inside = (t >= 10.0) & (t < 20.0)
    # then the faulty beams have neither valid nor new flags inside the window, and return after
    for i in hit:
        assert not valid[i][inside].any() and not new[i][inside].any()
        assert valid[i][t < 10.0].all() and valid[i][t >= 20.1].all()
    # and the other beam is untouched
    for i in spared:
        assert valid[i].all() and new[i][inside].sum() == 100  # 10 s at 10 Hz


@pytest.mark.parametrize("beam, hit, spared", BEAM_CASES)
def test_stuck_bias_drift_scale_delay_on_a_beam_or_the_unit(beam, hit, spared):
    clean_t, clean, _, clean_new = fly(quiet(), descending, 30.0)
    truth = true_beams(clean_t)
    after = clean_new[0] & (clean_t >= 10.0)
    np.testing.assert_allclose(clean[:, clean_new[0]], truth[:, clean_new[0]], atol=1e-12)
    expected = {
        "bias": lambda tr, tt: tr + 0.3,
        "drift": lambda tr, tt: tr + 0.05 * (tt - 10.0),
        "scale": lambda tr, tt: 1.1 * tr,
        "delay": lambda tr, tt: true_beams(tt - 2.0),
    }
    for kind, value in (("bias", 0.3), ("drift", 0.05), ("scale", 1.1), ("delay", 2.0)):
        # given one fault of this kind from 10 s
        t, r, valid, new = fly(quiet(), descending, 30.0, [vfault(kind, value, beam=beam)])
        want = expected[kind](truth, t)
        # then the faulty beams' samples after 10 s are changed as the altimeters' would be
        for i in hit:
            np.testing.assert_allclose(r[i][after], want[i][after], atol=1e-9, err_msg=kind)
            np.testing.assert_allclose(r[i][~after & new[i] & (t < 10.0)],
                                       truth[i][~after & new[i] & (t < 10.0)], atol=1e-12)
            assert valid[i].all()
        # and the other beam reads exactly what it reads without the fault
        for i in spared:
            assert (r[i] == clean[i]).all() and valid[i].all()

    # stuck: the last reading before 10 s, valid, with new flags at the rate
    t, r, valid, new = fly(quiet(), descending, 30.0, [vfault("stuck", beam=beam)])
    for i in hit:
        last = r[i][t < 10.0][-1]
        assert (r[i][t >= 10.0] == last).all() and valid[i].all()
        assert new[i][t >= 10.0].sum() == pytest.approx(200, abs=1)
    for i in spared:
        assert (r[i] == clean[i]).all()


@pytest.mark.parametrize("beam, hit, spared", BEAM_CASES)
def test_spike_and_noise_on_a_beam_or_the_unit(beam, hit, spared):
    clean = fly(quiet(), steady, 210.0)[1]
    # given spikes of 5 m/s from 10 s
    t, r, valid, new = fly(quiet(), steady, 210.0, [vfault("spike", 5.0, beam=beam)])
    # then the faulty beams have single-sample outliers of +-5 m/s about once a second
    for i in hit:
        err = r[i][new[i] & (t >= 10.0)] - clean[i][new[i] & (t >= 10.0)]
        spikes = np.abs(err) > 1e-6
        assert set(np.round(np.abs(err[spikes]), 9)) == {5.0}
        assert 150 < spikes.sum() < 250 and (err[spikes] > 0).any() and (err[spikes] < 0).any()
    for i in spared:
        assert (r[i] == clean[i]).all()
    if beam is None:  # the unit's beams spike independently
        sa = np.abs(r[0] - clean[0]) > 1e-6
        sb = np.abs(r[1] - clean[1]) > 1e-6
        assert (sa != sb).any()
    # given a noise burst of 0.5 m/s from 10 s to 110 s
    t, r, valid, new = fly(quiet(), steady, 210.0, [vfault("noise", 0.5, beam=beam, end=110.0)])
    inside = new[0] & (t >= 10.0) & (t < 110.0)
    for i in hit:
        assert (r[i][inside] - clean[i][inside]).std() == pytest.approx(0.5, rel=0.08)
        assert (r[i][new[i] & (t >= 110.0)] == clean[i][new[i] & (t >= 110.0)]).all()
    for i in spared:
        assert (r[i] == clean[i]).all()


def test_unit_and_beam_faults_combine_in_file_order():
    # given a unit bias and a scale on beam B only
    t, r, valid, new = fly(quiet(), descending, 30.0, [vfault("bias", 1.0), vfault("scale", 2.0, beam="b")])
    truth = true_beams(t)
    after = new[0] & (t >= 10.0)
    # then A is biased, B biased then scaled
    np.testing.assert_allclose(r[0][after], truth[0][after] + 1.0, atol=1e-9)
    np.testing.assert_allclose(r[1][after], 2.0 * (truth[1][after] + 1.0), atol=1e-9)


def test_a_fault_on_an_out_of_range_beam_keeps_it_invalid():
    # given beam B out of range (see the pitch test) with a bias on the unit
    t, r, valid, new = fly(quiet(), lambda t: (0.0, 3700.0, 5.0, -20.0, 0.3), 12.0, [vfault("bias", 1.0)])
    # then B stays invalid and reads 0; A is biased
    assert not valid[1].any() and (r[1] == 0.0).all() and valid[0].all()


# ------------------------------------------------------------------ scenario keys


def write(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


FITTED = GOOD + "[sensors.velocimeter]\n"
FAULT = "[[fault]]\nsensor = '{sensor}'\nkind = 'bias'\nstart_s = 1.0\nvalue = 0.1\n"


@pytest.mark.parametrize(
    "text, key, what",
    [
        (FITTED + "cant = 0.3\n", "sensors.velocimeter.cant", "unknown key"),
        (FITTED + "fitted = 1\n", "sensors.velocimeter.fitted", "true or false"),
        (FITTED + "rate_hz = 'fast'\n", "sensors.velocimeter.rate_hz", "number"),
        (FITTED + "noise_mps = true\n", "sensors.velocimeter.noise_mps", "number"),
        (FITTED + "bias_mps = nan\n", "sensors.velocimeter.bias_mps", "finite"),
        (FITTED + "cant_rad = 0.0\n", "sensors.velocimeter.cant_rad", "within (0, pi/2)"),
        (FITTED + "cant_rad = 1.6\n", "sensors.velocimeter.cant_rad", "within (0, pi/2)"),
        (FITTED + "cant_rad = -0.35\n", "sensors.velocimeter.cant_rad", "within (0, pi/2)"),
        (FITTED + "rate_hz = 0.0\n", "sensors.velocimeter.rate_hz", "> 0"),
        (FITTED + "noise_mps = -0.1\n", "sensors.velocimeter.noise_mps", ">= 0"),
        (FITTED + "noise_fraction = -0.1\n", "sensors.velocimeter.noise_fraction", ">= 0"),
        (FITTED + "scale = 0.0\n", "sensors.velocimeter.scale", "> 0"),
        (FITTED + "min_range_m = -1.0\n", "sensors.velocimeter.min_range_m", ">= 0"),
        (FITTED + "max_range_m = 1.0\n", "sensors.velocimeter.max_range_m", "must exceed"),
        (GOOD + FAULT.format(sensor="velocimeter"), "fault[0].sensor", "no velocimeter"),
        (FITTED + "fitted = false\n" + FAULT.format(sensor="velocimeter"), "fault[0].sensor",
         "no velocimeter"),
        (GOOD + FAULT.format(sensor="radar") + "beam = 'a'\n", "fault[0].beam", "only the velocimeter"),
        (FITTED + FAULT.format(sensor="velocimeter") + "beam = 'c'\n", "fault[0].beam", "unknown beam"),
        (FITTED + FAULT.format(sensor="velocimeter") + "beam = 1\n", "fault[0].beam", "string"),
        (FITTED + FAULT.format(sensor="velocimeter").replace("bias", "gremlin"), "fault[0].kind", "unknown"),
    ],
)
def test_bad_velocimeter_keys_are_named(tmp_path, text, key, what):
    # given a scenario with one bad velocimeter key, when it is loaded, then one line names it
    with pytest.raises(ScenarioError) as e:
        load_scenario(write(tmp_path, text))
    msg = str(e.value)
    assert "\n" not in msg and "s.toml" in msg
    assert f": {key}: " in msg and what in msg, msg


def test_every_fault_kind_and_beam_loads(tmp_path):
    for kind in ("dropout", "stuck", "bias", "drift", "spike", "noise", "delay", "scale"):
        for beam in ("", "beam = 'a'\n", "beam = 'b'\n"):
            text = FITTED + FAULT.format(sensor="velocimeter").replace("bias", kind) + beam
            s = load_scenario(write(tmp_path, text))
            assert s.faults[0].kind == kind and s.faults[0].beam == (beam[8] if beam else None)


def test_a_bad_velocimeter_key_is_exit_2_from_the_cli(tmp_path):
    p = write(tmp_path, FITTED + "cant_rad = 2.0\n")
    r = subprocess.run([sys.executable, "-m", "host_tools", "sim", str(p), "--target", "cpython",
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "sensors.velocimeter.cant_rad" in r.stderr


@pytest.mark.parametrize(
    "extra",
    [
        "",
        "[sensors.velocimeter]\n",
        "[sensors.velocimeter]\nfitted = false\ncant_rad = 0.25\n",
        "[sensors.velocimeter]\ncant_rad = 0.3\nrate_hz = 20.0\nnoise_mps = 0.05\nnoise_fraction = 0.001\n"
        "bias_mps = -0.01\nscale = 1.002\nmin_range_m = 2.5\nmax_range_m = 3000.0\n"
        + FAULT.format(sensor="velocimeter") + "beam = 'a'\nend_s = 5.0\n"
        + FAULT.format(sensor="velocimeter").replace("bias", "dropout")
        + FAULT.format(sensor="velocimeter").replace("bias", "delay") + "beam = 'b'\n"
        + FAULT.format(sensor="radar"),
    ],
)
def test_toml_round_trip(extra):
    # given a scenario with (or without) a velocimeter and beam faults
    s = parse_scenario(tomllib.loads(GOOD + extra))
    # when it is written and read back, then it is equal, beams and all
    text = scenario_to_toml(s)
    back = parse_scenario(tomllib.loads(text), s.source)
    assert back == s
    assert ("[sensors.velocimeter]" in text) == (extra != "")
    assert [f.beam for f in back.faults] == [f.beam for f in s.faults]


# ------------------------------------------------------------------ Monte Carlo


def test_dispersion_touches_a_fitted_velocimeter_only_and_nothing_else():
    # given the same scenario with and without a velocimeter
    without = parse_scenario(tomllib.loads(GOOD))
    fitted = parse_scenario(tomllib.loads(FITTED))
    a = montecarlo.disperse(without, 1234)
    b = montecarlo.disperse(fitted, 1234)
    # then everything but the velocimeter is dispersed identically (its draws come last) ...
    assert dataclasses.replace(b, sensors=dataclasses.replace(b.sensors, velocimeter=Velocimeter())) == a
    # ... the absent one is left alone, the fitted one's calibration is dispersed
    assert a.sensors.velocimeter == Velocimeter()
    v = b.sensors.velocimeter
    assert v.fitted and v.bias_mps != 0.0 and v.scale != 1.0
    assert abs(v.bias_mps) < 5 * montecarlo.DISPERSION["velocimeter_bias_mps"]
    assert dataclasses.replace(v, bias_mps=0.0, scale=1.0) == fitted.sensors.velocimeter
    # and the dispersed run replays from its TOML
    assert parse_scenario(tomllib.loads(scenario_to_toml(b)), b.source) == b


# ------------------------------------------------------------------ frames and log


class TruthRecorder(TruthPilot):
    """The truth pilot, keeping each frame with the true state it was built from."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def step(self, frame):
        dyn, terrain = self._truth
        self.seen.append((frame, dyn.vx, dyn.vz, dyn.pitch, dyn.x, dyn.z))
        return super().step(frame)


def test_closed_loop_frames_and_log_carry_the_beams():
    # given a fitted noiseless velocimeter that reaches 900 m, over a slope
    text = (GOOD.replace("duration_s = 20.0", "duration_s = 200.0")
            + "[terrain]\nprofile = [[-1000.0, 0.0], [1000.0, 200.0]]\n"
            + "[sensors.velocimeter]\ncant_rad = 0.3\nnoise_mps = 0.0\nnoise_fraction = 0.0\n"
            + "max_range_m = 900.0\n")
    s = parse_scenario(tomllib.loads(text))
    pilot = TruthRecorder()
    # when the truth pilot flies it
    r = run_scenario(s, pilot)
    assert r.outcome == "landed" and r.init.beam_cant == 0.3
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    samples = 0
    for k, (frame, vx, vz, pitch, x, z) in enumerate(pilot.seen):
        new_a = bool(frame.beam_flags & wire.BEAM_A_NEW)
        # 10 Hz in 50: samples at 0 (the first frame, t = 0.02 s), 0.1, 0.2, ... s
        assert new_a == bool(frame.beam_flags & wire.BEAM_B_NEW) == (k == 0 or k % 5 == 4)
        if not new_a:
            continue
        samples += 1
        beams = ((-0.3, frame.beam_a, wire.BEAM_A_VALID), (0.3, frame.beam_b, wire.BEAM_B_VALID))
        for alpha, value, bit in beams:
            in_range = 1.0 <= s.terrain.ray_range(x, z, pitch + alpha) <= 900.0
            assert bool(frame.beam_flags & bit) == in_range
            # then each beam is v . d as float32, or 0 when out of range
            assert value == (f32(los(vx, vz, pitch + alpha)) if in_range else 0.0)
    assert samples > 100
    # and log.csv has the beams as sent and the firmware's velocimeter verdict
    i = {c: COLUMNS.index(c) for c in ("beam_a_mps", "beam_b_mps", "beam_a_valid", "beam_b_valid",
                                       "vel_health", "vel_reason", "vel_test_ratio")}
    for row, (frame, *_rest) in zip(r.rows, pilot.seen, strict=True):
        assert row[i["beam_a_mps"]] == frame.beam_a and row[i["beam_b_mps"]] == frame.beam_b
        assert row[i["beam_a_valid"]] == int(bool(frame.beam_flags & wire.BEAM_A_VALID))
        assert row[i["beam_b_valid"]] == int(bool(frame.beam_flags & wire.BEAM_B_VALID))
        assert row[i["vel_health"]] == "not_acquired" and row[i["vel_reason"]] == "none"
    valid_a = r.column("beam_a_valid")
    assert valid_a[0] == 0 and valid_a.any()  # out of range at 1500 m, in range low down


def test_closed_loop_velocimeter_noise_is_its_own_stream():
    # given a scenario flown with and without a (noisy) velocimeter
    base = parse_scenario(tomllib.loads(GOOD))
    fitted = parse_scenario(tomllib.loads(FITTED))
    a = run_scenario(base, TruthPilot())
    b = run_scenario(fitted, TruthPilot())
    # then every other column of the log is bit-identical
    assert a.steps == b.steps
    for c in COLUMNS:
        if not c.startswith(("beam_", "vel_")):
            np.testing.assert_array_equal(a.column(c), b.column(c), err_msg=c)
    assert (b.column("beam_a_valid") == 1).any() and (a.column("beam_a_valid") == 0).all()


# ------------------------------------------------------------------ model in the loop


class _FakeDyn:
    def __init__(self, x, z, vx, vz, pitch):
        arrays = (np.asarray(v, dtype=float) for v in (x, z, vx, vz, pitch))
        self.x, self.z, self.vx, self.vz, self.pitch = arrays


def test_vectorised_velocimeter_matches_the_harness_model():
    # given noiseless units of several cants and ranges, some not fitted, over a cliff
    terrain = Terrain([-100.0, 0.0, 50.0, 60.0], [0.0, 50.0, 50.0, 500.0])
    rng = np.random.default_rng(0)
    n = 40
    params = [quiet(cant_rad=float(rng.uniform(0.1, 0.6)), max_range_m=float(rng.uniform(300, 2000)),
                    fitted=bool(i % 4)) for i in range(n)]
    x, z = rng.uniform(-300, 300, n), rng.uniform(550, 1500, n)
    vx, vz, pitch = rng.uniform(-30, 30, n), rng.uniform(-50, 5, n), rng.uniform(-1.0, 1.0, n)
    vec = VecVelocimeter(params, np.random.default_rng(1))
    # when both take their first sample
    ba, bb, flags = vec.frame(0.02, _FakeDyn(x, z, vx, vz, pitch), VecTerrain(terrain))
    # then they agree run by run
    for i, p in enumerate(params):
        m = VelocimeterModel(p, sensor_streams(1)["velocimeter"], [], None)
        (ra, va, na), (rb, vb, nb) = m.frame(0.02, vx[i], vz[i], pitch[i],
                                             lambda a, i=i: terrain.ray_range(x[i], z[i], a))
        want = ((wire.BEAM_A_VALID if va else 0) | (wire.BEAM_A_NEW if na else 0)
                | (wire.BEAM_B_VALID if vb else 0) | (wire.BEAM_B_NEW if nb else 0))
        assert flags[i] == want
        assert ba[i] == pytest.approx(ra, abs=1e-9) and bb[i] == pytest.approx(rb, abs=1e-9)
    assert (flags & wire.BEAM_A_VALID).any() and not (flags & wire.BEAM_B_VALID).all()


def test_model_loop_frames_carry_the_beams(monkeypatch):
    # given the model loop with a stand-in flight core that holds a hover and keeps the frames
    seen = []

    class Core:
        def __init__(self, n, **kw):
            self.n = n

        def init(self, priors):
            pass

        def step(self, frames, where):
            seen.append({k: np.array(v) for k, v in frames.items()})
            return {"throttle": np.full(self.n, 0.55), "pitch_cmd": np.zeros(self.n)}

    monkeypatch.setattr(model_loop, "ReferenceModel", Core)
    monkeypatch.setattr(model_loop, "priors_from", lambda inits: None)
    s = parse_scenario(tomllib.loads(GOOD.replace("duration_s = 20.0", "duration_s = 1.0")
                                     + "[sensors.velocimeter]\n"))
    # when it flies a few dispersed runs
    model_loop.fly_dispersed(s, 3)
    # then every frame has both beams valid (descending at about 30 m/s: each reads over 20)
    assert len(seen) == 50
    both = wire.BEAM_A_VALID | wire.BEAM_B_VALID
    for f in seen:
        assert ((f["beam_flags"] & both) == both).all()
        assert np.all(f["beam_a"] > 20.0) and np.all(f["beam_b"] > 20.0)
    # and new samples at 10 Hz: at 0, 0.1, ..., 1.0 s
    news = [bool(f["beam_flags"][0] & wire.BEAM_A_NEW) for f in seen]
    assert sum(news) == 11 and news[0] and news[4] and not news[1]


# ------------------------------------------------------------------ summary and expectations


class VelHealthScript(TruthPilot):
    """The truth pilot, reporting the velocimeter not_acquired until 2 s, ok until 6 s, suspect
    (a beam left out) until 7 s, ok until 9 s, rejected from 9 s on; both altimeters ok."""

    def step(self, frame):
        cmd = super().step(frame)
        t_us = frame.t_us
        if t_us < 2_000_000:
            health, reason = "not_acquired", "no_data"
        elif t_us < 6_000_000 or 7_000_000 <= t_us < 9_000_000:
            health, reason = "ok", "none"
        elif t_us < 7_000_000:
            health, reason = "suspect", "innovation"
        else:
            health, reason = "rejected", "rate"
        cmd.vel_health = wire.HEALTH.index(health)
        cmd.vel_reason = wire.REASONS.index(reason)
        return cmd


def vel_fault_toml(kind="bias", start=5.0, end=None, beam=None, value=1.0, sensor="velocimeter"):
    text = f"[[fault]]\nsensor = '{sensor}'\nkind = '{kind}'\nstart_s = {start}\nvalue = {value}\n"
    if end is not None:
        text += f"end_s = {end}\n"
    if beam is not None:
        text += f"beam = '{beam}'\n"
    return text


def summary_of(text, pilot=None):
    from sim_harness.report import summarize

    s = parse_scenario(tomllib.loads(text))
    result = run_scenario(s, pilot or VelHealthScript())
    return result, summarize(result)


def test_without_a_velocimeter_the_summary_tracks_the_altimeters_alone():
    # given a scenario without a velocimeter, flown by a pilot that reports a velocimeter
    # health anyway (a firmware that has the unit's code but no unit fitted)
    _, summ = summary_of(GOOD)
    # then the summary has exactly the keys it always had: the altimeters only
    assert set(summ["isolation_s"]) == set(summ["longest_not_ok_s"]) == {"radar", "lrf"}
    assert all(c["sensor"] in ("radar", "lrf") for c in summ["faults_declared"])
    assert summ["false_alarms"] == 0


@pytest.mark.parametrize("beam", [None, "a", "b"])
def test_velocimeter_health_changes_isolation_and_spells_are_in_the_summary(beam):
    # given a fitted velocimeter with a fault from 5 s (on the unit or one beam), which the
    # firmware calls ok until 6 s, suspect until 7 s, ok until 9 s, then rejected
    _, summ = summary_of(FITTED + vel_fault_toml(beam=beam))
    # then every change of its health is declared, in time order among the altimeters'
    vel = [(round(c["time_s"], 2), c["state"]) for c in summ["faults_declared"]
           if c["sensor"] == "velocimeter"]
    assert vel == [(2.0, "ok"), (6.0, "suspect"), (7.0, "ok"), (9.0, "rejected")]
    times = [c["time_s"] for c in summ["faults_declared"]]
    assert times == sorted(times)
    assert summ["false_alarms"] == 1  # the rejection (a faulty unit's, counted like an altimeter's)
    # and it is isolated 1 s after its fault's start, and was not ok for 11 s after being ok
    assert summ["isolation_s"]["velocimeter"] == pytest.approx(1.0)
    assert summ["longest_not_ok_s"]["velocimeter"] == pytest.approx(11.0)
    assert summ["isolation_s"]["radar"] is None and summ["isolation_s"]["lrf"] is None


def test_a_velocimeter_fault_before_it_is_in_use_is_timed_from_when_it_comes_into_use():
    # given a fault from 1 s, while the unit is not yet acquired (ok from 2 s, not ok at 6 s)
    _, summ = summary_of(FITTED + vel_fault_toml(start=1.0))
    # then the delay runs from 2 s, when the faulty unit came into use: 4 s, not 0
    assert summ["isolation_s"]["velocimeter"] == pytest.approx(4.0)
    # given a fault over [0.5, 1.5) s only, before it was ever ok: never trusted while faulty
    _, summ = summary_of(FITTED + vel_fault_toml(start=0.5, end=1.5))
    assert summ["isolation_s"]["velocimeter"] == 0.0
    # given no velocimeter fault: no delay
    _, summ = summary_of(FITTED)
    assert summ["isolation_s"]["velocimeter"] is None


def test_velocimeter_expectations_are_judged():
    # given expectations on the velocimeter that its scripted health does not meet
    expect = ("[expect]\nisolated = 'velocimeter'\nmax_isolation_s = 0.5\nnever_rejected = ['velocimeter']\n"
              "reacquire_sensor = 'velocimeter'\nmax_reacquire_s = 2.0\n")
    _, summ = summary_of(FITTED + expect + vel_fault_toml())
    failures = " | ".join(summ["expect"]["failures"])
    # then each is a readable failure
    assert "velocimeter isolated 1.00 s after its fault > 0.5 s" in failures
    assert "false alarm: velocimeter declared rejected at 9.00 s" in failures
    assert "velocimeter not ok for 11.00 s > 2 s" in failures
    # given looser limits, they pass (the outcome aside: a 20 s run times out)
    loose = expect.replace("0.5", "1.5").replace("['velocimeter']", "['radar']")
    _, summ = summary_of(FITTED + loose.replace("2.0", "12.0") + vel_fault_toml())
    assert [f for f in summ["expect"]["failures"] if "velocimeter" in f] == []


def test_no_false_alarm_covers_a_fitted_velocimeter_only():
    # given no_false_alarm and a velocimeter rejected at 9 s
    _, summ = summary_of(FITTED + "[expect]\nno_false_alarm = true\n")
    # then it fails, naming the velocimeter
    assert "false alarm: velocimeter declared rejected at 9.00 s" in summ["expect"]["failures"]
    # given the same firmware's report without a fitted velocimeter: nothing to judge
    _, summ = summary_of(GOOD + "[expect]\nno_false_alarm = true\n")
    assert not any("false alarm" in f for f in summ["expect"]["failures"])


@pytest.mark.parametrize("expect", ["isolated = 'velocimeter'", "never_rejected = ['radar', 'velocimeter']",
                                    "reacquire_sensor = 'velocimeter'"])
def test_velocimeter_expectations_need_a_fitted_velocimeter(tmp_path, expect):
    key = "expect." + expect.split(" ")[0]
    # given a scenario without one (or with fitted = false), the loader names the key
    for text in (GOOD, FITTED + "fitted = false\n"):
        with pytest.raises(ScenarioError) as e:
            load_scenario(write(tmp_path, text + "[expect]\n" + expect + "\n"))
        msg = str(e.value)
        assert "\n" not in msg and f": {key}: " in msg and "no velocimeter" in msg, msg
    # given one fitted, it loads
    s = load_scenario(write(tmp_path, FITTED + "[expect]\n" + expect + "\n"))
    assert "velocimeter" in (s.expect.never_rejected or [s.expect.isolated or s.expect.reacquire_sensor])
    # and an unknown name is still an unknown altimeter
    with pytest.raises(ScenarioError, match="unknown altimeter 'sonar'"):
        load_scenario(write(tmp_path, FITTED + "[expect]\n" + expect.replace("velocimeter", "sonar") + "\n"))


def test_a_velocimeter_scenario_with_its_expectations_flies_from_the_cli(tmp_path):
    # given a fitted velocimeter, a beam fault and expectations on it, from the command line
    text = (GOOD.replace("duration_s = 20.0", "duration_s = 5.0") + "[expect]\noutcome = 'timeout'\n"
            "isolated = 'velocimeter'\n" + FITTED.removeprefix(GOOD) + vel_fault_toml(beam="a", start=1.0))
    p = write(tmp_path, text)
    r = subprocess.run([sys.executable, "-m", "host_tools", "sim", str(p), "--target", "cpython", "--no-plot",
                        "--no-reference", "--out", str(tmp_path / "out")], capture_output=True, text=True,
                       timeout=120)
    # then it runs and the summary carries the velocimeter's keys
    import json

    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    summ = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert "velocimeter" in summ["isolation_s"] and "velocimeter" in summ["longest_not_ok_s"]


# ------------------------------------------------------------------ plot


def test_beam_velocity_inverts_the_beams():
    from sim_harness.plot import beam_velocity

    for vx, vz, pitch, cant in ((10.0, -40.0, 0.2, 0.35), (-3.0, -5.0, -0.6, 0.3), (0.0, -1.0, 0.0, 0.5)):
        a, b = los(vx, vz, pitch - cant), los(vx, vz, pitch + cant)
        got = beam_velocity(np.array([a]), np.array([b]), np.array([pitch]), cant)
        assert float(got[0][0]) == pytest.approx(vx, abs=1e-9)
        assert float(got[1][0]) == pytest.approx(vz, abs=1e-9)


def test_the_plot_shows_the_velocimeter_only_when_fitted(monkeypatch, tmp_path):
    from sim_harness import plot

    figures = []
    monkeypatch.setattr(plot, "_save", lambda fig, path: figures.append(fig))
    results = []
    for text in (GOOD, FITTED):
        result, summ = summary_of(text)
        plot.plot_run(result, summ, tmp_path / "plot.png")
        results.append(result)
    without, fitted = figures
    # then the health panel has a velocimeter row only when one is fitted ...
    rows = [[t.get_text() for t in f.axes[2].get_yticklabels()] for f in figures]
    assert rows == [["radar", "lrf", "mode"], ["radar", "lrf", "velocimeter", "mode"]]
    # ... and the speed panel its vx and vz against the truth, and the estimated vx
    labels = [[ln.get_label() for ln in f.axes[3].get_lines()] for f in figures]
    assert labels[0] == ["true vz", "estimated vz", "true vx", "_child3"]  # the zero line
    assert {"estimated vx", "velocimeter vx (both beams)", "velocimeter vz (both beams)"} <= set(labels[1])
    line = next(ln for ln in fitted.axes[3].get_lines() if ln.get_label() == "velocimeter vx (both beams)")
    t, vx = line.get_data()
    r = results[1]
    both = (r.column("beam_a_valid") > 0) & (r.column("beam_b_valid") > 0)
    assert both.all() and len(t) == 201  # a point per sample (10 Hz over 20 s), both beams valid
    truth = r.column("vx_mps")[np.isin(r.column("t_s"), t)]
    # the truth within the noise: about 0.18 m/s 1-sigma (each beam's 0.08, times 1 / (sqrt(2) sin cant))
    assert abs(np.mean(vx - truth)) < 0.05 and np.std(vx - truth) < 0.25 and np.abs(vx - truth).max() < 1.0
    import matplotlib.pyplot as plt

    for f in figures:
        plt.close(f)
    monkeypatch.undo()
    # and the file itself is written
    result, summ = summary_of(FITTED + vel_fault_toml(beam="b"))
    plot.plot_run(result, summ, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 10_000


# ------------------------------------------------------------------ campaign record


def test_the_campaign_record_judges_a_faulty_and_a_healthy_velocimeter():
    from sim_harness.campaign import isolation_record

    # given a velocimeter with a fault from 5 s (ok 5-6 s and 7-9 s inside it, not ok at 6 s)
    result, summ = summary_of(FITTED + vel_fault_toml(beam="b"))
    v = isolation_record(result, summ)["velocimeter"]
    # then it was trusted 3 s while faulty and isolated 1 s after it was first trusted
    assert v["faulty"] and not v["never_trusted"] and not v["healthy_alarm"]
    assert v["trusted_s"] == pytest.approx(3.0) and v["isolation_s"] == pytest.approx(1.0)
    # given a healthy velocimeter rejected from 9 s while a faulty radar is called ok
    result, summ = summary_of(FITTED + vel_fault_toml(sensor="radar", value=30.0))
    rec = isolation_record(result, summ)
    v = rec["velocimeter"]
    # then it is a healthy alarm, blamed while the faulty radar was believed (9-20 s), and the
    # altimeters' record is what it is without a velocimeter
    assert v == {"faulty": False, "healthy_alarm": True, "wrong_blame_s": pytest.approx(11.02)}
    plain_result, plain_summ = summary_of(GOOD + vel_fault_toml(sensor="radar", value=30.0))
    plain = isolation_record(plain_result, plain_summ)
    assert "velocimeter" not in plain
    assert {k: x for k, x in rec.items() if k != "velocimeter"} == plain

"""Scenario files: every malformed or impossible input names the file and the key."""

import math

import pytest

from sim_harness.library import builtin_dir, scenario_files
from sim_harness.scenario import ScenarioError, load_scenario, parse_scenario, scenario_to_toml

GOOD = """
name = "t"
seed = 3
[initial]
altitude_m = 3000.0
downrange_m = 0.0
vertical_speed_mps = -40.0
horizontal_speed_mps = 20.0
"""


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def error_of(tmp_path, text):
    with pytest.raises(ScenarioError) as e:
        load_scenario(write(tmp_path, text))
    msg = str(e.value)
    assert "\n" not in msg
    assert "s.toml" in msg
    return msg


def test_minimal_scenario_takes_the_issue_defaults(tmp_path):
    s = load_scenario(write(tmp_path, GOOD))
    assert s.vehicle.dry_mass_kg == 340.0 and s.vehicle.propellant_kg == 200.0
    assert s.vehicle.max_thrust_n == 1600.0 and s.vehicle.min_throttle == 0.1 and s.vehicle.isp_s == 310.0
    assert s.vehicle.engine_time_constant_s == 0.15 and s.vehicle.pitch_time_constant_s == 0.5
    assert s.vehicle.pitch_rate_limit_radps == 0.35 and s.vehicle.max_pitch_rad == 1.2
    assert (s.sensors.radar.rate_hz, s.sensors.radar.noise_m, s.sensors.radar.noise_fraction) == (
        20.0,
        0.5,
        0.003,
    )
    assert (s.sensors.radar.max_range_m, s.sensors.radar.min_range_m) == (15000.0, 1.0)
    assert (s.sensors.lrf.rate_hz, s.sensors.lrf.noise_m, s.sensors.lrf.noise_fraction) == (10.0, 0.1, 0.0005)
    assert s.sensors.lrf.max_range_m == 3000.0
    assert s.control_rate_hz == 50.0 and s.knowledge.altitude_sigma_m == 50.0
    assert s.propellant_kg == 200.0


@pytest.mark.parametrize(
    "extra, key",
    [
        ("bogus = 1\n", "bogus"),
        ("[vehicle]\nwarp_drive = 1.0\n", "vehicle.warp_drive"),
        ("[knowledge]\naltitude_eror_m = 1.0\n", "knowledge.altitude_eror_m"),
        ("[sensors.radar]\nnoise = 1.0\n", "sensors.radar.noise"),
        ("[sensors.sonar]\nrate_hz = 1.0\n", "sensors.sonar"),
        ("[terrain]\nprofile = [[0.0, 0.0]]\nsmooth = true\n", "terrain.smooth"),
        ("[[fault]]\nsensor = 'radar'\nkind = 'bias'\nstart_s = 1.0\nsize = 2.0\n", "fault[0].size"),
        ("[expect]\noutcome = 'landed'\nlanded_softly = true\n", "expect.landed_softly"),
    ],
)
def test_unknown_key_at_any_level_is_named(tmp_path, extra, key):
    text = extra + GOOD if key == "bogus" else GOOD + extra
    assert f": {key}: unknown" in error_of(tmp_path, text)


def test_unknown_key_in_initial_is_named(tmp_path):
    assert "initial.altitude_ft: unknown" in error_of(tmp_path, GOOD.replace("altitude_m", "altitude_ft"))


@pytest.mark.parametrize(
    "text, key, what",
    [
        (GOOD.replace("seed = 3", 'seed = "three"'), "seed", "integer"),
        (GOOD.replace("seed = 3", "seed = 3.5"), "seed", "integer"),
        (GOOD.replace("altitude_m = 3000.0", 'altitude_m = "3 km"'), "initial.altitude_m", "number"),
        (GOOD.replace("altitude_m = 3000.0", "altitude_m = true"), "initial.altitude_m", "number"),
        (GOOD.replace("altitude_m = 3000.0", "altitude_m = nan"), "initial.altitude_m", "finite"),
        (GOOD.replace("altitude_m = 3000.0", "altitude_m = inf"), "initial.altitude_m", "finite"),
        (GOOD + "[sensors.radar]\nfitted = 1\n", "sensors.radar.fitted", "true or false"),
        (GOOD + "[vehicle]\ndry_mass_kg = -340.0\n", "vehicle.dry_mass_kg", "> 0"),
        (GOOD + "[vehicle]\npropellant_kg = -1.0\n", "vehicle.propellant_kg", ">= 0"),
        (
            GOOD.replace("horizontal_speed_mps = 20.0", "horizontal_speed_mps = 20.0\npropellant_kg = -5.0"),
            "initial.propellant_kg",
            ">= 0",
        ),
        (
            GOOD + "[terrain]\nprofile = [[0.0, 0.0], [10.0, 5.0], [5.0, 1.0]]\n",
            "terrain.profile[2]",
            "increase",
        ),
        (GOOD + "[terrain]\nprofile = [[0.0, 0.0], [0.0, 5.0]]\n", "terrain.profile[1]", "increase"),
        (GOOD + "[terrain]\nprofile = [[0.0, 0.0, 1.0]]\n", "terrain.profile[0]", "pair"),
        (
            GOOD + "[terrain]\nprofile = [[-100.0, 3500.0], [100.0, 3500.0]]\n",
            "initial.altitude_m",
            "under the terrain",
        ),
        (
            GOOD + "[[fault]]\nsensor = 'gps'\nkind = 'bias'\nstart_s = 1.0\n",
            "fault[0].sensor",
            "unknown sensor",
        ),
        (
            GOOD + "[[fault]]\nsensor = 'radar'\nkind = 'gremlin'\nstart_s = 1.0\n",
            "fault[0].kind",
            "unknown fault",
        ),
        (
            GOOD + "[[fault]]\nsensor = 'contact'\nkind = 'bias'\nstart_s = 1.0\n",
            "fault[0].kind",
            "unknown fault",
        ),
        (
            GOOD + "[[fault]]\nsensor = 'radar'\nkind = 'bias'\nstart_s = 10.0\nend_s = 5.0\n",
            "fault[0].end_s",
            "before start_s",
        ),
        (GOOD + "[[fault]]\nsensor = 'radar'\nkind = 'bias'\n", "fault[0].start_s", "required"),
        (GOOD + "[expect]\noutcome = 'survived'\n", "expect.outcome", "unknown outcome"),
        (GOOD + "[expect]\nisolated = 'sonar'\n", "expect.isolated", "unknown altimeter"),
        (GOOD + "[sensors.lrf]\nmax_range_m = 0.5\n", "sensors.lrf.max_range_m", "must exceed"),
        (GOOD + "[vehicle]\nmin_throttle = 1.5\n", "vehicle.min_throttle", "within"),
        (GOOD + "[knowledge]\naltitude_sigma_m = 0.0\n", "knowledge.altitude_sigma_m", "> 0"),
        (GOOD + "control_rate_hz = 50.0\n", "initial.control_rate_hz", "unknown"),  # in the wrong table
        (GOOD.replace('name = "t"', ""), "name", "required"),
        (GOOD.replace("seed = 3", "seed = -3"), "seed", ">= 0"),
    ],
)
def test_bad_value_is_named(tmp_path, text, key, what):
    msg = error_of(tmp_path, text)
    assert f": {key}: " in msg and what in msg, msg


def test_toml_syntax_error_names_the_file(tmp_path):
    assert "TOML" in error_of(tmp_path, "name = \n")


def test_missing_file_is_a_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "nope.toml")


def test_written_scenario_reads_back_equal(tmp_path):
    for path in scenario_files():
        s = load_scenario(path)
        back = parse_scenario(__import__("tomllib").loads(scenario_to_toml(s)), "back")
        back.source = s.source
        assert back == s, path.name


def test_builtin_library_loads_and_is_large_enough():
    files = scenario_files(builtin_dir())
    assert len(files) >= 17
    names = set()
    for f in files:
        s = load_scenario(f)
        assert s.description and s.expect.outcome == "landed"
        assert s.name not in names
        names.add(s.name)
        for fault in s.faults:
            assert math.isfinite(fault.start_s)

"""Scenario files: load, validate, and write back (the contract's TOML format, section 3).

`load_scenario(path)` returns a `Scenario` or raises `ScenarioError("<file>: <key>: <what>")`,
a one-line message that names the file and the dotted key (`sensors.radar.noise_m`,
`fault[2].kind`, `terrain.profile[3]`). Every table is closed: an unknown key is an error at
every level. Numbers must be finite; an integer is accepted where a float is expected, a bool
never is. `scenario_to_toml(scenario)` writes a scenario back so that loading it again gives
the same values (Monte Carlo uses it to save the dispersed scenario of a run for replay).

The defaults are the HAKUTO-R-class vehicle and sensors of the harness issue.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sim_harness.terrain import Terrain

SENSOR_NAMES = ("radar", "lrf", "imu", "contact", "velocimeter")
# a fault may also name the attitude (pitch) reading, whose model is part of [sensors.imu]
FAULT_SENSORS = (*SENSOR_NAMES, "attitude")
ALTIMETERS = ("radar", "lrf")
# the units whose health an expectation may name: the altimeters, and the velocimeter when fitted
HEALTH_SENSORS = (*ALTIMETERS, "velocimeter")
BEAMS = ("a", "b")  # the velocimeter's beams: a fault's `beam` names one (absent: the whole unit)
OUTCOMES = ("landed", "crashed", "propellant_exhausted", "timeout")
FAULT_KINDS = ("dropout", "stuck", "bias", "drift", "spike", "noise", "delay", "scale")
# contact is a switch: only the kinds that make sense for a switch
CONTACT_FAULT_KINDS = ("dropout", "stuck", "spike", "delay")
# Limits of what a scenario may ask for: beyond them a number is a typo or an attack, not a descent.
MAX_FILE_BYTES = 1 << 20  # [bytes] a scenario file larger than this is not a scenario
MAX_NAME_CHARS = 200  # [characters] of `name` (it is a label, and names the run's directory)
SEED_MAX = 2**63 - 1  # seeds are TOML integers: 0 ..= 2^63 - 1
MAX_MAGNITUDE = 1e9  # every number of a scenario: |value| <= this
MAX_STEPS = 500_000  # duration_s * control_rate_hz: a 900 s descent at 50 Hz is 45,000
MIN_CONTROL_RATE_HZ = 1.0  # [Hz]


class ScenarioError(ValueError):
    """A scenario that is malformed or physically impossible; the message is one line."""


@dataclass
class Initial:
    altitude_m: float  # [m] z, height above the datum of the reference point (the footpads)
    downrange_m: float  # [m] x
    vertical_speed_mps: float  # [m/s] vz, up positive
    horizontal_speed_mps: float  # [m/s] vx
    pitch_rad: float = 0.0  # [rad] tilt of the thrust axis from vertical
    propellant_kg: float | None = None  # [kg] default: the vehicle's
    throttle: float = 0.0  # [1] engine state at t=0 (extension): thrust = throttle * max thrust


@dataclass
class Knowledge:
    altitude_error_m: float = 0.0  # [m] prior z minus true z
    altitude_sigma_m: float = 50.0  # [m]
    vertical_speed_error_mps: float = 0.0  # [m/s]
    vertical_speed_sigma_mps: float = 1.0  # [m/s]
    horizontal_speed_error_mps: float = 0.0  # [m/s]
    horizontal_speed_sigma_mps: float = 0.2  # [m/s] a navigation state good to 0.2 m/s (docs/decisions/0005)
    terrain_m: float = 0.0  # [m] prior terrain height under the lander (extension)
    terrain_sigma_m: float = 1000.0  # [m] its uncertainty (extension): a poorly known site
    mass_error_kg: float = 0.0  # [kg] wet mass told minus true (extension)
    max_thrust_error_n: float = 0.0  # [N] maximum thrust told minus true (extension)
    isp_error_s: float = 0.0  # [s] Isp told minus true (extension)


@dataclass
class Vehicle:
    dry_mass_kg: float = 340.0  # [kg]
    propellant_kg: float = 200.0  # [kg] at the start of the run
    max_thrust_n: float = 1600.0  # [N]
    isp_s: float = 310.0  # [s]
    min_throttle: float = 0.1  # [1] lowest throttle of a lit engine
    engine_time_constant_s: float = 0.15  # [s] first-order lag of thrust behind the command
    pitch_time_constant_s: float = 0.5  # [s] first-order response of pitch to its command
    pitch_rate_limit_radps: float = 0.35  # [rad/s]
    max_pitch_rad: float = 1.2  # [rad] |pitch| and |pitch command| are clamped to this
    g0_mps2: float = 9.80665  # [m/s^2] standard gravity of the Isp definition
    gravity_mps2: float = 1.62  # [m/s^2] lunar gravity
    max_touchdown_vertical_mps: float = 3.0  # [m/s] above: crashed
    max_touchdown_horizontal_mps: float = 1.5  # [m/s] above: crashed
    max_touchdown_pitch_rad: float = 0.2  # [rad] above: crashed (tipped over)


@dataclass
class Altimeter:
    """A range sensor looking down the thrust axis (radar or laser range finder)."""

    rate_hz: float  # [Hz] sample rate, on the sensor's own clock
    noise_m: float  # [m] 1-sigma noise, constant part
    noise_fraction: float  # [1] 1-sigma noise, part proportional to the range
    max_range_m: float  # [m] no valid reading beyond
    min_range_m: float = 1.0  # [m] no valid reading below
    fitted: bool = True  # False: the vehicle has no such sensor (never valid)
    bias_m: float = 0.0  # [m] constant error of a healthy unit
    scale_factor: float = 1.0  # [1] range multiplier of a healthy unit
    acquire_below_m: float | None = None  # [m] first valid reading only once the true range
    #                                       has fallen below this (late acquisition); None: max range
    lost_below_m: float | None = None  # [m] no valid reading ever again once the true range has
    #                                    fallen below this (an altimeter lost low); None: never
    first_valid_s: float = 0.0  # [s] no valid reading before this time
    phase_s: float = 0.0  # [s] time of the first sample; samples at phase + k / rate


def default_radar() -> Altimeter:
    return Altimeter(rate_hz=20.0, noise_m=0.5, noise_fraction=0.003, max_range_m=15000.0)


def default_lrf() -> Altimeter:
    return Altimeter(rate_hz=10.0, noise_m=0.1, noise_fraction=0.0005, max_range_m=3000.0)


@dataclass
class Imu:
    """Accelerometers along the body axes and the attitude (pitch) sensor; sampled every frame."""

    accel_bias_mps2: float = 0.003  # [m/s^2] axial accelerometer bias (about 300 ug)
    lateral_bias_mps2: float = 0.003  # [m/s^2] lateral accelerometer bias
    noise_density: float = 0.0006  # [m/s^2/sqrt(Hz)] per-axis white noise (about 60 ug/sqrt(Hz))
    scale_factor: float = 1.0  # [1] multiplier of the true specific force (1 + scale error)
    attitude_noise_rad: float = 0.002  # [rad] 1-sigma white noise on the pitch reading
    attitude_bias_rad: float = 0.0  # [rad]


@dataclass
class Contact:
    """Leg contact switches: closed when a probe under the footpads touches the ground."""

    fitted: bool = True
    probe_length_m: float = 0.3  # [m] contact when the footpads are this high above the terrain


@dataclass
class Velocimeter:
    """A two-beam Doppler velocimeter fixed in the body, beams in the vertical plane at -cant_rad
    (beam A) and +cant_rad (beam B) from the thrust axis, looking down. Today's vehicle has none:
    without a [sensors.velocimeter] table it is not fitted; with one, fitted unless it says
    `fitted = false`."""

    fitted: bool = False  # False: no velocimeter (beams invalid, zero, flags 0)
    cant_rad: float = 0.35  # [rad] each beam's angle from the thrust axis (wire.DEFAULT_BEAM_CANT)
    rate_hz: float = 10.0  # [Hz] sample rate of both beams, on the sensor's own clock
    noise_mps: float = 0.02  # [m/s] 1-sigma noise per beam, constant part
    noise_fraction: float = 0.002  # [1] 1-sigma noise, part proportional to |line-of-sight speed|
    bias_mps: float = 0.0  # [m/s] constant error of a healthy unit, on each beam
    scale: float = 1.0  # [1] line-of-sight speed multiplier of a healthy unit
    min_range_m: float = 1.0  # [m] no valid beam when its slant range to the terrain is shorter
    max_range_m: float = 4000.0  # [m] nor when it is longer (the return is too weak)


@dataclass
class Sensors:
    radar: Altimeter = field(default_factory=default_radar)
    lrf: Altimeter = field(default_factory=default_lrf)
    imu: Imu = field(default_factory=Imu)
    contact: Contact = field(default_factory=Contact)
    velocimeter: Velocimeter = field(default_factory=Velocimeter)


@dataclass
class Fault:
    sensor: str  # radar | lrf | imu | attitude | contact | velocimeter
    kind: str  # one of FAULT_KINDS
    start_s: float  # [s]
    end_s: float | None = None  # [s] None: to the end of the run
    value: float = 0.0  # unit by kind: see docs/harness.md
    beam: str | None = None  # velocimeter only: "a" or "b"; None: both beams (the whole unit)


@dataclass
class Expect:
    outcome: str | None = None  # landed | crashed | propellant_exhausted | timeout
    max_touchdown_vertical_mps: float | None = None  # [m/s]
    max_touchdown_horizontal_mps: float | None = None  # [m/s]
    max_touchdown_pitch_rad: float | None = None  # [rad]
    min_propellant_kg: float | None = None  # [kg] left at touchdown
    max_altitude_error_below_100m_m: float | None = None  # [m] |est agl - true agl| below 100 m
    max_altitude_error_m: float | None = None  # [m] over the whole descent
    max_propellant_ratio_to_ideal: float | None = None  # [1]
    no_false_alarm: bool | None = None  # True: no altimeter (nor a fitted velocimeter) ever
    #                                     declared rejected or failed
    never_rejected: list[str] | None = None  # units (radar, lrf, velocimeter) never rejected or failed
    isolated: str | None = None  # the unit that must be declared suspect/rejected/failed
    max_isolation_s: float | None = None  # [s] after the first fault on `isolated` starts
    reacquire_sensor: str | None = None  # the unit that must come back to ok
    max_reacquire_s: float | None = None  # [s] longest spell not ok after having been ok


@dataclass
class Scenario:
    name: str
    seed: int
    initial: Initial
    description: str = ""
    duration_s: float = 900.0  # [s]
    control_rate_hz: float = 50.0  # [Hz]
    knowledge: Knowledge = field(default_factory=Knowledge)
    terrain: Terrain = field(default_factory=Terrain.flat)
    vehicle: Vehicle = field(default_factory=Vehicle)
    sensors: Sensors = field(default_factory=Sensors)
    faults: list[Fault] = field(default_factory=list)
    expect: Expect = field(default_factory=Expect)
    source: str = "<scenario>"  # the file it came from (for messages)

    @property
    def propellant_kg(self) -> float:
        """[kg] propellant at t=0: [initial] if given, else the vehicle's."""
        p = self.initial.propellant_kg
        return self.vehicle.propellant_kg if p is None else p


# ---------------------------------------------------------------- validation helpers


class _Reader:
    """Reads one TOML table into a dataclass, naming `source: key` in every error."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, what: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {key}: {what}")

    def table(self, raw, key: str) -> dict:
        if not isinstance(raw, dict):
            raise self.fail(key, f"must be a table, not {type(raw).__name__}")
        return raw

    def value(self, raw, key: str, kind: str):
        """Check one value against a kind: float, int, bool, str, str_list."""
        if kind == "float":
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise self.fail(key, f"must be a number, not {type(raw).__name__} {raw!r}")
            try:
                v = float(raw)
            except OverflowError:  # an integer too large for a float
                raise self.fail(key, f"must be at most {MAX_MAGNITUDE:g} in magnitude") from None
            if not math.isfinite(v):
                raise self.fail(key, f"must be finite, not {raw!r}")
            if abs(v) > MAX_MAGNITUDE:
                raise self.fail(key, f"must be at most {MAX_MAGNITUDE:g} in magnitude, not {raw!r}")
            return v
        if kind == "int":
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise self.fail(key, f"must be an integer, not {type(raw).__name__} {raw!r}")
            return raw
        if kind == "bool":
            if not isinstance(raw, bool):
                raise self.fail(key, f"must be true or false, not {raw!r}")
            return raw
        if kind == "str":
            if not isinstance(raw, str):
                raise self.fail(key, f"must be a string, not {type(raw).__name__} {raw!r}")
            return raw
        if kind == "str_list":
            if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
                raise self.fail(key, f"must be a list of strings, not {raw!r}")
            return list(raw)
        raise AssertionError(kind)

    def fill(self, cls, raw, key: str, base=None):
        """Build `cls` from table `raw`, over `base` (an instance) or the class defaults."""
        raw = self.table(raw, key)
        kinds = _field_kinds(cls)
        for name in raw:
            if name not in kinds:
                raise self.fail(f"{key}.{name}", f"unknown key (known: {', '.join(kinds)})")
        values = {}
        for name, kind in kinds.items():
            if name in raw:
                values[name] = self.value(raw[name], f"{key}.{name}", kind)
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.name not in values and base is None
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise self.fail(f"{key}.{missing[0]}", "required key missing")
        if base is not None:
            return dataclasses.replace(base, **values)
        return cls(**values)


def _field_kinds(cls) -> dict[str, str]:
    kinds = {}
    for f in dataclasses.fields(cls):
        t = str(f.type)
        if t.startswith("float"):
            kinds[f.name] = "float"
        elif t.startswith("int"):
            kinds[f.name] = "int"
        elif t.startswith("bool"):
            kinds[f.name] = "bool"
        elif t.startswith("list[str]"):
            kinds[f.name] = "str_list"
        elif t.startswith("str"):
            kinds[f.name] = "str"
    return kinds


_TOP_KEYS = ("name", "description", "seed", "duration_s", "control_rate_hz", "initial", "knowledge",
             "terrain", "vehicle", "sensors", "fault", "expect")


def load_scenario(path) -> Scenario:
    """Read and validate a scenario file. Raises ScenarioError (one line, file and key named).

    The file must be UTF-8 text of at most MAX_FILE_BYTES, TOML nested no deeper than the
    parser can follow."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ScenarioError(f"{path}: cannot read: {e.strerror or e}") from None
    except ValueError as e:  # a NUL byte in the path
        raise ScenarioError(f"cannot read a scenario file named {str(path)[:80]!r}: {e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(f"{path}: larger than {MAX_FILE_BYTES // 1024} KiB: not a scenario file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} "
                            f"at offset {e.start})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: TOML syntax: {str(e).splitlines()[0] if str(e) else e}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: TOML nested too deeply") from None
    return parse_scenario(raw, str(path))


def check_seed(seed: int, what: str = "seed") -> int:
    """A seed: an integer within 0 ..= SEED_MAX; ValueError (one line) otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"{what} must be an integer, not {seed!r}")
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"{what} must be >= 0 and <= {SEED_MAX}, not {seed}")
    return seed


def check_name(name: str) -> str:
    """A scenario name: a label of at most MAX_NAME_CHARS printable characters, not a path
    (runs/<name>/ is made of it, through host_tools.base.outputs.safe_name). ValueError otherwise."""
    if not name.strip():
        raise ValueError("must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"must be at most {MAX_NAME_CHARS} characters, not {len(name)}")
    bad = next((c for c in name if not c.isprintable()), None)
    if bad is not None:
        raise ValueError(f"must not contain control characters (it holds {bad!r})")
    if "/" in name or "\\" in name or name.strip() in (".", ".."):
        raise ValueError(f"is a label, not a path: no '/', '\\', '.' or '..' ({name[:60]!r})")
    return name


def parse_scenario(raw: dict, source: str = "<scenario>") -> Scenario:
    """Validate a scenario already parsed from TOML (a dict)."""
    r = _Reader(source)
    r.table(raw, "(top)")
    for key in raw:
        if key not in _TOP_KEYS:
            raise r.fail(key, f"unknown key (known: {', '.join(_TOP_KEYS)})")
    for key in ("name", "seed", "initial"):
        if key not in raw:
            raise r.fail(key, "required key missing")
    name = r.value(raw["name"], "name", "str")
    try:
        check_name(name)
    except ValueError as e:
        raise r.fail("name", str(e)) from None
    seed = r.value(raw["seed"], "seed", "int")
    try:
        check_seed(seed)
    except ValueError as e:
        raise r.fail("seed", str(e).removeprefix("seed ")) from None
    scn = Scenario(name=name, seed=seed, initial=r.fill(Initial, raw["initial"], "initial"), source=source)
    if "description" in raw:
        scn.description = r.value(raw["description"], "description", "str")
    if "duration_s" in raw:
        scn.duration_s = r.value(raw["duration_s"], "duration_s", "float")
    if "control_rate_hz" in raw:
        scn.control_rate_hz = r.value(raw["control_rate_hz"], "control_rate_hz", "float")
    if "knowledge" in raw:
        scn.knowledge = r.fill(Knowledge, raw["knowledge"], "knowledge")
    if "terrain" in raw:
        scn.terrain = _read_terrain(r, raw["terrain"])
    if "vehicle" in raw:
        scn.vehicle = r.fill(Vehicle, raw["vehicle"], "vehicle")
    if "sensors" in raw:
        scn.sensors = _read_sensors(r, raw["sensors"])
    if "fault" in raw:
        faults = raw["fault"]
        if not isinstance(faults, list):
            raise r.fail("fault", "must be an array of tables ([[fault]])")
        scn.faults = [r.fill(Fault, f, f"fault[{i}]") for i, f in enumerate(faults)]
    if "expect" in raw:
        scn.expect = r.fill(Expect, raw["expect"], "expect")
    _check_physics(r, scn)
    return scn


def _read_terrain(r: _Reader, raw) -> Terrain:
    raw = r.table(raw, "terrain")
    for key in raw:
        if key != "profile":
            raise r.fail(f"terrain.{key}", "unknown key (known: profile)")
    if "profile" not in raw:
        raise r.fail("terrain.profile", "required key missing")
    profile = raw["profile"]
    if not isinstance(profile, list) or not profile:
        raise r.fail("terrain.profile", "must be a non-empty array of [x, height] pairs")
    xs, hs = [], []
    for i, pair in enumerate(profile):
        key = f"terrain.profile[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise r.fail(key, f"must be an [x, height] pair, not {pair!r}")
        x = r.value(pair[0], key, "float")
        h = r.value(pair[1], key, "float")
        if xs and x <= xs[-1]:
            raise r.fail(key, f"x must increase strictly: {x!r} after {xs[-1]!r}")
        xs.append(x)
        hs.append(h)
    return Terrain(xs, hs)


def _read_sensors(r: _Reader, raw) -> Sensors:
    raw = r.table(raw, "sensors")
    s = Sensors()
    for name, table in raw.items():
        key = f"sensors.{name}"
        if name not in SENSOR_NAMES:
            raise r.fail(key, f"unknown sensor (known: {', '.join(SENSOR_NAMES)})")
        base = getattr(s, name)
        if name == "velocimeter":
            base = dataclasses.replace(base, fitted=True)  # the table fits one unless it says not
        setattr(s, name, r.fill(type(base), table, key, base=base))
    return s


def _check_physics(r: _Reader, s: Scenario) -> None:
    def positive(value, key):
        if not value > 0.0:
            raise r.fail(key, f"must be > 0, not {value!r}")

    def non_negative(value, key):
        if not value >= 0.0:
            raise r.fail(key, f"must be >= 0, not {value!r}")

    positive(s.duration_s, "duration_s")
    if not MIN_CONTROL_RATE_HZ <= s.control_rate_hz <= 1000.0:
        raise r.fail("control_rate_hz", f"must be within [{MIN_CONTROL_RATE_HZ:g}, 1000] Hz, "
                     f"not {s.control_rate_hz!r}")
    if s.duration_s * s.control_rate_hz > MAX_STEPS:
        raise r.fail("duration_s", f"{s.duration_s!r} s at {s.control_rate_hz!r} Hz is more than "
                     f"{MAX_STEPS} control steps")
    ini, v = s.initial, s.vehicle
    ground = s.terrain.height(ini.downrange_m)
    if ini.altitude_m <= ground:
        raise r.fail("initial.altitude_m", f"{ini.altitude_m!r} m starts at or under the terrain "
                     f"({ground!r} m at x = {ini.downrange_m!r} m)")
    if ini.propellant_kg is not None:
        non_negative(ini.propellant_kg, "initial.propellant_kg")
    if not 0.0 <= ini.throttle <= 1.0:
        raise r.fail("initial.throttle", f"must be within [0, 1], not {ini.throttle!r}")
    if abs(ini.pitch_rad) > v.max_pitch_rad:
        raise r.fail("initial.pitch_rad", f"|{ini.pitch_rad!r}| exceeds vehicle.max_pitch_rad")
    k = s.knowledge
    for name in ("altitude_sigma_m", "vertical_speed_sigma_mps", "horizontal_speed_sigma_mps",
                 "terrain_sigma_m"):
        positive(getattr(k, name), f"knowledge.{name}")
    positive(v.dry_mass_kg, "vehicle.dry_mass_kg")
    non_negative(v.propellant_kg, "vehicle.propellant_kg")
    for name in ("max_thrust_n", "isp_s", "pitch_time_constant_s", "pitch_rate_limit_radps",
                 "max_pitch_rad", "g0_mps2", "max_touchdown_vertical_mps",
                 "max_touchdown_horizontal_mps", "max_touchdown_pitch_rad"):
        positive(getattr(v, name), f"vehicle.{name}")
    non_negative(v.engine_time_constant_s, "vehicle.engine_time_constant_s")
    non_negative(v.gravity_mps2, "vehicle.gravity_mps2")
    if not 0.0 <= v.min_throttle < 1.0:
        raise r.fail("vehicle.min_throttle", f"must be within [0, 1), not {v.min_throttle!r}")
    for name in ALTIMETERS:
        a: Altimeter = getattr(s.sensors, name)
        key = f"sensors.{name}"
        positive(a.rate_hz, f"{key}.rate_hz")
        non_negative(a.noise_m, f"{key}.noise_m")
        non_negative(a.noise_fraction, f"{key}.noise_fraction")
        non_negative(a.min_range_m, f"{key}.min_range_m")
        non_negative(a.first_valid_s, f"{key}.first_valid_s")
        non_negative(a.phase_s, f"{key}.phase_s")
        positive(a.scale_factor, f"{key}.scale_factor")
        if a.max_range_m <= a.min_range_m:
            raise r.fail(f"{key}.max_range_m", f"{a.max_range_m!r} must exceed min_range_m {a.min_range_m!r}")
        if a.acquire_below_m is not None:
            positive(a.acquire_below_m, f"{key}.acquire_below_m")
        if a.lost_below_m is not None:
            positive(a.lost_below_m, f"{key}.lost_below_m")
    imu = s.sensors.imu
    non_negative(imu.noise_density, "sensors.imu.noise_density")
    non_negative(imu.attitude_noise_rad, "sensors.imu.attitude_noise_rad")
    non_negative(s.sensors.contact.probe_length_m, "sensors.contact.probe_length_m")
    vm = s.sensors.velocimeter
    key = "sensors.velocimeter"
    # a beam at or beyond the thrust axis (0) or the horizontal (pi/2) cannot resolve velocity
    if not 0.0 < vm.cant_rad < 0.5 * math.pi:
        raise r.fail(f"{key}.cant_rad", f"must be within (0, pi/2) rad, not {vm.cant_rad!r}")
    positive(vm.rate_hz, f"{key}.rate_hz")
    non_negative(vm.noise_mps, f"{key}.noise_mps")
    non_negative(vm.noise_fraction, f"{key}.noise_fraction")
    positive(vm.scale, f"{key}.scale")
    non_negative(vm.min_range_m, f"{key}.min_range_m")
    if vm.max_range_m <= vm.min_range_m:
        raise r.fail(f"{key}.max_range_m", f"{vm.max_range_m!r} must exceed min_range_m {vm.min_range_m!r}")
    for i, f in enumerate(s.faults):
        key = f"fault[{i}]"
        if f.sensor not in FAULT_SENSORS:
            raise r.fail(f"{key}.sensor", f"unknown sensor {f.sensor!r} (known: {', '.join(FAULT_SENSORS)})")
        if f.sensor == "velocimeter" and not vm.fitted:
            raise r.fail(f"{key}.sensor", "a velocimeter fault, but the vehicle has no velocimeter "
                         "(add a [sensors.velocimeter] table)")
        if f.beam is not None:
            if f.sensor != "velocimeter":
                raise r.fail(f"{key}.beam", f"only the velocimeter has beams, not {f.sensor}")
            if f.beam not in BEAMS:
                raise r.fail(f"{key}.beam", f"unknown beam {f.beam!r} (known: {', '.join(BEAMS)}; "
                             "absent: both)")
        kinds = CONTACT_FAULT_KINDS if f.sensor == "contact" else FAULT_KINDS
        if f.kind not in kinds:
            raise r.fail(f"{key}.kind", f"unknown fault kind {f.kind!r} for {f.sensor} "
                         f"(known: {', '.join(kinds)})")
        non_negative(f.start_s, f"{key}.start_s")
        if f.end_s is not None and f.end_s < f.start_s:
            raise r.fail(f"{key}.end_s", f"{f.end_s!r} is before start_s {f.start_s!r}")
        if f.kind in ("delay", "noise") or (f.kind == "spike" and f.sensor == "contact"):
            non_negative(f.value, f"{key}.value")
    e = s.expect
    if e.outcome is not None and e.outcome not in OUTCOMES:
        raise r.fail("expect.outcome", f"unknown outcome {e.outcome!r} (known: {', '.join(OUTCOMES)})")
    for key, names in (("expect.never_rejected", e.never_rejected or []),
                       ("expect.isolated", [e.isolated] if e.isolated else []),
                       ("expect.reacquire_sensor", [e.reacquire_sensor] if e.reacquire_sensor else [])):
        for n in names:
            if n == "velocimeter" and not vm.fitted:
                raise r.fail(key, "names the velocimeter, but the vehicle has no velocimeter "
                             "(add a [sensors.velocimeter] table)")
            if n not in HEALTH_SENSORS:
                raise r.fail(key, f"unknown altimeter {n!r} (known: {', '.join(ALTIMETERS)}, and "
                             "velocimeter when one is fitted)")


# ---------------------------------------------------------------- writing back


def scenario_to_toml(s: Scenario) -> str:
    """The scenario as TOML text that `load_scenario` reads back to equal values."""
    lines = [f"name = {_toml(s.name)}", f"description = {_toml(s.description)}", f"seed = {s.seed}",
             f"duration_s = {s.duration_s!r}", f"control_rate_hz = {s.control_rate_hz!r}", ""]

    def table(header, obj):  # header: "[name]", or "[[fault]]" for one of an array of tables
        lines.append(header)
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if v is not None:
                lines.append(f"{f.name} = {_toml(v)}")
        lines.append("")

    table("[initial]", s.initial)
    table("[knowledge]", s.knowledge)
    pairs = ", ".join(f"[{x!r}, {h!r}]" for x, h in zip(s.terrain.xs, s.terrain.hs, strict=True))
    lines += ["[terrain]", f"profile = [{pairs}]", ""]
    table("[vehicle]", s.vehicle)
    for name in SENSOR_NAMES:
        if name == "velocimeter" and s.sensors.velocimeter == Velocimeter():
            continue  # none fitted, as a file without the table says
        table(f"[sensors.{name}]", getattr(s.sensors, name))
    for f in s.faults:
        table("[[fault]]", f)
    table("[expect]", s.expect)
    return "\n".join(lines)


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")

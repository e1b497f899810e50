"""The frame types the harness exchanges with a target (docs/protocol.md).

They come from `host_tools.wire` when that module is importable. Otherwise this module
defines the same names with the same fields, mirroring docs/protocol.md, so the harness and
its tests run on their own. The harness builds every frame with keyword arguments and reads
commands by attribute name only, so either implementation serves.
"""

from __future__ import annotations

from dataclasses import dataclass

RADAR_VALID = 1  # flag bits of a SENSOR frame
RADAR_NEW = 2
LRF_VALID = 4
LRF_NEW = 8
CONTACT = 16

_MODES = ("standby", "braking", "approach", "terminal", "touchdown", "altitude_unknown",
          "low_propellant", "link_lost")
_HEALTH = ("not_acquired", "ok", "suspect", "rejected", "failed")
_REASONS = ("none", "no_data", "out_of_range", "innovation", "stuck", "rate", "disagree", "noisy",
            "terrain_step", "invalid_value")


@dataclass
class _Sensor:
    seq: int
    t_us: int  # [us]
    f_axial: float  # [m/s^2]
    f_lateral: float  # [m/s^2]
    pitch: float  # [rad]
    radar_range: float  # [m]
    lrf_range: float  # [m]
    flags: int


@dataclass
class _Init:
    seq: int
    t_us: int  # [us]
    z: float  # [m]
    z_sigma: float  # [m]
    vz: float  # [m/s]
    vz_sigma: float  # [m/s]
    vx: float  # [m/s]
    vx_sigma: float  # [m/s]
    terrain: float  # [m]
    terrain_sigma: float  # [m]
    mass: float  # [kg]
    dry_mass: float  # [kg]
    max_thrust: float  # [N]
    isp: float  # [s]
    min_throttle: float  # [1]
    engine_tau: float  # [s]


@dataclass
class _Command:
    t_us: int = 0  # [us]
    throttle: float = 0.0  # [1]
    pitch_cmd: float = 0.0  # [rad]
    agl: float = 0.0  # [m]
    agl_sigma: float = 0.0  # [m]
    z: float = 0.0  # [m]
    z_sigma: float = 0.0  # [m]
    vz: float = 0.0  # [m/s]
    vz_sigma: float = 0.0  # [m/s]
    vx: float = 0.0  # [m/s]
    vx_sigma: float = 0.0  # [m/s]
    terrain: float = 0.0  # [m]
    terrain_sigma: float = 0.0  # [m]
    accel_bias: float = 0.0  # [m/s^2]
    accel_bias_sigma: float = 0.0  # [m/s^2]
    mass: float = 0.0  # [kg]
    radar_test_ratio: float = 0.0  # [1]
    lrf_test_ratio: float = 0.0  # [1]
    mode: int = 0
    radar_health: int = 0
    radar_reason: int = 0
    lrf_health: int = 0
    lrf_reason: int = 0
    fault_flags: int = 0
    rx_errors: int = 0
    frames_rejected: int = 0
    steps: int = 0
    step_us: int = 0  # [us]
    heap_free: int = 0  # [bytes]
    seq: int = 0


def _name_table(table, fallback):
    # host_tools may publish a table as a tuple, list or dict (index -> name)
    if table is None:
        return fallback
    if isinstance(table, dict):
        return tuple(table[i] for i in sorted(table))
    return tuple(table)


try:  # pragma: no cover - depends on the tree around us
    from host_tools import wire as _wire

    Sensor = _wire.Sensor
    Init = _wire.Init
    Command = _wire.Command
    MODES = _name_table(getattr(_wire, "MODES", None), _MODES)
    HEALTH = _name_table(getattr(_wire, "HEALTH", None), _HEALTH)
    REASONS = _name_table(getattr(_wire, "REASONS", None), _REASONS)
except (ImportError, AttributeError):
    Sensor = _Sensor
    Init = _Init
    Command = _Command
    MODES = _MODES
    HEALTH = _HEALTH
    REASONS = _REASONS


def name_of(table: tuple, index: int) -> str:
    """The name of `index` in a wire name table, or `unknown_<index>`."""
    if 0 <= index < len(table):
        return table[index]
    return f"unknown_{index}"

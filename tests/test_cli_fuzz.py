"""A fuzz test of the command line: random scenario files and option values.

Whatever the input, `lander` (host_tools.commands.cli.main, in this interpreter to be quick) returns 0,
1 or 2, never lets an exception escape (no traceback, no `internal error`), says exit 2 in one
line on stderr, and writes nothing outside its output directory: no file beside it, no claim
file or temporary file left behind. Runs fly on the cpython target for a second at most.

LANDER_CLI_FUZZ_EXAMPLES sets the number of cases (default 300).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from host_tools.base import outputs
from host_tools.commands.cli import main
from host_tools.link import wire

EXAMPLES = int(os.environ.get("LANDER_CLI_FUZZ_EXAMPLES", "300"))

HOSTILE_NAMES = ["../x", "../../../escaped", "{root}/abs", "{root}/a/b/abs", "a/b", "..", ".", "-rf",
                 "x" * 5000, "nul\x00", "tab\there", "ünïcödé", " ", "", "new\nline", "a\\b", "CON",
                 "name.toml", "runs", ".hidden", "x" * 199 + "y"]
NUMBERS = st.one_of(
    st.floats(min_value=-2000.0, max_value=2000.0, allow_nan=False),
    st.sampled_from([0.0, -0.0, 1e-300, 5e-324, -1e-300, 1e9, -1e9, 1e10, 1e300, -1e300, math.inf, -math.inf,
                     math.nan, 2**70, -(2**70), 10**400]),
    st.integers(min_value=-10, max_value=10**6),
)
VALUES = st.one_of(NUMBERS, st.booleans(), st.text(max_size=8), st.lists(st.integers(), max_size=3))
KNOWN = {
    "initial": ["altitude_m", "downrange_m", "vertical_speed_mps", "horizontal_speed_mps", "pitch_rad",
                "propellant_kg", "throttle"],
    "knowledge": ["altitude_error_m", "altitude_sigma_m", "vertical_speed_sigma_mps", "terrain_m",
                  "terrain_sigma_m", "mass_error_kg", "max_thrust_error_n", "isp_error_s"],
    "vehicle": ["dry_mass_kg", "propellant_kg", "max_thrust_n", "isp_s", "min_throttle",
                "engine_time_constant_s", "pitch_time_constant_s", "pitch_rate_limit_radps", "max_pitch_rad",
                "g0_mps2", "gravity_mps2"],
    "sensors.radar": ["rate_hz", "noise_m", "noise_fraction", "max_range_m", "min_range_m", "bias_m",
                      "scale_factor", "acquire_below_m", "lost_below_m", "first_valid_s", "phase_s"],
    "sensors.imu": ["accel_bias_mps2", "noise_density", "scale_factor", "attitude_noise_rad"],
    "expect": ["outcome", "max_touchdown_vertical_mps", "min_propellant_kg", "no_false_alarm"],
}


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # TOML takes no \ud83d surrogate escapes
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


def mostly(draw, good, bad, one_in: int = 8):
    """A draw from `good`, but from `bad` about one time in `one_in` (on a value inside the range:
    hypothesis favours the ends of a range)."""
    return draw(bad) if draw(st.integers(0, one_in - 1)) == one_in // 2 else draw(good)


LABELS = st.sampled_from(["fuzz", "crater rim (2023)", "ünïcödé", "-rf", "CON", "name.toml", "runs",
                          ".hidden", "x" * 199 + "y", "a" * 90, "tab like  spaces"])


@st.composite
def scenario_text(draw, root: str) -> bytes:
    if draw(st.integers(0, 19)) == 0:  # now and then, any bytes at all
        return draw(st.binary(max_size=200))
    name = mostly(draw, LABELS, st.one_of(st.sampled_from(HOSTILE_NAMES), st.text(max_size=30)), 3)
    top = {
        "name": name.replace("{root}", root),
        "seed": mostly(draw, st.integers(0, 2**32), st.one_of(st.integers(), NUMBERS)),
        "duration_s": mostly(draw, st.floats(0.02, 1.0), NUMBERS),
        "control_rate_hz": mostly(draw, st.sampled_from([50.0, 10.0, 200.0]), NUMBERS),
    }
    tables = {"initial": {"altitude_m": mostly(draw, st.floats(5.0, 3000.0), NUMBERS),
                          "downrange_m": 0.0,
                          "vertical_speed_mps": mostly(draw, st.floats(-50, 0), NUMBERS),
                          "horizontal_speed_mps": mostly(draw, st.floats(-5, 5), NUMBERS)}}
    for _ in range(draw(st.integers(0, 3))):  # extremes and nonsense in any known key
        table = draw(st.sampled_from(sorted(KNOWN)))
        key = mostly(draw, st.sampled_from(KNOWN[table]), st.text(min_size=1, max_size=6))
        tables.setdefault(table, {})[key] = mostly(
            draw, st.one_of(st.floats(0.0, 100.0), st.integers(0, 1000)), st.one_of(NUMBERS, VALUES), 3)
    if draw(st.integers(0, 15)) == 7:  # drop a key, required or not
        top.pop(draw(st.sampled_from(sorted(top))))
    lines = [f"{k} = {toml_value(v)}" for k, v in top.items()]
    for table, items in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in items.items()]
    if draw(st.integers(0, 3)) == 0:
        sensor = mostly(draw, st.sampled_from(["radar", "lrf", "imu", "contact"]), st.just("x"))
        kind = mostly(draw, st.sampled_from(["bias", "dropout", "noise", "spike", "stuck", "delay", "scale"]),
                      st.just("?"))
        lines += ["[[fault]]", f"sensor = {json.dumps(sensor)}", f"kind = {json.dumps(kind)}",
                  f"start_s = {toml_value(mostly(draw, st.floats(0.0, 1.0), NUMBERS))}",
                  f"value = {toml_value(draw(NUMBERS))}"]
    if draw(st.integers(0, 19)) == 0:
        lines.append("deep = " + "[" * 3000 + "]" * 3000)
    text = "\n".join(lines) + "\n"
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate drawn into a name: not UTF-8


OPTION_INTS = st.one_of(st.integers(-3, 5), st.sampled_from(["-1", "x", "1e3", "", str(2**64), "007", " 3"]))


@st.composite
def invocation(draw):
    command = draw(st.sampled_from(["sim", "sim", "sim", "check", "montecarlo", "replay"]))
    out = mostly(draw, st.sampled_from([None, None, "out", "deep/er/out", "../sibling", "runs/x"]),
                 st.sampled_from(["existing-file", "existing-file/sub", "", "\x00", "x" * 5000]), 6)
    opts = []
    if out is not None and command != "replay":
        opts += ["--out", out]
    target = mostly(draw, st.just("cpython"), st.sampled_from(["pico", "serial:", "serial:/no/port"]), 12)
    opts += ["--target", target]
    if command in ("sim", "montecarlo") and draw(st.booleans()):
        seed = mostly(draw, st.integers(0, 2**63 - 1), st.one_of(st.integers(), OPTION_INTS))
        opts += ["--seed", str(seed)]
    if command == "sim" and draw(st.integers(0, 9)) > 0:
        opts.append("--no-plot")
    if command == "montecarlo":
        opts += ["-n", str(mostly(draw, st.integers(1, 2), OPTION_INTS)), "--workers", "1"]
    if command != "replay" and draw(st.booleans()):
        opts.append("--no-reference")
    if command == "replay":
        opts += mostly(draw, st.sampled_from([[], ["--precision", "32"]]), st.just(["--precision", "16"]))
    return command, out, opts


def recording_bytes(draw_kind: int) -> bytes:
    init = wire.Init(1, 0, 100.0, 5.0, -3.0, 0.5, 0.0, 0.2, 0.0, 1000.0, 540.0, 340.0, 1600.0, 310.0,
                     0.1, 0.15)
    data = wire.encode_init(init)
    if draw_kind == 0:
        return data  # no SENSOR frame
    for k in range(1, 4):
        data += wire.encode_sensor(wire.Sensor(k + 1, k * 20_000, 1.62, 0.0, 0.0, 100.0, 100.0, 3))
    return data[:-draw_kind] if draw_kind > 1 else data


def snapshot(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_no_input_gives_a_traceback_or_writes_outside_the_output_directory(data):
    with tempfile.TemporaryDirectory(prefix="lander-fuzz-") as tmp:
        root = Path(tmp)
        work = root / "a" / "b" / "work"  # deep enough that ../../.. stays inside root
        work.mkdir(parents=True)
        (work / "existing-file").write_text("keep\n")
        command, out, opts = data.draw(invocation())
        scn = work / "s.toml"
        scn.write_bytes(data.draw(scenario_text(str(root))))
        if command == "sim":
            args = ["sim", str(scn)]
        elif command == "montecarlo":
            args = ["montecarlo", str(scn)]
        elif command == "check":
            lib = work / "lib"
            lib.mkdir()
            (lib / "one.toml").write_bytes(scn.read_bytes())
            if data.draw(st.booleans()):
                (lib / "two.toml").write_bytes(data.draw(scenario_text(str(root))))
            args = ["check", str(lib)]
        else:
            rec = work / "frames.bin"
            rec.write_bytes(data.draw(st.one_of(st.binary(max_size=60),
                                                st.integers(0, 5).map(recording_bytes))))
            args = ["replay", str(rec)]
        before = snapshot(root)
        err, cwd = io.StringIO(), os.getcwd()
        try:
            os.chdir(work)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                rc = main(args + opts)
        finally:
            os.chdir(cwd)
        stderr = err.getvalue()
        event(f"{command} exit {rc}")
        assert rc in (0, 1, 2), (args + opts, rc, stderr)
        assert "internal error" not in stderr and "Traceback" not in stderr, (args + opts, stderr)
        if rc == 2:
            assert stderr.startswith("lander: ") and stderr.count("\n") == 1, (args + opts, stderr)
        if out and "\x00" not in out:
            allowed = [(work / out).resolve()]
        else:
            allowed = [(work / "runs").resolve()]
        new = snapshot(root) - before
        for p in new:
            rp = p.resolve()
            assert any(rp == a or a in rp.parents or rp in a.parents for a in allowed), \
                (args + opts, p, allowed)
            assert p.name != outputs.CLAIM_FILE and not p.name.endswith(".tmp"), (args + opts, p)
        if command == "replay":
            assert not new, (args + opts, new)
        assert (work / "existing-file").read_text() == "keep\n"

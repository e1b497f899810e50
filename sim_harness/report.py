"""Reports of one run: summary.json, log.csv, plot.png, and the [expect] verdict.

`write_run(result, out_dir)` writes the three files (each even when the target failed
mid-run: the rows so far are what is written) and returns the summary dict.
`summarize(result)` builds the summary (the contract's section 4, plus more keys) and
`evaluate_expect(result, summary)` the list of failed expectations, as readable strings.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

from host_tools.base import outputs
from host_tools.link.telemetry import percentile
from sim_harness.closedloop import COLUMNS, RunResult
from sim_harness.ideal import scenario_ideal_propellant

NOT_OK = ("suspect", "rejected", "failed")
ALARM = ("rejected", "failed")


def _col(result: RunResult, name: str) -> list:
    i = COLUMNS.index(name)
    return [r[i] for r in result.rows]


# the log column of each tracked unit's health (the altimeters', and the velocimeter's when fitted)
HEALTH_COLUMNS = {"radar": "radar_health", "lrf": "lrf_health", "velocimeter": "vel_health"}


def tracked_sensors(scenario) -> tuple[str, ...]:
    """The units whose health the summary follows: both altimeters always (they report even
    when not fitted), and the velocimeter when the scenario fits one (a run without one has the
    summary it always had)."""
    if scenario.sensors.velocimeter.fitted:
        return ("radar", "lrf", "velocimeter")
    return ("radar", "lrf")


def health_changes(result: RunResult) -> list[dict]:
    """Every change of a tracked unit's health state (the altimeters', and a fitted
    velocimeter's), in time order (the state before the first frame is taken as not_acquired,
    the firmware's state after INIT)."""
    t = _col(result, "t_s")
    changes = []
    for sensor in tracked_sensors(result.scenario):
        prev = "not_acquired"
        for ti, state in zip(t, _col(result, HEALTH_COLUMNS[sensor]), strict=True):
            if state != prev:
                changes.append({"time_s": ti, "sensor": sensor, "state": state})
                prev = state
    changes.sort(key=lambda c: (c["time_s"], c["sensor"]))
    return changes


def estimator_errors(result: RunResult) -> dict:
    """Errors of the estimated height above the terrain under the lander against the truth."""
    est = _col(result, "est_agl_m")
    true = _col(result, "agl_true_m")
    errs = [e - a for e, a in zip(est, true, strict=True)]
    low = [abs(e) for e, a in zip(errs, true, strict=True) if a < 100.0]
    finite = [e for e in errs if math.isfinite(e)]
    return {
        "altitude_error_rms_m": math.sqrt(sum(e * e for e in finite) / len(finite)) if finite else None,
        "altitude_error_max_m": max((abs(e) for e in errs), default=None),
        "altitude_error_max_below_100m_m": max(low, default=None),
    }


def isolation_delay(result: RunResult, sensor: str) -> float | None:
    """[s] from the start of the first fault on `sensor` to the first frame at or after it in
    which the firmware does not call that sensor ok (any other health state, not_acquired
    included: a dropout may be reported that way). None: no fault, or never called other than
    ok after it.

    The velocimeter: every fault counts, on one beam or on the whole unit (a beam left out
    makes the unit `suspect`: not ok). A velocimeter is often not yet in use when its fault
    begins (out of range high up, `suspect` on a lone beam while the lander is pitched), and
    "not ok at the onset" would then pass for an isolation at once; so when it is not ok in
    the first frame at or after the onset, the delay runs from the first later frame inside a
    fault window in which it is ok (when the faulty unit comes into use) to the first frame
    after that in which it is not; 0 when it is never ok inside a window (never trusted while
    faulty). When it is ok at the onset this is the altimeters' rule."""
    faults = [f for f in result.scenario.faults if f.sensor == sensor]
    if not faults:
        return None
    t0 = min(f.start_s for f in faults)
    frames = [(t, state) for t, state in zip(_col(result, "t_s"), _col(result, HEALTH_COLUMNS[sensor]),
                                             strict=True) if t >= t0 - 1e-9]
    if sensor == "velocimeter" and frames and frames[0][1] != "ok":
        def faulty(t: float) -> bool:
            return any(f.start_s - 1e-9 <= t < (math.inf if f.end_s is None else f.end_s) - 1e-9
                       for f in faults)

        t0 = next((t for t, state in frames if state == "ok" and faulty(t)), None)
        if t0 is None:
            return 0.0
        frames = [(t, state) for t, state in frames if t > t0]
    for t, state in frames:
        if state != "ok":
            return t - t0
    return None


def longest_not_ok(result: RunResult, sensor: str) -> float:
    """[s] the longest spell in which `sensor` was not ok after having first been ok."""
    seen_ok = False
    start = None
    longest = 0.0
    t_last = 0.0
    for t, state in zip(_col(result, "t_s"), _col(result, HEALTH_COLUMNS[sensor]), strict=True):
        t_last = t
        if state == "ok":
            if start is not None:
                longest = max(longest, t - start)
                start = None
            seen_ok = True
        elif seen_ok and start is None:
            start = t
    if start is not None:
        longest = max(longest, t_last - start)
    return longest


COUNTER_WRAP = 1 << 16  # the link counters are 16-bit on the wire (docs/protocol.md)


def link_report(result: RunResult) -> dict:
    """summary.json's `link` block: what the link lost during the run, as the firmware counted it.

    rx_errors: bytes or frames it could not read (garbage, a broken CRC); frames_rejected: frames
    it read and refused (an unknown type, a stale sequence number, time not advancing). Both are
    the increase from the run's first command to its last (16-bit counters, wrap-around taken
    into account): errors of the link, not of the flight software, and never compared with the
    reference model as if they were. resends: frames the host sent again after a lost answer.
    """
    counts = {}
    steps_with = 0
    first_t = None
    t = _col(result, "t_s")
    series = {name: _col(result, name) for name in ("rx_errors", "frames_rejected")}
    for name, values in series.items():
        total = 0
        for a, b in zip(values, values[1:], strict=False):
            total += (b - a) % COUNTER_WRAP
        counts[name] = total
    for i in range(1, len(t)):
        if any(v[i] != v[i - 1] for v in series.values()):
            steps_with += 1
            if first_t is None:
                first_t = t[i]
    return {**counts, "steps_with_errors": steps_with, "first_error_t_s": first_t,
            "resends": result.resends}


def summarize(result: RunResult) -> dict:
    s = result.scenario
    v = s.vehicle
    td = result.touchdown
    prop_end = td["propellant_kg"] if td else (result.rows[-1][COLUMNS.index("propellant_kg")]
                                                if result.rows else s.propellant_kg)
    used = s.propellant_kg - prop_end
    ideal = scenario_ideal_propellant(s, s.terrain.height(td["x_m"]) if td else None)
    changes = health_changes(result)
    tracked = tracked_sensors(s)
    step_us = [u for u in result.step_us if u > 0]
    summary = {
        "scenario": s.name,
        "target": result.target_name,
        "seed": s.seed,
        "outcome": result.outcome,
        "touchdown": {
            "time_s": td["time_s"] if td else None,
            "vertical_speed_mps": abs(td["vertical_speed_mps"]) if td else None,
            "horizontal_speed_mps": abs(td["horizontal_speed_mps"]) if td else None,
            "propellant_kg": td["propellant_kg"] if td else None,
            "pitch_rad": td["pitch_rad"] if td else None,
            "x_m": td["x_m"] if td else None,
        },
        "estimator": estimator_errors(result),
        "faults_declared": changes,
        "false_alarms": sum(1 for c in changes if c["state"] in ALARM),
        "reference": result.reference or {"steps_compared": 0, "max_throttle_diff": 0.0, "mismatches": 0},
        "propellant_used_kg": used,
        "propellant_ideal_kg": ideal,
        "propellant_ratio_to_ideal": used / ideal if ideal else None,
        "vehicle": {"dry_mass_kg": v.dry_mass_kg, "isp_s": v.isp_s, "max_thrust_n": v.max_thrust_n,
                    "g0": v.g0_mps2, "propellant_kg": s.propellant_kg},
        "ran_dry_at_s": result.ran_dry_at,
        "command_clamps": result.command_clamps,
        "target_error": result.target_error,
        "interrupted": result.interrupted,
        "link": link_report(result),
        "target_step_us": {"median": statistics.median(step_us) if step_us else None,
                           "p99": percentile(step_us, 99) if step_us else None,
                           "max": max(step_us) if step_us else None},
        "isolation_s": {n: isolation_delay(result, n) for n in tracked},
        "longest_not_ok_s": {n: longest_not_ok(result, n) for n in tracked},
        "steps": result.steps,
        "wall_s": result.wall_s,
        "description": s.description,
    }
    failures = evaluate_expect(result, summary)
    summary["expect"] = {"passed": not failures, "failures": failures}
    summary["passed"] = not failures
    return summary


def evaluate_expect(result: RunResult, summary: dict) -> list[str]:
    """The failed expectations as readable strings (empty: passed).

    Without an `outcome` expectation, "landed" is expected. Expecting "crashed" accepts
    propellant_exhausted too (both end in an impact). A target error always fails.
    """
    e = result.scenario.expect
    fails = []
    if result.interrupted:
        fails.append(f"interrupted {result.interrupted}")
    if result.target_error:
        fails.append(f"target error: {result.target_error}")
    ref = result.reference
    if ref and ref.get("mismatches"):
        fails.append(f"reference model mismatch: {ref.get('first_mismatch') or ref['mismatches']}")
    want = e.outcome or "landed"
    got = summary["outcome"]
    if got != want and not (want == "crashed" and got == "propellant_exhausted"):
        fails.append(f"outcome {got}, expected {want}")
    td = summary["touchdown"]

    def at_most(value, limit, what, unit):
        if limit is None:
            return
        if value is None:
            fails.append(f"{what}: no value (no touchdown or no data), expected <= {limit:g} {unit}")
        elif not value <= limit:
            fails.append(f"{what} {value:.3g} {unit} > {limit:g} {unit}")

    at_most(td["vertical_speed_mps"], e.max_touchdown_vertical_mps, "touchdown vertical speed", "m/s")
    at_most(td["horizontal_speed_mps"], e.max_touchdown_horizontal_mps, "touchdown horizontal speed", "m/s")
    at_most(abs(td["pitch_rad"]) if td["pitch_rad"] is not None else None, e.max_touchdown_pitch_rad,
            "touchdown |pitch|", "rad")
    if e.min_propellant_kg is not None:
        left = td["propellant_kg"]
        if left is None or not left >= e.min_propellant_kg:
            fails.append(f"propellant at touchdown {left if left is None else f'{left:.3g}'} kg "
                         f"< {e.min_propellant_kg:g} kg")
    est = summary["estimator"]
    at_most(est["altitude_error_max_below_100m_m"], e.max_altitude_error_below_100m_m,
            "estimate error below 100 m", "m")
    at_most(est["altitude_error_max_m"], e.max_altitude_error_m, "estimate error", "m")
    at_most(summary["propellant_ratio_to_ideal"], e.max_propellant_ratio_to_ideal,
            "propellant ratio to ideal", "x")
    declared = summary["faults_declared"]
    never = list(e.never_rejected or [])
    if e.no_false_alarm:
        never = list(tracked_sensors(result.scenario))
    for c in declared:
        if c["sensor"] in never and c["state"] in ALARM:
            fails.append(f"false alarm: {c['sensor']} declared {c['state']} at {c['time_s']:.2f} s")
            break
    if e.isolated:
        delay = summary["isolation_s"].get(e.isolated)
        if delay is None:
            fails.append(f"{e.isolated} never declared other than ok after its fault")
        elif e.max_isolation_s is not None and delay > e.max_isolation_s:
            fails.append(f"{e.isolated} isolated {delay:.2f} s after its fault > {e.max_isolation_s:g} s")
    if e.reacquire_sensor and e.max_reacquire_s is not None:
        spell = summary["longest_not_ok_s"].get(e.reacquire_sensor)
        if spell is not None and spell > e.max_reacquire_s:
            fails.append(f"{e.reacquire_sensor} not ok for {spell:.2f} s > {e.max_reacquire_s:g} s")
    return fails


def _json_safe(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def write_summary(summary: dict, path) -> None:
    """summary.json, written atomically (host_tools.base.outputs)."""
    outputs.write_text(path, json.dumps(_json_safe(summary), indent=2) + "\n")


def write_log_csv(result: RunResult, path) -> None:
    """log.csv: a header row, then one row per control step (floats at full precision), written
    atomically."""
    with outputs.replacing(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        w.writerows(result.rows)


def write_run(result: RunResult, out_dir, *, plot: bool = True) -> dict:
    """Write summary.json, log.csv and plot.png into out_dir (created); returns the summary.

    Each file is written atomically. The caller claims out_dir first (host_tools.base.outputs.claim)
    when other runs may write there at the same time."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise outputs.OutputError(f"{out}: cannot create the output directory: {e.strerror or e}") from None
    summary = summarize(result)
    write_log_csv(result, out / "log.csv")
    write_summary(summary, out / "summary.json")
    if plot:
        from sim_harness.plot import plot_run  # matplotlib only when a plot is wanted

        plot_run(result, summary, out / "plot.png")
    return summary


def verdict_line(summary: dict) -> str:
    """One line for a terminal: scenario, outcome, touchdown speeds, PASS or FAIL."""
    td = summary["touchdown"]
    speeds = (f"vz {td['vertical_speed_mps']:.2f} m/s, vx {td['horizontal_speed_mps']:.2f} m/s, "
              f"{td['propellant_kg']:.1f} kg left" if td["time_s"] is not None else "no touchdown")
    verdict = "PASS" if summary["passed"] else "FAIL: " + "; ".join(summary["expect"]["failures"])
    return f"{summary['scenario']}: {summary['outcome']} ({speeds}) {verdict}"

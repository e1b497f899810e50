"""Fault campaign: random fault cases drawn from a seed, screened by the truth pilot, flown in parallel.

Case i of a campaign with base seed S is drawn from `run_seed(S, i)` (sim_harness.montecarlo)
alone, in two stages:

1. the start (`draw_start`): a terrain class (flat, rough, cliff down, cliff up: the cliff
   ahead of the start, within the distance the descent travels), a start 2.5-6 km above the
   terrain under it, 30-70 m/s down, 0-60 m/s downrange, then the Monte Carlo dispersions
   (sim_harness.montecarlo.disperse: the true vehicle, the prior's errors, each sensor's
   noise, bias, scale and phase). The truth pilot (sim_harness.pilot) flies it; a start that
   it does not land softly is dropped (and counted): it is no fair test of the firmware. The
   pilot reads the truth and ignores the sensors, so faults cannot change its verdict.
2. the faults (`draw_faults`), with their onsets within the pilot's descent time: a class
   (single: one altimeter fault; double: two, on both altimeters or on one; imu: an
   accelerometer bias step or drift with 0-2 altimeter faults; attitude: an attitude reading
   fault, a Schiaparelli-like saturation among them, with 0-2 altimeter faults), and
   sometimes a contact fault on top; 1-3 faults in all. Every altimeter kind of the contract,
   magnitudes log-uniform across their plausible range (FAULT_RANGES), durations from half a
   second to the rest of the descent.

With `velocimeter=True` (`lander campaign --velocimeter`) every case is fitted with the default
Doppler velocimeter (its calibration dispersed like the other sensors', drawn last), and a
share of the cases (VELOCIMETER_P) is of the class `velocimeter`: a velocimeter fault (every
kind, on beam A, beam B or the whole unit, magnitudes in VELOCIMETER_FAULT_RANGES) with 0-2
altimeter faults and sometimes a contact fault, drawn from a stream of their own. The other
cases keep exactly the faults they have without the option, so that a campaign with the
velocimeter and one without fly the same starts and, outside the class, the same faults.
Without the option nothing of it is drawn: the cases are those of every earlier campaign.

A case passes when it lands softly (SOFT: vz <= 2 m/s, vx <= 1 m/s), the target did not fail,
and no command differed from the reference model. The statistics count soft landings by class,
kind and terrain, the outcomes, runs that ran dry, and how the firmware judged the sick and the
healthy altimeters (`isolation_record`). Every failing case is written as a scenario TOML with
the campaign's expectations, which `lander sim` replays exactly.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from host_tools.base import outputs
from sim_harness.campaign_cases import (
    CLASSES,
    FAULT_RANGES,
    SOFT,
    TERRAINS,
    VELOCIMETER_CLASS,
    VELOCIMETER_FAULT_RANGES,
    build_case,
    build_case_without_faults,
    case_meta,
    draw_start,
    terrain_kind,
)
from sim_harness.montecarlo import fly_many
from sim_harness.pilot import TruthPilot
from sim_harness.report import HEALTH_COLUMNS, _json_safe
from sim_harness.scenario import (
    Scenario,
    scenario_to_toml,
)

# the numbers of campaign.json that describe the machine, not the flight (sim_harness.cluster)
MACHINE_KEYS = ("wall_s", "s_per_case", "workers", "scheduler", "resumed_runs")


# ---------------------------------------------------------------- judging one run

_DISTRUST = ("rejected", "failed")


def _judged(health: list[str], t: list[float], dt: float, active) -> dict:
    """How the firmware judged one faulty unit inside its fault windows (`active(t)`):
    trusted_s, isolation_s (from the first frame inside a window in which it was ok to the
    first later frame inside a window in which it was not; 0: never trusted while faulty;
    None: trusted and never isolated), never_trusted."""
    trusted = 0.0
    exposed = None
    isolated = None
    for k, tk in enumerate(t):
        if not active(tk):
            continue
        ok = health[k] == "ok"
        if ok:
            trusted += dt
            if exposed is None:
                exposed = tk
        elif exposed is not None and isolated is None:
            isolated = tk - exposed
    return {"trusted_s": trusted, "isolation_s": 0.0 if exposed is None else isolated,
            "never_trusted": exposed is None}


def isolation_record(result, summary) -> dict:
    """How the firmware judged the altimeters (and a fitted velocimeter) of one run (a
    `fly_many` extra; picklable).

    For each altimeter with a fault (its windows start_s <= t < end_s): `trusted_s`, the time
    it was ok inside a window; `isolation_s`, from the first frame inside a window in which it
    was ok (the onset, or when it came into use) to the first later frame inside a window in
    which it was not ok (0: never trusted while faulty; None: trusted and never isolated).
    `wrong_blame_s`: time in which a healthy altimeter (no fault) was rejected or failed while a
    faulty one was ok inside its window: the wrong source believed. `healthy_alarm`: a healthy
    altimeter was ever declared rejected or failed.

    With a velocimeter fitted, `velocimeter` too: `faulty` (a fault on a beam or the unit);
    when faulty, `trusted_s`, `isolation_s` and `never_trusted` as for an altimeter (a beam
    left out makes the unit `suspect`: not ok); `healthy_alarm`, a healthy unit declared
    rejected or failed; `wrong_blame_s`, time in which a healthy unit was rejected or failed
    while a faulty altimeter was ok inside its window (the filter following the wrong altimeter
    and the velocimeter, its witness, blamed).
    """
    from sim_harness.closedloop import COLUMNS

    s = result.scenario
    rows = result.rows
    dt = 1.0 / s.control_rate_hz
    ti = COLUMNS.index("t_s")
    t = [r[ti] for r in rows]
    units = ("radar", "lrf", "velocimeter") if s.sensors.velocimeter.fitted else ("radar", "lrf")
    health = {a: [r[COLUMNS.index(HEALTH_COLUMNS[a])] for r in rows] for a in units}
    windows = {a: [(f.start_s, math.inf if f.end_s is None else f.end_s) for f in s.faults if f.sensor == a]
               for a in units}
    faulty = [a for a in ("radar", "lrf") if windows[a]]
    healthy = [a for a in ("radar", "lrf") if not windows[a]]

    def active(a, tk):
        return any(t0 - 1e-9 <= tk < t1 - 1e-9 for t0, t1 in windows[a])

    per = {a: _judged(health[a], t, dt, lambda tk, a=a: active(a, tk)) for a in faulty}
    wrong = 0.0
    for k, tk in enumerate(t):
        if any(health[h][k] in _DISTRUST for h in healthy) and any(
                active(f, tk) and health[f][k] == "ok" for f in faulty):
            wrong += dt
    alarm = any(c["sensor"] in healthy and c["state"] in _DISTRUST for c in summary["faults_declared"])
    record = {"altimeters": per, "wrong_blame_s": wrong, "wrong_blame": wrong > 0.0, "healthy_alarm": alarm,
              "healthy_altimeters": healthy, "ran_dry": result.ran_dry_at is not None,
              "ran_dry_at_s": result.ran_dry_at, "touchdown_s": summary["touchdown"]["time_s"],
              "est_error_max_m": summary["estimator"]["altitude_error_max_m"]}
    if "velocimeter" in units:
        vh = health["velocimeter"]
        vel: dict = {"faulty": bool(windows["velocimeter"])}
        if vel["faulty"]:
            vel.update(_judged(vh, t, dt, lambda tk: active("velocimeter", tk)))
            vel["healthy_alarm"] = False
            vel["wrong_blame_s"] = 0.0
        else:
            vel["healthy_alarm"] = any(c["sensor"] == "velocimeter" and c["state"] in _DISTRUST
                                       for c in summary["faults_declared"])
            vel["wrong_blame_s"] = float(sum(dt for k, tk in enumerate(t) if vh[k] in _DISTRUST and any(
                active(f, tk) and health[f][k] == "ok" for f in faulty)))
        record["velocimeter"] = vel
    return record


def _pilot_record(result, summary) -> dict:
    return {"touchdown_s": summary["touchdown"]["time_s"]}


def _soft(r: dict) -> bool:
    return (r["outcome"] == "landed" and r["touchdown_vz_mps"] is not None
            and r["touchdown_vz_mps"] <= SOFT["max_touchdown_vertical_mps"]
            and r["touchdown_vx_mps"] <= SOFT["max_touchdown_horizontal_mps"])


# ---------------------------------------------------------------- the campaign


def screen(base_seed: int, n: int, *, workers: int = 1, progress: bool = False, cluster=None,
           results=None) -> tuple[list, list]:
    """Draw starts 0, 1, 2, ... until `n` are landed softly by the truth pilot.

    cluster: an open sim_harness.cluster.Cluster to fly on (default: a local one of `workers`).
    results: a directory for each pilot run's result (and to take them from when resuming).

    Returns (kept, dropped): kept = [(index, t_pilot)] for the first n kept indices;
    dropped = [{"index", "outcome", "touchdown_vz_mps", "touchdown_vx_mps"}] for the indices
    below the last kept one that the pilot did not land softly. Case i is the same in every
    campaign of the same base seed, whatever n: a larger campaign extends a smaller one.
    """
    kept: list[tuple[int, float]] = []
    dropped: list[dict] = []
    nxt = 0
    while len(kept) < n:
        short = n - len(kept)
        batch = list(range(nxt, nxt + int(math.ceil(short * 1.15)) + 2))
        nxt = batch[-1] + 1
        tasks = [(_start_of, (base_seed, i), "pilot", f"case {i}", _pilot_record) for i in batch]
        records = fly_many(tasks, TruthPilot, workers=workers, cluster=cluster, progress=progress,
                           desc="truth pilot", results=results).records
        for i, r in zip(batch, records, strict=True):
            if len(kept) >= n:
                break
            if _soft(r):
                kept.append((i, round(r["touchdown_s"], 1)))
            else:
                dropped.append({"index": i, "outcome": r["outcome"], "terrain": terrain_kind(base_seed, i),
                                "touchdown_vz_mps": r["touchdown_vz_mps"],
                                "touchdown_vx_mps": r["touchdown_vx_mps"]})
    return kept, dropped


def _start_of(arg) -> Scenario:
    return draw_start(*arg)


def run_campaign(n: int, seed: int = 1, target_name: str = "vm", workers: int | None = None, *,
                 target_factory=None, out_dir=None, progress: bool = True, reference: bool = True,
                 baseline: bool = True, scheduler: str | None = None, resume: bool = False,
                 velocimeter: bool = False) -> dict:
    """Fly `n` fault cases (after the truth pilot's screen) on `target_name`; the statistics.

    workers: the local Dask cluster's workers (default: all cores), each opening its target once
    (sim_harness.cluster); scheduler: the address of a Dask scheduler to fly on instead.
    out_dir: campaign.json, campaign.png and failing/<case>.toml go there, and every run's result
    into out_dir/runs/ as it comes back (the pilot's, the cases', the baselines'); resume: keep
    the results there of an earlier run of the same campaign and fly only the rest. reference:
    check every command against the reference model (a mismatch fails the case). baseline: fly
    each failing case once more without its faults (the record's "baseline"), to tell a fault
    the firmware did not survive from a start it cannot fly at all. velocimeter: every case
    fitted with the default velocimeter, and the velocimeter class among the cases (the module
    docstring); the truth pilot's screen is the same (it reads the truth, not the sensors).
    """
    from sim_harness.cluster import announce, open_cluster, results_dir
    from sim_harness.library import default_factory

    workers = workers or os.cpu_count() or 1
    factory = target_factory or default_factory(target_name)
    runs = None
    if out_dir is not None:
        identity = {"command": "campaign", "base_seed": seed, "target": target_name, "reference": reference,
                    "baseline": baseline}
        if velocimeter:  # (absent without it: the runs of earlier campaigns resume as before)
            identity["velocimeter"] = True
        runs = results_dir(out_dir, identity, resume)

    def stage(name: str):
        return None if runs is None else runs / name

    with open_cluster(workers, scheduler) as cluster:
        announce(cluster)
        kept, dropped = screen(seed, n, progress=progress, cluster=cluster, results=stage("pilot"))
        metas = [case_meta(seed, i, tp, velocimeter) for i, tp in kept]
        tasks = [(build_case, _task_arg(seed, i, tp, velocimeter), target_name, f"case {i}", isolation_record)
                 for i, tp in kept]
        flight = fly_many(tasks, factory, cluster=cluster, reference=reference, progress=progress,
                          desc=f"campaign on {target_name}", results=stage("cases"))
        wall = flight.wall_s
        cases = []
        for (_i, tp), meta, rec in zip(kept, metas, flight.records, strict=True):
            rec = {**meta, "t_pilot_s": tp, **rec}
            rec["soft"] = _soft(rec)
            rec["passed"] = bool(rec["soft"] and rec["passed"])
            rec["baseline"] = None
            cases.append(rec)
        if baseline:
            # each failing case again without its faults: does it fail for its faults, or for its
            # start and terrain (guidance, not the cross-check)?
            failing = [c for c in cases if not c["passed"]]
            tasks = [(build_case_without_faults, _task_arg(seed, c["index"], c["t_pilot_s"], velocimeter),
                      target_name,
                      f"baseline {c['index']}", None) for c in failing]
            if tasks:
                base = fly_many(tasks, factory, cluster=cluster, progress=progress,
                                desc="failing cases without faults", results=stage("baseline"))
                wall += base.wall_s
                for c, b in zip(failing, base.records, strict=True):
                    c["baseline"] = {"outcome": b["outcome"], "soft": _soft(b),
                                     "touchdown_vz_mps": b["touchdown_vz_mps"],
                                     "touchdown_vx_mps": b["touchdown_vx_mps"]}
    stats = statistics(cases, dropped, seed=seed, target_name=target_name, workers=flight.workers, wall=wall,
                       velocimeter=velocimeter)
    stats["scheduler"] = flight.scheduler
    stats["resumed_runs"] = flight.resumed
    stats["reference"] = flight.reference
    if out_dir is not None:
        write_campaign(stats, cases, Path(out_dir))
    return stats


def _task_arg(seed: int, index: int, t_pilot: float, velocimeter: bool) -> tuple:
    """build_case's argument: the flag only when set (a task without it is every earlier one's)."""
    return (seed, index, t_pilot, True) if velocimeter else (seed, index, t_pilot)


def _tally(cases: list[dict]) -> dict:
    n = len(cases)
    soft = sum(1 for c in cases if c["soft"])
    outcomes = {o: sum(1 for c in cases if c["outcome"] == o)
                for o in ("landed", "crashed", "propellant_exhausted", "timeout")}
    return {"cases": n, "soft": soft, "soft_rate": soft / n if n else None,
            "passed": sum(1 for c in cases if c["passed"]), **outcomes,
            "hard_landings": sum(1 for c in cases if c["outcome"] == "landed" and not c["soft"]),
            "ran_dry": sum(1 for c in cases if c["ran_dry"]),
            "target_errors": sum(1 for c in cases if c["target_error"]),
            "wrong_blame": sum(1 for c in cases if c["wrong_blame"])}


def _pct(values) -> dict:
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return {"n": 0, "p50": None, "p90": None, "max": None}
    p50, p90 = np.percentile(v, [50, 90])
    return {"n": int(v.size), "p50": float(p50), "p90": float(p90), "max": float(v.max())}


def classes(velocimeter: bool = False) -> tuple[str, ...]:
    """The fault classes of a campaign (with the velocimeter: its class last)."""
    return (*CLASSES, VELOCIMETER_CLASS) if velocimeter else CLASSES


def statistics(cases: list[dict], dropped: list[dict], *, seed: int, target_name: str, workers: int,
               wall: float, velocimeter: bool = False) -> dict:
    """The campaign's statistics (the content of campaign.json without the cases).

    velocimeter: a campaign with the velocimeter: by_class gains its class, and there are
    `by_velocimeter_beam` (cases with a velocimeter fault on beam "a", "b" or the "unit") and
    `isolation.velocimeter`; without it the statistics have the keys they always had."""
    by_class = {c: _tally([x for x in cases if x["class"] == c]) for c in classes(velocimeter)}
    by_terrain = {t: _tally([x for x in cases if x["terrain"] == t]) for t in TERRAINS}
    kinds = sorted({k for x in cases for k in x["faults"]})
    by_fault = {k: _tally([x for x in cases if k in x["faults"]]) for k in kinds}
    grouped = sorted({_group(k) for k in kinds})
    by_kind = {g: _tally([x for x in cases if g in {_group(k) for k in x["faults"]}]) for g in grouped}
    alts = [a for x in cases for a in x["altimeters"].values()]
    failing = [x for x in cases if not x["passed"]]
    stats = {
        "base_seed": seed, "target": target_name, "workers": workers,
        "soft_landing": SOFT,
        "drawn": len(cases) + len(dropped), "cases": len(cases), "dropped": len(dropped),
        "dropped_cases": dropped,
        "overall": _tally(cases),
        "by_class": by_class, "by_terrain": by_terrain, "by_kind": by_kind, "by_fault": by_fault,
        "isolation": {
            "faulty_altimeters": len(alts),
            "never_trusted": sum(1 for a in alts if a["never_trusted"]),
            "trusted_never_isolated": sum(1 for a in alts if a["isolation_s"] is None),
            "isolation_s": _pct(a["isolation_s"] for a in alts if not a["never_trusted"]),
            "trusted_while_faulty_s": _pct(a["trusted_s"] for a in alts),
            "wrong_blame_cases": [x["index"] for x in cases if x["wrong_blame"]],
            "wrong_blame_s": _pct(x["wrong_blame_s"] for x in cases if x["wrong_blame"]),
            "healthy_alarm_cases": [x["index"] for x in cases if x["healthy_alarm"]],
        },
        "failing": [{"index": x["index"], "class": x["class"], "terrain": x["terrain"],
                     "faults": x["fault_text"],
                     "outcome": x["outcome"], "touchdown_vz_mps": x["touchdown_vz_mps"],
                     "touchdown_vx_mps": x["touchdown_vx_mps"], "wrong_blame": x["wrong_blame"],
                     "failures": x["failures"], "baseline": x["baseline"],
                     "replay": f"failing/{failing_file(x['name'])}"} for x in failing],
        "failing_without_faults": sum(1 for x in failing if x["baseline"] and not x["baseline"]["soft"]),
        "wall_s": wall, "s_per_case": wall * workers / len(cases) if cases else None,
        "fault_ranges": FAULT_RANGES,
    }
    if velocimeter:
        stats["velocimeter"] = True
        stats["fault_ranges"] = {**FAULT_RANGES, **VELOCIMETER_FAULT_RANGES}
        stats["by_velocimeter_beam"] = {b: _tally([x for x in cases if b in x.get("velocimeter_beams", ())])
                                        for b in ("a", "b", "unit")}
        vels = [x["velocimeter"] for x in cases if x.get("velocimeter") is not None]
        sick = [v for v in vels if v["faulty"]]
        stats["isolation"]["velocimeter"] = {
            "faulty": len(sick),
            "never_trusted": sum(1 for v in sick if v["never_trusted"]),
            "trusted_never_isolated": sum(1 for v in sick if v["isolation_s"] is None),
            "isolation_s": _pct(v["isolation_s"] for v in sick if not v["never_trusted"]),
            "trusted_while_faulty_s": _pct(v["trusted_s"] for v in sick),
            "healthy_alarm_cases": [x["index"] for x in cases
                                    if x.get("velocimeter") and x["velocimeter"]["healthy_alarm"]],
            "wrong_blame_cases": [x["index"] for x in cases
                                  if x.get("velocimeter") and x["velocimeter"]["wrong_blame_s"] > 0.0],
        }
    return stats


def _group(label: str) -> str:
    sensor, kind = label.split(":")
    return f"altimeter:{kind}" if sensor in ("radar", "lrf") else label


def failing_file(name: str) -> str:
    """The file name of a failing case's scenario in failing/ (host_tools.base.outputs.safe_name)."""
    return outputs.safe_name(name) + ".toml"


def write_campaign(stats: dict, cases: list[dict], out: Path) -> None:
    """campaign.json (statistics and every case), campaign.png, failing/<case>.toml, each written
    atomically (host_tools.base.outputs). The caller claims `out` first (outputs.claim) when other
    runs may write there."""
    failing = out / "failing"
    try:
        (failing if stats["failing"] else out).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise outputs.OutputError(f"{failing}: cannot create the output directory: "
                                  f"{e.strerror or e}") from None
    outputs.write_text(out / "campaign.json",
                       json.dumps(_json_safe({**stats, "cases_detail": cases}), indent=2) + "\n")
    for f in stats["failing"]:
        case = next(c for c in cases if c["index"] == f["index"])
        scn = build_case(_task_arg(stats["base_seed"], case["index"], case["t_pilot_s"],
                                   stats.get("velocimeter", False)))
        outputs.write_text(failing / failing_file(case["name"]), scenario_to_toml(scn))
    plot_campaign(stats, cases, out / "campaign.png")


def plot_campaign(stats: dict, cases: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    for ax, (key, title) in zip(axes.flat[:3], (("by_class", "class"), ("by_terrain", "terrain"),
                                                 ("by_fault", "fault")), strict=True):
        rows = [(k, v) for k, v in stats[key].items() if v["cases"]]
        names = [f"{k} ({v['cases']})" for k, v in rows]
        rates = [100.0 * v["soft_rate"] for _, v in rows]
        ax.barh(names, rates, color=["#43a047" if r == 100.0 else "#e53935" for r in rates])
        ax.set_xlim(0, 100)
        ax.invert_yaxis()
        ax.set_xlabel("soft landings [%]")
        ax.set_title(f"by {title} (cases)")
        ax.tick_params(axis="y", labelsize=7 if key == "by_fault" else 9)
        ax.grid(True, axis="x", alpha=0.3)
    ax = axes.flat[3]
    colours = dict(zip(classes(True), ("#1e88e5", "#fb8c00", "#8e24aa", "#00897b", "#d81b60"), strict=True))
    for cls in stats["by_class"]:
        pts = [(c["touchdown_vx_mps"], c["touchdown_vz_mps"]) for c in cases
               if c["class"] == cls and c["touchdown_vz_mps"] is not None]
        if pts:
            x, y = zip(*pts, strict=True)
            ax.scatter(x, y, s=12, color=colours[cls], label=cls, alpha=0.7)
    ax.axhline(SOFT["max_touchdown_vertical_mps"], color="black", lw=0.8, ls="--")
    ax.axvline(SOFT["max_touchdown_horizontal_mps"], color="black", lw=0.8, ls="--")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_yscale("symlog", linthresh=1.0)
    vx = [c["touchdown_vx_mps"] for c in cases if c["touchdown_vx_mps"] is not None]
    vz = [c["touchdown_vz_mps"] for c in cases if c["touchdown_vz_mps"] is not None]
    ax.set_xlim(0.0, 1.5 * max([2.0, *vx]))
    ax.set_ylim(0.0, 1.5 * max([3.0, *vz]))
    ax.set_xlabel("touchdown horizontal speed [m/s]")
    ax.set_ylabel("touchdown vertical speed [m/s]")
    ax.set_title("touchdowns (dashed: the soft limits)")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    o = stats["overall"]
    with_vel = " with a velocimeter" if stats.get("velocimeter") else ""
    fig.suptitle(f"fault campaign{with_vel}, seed {stats['base_seed']} on {stats['target']}: "
                 f"{stats['cases']} cases "
                 f"({stats['dropped']} dropped by the truth pilot), {o['soft']} soft "
                 f"({100.0 * (o['soft_rate'] or 0):.1f} %), {o['crashed']} crashed, {o['timeout']} timeouts, "
                 f"{o['ran_dry']} ran dry")
    fig.tight_layout()
    try:
        with outputs.replacing(path, "wb") as f:
            fig.savefig(f, dpi=90, format="png")
    finally:
        plt.close(fig)


def format_campaign(stats: dict) -> str:
    """The printed report: a table per grouping, isolation, the failing cases."""
    head = ("", "cases", "soft", "rate %", "crashed", "prop.out", "timeout", "ran dry", "hard", "wrong src")

    def table(title: str, groups: dict) -> list[str]:
        body = [(k, str(v["cases"]), str(v["soft"]),
                 "-" if v["soft_rate"] is None else f"{100.0 * v['soft_rate']:.1f}",
                 str(v["crashed"]), str(v["propellant_exhausted"]), str(v["timeout"]), str(v["ran_dry"]),
                 str(v["hard_landings"]), str(v["wrong_blame"])) for k, v in groups.items() if v["cases"]]
        h = (title, *head[1:])
        widths = [max(len(x) for x in col) for col in zip(h, *body, strict=True)]
        lines = ["  ".join(x.rjust(w) if i else x.ljust(w) for i, (x, w) in enumerate(zip(line, widths,
                                                                                          strict=True)))
                 for line in (h, *body)]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return lines

    o = stats["overall"]
    iso = stats["isolation"]
    out = [f"fault campaign, base seed {stats['base_seed']}, on {stats['target']}: {stats['cases']} cases "
           f"flown, {stats['dropped']} of {stats['drawn']} drawn dropped (the truth pilot did not land them)"
           + ("; every case fitted with a velocimeter" if stats.get("velocimeter") else ""),
           f"soft landings (vz <= {SOFT['max_touchdown_vertical_mps']:g} m/s, vx <= "
           f"{SOFT['max_touchdown_horizontal_mps']:g} m/s): {o['soft']} of {o['cases']} "
           f"({100.0 * (o['soft_rate'] or 0):.1f} %); {o['crashed']} crashed, "
           f"{o['propellant_exhausted']} out of propellant, {o['timeout']} timeouts, {o['ran_dry']} ran dry, "
           f"{o['target_errors']} target errors", ""]
    out += table("class", stats["by_class"]) + [""]
    out += table("terrain", stats["by_terrain"]) + [""]
    out += table("kind", stats["by_kind"]) + [""]
    if "by_velocimeter_beam" in stats:
        out += table("velocimeter fault on", stats["by_velocimeter_beam"]) + [""]

    def p(d):
        return "-" if d["p50"] is None else f"p50 {d['p50']:.2f}, p90 {d['p90']:.2f}, max {d['max']:.2f}"

    out.append(f"isolation: {iso['faulty_altimeters']} faulty altimeters, {iso['never_trusted']} never "
               f"trusted while faulty, {iso['trusted_never_isolated']} trusted and never isolated; time to "
               f"isolate [s] {p(iso['isolation_s'])}; trusted while faulty [s] "
               f"{p(iso['trusted_while_faulty_s'])}")
    out.append(f"wrong source believed (a healthy altimeter rejected while the faulty one was ok): "
               f"{len(iso['wrong_blame_cases'])} cases {iso['wrong_blame_cases'][:20]}; a healthy altimeter "
               f"rejected or failed at all: {len(iso['healthy_alarm_cases'])} cases")
    vel = iso.get("velocimeter")
    if vel is not None:
        out.append(f"velocimeter: {vel['faulty']} cases with a faulty one, {vel['never_trusted']} never "
                   f"trusted while faulty, {vel['trusted_never_isolated']} trusted and never isolated; time "
                   f"to isolate [s] {p(vel['isolation_s'])}; trusted while faulty [s] "
                   f"{p(vel['trusted_while_faulty_s'])}; "
                   f"a healthy one rejected or failed: {len(vel['healthy_alarm_cases'])} cases "
                   f"{vel['healthy_alarm_cases'][:20]}, while a faulty altimeter was ok: "
                   f"{len(vel['wrong_blame_cases'])} cases")
    ref = stats.get("reference")
    if ref is not None:
        out.append(f"reference model: {ref['steps_compared']} steps compared, {ref['mismatches']} mismatches"
                   + (f"; first: {ref['first_mismatches'][0]}" if ref["first_mismatches"] else ""))
    out.append(f"{stats['wall_s']:.1f} s on {stats['workers']} workers ({stats['s_per_case']:.2f} s per case "
               f"per worker)")
    if stats["failing"]:
        out.append(f"{len(stats['failing'])} failing cases, {stats['failing_without_faults']} of them also "
                   f"without their faults (replay one with `lander sim <out>/<replay>`):")
        for f in stats["failing"][:40]:
            vz = "-" if f["touchdown_vz_mps"] is None else f"{f['touchdown_vz_mps']:.2f}"
            vx = "-" if f["touchdown_vx_mps"] is None else f"{f['touchdown_vx_mps']:.2f}"
            also = f["baseline"] is not None and not f["baseline"]["soft"]
            out.append(f"  {f['replay']}: {f['class']}, {f['terrain']}, {f['outcome']} vz {vz} vx {vx}"
                       f"{', wrong source' if f['wrong_blame'] else ''}"
                       f"{', fails without its faults too' if also else ''}"
                       f"; {'; '.join(f['faults'])}")
        if len(stats["failing"]) > 40:
            out.append(f"  ... and {len(stats['failing']) - 40} more in campaign.json")
    return "\n".join(out)

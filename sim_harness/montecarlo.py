"""Monte Carlo: many dispersed runs of one scenario, in parallel, with statistics.

Run i of a campaign with base seed S flies `disperse(scenario, run_seed(S, i))`. Everything
random about a run (its dispersion and, through the scenario seed, every sensor's noise)
derives from its run seed alone, so a run is replayed by flying its dispersed scenario, which
`run_montecarlo` writes as TOML for the worst runs (out_dir/worst/<name>.toml):

    python -m host_tools sim OUT/worst/<name>.toml

Dispersions (DISPERSION, 1 sigma, Gaussian unless said): the initial state; the prior's errors,
drawn from the sigmas the firmware is told; the true vehicle (dry mass, propellant, thrust,
Isp), while the firmware is still told the nominal vehicle (knowledge mass/thrust/Isp errors);
each altimeter's noise level (uniform factor), bias, scale factor and sample phase; the IMU's
accelerometer biases, scale factor and attitude bias; a fitted velocimeter's bias and scale
(drawn after everything else and only when one is fitted, so a scenario without one disperses
as it always did).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from pathlib import Path

import numpy as np

from host_tools.base import outputs
from sim_harness.report import _json_safe
from sim_harness.scenario import Scenario, scenario_to_toml

DISPERSION = {
    "altitude_m": 150.0,  # [m]
    "downrange_m": 150.0,  # [m]
    "vertical_speed_mps": 2.0,  # [m/s]
    "horizontal_speed_mps": 2.0,  # [m/s]
    "pitch_rad": 0.01,  # [rad]
    "dry_mass_kg": 5.0,  # [kg]
    "propellant_kg": 2.0,  # [kg]
    "max_thrust_fraction": 0.01,  # [1]
    "isp_fraction": 0.005,  # [1]
    "noise_factor_range": 0.2,  # [1] altimeter noise times U(1 - r, 1 + r)
    "radar_bias_m": 0.3,  # [m]
    "radar_scale": 0.001,  # [1]
    "lrf_bias_m": 0.05,  # [m]
    "lrf_scale": 0.0003,  # [1]
    # A navigation-grade accelerometer and a star-tracker-aided attitude: no sensor measures
    # horizontal speed, so these set the touchdown's horizontal error (docs/decisions/0005).
    "accel_bias_mps2": 0.0005,  # [m/s^2] each axis (50 ug)
    "accel_scale": 0.0002,  # [1]
    "attitude_bias_rad": 0.0003,  # [rad]
    # a fitted velocimeter's calibration, like the altimeters': a few mm/s and 0.1 % per unit
    "velocimeter_bias_mps": 0.005,  # [m/s]
    "velocimeter_scale": 0.001,  # [1]
}


def run_seed(base_seed: int, index: int) -> int:
    """The seed of run `index` of a campaign with `base_seed` (a 32-bit integer)."""
    return int(np.random.SeedSequence([base_seed, index]).generate_state(1, dtype=np.uint32)[0])


def disperse(s: Scenario, seed: int) -> Scenario:
    """A copy of scenario `s` dispersed from `seed` alone, flying with seed `seed`."""
    rng = np.random.default_rng(seed)
    d = DISPERSION

    def n(sigma: float) -> float:
        return float(rng.normal(0.0, sigma))

    ini = s.initial
    ground = s.terrain.height(ini.downrange_m)
    alt = max(ini.altitude_m + n(d["altitude_m"]), ground + 0.5 * (ini.altitude_m - ground))
    initial = dataclasses.replace(
        ini, altitude_m=alt, downrange_m=ini.downrange_m + n(d["downrange_m"]),
        vertical_speed_mps=ini.vertical_speed_mps + n(d["vertical_speed_mps"]),
        horizontal_speed_mps=ini.horizontal_speed_mps + n(d["horizontal_speed_mps"]),
        pitch_rad=ini.pitch_rad + n(d["pitch_rad"]),
        propellant_kg=max(0.0, s.propellant_kg + n(d["propellant_kg"])))
    if initial.altitude_m <= s.terrain.height(initial.downrange_m):
        initial.downrange_m = ini.downrange_m  # never start under the ground
    v = s.vehicle
    vehicle = dataclasses.replace(
        v, dry_mass_kg=v.dry_mass_kg + n(d["dry_mass_kg"]),
        max_thrust_n=v.max_thrust_n * (1.0 + n(d["max_thrust_fraction"])),
        isp_s=v.isp_s * (1.0 + n(d["isp_fraction"])))
    k = s.knowledge
    knowledge = dataclasses.replace(
        k, altitude_error_m=k.altitude_error_m + n(k.altitude_sigma_m),
        vertical_speed_error_mps=k.vertical_speed_error_mps + n(k.vertical_speed_sigma_mps),
        horizontal_speed_error_mps=k.horizontal_speed_error_mps + n(k.horizontal_speed_sigma_mps),
        terrain_m=k.terrain_m + n(k.terrain_sigma_m),
        # the firmware is told the nominal vehicle, whatever the truth
        mass_error_kg=k.mass_error_kg + (v.dry_mass_kg - vehicle.dry_mass_kg)
        + (s.propellant_kg - initial.propellant_kg),
        max_thrust_error_n=k.max_thrust_error_n + (v.max_thrust_n - vehicle.max_thrust_n),
        isp_error_s=k.isp_error_s + (v.isp_s - vehicle.isp_s))
    sn = s.sensors
    r = d["noise_factor_range"]
    radar = dataclasses.replace(
        sn.radar, noise_m=sn.radar.noise_m * float(rng.uniform(1 - r, 1 + r)),
        noise_fraction=sn.radar.noise_fraction * float(rng.uniform(1 - r, 1 + r)),
        bias_m=sn.radar.bias_m + n(d["radar_bias_m"]),
        scale_factor=sn.radar.scale_factor + n(d["radar_scale"]),
        phase_s=float(rng.uniform(0.0, 1.0 / sn.radar.rate_hz)))
    lrf = dataclasses.replace(
        sn.lrf, noise_m=sn.lrf.noise_m * float(rng.uniform(1 - r, 1 + r)),
        noise_fraction=sn.lrf.noise_fraction * float(rng.uniform(1 - r, 1 + r)),
        bias_m=sn.lrf.bias_m + n(d["lrf_bias_m"]), scale_factor=sn.lrf.scale_factor + n(d["lrf_scale"]),
        phase_s=float(rng.uniform(0.0, 1.0 / sn.lrf.rate_hz)))
    imu = dataclasses.replace(
        sn.imu, accel_bias_mps2=sn.imu.accel_bias_mps2 + n(d["accel_bias_mps2"]),
        lateral_bias_mps2=sn.imu.lateral_bias_mps2 + n(d["accel_bias_mps2"]),
        scale_factor=sn.imu.scale_factor + n(d["accel_scale"]),
        attitude_bias_rad=sn.imu.attitude_bias_rad + n(d["attitude_bias_rad"]))
    velocimeter = sn.velocimeter
    if velocimeter.fitted:  # drawn last: the draws above stay those of a vehicle without one
        velocimeter = dataclasses.replace(
            velocimeter, bias_mps=velocimeter.bias_mps + n(d["velocimeter_bias_mps"]),
            scale=velocimeter.scale + n(d["velocimeter_scale"]))
    sensors = dataclasses.replace(sn, radar=radar, lrf=lrf, imu=imu, velocimeter=velocimeter)
    return dataclasses.replace(s, name=f"{s.name}-mc{seed}", seed=seed, initial=initial, vehicle=vehicle,
                               knowledge=knowledge, sensors=sensors,
                               description=f"Monte Carlo run {seed} of {s.name}. {s.description}")


# ---------------------------------------------------------------- flying

# the numbers of montecarlo.json that describe the machine, not the flight: everything else is
# the same for the same seed wherever and in whatever order the runs flew
MACHINE_KEYS = ("wall_s", "runs_per_s", "workers", "scheduler", "resumed_runs")


def fly_many(tasks: list, factory, **kwargs):
    """The one parallel runner: sim_harness.cluster.fly_many (Dask distributed)."""
    from sim_harness.cluster import fly_many as fly

    return fly(tasks, factory, **kwargs)


def _percentiles(values) -> dict:
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(v, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(v.max())}


def _badness(r: dict) -> tuple:
    # failed runs first, then the hardest touchdowns
    vz = r["touchdown_vz_mps"] if r["touchdown_vz_mps"] is not None else math.inf
    return (r["outcome"] == "landed" and not r["target_error"], r["passed"], -vz)


def run_montecarlo(scenario: Scenario, n: int, seed: int | None = None, target_name: str = "cpython",
                   workers: int | None = None, *, target_factory=None, out_dir=None, progress: bool = True,
                   worst: int = 5, reference: bool = False, scheduler: str | None = None,
                   resume: bool = False) -> dict:
    """Fly `n` dispersed runs of `scenario` on a Dask cluster (sim_harness.cluster).

    seed: the campaign's base seed (default: the scenario's). workers: the local cluster's
    workers (default: all cores; ignored with `scheduler`). scheduler: the address of a Dask
    scheduler to fly on instead (e.g. tcp://10.0.0.5:8786). target_factory: a callable returning
    an open target, pickled to the workers (default: host_tools.link.connect.open_target(target_name)).
    out_dir: montecarlo.json, montecarlo.png and worst/<name>.toml go there, and each run's result
    into out_dir/runs/ as it comes back; resume: keep the results there of an earlier run of the
    same campaign and fly only the rest. reference: check every command of every run against the
    reference model (host_tools.reference.compare), in batches of runs on the workers; a run with a
    mismatch fails. Returns the statistics (the content of montecarlo.json).
    """
    from sim_harness.cluster import announce, open_cluster, results_dir, text_hash
    from sim_harness.library import default_factory

    base_seed = scenario.seed if seed is None else seed
    factory = target_factory or default_factory(target_name)
    workers = workers or os.cpu_count() or 1
    results = None
    if out_dir is not None:
        identity = {"command": "montecarlo", "scenario": text_hash(scenario_to_toml(scenario)),
                    "base_seed": base_seed, "target": target_name, "reference": reference}
        results = results_dir(out_dir, identity, resume) / "flights"
    make = functools.partial(disperse, scenario)
    tasks = []
    for i in range(n):
        s = run_seed(base_seed, i)
        tasks.append((make, s, target_name, f"run {i} (seed {s})", None))
    with open_cluster(workers, scheduler) as cluster:
        announce(cluster)
        flight = fly_many(tasks, factory, cluster=cluster, reference=reference, progress=progress,
                          desc=f"montecarlo {scenario.name}", results=results)
    stats = _statistics(scenario, base_seed, target_name, flight.records, flight.wall_s, flight.workers,
                        worst)
    stats["scheduler"] = flight.scheduler
    stats["resumed_runs"] = flight.resumed
    stats["runs_per_s"] = flight.flown / flight.wall_s if flight.wall_s > 0 and flight.flown else None
    stats["reference"] = flight.reference
    if out_dir is not None:
        _write(scenario, stats, flight.records, Path(out_dir))
    return stats


def _statistics(scenario, base_seed, target_name, records, wall, workers, worst) -> dict:
    n = len(records)
    landed = sum(1 for r in records if r["outcome"] == "landed")
    worst_runs = sorted(records, key=_badness)[:worst]
    return {
        "scenario": scenario.name, "target": target_name, "base_seed": base_seed, "runs": n,
        "workers": workers, "landed": landed, "landing_rate": landed / n if n else None,
        "passed": sum(1 for r in records if r["passed"]),
        "outcomes": {o: sum(1 for r in records if r["outcome"] == o)
                     for o in ("landed", "crashed", "propellant_exhausted", "timeout")},
        "target_errors": sum(1 for r in records if r["target_error"]),
        "false_alarms": sum(1 for r in records if r["false_alarm"]),
        "touchdown_vertical_mps": _percentiles(r["touchdown_vz_mps"] for r in records),
        "touchdown_horizontal_mps": _percentiles(r["touchdown_vx_mps"] for r in records),
        "propellant_left_kg": _percentiles(r["propellant_kg"] for r in records),
        "propellant_used_kg": _percentiles(r["propellant_used_kg"] for r in records),
        "propellant_ratio_to_ideal": _percentiles(r["propellant_ratio_to_ideal"] for r in records),
        "est_error_below_100m_m": _percentiles(r["est_error_below_100m_m"] for r in records),
        "wall_s": wall, "runs_per_s": n / wall if wall > 0 else None,
        "worst": [{"seed": r["seed"], "outcome": r["outcome"], "touchdown_vz_mps": r["touchdown_vz_mps"],
                   "passed": r["passed"], "failures": r["failures"],
                   "replay": f"worst/{worst_file(scenario, r['seed'])}"} for r in worst_runs],
        "dispersion": DISPERSION,
    }


def worst_file(scenario: Scenario, seed: int) -> str:
    """The file name of run `seed`'s dispersed scenario in worst/ (host_tools.base.outputs.safe_name)."""
    return outputs.safe_name(f"{scenario.name}-mc{seed}") + ".toml"


def _write(scenario, stats, records, out: Path) -> None:
    """montecarlo.json, worst/*.toml and montecarlo.png, each written atomically. The caller
    claims `out` first (host_tools.base.outputs.claim) when other runs may write there."""
    worst_dir = out / "worst"
    try:
        worst_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise outputs.OutputError(f"{worst_dir}: cannot create the output directory: "
                                  f"{e.strerror or e}") from None
    outputs.write_text(out / "montecarlo.json",
                       json.dumps(_json_safe({**stats, "runs_detail": records}), indent=2) + "\n")
    for w in stats["worst"]:
        d = disperse(scenario, w["seed"])
        outputs.write_text(worst_dir / worst_file(scenario, w["seed"]), scenario_to_toml(d))
    _histogram(stats, records, out / "montecarlo.png")


def _histogram(stats, records, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = (("touchdown_vz_mps", "touchdown vertical speed [m/s]"),
              ("touchdown_vx_mps", "touchdown horizontal speed [m/s]"),
              ("propellant_used_kg", "propellant used [kg]"))
    for ax, (key, label) in zip(axes, panels, strict=True):
        v = [r[key] for r in records if r[key] is not None and math.isfinite(r[key])]
        if v:
            ax.hist(v, bins=min(40, max(5, len(v) // 5)), color="#1e88e5", alpha=0.8)
            for q, ls in (("p50", "-"), ("p99", "--")):
                val = float(np.percentile(v, 50 if q == "p50" else 99))
                ax.axvline(val, color="black", ls=ls, lw=1, label=f"{q} {val:.2f}")
            ax.legend(fontsize=8)
        ax.set_xlabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("runs")
    fig.suptitle(f"{stats['scenario']}: {stats['runs']} runs, landing rate "
                 f"{(stats['landing_rate'] or 0) * 100:.1f} %, false alarms {stats['false_alarms']}")
    fig.tight_layout()
    try:
        with outputs.replacing(path, "wb") as f:
            fig.savefig(f, dpi=100, format="png")
    finally:
        plt.close(fig)


def format_stats(stats: dict) -> str:
    """A few lines for a terminal."""
    def pct(d):
        return ", ".join(f"{k} {v:.2f}" if v is not None else f"{k} -" for k, v in d.items())

    lines = [
        f"{stats['scenario']} on {stats['target']}: {stats['runs']} runs, {stats['landed']} landed "
        f"({(stats['landing_rate'] or 0) * 100:.1f} %), {stats['passed']} passed their expectations, "
        f"{stats['false_alarms']} with a false alarm, {stats['target_errors']} target errors",
        f"touchdown vertical [m/s]: {pct(stats['touchdown_vertical_mps'])}",
        f"touchdown horizontal [m/s]: {pct(stats['touchdown_horizontal_mps'])}",
        f"propellant left [kg]: {pct(stats['propellant_left_kg'])}",
        f"propellant / ideal: {pct(stats['propellant_ratio_to_ideal'])}",
        (f"{stats['runs_per_s']:.2f} runs/s" if stats["runs_per_s"] else "no run flown now")
        + f" on {stats['workers']} workers ({stats['wall_s']:.1f} s"
        + (f", {stats['resumed_runs']} runs resumed" if stats.get("resumed_runs") else "")
        + ("" if stats.get("scheduler", "local") == "local" else f", scheduler {stats['scheduler']}") + ")",
        "worst runs (replay with `sim <out>/<replay>`): "
        + ", ".join(f"{w['seed']} ({w['outcome']}, vz {w['touchdown_vz_mps'] or 0:.2f})"
                    for w in stats["worst"]),
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- the benchmark (lander bench --campaign)


def measure(runs: int = 200, scenario_path=None, target_name: str = "cpython") -> dict:
    """Campaign throughput on a local cluster of 1 and of 2 worker processes, and the scheduler's
    cost per run (`lander bench --campaign N`; numbers of the machine: printed, never asserted).

    - `workers_1`, `workers_2`: `runs` dispersed Monte Carlo runs of `scenario_path` (default:
      the library's nominal-flat) on `target_name` with the reference check, as `montecarlo`
      flies them: runs per second from the first submission to the last result (`runs_per_s`),
      the cluster's start (`start_s`) apart; `speedup` is the ratio of the two.
    - `overhead`: a quarter of the runs (at least 8) on a cluster of one worker process, a task
      per run (no reference check: the most tasks per run there can be): `per_run_ms` is the
      wall time per run outside the runs themselves (submitting, scheduling, sending the task and
      its result, writing nothing), `fraction` that over the time the worker spent flying
      (`busy_s`); `vs_direct_per_run_ms` compares with the same runs flown in this process with
      no cluster at all (`direct_s`, measured first: a busy machine moves it).
    """
    import time

    from sim_harness.cluster import fly_one, open_cluster
    from sim_harness.library import builtin_dir, default_factory
    from sim_harness.scenario import load_scenario

    path = Path(scenario_path) if scenario_path is not None else builtin_dir() / "nominal-flat.toml"
    scn = load_scenario(path)
    factory = default_factory(target_name)
    make = functools.partial(disperse, scn)

    def tasks(n: int, base: int) -> list:
        return [(make, run_seed(base, i), target_name, f"run {i}", None) for i in range(n)]

    out: dict = {"scenario": scn.name, "target": target_name, "runs": runs}
    small = tasks(max(8, runs // 4), 2)
    t0 = time.perf_counter()
    target = factory()
    try:
        for task in small:
            fly_one(task, target)
    finally:
        target.close()
    direct = time.perf_counter() - t0
    with open_cluster(1, processes=True) as cl:
        flight = fly_many(small, factory, cluster=cl, progress=False)
    n = len(small)
    out["overhead"] = {"runs": n, "direct_s": direct, "cluster_s": flight.wall_s, "busy_s": flight.busy_s,
                       "per_run_ms": 1e3 * (flight.wall_s - flight.busy_s) / n,
                       "fraction": (flight.wall_s - flight.busy_s) / flight.busy_s,
                       "vs_direct_per_run_ms": 1e3 * (flight.wall_s - direct) / n,
                       "start_s": cl.started_s}
    for w in (1, 2):
        with open_cluster(w, processes=True) as cl:
            flight = fly_many(tasks(runs, 1), factory, cluster=cl, reference=True, progress=False)
        out[f"workers_{w}"] = {"runs_per_s": runs / flight.wall_s, "wall_s": flight.wall_s,
                               "start_s": cl.started_s, "blocks": flight.blocks,
                               "busy_s_per_run": flight.busy_s / runs}
    out["speedup"] = out["workers_2"]["runs_per_s"] / out["workers_1"]["runs_per_s"]
    return out


def format_measure(m: dict) -> str:
    from sim_harness.cluster import BATCH

    o = m["overhead"]
    lines = [f"campaign throughput: {m['runs']} dispersed runs of {m['scenario']} on {m['target']}, every "
             f"command checked against the reference model (blocks of up to {BATCH} runs)"]
    for w in (1, 2):
        r = m[f"workers_{w}"]
        lines.append(f"  {w} local worker{'s' if w > 1 else ''}: {r['runs_per_s']:.2f} runs/s "
                     f"({r['wall_s']:.1f} s, blocks {r['blocks']}, cluster start {r['start_s']:.1f} s)")
    lines.append(f"  2 workers / 1 worker: {m['speedup']:.2f} x")
    lines.append(f"scheduler overhead: {o['runs']} runs without the check, a task each, on one worker "
                 f"process: {o['cluster_s']:.2f} s, of which the worker flew {o['busy_s']:.2f} s: "
                 f"{o['per_run_ms']:.1f} ms per run ({100 * o['fraction']:.2f} %); the same runs in this "
                 f"process without a cluster: {o['direct_s']:.2f} s "
                 f"({o['vs_direct_per_run_ms']:+.1f} ms per run)")
    return "\n".join(lines)

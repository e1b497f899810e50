"""The closed-loop lunar descent harness (docs/harness.md).

Public functions, for the CLI (host_tools/commands/cli.py) and for tests:

    scenario.load_scenario(path) -> Scenario
        Read and validate a scenario file; raises scenario.ScenarioError (a ValueError) whose
        one-line message names the file and the key: exit 2 material.
    closedloop.run_scenario(scenario, target, *, progress=None, target_name="") -> RunResult
        Fly one descent with a target (init/step/close; host_tools.link.targets). Never raises for
        a target's failure: RunResult.target_error holds it and the run counts as failed.
        progress: optional callable progress(t_s, duration_s).
    report.write_run(result, out_dir, *, plot=True) -> dict
        Write out_dir/summary.json, log.csv, plot.png; return the summary. summary["passed"]
        is False for a crash, a failed [expect] or a target error (CLI: exit 1).
    report.summarize(result) -> dict;  report.verdict_line(summary) -> str
    library.check_library(directory=None, target_factory=None, progress=None, *,
                          target_name="cpython", out_dir=None, plots=False) -> list[dict]
        Run every *.toml of directory (default: library.builtin_dir()); one row per scenario
        with keys scenario, outcome, touchdown_vz_mps, touchdown_vx_mps,
        est_error_below_100m_m, propellant_kg, passed, failures, summary.
        progress: optional callable progress(done, total, scenario_name).
    library.format_table(rows) -> str
    montecarlo.run_montecarlo(scenario, n, seed=None, target_name="cpython", workers=None, *,
                              target_factory=None, out_dir=None, progress=True, worst=5,
                              reference=False, scheduler=None, resume=False) -> dict
        n dispersed runs on a Dask cluster (a local one of `workers`, or the scheduler at
        `scheduler`) with a tqdm bar; writes out_dir/montecarlo.json, montecarlo.png,
        worst/<name>.toml (replay with `sim`) and each run's record in out_dir/runs/.
    montecarlo.format_stats(stats) -> str
    cluster.fly_many(tasks, factory, *, workers=1, scheduler=None, cluster=None, reference=False,
                     progress=True, desc="runs", results=None) -> cluster.Flight
        The one parallel runner (Monte Carlo and campaigns), on Dask distributed: each task
        (make, arg, target_name, label, extra) flies make(arg); Flight.records in task order,
        Flight.reference the reference check; records kept in `results` as they come back.
        (montecarlo.fly_many is the same function.)
    cluster.open_cluster(workers=1, scheduler=None) -> context manager of a cluster.Cluster
    campaign.run_campaign(n, seed=1, target_name="vm", workers=None, *, target_factory=None,
                          out_dir=None, progress=True, reference=True, baseline=True,
                          scheduler=None, resume=False, velocimeter=False) -> dict
        n random fault cases drawn from the seed, screened by the truth pilot; statistics by
        class, terrain and kind; writes out_dir/campaign.json, campaign.png and
        failing/<case>.toml (replay with `sim`). velocimeter: every case fitted with one, and
        the velocimeter class of faults.
    campaign.format_campaign(stats) -> str;  campaign.build_case((seed, index, t_pilot_s[, True])) -> Scenario

target_factory is a callable with no arguments returning an open target; by default the
harness calls host_tools.link.connect.open_target(target_name). For Monte Carlo and campaigns it
travels to the workers (cloudpickle): a module-level function or class of an installed module,
e.g. sim_harness.pilot.TruthPilot.
"""

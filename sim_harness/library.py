"""The scenario library: run every scenario of a directory and tabulate the outcomes.

`check_library(directory, target_factory)` loads every *.toml of the directory first (a bad
file raises ScenarioError before anything runs), then flies each one with one target,
reopening the target after a run in which it failed. It returns one row (a dict) per
scenario; `format_table(rows)` renders them for a terminal.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from host_tools.base.outputs import safe_name
from sim_harness.closedloop import RunInterrupted, run_scenario
from sim_harness.report import summarize, write_run, write_summary
from sim_harness.scenario import ScenarioError, load_scenario


def builtin_dir() -> Path:
    """The built-in library: sim_harness/scenarios/."""
    return Path(__file__).resolve().parent / "scenarios"


def scenario_files(directory=None) -> list[Path]:
    """The *.toml files of `directory` (default: the built-in library), sorted by name."""
    d = Path(directory) if directory is not None else builtin_dir()
    return sorted(d.glob("*.toml"))


def run_dirs(out_dir, files, scenarios) -> list[Path]:
    """out_dir/<scenario name made safe>/ of each scenario; two scenarios that would share one
    directory are a ScenarioError naming both files (one would overwrite the other)."""
    dirs: list[Path] = []
    seen: dict[str, Path] = {}
    for path, scn in zip(files, scenarios, strict=True):
        name = safe_name(scn.name)
        if name in seen:
            raise ScenarioError(f"{path}: name {scn.name!r} gives the same output directory "
                                f"{name!r} as {seen[name]}'s")
        seen[name] = Path(path)
        dirs.append(Path(out_dir) / name)
    return dirs


def default_factory(target_name: str):
    """A factory that opens `target_name` through host_tools.link.connect.open_target."""
    def factory():
        from host_tools.link.connect import open_target

        return open_target(target_name)

    return factory


PENDING = {"steps_compared": 0, "max_throttle_diff": 0.0, "mismatches": 0, "pending": True}


def check_library(directory=None, target_factory=None, progress=None, *, target_name: str = "cpython",
                  out_dir=None, plots: bool = False, reference: bool = False, workers: int = 1) -> list[dict]:
    """Run every scenario of `directory`; one row per scenario, in the files' order.

    target_factory: a callable returning an open target (default: open `target_name`).
    progress: optional callable progress(done, total, scenario_name), called before each run.
    out_dir: if given, each run's summary.json and log.csv (and plot.png if `plots`) go into
    out_dir/<scenario name>/ (the name made safe, host_tools.base.outputs.safe_name); two scenarios
    that would share a directory are a ScenarioError before anything flies.
    workers: how many targets fly at once, each in a thread of its own taking the next scenario
    (worth it where the target computes in its own process: the VM, the emulated Pico). The
    first target is opened before the others (the emulated Pico's first start flashes it once).
    Ctrl-C: the runs it stopped are written (partial) and RunInterrupted is raised for the first
    of them, with the rows so far (file order) as its `rows`.
    reference: check every command against the reference model (host_tools.reference.compare), all the
    library's runs in one vectorised comparison at the end; a mismatch fails its scenario.
    Row keys: scenario, file, outcome, touchdown_vz_mps, touchdown_vx_mps, est_error_below_100m_m,
    propellant_kg, passed, failures, summary.
    """
    files = scenario_files(directory)
    scenarios = [load_scenario(f) for f in files]
    dirs = run_dirs(out_dir, files, scenarios) if out_dir is not None else [None] * len(files)
    factory = target_factory or default_factory(target_name)
    jobs = list(zip(files, scenarios, dirs, strict=True))
    rows: list[dict | None] = [None] * len(jobs)
    runs: list = [None] * len(jobs)  # the checked run of each row, for the reference comparison
    stopped: list[RunInterrupted] = []
    lock = threading.Lock()
    stop = threading.Event()
    state = {"next": 0, "done": 0, "float_bits": 64}

    def open_target():
        target = factory()
        if reference:
            from host_tools.reference.compare import CheckedTarget

            target = CheckedTarget(target, batch=True)
        with lock:  # a float32 board is compared with the float32 model
            state["float_bits"] = int(getattr(target, "float_bits", 64) or 64)
        return target

    def stop_here(t_s: float, duration_s: float) -> None:  # once a simulated second
        if stop.is_set():
            raise KeyboardInterrupt

    def lane(target) -> None:
        """Fly the next scenario not yet taken until none is left (or a stop)."""
        try:
            while not stop.is_set():
                with lock:
                    i = state["next"]
                    if i >= len(jobs):
                        return
                    state["next"] += 1
                    if progress is not None:
                        progress(state["done"], len(jobs), jobs[i][1].name)
                if target is None:
                    target = open_target()
                path, scn, run_dir = jobs[i]
                try:
                    result = run_scenario(scn, target, progress=stop_here, target_name=target_name)
                except RunInterrupted as e:
                    stop.set()
                    if run_dir is not None:
                        write_run(e.result, run_dir, plot=False)
                    with lock:
                        rows[i] = _row(path, scn, summarize(e.result))
                        stopped.append(e)
                    return
                run = target.runs.pop() if reference and target.runs else None
                if run is not None:
                    # written now, compared with the model with all the others at the end: until
                    # then (or for good, if the check is interrupted) the block says it is to come
                    result.reference = dict(PENDING)
                summary = write_run(result, run_dir, plot=plots) if run_dir is not None else summarize(result)
                if result.target_error:
                    _close(target)
                    target = None
                row = _row(path, scn, summary)
                row["dir"] = run_dir
                if run is not None:
                    run.label = scn.name
                with lock:
                    rows[i], runs[i] = row, run
                    state["done"] += 1
        finally:
            if target is not None:
                _close(target)

    threads: list[threading.Thread] = []
    errors: list[BaseException] = []

    def in_thread(target) -> None:
        try:
            lane(target)
        except BaseException as e:  # noqa: BLE001 - raised again in the caller's thread
            stop.set()
            errors.append(e)

    try:
        if workers <= 1 or len(jobs) <= 1:
            lane(None)
        else:
            first = open_target()
            for w in range(min(workers, len(jobs))):
                th = threading.Thread(target=in_thread, args=(first if w == 0 else None,),
                                      name=f"check-{w}", daemon=True)
                th.start()
                threads.append(th)
            while any(th.is_alive() for th in threads):
                time.sleep(0.2)  # not join(timeout): a Ctrl-C in a join can leave is_alive() False
    except KeyboardInterrupt:
        stop.set()
        for th in threads:
            th.join()
        if not stopped:
            raise
    if errors:
        raise errors[0]
    if stopped:
        e = stopped[0]
        e.rows = [r for r in rows if r is not None]  # type: ignore[attr-defined]
        raise e
    checked = [(run, row) for run, row in zip(runs, rows, strict=True) if run is not None]
    if checked:
        if progress is not None:
            progress(len(jobs), len(jobs), "reference model")
        _check_reference(checked, out_dir, state["float_bits"])
    if progress is not None:
        progress(len(jobs), len(jobs), "")
    return rows  # type: ignore[return-value]


def _row(path: Path, scn, summary: dict) -> dict:
    td = summary["touchdown"]
    return {
        "scenario": scn.name, "file": path.name, "outcome": summary["outcome"],
        "touchdown_vz_mps": td["vertical_speed_mps"], "touchdown_vx_mps": td["horizontal_speed_mps"],
        "est_error_below_100m_m": summary["estimator"]["altitude_error_max_below_100m_m"],
        "propellant_kg": td["propellant_kg"], "passed": summary["passed"],
        "failures": summary["expect"]["failures"], "summary": summary, "dir": None,
    }


def _check_reference(checked: list, out_dir, float_bits: int = 64) -> None:
    """Compare all runs with the reference model at once, with the tolerance of the target's
    float size; fold each verdict into its row."""
    from host_tools.reference.compare import check_runs, tolerance_for

    blocks = check_runs([run for run, _ in checked], tolerance_for(float_bits)).blocks()
    for (_, row), block in zip(checked, blocks, strict=True):
        summary = row["summary"]
        summary["reference"] = block
        if block["mismatches"]:
            failure = f"reference model mismatch: {block['first_mismatch']}"
            summary["expect"]["failures"].append(failure)
            summary["expect"]["passed"] = summary["passed"] = row["passed"] = False
        if out_dir is not None and row["dir"] is not None:
            write_summary(summary, Path(row["dir"]) / "summary.json")


def _close(target) -> None:
    try:
        target.close()
    except Exception:  # noqa: BLE001 - closing a dead target must not hide the results
        pass


def _num(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def format_table(rows: list[dict]) -> str:
    """A plain-text table: one line per scenario, then the failures of the failed ones."""
    head = ("scenario", "outcome", "vz m/s", "vx m/s", "err<100m m", "prop kg", "result")
    body = [(r["scenario"], r["outcome"], _num(r["touchdown_vz_mps"], ".2f"),
             _num(r["touchdown_vx_mps"], ".2f"),
             _num(r["est_error_below_100m_m"], ".2f"), _num(r["propellant_kg"], ".1f"),
             "pass" if r["passed"] else "FAIL") for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip()
             for line in (head, *body)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    failed = [r for r in rows if not r["passed"]]
    for r in failed:
        lines.append(f"{r['scenario']}: " + "; ".join(r["failures"]))
    lines.append(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    return "\n".join(lines)

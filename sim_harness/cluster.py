"""The one parallel runner: every descent a task on a Dask distributed cluster (`fly_many`).

Monte Carlo (sim_harness.montecarlo) and the fault campaign (sim_harness.campaign) fly through
`fly_many`. `open_cluster()` without a scheduler address starts a `distributed.LocalCluster` on
this machine (`workers` worker processes of one thread each, on 127.0.0.1; a single worker is a
thread of this process, with no process to start); with an address it connects a
`distributed.Client` to that scheduler and flies on whatever workers joined it. Past that point
the code is the same:

- The tasks are cut into blocks of consecutive runs (`block_size`): one run per block without the
  reference check; with it up to BATCH runs, because the vectorised reference model costs
  about as much for one run as for a hundred (host_tools.reference.compare). A block is one Dask task: its
  worker flies each run on a target that it opened once (one per worker thread), compares the
  block's commands with the model in one batch, and sends back one small record per run, never
  the frames.
- Results stream back as blocks finish (`distributed.as_completed`). Each run's record is
  written at once, atomically, into the results directory (`<label>.json`, host_tools.base.outputs),
  and the progress bar counts the runs as the workers fly them (an event per run).
- A record already in the results directory for the same task (label and argument) is taken as
  it is and not flown again: `--resume` (`results_dir` checks that the directory holds runs of
  the same campaign).
- A worker that dies takes its block with it; the scheduler gives the block to another worker,
  which flies it again from the start: a run depends on its task alone, so its record is the same.
  A block whose workers died `distributed.scheduler.allowed-failures` times is split into single
  runs, and a single run that keeps killing its workers is recorded as a target error. A target
  that fails inside a run is a result (`target_error` in its record), never retried.
- Records come back in task order, normalised as JSON holds them, and every statistic is
  computed from them alone: the statistics do not depend on where, on how many workers or in
  what order the runs flew, nor on whether some of them came from an earlier, stopped campaign.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import shutil
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from host_tools.base import outputs
from host_tools.base.errors import UsageError
from sim_harness.closedloop import run_scenario
from sim_harness.report import ALARM, _json_safe, summarize

BATCH = 100  # runs per reference comparison at most: the model's cost is per step, not per run
CONNECT_TIMEOUT_S = 20  # [s] to reach a scheduler
IDENTITY_FILE = "campaign-identity.json"


# ---------------------------------------------------------------- the cluster


@dataclass
class Cluster:
    """A Dask client and, without a scheduler address, the local cluster it talks to."""

    client: object
    local: object | None  # the distributed.LocalCluster, or None for a remote scheduler
    scheduler: str  # "local" or the address
    dashboard: str | None  # http://host:port/status, when the scheduler serves a dashboard
    started_s: float = 0.0  # [s] to start the local cluster, or to connect

    @property
    def workers(self) -> int:
        """Worker threads the cluster has now (each flies one run at a time)."""
        info = self.client.scheduler_info()  # type: ignore[attr-defined]  (every worker: n_workers=-1)
        return sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values())


@contextlib.contextmanager
def open_cluster(workers: int = 1, scheduler: str | None = None, *, processes: bool | None = None):
    """A Cluster for the duration of the block (see the module docstring).

    workers: the local cluster's worker processes (ignored with a scheduler). processes: run the
    local workers as processes (default: when workers > 1; one worker is a thread of this
    process). A scheduler that does not answer within CONNECT_TIMEOUT_S is a UsageError.
    """
    from distributed import Client, LocalCluster

    quiet = [logging.getLogger(name) for name in ("distributed", "tornado")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:  # the cluster's own chatter (a worker lost, a task rescheduled) stays off stderr;
        lg.setLevel(logging.CRITICAL)  # what matters comes back as the task's exception
    t0 = time.perf_counter()
    local = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as e:
                raise UsageError(f"{scheduler}: no Dask scheduler answers ({type(e).__name__}: "
                                 f"{str(e).strip()[:200]})") from None
            where = scheduler
        else:
            processes = workers > 1 if processes is None else processes
            kw = {"host": "127.0.0.1"} if processes else {}
            # the scheduler's HTTP server (the dashboard, with bokeh) on a free port of the loopback
            with _workers_ignore_ctrl_c(processes):
                local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                     dashboard_address="127.0.0.1:0", worker_dashboard_address=None,
                                     silence_logs=logging.CRITICAL, **kw)
            client = Client(local)
            where = "local"
        cl = Cluster(client, local, where, _dashboard(client, scheduler), time.perf_counter() - t0)
        try:
            yield cl
        finally:
            with contextlib.suppress(Exception):
                client.close()
            if local is not None:
                with contextlib.suppress(Exception):
                    local.close()
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def _workers_ignore_ctrl_c(processes: bool):
    """Worker processes started in the block inherit SIGINT ignored: a Ctrl-C at the terminal
    reaches the whole process group, and it is this process that stops the flight and closes
    the workers (without this each would print its own KeyboardInterrupt)."""
    if not processes or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def announce(cluster: Cluster) -> None:
    """One line on stderr with the dashboard's address, when the cluster has a dashboard (and one
    when a scheduler has no worker yet: the runs wait for the first)."""
    if cluster.dashboard:
        print(f"dashboard: {cluster.dashboard}", file=sys.stderr, flush=True)
    if cluster.local is None and cluster.workers == 0:
        print(f"{cluster.scheduler}: no worker has joined yet; the runs wait for `dask worker "
              f"{cluster.scheduler}`", file=sys.stderr, flush=True)


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def _dashboard(client, scheduler: str | None) -> str | None:
    """The dashboard's address, when the scheduler has one (it needs bokeh where it runs)."""
    try:
        port = client.scheduler_info().get("services", {}).get("dashboard")
    except Exception:  # noqa: BLE001 - no dashboard to tell of
        return None
    if not port:
        return None
    if not scheduler:
        return f"http://127.0.0.1:{port}/status" if _has_bokeh() else None
    from urllib.parse import urlsplit

    host = urlsplit(scheduler if "://" in scheduler else "tcp://" + scheduler).hostname or "127.0.0.1"
    return f"http://{host}:{port}/status"


def block_size(runs: int, workers: int, reference: bool) -> int:
    """Runs per task: 1 without the reference check; with it up to BATCH, and no more than
    spreads the runs over every worker (a comparison costs several seconds whatever its size)."""
    if not reference:
        return 1
    return max(1, min(BATCH, math.ceil(runs / max(1, workers))))


# ---------------------------------------------------------------- the worker's side

_TARGETS: dict[int, tuple[str, object]] = {}  # worker thread -> (flight key, its open target)
_LOCK = threading.Lock()
STOP = threading.Event()  # set by the client on Ctrl-C: a worker thread of this process stops


class _Stopped(Exception):
    pass


def _target(key: str, factory, reference: bool):
    """This thread's target for flight `key`, opened once (a target of another flight is closed)."""
    ident = threading.get_ident()
    with _LOCK:
        held = _TARGETS.get(ident)
    if held is not None and held[0] == key:
        return held[1]
    if held is not None:
        _drop(ident)
    target = factory()
    if reference:
        from host_tools.reference.compare import CheckedTarget

        target = CheckedTarget(target, batch=True)
    with _LOCK:
        _TARGETS[ident] = (key, target)
    return target


def _drop(ident: int) -> None:
    with _LOCK:
        held = _TARGETS.pop(ident, None)
    if held is not None:
        with contextlib.suppress(Exception):
            held[1].close()  # type: ignore[attr-defined]


def close_targets(key: str | None = None) -> int:
    """Close the targets this process holds for flight `key` (every flight's with None); run on
    each worker (Client.run) when a flight ends. Returns how many were closed."""
    with _LOCK:
        idents = [i for i, (k, _) in _TARGETS.items() if key is None or k == key]
    for i in idents:
        _drop(i)
    return len(idents)


def fly_one(task, target, checked: bool = False) -> tuple[dict, object]:
    """Fly one task on `target`; its record and, when `target` is a CheckedTarget (`checked`), the
    run's frames and commands for the reference check.

    task: (make, arg, target_name, label, extra): the run flies `make(arg)` (a Scenario); both
    travel to the worker (module-level functions are pickled by name: the project must be
    installed there). `extra(result, summary)`, if not None, returns more keys for the record.
    """
    make, arg, target_name, label, extra = task
    scn = make(arg)
    result = run_scenario(scn, target, target_name=target_name)
    checked_run = None
    if checked and target.runs:
        checked_run = target.runs.pop()
        checked_run.label = label
    summ = summarize(result)
    td = summ["touchdown"]
    record = {
        "seed": scn.seed, "outcome": summ["outcome"], "passed": summ["passed"],
        "failures": summ["expect"]["failures"], "target_error": summ["target_error"],
        "touchdown_vz_mps": td["vertical_speed_mps"], "touchdown_vx_mps": td["horizontal_speed_mps"],
        "propellant_kg": td["propellant_kg"], "propellant_used_kg": summ["propellant_used_kg"],
        "propellant_ratio_to_ideal": summ["propellant_ratio_to_ideal"],
        "est_error_below_100m_m": summ["estimator"]["altitude_error_max_below_100m_m"],
        "false_alarm": any(c["state"] in ALARM for c in summ["faults_declared"]),
        "steps": summ["steps"],
    }
    if extra is not None:
        record.update(extra(result, summ))
    return record, checked_run


def _fly_block(spec, items) -> list[list]:
    """A Dask task: fly items = [(index, task)] in turn, then check their commands against the
    reference model in one batch. Returns [[index, record, reference block or None, busy_s]]."""
    key, factory, reference = spec
    out: list[list] = []
    checked: list[tuple[int, object]] = []
    bits = 64
    for index, task in items:
        if STOP.is_set():
            raise _Stopped("stopped")
        t0 = time.perf_counter()
        target = _target(key, factory, reference)
        bits = int(getattr(target, "float_bits", 64) or 64)
        record, run = fly_one(task, target, reference)
        if record["target_error"]:
            _drop(threading.get_ident())  # the next run opens a fresh target
        out.append([index, record, None, time.perf_counter() - t0])
        if reference and run is not None:
            checked.append((len(out) - 1, run))
        _tell_progress(key, index)
    if checked:
        from host_tools.reference.compare import check_runs, tolerance_for

        t0 = time.perf_counter()
        blocks = check_runs([r for _, r in checked], tolerance_for(bits)).blocks()
        share = (time.perf_counter() - t0) / len(checked)
        for (pos, _), block in zip(checked, blocks, strict=True):
            entry = out[pos]
            entry[2] = block
            entry[3] += share
            if block["mismatches"]:
                rec = entry[1]
                rec["passed"] = False
                rec["failures"] = [*rec["failures"], f"reference model mismatch: {block['first_mismatch']}"]
    return out


def _topic(key: str) -> str:
    return f"lander-flight-{key}"


def _tell_progress(key: str, index: int) -> None:
    try:
        from distributed import get_worker

        get_worker().log_event(_topic(key), {"index": index})
    except Exception:  # noqa: BLE001 - progress is a courtesy: no worker, no event
        pass


class _Dead:
    """A target that has died before answering: flies a run into a target error."""

    float_bits = 64

    def __init__(self, why: str) -> None:
        self.why = why

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise RuntimeError(self.why)

        return fail


# ---------------------------------------------------------------- the client's side


@dataclass
class Flight:
    """What `fly_many` brings back."""

    records: list[dict]  # one per task, in task order
    reference: dict | None  # the reference check over all runs (None without it)
    wall_s: float  # [s] from the first submission to the last result (the cluster's start excluded)
    busy_s: float  # [s] the workers' time flying and checking these runs (resumed runs excluded)
    workers: int  # worker threads of the cluster
    resumed: int = 0  # runs taken from the results directory, not flown again
    scheduler: str = "local"
    dashboard: str | None = None
    flown: int = 0  # runs flown now
    blocks: list[int] = field(default_factory=list)  # the size of each task submitted


def fly_many(tasks: list, factory, *, workers: int = 1, scheduler: str | None = None, cluster=None,
             reference: bool = False, progress: bool = True, desc: str = "runs", results=None,
             processes: bool | None = None) -> Flight:
    """Fly every task on a Dask cluster (module docstring); returns a Flight.

    tasks: (make, arg, target_name, label, extra) each (`fly_one`); labels unique. factory: a
    callable (pickled by cloudpickle) returning an open target, called once per worker thread.
    cluster: an open Cluster to fly on; without it one is opened for the flight from `workers`
    and `scheduler` (open_cluster). reference: check every command against the reference model
    (a run with a mismatch fails). progress: a tqdm bar on stderr counting the runs flown.
    results: a directory; each run's record is written there as it arrives, and records already
    there for the same task are used instead of flying it again.
    """
    if cluster is None:
        with open_cluster(workers, scheduler, processes=processes) as cl:
            return fly_many(tasks, factory, cluster=cl, reference=reference, progress=progress, desc=desc,
                            results=results)
    store = _Store(Path(results)) if results is not None else None
    entries: list[dict | None] = [store.load(t) if store is not None else None for t in tasks]
    resumed = sum(1 for e in entries if e is not None)
    todo = [i for i, e in enumerate(entries) if e is None]
    nworkers = cluster.workers
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), initial=resumed, desc=desc, unit="run", file=sys.stderr)
    lock = threading.Lock()
    counted: set[int] = set()

    def count(index: int) -> None:
        with lock:
            if index in counted:
                return
            counted.add(index)
            if bar is not None:
                bar.update(1)

    key = uuid.uuid4().hex[:12]
    client = cluster.client
    STOP.clear()
    t0 = time.perf_counter()
    blocks: list[int] = []
    if todo:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        client.subscribe_topic(_topic(key), lambda event: count(int(event[1]["index"])))
        spec = (key, factory, reference)
        pending: dict = {}

        def submit(indices: list[int]):
            fut = client.submit(_fly_block, spec, [(i, tasks[i]) for i in indices], pure=False,
                                key=f"lander-{key}-{indices[0]}-{len(indices)}")
            pending[fut] = indices
            blocks.append(len(indices))
            return fut

        size = block_size(len(todo), nworkers, reference)
        done = as_completed([submit(todo[j:j + size]) for j in range(0, len(todo), size)])
        try:
            for fut in done:
                indices = pending.pop(fut)
                try:
                    out = fut.result()
                except KilledWorker as e:
                    if len(indices) > 1:  # fly them one by one: which one kills its workers?
                        for i in indices:
                            done.add(submit([i]))
                        continue
                    i = indices[0]
                    record, _ = fly_one(tasks[i], _Dead(f"the worker flying this run died each of the "
                                                        f"times it was tried ({e})"))
                    out = [[i, record, None, 0.0]]
                for i, record, block, busy in out:
                    if entries[i] is not None:
                        continue
                    entry = _plain({"label": tasks[i][3], "arg": tasks[i][1], "record": record,
                                    "reference": block, "busy_s": busy})
                    if store is not None:
                        store.put(entry)
                    entries[i] = entry
                    count(i)
        except BaseException:
            STOP.set()  # a worker thread of this process stops between runs
            for fut in list(pending):
                fut.cancel()
            raise
        finally:
            with contextlib.suppress(Exception):
                client.unsubscribe_topic(_topic(key))
            with contextlib.suppress(Exception):
                client.run(close_targets, key)
    wall = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    final = [e for e in entries if e is not None]
    assert len(final) == len(tasks)
    ref = _reference_total([e["reference"] for e in final]) if reference else None
    return Flight(records=[e["record"] for e in final], reference=ref, wall_s=wall,
                  busy_s=sum(entries[i]["busy_s"] for i in todo),  # type: ignore[index]
                  workers=nworkers, resumed=resumed, scheduler=cluster.scheduler, dashboard=cluster.dashboard,
                  flown=len(todo), blocks=blocks)


def _plain(obj):
    """obj as JSON holds it (tuples as lists, non-finite floats as null): a record flown now and
    one read back from the results directory are the same."""
    return json.loads(json.dumps(_json_safe(obj)))


def _reference_total(blocks: list[dict | None]) -> dict:
    """The reference check of a whole flight from the runs' blocks, in task order."""
    blocks = [b for b in blocks if b is not None]
    return {"steps_compared": sum(b["steps_compared"] for b in blocks),
            "max_throttle_diff": max((b["max_throttle_diff"] for b in blocks), default=0.0),
            "mismatches": sum(b["mismatches"] for b in blocks),
            "flips": sum(len(b["flips"]) for b in blocks),
            "first_mismatches": [b["first_mismatch"] for b in blocks if b["first_mismatch"]][:5]}


class _Store:
    """A directory of run results, one file per task, each written atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise outputs.OutputError(f"{directory}: cannot create the results directory: "
                                      f"{e.strerror or e}") from None

    def path(self, label: str) -> Path:
        return self.directory / (outputs.safe_name(label) + ".json")

    def load(self, task) -> dict | None:
        """The stored result of `task`, if there is one for the same label and argument."""
        label, arg = task[3], task[1]
        try:
            entry = json.loads(self.path(label).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # none yet, or unreadable: flown again
        if not isinstance(entry, dict) or entry.get("label") != label or entry.get("arg") != _plain(arg) \
                or not isinstance(entry.get("record"), dict):
            return None
        return entry

    def put(self, entry: dict) -> None:
        outputs.write_text(self.path(entry["label"]), json.dumps(entry) + "\n")


def results_dir(out: Path | str, identity: dict, resume: bool) -> Path:
    """`out/runs`, where a campaign identified by `identity` keeps each run's result.

    Without `resume` whatever an earlier campaign left there is removed (a new campaign replaces
    the old, as its statistics do). With it the runs there are kept, if they are of the same
    campaign (the same identity); runs of another one are a UsageError, before anything flies.
    """
    runs = Path(out) / "runs"
    marker = runs / IDENTITY_FILE
    identity = _plain(identity)
    if resume:
        try:
            old = json.loads(marker.read_text(encoding="utf-8"))
        except FileNotFoundError:
            old = None  # nothing to resume: every run is flown
        except (OSError, ValueError) as e:
            raise outputs.OutputError(f"{marker}: cannot read what campaign the runs there belong to "
                                      f"({e}); run without --resume to replace them") from None
        if old is not None and old != identity:
            diff = [k for k in sorted(set(old) | set(identity)) if old.get(k) != identity.get(k)]
            k = diff[0]
            raise UsageError(f"{out}: the runs there are of another campaign ({k} {old.get(k)!r}, not "
                             f"{identity.get(k)!r}); run without --resume to replace them")
    elif runs.is_dir() and not runs.is_symlink():
        shutil.rmtree(runs)
    elif runs.exists() or runs.is_symlink():
        raise outputs.OutputError(f"{runs}: exists and is not a directory")
    _Store(runs)
    outputs.write_text(marker, json.dumps(identity, indent=2) + "\n")
    return runs


def text_hash(text: str) -> str:
    """A short hash of a text (a scenario's TOML), for a campaign's identity."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

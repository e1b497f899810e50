"""Monte Carlo and campaigns on Dask distributed (sim_harness.cluster): a real `dask scheduler` and
`dask worker`s on 127.0.0.1, a worker killed mid-campaign, Ctrl-C and --resume, and the same
statistics wherever the runs flew."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fw import hears_ctrl_c

from sim_harness import campaign, cluster, montecarlo
from sim_harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
DASK = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
SHORT = """name = "short-descent"
seed = 11
duration_s = 60.0

[initial]
altitude_m = 250.0
downrange_m = 0.0
vertical_speed_mps = -12.0
horizontal_speed_mps = 2.0
"""
N = 8
SEED = 21
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

pytestmark = pytest.mark.skipif(DASK is None, reason="needs the dask command (pip install distributed)")


def lander(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "host_tools", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=ENV)


def numbers(stats: dict, machine=montecarlo.MACHINE_KEYS) -> dict:
    """The statistics without what describes the machine (time, workers, where)."""
    return {k: v for k, v in stats.items() if k not in machine}


def _start(args: list[str], log: Path) -> subprocess.Popen:
    f = log.open("wb")
    return subprocess.Popen([DASK, *args], stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=ENV,
                            start_new_session=True)


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=15)


def _workers(address: str) -> int:
    from distributed import Client

    with Client(address, timeout=20) as c:
        return len(c.scheduler_info()["workers"])


def _wait_workers(address: str, n: int, timeout: float = 90.0) -> None:
    from distributed import Client

    with Client(address, timeout=20) as c:
        c.wait_for_workers(n, timeout=timeout)


@pytest.fixture(scope="session")
def scheduler(tmp_path_factory):
    """A `dask scheduler` and two `dask worker`s on the loopback address, stopped at the end."""
    d = tmp_path_factory.mktemp("dask")
    sf = d / "scheduler.json"
    procs = [_start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                     str(sf), "--idle-timeout", "3600"], d / "scheduler.log")]
    try:
        # the scheduler creates its file, then writes it: wait until it holds its address
        deadline = time.monotonic() + 60
        address = None
        while address is None and time.monotonic() < deadline:
            assert procs[0].poll() is None, (d / "scheduler.log").read_text()
            try:
                address = json.loads(sf.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        assert address is not None, (d / "scheduler.log").read_text()
        assert address.startswith("tcp://127.0.0.1:")
        for i in range(2):
            procs.append(worker(address, d / f"worker{i}.log"))
        _wait_workers(address, 2)
        yield address, d
    finally:
        for p in reversed(procs):
            _stop(p)


def worker(address: str, log: Path) -> subprocess.Popen:
    return _start(["worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                   "--no-nanny", "--death-timeout", "120"], log)


@pytest.fixture(scope="session")
def short(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("scn") / "short.toml"
    p.write_text(SHORT)
    return p


@pytest.fixture(scope="session")
def undisturbed(short, tmp_path_factory):
    """The reference campaign: one worker, a thread of this process, no scheduler to start."""
    out = tmp_path_factory.mktemp("undisturbed")
    stats = montecarlo.run_montecarlo(load_scenario(short), N, SEED, "cpython", 1, out_dir=out,
                                      progress=False, reference=True)
    return stats, json.loads((out / "montecarlo.json").read_text())


def calm(scenario: Path, n: int, out: Path, reference: bool = False) -> dict:
    """montecarlo.json of an undisturbed campaign in this process."""
    montecarlo.run_montecarlo(load_scenario(scenario), n, SEED, "cpython", 1, out_dir=out, progress=False,
                              reference=reference)
    return json.loads((out / "montecarlo.json").read_text())


def test_local_cluster_and_remote_scheduler_give_the_same_statistics(short, undisturbed, scheduler, tmp_path):
    stats, written = undisturbed
    assert stats["runs"] == N and stats["reference"]["steps_compared"] > 0 and stats["scheduler"] == "local"
    # two local worker processes
    r = lander("montecarlo", short, "-n", N, "--seed", SEED, "--workers", "2", "--out", tmp_path / "local")
    assert r.returncode in (0, 1), r.stderr
    assert "Traceback" not in r.stderr and "%|" not in r.stderr, r.stderr
    local = json.loads((tmp_path / "local" / "montecarlo.json").read_text())
    assert local["workers"] == 2
    # the remote scheduler's workers
    address, _ = scheduler
    r = lander("montecarlo", short, "-n", N, "--seed", SEED, "--scheduler", address,
               "--out", tmp_path / "remote")
    assert r.returncode in (0, 1), r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    remote = json.loads((tmp_path / "remote" / "montecarlo.json").read_text())
    assert remote["scheduler"] == address and remote["workers"] == 2
    assert numbers(local) == numbers(written)
    assert numbers(remote) == numbers(written)
    # each run's result was written into the output directory
    files = sorted((tmp_path / "remote" / "runs" / "flights").glob("*.json"))
    assert len(files) == N
    entry = json.loads(files[0].read_text())
    assert set(entry) >= {"label", "arg", "record", "reference"}


def test_a_worker_killed_mid_campaign_loses_nothing(scheduler, tmp_path):
    address, d = scheduler
    n = 24
    nominal = ROOT / "sim_harness" / "scenarios" / "nominal-flat.toml"  # about 0.4 s a run
    victim = worker(address, d / "victim.log")
    try:
        _wait_workers(address, 3)
        out = tmp_path / "killed"
        args = ["montecarlo", str(nominal), "-n", str(n), "--seed", str(SEED), "--no-reference",
                "--scheduler", address, "--out", str(out)]
        p = subprocess.Popen([sys.executable, "-m", "host_tools", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
        flights = out / "runs" / "flights"
        deadline = time.monotonic() + 120
        while len(list(flights.glob("*.json"))) < 4 and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.02)
        done_at_kill = len(list(flights.glob("*.json")))
        os.killpg(victim.pid, signal.SIGKILL)  # in the middle of a run: every worker is busy
        victim.wait(timeout=15)
        _, stderr = p.communicate(timeout=300)
        assert p.returncode in (0, 1), stderr
        assert "Traceback" not in stderr, stderr
        assert 4 <= done_at_kill < n, "the worker was not killed in the middle of the campaign"
    finally:
        _stop(victim)
    killed = json.loads((out / "montecarlo.json").read_text())
    assert killed["runs"] == n and len(list(flights.glob("*.json"))) == n
    assert numbers(killed) == numbers(calm(nominal, n, tmp_path / "calm"))
    assert _workers(address) == 2


def test_ctrl_c_keeps_the_finished_runs_and_resume_flies_only_the_rest(short, tmp_path):
    n = 40
    out = tmp_path / "stopped"
    args = ["montecarlo", str(short), "-n", str(n), "--seed", str(SEED), "--workers", "1", "--no-reference",
            "--out", str(out)]
    p = subprocess.Popen([sys.executable, "-m", "host_tools", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV, preexec_fn=hears_ctrl_c)
    flights = out / "runs" / "flights"
    deadline = time.monotonic() + 120
    while len(list(flights.glob("*.json"))) < 3 and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.01)
    p.send_signal(signal.SIGINT)
    _, stderr = p.communicate(timeout=120)
    assert p.returncode == 130, stderr
    assert stderr.startswith("lander: interrupted") and stderr.count("\n") == 1, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert not (out / "montecarlo.json").exists()
    kept = len(list(flights.glob("*.json")))
    assert 3 <= kept < n
    r = lander(*args, "--resume")
    assert r.returncode in (0, 1), r.stderr
    resumed = json.loads((out / "montecarlo.json").read_text())
    assert resumed["resumed_runs"] == kept
    assert numbers(resumed) == numbers(calm(short, n, tmp_path / "calm"))


def test_resume_takes_the_finished_runs_and_flies_the_rest(short, tmp_path):
    s = load_scenario(short)
    out = tmp_path / "mc"
    full = montecarlo.run_montecarlo(s, 6, SEED, "cpython", 1, out_dir=out, progress=False)
    flights = out / "runs" / "flights"
    files = sorted(flights.glob("*.json"))
    assert len(files) == 6
    for f in files[:4]:
        f.unlink()  # as if stopped after two runs
    (files[4].with_name("run_9_seed_1.json")).write_text("{half a fi")  # a torn file is flown again
    again = montecarlo.run_montecarlo(s, 6, SEED, "cpython", 1, out_dir=out, progress=False, resume=True)
    assert again["resumed_runs"] == 2 and numbers(again) == numbers(full)
    # a larger campaign of the same seed extends it
    more = montecarlo.run_montecarlo(s, 8, SEED, "cpython", 1, out_dir=out, progress=False, resume=True)
    assert more["resumed_runs"] == 6 and more["runs"] == 8
    # without --resume the old runs are replaced
    fresh = montecarlo.run_montecarlo(s, 2, SEED, "cpython", 1, out_dir=out, progress=False)
    assert fresh["resumed_runs"] == 0 and len(list(flights.glob("*.json"))) == 2


def test_resume_refuses_the_runs_of_another_campaign(short, tmp_path):
    out = tmp_path / "mc"
    r = lander("montecarlo", short, "-n", 1, "--seed", 1, "--workers", 1, "--no-reference", "--out", out)
    assert r.returncode in (0, 1), r.stderr
    r = lander("montecarlo", short, "-n", 1, "--seed", 2, "--workers", 1, "--no-reference", "--out", out,
               "--resume")
    assert r.returncode == 2 and r.stderr.startswith("lander: ") and r.stderr.count("\n") == 1, r.stderr
    assert "another campaign" in r.stderr and "base_seed" in r.stderr


class FailingTarget:
    """The cpython target, failing in every run whose seed is odd, counting its runs."""

    seeds: list = []

    def __init__(self):
        from host_tools.link.connect import open_target

        self.target = open_target("cpython")
        self.seed = None

    def init(self, init):
        return self.target.init(init)

    def step(self, sensor):
        if sensor.seq > 20 and FailingTarget.seeds[-1] % 2:
            raise RuntimeError("the firmware stopped answering")
        return self.target.step(sensor)

    def close(self):
        self.target.close()


def _make_counted(path: str, seed: int):
    FailingTarget.seeds.append(seed)  # this process's worker thread: the same class
    return montecarlo.disperse(load_scenario(path), seed)


def test_a_target_error_is_a_result_not_a_retry(short):
    import functools

    FailingTarget.seeds.clear()
    make = functools.partial(_make_counted, str(short))
    tasks = [(make, seed, "cpython", f"run {seed}", None) for seed in range(4)]
    flight = cluster.fly_many(tasks, FailingTarget, workers=1, progress=False)
    assert FailingTarget.seeds == [0, 1, 2, 3]  # each flown once
    assert [bool(r["target_error"]) for r in flight.records] == [False, True, False, True]
    assert "stopped answering" in flight.records[1]["target_error"]


def test_campaign_on_the_remote_scheduler_equals_the_local_one(scheduler, tmp_path):
    address, _ = scheduler
    local = campaign.run_campaign(2, 5, "cpython", 1, out_dir=tmp_path / "local", progress=False,
                                  reference=False)
    r = lander("campaign", "-n", 2, "--seed", 5, "--target", "cpython", "--no-reference",
               "--scheduler", address, "--out", tmp_path / "remote")
    assert r.returncode in (0, 1), r.stderr
    remote = json.loads((tmp_path / "remote" / "campaign.json").read_text())
    written = json.loads((tmp_path / "local" / "campaign.json").read_text())
    assert local["cases"] == 2
    assert numbers(remote, campaign.MACHINE_KEYS) == numbers(written, campaign.MACHINE_KEYS)
    assert {"cases", "pilot"} <= {p.name for p in (tmp_path / "remote" / "runs").iterdir()}


def test_block_sizes_and_bad_cluster_options():
    assert cluster.block_size(1000, 2, reference=False) == 1
    assert cluster.block_size(1000, 2, reference=True) == cluster.BATCH
    assert cluster.block_size(12, 2, reference=True) == 6
    assert cluster.block_size(12, 0, reference=True) == 12
    for args in (("--scheduler", "tcp://127.0.0.1:1", "--workers", "2"), ("--scheduler", "a b"),
                 ("--scheduler", "http://x:1")):
        r = lander("montecarlo", ROOT / "sim_harness/scenarios/nominal-flat.toml", *args, timeout=60)
        assert r.returncode == 2 and r.stderr.startswith("lander: ") and r.stderr.count("\n") == 1, r.stderr

"""bench --json: one object keyed by target, with sane numbers (no wall-clock thresholds)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from host_tools.base.paths import ROOT
from host_tools.link.telemetry import percentile, summarize_step_telemetry
from host_tools.link.wire import Command


@pytest.mark.vm
def test_bench_json_has_the_contract_keys_for_each_target():
    r = subprocess.run([sys.executable, "-m", "host_tools", "bench", "--json", "--steps", "50",
                        "--model-runs", "20"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert set(result) == {"cpython", "vm", "reference-model"}
    for name, entry in result.items():
        for key in ("step_us_median", "step_us_max", "heap_bytes_per_step"):
            assert key in entry, (name, key)
        assert 0 < entry["step_us_median"] <= entry["step_us_max"]
        assert entry["steps_per_s"] > 0
    for name in ("cpython", "vm"):
        assert result[name]["firmware_mpy_bytes"] > 0
    model = result["reference-model"]
    assert model["run_steps_per_s"] > 0 and model["runs"] == 20 and model["landed"] == 20
    assert result["vm"]["heap_bytes_per_step"] > 0
    assert result["vm"]["heap_used_after_import"] > 0
    assert result["cpython"]["heap_bytes_per_step"] is None and result["cpython"]["heap_note"]


def test_percentile_is_nearest_rank():
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([7], 99) == 7


def test_step_telemetry_summary_names_p50_p99_max_and_heap():
    cmds = [Command(i, 0, *([0.0] * 18), *([0] * 11), i + 100, 5000 - i) for i in range(100)]
    line = summarize_step_telemetry(cmds)
    assert "p50 149 us" in line and "p99 198 us" in line and "max 199 us" in line
    assert "min 4901 B" in line

"""The host side's modules stay small enough to read: none over 600 lines (issue 13). The
layers themselves, and the absence of import rings, are import-linter's contracts in
pyproject.toml, checked by `make lint` (docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 600
MODULES = sorted(str(f.relative_to(ROOT)) for top in ("host_tools", "sim_harness")
                 for f in (ROOT / top).rglob("*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_module_size(module):
    n = len((ROOT / module).read_text().splitlines())
    assert n <= MAX_LINES, f"{module} is {n} lines: split it (at most {MAX_LINES})"

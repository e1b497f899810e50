"""The board definitions (boards/*.py) as the host sees them: their constants, read with `ast`.

A board file is MicroPython and imports `machine`; the host never imports it. A file is a
board definition when it assigns `NAME`; other files in boards/ are support modules that a
board lists in `SUPPORT` (copied beside board.py). docs/boards.md describes every constant.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from host_tools.base.errors import UsageError
from host_tools.base.paths import BOARDS


def _literal(node: ast.expr) -> object:
    # a constant, also when wrapped in const(...)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "const":
        node = node.args[0]
    return ast.literal_eval(node)


@cache
def _constants(path: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.isupper():
                try:
                    out[name] = _literal(node.value)
                except ValueError:
                    pass
    return out


def board_names() -> list[str]:
    return sorted(p.stem for p in BOARDS.glob("*.py") if "NAME" in _constants(p))


def board_info(name: str) -> dict[str, object]:
    """The constants of boards/NAME.py (NAME, MPY_ARCH, CLOCK_HZ, LINK, ...)."""
    path = BOARDS / f"{name}.py"
    if not path.is_file() or "NAME" not in _constants(path):
        raise UsageError(f"unknown board {name!r}: expected one of {', '.join(board_names())}")
    return dict(_constants(path))


def support_files(name: str) -> dict[str, Path]:
    """Support modules a board copies beside board.py: name on the board -> source."""
    support = board_info(name).get("SUPPORT", ())
    assert isinstance(support, tuple)
    return {str(f): BOARDS / str(f) for f in support}

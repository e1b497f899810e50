"""The parts of MicroPython's `micropython` module the firmware uses, for CPython.

The firmware imports `const` from it; on a board `const` is resolved by the compiler.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def const(value: T) -> T:
    return value


def native(f: T) -> T:
    return f


def viper(f: T) -> T:
    return f


def kbd_intr(chr: int) -> None:  # noqa: A002 - MicroPython's own parameter name
    pass


def heap_lock() -> int:
    return 0


def heap_unlock() -> int:
    return 0

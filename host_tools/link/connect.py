"""Opening a target by its command-line name: the one module that knows every kind of target
(host_tools.link.targets defines the interface and the host's own targets; the board, the
emulated Pico and the binary32 interpreter build on it)."""

from __future__ import annotations

from host_tools.link.targets import CPythonTarget, Target, VMTarget

TARGET_NAMES = ("cpython", "cpython-f32", "vm", "serial:PORT", "pico-emu")


def open_target(name: str) -> Target:
    """A target by its command-line name; raises ValueError for an unknown name."""
    if name == "cpython":
        return CPythonTarget()
    if name == "cpython-f32":
        from host_tools.link.binary32 import Binary32Target

        return Binary32Target()
    if name == "vm":
        return VMTarget()
    if name == "pico-emu":
        from host_tools.link.pico_emu import open_pico_emu

        return open_pico_emu()
    if name.startswith("serial:") and len(name) > len("serial:"):
        from host_tools.link.serial_link import SerialTarget

        return SerialTarget(name[len("serial:"):])
    raise ValueError(f"unknown target {name!r}: expected one of {', '.join(TARGET_NAMES)}")

"""Errors the command line turns into exit codes."""

from host_tools.targets import TargetError


class UsageError(Exception):
    """Bad usage or bad input: exit 2 with this one-line message."""


class CheckFailed(Exception):
    """The run completed but a check failed: exit 1 with this message."""


class NoFirmware(TargetError, UsageError):
    """Nothing answers like the firmware on a target (a port with nothing or something else
    behind it, a board not flashed, a VM that does not start its loop): exit 2, the message
    saying what was tried. It is a TargetError too, so code that retries on a TargetError
    (host_tools.serial_link) treats it as one."""


class Interrupted(Exception):
    """Ctrl-C: exit 130 with this message, saying what was kept."""

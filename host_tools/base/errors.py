"""Errors the command line turns into exit codes."""


class TargetError(RuntimeError):
    """The target failed: it died, timed out, or answered what the protocol does not allow."""


class UsageError(Exception):
    """Bad usage or bad input: exit 2 with this one-line message."""


class CheckFailed(Exception):
    """The run completed but a check failed: exit 1 with this message."""


class NoFirmware(TargetError, UsageError):
    """Nothing answers like the firmware on a target (a port with nothing or something else
    behind it, a board not flashed, a VM that does not start its loop): exit 2, the message
    saying what was tried. It is a TargetError too, so code that retries on a TargetError
    (host_tools.link.serial_link) treats it as one."""


class ProtocolMismatch(TargetError, UsageError):
    """The firmware answered HELLO with another wire protocol version than this host's
    (docs/protocol.md, "Versions"): exit 2, one line naming both and what to do. Raised by
    Target.hello before anything else is sent; never retried (the firmware did answer)."""


class Interrupted(Exception):
    """Ctrl-C: exit 130 with this message, saying what was kept."""

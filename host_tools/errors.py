"""Errors the command line turns into exit codes."""


class UsageError(Exception):
    """Bad usage or bad input: exit 2 with this one-line message."""


class CheckFailed(Exception):
    """The run completed but a check failed: exit 1 with this message."""

"""Where a run's files go: safe names, claimed directories, atomic writes.

Every file a command writes goes through this module:

- `safe_name(text)` is the one place that turns an untrusted name (a scenario's `name`, a
  Monte Carlo run's name) into a file name: letters, digits and `.`, `_`, `-`, `+` only,
  never empty, never `.`/`..` nor hidden, at most `MAX_NAME` characters. It cannot name a
  path outside the directory it is joined to.
- `claim(directory)` checks an output directory and claims it before a run starts: it is
  created if needed, must be a writable directory, and gets a claim file (`.lander-claim`,
  locked with `flock` for as long as the run lasts, holding the claimant's pid and command).
  A second run into a claimed directory is refused (`OutputInUse`, exit 2). The claim ends
  with the process, so a run that was killed leaves no stale lock behind.
- `write_bytes`, `write_text` and `replacing(path)` write a file atomically: into a temporary
  file beside it, then `os.replace`. A reader sees the old file or the new one, never half.

A failure to create, claim or write is an `OutputError`: a one-line message naming the path,
exit 2 (host_tools.commands.cli).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from host_tools.base.errors import UsageError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the claim file alone, created exclusively
    fcntl = None  # type: ignore[assignment]

CLAIM_FILE = ".lander-claim"
MAX_NAME = 80  # [characters] of a file name made from an untrusted name
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class OutputError(UsageError):
    """An output place that cannot be used: not a directory, not writable, a failed write."""


class OutputInUse(OutputError):
    """An output directory claimed by another run that is still going."""


def safe_name(text: str, fallback: str = "unnamed") -> str:
    """A file name made from `text`, safe to join to any directory (see the module docstring).

    Runs of characters outside [A-Za-z0-9._+-] become one `_`; leading and trailing dots,
    underscores and dashes are removed (no `.`, `..`, hidden files or option-like names); a
    name longer than MAX_NAME is cut and ends in 8 hex digits of its hash, so that two long
    names that differ only at their ends still differ.
    """
    name = _UNSAFE.sub("_", str(text)).strip("._-")
    if not name:
        name = fallback
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(str(text).encode("utf-8", "surrogatepass")).hexdigest()[:8]
        name = name[: MAX_NAME - 9].rstrip("._-") + "-" + digest
    return name


def _why(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


class Claim:
    """A claimed output directory (a context manager; `release()` ends the claim).

    `created` lists the directories this claim made; when the run wrote nothing into them they
    are removed again on release, so a run refused before it started leaves nothing behind.
    """

    def __init__(self, directory: Path, fd: int, created: list[Path]) -> None:
        self.directory = directory
        self._fd: int | None = fd
        self.created = created

    def path(self, name: str) -> Path:
        """A file of the claimed directory; `name` must already be a safe name."""
        return self.directory / name

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        claim = self.directory / CLAIM_FILE
        with contextlib.suppress(OSError):
            # unlink while still holding the lock: a waiting claimant then finds the inode
            # it locked no longer at the path and starts again (see claim()).
            if os.fstat(fd).st_ino == os.stat(claim).st_ino:
                os.unlink(claim)
        os.close(fd)
        for d in reversed(self.created):
            with contextlib.suppress(OSError):
                d.rmdir()  # only if empty: nothing was written into it

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # pragma: no cover - a claim forgotten by its owner
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _make_dirs(directory: Path) -> list[Path]:
    """mkdir -p, returning the directories it created (outermost first)."""
    missing = []
    d = directory
    while not d.exists() and not d.is_symlink():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    created = []
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            if not d.is_dir():
                raise OutputError(f"{d}: exists and is not a directory") from None
            continue
        except NotADirectoryError:
            raise OutputError(f"{directory}: a part of the path is a file, not a directory") from None
        except OSError as e:
            raise OutputError(f"{d}: cannot create the output directory: {_why(e)}") from None
        created.append(d)
    return created


def _describe_holder(claim: Path) -> str:
    try:
        text = claim.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "another run"
    return text.splitlines()[0][:200] if text else "another run"


def claim(directory: Path | str, what: str = "") -> Claim:
    """Check that `directory` can hold a run's files and claim it (see the module docstring).

    what: a few words about the claimant, written into the claim file (default: the command
    line). Raises OutputError (not usable) or OutputInUse (claimed by a running run).
    """
    directory = Path(directory)
    if "\x00" in str(directory):
        raise OutputError("an output directory name must not contain a NUL byte")
    try:
        if directory.exists() and not directory.is_dir():
            raise OutputError(f"{directory}: exists and is not a directory")
        created = _make_dirs(directory)
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(f"{directory}: cannot use as an output directory: {_why(e)}") from None
    ok = False
    try:
        fd = _lock(directory, what)
        ok = True
    finally:
        if not ok:
            for d in reversed(created):
                with contextlib.suppress(OSError):
                    d.rmdir()
    return Claim(directory, fd, created)


def _lock(directory: Path, what: str) -> int:
    path = directory / CLAIM_FILE
    for _ in range(20):
        try:
            if fcntl is None:  # pragma: no cover
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            else:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileExistsError:  # pragma: no cover - the non-POSIX fallback
            raise OutputInUse(f"{directory}: in use by {_describe_holder(path)}; "
                              f"wait for it or choose another output directory") from None
        except OSError as e:
            raise OutputError(f"{directory}: cannot write in the output directory: {_why(e)}") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutputInUse(f"{directory}: in use by {_describe_holder(path)}; "
                                  f"wait for it or choose another output directory") from None
            except OSError as e:
                os.close(fd)
                raise OutputError(f"{directory}: cannot lock the output directory: {_why(e)}") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the previous claimant removed it as we locked it: start again
                os.close(fd)
                continue
        text = (f"pid {os.getpid()} on {socket.gethostname()} since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')}: {what or _command_line()}\n")
        try:
            os.ftruncate(fd, 0)
            os.write(fd, text.encode("utf-8", "replace"))
        except OSError as e:
            os.close(fd)
            raise OutputError(f"{directory}: cannot write in the output directory: {_why(e)}") from None
        return fd
    raise OutputInUse(f"{directory}: claimed and released again and again by other runs")  # pragma: no cover


def _command_line() -> str:
    return ("lander " + " ".join(a[:60] for a in sys.argv[1:]))[:200]


@contextlib.contextmanager
def replacing(path: Path | str, mode: str = "w", **kwargs) -> Iterator:
    """Open a temporary file beside `path` for writing; on success it replaces `path` atomically.

    On any failure (an exception, Ctrl-C) the temporary file is removed and `path` is left as
    it was. An OSError is raised as OutputError naming `path`.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise OutputError(f"{path}: cannot write: {_why(e)}") from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # the mode an ordinary open() gives, not mkstemp's 0600
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"{path}: cannot write: {_why(e)}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes(path: Path | str, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    with replacing(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: Path | str, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    with replacing(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return Path(path)

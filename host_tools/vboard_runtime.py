# The virtual board's "ROM": MicroPython code that runs inside the VM at every reset.
#
# Not imported by CPython: host_tools/virtual_board.py passes this file's text to the VM
# (compiled under the name "vboard"), preceded by `_MODE = "friendly"` or `"raw"`. It
# does what a Pico's C runtime does after a reset (ports/rp2/main.c, shared/runtime/pyexec.c):
#   - installs the board services `machine` (Pin, PWM, WDT, reset, ...) backed by the
#     host through the VM's `host.call(name, payload) -> str`;
#   - runs boot.py, then main.py when the REPL is in friendly mode;
#   - serves the friendly REPL and the raw REPL on stdin/stdout with pyexec's bytes.
# A reset is a host call that never returns: the host ends this VM and starts a new one.
import sys

import host  # type: ignore[import-not-found]  # the VM's host-call module

_MODE = globals().get("_MODE", "friendly")
_BANNER = "MicroPython v1.27.0 (virtual board, WASI VM); Virtual Pico with MicroPython VM"
_IN = sys.stdin.buffer
_OUT = sys.stdout.buffer
_RT = "vboard"  # source name of this file in tracebacks


def _h(name, arg=""):
    return host.call(name, arg)


def _w(s):
    # REPL output with the board's newline convention
    if isinstance(s, str):
        s = s.encode()
    _OUT.write(s.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"))


def _interrupted():
    raise KeyboardInterrupt()


# -- board services -------------------------------------------------------------------


class _Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, pin, mode=-1, pull=-1, value=None):
        self.id = pin
        self._v = 0
        _h("pin", str(pin) + " init " + str(mode))
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return self._v
        v = 1 if v else 0
        if v != self._v:
            self._v = v
            _h("pin", str(self.id) + " value " + str(v))
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def toggle(self):
        self.value(1 - self._v)

    def init(self, mode=-1, pull=-1, value=None):
        if value is not None:
            self.value(value)


class _PWM:
    def __init__(self, pin, freq=0, duty_u16=None):
        self.pin = pin
        self._freq = 0
        self._duty = 0
        if freq:
            self.freq(freq)
        if duty_u16 is not None:
            self.duty_u16(duty_u16)

    def freq(self, f=None):
        if f is None:
            return self._freq
        self._freq = int(f)
        _h("pwm", str(getattr(self.pin, "id", self.pin)) + " freq " + str(self._freq))
        return None

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        d = int(d)
        if d != self._duty:
            self._duty = d
            _h("pwm", str(getattr(self.pin, "id", self.pin)) + " duty " + str(d))
        return None

    def deinit(self):
        self.duty_u16(0)


class _WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        _h("wdt", "start " + str(timeout))

    def feed(self):
        _h("wdt", "feed")


class _UART:
    def __init__(self, *args, **kwargs):
        raise OSError(19)  # ENODEV: the virtual board's link is its USB port


class _Machine:
    Pin = _Pin
    PWM = _PWM
    WDT = _WDT
    UART = _UART
    PWRON_RESET = 1
    WDT_RESET = 3

    def __init__(self):
        self._freq = 125000000

    def reset(self):
        _h("reset", "hard")

    def soft_reset(self):
        _w("MPY: soft reboot\n")
        _h("reset", "soft-" + _MODE)

    def bootloader(self):
        _w("virtual board: no bootloader; resetting\n")
        _h("reset", "hard")

    def unique_id(self):
        return b"VPICO\x00\x00\x01"

    def freq(self, hz=None):
        if hz is None:
            return self._freq
        self._freq = int(hz)
        return None

    def reset_cause(self):
        return int(_h("reset_cause"))

    def idle(self):
        pass

    def record(self):
        # what the board services saw since the virtual board started (host-side record)
        return _h("record")


class _Time:
    # the VM's time module, with sleeps that a Ctrl-C can interrupt (through the host)
    def __init__(self, real):
        for name in ("ticks_ms", "ticks_us", "ticks_cpu", "ticks_diff", "ticks_add", "time",
                     "time_ns", "localtime", "gmtime", "mktime"):
            if hasattr(real, name):
                setattr(self, name, getattr(real, name))

    def sleep_ms(self, ms):
        if _h("sleep", str(int(ms))) == "1":
            _interrupted()

    def sleep_us(self, us):
        self.sleep_ms(us // 1000)

    def sleep(self, s):
        self.sleep_ms(int(s * 1000))


class _Micropython:
    # micropython, with kbd_intr reported to the host (it owns the interrupt character)
    def __init__(self, real):
        for name in dir(real):
            if not name.startswith("__") and name != "kbd_intr":
                setattr(self, name, getattr(real, name))

    def kbd_intr(self, c):
        _h("kbd", str(c))


def _print(*args, sep=" ", end="\n", file=None):
    # print as a board prints on its USB port: newlines go out as CR LF
    if file is not None and file is not sys.stdout:
        _REAL_PRINT(*args, sep=sep, end=end, file=file)
        return
    _w(sep.join([str(a) for a in args]) + end)


_REAL_PRINT = print


def _install():
    import builtins
    import time

    import micropython

    builtins.print = _print

    sys.modules["machine"] = _Machine()
    sys.modules["time"] = _Time(time)
    sys.modules["utime"] = sys.modules["time"]
    sys.modules["micropython"] = _Micropython(micropython)
    if "" not in sys.path:
        sys.path.insert(0, "")
    if "/lib" not in sys.path:
        sys.path.append("/lib")


# -- running code ---------------------------------------------------------------------


def _print_exception(e):
    import io

    s = io.StringIO()
    sys.print_exception(e, s)
    lines = s.getvalue().split("\n")
    keep = [ln for ln in lines if ('File "' + _RT + '"') not in ln]
    _w("\n".join(keep))


_G = {"__name__": "__main__"}


def _execute(src, kind, name="<stdin>", print_eof=False):
    # pyexec's parse_compile_execute: returns "ok", "error" or "exit" (SystemExit)
    result = "ok"
    _h("kbd", "3")
    try:
        code = compile(src, name, kind)
        exec(code, _G)
        _h("kbd", "-1")
        if print_eof:
            _OUT.write(b"\x04")
    except SystemExit:
        _h("kbd", "-1")
        if print_eof:
            _OUT.write(b"\x04")
        result = "exit"
    except BaseException as e:  # noqa: B036 - the REPL reports everything, as pyexec does
        _h("kbd", "-1")
        if print_eof:
            _OUT.write(b"\x04")
        _print_exception(e)
        result = "error"
    if print_eof:
        _OUT.write(b"\x04")
    return result


def _run_file(path):
    try:
        f = open(path)
    except OSError:
        return "ok"
    src = f.read()
    f.close()
    return _execute(src, "exec", path)


def _soft_reset(mode):
    _w("MPY: soft reboot\n")
    _h("reset", "soft-" + mode)


def _getc():
    c = _IN.read(1)
    if not c:  # the host closed the link: power off
        _h("reset", "off")
    return c[0]


# -- the raw REPL ---------------------------------------------------------------------


def _raw_repl():
    # returns "friendly" (Ctrl-B); a soft reset never returns
    _OUT.write(b"raw REPL; CTRL-B to exit\r\n")
    while True:
        line = bytearray()
        _OUT.write(b">")
        while True:
            c = _getc()
            if c == 1:  # Ctrl-A
                if len(line) == 2 and line[0] == 5:
                    # raw-paste request (Ctrl-E, 'A', Ctrl-A): not supported here,
                    # answered as MicroPython answers a request it does not support
                    _OUT.write(b"R\x00")
                    line = bytearray()
                    continue
                _OUT.write(b"raw REPL; CTRL-B to exit\r\n")
                line = bytearray()
                _OUT.write(b">")
                continue
            if c == 2:  # Ctrl-B
                _OUT.write(b"\r\n")
                return "friendly"
            if c == 3:  # Ctrl-C: clear the line
                line = bytearray()
                continue
            if c == 4:  # Ctrl-D: end of input
                break
            line.append(c)
        _OUT.write(b"OK")
        if not line:
            _OUT.write(b"\r\n")
            _soft_reset("raw")
        if _execute(bytes(line), "exec", print_eof=True) == "exit":
            _soft_reset("raw")


# -- the friendly REPL ----------------------------------------------------------------


def _needs_more(text):
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
    stripped = text.rstrip()
    return depth > 0 or stripped.endswith(":") or stripped.endswith("\\")


def _readline(prompt):
    # a line with echo and backspace; returns (control_char or 0, text)
    _w(prompt)
    buf = bytearray()
    esc = 0
    while True:
        c = _getc()
        if esc == 1:  # after ESC: a CSI sequence (arrows, ...) is ignored
            esc = 2 if c == 91 else 0
            continue
        if esc == 2:
            if 64 <= c <= 126:
                esc = 0
            continue
        if c == 27:
            esc = 1
            continue
        if c in (1, 2, 3, 4, 5) and (c != 4 or not buf):
            return c, ""
        if c == 13:
            _w("\n")
            return 0, buf.decode()
        if c in (8, 127):
            if buf:
                buf = buf[:-1]
                _OUT.write(b"\x08 \x08")
            continue
        if c == 10:
            continue
        buf.append(c)
        _OUT.write(bytes((c,)))


def _paste_mode():
    _w("\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\n=== ")
    buf = bytearray()
    while True:
        c = _getc()
        if c == 3:
            _w("\n")
            return None
        if c == 4:
            _w("\n")
            return bytes(buf)
        buf.append(c)
        if c == 13:
            _w("\n=== ")
        else:
            _OUT.write(bytes((c,)))


def _friendly_repl():
    # returns "raw" (Ctrl-A); a soft reset never returns
    _w(_BANNER + "\nType \"help()\" for more information.\n")
    while True:
        ctrl, text = _readline(">>> ")
        if ctrl == 1:
            _w("\n")
            return "raw"
        if ctrl == 2:
            _w("\n" + _BANNER + "\nType \"help()\" for more information.\n")
            continue
        if ctrl == 3:
            _w("\n")
            continue
        if ctrl == 4:
            _w("\n")
            _soft_reset("friendly")
        if ctrl == 5:
            src = _paste_mode()
            if src is not None and _execute(src, "exec") == "exit":
                _soft_reset("friendly")
            continue
        if not text.strip():
            continue
        kind = "single"
        block = text.rstrip().endswith(":")  # a compound statement ends at an empty line
        while block or _needs_more(text):
            kind = "exec"
            ctrl, more = _readline("... ")
            if ctrl == 3:
                _w("\n")
                text = None
                break
            if ctrl == 4 or not more.strip():
                break
            text = text + "\n" + more
        if text is None:
            continue
        if kind == "exec":
            text = text + "\n"
        if _execute(text, kind) == "exit":
            _soft_reset("friendly")


def _main():
    import gc

    # This VM build's collector may free objects held only in locals
    # (docs/decisions/0001-micropython-vm.md): the virtual board never collects, and its
    # heap is sized for that.
    gc.disable()
    _install()
    mode = _MODE
    if _run_file("boot.py") == "exit":
        _soft_reset(mode)
    if mode == "friendly":
        if _run_file("main.py") == "exit":
            _soft_reset(mode)
    while True:
        if mode == "raw":
            mode = _raw_repl()
        else:
            mode = _friendly_repl()
        _h("mode", mode)


_main()

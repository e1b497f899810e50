# The virtual board: the firmware inside the MicroPython VM on the host (unix port
# built for WASI). The link is the VM's standard input and output, as USB CDC is on a
# Pico. No pins, no watchdog; time and heap are the VM's own.
import gc
import sys
import time

import micropython

NAME = "virtual"
MPY_ARCH = None  # runs .py sources; the VM's .mpy ABI is read from sys.implementation
FLOAT_BITS = 64
HEAP_BYTES = 536870912  # [bytes] heap the host starts the VM with: whole runs without collecting
LINK = "stdio"

# This VM build's collector cannot see objects held only by a function's locals and
# frees them (docs/decisions/0001-micropython-vm.md). So the virtual board never
# collects: imported first by main.py, it turns collection off before anything else is
# allocated, and the VM's heap is sized for a whole run. An exhausted heap raises
# MemoryError (a failed run with a clear message), never a wrong number.
gc.disable()
# the heap as this VM really has it; free heap is then counted from the allocator's
# counter, since gc.mem_free() scans the whole allocation table (a tenth of a second here)
_HEAP_TOTAL = gc.mem_free() + gc.mem_alloc()  # [bytes]
_HEAP_USED0 = gc.mem_alloc()  # [bytes]
_COUNTER0 = micropython.mem_current()  # type: ignore[attr-defined]  # the unix port has it, rp2 not


def _root():
    path = __file__
    return path.rsplit("/", 1)[0] if "/" in path else "."


class Board:
    def __init__(self):
        self.name = NAME
        self.flash_root = _root()
        self._t0 = time.ticks_us()
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer

    def flight_enabled(self):
        # a file named `noflight` keeps the loop from starting
        try:
            open(self.flash_root + "/noflight").close()
            return False
        except OSError:
            return True

    def link_open(self):
        micropython.kbd_intr(-1)  # binary frames must not raise KeyboardInterrupt

    def link_close(self):
        micropython.kbd_intr(3)

    def read_into(self, mv):
        return self._in.readinto(mv)

    def write(self, frame):
        self._out.write(frame)

    def step_begin(self):
        # no gc.collect(): the virtual board never collects (see gc.disable() above)
        self._t0 = time.ticks_us()

    def step_end(self):
        used = _HEAP_USED0 + micropython.mem_current() - _COUNTER0  # type: ignore[attr-defined]
        return time.ticks_diff(time.ticks_us(), self._t0), _HEAP_TOTAL - used

    def link_lost(self):
        pass  # reads block on this board: a silent link is never noticed here

    def actuate(self, throttle, pitch_cmd):
        pass  # no actuators on the virtual board

    def log_exception(self, e):
        # stderr, never stdout: stdout is the link
        sys.print_exception(e, sys.stderr)  # type: ignore[arg-type]

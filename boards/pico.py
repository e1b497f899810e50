# Raspberry Pi Pico (RP2040: dual Cortex-M0+, no FPU): the board definition, copied to
# the board as board.py.
#
# The host reads the constants below with `ast` (flash, bench, docs/boards.md); the
# board services themselves are in rp2board.py, shared by the rp2 boards.
import sys

from rp2board import Rp2Board  # type: ignore[import-not-found]  # copied beside board.py

NAME = "pico"
MCU = "RP2040"  # what sys.implementation._machine names (flash checks it)
MPY_ARCH = "armv6m"  # mpy-cross -march for this CPU
CLOCK_HZ = 200000000  # [Hz] system clock the board runs at: the RP2040's rated maximum
# (datasheet, 2025) at a core supply of 1.15 V; MicroPython boots at 125 MHz and 1.10 V
VREG_VSEL = 0b1100  # core regulator setting for CLOCK_HZ: 1.15 V (None: leave it)
FLOAT_BITS = 32  # single-precision floats, each float result boxed on the heap
HEAP_BYTES = 210000  # [bytes] about what gc.mem_free() shows after boot (MicroPython 1.20 and later)
SUPPORT = ("rp2board.py",)  # copied beside board.py

# The link: "usb_cdc" (the REPL's USB serial port, the default) or "uart" (a UART on
# the pins below, 8N1; the REPL stays on USB).
LINK = "usb_cdc"
UART_ID = 0
UART_TX_PIN = 0  # GP0
UART_RX_PIN = 1  # GP1
UART_BAUD = 921600

LED_PIN = "LED"  # the on-board LED (GP25 on a Pico, the wireless chip's pin on a Pico W)
PWM_PIN = 15  # GP15: PWM whose duty mirrors the throttle command (duty = throttle)
PWM_FREQ_HZ = 1000  # [Hz]
WDT_TIMEOUT_MS = 2000  # [ms] watchdog armed by the first SENSOR frame, fed every step
GC_MIN_STEPS = 8  # [steps] a collection waits at least this long after the last one ...
GC_MAX_STEPS = 15  # [steps] ... and at most this long (docs/boards.md, the collection)
HEAP_PROBE_GCS = 25  # [collections] gc.mem_free() before every 25th collection (telemetry)
BOOT_ESCAPE_MS = 1000  # [ms] at boot, a Ctrl-C within this window leaves the board at the REPL


class Board(Rp2Board):
    def __init__(self):
        Rp2Board.__init__(self, sys.modules[__name__])

# The board services shared by the rp2 boards (Pico, Pico 2), copied to the board as
# rp2board.py beside board.py. board.py names the pins, the link and the clock, and
# hands its own module to Rp2Board (docs/boards.md).
#
# What a control step (one frame) does here, in order:
#   read the link (poll with a timeout, then readinto a preallocated byte: no allocation
#   per byte) -> step_begin (start the clock) -> decode the frame -> the flight core's
#   step -> actuate (PWM duty mirrors the throttle) -> step_end (perhaps gc.collect at
#   this fixed point; feed the watchdog, read the clock) -> write the COMMAND frame.
# The collection: every step leaves its floats as garbage, and a collection costs about the
# same whatever the garbage (marking the live heap dominates: some 3 ms at 200 MHz). So
# the board puts it on a light step (one frame): at the end of the first step, GC_MIN_STEPS
# or more after the last collection, that took no longer than the lightest step since then
# (plus a tenth), and at the end of the GC_MAX_STEPS-th step whatever it cost.
# The COMMAND's step_us is the step's work and its collection, if any.
# Its heap_free is the free heap at the last probe: every HEAP_PROBE_GCS-th collection is
# preceded by gc.mem_free(), when the heap is at its lowest. The probe walks the whole
# allocation table (about 6 ms at 200 MHz), so it is rare, and it is not in step_us.
import gc
import os
import select
import sys
import time

import machine
import micropython
from flight.identity import file_exists
from micropython import const

_PWM_FULL = const(65535)  # duty_u16 of a throttle of 1
_LINK_TIMEOUT_MS = const(500)  # [ms] a silent link for this long calls link_lost()
_BYTE_GAP_MS = const(20)  # [ms] inside a frame, wait this long for the next byte
_BYE_DRAIN_MS = const(100)  # [ms] let the BYE frame leave before a reboot
_LED_LOST_MS = const(250)  # [ms] LED half-period while the link is silent
_NO_STEP_US = const(1000000000)  # [us] "no step yet" for the lightest step since a collection
_VREG = const(0x40064000)  # VREG_AND_CHIP_RESET: the core regulator's control register
_VREG_SETTLE_MS = const(2)  # [ms] for the core supply to settle before the clock rises


class Rp2Board:
    def __init__(self, cfg):
        # cfg: the board.py module (NAME, CLOCK_HZ, LINK, pins, WDT_TIMEOUT_MS, ...)
        self.cfg = cfg
        self.name = cfg.NAME
        self.flash_root = ""  # files are at the root of the flash
        self._t0 = time.ticks_us()
        self._one = bytearray(1)
        self._wdt = None  # armed by the first SENSOR frame (flight mode)
        self._since_gc = 0  # [steps] since the last collection
        self._collections = 0  # since boot
        self._gc_us = 0  # [us] what the last collection took
        self._light_us = _NO_STEP_US  # [us] the lightest step since the last collection
        self._heap_free = 0  # [bytes] the last probe of the free heap
        self._end = [0, 0]  # step_end's (step_us, heap_free), kept: a new tuple every step is heap
        self._led_next = time.ticks_ms()
        self._in = sys.stdin.buffer  # the link's byte streams (USB CDC unless LINK is "uart")
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        if machine.freq() != cfg.CLOCK_HZ:
            if cfg.VREG_VSEL is not None:
                # the core supply first (VREG.VSEL, bits 7:4), then the clock it allows
                v = machine.mem32[_VREG]
                machine.mem32[_VREG] = (v & ~0xF0) | (cfg.VREG_VSEL << 4)
                time.sleep_ms(_VREG_SETTLE_MS)
            machine.freq(cfg.CLOCK_HZ)
        self._led = machine.Pin(cfg.LED_PIN, machine.Pin.OUT)
        self._led.value(0)
        self._pwm = machine.PWM(machine.Pin(cfg.PWM_PIN))
        self._pwm.freq(cfg.PWM_FREQ_HZ)
        self._pwm.duty_u16(0)

    # -- boot ---------------------------------------------------------------------

    def flight_enabled(self):
        # The boot-time escape. A file `noflight` keeps the loop from starting; a file
        # `noflight.once` (left by an EXIT after a flight, see link_close) does so once.
        # Otherwise wait BOOT_ESCAPE_MS with Ctrl-C enabled: a Ctrl-C in that window
        # raises KeyboardInterrupt out of main.py and leaves the board at the REPL.
        if file_exists("noflight"):
            return False
        if file_exists("noflight.once"):
            os.remove("noflight.once")
            return False
        # said on the REPL's port, so that a host knows to stay silent until the loop
        # announces itself (its IDENT frame)
        print("lander: flight loop in %d ms; Ctrl-C for the REPL" % self.cfg.BOOT_ESCAPE_MS)
        self._led.value(1)
        time.sleep_ms(self.cfg.BOOT_ESCAPE_MS)
        self._led.value(0)
        return True

    # -- link ---------------------------------------------------------------------

    def link_open(self):
        cfg = self.cfg
        if cfg.LINK == "uart":
            uart = machine.UART(cfg.UART_ID, baudrate=cfg.UART_BAUD,
                                tx=machine.Pin(cfg.UART_TX_PIN), rx=machine.Pin(cfg.UART_RX_PIN),
                                rxbuf=1024, txbuf=1024)
            self._in = uart  # type: ignore[assignment]  # a stream with readinto/write, as stdin is
            self._out = uart  # type: ignore[assignment]
        else:
            micropython.kbd_intr(-1)  # binary frames must not raise KeyboardInterrupt
        self._poll.register(self._in, select.POLLIN)

    def link_close(self):
        micropython.kbd_intr(3)
        self._pwm.duty_u16(0)
        self._led.value(0)
        if self._wdt is not None:
            # The watchdog cannot be stopped once started: reboot, and let the next boot
            # skip the loop once so that the board lands at the REPL.
            f = open("noflight.once", "w")
            f.close()
            time.sleep_ms(_BYE_DRAIN_MS)
            machine.reset()

    def _wait(self, timeout_ms):
        # True when a byte can be read within timeout_ms (ipoll does not allocate)
        for _ in self._poll.ipoll(timeout_ms):
            return True
        return False

    def read_into(self, mv):
        # At least one byte and as many as are waiting, up to len(mv); None when the
        # link stays silent for _LINK_TIMEOUT_MS. One preallocated byte, no allocation.
        one = self._one
        src = self._in
        n = len(mv)
        got = 0
        timeout = _LINK_TIMEOUT_MS
        while got < n:
            if not self._wait(timeout):
                break
            if not src.readinto(one):
                break
            mv[got] = one[0]
            got += 1
            timeout = _BYTE_GAP_MS if got < n else 0
        if got:
            return got
        return None

    def write(self, frame):
        self._out.write(frame)

    def link_lost(self):
        # Called by the loop each _LINK_TIMEOUT_MS of silence: the engine command stays
        # as it was (the host decides), the LED blinks, and the watchdog is fed so that a
        # paused host does not reset the board. The flight core notices the gap itself
        # from the time stamps of the next frame (mode link_lost).
        if self._wdt is not None:
            self._wdt.feed()
        now = time.ticks_ms()
        if time.ticks_diff(now, self._led_next) >= 0:
            self._led.toggle()
            self._led_next = time.ticks_add(now, _LED_LOST_MS)

    # -- control step -------------------------------------------------------------

    def step_begin(self):
        if self._wdt is None:  # the first SENSOR frame: flight mode
            self._wdt = machine.WDT(timeout=self.cfg.WDT_TIMEOUT_MS)
            # once, before the first step's clock: the garbage of booting and importing goes,
            # and the first probe sees the heap the flight starts with
            gc.collect()
            self._heap_free = gc.mem_free()
        self._t0 = time.ticks_us()

    def step_end(self):
        cfg = self.cfg
        now = time.ticks_us()
        dt = time.ticks_diff(now, self._t0)
        n = self._since_gc + 1
        if dt < self._light_us:
            self._light_us = dt
        if n >= cfg.GC_MAX_STEPS or (n >= cfg.GC_MIN_STEPS and 10 * dt <= 11 * self._light_us):
            k = self._collections + 1
            self._collections = k
            if k % cfg.HEAP_PROBE_GCS == 0:
                self._heap_free = gc.mem_free()  # telemetry, not the step's work
                now = time.ticks_us()
            gc.collect()
            g = time.ticks_diff(time.ticks_us(), now)
            self._gc_us = g
            self._light_us = _NO_STEP_US
            dt += g
            n = 0
        self._since_gc = n
        if self._wdt is not None:
            self._wdt.feed()
        end = self._end
        end[0] = dt
        end[1] = self._heap_free
        return end

    def actuate(self, throttle, pitch_cmd):
        # the PWM output mirrors the throttle command: duty = throttle
        if throttle <= 0.0:
            duty = 0
        elif throttle >= 1.0:
            duty = _PWM_FULL
        else:
            duty = int(throttle * _PWM_FULL)
        self._pwm.duty_u16(duty)
        self._led.value(1 if duty else 0)

    def log_exception(self, e):
        # never on stdout: on USB CDC stdout is the link. Keep the last one on the flash.
        try:
            f = open("lasterror.txt", "w")
            sys.print_exception(e, f)  # type: ignore[arg-type]
            f.close()
        except OSError:
            pass

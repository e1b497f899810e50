# The mode machine: which phase of the descent, and which fail-safe, is in force.
#
# A descent phase (braking -> approach -> terminal, with hysteresis) follows the low end
# of the height; fail-safe overlays take precedence over it in a fixed order:
# touchdown (latched), link lost, altitude unknown, low propellant.
# docs/algorithms.md section 5 is the specification.
from micropython import const

from flight.common import FAULT_LINK_GAP

MODE_STANDBY = const(0)
MODE_BRAKING = const(1)
MODE_APPROACH = const(2)
MODE_TERMINAL = const(3)
MODE_TOUCHDOWN = const(4)
MODE_ALTITUDE_UNKNOWN = const(5)
MODE_LOW_PROPELLANT = const(6)
MODE_LINK_LOST = const(7)

_BIG = 100000.0  # [m] the low end of the height before the first cycle

H_TERMINAL = 5.0  # [m] low-end height where the constant-rate descent begins
_H_TERMINAL_EXIT = 15.0  # [m] low-end height above which terminal is left again
_H_APPROACH = 300.0  # [m] low-end height where approach begins
_H_APPROACH_EXIT = 400.0  # [m] low-end height above which approach is left again
_H_CONTACT = 1.0  # [m] contact is believed only when the low-end height is below this
_T_CONTACT_US = const(400000)  # [us] contact must be held this long before the engine is cut
_T_LINK_RECOVER = 1.0  # [s] link_lost stays in force this long after the last gap
K_LOW_PROP = 1.0  # [1] low propellant begins when the tanks pay for less than this margin
_K_LOW_PROP_EXIT = 1.5  # [1] and ends when they pay for more than this one


class Modes:
    def __init__(self):
        self.mode = MODE_STANDBY
        self.phase = MODE_BRAKING  # descent phase under the overlays
        self.contact_us = 0  # [us] how long contact has been reported without a break
        self.seen_open = False  # the switch has been seen open since h_low came within _H_CONTACT
        self.h_low = _BIG  # [m] the low end of the height at the last cycle
        self.link_until = -1.0  # [s] link_lost holds until this time
        self.low_prop = False

    def reset(self):
        Modes.__init__(self)
        self.mode = MODE_BRAKING

    def frame(self, contact, d_us):
        # every frame (d_us [us] since the last): contact held for _T_CONTACT_US with the
        # last cycle's low end of the height within _H_CONTACT is touchdown, at once. A
        # switch counts only once it has been seen open that near the ground: one latched
        # closed higher up (Mars Polar Lander's legs) is never believed. Returns True on
        # the frame that latches touchdown.
        if self.mode == MODE_TOUCHDOWN or self.mode == MODE_STANDBY:
            return False
        if not contact:
            self.contact_us = 0
            if self.h_low <= _H_CONTACT:
                self.seen_open = True
            return False
        if not self.seen_open:
            return False
        self.contact_us += d_us
        if self.contact_us >= _T_CONTACT_US and self.h_low <= _H_CONTACT:
            self.mode = MODE_TOUCHDOWN
            return True
        return False

    def update(self, t_s, h_low, faults, aiding, k_fit):
        # every cycle: h_low [m] low end of the height; k_fit [1] the height margin (in
        # sigmas) that the propellant can pay for at the final descent rate. Returns the mode.
        if self.mode == MODE_TOUCHDOWN:
            return self.mode
        self.h_low = h_low
        if h_low > _H_CONTACT:
            # seen open only while near the ground: the prior's low end is near it too
            # before an altimeter is fused, and a switch that latches after that is not
            self.seen_open = False

        # the descent phase, from the low end of the height, with hysteresis
        ph = self.phase
        if h_low <= H_TERMINAL:
            ph = MODE_TERMINAL
        elif ph == MODE_TERMINAL and h_low > _H_TERMINAL_EXIT:
            ph = MODE_APPROACH
        if ph != MODE_TERMINAL:
            if h_low <= _H_APPROACH:
                ph = MODE_APPROACH
            elif h_low > _H_APPROACH_EXIT:
                ph = MODE_BRAKING
        self.phase = ph

        if self.low_prop:
            if k_fit > _K_LOW_PROP_EXIT:
                self.low_prop = False
        elif k_fit < K_LOW_PROP:
            self.low_prop = True

        if faults & FAULT_LINK_GAP:
            self.link_until = t_s + _T_LINK_RECOVER
        if t_s < self.link_until:
            self.mode = MODE_LINK_LOST
        elif not aiding:
            self.mode = MODE_ALTITUDE_UNKNOWN
        elif self.low_prop:
            self.mode = MODE_LOW_PROPELLANT
        else:
            self.mode = ph
        return self.mode

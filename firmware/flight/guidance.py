# Guidance and throttle control (interim: a fixed safe throttle; the guidance issue
# replaces this).
MODE_STANDBY = 0
MODE_BRAKING = 1


class Guidance:
    def __init__(self):
        self.throttle = 0.0  # [1]
        self.pitch_cmd = 0.0  # [rad]
        self.mode = MODE_STANDBY
        self.mass = 0.0  # [kg]

    def reset(self, prior):
        self.__init__()
        self.mass = prior.mass
        self.mode = MODE_BRAKING

    def step(self, t_s, dt, est, contact, faults):
        self.throttle = 0.5
        self.pitch_cmd = 0.0

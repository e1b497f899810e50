# The flight core of the lander firmware: no hardware imports below this package.
VERSION = (0, 1, 0)
PROTOCOL = 2

# Entry point on every board: build the board, then serve the link until told to stop.
#
# Boot-time escape: a Ctrl-C within the board's boot window, or a file named
# `noflight` on the filesystem, leaves the board at the REPL (see README).
import board  # type: ignore[import-not-found]  # the board's definition, copied as board.py


def start():
    b = board.Board()
    if not b.flight_enabled():
        return
    from flight.loop import Firmware

    fw = Firmware(b)
    b.link_open()
    try:
        fw.run(b.read_into, b.write)
    finally:
        b.link_close()


start()

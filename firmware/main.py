# Entry point on every board: build the board, then serve the link until told to stop.
#
# Boot-time escape (the board's flight_enabled()): a Ctrl-C within the board's
# BOOT_ESCAPE_MS window raises KeyboardInterrupt out of here, and a file named `noflight`
# on the filesystem returns at once: either leaves the board at the REPL
# (docs/hardware.md, "A board stuck in the loop").
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

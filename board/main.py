"""Boot entry of the payload computer: MicroPython runs ``main.py`` after ``boot.py``.

Builds the real board from the hal/real drivers (``hal.real.board.BOARD_CONFIG``),
initialises the devices in the safe order (load switches off first), loads the TC keys
from ``keys.txt`` on flash, and runs the flight application.  The application returns
after executing a REBOOT telecommand (its report sent): then ``machine.reset()``.  A
fatal error is printed on the USB REPL and the board resets after 5 s.

Keys: ``/flash/keys.txt`` (or ``keys.txt`` in the current directory), ``<key_id> <64 hex>``
per line.  Without a usable key file the public DEVELOPMENT key is loaded and the payload
raises DEV_KEY_IN_USE at every boot: provision the key before flight.

Maintenance: once the application runs, the hardware watchdog cannot be stopped, so an
interrupt from the USB REPL (Ctrl-C, as mpremote sends) writes ``maint.flag`` and resets;
the next boot sees the flag, removes it and leaves the application and the watchdog off,
so the REPL is free for ``make deploy``.  The reset after the copy boots normally.
"""

import sys

import machine

from hal.compat import sleep_us

KEY_FILES = ("/flash/keys.txt", "keys.txt")
MAINT_FLAG = "maint.flag"
FAULT_DELAY_MS = 5000
# Load switches first (all off), storage, then the devices in the session power order
# (DESIGN §3.2: bias, camera/FSM, framer/comparator), the OBC link, the watchdog last.
INIT_ORDER = ("power", "storage", "bias", "fsm", "camera", "framer", "comparator", "link",
              "watchdog")


def log(msg):
    print("main: " + msg)


def _print_exc(e):
    pe = getattr(sys, "print_exception", None)
    if pe is not None:
        pe(e)
    else:
        log(repr(e))


def maintenance_requested():
    import os

    try:
        os.stat(MAINT_FLAG)
    except OSError:
        return False
    try:
        os.remove(MAINT_FLAG)
    except OSError:
        pass
    return True


def request_maintenance():
    try:
        f = open(MAINT_FLAG, "w")
        f.write("1\n")
        f.close()
    except OSError as e:
        log("cannot write %s: %r" % (MAINT_FLAG, e))


def load_keyring(paths=None):
    """(Keyring, source path or None for the development key)."""
    from flight.keys import KeyFileError, Keyring, parse_key_file

    for path in KEY_FILES if paths is None else paths:
        try:
            f = open(path)
        except OSError:
            continue
        try:
            text = f.read()
        finally:
            f.close()
        try:
            return Keyring(parse_key_file(text)), path
        except (KeyFileError, ValueError) as e:
            log("key file %s unusable (%s): DEVELOPMENT key loaded" % (path, e))
            return Keyring(), None
    log("no key file: DEVELOPMENT key loaded (public: bench only)")
    return Keyring(), None


def init_devices(board):
    """Call every device's init() in INIT_ORDER; returns the names that failed."""
    failed = []
    devs = []
    for name in INIT_ORDER:
        devs.append((name, getattr(board, name, None)))
        if name == "bias":
            for i, t in enumerate(board.temps):
                devs.append(("temp%d" % i, t))
    for name, dev in devs:
        init = getattr(dev, "init", None)
        if init is None:
            continue
        try:
            init()
        except Exception as e:  # the app's FDIR sees the device fail; keep booting
            log("init %s failed: %r" % (name, e))
            failed.append(name)
    return failed


def build_real_board():
    from hal.clock import RealClock
    from hal.real.board import BOARD_CONFIG, build

    return build(BOARD_CONFIG, clock=RealClock())


def run(build_board=build_real_board):
    """Build, boot and run the flight application; returns it after a REBOOT TC."""
    from flight.app import FlightApp

    board = build_board()
    init_devices(board)
    keyring, _ = load_keyring()
    app = FlightApp(board, keyring=keyring)
    app.boot()
    app.run()
    return app


def main(build_board=build_real_board, m=machine):
    if maintenance_requested():
        log("maintenance boot: application and watchdog off; reset to fly")
        return False
    try:
        try:
            run(build_board)
        except Exception as e:
            _print_exc(e)
            log("fatal error: reset in %d ms" % FAULT_DELAY_MS)
            sleep_us(FAULT_DELAY_MS * 1000)
    except KeyboardInterrupt:
        log("interrupted: rebooting into a maintenance boot")
        request_maintenance()
    m.reset()
    return True


if __name__ == "__main__":
    main()

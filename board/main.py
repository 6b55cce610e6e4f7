"""Boot entry of the payload computer: MicroPython runs ``main.py`` after ``boot.py``.

Builds the real board from the hal/real drivers (``hal.real.board.BOARD_CONFIG``),
initialises the devices in the safe order (load switches off first), loads the TC keys
from ``keys.txt`` on flash, and runs the flight application.  The application returns
after executing a REBOOT telecommand (its report sent): then ``machine.reset()``.  A
fatal error is printed on the USB REPL and the board resets after 5 s.

Keys: ``/flash/keys.txt`` (or ``keys.txt`` in the current directory), ``<key_id> <64 hex>``
per line, provisions the fail-secure key store (flight/keystore.py: two CRC slots on flash,
active and retired ids, floor mirrored in the RTC backup registers).  A damaged, truncated,
empty or garbage key file is ignored as a whole (the stored keys stay in force); with no
usable key at all the payload boots SAFE, accepts no TC and says so every housekeeping
period.  The public DEVELOPMENT key is loaded only when ``devkey.flag`` exists (written by
``make deploy --dev-key`` for a bench board) and no key file does: never as a fallback.

Maintenance: once the application runs, the hardware watchdog cannot be stopped, so an
interrupt from the USB REPL (Ctrl-C, as mpremote sends) writes ``maint.flag`` and resets;
the next boot sees the flag, removes it and leaves the application and the watchdog off,
so the REPL is free for ``make deploy``.  The reset after the copy boots normally.
"""

import sys

import machine

from hal.compat import sleep_us

KEY_FILES = ("/flash/keys.txt", "keys.txt")
DEV_FLAGS = ("/flash/devkey.flag", "devkey.flag")  # written by `tools/deploy.py --dev-key`
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


def read_key_file(paths=None, dev_allowed=False):
    """(keys or None, error text or None, path or None): the first key file that exists,
    checked as a whole by flight.keystore.check_key_file (no key file: all None)."""
    from flight.keystore import check_key_file

    for path in KEY_FILES if paths is None else paths:
        try:
            f = open(path, "rb")
        except OSError:
            continue
        try:
            raw = f.read()
        except OSError as e:
            return None, "%s unreadable: %r" % (path, e), path
        finally:
            f.close()
        keys, why = check_key_file(raw, dev_allowed)
        if why:
            log("key file %s unusable (%s): ignored" % (path, why))
            return None, "%s: %s" % (path, why), path
        return keys, None, path
    return None, None, None


def dev_key_flag(paths=None):
    """True when the board was provisioned for the bench (``deploy --dev-key``)."""
    import os

    for path in DEV_FLAGS if paths is None else paths:
        try:
            os.stat(path)
            return True
        except OSError:
            pass
    return False


def load_keystore(board, key_paths=None, flag_paths=None):
    """The fail-secure key store of ``board`` (its storage and backup registers) after
    merging the key file.  No usable key: the app boots SAFE and accepts no TC — never
    the development key as a fallback (docs/security.md)."""
    from flight.keystore import KeyStore

    dev = dev_key_flag(flag_paths)
    keys, why, path = read_key_file(key_paths, dev)
    ks = KeyStore(board.storage, getattr(board, "backup", None), dev_allowed=dev)
    ks.load(keys, why)
    if not ks.usable():
        log("NO USABLE TC KEY: SAFE, every TC rejected; provision keys.txt (make deploy)")
    elif ks.is_dev():
        log("DEVELOPMENT key in use (bench flag %s present): not for flight" % DEV_FLAGS[0])
    return ks


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

    board = build(BOARD_CONFIG, clock=RealClock())
    if getattr(board, "backup", None) is None:
        from hal.real.backup import Stm32BackupRegisters

        board.backup = Stm32BackupRegisters()
    return board


def run(build_board=build_real_board):
    """Build, boot and run the flight application; returns it after a REBOOT TC."""
    from flight.app import FlightApp

    board = build_board()
    init_devices(board)
    keyring = load_keystore(board)
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

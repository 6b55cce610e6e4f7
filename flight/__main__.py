"""Run the flight application as a process.

    python -m flight --board sim --uart PATH [--key-file F] [--state-dir DIR]
                     [--backup-file F] [--baud B] [--speed X] [--scenario NAME]
                     [--seed N] [--duration S]

``--board sim``: the simulated board, paced to the wall clock ×X, TC/TM COBS-framed on
the serial device PATH (a pty in tests, a USB-serial adapter on a bench).  Storage lives
in ``--state-dir`` so a restart keeps parameters, the anti-replay high-water mark, the
boot count and the event log.  ``--backup-file`` stands for the payload computer's
battery-backed backup registers (hal.interfaces.BackupRegisters): the anti-replay
generation mirrored outside the state directory, so a state directory rolled back to an
older copy is detected (docs/security.md).  Its default lies *beside* the state directory
(``DIR.backup``), never inside it; without ``--state-dir`` the registers live in RAM.  A REBOOT telecommand or a watchdog expiry restarts the
application in the same process, as the payload computer would.

This entry point is the only part of flight/ that touches a backend: it imports the
simulated HAL (which may use sim/) lazily, for --board sim.  On the payload computer the
entry point is board/main.py.
"""

import argparse
import sys


def _die(msg):
    print("python -m flight: error: %s" % msg, file=sys.stderr)
    sys.exit(2)


def backup_path(state_dir):
    """The default --backup-file: beside the state directory, not inside it."""
    import os

    d = os.path.normpath(state_dir)
    return d + ".backup"


def seeded_rng(seed):
    """The simulator's nonce source: reproducible when --seed is given (a run restarted
    with the same seed draws the same nonces: simulator only), else ``os.urandom`` as on
    the board."""
    import random

    if seed is None:
        return None

    r = random.Random("vector-nonce-%d" % seed)
    return lambda n: bytes(r.getrandbits(8) for _ in range(n))


def build_sim(args):
    from flight.keys import KeyFileError, Keyring, parse_key_file
    from hal.clock import PacedClock
    from hal.errors import BusError
    from hal.sim.backup import FileBackup, MemBackup
    from hal.sim.board import make_board
    from hal.sim.serial_link import SerialLink
    from hal.sim.storage import FileStorage, MemStorage

    if args.key_file:
        try:
            with open(args.key_file) as f:
                keyring = Keyring(parse_key_file(f.read()))
        except OSError as e:
            _die("cannot read key file %s: %s" % (args.key_file, e.strerror))
        except KeyFileError as e:
            _die("key file %s: %s" % (args.key_file, e))
    else:
        keyring = Keyring()  # DEVELOPMENT KEY: the app raises DEV_KEY_IN_USE at boot
    clock = PacedClock(speed=args.speed)
    try:
        link = SerialLink(args.uart, baud=args.baud, clock=clock)
    except BusError as e:
        _die(str(e))
    storage = FileStorage(args.state_dir) if args.state_dir else MemStorage()
    backup_file = args.backup_file
    if backup_file is None and args.state_dir:
        backup_file = backup_path(args.state_dir)
    backup = FileBackup(backup_file) if backup_file else MemBackup()
    world = None
    if args.scenario:
        try:
            from hal.sim.world import make_world
        except ImportError as e:
            _die("scenarios need the simulated payload physics (hal/sim/world.py): %s" % e)
        try:
            world = make_world(args.scenario, seed=args.seed if args.seed is not None else 1)
        except KeyError:
            _die("unknown scenario %r" % args.scenario)
    board = make_board(clock=clock, link=link, storage=storage, world=world, backup=backup,
                       rng=seeded_rng(args.seed))
    return board, keyring, world


def _adcs_relay(world):
    """The OBC's relay of the pointing feedback (APID 0x0A4 body) to the simulated ADCS."""
    def relay(b):
        world.adcs_feedback(bool(b.get("valid")), b["err_x_urad"] * 1e-6,
                            b["err_y_urad"] * 1e-6, bool(b.get("offload")),
                            b["fsm_x_urad"] * 1e-6, b["fsm_y_urad"] * 1e-6)
    return relay


def run(board, keyring, world=None, duration_s=None, log=None):
    """Boot and run the app; REBOOT and watchdog expiry restart it.  Returns the app."""
    from flight.app import FlightApp
    from hal.compat import ticks_diff

    cause = None
    clock = board.clock
    t_end = None if duration_s is None else clock.elapsed_us + int(duration_s * 1e6)
    while True:
        app = FlightApp(board, keyring=keyring)
        if world is not None:  # no OBC in this process: relay the ADCS feedback directly
            app.adcs_hook = _adcs_relay(world)
        app.boot(reset_cause=cause)
        if log:
            log("boot %d (%s)" % (app.boot_count, app.reset_cause))
        wd = board.watchdog
        sched = app.sched
        sched.running = True
        last_check = clock.now_us()
        while sched.running:
            sched.run_once()
            now = clock.now_us()
            if ticks_diff(now, last_check) >= 50000:
                last_check = now
                if wd.expired():
                    cause = "WATCHDOG"
                    break
                if world is not None and world.reset_requested:  # injected reset
                    world.reset_requested = False
                    cause = "HARD"
                    break
                if t_end is not None and clock.elapsed_us >= t_end:
                    return app
        else:
            cause = "SOFT"  # REBOOT telecommand: the scheduler stopped after the report
        if cause == "WATCHDOG" and log:
            log("watchdog expired: reset")
        wd.timeout_ms = None  # the reset disarms the hardware watchdog


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m flight", description=__doc__.splitlines()[1])
    ap.add_argument("--board", choices=["sim"], required=True,
                    help="backend: 'sim' (simulated payload); the real board boots board/main.py")
    ap.add_argument("--uart", required=True, help="serial device for TC/TM (e.g. a pty)")
    ap.add_argument("--key-file", help="TC keys, '<key_id> <64 hex>' per line "
                    "(default: the public DEVELOPMENT key)")
    ap.add_argument("--state-dir", help="directory of the board's non-volatile storage "
                    "(default: RAM, lost at exit)")
    ap.add_argument("--backup-file", help="the simulated backup registers (anti-replay "
                    "rollback detection; default: STATE_DIR.backup beside --state-dir)")
    ap.add_argument("--baud", type=int, default=None,
                    help="pace the TM line like the UART at this rate (8N1, board time; "
                    "default: as fast as the serial device takes it)")
    ap.add_argument("--speed", type=float, default=1.0, help="pace: simulated s per wall s")
    ap.add_argument("--scenario", help="simulator scenario to fly (e.g. nominal)")
    ap.add_argument("--seed", type=int, default=None,
                    help="scenario random seed (default 1), also seeds the anti-replay nonce")
    ap.add_argument("--duration", type=float, help="stop after this many simulated seconds")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    if not args.speed > 0:
        _die("--speed must be > 0")
    board, keyring, world = build_sim(args)
    log = None if args.quiet else (lambda m: print("flight: " + m, file=sys.stderr, flush=True))
    if log:
        log("simulated board on %s, speed x%g%s" % (args.uart, args.speed,
                                                     ", scenario " + args.scenario if args.scenario else ""))
    try:
        run(board, keyring, world, args.duration, log)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

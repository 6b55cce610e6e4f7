"""Fly one pass in closed loop: the real flight application on the simulated board.

The flight code runs unchanged (flight.app.FlightApp with its payload modules) on a
:class:`hal.clock.VirtualClock` whose step hook advances the physics of
:class:`hal.sim.world.World`.  This module plays the satellite's OBC: it sends the
authenticated telecommands of the scenario's timeline over the simulated UART (STANDBY,
SESSION_START, SESSION_END; again after a payload reset) and collects the telemetry.

The virtual clock charges the measured CPU time of each task to simulated time
(``charge_cpu``), so a slow task makes the next ones late exactly as on the board and
``deadline_misses`` means something.
"""

import sys
import time

from flight import cbor, ccsds, cobs
from flight.app import FlightApp
from flight.keys import DEV_KEY, DEV_KEY_ID, Keyring
from flight.tc import encode_tc
from hal.clock import VirtualClock
from hal.sim.board import make_board
from hal.sim.world import make_world

OP_SET_MODE = 0x03
OP_SESSION_START = 0x50
OP_SESSION_END = 0x51


class Obc:
    """The satellite bus side of the UART: sends TCs, collects TM."""

    def __init__(self, link):
        self.link = link
        self.counter = 0
        self.seq = 0
        self.deframer = cobs.Deframer(max_frame=65536)
        self.hk = []
        self.events = []
        self.reports = []
        self.adcs = 0
        self.sent = []

    def send(self, t, opcode, args=None):
        self.counter += 1
        self.seq = (self.seq + 1) & 0x3FFF
        pkt = encode_tc(DEV_KEY, DEV_KEY_ID, self.counter, opcode, args or {}, seq=self.seq)
        self.link.inject(cobs.encode(pkt) + b"\x00")
        self.sent.append((t, opcode, self.seq))

    def collect(self):
        for pkt in self.deframer.feed(self.link.take()):
            h, body = ccsds.parse_packet(pkt, ptype=ccsds.TYPE_TM)
            apid = h[ccsds.H_APID]
            obj = cbor.decode(body, max_items=100000, max_str=100000, max_depth=32)
            if apid == 0x0A1:
                self.hk.append(obj)
            elif apid == 0x0A2:
                self.events.append(obj)
            elif apid == 0x0A3:
                self.reports.append(obj)
            elif apid == 0x0A4:
                self.adcs += 1


class PassResult:
    def __init__(self, world, obc, apps, wall_s, sim_s, scenario):
        self.world = world
        self.obc = obc
        self.apps = apps  # every FlightApp instance of the run (one per boot)
        self.wall_s = wall_s
        self.sim_s = sim_s
        self.scenario = scenario


def fly(scenario="nominal", seed=1, overrides=None, progress=False, charge_cpu=True,
        app_hook=None, duration_s=None):
    """Fly one pass; returns a :class:`PassResult`."""
    world = make_world(scenario, seed=seed, **(overrides or {}))
    sc = world.scenario
    clock = VirtualClock(charge_cpu=charge_cpu)
    board = make_board(clock=clock, world=world)
    obc = Obc(board.link)
    t_session = sc["session_start_s"]
    t_pass_end = world.pass_start + world.duration_s
    t_end_session = t_pass_end + sc.get("end_margin_s", 5.0)
    t_stop = t_end_session + 2.0
    if duration_s is not None:
        t_stop = min(t_stop, duration_s)
    apps = []
    wall0 = time.perf_counter()

    def boot():
        app = FlightApp(board, keyring=Keyring())
        world.install(app)
        app.boot(reset_cause="POWER_ON" if not apps else "WATCHDOG")
        if app_hook is not None:
            app_hook(app)
        apps.append(app)
        return app

    app = boot()
    # OBC timeline: (time, opcode, args); re-planned after a payload reset.
    plan = [(1.0, OP_SET_MODE, {"mode": "STANDBY"}), (t_session, OP_SESSION_START, None),
            (t_end_session, OP_SESSION_END, None)]
    step_us = 100000
    last_pct = -1
    tty = progress and sys.stderr.isatty()
    while world.t < t_stop:
        while plan and plan[0][0] <= world.t + 1e-9:
            t, op, args = plan.pop(0)
            obc.send(world.t, op, args)
        app.run_for(step_us)
        obc.collect()
        if world.reset_requested or board.watchdog.expired() or app.reboot_requested:
            world.reset_requested = False
            board.watchdog.timeout_ms = None
            app = boot()
            if world.t < t_end_session:
                plan = [(world.t + 1.0, OP_SET_MODE, {"mode": "STANDBY"}),
                        (world.t + 1.5, OP_SESSION_START, None)] + \
                       [p for p in plan if p[1] == OP_SESSION_END]
        if progress:
            # On a terminal the bar redraws every 1 %; in a log, a line every 10 %.
            pct = int(100 * world.t / t_stop)
            if not tty:
                pct -= pct % 10
            if pct != last_pct:
                last_pct = pct
                _progress(pct, world, app, tty)
    if progress and tty:
        sys.stderr.write("\n")
    wall = time.perf_counter() - wall0
    return PassResult(world, obc, apps, wall, world.t, sc)


def _progress(pct, world, app, tty=True):
    apt = app.payload.get("apt")
    fc = app.payload.get("framer")
    from flight.apt import STATE_NAMES
    from flight.framer_ctl import LINK_NAMES

    bar = "#" * (pct // 4) + "." * (25 - pct // 4)
    sys.stderr.write("%s[%s] %3d%%  t=%6.1f s  el=%5.1f deg  %-7s apt=%-7s link=%-9s%s" % (
        "\r" if tty else "", bar, pct, world.t, world.elevation_deg(), app.modes.mode,
        STATE_NAMES[apt.state] if apt else "-", LINK_NAMES[fc.link] if fc else "-",
        "" if tty else "\n"))
    sys.stderr.flush()

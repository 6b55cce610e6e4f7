"""Fly one pass in closed loop: the real flight application on the simulated board.

The flight code runs unchanged (flight.app.FlightApp with its payload modules) on a
:class:`hal.clock.VirtualClock` whose step hook advances the physics of
:class:`hal.sim.world.World`.  This module plays the satellite's OBC: it sends the
authenticated telecommands of the scenario's timeline over the simulated UART (STANDBY,
SESSION_START, SESSION_END; again after a payload reset) and receives the telemetry.  Before
the session it uploads the ground-calibrated transmitter boresight, the mirror's measured
latency and the pass's point-ahead profile; around it, it forwards the navigation state
(NAV_STATE, 1 Hz) the payload computes the point-ahead from (sim/run/obcnav.py, issue 14).

What the runner knows of the flight software is what the OBC sees on that UART
(sim/run/tmview.py): housekeeping, events, verification reports and the ADCS feedback.
The **ADCS bridge** forwards each ADCS feedback packet (APID 0x0A4) to the simulated
platform at the instant the payload writes it - decoded from the TM stream rather than
through a hook inside the flight application, so it holds whatever path the flight code
uses to send it, and a packet dropped by the TM queue is lost to the ADCS too, as on the
satellite.  The **truth recorder** (sim/run/recorder.py) samples the world every camera
frame and framer window; the flight states are joined from TM afterwards.

Timing (issue 13): by default the virtual clock charges each task's *declared* cost
(sim/run/costmodel.py: guest instructions measured on the emulated Cortex-M7, at a stated
instruction rate), so a slow task makes the next ones late as on the board,
``deadline_misses`` means something, and the same seed gives the same pass bit for bit.
``charge_cpu=True`` (``--charge-cpu``) charges the host's measured CPU time instead (the
old behaviour: realistic only on an idle host, never reproducible).  ``ideal=True``
(``--ideal``) flies today's idealised world: no calibration errors, no charged cost.
"""

import functools
import sys
import time

from sim.run.costmodel import CostModel, send_after_compute

from flight import cobs
from flight.app import FlightApp
from flight.cmddict import BY_NAME, STANDBY
from flight.keys import DEV_KEY, DEV_KEY_ID, Keyring
from flight.tc import encode_tc
from hal.clock import VirtualClock
from hal.sim.board import make_board
from hal.sim.world import make_world
from sim.run import hostkernels
from sim.run.bore_ground import BoreScanGround
from sim.run.commission import commission
from sim.run.obcnav import NAV_LEAD_S, NavSender, boresight_args, latency_args, profile_args
from sim.run.recorder import FlightView, Recorder
from sim.run.tmview import (
    APID_ADCS,
    APID_EVENT,
    APID_HK,
    APID_HK_DIAG,
    APID_VERIFY,
    APT_STATES,
    LINK_STATES,
    TmTap,
    adcs_fields,
    diag_fields,
    hk_fields,
    packet_body,
)

OP_SET_MODE = BY_NAME["SET_MODE"].opcode
OP_SESSION_START = BY_NAME["SESSION_START"].opcode
OP_SESSION_END = BY_NAME["SESSION_END"].opcode
OP_PARAM_SET = BY_NAME["PARAM_SET"].opcode
OP_PARAM_SAVE = BY_NAME["PARAM_SAVE"].opcode
OP_PA_PROFILE = BY_NAME["PA_PROFILE"].opcode
# The OBC asks for the diagnostic housekeeping (per-task scheduler statistics, APID
# 0x0A5) every second: the metrics and plots read each task's counters from it.
DIAG_ON = (BY_NAME["PARAM_SET"].opcode, {"name": "hk_diag_period_s", "value": 1})


class Obc:
    """The satellite bus side of the UART: sends TCs, receives TM (with world time and the
    index of the boot that sent it)."""

    def __init__(self, link, world):
        self.link = link
        self.world = world
        self.counter = 0
        self.seq = 0
        self.boot = 0  # index of the running boot (the OBC powers the payload)
        self.hk = []  # (world t, boot, hk_fields dict)
        self.events = []  # (world t, boot, event map)
        self.reports = []
        self.adcs = 0
        self.undecoded = 0
        self.sent = []
        self.nav = None  # the NAV_STATE sender (sim/run/obcnav.py)

    def send(self, t, opcode, args=None, log=True):
        """One TC; ``log``: listed in ``sent`` (the report's timeline: not NAV_STATE)."""
        self.counter += 1
        self.seq = (self.seq + 1) & 0x3FFF
        pkt = encode_tc(DEV_KEY, DEV_KEY_ID, self.counter, opcode, args or {}, seq=self.seq)
        self.link.inject(cobs.encode(pkt) + b"\x00")
        if log:
            self.sent.append((t, opcode, self.seq))

    def on_packet(self, apid, pkt):
        t = self.world.t
        try:
            if apid == APID_HK:
                obj = hk_fields(pkt)
            elif apid == APID_HK_DIAG:
                obj = diag_fields(pkt)
            else:
                obj = packet_body(pkt)
        except Exception:  # a packet the OBC cannot decode is counted, not fatal
            self.undecoded += 1
            return
        if apid == APID_ADCS:
            self.adcs += 1
            self.adcs_bridge(obj)
        elif apid == APID_HK:
            self.hk.append((t, self.boot, obj))
        elif apid == APID_HK_DIAG:
            # Sent right after the housekeeping packet of the same tick: joined to it.
            if self.hk and self.hk[-1][1] == self.boot:
                self.hk[-1][2].update(obj)
        elif apid == APID_EVENT:
            self.events.append((t, self.boot, obj))
        elif apid == APID_VERIFY:
            self.reports.append(obj)

    def adcs_bridge(self, body):
        """The OBC relays the payload's pointing feedback to the platform ADCS."""
        self.world.adcs_feedback(*adcs_fields(body))

    def latest_hk(self):
        return self.hk[-1][2] if self.hk and self.hk[-1][1] == self.boot else None


class PassResult:
    def __init__(self, world, obc, apps, wall_s, sim_s, scenario, rec, boot_times,
                 cpu_s=None, cost=None):
        self.world = world
        self.cpu_s = cpu_s  # process CPU time of the run (speed on a loaded host)
        self.cost = cost  # the CostModel in use, or None (host CPU charged)
        self.obc = obc
        self.apps = apps  # every FlightApp instance of the run (one per boot); tests only
        self.wall_s = wall_s
        self.sim_s = sim_s
        self.scenario = scenario
        self.boot_times = boot_times  # simulated time at which each boot's clock read zero
        self.view = FlightView(obc, boot_times, sim_s)
        self.rec = rec.join(self.view)
        self.bore_scan = None  # the station's boresight scan (sim/run/bore_ground.py)
        self.commissioning = None  # the unit's commissioning pass (sim/run/commission.py)


def fly(scenario="nominal", seed=1, overrides=None, progress=False, charge_cpu=False,
        app_hook=None, duration_s=None, ideal=False, charge_cost=None, plan_hook=None,
        storage=None, py_kernels=False):
    """Fly one pass; returns a :class:`PassResult`.

    The APT's kernels run as their host builds (sim/run/hostkernels: the same arithmetic as
    the flight code's Python twins, bit for bit, ~2x faster a pass) unless ``py_kernels``
    (``--py-kernels``) or ``charge_cpu`` (which charges the twins' measured CPython time,
    as before the host builds).  The other arguments: :func:`_fly`."""
    restore = None if py_kernels or charge_cpu else hostkernels.install()
    try:
        res = _fly(scenario, seed, overrides, progress, charge_cpu, app_hook, duration_s,
                   ideal, charge_cost, plan_hook, storage, py_kernels)
        res.kernels = "python" if restore is None else "host"  # (metrics: sim_kernels)
        return res
    finally:
        if restore is not None:
            restore()


def _fly(scenario, seed, overrides, progress, charge_cpu, app_hook, duration_s, ideal,
         charge_cost, plan_hook, storage, py_kernels=False):
    """:func:`fly`'s pass, with the kernels as they are (``py_kernels``: the commissioning
    pass's too).

    ``charge_cpu``: charge host CPU time (not reproducible); otherwise the declared cost
    model, charged when ``charge_cost`` (default: unless ``ideal``; module docstring).
    ``plan_hook(world, t_session, t_end_session, obc)``: more OBC commands, [(time, opcode,
    args)] (``args`` a callable: computed when due, from ``obc``'s telemetry say).
    The scenario key ``commissioned`` (``--commissioned``) flies the unit's commissioning
    pass first and boots this one with its saved parameters (sim/run/commission.py).
    The key ``tick_send_us`` (``--tick-send``): the APT tick's compute before its mirror
    command on this board, µs (default the cost model's, sim/run/costmodel.py);
    ``boot_params`` (``--param``): {name: value} of flight parameters set at every boot;
    ``storage``: the flash to boot with instead (an earlier pass's: a unit's sessions in
    a row), else a fresh one."""
    if charge_cost is None:
        charge_cost = not ideal
    ov = dict(overrides or {})
    if ideal:
        ov["ideal"] = True
    comm = None
    if ov.get("commissioned") is not None and not ideal:
        comm = commission(functools.partial(fly, py_kernels=py_kernels), scenario, seed, ov,
                          charge_cpu=charge_cpu)
    send_us = ov.pop("tick_send_us", None)  # (the board's compute: the pass runner's, below)
    # flight parameters set at every boot, as PARAM_SET sets them (``--param``): checked
    # by sim/run/cli.py boot_params_from, again by Params.set here
    boot_params = ov.pop("boot_params", None) or {}
    world = make_world(scenario, seed=seed, **ov)
    rec = Recorder()
    world.recorder = rec
    sc = world.scenario
    clock = VirtualClock(charge_cpu=charge_cpu or charge_cost)
    obc = Obc(None, world)
    link = TmTap(world, obc.on_packet)
    obc.link = link
    board = make_board(clock=clock, world=world, link=link,
                       storage=storage if storage is not None
                       else comm.storage() if comm is not None else None)
    cost = None
    if not charge_cpu:
        cost = CostModel(clock)
        clock.cpu_now_us = cost.cpu_now_us
        world.account_physics = False  # (the declared cost replaces the measured CPU)
    t_session = sc["session_start_s"]
    t_pass_end = world.pass_start + world.duration_s
    t_end_session = t_pass_end + sc.get("end_margin_s", 5.0)
    t_stop = t_end_session + 2.0
    if duration_s is not None:
        t_stop = min(t_stop, duration_s)
    apps = []
    boot_times = []
    wall0 = time.perf_counter()
    cpu0 = time.process_time()

    def boot():
        obc.boot = len(apps)
        boot_times.append(clock.elapsed_us * 1e-6)  # the new app's uptime starts here
        app = FlightApp(board, keyring=Keyring())
        if cost is not None:
            cost.attach(app)
        app.boot(reset_cause="POWER_ON" if not apps else "WATCHDOG")
        for name, value in boot_params.items():
            app.params.set(name, value)
        if app_hook is not None:
            app_hook(app)
        apps.append(app)
        return app

    app = boot()
    if not world.ideal:  # (the APT's compute before its mirror command: the board's delay)
        send_after_compute(world, lambda: apps[-1], send_us)
    obc.nav = nav = NavSender(obc, world, (t_session - NAV_LEAD_S, t_end_session))
    ground = None  # the station's boresight scan (sim/run/bore_ground.py), when asked

    def profile():  # computed when sent: it needs the payload's clock (housekeeping)
        # (from now at the latest: after a payload reset its clock starts again at zero)
        return profile_args(world, obc, max(world.pass_start - 5.0, world.t), t_end_session)

    # Before the pass: the ground-calibrated TX boresight and the mirror's measured latency
    # (persisted) and the point-ahead profile; the idealised world has no point-ahead: its
    # default is set to zero.  A commissioned unit has them in its saved parameters (its
    # boresight from the scan).
    if world.ideal:
        pre = [(1.2, OP_PARAM_SET, {"name": "pa_default_x_urad", "value": 0.0})]
    else:
        pre = []
        if comm is None:
            bore = boresight_args(world)
            cal = bore + latency_args(world)
            pre = [(1.2 + 0.1 * i, OP_PARAM_SET, a) for i, a in enumerate(cal)]
            if sc.get("bore_scan") is not None:
                ground = BoreScanGround(world, obc, boot_times, [a["value"] for a in bore],
                                        sc["bore_scan"])
            pre += [(1.2 + 0.1 * len(cal), OP_PARAM_SAVE, None)]
        if sc.get("pa_profile", True):
            pre += [(2.0, OP_PA_PROFILE, profile)]
    # OBC timeline: (time, opcode, args); re-planned after a payload reset.
    plan = [(0.5,) + DIAG_ON, (1.0, OP_SET_MODE, {"mode": STANDBY})] + pre + \
           [(t_session, OP_SESSION_START, None), (t_end_session, OP_SESSION_END, None)]
    hooked = plan_hook(world, t_session, t_end_session, obc) if plan_hook is not None else []
    plan = sorted(plan + hooked, key=lambda e: e[0])
    step_us = 100000
    last_pct = -1
    tty = progress and sys.stderr.isatty()
    while world.t < t_stop:
        while plan and plan[0][0] <= world.t + 1e-9:
            t, op, args = plan.pop(0)
            if callable(args):
                args = args()
                if args is None:  # not computable yet: skipped (counted by the tests)
                    continue
            obc.send(world.t, op, args)
        nav.tick(world.t)
        if ground is not None:
            ground.tick(world.t)
        # (a chunk ends just past a fault, so that a reset takes effect at its time: the
        # chunk's end moved with the ticks' phase, a reset up to 100 ms late, stop 60)
        nf = world.next_fault_s()
        app.run_for(step_us if nf is None or nf - world.t >= 0.1 else
                    max(1, int((nf - world.t) * 1e6) + 1))
        if world.reset_requested or board.watchdog.expired() or app.reboot_requested:
            world.reset_requested = False
            board.watchdog.timeout_ms = None
            app = boot()
            if world.t < t_end_session:
                again = [(world.t + 1.2, OP_PA_PROFILE, profile)] \
                    if not world.ideal and sc.get("pa_profile", True) else []
                # The boresight's upload and its PARAM_SAVE not all done before the reset:
                # all of it again (a value set but not saved is lost with the reset; until
                # stop 64 a reset in the first 1.4 s flew the pass on the default
                # boresight, 15.6 µrad off on nominal seed 2).
                if any(p is q for p in plan for q in pre):  # (as first planned, after STANDBY)
                    again += [(world.t + 1.1 + (q[0] - pre[0][0]), q[1], q[2])
                              for q in pre if q[1] != OP_PA_PROFILE]
                plan = sorted([(world.t + 0.5,) + DIAG_ON,
                               (world.t + 1.0, OP_SET_MODE, {"mode": STANDBY})] + again +
                              [(world.t + 1.5, OP_SESSION_START, None)] +
                              [p for p in plan if p[1] == OP_SESSION_END or
                               any(p is h for h in hooked)],  # (the hook's, still due)
                              key=lambda e: e[0])
        if progress:
            # On a terminal the bar redraws every 1 %; in a log, a line every 10 %.
            pct = int(100 * world.t / t_stop)
            if not tty:
                pct -= pct % 10
            if pct != last_pct:
                last_pct = pct
                _progress(pct, world, obc.latest_hk(), tty)
    if progress and tty:
        sys.stderr.write("\n")
    t_end = world.t
    # The scheduler counters the metrics read come with housekeeping (1 Hz): wait for one
    # more report of the running boot so the last second is counted too.  The truth is no
    # longer recorded: the pass ended at t_end.
    rec.enabled = False
    n_hk = len(obc.hk)
    while len(obc.hk) == n_hk and world.t < t_end + 2.0:
        app.run_for(10000)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    res = PassResult(world, obc, apps, wall, t_end, sc, rec, boot_times, cpu_s=cpu, cost=cost)
    res.bore_scan = ground.result if ground is not None else None
    res.commissioning = comm.summary if comm is not None else None
    return res


def _progress(pct, world, hk, tty=True):
    """Progress line from the last housekeeping the OBC received (1 Hz)."""
    def name(names, i):
        return names[i] if hk is not None and 0 <= i < len(names) else "-"

    bar = "#" * (pct // 4) + "." * (25 - pct // 4)
    sys.stderr.write("%s[%s] %3d%%  t=%6.1f s  el=%5.1f deg  %-7s apt=%-7s link=%-9s%s" % (
        "\r" if tty else "", bar, pct, world.t, world.elevation_deg(),
        (hk or {}).get("mode") or "-", name(APT_STATES, (hk or {}).get("apt_state", -1)),
        name(LINK_STATES, (hk or {}).get("link", -1)), "" if tty else "\n"))
    sys.stderr.flush()

"""The flight application: wires scheduler, telecommand/telemetry, modes, parameters,
events and the payload modules onto one HAL board (DESIGN §3).

Core tasks (periods are parameters of construction): ``tc`` (20 ms, critical: drain the
UART, deframe, verify, dispatch; events → TM), ``health`` (100 ms, critical: limits/FDIR,
session sequencing, time-tagged commands), ``hk`` (20 ms: the housekeeping packet every
1000 ms in six steps: collect and encode in halves, send, event log to flash).

Every command, event, parameter and housekeeping field is declared by the module that
owns it (flight/components.py lists them); the app builds its tables from those
declarations, registers the command owners with the dispatcher and checks the binding
at boot (``Dispatcher.verify``; the boot's code is flight/app_boot.py, not held after).  Payload modules are added by flight.payload
with ``add_module``: a module may have ``tasks()``, ``hk(values, i)``, the ``cmd_*``
handlers of its dictionary entries, ``check_command(cmd, args)`` and the mode hooks of
:mod:`flight.modes`; it sees the rest only through its flight.context.Context.
"""

from flight import corecmds
from flight.cmddict import SESSION
from hal.compat import const
from flight.events import SEV_ERROR, SEV_INFO, Event
from flight import lazy
from flight.lazy import EV_BUFFER_ALLOC_FAILED, EV_MODULE_LOAD_FAILED
from flight.params import EV_STORAGE_ERROR, ParamDef
from flight.telemetry import HkField
from flight.tm import APID_ADCS, APID_EVENT, APID_HK, APID_HK_DIAG, MapPacker

HK_STEP_US = const(20000)  # housekeeping step spacing (see _task_hk)
# collect and encode each in halves (each ~240 k instructions whole: 4.8 ms at 50 M, an APT
# frame late behind it; docs/firmware.md §4), send, event log
HK_STEPS = const(6)
RESET_CAUSES = ("POWER_ON", "WATCHDOG", "SOFT", "HARD", "OTHER")  # hal.interfaces RESET_*

EV_BOOT = const(0x01)
EV_EVENTS_DEFERRED = const(0x04)

# The core component's events: the app's own and those of its commands (corecmds).
EVENTS = (
    Event(EV_BOOT, "BOOT", SEV_INFO, "payload software started (reset cause, version)",
          (("boot_count", "int"),)),
    Event(EV_EVENTS_DEFERRED, "EVENTS_DEFERRED", SEV_ERROR,
          "events were emitted while the heap was exhausted: held without allocating and "
          "queued late, stamped with the time they were queued", (("count", "int"),)),
    Event(EV_MODULE_LOAD_FAILED, "MODULE_LOAD_FAILED", SEV_ERROR,
          "code loaded on first use (flight/lazy.py) could not be imported: heap "
          "exhausted (the module in the text); what needed it is refused or skipped"),
    Event(EV_BUFFER_ALLOC_FAILED, "BUFFER_ALLOC_FAILED", SEV_ERROR,
          "a buffer allocated when its phase begins (flight/lazy.py) found no block in the "
          "heap (the buffer in the text; 1st, 101st, ... time): retried at the next run"),
) + corecmds.EVENTS

PARAMS = (
    ParamDef("temp_max_c", "float", 60.0, -40.0, 125.0, "degC",
             "payload temperature above which autonomy goes to SAFE"),
    ParamDef("temp_min_c", "float", -20.0, -60.0, 40.0, "degC",
             "payload temperature below which autonomy goes to SAFE"),
    ParamDef("current_max_ma", "int", 1500, 10, 5000, "mA",
             "load-switch current above which autonomy goes to SAFE"),
    ParamDef("limit_persist", "int", 3, 1, 50, "checks",
             "consecutive out-of-limit checks (100 ms each) before SAFE"),
    ParamDef("tm_events_per_tick", "int", 4, 1, 32, "",
             "event packets sent per tc tick (20 ms)"),
    ParamDef("hk_diag_period_s", "int", 0, 0, 3600, "s",
             "diagnostic housekeeping (APID 0x0A5) period, in housekeeping ticks (1 s); "
             "0: only on HK_DIAG_REQUEST"),
)

HK = (
    HkField("time", "u32", "s", description="onboard time, whole seconds (+ time_ms)"),
    HkField("time_ms", "u16", "ms", description="onboard time, milliseconds part"),
    HkField("uptime", "u32", "s", scale=0.01, description="time since boot"),
    HkField("boot_count", "u16",
            description="boots since the boot record was created (saturates at 65535)"),
    HkField("reset_cause", "u8", enum=RESET_CAUSES, description="cause of the last reset"),
    HkField("storage_errors", "u16", alarm=(0, 0), description="flash read/write failures"),
    HkField("limit_violations", "u16", warn=(0, 0), description="limit-triggered SAFE entries"),
    HkField("events_dropped", "u16", warn=(0, 0), description="events lost: event ring full"),
    HkField("events_undeclared", "u8", alarm=(0, 0), description="emits of undeclared ids"),
    HkField("hk_errors", "u8", alarm=(0, 0), description="hk() fill methods that raised"),
)

HK_DIAG = HK[:3] + (  # time, time_ms, uptime: the diagnostic packet carries its own time
    # The persistent event log's faults (flight/events.py): each of its own kind.
    HkField("evlog_write_errors", "u16", warn=(0, 0),
            description="event-log flushes that failed (entries kept pending, retried)"),
    HkField("evlog_lost", "u16", warn=(0, 0),
            description="WARN+ events not persisted: backlog full while flash failed"),
    HkField("evlog_salvaged", "u16", warn=(0, 0),
            description="event-log copies read back damaged: their standing entries kept"),
    HkField("limit_monitor_errors", "u16", alarm=(0, 0),
            description="power monitor reads that failed (LIMIT_MONITOR_ERROR)"),
)


class FlightApp:
    def __init__(self, board, keyring=None, tc_period_us=20000, health_period_us=100000,
                 hk_period_us=1000000, watchdog_timeout_ms=2000, install_payload=True):
        # The parts' classes are imported here, not at module level: a module global is
        # a slot held for ever in the module's dictionary (~8 B each, issue 11).
        from flight import components  # (boot only: released once wired, flight/app_boot.py)
        from flight.cobs import Deframer
        from flight.cmddict import Dispatcher
        from flight.context import Context
        from flight.events import EventLog, table
        from flight.keystore import BackupMirror, adopt
        from flight.limits import LimitCheck
        from flight.modes import ModeManager
        from flight.params import Params
        from flight.replay import ReplayGuard
        from flight.scheduler import Scheduler, Task
        from flight.tc import MAX_TC_LEN, MIN_TC_LEN, TcPipeline
        from flight.tclimit import TcLimits
        from flight.telemetry import HkPacker
        from flight.timetag import TimeTagQueue
        from flight.tm import TmSender
        from flight.uptime import Uptime
        from hal.compat import heap_size
        self.board = board
        self.clock = board.clock
        self.storage = board.storage
        self._time = Uptime(self.clock)  # uptime and the SET_TIME offset, in integers
        self.events = EventLog(self.now_s, storage=self.storage,
                               decl=table(components.declared("EVENTS")))
        self.params = Params(self.storage, emit=self.emit, storage_error=self.storage_error)
        for name, decl in components.declared("PARAMS"):
            self.params.declare(decl, name)
        # Keys and anti-replay marks fail secure (docs/security.md): the key store and the
        # replay guard share the backup registers (battery-backed on the board, a file
        # beside the state directory in the simulator) that mirror their generations.
        backup = BackupMirror(getattr(board, "backup", None))
        self.keyring = adopt(keyring, self.storage, backup, self.emit)
        # (the key store's mirror: one count of the registers' failures, even when
        # board/main.py built the key store before the application)
        self.replay = ReplayGuard(self.storage, self.keyring.mirror, self.emit,
                                  getattr(board, "rng", None))
        self.limits = TcLimits(self.emit, self.clock.now_us, MIN_TC_LEN)
        self.tm = TmSender(board.link, emit=self.emit)
        self.modes = ModeManager(board.power, self.emit, self.now_s)
        self.limit_check = LimitCheck(board, self.params, self.modes, self.emit)
        self._check_limits = self.limit_check.check  # (bound once: no frame of its own)
        self.dispatch = Dispatcher()
        self.tc = TcPipeline(self.dispatch, self.keyring, self.replay, self.tm,
                             self._mode, self.emit, self.storage_error)
        self.timetags = TimeTagQueue(self.params["timetag_capacity"], self.dispatch,
                                     self.now_s, self.emit, self.storage, self.storage_error,
                                     self._tc_key_id)
        self.params.listeners.append(self._param_changed)
        self.sched = Scheduler(self.clock, watchdog=board.watchdog,
                               on_event=self.emit, on_safe=self._critical_fault)
        # Collections at chosen moments (DESIGN §3.1): outside SESSION whenever half the
        # heap is used, on entering SESSION once, during a pass only at the floor.
        self.sched.gc_quiet = self._apt_may_run
        self.sched.gc_relaxed = heap_size() // 2
        self._last_mode = None
        self.modes.on_session = self._session_started
        self.deframer = Deframer(max_frame=MAX_TC_LEN)
        self.tc.deframer = self.deframer
        self.deframer.screen = self.tc.screen  # garbage rejected in place (0 B, flight/tc.py)
        self.tc.limit = self.limits.summary
        self.tc.repeat = self.repeat
        # Bound methods cached once: taking one allocates on MicroPython (tc/hk tasks: 0 B)
        self._repeat = self.repeat
        self._uptime = self.uptime_s
        self._process_tc = self.tc.process
        self._rx = bytearray(256)
        self.ctx = Context(self.params, self.emit, self.now_s, self.modes.request,
                           self.send_adcs)
        self.modules = self.modes.modules  # the payload modules (one list: the mode manager's)
        self.boot_count = 0
        self.reset_cause = "POWER_ON"
        self.reboot_requested = False
        self.adcs_hook = None  # the simulated OBC/ADCS listens here (hal/sim/world.py)
        self.storage_errors = 0
        self._diag_ticks = 0
        self.diag_requested = False  # HK_DIAG_REQUEST: sent at the end of the tc tick
        # A tc tick whose frames spent its time sends no event; the next sends one first
        # (_task_tc: a flood delays events by a tick, never starves them, and no run
        # pays for both a frame begun at the budget's end and an event after it).
        self._events_owed = False
        self.watchdog_timeout_ms = watchdog_timeout_ms
        self.sched.add(Task("tc", tc_period_us, self._task_tc, budget_us=tc_period_us // 2,
                            critical=True))
        self.sched.add(Task("health", health_period_us, self._task_health, offset_us=5000,
                            budget_us=health_period_us // 4, critical=True))
        # Housekeeping in steps (collect, encode, send, event log) HK_STEP_US apart: one
        # packet every hk_period_us, no run longer than a step (DESIGN §3.1 budgets).
        step = HK_STEP_US if hk_period_us >= HK_STEPS * HK_STEP_US else hk_period_us // HK_STEPS
        self._hk_steps = hk_period_us // step
        self._hk_step = 0
        self.sched.add(Task("hk", step, self._task_hk, offset_us=7000, budget_us=step // 2))
        # The command owners, held once: the dispatcher's own dict (checked at boot)
        self.dispatch.owners = {"core": corecmds.CoreCommands(self), "scheduler": self.sched,
                                "tc": self.tc, "timetag": self.timetags, "params": self.params,
                                "modes": self.modes, "tm": self.tm, "keys": self.keyring,
                                "replay": self.replay, "tclimit": self.limits}
        self._wired = False
        self._adcs_packer = None  # the declared ADCS feedback map (at boot)
        self.hk_packer = HkPacker([])  # the declared sets, built at boot (flight/app_boot.py)
        self.hk_diag_packer = HkPacker([])
        if install_payload:
            from flight import payload

            payload.install(self)
            lazy.release("flight.payload")  # boot-only wiring: not held after (issue 11)

    # ------------------------------------------------------------------ plumbing
    def emit(self, ev_id, args=None, detail=""):
        return self.events.emit(ev_id, args, detail)

    def repeat(self, ev_id, args=None, detail=""):
        """Emit a repeat of an event at INFO: sent, never persisted (periodic repeats and
        what unauthenticated input can trigger must not flush the persistent log)."""
        return self.events.emit_sev(SEV_INFO, ev_id, args, detail)

    def _mode(self):
        return self.modes.mode

    def uptime_s(self):
        return self._time.uptime_s()

    @property
    def time_offset(self):  # set by SET_TIME (flight/uptime.py keeps it split)
        return self._time.offset

    @time_offset.setter
    def time_offset(self, x):
        self._time.set_offset(x)

    def now_s(self):
        """Onboard time: uptime plus the offset set by SET_TIME."""
        return self.uptime_s() + self.time_offset

    def add_module(self, name, m):
        """A payload module: owner ``name`` of its commands, HK and events (before boot)."""
        self.modes.add_module(m)  # (appended to self.modules: the same list)
        self.dispatch.owners[name] = m
        tasks = getattr(m, "tasks", None)
        if tasks is not None:
            for t in tasks():
                self.sched.add(t)

    @property
    def payload(self):
        """{name: payload module} (built on each read: the simulator, tests)."""
        return {n: m for n, m in self.dispatch.owners.items() if m in self.modules}

    def send_adcs(self, values):
        """Pointing feedback for the platform ADCS (APID 0x0A4, relayed by the OBC)."""
        if isinstance(values, MapPacker):  # the module's own encoded map (apt_feedback)
            body = values.buf
        elif self._adcs_packer is not None:
            body = self._adcs_packer.pack(values)
        else:
            body = None
        if body is None:
            self.tm.send(APID_ADCS, values)
        else:  # the declared fields, encoded in place (no allocation per packet)
            self.tm.send_raw(APID_ADCS, body)
        hook = self.adcs_hook
        if hook is not None:
            hook(values)

    def _tc_key_id(self):
        """The key id of the TC being executed (its TIMETAG entry keeps it)."""
        return self.replay.auth[0]

    def storage_error(self, what, e):
        self.storage_errors += 1
        self.emit(EV_STORAGE_ERROR, [self.storage_errors], "%s: %r" % (what, e))

    def _param_changed(self, name, value):
        if name is None or name == "timetag_capacity":
            self.timetags.set_capacity(self.params["timetag_capacity"])

    def _critical_fault(self, task):
        # The core's causes are literals (no heap, no table held): the fault may be a
        # MemoryError with the heap exhausted, and SAFE must be entered all the same.
        name = task.name
        if name == "tc" or name == "health":
            cause = "critical task tc fault" if name == "tc" else "critical task health fault"
        else:
            try:
                cause = "critical task %s fault" % name
            except MemoryError:
                cause = "critical task fault"
        self.modes.enter_safe(cause)

    # ------------------------------------------------------------------ boot
    def boot(self, reset_cause=None):
        """Wire (the boot check, the housekeeping packers), restore the stored state and
        start: flight/app_boot.py, loaded for it (flight/lazy.py) and released after."""
        m = lazy.load("flight.app_boot", self.emit)
        try:
            m.boot(self, reset_cause)
        finally:
            lazy.done("flight.app_boot")  # boot code: not held in a pass (issue 11)

    def run_for(self, duration_us):
        self.sched.run_for(duration_us)

    def run(self):
        """Run until a REBOOT is requested (the board entry then resets)."""
        self.sched.run_forever()

    # ------------------------------------------------------------------ tasks
    def _task_tc(self):
        link = self.board.link
        budget = self.limits.budget
        budget.start()
        # busy: work done since start() -- only then can the budget be spent (a quiet tick
        # reads nothing and skips the budget's clock checks: ~10 k instructions a tick)
        busy = self._events_owed
        if busy:  # (the last tick's frames spent its time: events first)
            self._events_owed = False
            self._drain_events(1)
        if link is not None:
            # Bounded work per tick (frames that may need a MAC, and time: flight/tclimit.py):
            # a flood cannot starve the other tasks or trip the watchdog.  Once the budget
            # is spent the rest waits in the UART's buffer (a burst of genuine TCs is only
            # delayed; what overflows the UART in a flood is lost there); the frames of the
            # read in progress wait in a small backlog, or are dropped and counted.
            process = self._process_tc
            if budget.pending():
                budget.run(process)
                busy = True
            got = 0
            while got < 1024 and not (busy and budget.exhausted()):  # ~51 kB/s, > any bus
                try:
                    n = link.read_into(self._rx)
                except Exception as e:
                    self.tc.uart_error(e)
                    break
                if not n:
                    break
                got += n
                busy = True
                for pkt in self.deframer.feed(self._rx, n):  # in place: no slice
                    budget.offer(pkt, process)
        if self.diag_requested:
            self.diag_requested = False
            self.send_hk_diag()
        if busy and budget.over_time():
            # The frames spent the tick's time (the one begun at its end, a MAC: up to
            # ~160 k instructions past it): an event now too made runs of 550-630 k
            # under the target bench's flood, over half the APT period.  Next tick.
            self._events_owed = self.events.pending() > 0
        elif self.events.pending():  # (none: no parameter lookup, no drain's calls)
            self._drain_events(self.params["tm_events_per_tick"])
        tm = self.tm
        if tm._queue:  # (pump's own test, here: a quiet tick's call less, ~1 k instructions;
            tm.pump()  # an attribute more on the TM object grew its map by ~800 B)
        if self.reboot_requested and self.tm.queued_bytes() == 0 and not self.events.pending():
            self.events.flush()  # the warnings before a reboot (its own) must survive it
            self.sched.stop()

    def _drain_events(self, n):
        ev = self.events
        while n > 0:
            e = ev.pop()
            if ev.released:  # events held while the heap was exhausted are queued now
                k = ev.released
                ev.released = 0
                self.emit(EV_EVENTS_DEFERRED, [k], "")
            if e is None:
                return
            self.tm.send(APID_EVENT, ev.to_map(e))
            n -= 1
            if self.limits.budget.over_time():  # (one a tick at least: ~0.1 M instr each)
                return

    def _session_started(self):
        """Each session's start (ModeManager.on_session, however fast the modes flip):
        the tasks their faults disabled run again, each a TASK_RETRIED
        (flight/scheduler_telemetry.py ``retry_disabled``; design.md §3.1)."""
        from flight.scheduler_telemetry import retry_disabled  # (once a session: no global)
        retry_disabled(self.sched, self.emit)

    def _apt_may_run(self):
        return self.modes.mode == SESSION

    def _task_health(self):
        mode = self.modes.mode
        if mode != self._last_mode:
            self._last_mode = mode
            if mode == SESSION:
                self.sched.request_gc()  # a pass starts with the whole heap free
        self.modes.tick()
        self._check_limits()
        if len(self.timetags):  # reading the time makes a float: only when one is queued
            self.timetags.run_due(self.tc, self.modes.mode)

    @property
    def limit_violations(self):
        return self.limit_check.violations

    def _task_hk(self):
        k = self._hk_step
        self._hk_step = k + 1 if k + 1 < self._hk_steps else 0
        if k < 2:
            self.hk_packer.collect(k, 2)  # every owner's fields, in two halves 20 ms apart
        elif k < 4:
            self.hk_packer.encode(k - 2, 2)
        elif k == 4:
            self.tm.send_raw(APID_HK, self.hk_packer.buf)
            period = self.params["hk_diag_period_s"]
            if period:
                # Counted in housekeeping packets (1 s): a diagnostic packet right after
                # every period-th housekeeping packet, never drifting against it.
                self._diag_ticks += 1
                if self._diag_ticks >= period:
                    self._diag_ticks = 0
                    self.send_hk_diag()
        elif k == 5:
            self.keyring.hk_tick(self._repeat)  # NO_USABLE_KEY again while there is no key
            self.replay.hk_tick(self._repeat)  # COUNTER_RESYNC_NEEDED again while resyncing
            self.limits.summary.end_interval(self._uptime)  # rejections of the interval
            self.events.flush()

    def send_hk_diag(self):
        """Send one diagnostic housekeeping packet (APID 0x0A5); its body octets (its
        values and buffer made for it, not held: a long packet allocates anyway)."""
        p = self.hk_diag_packer
        p.values = [0] * p.n
        p.buf = bytearray(p.size)
        body = p.pack()
        self.tm.send_raw(APID_HK_DIAG, body)
        p.values = p.buf = None  # type: ignore[assignment]
        return len(body)

    def hk(self, values, i):
        """The core's own housekeeping fields (:data:`HK`)."""
        rc = self.reset_cause
        self._time.fill(values, i)  # time, time_ms, uptime
        values[i + 3] = self.boot_count
        values[i + 4] = RESET_CAUSES.index(rc) if rc in RESET_CAUSES else len(RESET_CAUSES) - 1
        values[i + 5] = self.storage_errors
        values[i + 6] = self.limit_violations
        values[i + 7] = self.events.dropped
        values[i + 8] = self.events.undeclared
        values[i + 9] = self.hk_packer.errors

    def hk_diag(self, values, i):
        """The diagnostic set (:data:`HK_DIAG`): time fields in integers (no float),
        then the persistent event log's counters and the limit check's monitor errors."""
        self._time.fill(values, i)
        ev = self.events
        values[i + 3] = ev.persist_errors
        values[i + 4] = ev.persist_dropped
        values[i + 5] = ev.persist_salvaged
        values[i + 6] = self.limit_check.monitor_errors

    # ------------------------------------------------------------------ snapshot
    def snapshot(self):
        """All state a TC may change (rejection tests compare it before and after)."""
        return {
            "mode": self.modes.mode,
            "params": self.params.snapshot(),
            "replay": dict(self.replay.hwm),
            "key_id": self.keyring.active,
            "time_offset": self.time_offset,
            "timetags": self.timetags.snapshot(),
            "reboot_requested": self.reboot_requested,
            "power": [self.board.power.get(i) for i in range(5)] if self.board.power else [],
            "storage": self.storage.snapshot() if hasattr(self.storage, "snapshot") else None,
            "modules": [m.snapshot() for m in self.modules if hasattr(m, "snapshot")],
        }

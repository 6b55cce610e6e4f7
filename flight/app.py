"""The flight application: wires scheduler, telecommand/telemetry, modes, parameters,
events and the payload modules onto one HAL board (DESIGN §3).

Core tasks (periods are parameters of construction):

=========  ========  ========  =====================================================
task       period    critical  what
=========  ========  ========  =====================================================
tc         20 ms     yes       drain UART, deframe, verify, dispatch; events → TM
health     100 ms    yes       limits/FDIR, session sequencing, time-tagged commands
hk         1000 ms   no        housekeeping packet; event log to flash
=========  ========  ========  =====================================================

Payload modules (APT, SiPM bias, comparator, framer: the control issue) are added with
``add_module``; a module may have ``tasks()`` (Tasks to schedule), ``hk(d)`` (fill
housekeeping), ``handlers`` (command name → fn(args) -> (ok, reason, result)),
``busy(cmd, args)`` (-> text or None), ``define_params(params)``, and the mode hooks of
:mod:`flight.modes`.
"""

import gc

from flight import cbor, cmddict, events
from flight.cmddict import SAFE, SESSION, STANDBY
from flight.cobs import Deframer
from hal.compat import ticks_diff
from flight.events import EventLog
from flight.keys import Keyring
from flight.modes import ModeManager
from flight.params import Params
from flight.scheduler import Scheduler, Task
from flight.slotstore import SlotStore
from flight.tc import ReplayGuard, TcPipeline
from flight.timetag import TimeTagQueue
from flight.tm import APID_ADCS, APID_EVENT, APID_HK, TmSender

VERSION = "0.1.0"
RESET_CAUSES = ("POWER_ON", "WATCHDOG", "SOFT", "HARD", "OTHER")


def define_core_params(p):
    p.define("temp_max_c", "float", 60.0, -40.0, 125.0, "degC",
             "payload temperature above which autonomy goes to SAFE")
    p.define("temp_min_c", "float", -20.0, -60.0, 40.0, "degC",
             "payload temperature below which autonomy goes to SAFE")
    p.define("current_max_ma", "int", 1500, 10, 5000, "mA",
             "load-switch current above which autonomy goes to SAFE")
    p.define("limit_persist", "int", 3, 1, 50, "checks",
             "consecutive out-of-limit checks (100 ms each) before SAFE")
    p.define("timetag_capacity", "int", 16, 1, 64, "", "time-tagged command queue length")
    p.define("tm_events_per_tick", "int", 4, 1, 32, "",
             "event packets sent per tc tick (20 ms)")


class FlightApp:
    def __init__(self, board, keyring=None, tc_period_us=20000, health_period_us=100000,
                 hk_period_us=1000000, watchdog_timeout_ms=2000, install_payload=True):
        self.board = board
        self.clock = board.clock
        self.storage = board.storage
        self._t_last = self.clock.now_us()
        self._uptime_us = 0
        self.time_offset = 0.0
        self.events = EventLog(self.now_s, storage=self.storage)
        self.params = Params(self.storage)
        define_core_params(self.params)
        self.keyring = keyring if keyring is not None else Keyring()
        self.replay = ReplayGuard(self.storage)
        self.tm = TmSender(board.link)
        self.tc = TcPipeline(self)
        self.modes = ModeManager(board.power, self.emit, self.now_s)
        self.timetags = TimeTagQueue(16)
        self.sched = Scheduler(self.clock, watchdog=board.watchdog,
                               on_event=self._sched_event, on_safe=self._critical_fault)
        self.deframer = Deframer(max_frame=1024)
        self._rx = bytearray(256)
        self.modules = []
        self.handlers = {}
        self.boot_count = 0
        self.reset_cause = "POWER_ON"
        self.reboot_requested = False
        self.adcs_hook = None  # the simulated OBC/ADCS listens here (hal/sim/world.py)
        self.auth_failures = 0
        self.storage_errors = 0
        self.limit_violations = 0
        self._limit_count = 0
        self.watchdog_timeout_ms = watchdog_timeout_ms
        self._boot_store = SlotStore(self.storage, "boot") if self.storage is not None else None
        self.sched.add(Task("tc", tc_period_us, self._task_tc, budget_us=tc_period_us // 2,
                            critical=True))
        self.sched.add(Task("health", health_period_us, self._task_health, offset_us=5000,
                            budget_us=health_period_us // 4, critical=True))
        self.sched.add(Task("hk", hk_period_us, self._task_hk, offset_us=7000,
                            budget_us=hk_period_us // 10))
        self.payload = {}
        if install_payload:
            from flight import payload

            payload.install(self)

    # ------------------------------------------------------------------ plumbing
    def emit(self, sev, ev_id, text="", args=None):
        return self.events.emit(sev, ev_id, text, args)

    def uptime_s(self):
        now = self.clock.now_us()
        self._uptime_us += ticks_diff(now, self._t_last)
        self._t_last = now
        return self._uptime_us / 1000000

    def now_s(self):
        """Onboard time: uptime plus the offset set by SET_TIME."""
        return self.uptime_s() + self.time_offset

    def add_module(self, m):
        self.modules.append(m)
        self.modes.add_module(m)
        define = getattr(m, "define_params", None)
        if define is not None:
            define(self.params)
        for name, fn in getattr(m, "handlers", {}).items():
            self.handlers[name] = fn
        tasks = getattr(m, "tasks", None)
        if tasks is not None:
            for t in tasks():
                self.sched.add(t)

    def send_adcs(self, body):
        """Pointing feedback for the platform ADCS (APID 0x0A4, relayed by the OBC)."""
        self.tm.send(APID_ADCS, body)
        hook = self.adcs_hook
        if hook is not None:
            hook(body)

    def note_auth_failure(self, detail):
        self.auth_failures += 1
        if self.auth_failures <= 10 or self.auth_failures % 100 == 0:
            self.emit(events.SEV_WARN, events.EV_TC_REJECTED_AUTH, detail, [self.auth_failures])

    def storage_error(self, what, e):
        self.storage_errors += 1
        self.emit(events.SEV_ERROR, events.EV_STORAGE_ERROR, "%s: %r" % (what, e))

    def _sched_event(self, sev, ev_id, a, b):
        self.emit(sev, ev_id, str(a), [b] if b is not None else None)

    def _critical_fault(self, task):
        self.modes.enter_safe("critical task %s fault" % task.name)

    # ------------------------------------------------------------------ boot
    def boot(self, reset_cause=None):
        rec = {}
        if self._boot_store is not None:
            try:
                raw = self._boot_store.load()
                if raw is not None:
                    rec = cbor.decode(raw)
            except Exception as e:
                self.storage_error("boot record", e)
                rec = {}
        if not isinstance(rec, dict):
            rec = {}
        self.boot_count = int(rec.get("boot_count", 0)) + 1
        kid = rec.get("key_id")
        if isinstance(kid, int) and self.keyring.key(kid) is not None:
            self.keyring.active = kid
        self._save_boot_record()
        wd = self.board.watchdog
        if reset_cause is None and wd is not None:
            try:
                reset_cause = RESET_CAUSES[wd.reset_cause()]
            except Exception:
                reset_cause = "OTHER"
        self.reset_cause = reset_cause or "POWER_ON"
        try:
            how = self.params.load(emit=lambda text: self.emit(
                events.SEV_WARN, events.EV_PARAM_INVALID, text))
        except Exception as e:
            self.storage_error("params", e)
            self.params.load_defaults()
            how = "corrupt"
        if how == "corrupt":
            self.emit(events.SEV_ERROR, events.EV_PARAMS_CORRUPT,
                      "parameter store corrupt: defaults loaded")
        elif how == "empty":
            self.emit(events.SEV_INFO, events.EV_PARAMS_DEFAULTS, "no stored parameters")
        self.timetags.capacity = self.params["timetag_capacity"]
        try:
            self.replay.load()
        except Exception as e:
            self.storage_error("replay", e)
        if self.replay.corrupt:
            self.emit(events.SEV_ERROR, events.EV_REPLAY_STATE_CORRUPT,
                      "anti-replay state unreadable")
        self.emit(events.SEV_INFO, events.EV_BOOT, "boot %d, reset cause %s, v%s" % (
            self.boot_count, self.reset_cause, VERSION), [self.boot_count])
        if self.keyring.is_dev():
            self.emit(events.SEV_WARN, events.EV_DEV_KEY_IN_USE,
                      "DEVELOPMENT KEY loaded: not for flight")
        self.modes.enter_safe("boot")
        if wd is not None:
            try:
                wd.start(self.watchdog_timeout_ms)
            except Exception as e:
                self.emit(events.SEV_ERROR, events.EV_STORAGE_ERROR, "watchdog: %r" % (e,))
        self.sched.start()

    def _save_boot_record(self):
        if self._boot_store is None:
            return
        try:
            self._boot_store.save(cbor.encode({"boot_count": self.boot_count,
                                               "key_id": self.keyring.active}))
        except Exception as e:
            self.storage_error("boot record", e)

    def run_for(self, duration_us):
        self.sched.run_for(duration_us)

    def run(self):
        """Run until a REBOOT is requested (the board entry then resets)."""
        self.sched.run_forever()

    # ------------------------------------------------------------------ tasks
    def _task_tc(self):
        link = self.board.link
        if link is not None:
            got = 0
            while got < 1024:  # bound the work per tick: ~51 kB/s, above any bus rate
                try:
                    n = link.read_into(self._rx)
                except Exception as e:
                    self.emit(events.SEV_WARN, events.EV_STORAGE_ERROR, "uart: %r" % (e,))
                    break
                if not n:
                    break
                got += n
                for pkt in self.deframer.feed(memoryview(self._rx)[:n]):
                    self.tc.process(pkt)
        self._drain_events(self.params["tm_events_per_tick"])
        self.tm.pump()
        if self.reboot_requested and self.tm.queued_bytes() == 0:
            self.events.flush()  # the warnings before a reboot (its own) must survive it
            self.sched.stop()

    def _drain_events(self, n):
        while n > 0:
            e = self.events.pop()
            if e is None:
                return
            self.tm.send(APID_EVENT, EventLog.to_map(e))
            n -= 1

    def _task_health(self):
        self.modes.tick()
        self._check_limits()
        now = self.now_s()
        while True:
            e = self.timetags.pop_due(now)
            if e is None:
                break
            t, cmd, args, tc = e
            self.emit(events.SEV_INFO, events.EV_TIMETAG_EXECUTED, cmd.name, [t])
            if self.modes.mode not in cmd.modes:
                self.tc.completed_fail += 1
                self.tc.report("complete", False, "WRONG_MODE", tc[0], tc[1],
                               "%s not allowed in %s" % (cmd.name, self.modes.mode),
                               {"name": cmd.name, "timetag": True})
                continue
            self.tc.complete(cmd, args, tc[0], tc[1], {"timetag": True})

    def _check_limits(self):
        board = self.board
        bad = None
        for i, s in enumerate(board.temps):
            try:
                t = s.read_c()
            except Exception:
                continue  # a sensor fault is the bias module's business, not a limit
            if t > self.params["temp_max_c"] or t < self.params["temp_min_c"]:
                bad = "temperature %d: %.1f degC" % (i, t)
        power = board.power
        if power is not None and bad is None:
            for sw in range(5):
                try:
                    if power.get(sw) and power.fault(sw):
                        bad = "switch %d tripped" % sw
                except Exception:
                    pass
            if bad is None:
                cur = getattr(self, "_currents", None)
                if cur is None:
                    cur = self._currents = [0] * 5
                try:
                    power.currents(cur)
                    for sw in range(5):
                        if cur[sw] > self.params["current_max_ma"]:
                            bad = "switch %d current %d mA" % (sw, cur[sw])
                except Exception:
                    pass
        if bad is None:
            self._limit_count = 0
            return
        self._limit_count += 1
        if self._limit_count >= self.params["limit_persist"] and self.modes.mode != SAFE:
            self.limit_violations += 1
            self.emit(events.SEV_ERROR, events.EV_LIMIT_VIOLATION, bad)
            self.modes.enter_safe("limit: " + bad)
            self._limit_count = 0

    def _task_hk(self):
        self.tm.send(APID_HK, self.housekeeping())
        self.events.flush()

    def housekeeping(self):
        tc = self.tc
        free = getattr(gc, "mem_free", None)
        hk = {
            "time": self.now_s(),
            "uptime": self.uptime_s(),
            "mode": self.modes.mode,
            "boot_count": self.boot_count,
            "reset_cause": self.reset_cause,
            "heap_free": free() if free is not None else -1,
            "tc_accepted": tc.accepted,
            "tc_rejected": dict(tc.rejected),
            "tc_last_seq": tc.last_seq,
            "tc_completed_ok": tc.completed_ok,
            "tc_completed_fail": tc.completed_fail,
            "key_id": self.keyring.active,
            "timetags_queued": len(self.timetags),
            "events_dropped": self.events.dropped,
            "tm_dropped": self.tm.dropped,
            "deframer": [self.deframer.frames, self.deframer.oversize,
                         self.deframer.decode_errors],
            "safe_entries": self.modes.safe_entries,
            "last_safe_cause": self.modes.last_safe_cause,
            "limit_violations": self.limit_violations,
            "storage_errors": self.storage_errors,
            "sched": [[t.name, t.runs, t.overruns, t.late_starts, t.max_late_us,
                       t.deadline_misses, t.cpu_us, t.faults, t.enabled]
                      for t in self.sched.tasks],
            "watchdog_withheld": self.sched.watchdog_withheld,
        }
        for m in self.modules:
            fill = getattr(m, "hk", None)
            if fill is not None:
                try:
                    fill(hk)
                except Exception as e:
                    hk["hk_error"] = repr(e)
        return hk

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

    # ------------------------------------------------------------------ commands
    def validate_semantics(self, cmd, args):
        """Checks beyond the dictionary's types and ranges (raise ValueError: BAD_ARG)."""
        name = cmd.name
        if name == "PARAM_SET":
            self.params.validate(args["name"], args["value"])
        elif name == "PARAM_GET":
            if args["name"] not in self.params.defs:
                raise ValueError("name: unknown parameter %r" % (args["name"],))
        elif name == "KEY_ROTATE":
            if self.keyring.key(args["key_id"]) is None:
                raise ValueError("key_id: %d not in the onboard keyring" % args["key_id"])
        elif name == "TIMETAG":
            inner = cmddict.BY_OPCODE.get(args["opcode"])
            if inner is None:
                raise ValueError("opcode: %d unknown" % args["opcode"])
            if inner.name in ("TIMETAG", "TIMETAG_CLEAR"):
                raise ValueError("opcode: %s cannot be time-tagged" % inner.name)
            args["args"] = inner.validate(args["args"])
            try:
                self.validate_semantics(inner, args["args"])
            except cmddict.WrongMode:
                pass  # the mode is checked when the command runs, not when it is queued
            if args["time"] <= self.now_s():
                raise ValueError("time: %.3f is not in the future" % args["time"])
        elif name == "SET_MODE":
            m = args["mode"]
            if m == SESSION and self.modes.mode not in (STANDBY, SESSION):
                raise cmddict.WrongMode("mode: SESSION only from STANDBY")

    def busy(self, cmd, args):
        if cmd.name == "TIMETAG" and self.timetags.full():
            return "time-tag queue full (%d)" % self.timetags.capacity
        for m in self.modules:
            b = getattr(m, "busy", None)
            if b is not None:
                why = b(cmd, args)
                if why:
                    return why
        return None

    def execute(self, cmd, args, tc):
        fn = getattr(self, cmd.handler, None)
        if fn is not None:
            return fn(args, tc)
        h = self.handlers.get(cmd.name)
        if h is not None:
            return h(args)
        return False, "UNAVAILABLE", "no module handles %s" % cmd.name

    def cmd_ping(self, args, tc):
        return True, None, {"uptime": self.uptime_s(), "version": VERSION}

    def cmd_set_time(self, args, tc):
        self.time_offset = args["time"] - self.uptime_s()
        self.emit(events.SEV_INFO, events.EV_TIME_SET, "time set", [args["time"]])
        return True, None, None

    def cmd_set_mode(self, args, tc):
        why = self.modes.request(args["mode"], "TC")
        if why:
            return False, "TRANSITION", why
        return True, None, {"mode": self.modes.mode}

    def cmd_session_start(self, args, tc):
        return self.cmd_set_mode({"mode": SESSION}, tc)

    def cmd_session_end(self, args, tc):
        return self.cmd_set_mode({"mode": STANDBY}, tc)

    def cmd_param_set(self, args, tc):
        v = self.params.set(args["name"], args["value"])
        return True, None, {"name": args["name"], "value": v}

    def cmd_param_get(self, args, tc):
        return True, None, {"name": args["name"], "value": self.params.get(args["name"])}

    def cmd_param_save(self, args, tc):
        try:
            self.params.save()
        except Exception as e:
            self.storage_error("params save", e)
            return False, "STORAGE", repr(e)
        gen = self.params.store.generation if self.params.store is not None else 0
        self.emit(events.SEV_INFO, events.EV_PARAMS_SAVED, "parameters saved", [gen])
        return True, None, {"generation": gen}

    def cmd_param_load_defaults(self, args, tc):
        self.params.load_defaults()
        return True, None, None

    def cmd_event_log_dump(self, args, tc):
        log = self.events.persistent_log()
        sel = log[-args["max"]:] if log else []
        sent = 0
        for e in sel:
            e["dump"] = True
            if self.tm.send(APID_EVENT, e):
                sent += 1
        return True, None, {"entries": sent, "total": len(log)}

    def cmd_reboot(self, args, tc):
        self.reboot_requested = True
        self.emit(events.SEV_WARN, events.EV_REBOOT_REQUESTED, "reboot by TC")
        return True, None, None

    def cmd_timetag(self, args, tc):
        inner = cmddict.BY_OPCODE[args["opcode"]]
        self.timetags.push(args["time"], inner, args["args"], tc)
        return True, None, {"queued": len(self.timetags)}

    def cmd_timetag_clear(self, args, tc):
        return True, None, {"dropped": self.timetags.clear()}

    def cmd_key_rotate(self, args, tc):
        self.keyring.active = args["key_id"]
        self._save_boot_record()
        self.emit(events.SEV_WARN, events.EV_KEY_ROTATED, "active key id %d" % args["key_id"],
                  [args["key_id"]])
        return True, None, {"key_id": args["key_id"]}

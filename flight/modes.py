"""Payload modes SAFE / STANDBY / SESSION and the ordered power sequences (DESIGN §3.2).

* SAFE: lasers off, SiPM bias below breakdown then off, FSM parked, camera and framer
  off.  Entered at boot, by TC, and by autonomy (limits, critical task fault).
* STANDBY: electronics healthy, every payload load off, ready for a session.
* SESSION: the payload modules start one after the other — each module's
  ``start_session()`` runs only once the previous one reports ``session_ready()``
  (bias ramp first, then camera/APT, then framer/comparator; the APT module itself
  switches the downlink laser on only once it tracks).  Leaving SESSION stops them in
  the reverse order.

Payload modules plug in with ``add_module(m)``; every hook is optional:
``start_session()``, ``session_ready()`` -> bool, ``stop_session()``, ``safe()``.
"""

from flight.cmddict import MODES, SAFE, SESSION, STANDBY, CmdFailed, WrongMode
from hal.compat import const
from flight.events import SEV_ERROR, SEV_INFO, SEV_WARN, Event
from flight.telemetry import HkField
from hal.interfaces import SW_CAMERA, SW_FRAMER, SW_LASER_525, SW_LASER_850, SW_SIPM_BIAS

START_TRIES = const(3)  # a module's start_session tried this many times, then skipped
EV_MODE_CHANGE = const(0x40)
EV_LIMIT_VIOLATION = const(0x41)
EV_SAFE_ENTERED = const(0x42)
EV_POWER_SWITCH_FAULT = const(0x43)
EV_LIMIT_MONITOR_ERROR = const(0x45)  # (flight/limits.py raises it)
EV_MODULE_HOOK_FAILED = const(0x46)

EVENTS = (
    Event(EV_MODE_CHANGE, "MODE_CHANGE", SEV_INFO, "payload mode changed",
          (("from", "str"), ("to", "str"))),
    Event(EV_LIMIT_VIOLATION, "LIMIT_VIOLATION", SEV_ERROR,
          "temperature/current limit exceeded: going to SAFE"),
    Event(EV_SAFE_ENTERED, "SAFE_ENTERED", SEV_WARN, "SAFE mode entered (cause in the text)"),
    Event(EV_POWER_SWITCH_FAULT, "POWER_SWITCH_FAULT", SEV_ERROR,
          "a load switch could not be set"),
    Event(EV_LIMIT_MONITOR_ERROR, "LIMIT_MONITOR_ERROR", SEV_ERROR,
          "the power monitor (switch trips, currents) could not be read (1st, 2nd, 4th ... "
          "time): a limit unchecked; persisting limit_persist checks: SAFE",
          (("count", "int"),)),
    Event(EV_MODULE_HOOK_FAILED, "MODULE_HOOK_FAILED", SEV_WARN,
          "a payload module failed a mode hook (start/stop/safe): the transition went on"),
)

HK = (
    HkField("mode", "u8", enum=MODES, description="payload mode"),
    HkField("mode_transitions", "u16", description="mode changes since boot"),
    HkField("safe_entries", "u16", warn=(0, 1), description="SAFE entries since boot "
            "(boot is one)"),
    HkField("session_starting", "u8", enum=("NO", "YES"),
            description="session start sequence still running"),
)

# Load switches in the order SAFE turns them off: downlink laser first (eye and detector
# safety), beacon laser, framer, camera, SiPM bias last — the bias module has already
# brought the bias below breakdown.
SAFE_OFF_ORDER = (SW_LASER_850, SW_LASER_525, SW_FRAMER, SW_CAMERA, SW_SIPM_BIAS)


class ModeManager:
    def __init__(self, power, emit, time_fn=None):
        # emit(ev_id, args=None, detail="").  time_fn (onboard seconds) is not held: nothing
        # here reads the time (a held bound method and a boxed start time cost ~50 B of
        # heap all session, issue 11); the parameter stays for the callers.
        self.power = power
        self.emit = emit
        self.mode = SAFE
        self.modules = []
        self.transitions = 0
        self.on_session = None  # called at each session's start (flight/app.py: retries)
        self.safe_entries = 0
        self.last_safe_cause = ""
        self._starting = -1  # index of the module being started, -1 when idle
        self._called = -1  # index of the last module whose start_session was called
        self._start_tries = 0  # failed start_session calls of the module being started

    def add_module(self, m):
        self.modules.append(m)

    def _call(self, m, hook):
        fn = getattr(m, hook, None)
        if fn is None:
            return True
        try:
            r = fn()
            return True if r is None else r
        except Exception as e:  # a module failing its hook must not stop a transition
            try:
                text = "%s.%s failed: %r" % (getattr(m, "name", "module"), hook, e)
            except MemoryError:  # heap exhausted: the event without its text
                text = hook
            self.emit(EV_MODULE_HOOK_FAILED, None, text)
            return False

    def _set(self, mode, cause):
        old = self.mode
        self.mode = mode
        self.transitions += 1
        try:
            args = [old, mode]
            text = "%s -> %s (%s)" % (old, mode, cause)
        except MemoryError:  # SAFE on an exhausted heap: still reported (the event log
            args = None      # queues it without allocating)
            text = cause
        self.emit(EV_MODE_CHANGE, args, text)

    def _off(self, switches, n=None):
        """Switch the first ``n`` (default all) of ``switches`` off."""
        power = self.power
        if power is None:
            return
        for k in range(len(switches) if n is None else n):
            sw = switches[k]
            try:
                power.set(sw, False)
            except Exception as e:  # keep switching the others off
                try:
                    text = "switch %d off: %r" % (sw, e)
                except MemoryError:
                    text = ""
                self.emit(EV_POWER_SWITCH_FAULT, None, text)

    def enter_safe(self, cause):
        """Always possible, from anywhere; idempotent.

        The lasers go off before anything else — before the modules' ``safe()`` hooks,
        which may switch their own loads (a framer module turning the framer off must not
        precede the downlink laser) or fail; then the hooks (bias ramped below breakdown,
        FSM parked), then the remaining switches in :data:`SAFE_OFF_ORDER`.
        """
        # (No slice, no reversed(): SAFE must be reachable with the heap exhausted.)
        self._off(SAFE_OFF_ORDER, 2)
        mods = self.modules
        for k in range(len(mods) - 1, -1, -1):
            self._call(mods[k], "safe")
        self._off(SAFE_OFF_ORDER)
        self._starting = -1
        self.safe_entries += 1
        self.last_safe_cause = cause
        if self.mode != SAFE:
            self._set(SAFE, cause)
            self.emit(EV_SAFE_ENTERED, None, cause)

    def request(self, target, cause="TC"):
        """Change mode; returns None on success or the reason it is refused."""
        cur = self.mode
        if target == cur:
            return None
        if target == SAFE:
            self.enter_safe(cause)
            return None
        if target == STANDBY:
            if cur == SESSION:
                self._stop_session()
            self._set(STANDBY, cause)
            return None
        if target == SESSION:
            if cur != STANDBY:
                return "SESSION only from STANDBY"
            self._set(SESSION, cause)
            if self.on_session is not None:
                self.on_session()
            self._starting = 0
            self._called = -1
            self._start_tries = 0
            self.tick()
            return None
        return "unknown mode %r" % (target,)

    def _stop_session(self):
        for m in reversed(self.modules):
            self._call(m, "stop_session")
        self._starting = -1

    def starting(self):
        return self._starting >= 0

    def tick(self):
        """Advance the session start sequence (called every 100 ms)."""
        if self.mode != SESSION or self._starting < 0:
            return
        mods = self.modules
        while self._starting < len(mods):
            m = mods[self._starting]
            if self._called < self._starting:
                self._called = self._starting
                if not self._call(m, "start_session"):  # it raised (MODULE_HOOK_FAILED)
                    # Again at the next tick (a bus glitch), START_TRIES times; then the
                    # module is skipped, said, and the next one starts: a failed hook
                    # never holds the session's start for good (stop 58).
                    self._start_tries += 1
                    if self._start_tries < START_TRIES:
                        self._called = self._starting - 1
                        return
                    self.emit(EV_MODULE_HOOK_FAILED, None, "%s.start_session failed %d times: "
                              "skipped" % (getattr(m, "name", "module"), START_TRIES))
                    self._start_tries = 0
                    self._starting += 1
                    continue
                self._start_tries = 0
            if not self._call(m, "session_ready"):
                return  # wait: the next module starts only when this one is ready
            self._starting += 1
        self._starting = -1

    # ------------------------------------------------------------------ commands
    def check_command(self, cmd, args):
        if cmd.name == "SET_MODE" and args["mode"] == SESSION \
                and self.mode not in (STANDBY, SESSION):
            raise WrongMode("mode: SESSION only from STANDBY")

    def cmd_set_mode(self, args, tc):
        why = self.request(args["mode"], "TC")
        if why:
            raise CmdFailed("TRANSITION", why)
        return {"mode": self.mode}

    def cmd_session_start(self, args, tc):
        return self.cmd_set_mode({"mode": SESSION}, tc)

    def cmd_session_end(self, args, tc):
        return self.cmd_set_mode({"mode": STANDBY}, tc)

    # ------------------------------------------------------------------ telemetry
    def hk(self, values, i):
        values[i] = MODES.index(self.mode)
        values[i + 1] = self.transitions
        values[i + 2] = self.safe_entries
        values[i + 3] = 1 if self._starting >= 0 else 0

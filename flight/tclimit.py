"""Flood limits of the TC path (issue 12 items 7-9; docs/security.md).

Whoever can reach the UART can send octets at line rate; none of that may cost more than
a bounded share of the CPU, of the downlink or of the persistent event log.

* :class:`TcBudget` bounds the work of one tc tick: at most ``max_frames`` packets through
  the pipeline (frames shorter than ``min_len`` cost none) and at most ``max_us`` of CPU;
  the tc task stops reading the UART once the budget is spent, packets deframed beyond it
  wait in a small queue (``backlog`` packets) for the next tick, and what does not fit
  there is dropped and counted (``dropped``).  A genuine TC in a flood may be lost: the
  ground repeats it (a TC without its reports is a TC to send again,
  docs/ground-tool.md).
* :class:`RejectSummary` budgets the verification reports of rejections that need no key
  (CRC, LENGTH, HEADER, AUTH, REPLAY: anyone can produce them at line rate).  The first
  ``individual`` of an interval get their report as before (an operator's mistake is
  still reported at once); the others are counted per reason and summarised once per
  interval (the housekeeping period) in one TC_REJECTIONS event naming the first
  offender.  Rejections after authentication (DECODE, UNKNOWN_OPCODE, BAD_ARG,
  WRONG_MODE, BUSY) need the key: always reported.  Genuine TCs' reports are never
  budgeted.
* The summary event is INFO (not persisted); the flood leaves at most one persisted
  TC_FLOOD (WARN) per ``persist_every_s`` in the event log, so unauthenticated input can
  write at most a few entries a day and never flush the key changes, resyncs and mode
  changes kept there.
"""

from flight.events import SEV_INFO, SEV_WARN, Event
from flight.telemetry import HkField
from hal.compat import const, ticks_diff, ticks_us

# The tc task's time for frames and events in one tick, board µs (DESIGN §3.1: no run
# over half the APT period, 5 ms at 100 M instructions/s): 1.5 ms = 150 k instructions,
# plus the one frame or the one event begun before it ran out (a reported rejection or
# an event: ~100-200 k each, their CBOR) and the TM pump — never both: a tick whose
# frames spent it leaves its events to the next (flight/app.py ``_task_tc``).
TICK_US = const(1500)

# Reasons anyone can produce without the key (at line rate).
UNAUTHENTICATED = ("CRC", "LENGTH", "HEADER", "AUTH", "REPLAY")

EV_TC_REJECTIONS = const(0x26)
EV_TC_FLOOD = const(0x27)
EVENTS = (
    Event(EV_TC_REJECTIONS, "TC_REJECTIONS", SEV_INFO,
          "rejections without individual report in the last interval (detail: counts by "
          "reason, first offender)", (("count", "int"),)),
    Event(EV_TC_FLOOD, "TC_FLOOD", SEV_WARN,
          "unauthenticated TC flood (persisted at most once an hour)", (("count", "int"),)),
)
HK = (
    HkField("tc_frames_dropped", "u16", warn=(0, 0),
            description="frames dropped by the tc task's per-tick budget (backlog full)"),
)
HK_DIAG = (
    HkField("tc_unreported", "u16",
            description="rejections summarised (TC_REJECTIONS) instead of reported one by one"),
)


class RejectSummary:
    def __init__(self, emit, individual=4, flood_threshold=50, persist_every_s=3600):
        self.emit = emit
        self.individual = individual
        self.flood_threshold = flood_threshold
        self.persist_every_s = persist_every_s
        self.counts = {}
        for r in UNAUTHENTICATED:
            self.counts[r] = 0
        self.reported = 0  # individual reports sent this interval
        self.suppressed = 0  # reports not sent this interval
        self.suppressed_total = 0
        self.first = None  # (reason, apid, seq, detail) of the first suppressed one
        self._last_flood = None  # time of the last persisted TC_FLOOD

    def allow(self, reason, apid, seq, detail):
        """True if this rejection gets its own verification report now."""
        if reason not in UNAUTHENTICATED:
            return True  # needs the key: never budgeted
        if self.reported < self.individual:
            self.reported += 1
            return True
        self.counts[reason] += 1
        self.suppressed += 1
        self.suppressed_total += 1
        if self.first is None:
            self.first = (reason, apid, seq, detail)
        return False

    def wants_detail(self, reason):
        """True if a rejection for ``reason`` now would use its detail text (an individual
        report, or the interval's first offender): the caller builds it only then."""
        return reason not in UNAUTHENTICATED or self.reported < self.individual or \
            self.first is None

    def end_interval(self, now_s):
        """End of an interval (the hk task, 1 Hz): ``now_s`` is a function, called only
        when a summary goes out (the time is a float: steady state allocates nothing)."""
        if self.suppressed:
            self.flush(now_s())
        else:
            self.reported = 0

    def flush(self, now_s):
        """End of an interval: one summary event if anything was suppressed."""
        n = self.suppressed
        if n:
            parts = []
            for r in UNAUTHENTICATED:
                if self.counts[r]:
                    parts.append("%s %d" % (r, self.counts[r]))
                    self.counts[r] = 0
            f = self.first if self.first is not None else ("", -1, -1, "")
            self.emit(EV_TC_REJECTIONS, [n], "%s; first: %s apid %d seq %d %s" % (
                ", ".join(parts), f[0], f[1], f[2], f[3]))
            if n >= self.flood_threshold and (
                    self._last_flood is None or now_s - self._last_flood >= self.persist_every_s):
                self._last_flood = now_s
                self.emit(EV_TC_FLOOD, [n], "")
        self.reported = 0
        self.suppressed = 0
        self.first = None
        return n


class TcBudget:
    """Per-tick bound of the tc task (frames and CPU time) with a small backlog.

    A frame shorter than ``min_len`` (no room for a header, a body and the security
    trailer: rejected LENGTH before any MAC) costs no frame of the budget, only time: an
    empty-frame flood then costs the tick little and cannot crowd a genuine TC out.

    Time is ``now_us`` (the app's clock: on the board ticks_us, the task's own time), or,
    when a ``clock`` is set (the target bench sets its own), that clock's: on one that
    charges the flight's measured CPU to virtual time after the task (``charge_cpu``),
    that CPU (``cpu_now_us``) times ``cpu_scale`` — its virtual ``now_us`` does not move
    inside a task (issue 11: the bound never fired on the bench and a tick decoded what
    the UART held).  (Not by default on a simulated clock: sim/run/costmodel.py counts
    the calls of ``cpu_now_us``, two a task.)"""

    def __init__(self, max_frames=8, max_us=TICK_US, backlog=8, now_us=ticks_us, min_len=0,
                 clock=None):
        self.now_us = now_us
        self.clock = clock
        self.min_len = min_len
        self.max_frames = max_frames
        self.max_us = max_us
        self.backlog = backlog
        self._queue = []
        self.dropped = 0
        self.deferred = 0
        self._t0 = 0
        self._n = 0
        self._scale = 1
        self._cpu = False

    def start(self):
        c = self.clock
        sc = 1
        cpu = c is not None
        if cpu:
            ch = getattr(c, "charge_cpu", None)
            if ch:  # (an int of the float: no float made per tick)
                sc = int(c.cpu_scale) or 1
            elif ch is not None:  # a virtual clock that charges nothing: its own time
                cpu = False
        self._scale = sc
        self._cpu = cpu
        self._t0 = self._now()
        self._n = 0

    def _now(self):
        c = self.clock  # (looked up each time: a simulated world installs its own)
        if c is None:
            return self.now_us()
        return c.cpu_now_us() if self._cpu else c.now_us()

    def spent_us(self):
        """The task's time since :meth:`start`, board µs."""
        return ticks_diff(self._now(), self._t0) * self._scale

    def over_time(self):
        """The tick's time is spent (the tc task then sends no further event)."""
        return self.spent_us() >= self.max_us

    def exhausted(self):
        return self._n >= self.max_frames or self.over_time()

    def run(self, process):
        """Process queued packets while the budget lasts; True if budget remains."""
        q = self._queue
        while q and not self.exhausted():
            p = q.pop(0)
            if not self.min_len or len(p) >= self.min_len:
                self._n += 1
            process(p)
        return not self.exhausted()

    def offer(self, pkt, process):
        """Process ``pkt`` now if the budget allows (after the queue), else queue it or
        drop it when the queue is full."""
        if not self._queue and not self.exhausted():
            if not self.min_len or len(pkt) >= self.min_len:
                self._n += 1
            process(pkt)
        elif len(self._queue) < self.backlog:
            self._queue.append(pkt)
            self.deferred += 1
        else:
            self.dropped += 1

    def pending(self):
        return len(self._queue)


class TcLimits:
    """The flood limits of one application (component ``tclimit``: its housekeeping)."""

    def __init__(self, emit, now_us=ticks_us, min_len=0):
        # (the target bench hands ``budget`` its charging clock: TcBudget.clock)
        self.summary = RejectSummary(emit)
        self.budget = TcBudget(now_us=now_us, min_len=min_len)

    def hk(self, values, i):
        values[i] = self.budget.dropped

    def hk_diag(self, values, i):
        values[i] = self.summary.suppressed_total

"""Cooperative, fixed-rate, rate-monotonic scheduler (DESIGN §3.1).

Tasks run to completion and never block.  Release times are absolute
(``release += period``), so there is no cumulative drift whatever each run costs.  When
several tasks are due, the one with the shorter period runs first (ties: the order they
were added).  All times are integer MicroPython ticks in µs and are compared only through
``ticks_diff``, so the schedule survives the ticks wrap-around.

Per task: runs, CPU time, overruns (cost above budget), late starts (start more than
``late_tolerance_us`` after release), max lateness, deadline misses (finished after the
next release), skipped releases, faults.

Fault containment: an exception in a task is caught, counted and reported through
``on_event``; after ``max_faults`` consecutive faults the task is disabled.  A fault in a
*critical* task also calls ``on_safe(task)``.

Watchdog: ``watchdog.feed()`` is called (in idle time) only while every critical task has
started within twice its period; a stalled or disabled critical task therefore lets the
watchdog reset the payload.

GC at chosen moments in idle time only (DESIGN §3.1): below ``gc_threshold`` free bytes,
below ``gc_relaxed`` unless ``gc_quiet()``, after :meth:`request_gc`; the free heap is
looked at most every ``gc_check_period_us``, and walked (``gc.mem_free``: 1.16 M
instructions on the target's heap) only when the port's O(1) allocation count
(``micropython.mem_current``) cannot show that it is still above the floor.

Events go out through ``on_event(ev_id, args, detail)`` (declared in :data:`EVENTS`).
"""

import gc

from hal.compat import const, ticks_add, ticks_diff
from flight.events import SEV_CRITICAL, SEV_ERROR, SEV_WARN, Event
from flight.task import Task  # noqa: F401  (re-exported: modules import Task from here)
from flight.telemetry import HkField

EV_TASK_FAULT = const(0x10)
EV_TASK_DISABLED = const(0x11)
EV_TASK_OVERRUN = const(0x12)
EV_DEADLINE_MISS = const(0x13)
EV_WATCHDOG_WITHHELD = const(0x14)
EV_WATCHDOG_FAULT = const(0x15)
EV_CRITICAL_TASK_DISABLED = const(0x16)
EV_TASK_OUT_OF_MEMORY = const(0x17)

EVENTS = (
    Event(EV_TASK_FAULT, "TASK_FAULT", SEV_ERROR, "a task raised (contained, counted)",
          (("error", "str"),)),
    Event(EV_TASK_OUT_OF_MEMORY, "TASK_OUT_OF_MEMORY", SEV_ERROR,
          "a task raised MemoryError (contained, counted as a fault; heap exhausted or "
          "fragmented)", ()),
    Event(EV_TASK_DISABLED, "TASK_DISABLED", SEV_ERROR,
          "a task faulted max_faults times in a row: disabled", (("faults", "int"),)),
    Event(EV_CRITICAL_TASK_DISABLED, "CRITICAL_TASK_DISABLED", SEV_CRITICAL,
          "a critical task was disabled: the watchdog will reset the payload",
          (("faults", "int"),)),
    Event(EV_TASK_OVERRUN, "TASK_OVERRUN", SEV_WARN, "a task ran over its CPU budget "
          "(first time only)", (("cost_us", "int"),)),
    Event(EV_DEADLINE_MISS, "DEADLINE_MISS", SEV_WARN, "a task finished after its next "
          "release (first time only)", (("late_us", "int"),)),
    Event(EV_WATCHDOG_WITHHELD, "WATCHDOG_WITHHELD", SEV_CRITICAL,
          "a critical task stalled or was disabled: watchdog no longer fed (reset follows)",
          (("task", "str"),)),
    Event(EV_WATCHDOG_FAULT, "WATCHDOG_FAULT", SEV_ERROR,
          "the watchdog could not be started or fed", (("faults", "int"),)),
)

HK = (
    HkField("sched_overruns", "u16", warn=(0, 0), description="task budget overruns (all tasks)"),
    HkField("sched_deadline_misses", "u16", warn=(0, 0),
            description="releases finished after the next one (all tasks)"),
    HkField("sched_faults", "u16", alarm=(0, 0), description="task exceptions (all tasks)"),
    HkField("sched_disabled", "u8", alarm=(0, 0), description="tasks disabled by faults"),
    HkField("watchdog_withheld", "u16", alarm=(0, 0),
            description="idle steps that withheld the watchdog feed"),
    HkField("watchdog_faults", "u8", alarm=(0, 0), description="watchdog start/feed errors"),
    HkField("gc_runs", "u16", description="gc.collect() runs in idle time"),
    HkField("heap_free", "u32", "B", warn=(16384, 1e9),
            description="free heap, sampled in idle time (0: port cannot tell)"),
)

# Tasks of the diagnostic set (APID 0x0A5), in this order (the flight tasks' names).
TASK_NAMES = ("tc", "health", "hk", "apt", "adcs_feedback", "sipm_bias", "framer",
              "comparator", "pointahead")
_TASK_FIELDS = (
    ("runs", "u32", "", "runs since boot"),
    ("cpu_ms", "u32", "ms", "CPU time since boot"),
    ("max_cpu_us", "u32", "us", "longest run"),
    ("overruns", "u16", "", "runs over the CPU budget"),
    ("late_starts", "u16", "", "starts after the release (+ tolerance)"),
    ("max_late_us", "u32", "us", "largest start lateness"),
    ("deadline_misses", "u16", "", "runs finished after the next release"),
    ("skipped", "u16", "", "releases skipped after a long run"),
    ("faults", "u16", "", "exceptions"),
    ("enabled", "u8", "", "0: disabled after faults"),
)


class _TaskDiag:
    """The per-task fields of the diagnostic set, TASK_NAMES × _TASK_FIELDS, as a
    sequence of HkField built on demand.  Their names and descriptions are composed
    strings (no flash constants): held as 80 records they would cost ~9 KiB of heap on
    the target for what only the packer's construction and the ground export read."""

    def __len__(self):
        return len(TASK_NAMES) * len(_TASK_FIELDS)

    def __getitem__(self, i):
        n = len(_TASK_FIELDS)
        if i < 0:
            i += len(self)
        if i < 0 or i >= len(self):
            raise IndexError(i)
        t = TASK_NAMES[i // n]
        f = _TASK_FIELDS[i % n]
        return HkField("%s_%s" % (t, f[0]), f[1], f[2], description="task %s: %s" % (t, f[3]))

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


HK_DIAG = _TaskDiag()

GC_FLOOR_BYTES = const(16384)  # free heap below which idle time always collects
_SPAN = const(1 << 28)  # longest run_for span: well inside ticks_diff's half period


def _mem_free():
    f = getattr(gc, "mem_free", None)
    return f() if f is not None else None


# Octets allocated minus octets freed explicitly, O(1), where the port counts them
# (MICROPY_MEM_STATS: the QEMU image); sweeps do not lower it.  gc.mem_free() walks the
# heap: 1.16 M instructions on the 480 KiB heap, longer than an APT period at 100 M/s.
try:
    from micropython import mem_current as _mem_current  # type: ignore[import-not-found,attr-defined]
except ImportError:
    _mem_current = None


class Scheduler:
    def __init__(self, clock, watchdog=None, on_event=None, on_safe=None,
                 gc_threshold=GC_FLOOR_BYTES, late_tolerance_us=0, gc_check_period_us=100000):
        self.clock = clock
        self.watchdog = watchdog
        self.on_event = on_event
        self.on_safe = on_safe
        self.gc_threshold = gc_threshold
        self.gc_relaxed = 0  # free-heap floor outside quiet time (gc_quiet() false)
        self.gc_quiet = None  # callable: True while a collection would delay the APT
        self._gc_asked = False
        self.late_tolerance_us = late_tolerance_us
        # gc.mem_free() walks the heap's allocation table (hundreds of µs on a board):
        # look at it at most once per gc_check_period_us of idle time.
        self.gc_check_period_us = gc_check_period_us
        self._last_gc_check = clock.now_us()
        self.tasks = []  # sorted by period (rate-monotonic priority), stable
        self._start = clock.now_us()
        self._started = False
        self.running = False
        self.current = None
        self.current_release = 0
        # Global counters.
        self.dispatches = 0
        self.idle_calls = 0
        self.gc_runs = 0
        self.watchdog_feeds = 0
        self.watchdog_withheld = 0
        self.watchdog_faults = 0
        self.heap_free = 0
        self._heap_walked = 0  # free octets at the last heap walk (0: none yet)
        self._heap_mark = 0  # _mem_current() at that walk
        self._heap_known(_mem_free())
        self._withholding = False

    # ----------------------------------------------------------------- configuration
    def add(self, task):
        for t in self.tasks:
            if t.name == task.name:
                raise ValueError("duplicate task name")
        # Insert after every task whose period is <= this one: stable rate-monotonic order.
        i = 0
        while i < len(self.tasks) and self.tasks[i].period_us <= task.period_us:
            i += 1
        self.tasks.insert(i, task)
        if self._started:
            task.next_release = ticks_add(self.clock.now_us(), task.offset_us)
            task.last_start = task.next_release
        return task

    def task(self, name):
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)

    def enable(self, name, on=True):
        t = self.task(name)
        if on and not t.enabled:
            t.consecutive_faults = 0
            # Resume on the grid from now, not with a burst of missed releases.
            t.next_release = self.clock.now_us()
            t.last_start = t.next_release
        t.enabled = on

    def start(self):
        """Anchor every task's first release at now + offset."""
        now = self.clock.now_us()
        self._start = now
        for t in self.tasks:
            t.next_release = ticks_add(now, t.offset_us)
            t.last_start = t.next_release
        self._started = True

    # ----------------------------------------------------------------------- running
    def _event(self, ev_id, args, detail):
        cb = self.on_event
        if cb is not None:
            try:
                cb(ev_id, args, detail)
            except Exception:  # an event sink must never take the scheduler down
                pass

    def _next_due(self, now):
        """The highest-priority due task, or None.  No allocation."""
        tasks = self.tasks
        i = 0
        n = len(tasks)
        while i < n:
            t = tasks[i]
            if t.enabled and ticks_diff(now, t.next_release) >= 0:
                return t
            i += 1
        return None

    def next_release(self):
        """Earliest release among enabled tasks (ticks), or None."""
        best = None
        now = self.clock.now_us()
        for t in self.tasks:
            if t.enabled and (best is None or ticks_diff(t.next_release, best) < 0):
                best = t.next_release
        return best if best is not None else ticks_add(now, 1000)

    def run_once(self):
        """Dispatch one due task, or do idle work and sleep until the next release.

        Returns the task run, or None after an idle step.
        """
        if not self._started:
            self.start()
        clock = self.clock
        now = clock.now_us()
        t = self._next_due(now)
        if t is None:
            self._idle()
            clock.sleep_until(self.next_release())
            return None
        self._dispatch(t, now)
        return t

    def _dispatch(self, t, now):
        release = t.next_release
        late = ticks_diff(now, release)
        if late > self.late_tolerance_us:
            t.late_starts += 1
        if late > t.max_late_us:
            t.max_late_us = late
        clock = self.clock
        self.current = t
        self.current_release = release
        t.last_start = now
        c0 = clock.cpu_now_us()
        try:
            t.fn()
            t.consecutive_faults = 0
        except Exception as e:  # contained: counted, reported, maybe disabled
            self._fault(t, e)
        cost = ticks_diff(clock.cpu_now_us(), c0)
        if cost < 0:
            cost = 0
        if getattr(clock, "charge_cpu", False):
            clock.advance(int(cost * clock.cpu_scale))
        self.current = None
        self.dispatches += 1
        t.runs += 1
        t.cpu_us += cost
        if cost > t.max_cpu_us:
            t.max_cpu_us = cost
        if t.budget_us and cost > t.budget_us:
            t.overruns += 1
            if t.overruns == 1:  # first time only: a periodic overrun must not flood events
                self._event(EV_TASK_OVERRUN, [cost], t.name)
        # Absolute release grid: the next release does not depend on when this one ran.
        period = t.period_us
        nxt = ticks_add(release, period)
        end = clock.now_us()
        if ticks_diff(end, nxt) > 0:
            if t.soft:
                t.skipped += 1
            else:
                t.deadline_misses += 1
            if t.deadline_misses == 1 and not t.soft:
                self._event(EV_DEADLINE_MISS, [ticks_diff(end, release)], t.name)
            # Releases that already passed entirely are skipped, not run back to back.
            while ticks_diff(end, ticks_add(nxt, period)) >= 0:
                nxt = ticks_add(nxt, period)
                t.skipped += 1
        t.next_release = nxt

    def _fault(self, t, e):
        # Never lets a MemoryError out (the heap may be exhausted right now): a
        # MemoryError is its own event with no text to format (repr() needs the heap
        # that just ran out); other reports are built inside try (the event sink keeps
        # its argument list, so none can be shared and preallocated).
        t.faults += 1
        t.consecutive_faults += 1
        t.last_error = e
        if isinstance(e, MemoryError):
            self._event(EV_TASK_OUT_OF_MEMORY, None, t.name)
        else:
            try:
                args = [repr(e)]
            except MemoryError:
                args = None
            self._event(EV_TASK_FAULT, args, t.name)
        if t.consecutive_faults >= t.max_faults:
            t.enabled = False
            try:
                args = [t.faults]
            except MemoryError:
                args = None
            self._event(EV_CRITICAL_TASK_DISABLED if t.critical else EV_TASK_DISABLED,
                        args, t.name)
        if t.critical and self.on_safe is not None:
            try:
                self.on_safe(t)
            except Exception:
                pass

    def stalled_task(self, now=None):
        """The first critical task disabled or not started within twice its period."""
        if now is None:
            now = self.clock.now_us()
        for t in self.tasks:
            if t.critical:
                if not t.enabled:
                    return t
                if ticks_diff(now, t.last_start) > 2 * t.period_us:
                    return t
        return None

    def critical_tasks_alive(self, now=None):
        """True when every critical task started within twice its period."""
        return self.stalled_task(now) is None

    def watchdog_fault(self, e):
        """A watchdog start or feed failed: counted; the first few are reported."""
        self.watchdog_faults += 1
        if self.watchdog_faults <= 3:
            self._event(EV_WATCHDOG_FAULT, [self.watchdog_faults], repr(e))

    def _idle(self):
        self.idle_calls += 1
        wd = self.watchdog
        if wd is not None:
            stalled = self.stalled_task()
            if stalled is None:
                try:
                    wd.feed()
                    self.watchdog_feeds += 1
                except Exception as e:
                    self.watchdog_fault(e)
                self._withholding = False
            else:
                self.watchdog_withheld += 1
                if not self._withholding:  # once per stall: the reset follows
                    self._withholding = True
                    self._event(EV_WATCHDOG_WITHHELD, [stalled.name], stalled.name)
        now = self.clock.now_us()
        if self._gc_asked or ticks_diff(now, self._last_gc_check) >= self.gc_check_period_us:
            self._last_gc_check = now
            q = self.gc_quiet
            floor = self.gc_threshold
            if self.gc_relaxed > floor and not (q and q()):
                floor = self.gc_relaxed
            if not self._gc_asked and self._heap_above(floor):
                return
            free = _mem_free()
            if self._gc_asked or (free is not None and free < floor):
                self._gc_asked = False
                gc.collect()
                self.gc_runs += 1
                free = _mem_free()
            self._heap_known(free)

    def _heap_above(self, floor):
        """Last walked free heap - 2 x allocated since (a 16-octet block may hold 8) is
        above ``floor`` (then ``heap_free``: that lower bound)."""
        mc = _mem_current
        if mc is None or not self._heap_walked:
            return False
        since = mc() - self._heap_mark  # (explicit frees lower it a little; wrapped: far)
        est = self._heap_walked - 2 * (since if since > 0 else 0)
        if est < floor or since < -(1 << 29):
            return False
        self.heap_free = est
        return True

    def _heap_known(self, free):
        self.heap_free = free or 0  # (0: the port cannot tell)
        self._heap_walked = free or 0
        if _mem_current is not None:
            self._heap_mark = _mem_current()

    def request_gc(self):  # collect at the next idle step (a moment the caller chose)
        self._gc_asked = True

    def run_for(self, duration_us):
        """Run the schedule for ``duration_us`` of clock time (virtual or real)."""
        if not self._started:
            self.start()
        self.running = True
        # ticks_diff orders two ticks only less than half a ticks period apart (2**29 µs,
        # ~9 min, on 32-bit ports): a longer run goes in spans with chained end ticks.
        left = int(duration_us)
        end = self.clock.now_us()
        while self.running and left > 0:
            span = left if left < _SPAN else _SPAN
            left -= span
            end = ticks_add(end, span)
            self._run_until(end)
        self.running = False

    def _run_until(self, end):
        while self.running and ticks_diff(end, self.clock.now_us()) > 0:
            now = self.clock.now_us()
            t = self._next_due(now)
            if t is None:
                self._idle()
                nr = self.next_release()
                if ticks_diff(nr, end) > 0:
                    nr = end
                self.clock.sleep_until(nr)
            else:
                self._dispatch(t, now)

    def run_forever(self):
        self.running = True
        while self.running:
            self.run_once()

    def stop(self):
        self.running = False

    def stats(self):
        return [t.stats() for t in self.tasks]

    # ------------------------------------------------------------------ telemetry
    def hk(self, values, i):
        ov = dm = fa = dis = 0
        for t in self.tasks:
            ov += t.overruns
            dm += t.deadline_misses
            fa += t.faults
            if not t.enabled:
                dis += 1
        values[i] = ov
        values[i + 1] = dm
        values[i + 2] = fa
        values[i + 3] = dis
        values[i + 4] = self.watchdog_withheld
        values[i + 5] = self.watchdog_faults
        values[i + 6] = self.gc_runs
        values[i + 7] = self.heap_free

    def hk_diag(self, values, i):
        n = len(_TASK_FIELDS)
        for k in range(len(TASK_NAMES)):
            j = i + k * n
            t = None
            for x in self.tasks:
                if x.name == TASK_NAMES[k]:
                    t = x
            if t is None:  # not on this board
                for m in range(n):
                    values[j + m] = 0
                continue
            values[j] = t.runs
            values[j + 1] = t.cpu_us // 1000
            values[j + 2] = t.max_cpu_us
            values[j + 3] = t.overruns
            values[j + 4] = t.late_starts
            values[j + 5] = t.max_late_us
            values[j + 6] = t.deadline_misses
            values[j + 7] = t.skipped
            values[j + 8] = t.faults
            values[j + 9] = 1 if t.enabled else 0

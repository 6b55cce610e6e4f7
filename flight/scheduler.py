"""Cooperative, fixed-rate, rate-monotonic scheduler (DESIGN §3.1).

Tasks run to completion and never block.  Release times are absolute (``release +=
period``), so there is no cumulative drift whatever each run costs.  When several tasks are
due, the one with the shorter period runs first (ties: the order they were added).  All
times are integer MicroPython ticks in µs compared only through ``ticks_diff``, so the
schedule survives the ticks wrap-around.

Per task: runs, CPU time, overruns (cost above budget), late starts (start more than
``late_tolerance_us`` after release), max lateness, deadline misses (finished after the next
release), skipped releases, faults.

Fault containment: an exception in a task is caught, counted and reported through
``on_event``; after ``max_faults`` consecutive faults the task is disabled and its owner's
safe state runs (``Task.on_disable``); a session's start retries it
(flight/scheduler_telemetry.py ``retry_disabled``, flight/app.py).  A fault in a
*critical* task also calls ``on_safe(task)``.

Watchdog: ``watchdog.feed()`` is called (in idle time) only while every critical task has
started within twice its period; a stalled or disabled critical task therefore lets the
watchdog reset the payload.

GC at chosen moments in idle time only (DESIGN §3.1): below ``gc_threshold`` free bytes,
below ``gc_relaxed`` unless ``gc_quiet()``, after :meth:`request_gc`; the free heap is
looked at most every ``gc_check_period_us``, and walked (``gc.mem_free``: 1.16 M
instructions on the target's heap) only when the port's O(1) allocation count
(``micropython.mem_current``) cannot show that it is still above the floor, and then only
at an idle step where a walk as long as the last one ends early enough for every hard
task released meanwhile to still finish by its deadline (:meth:`_fits`; a walk
is longer than the APT's 10 ms period at 100 M/s, so this is the step just after the
APT ran).  A walk is deferred at most ``gc_defer_max_us``; after that it runs anyway (a
task that never leaves room must not switch the floor off).  A walk that finds the heap
below the floor collects at once, deadlines or not: the heap really is short then.  In
quiet time (a pass) that is its own counted, reported event (``gc_pass_runs``,
GC_IN_PASS): the design keeps the flight's steady-state garbage so low (issue 11: tens of
octets a second) that the heap collected before the pass — on entering SESSION
(:meth:`request_gc`), and outside quiet time below ``gc_relaxed`` — lasts the whole pass
with a wide margin.  In quiet time a collection is also made early, below
``gc_relaxed``, when an idle window is longer than the last collection took (``gc_us``)
before every hard task's deadline (``gc_early_runs``; none while the APT runs, at 7 ms:
a collection takes ~4 APT periods at 100 M instructions/s).

Events go out through ``on_event(ev_id, args, detail)`` (declared in :data:`EVENTS`).
"""

import gc

from hal.compat import const, ticks_add, ticks_diff
# Task, declarations, telemetry (re-exported: one import for its users), the Task.row layout.
from flight.scheduler_telemetry import (  # noqa: F401
    EV_CRITICAL_TASK_DISABLED, EV_DEADLINE_MISS, EV_TASK_DISABLED, EV_TASK_FAULT,
    EV_GC_IN_PASS, EV_TASK_OUT_OF_MEMORY, EV_TASK_OVERRUN, EV_WATCHDOG_FAULT,
    EV_WATCHDOG_WITHHELD, EVENTS, HK, HK_DIAG, TASK_NAMES, Task, disable, pack_hk, pack_hk_diag,
    S_CONSECUTIVE_FAULTS, S_CPU_US, S_CRITICAL, S_DEADLINE_MISSES, S_FAULTS, S_LAST_ERROR,
    S_LATE_STARTS, S_MAX_CPU_US, S_MAX_FAULTS, S_MAX_LATE_US, S_NAME, S_OVERRUNS, S_RUNS,
    S_PERIOD_US, S_SKIPPED, S_SOFT)

GC_FLOOR_BYTES = const(16384)  # free heap below which idle time always collects
_SPAN = const(1 << 28)  # longest run_for span: well inside ticks_diff's half period


def _mem_free():
    f = getattr(gc, "mem_free", None)
    return f() if f is not None else None


# Octets allocated minus octets freed explicitly, O(1), where the port counts them
# (MICROPY_MEM_STATS: the QEMU image); sweeps do not lower it.  gc.mem_free() walks the
# heap: 1.16 M instructions on a 480 KiB heap, longer than an APT period at 100 M/s.
try:
    from micropython import mem_current as _mem_current  # type: ignore[import-not-found,attr-defined]
except ImportError:
    _mem_current = None


class Scheduler:
    def __init__(self, clock, watchdog=None, on_event=None, on_safe=None,
                 gc_threshold=GC_FLOOR_BYTES, late_tolerance_us=0, gc_check_period_us=100000,
                 gc_defer_max_us=1000000):
        self.clock = clock
        self.watchdog = watchdog
        self.on_event = on_event
        self.on_safe = on_safe
        self.gc_threshold = gc_threshold
        self.gc_relaxed = 0  # free-heap floor outside quiet time (gc_quiet() false)
        self.gc_quiet = None  # callable: True while a collection would delay the APT
        self._gc_asked = False
        if late_tolerance_us < 0:
            raise ValueError("late_tolerance_us must be >= 0")
        self.late_tolerance_us = late_tolerance_us
        # gc.mem_free() walks the heap's allocation table (hundreds of µs on a board):
        # look at it at most once per gc_check_period_us of idle time.
        self.gc_check_period_us = gc_check_period_us
        self._last_gc_check = clock.now_us()
        self.tasks = []  # sorted by period (rate-monotonic priority), stable
        self._critical = ()  # type: tuple  # the critical ones in that order (stalled_task)
        self._start = clock.now_us()
        self._started = False
        self.running = False
        self.current = None
        self.current_release = 0
        # Global counters.
        self.dispatches = 0
        self.gc_runs = 0
        self.gc_pass_runs = 0  # collections the floor forced in quiet time (GC_IN_PASS)
        self.gc_early_runs = 0  # collections in quiet time in an idle window long enough
        self.gc_us = 0  # how long the last collection took on this clock (µs)
        self.gc_us_max = 0
        self.watchdog_withheld = 0
        self.watchdog_faults = 0
        self.heap_free = 0
        self._heap_walked = 0  # free octets at the last heap walk (0: none yet)
        self._heap_mark = 0  # _mem_current() at that walk
        # Heap walks: how long the last one took on this clock (µs, what the next one is
        # expected to cost), how many, how many idle steps put one off for lack of room
        # before a hard task's deadline, how many ran after gc_defer_max_us of that.
        self.gc_defer_max_us = gc_defer_max_us
        self.walk_us = 0
        self.heap_walks = 0
        self.walk_deferrals = 0
        self.walks_forced = 0
        self._walk_wanted = False
        self._walk_since = 0
        self._heap_known(self._walk())
        self._withholding = False

    # ----------------------------------------------------------------- configuration
    def add(self, task):
        row = task.row
        for t in self.tasks:
            if t.row[S_NAME] == row[S_NAME]:
                raise ValueError("duplicate task name")
        # Insert after every task whose period is <= this one: stable rate-monotonic order.
        i = 0
        while i < len(self.tasks) and self.tasks[i].row[S_PERIOD_US] <= row[S_PERIOD_US]:
            i += 1
        self.tasks.insert(i, task)
        if row[S_CRITICAL]:
            self._critical = tuple(t for t in self.tasks if t.row[S_CRITICAL])
        if self._started:  # (next_release: the offset until now, Task.__init__)
            task.next_release = ticks_add(self.clock.now_us(), task.next_release)
            task.last_start = task.next_release
        return task

    def task(self, name):
        for t in self.tasks:
            if t.row[S_NAME] == name:
                return t
        raise KeyError(name)

    def enable(self, name, on=True):
        t = self.task(name)
        if on and not t.enabled:
            t.row[S_CONSECUTIVE_FAULTS] = 0
            if self._started:  # (before, next_release still holds the offset)
                # Resume on the grid from now, not with a burst of missed releases.
                t.next_release = self.clock.now_us()
                t.last_start = t.next_release
        t.enabled = on

    def start(self):
        """Anchor every task's first release at now + its offset (once)."""
        if self._started:  # (the offsets are releases now)
            return
        now = self.clock.now_us()
        self._start = now
        for t in self.tasks:
            t.next_release = ticks_add(now, t.next_release)
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
        st = t.row  # the statistics (items, not attributes: flight/scheduler_telemetry.py)
        release = t.next_release
        late = ticks_diff(now, release)
        if late > 0:  # (on time, the common case, reads nothing more: tolerance >= 0)
            if late > self.late_tolerance_us:
                st[S_LATE_STARTS] += 1
            if late > st[S_MAX_LATE_US]:
                st[S_MAX_LATE_US] = late
        clock = self.clock
        self.current = t
        self.current_release = release
        t.last_start = now
        c0 = clock.cpu_now_us()
        try:
            t.fn()
            st[S_CONSECUTIVE_FAULTS] = 0
        except Exception as e:  # contained: counted, reported, maybe disabled
            self._fault(t, e)
        cost = ticks_diff(clock.cpu_now_us(), c0)
        if cost < 0:
            cost = 0
        if getattr(clock, "charge_cpu", False):
            clock.advance(int(cost * clock.cpu_scale))
        self.current = None
        self.dispatches += 1
        st[S_RUNS] += 1
        st[S_CPU_US] += cost
        if cost > st[S_MAX_CPU_US]:
            st[S_MAX_CPU_US] = cost
        budget = t.budget_us
        if budget and cost > budget:
            st[S_OVERRUNS] += 1
            if st[S_OVERRUNS] == 1:  # first time only: a periodic overrun must not flood events
                self._event(EV_TASK_OVERRUN, [cost], st[S_NAME])
        # Absolute release grid: the next release does not depend on when this one ran.
        period = st[S_PERIOD_US]
        nxt = ticks_add(release, period)
        end = clock.now_us()
        if ticks_diff(end, nxt) > 0:
            if st[S_SOFT]:
                st[S_SKIPPED] += 1
            else:
                st[S_DEADLINE_MISSES] += 1
                if st[S_DEADLINE_MISSES] == 1:
                    self._event(EV_DEADLINE_MISS, [ticks_diff(end, release)], st[S_NAME])
            # Releases that already passed entirely are skipped, not run back to back.
            while ticks_diff(end, ticks_add(nxt, period)) >= 0:
                nxt = ticks_add(nxt, period)
                st[S_SKIPPED] += 1
        t.next_release = nxt

    def _fault(self, t, e):
        # Never lets a MemoryError out (the heap may be exhausted right now): a
        # MemoryError is its own event with no text to format (repr() needs the heap
        # that just ran out); other reports are built inside try (the event sink keeps
        # its argument list, so none can be shared and preallocated).
        st = t.row
        st[S_FAULTS] += 1
        st[S_CONSECUTIVE_FAULTS] += 1
        st[S_LAST_ERROR] = e
        if isinstance(e, MemoryError):
            self._event(EV_TASK_OUT_OF_MEMORY, None, st[S_NAME])
        else:
            try:
                args = [repr(e)]
            except MemoryError:
                args = None
            self._event(EV_TASK_FAULT, args, st[S_NAME])
        if st[S_CONSECUTIVE_FAULTS] >= st[S_MAX_FAULTS]:
            disable(self, t)  # (its event, then the owner's safe state: on_disable)
        if st[S_CRITICAL] and self.on_safe is not None:
            try:
                self.on_safe(t)
            except Exception:
                pass

    def stalled_task(self, now=None):
        """The first critical task disabled or not started within twice its period."""
        if now is None:
            now = self.clock.now_us()
        for t in self._critical:
            if not t.enabled:
                return t
            if ticks_diff(now, t.last_start) > 2 * t.row[S_PERIOD_US]:
                return t
        return None

    def watchdog_fault(self, e):
        """A watchdog start or feed failed: counted; the first few are reported."""
        self.watchdog_faults += 1
        if self.watchdog_faults <= 3:
            self._event(EV_WATCHDOG_FAULT, [self.watchdog_faults], repr(e))

    def _idle(self):
        wd = self.watchdog
        if wd is not None:
            stalled = self.stalled_task()
            if stalled is None:
                try:
                    wd.feed()
                except Exception as e:
                    self.watchdog_fault(e)
                if self._withholding:  # (a load, not a store, every idle step)
                    self._withholding = False
            else:
                self.watchdog_withheld += 1
                if not self._withholding:  # once per stall: the reset follows
                    self._withholding = True
                    name = stalled.row[S_NAME]
                    self._event(EV_WATCHDOG_WITHHELD, [name], name)
        now = self.clock.now_us()
        if self._gc_asked or self._walk_wanted or \
                ticks_diff(now, self._last_gc_check) >= self.gc_check_period_us:
            self._last_gc_check = now
            q = self.gc_quiet
            quiet = q is not None and q()
            floor = self.gc_threshold
            early = False
            if self.gc_relaxed > floor:
                if not quiet:
                    floor = self.gc_relaxed
                elif self.gc_us and self._fits(now, self.gc_us):
                    floor = self.gc_relaxed  # a window longer than a collection
                    early = True
            if not self._gc_asked:
                if self._heap_above(floor):
                    self._walk_wanted = False
                    return
                # The estimate cannot prove the floor: walk, but only where the walk
                # costs no hard deadline (or once it has waited gc_defer_max_us).
                if not self._walk_wanted:
                    self._walk_wanted = True
                    self._walk_since = now
                if not self._fits(now, self.walk_us):
                    if ticks_diff(now, self._walk_since) < self.gc_defer_max_us:
                        self.walk_deferrals += 1
                        return
                    self.walks_forced += 1
                self._walk_wanted = False
            free = self._walk()
            if early and not self._gc_asked and free is not None and free >= \
                    self.gc_threshold and not self._fits(self.clock.now_us(), self.gc_us):
                self._heap_known(free)  # (the walk used up the window: a later one)
                return
            if self._gc_asked or (free is not None and free < floor):
                # Requested (a moment the caller chose), or the walk found the heap below
                # the floor: collect now, whatever it delays (a heap that short would
                # collect inside the next allocation anyway, at a moment nobody chose).
                asked = self._gc_asked
                self._gc_asked = False
                self._collect(quiet and not asked and not early, early and not asked, free)
                free = self._walk()
            self._heap_known(free)

    def _collect(self, in_pass, early, free):
        """gc.collect(), timed on the scheduler's clock (``gc_us``: what the next one is
        expected to cost).  ``in_pass``: the floor forced it in quiet time — counted and
        reported (GC_IN_PASS, after the collection: the report needs heap)."""
        clock = self.clock
        t0 = clock.now_us()
        gc.collect()
        d = ticks_diff(clock.now_us(), t0)
        self.gc_runs += 1
        self.gc_us = d if d > 0 else 1
        if d > self.gc_us_max:
            self.gc_us_max = d
        if early:
            self.gc_early_runs += 1
        if in_pass:
            self.gc_pass_runs += 1
            self._event(EV_GC_IN_PASS, [free if free is not None else -1, d], "")

    def _walk(self):
        """gc.mem_free() (None: the port cannot tell), timed on the scheduler's clock."""
        clock = self.clock
        t0 = clock.now_us()
        free = _mem_free()
        if free is not None:
            self.heap_walks += 1
            self.walk_us = ticks_diff(clock.now_us(), t0)
        return free

    def _fits(self, now, dur):
        """True if idle work of ``dur`` µs (a heap walk, a collection) starting ``now``
        lets every enabled hard task whose release falls inside it still finish by its
        deadline (its release plus its period), counting the runs of the tasks queued
        ahead of it and its own (rate-monotonic order: ``self.tasks`` is sorted by
        priority). No allocation while the CPU-time sums are small ints."""
        clock = self.clock
        scale = int(clock.cpu_scale) if getattr(clock, "charge_cpu", False) else 1
        end = ticks_add(now, dur)
        busy = 0
        for t in self.tasks:
            if not t.enabled:
                continue
            d = ticks_diff(t.next_release, now)
            if ticks_diff(t.next_release, end) >= 0:
                continue  # released after the walk: not delayed by it
            # Twice the task's mean run, capped at its worst: the worst alone, raised once
            # by an outlier (a collection inside a task, +1 M from a ticks_us glitch on
            # QEMU), would leave no room for the rest of the pass and force every walk.
            st = t.row
            c = st[S_MAX_CPU_US]
            if st[S_RUNS]:
                m = 2 * (st[S_CPU_US] // st[S_RUNS])
                if m < c:
                    c = m
            busy += c * scale
            if not st[S_SOFT] and dur + busy > d + st[S_PERIOD_US]:
                return False
        return True

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
    hk = pack_hk  # (values, i): the HK fields, flight/scheduler_telemetry.py
    hk_diag = pack_hk_diag  # (values, i): the per-task diagnostic set

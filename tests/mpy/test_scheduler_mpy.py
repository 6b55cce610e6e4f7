"""Scheduler behaviour; runs under CPython and inside the MicroPython VM."""

from hal.compat import TICKS_PERIOD, ticks_add, ticks_diff
from flight.scheduler import (EV_TASK_DISABLED, EV_TASK_FAULT, EV_TASK_OUT_OF_MEMORY,
                              Scheduler, Task)
from flight.scheduler_telemetry import EV_TASK_RETRIED, EV_TASK_SAFING_FAILED, retry_disabled

try:
    import micropython
except ImportError:  # CPython: the heap lock is a MicroPython facility
    micropython = None
from hal.clock import VirtualClock


class Recorder:
    def __init__(self, clock, name, log):
        self.clock = clock
        self.name = name
        self.log = log

    def __call__(self):
        self.log.append((self.name, self.clock.now_us()))


class FakeWatchdog:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


def _make(start=0):
    clock = VirtualClock(start_ticks=start)
    events = []
    safe = []
    sched = Scheduler(clock, watchdog=FakeWatchdog(),
                      on_event=lambda i, a, d: events.append((i, a, d)),
                      on_safe=lambda t: safe.append(t.name))
    return clock, sched, events, safe


def test_rate_monotonic_order_when_releases_coincide():
    clock, sched, _, _ = _make()
    log = []
    # Added in "wrong" order on purpose: the shorter period must still go first.
    sched.add(Task("slow", 100000, Recorder(clock, "slow", log)))
    sched.add(Task("mid", 20000, Recorder(clock, "mid", log)))
    sched.add(Task("fast", 10000, Recorder(clock, "fast", log)))
    sched.add(Task("mid2", 20000, Recorder(clock, "mid2", log)))
    sched.run_for(1)  # everything released at t=0
    assert [n for n, _ in log] == ["fast", "mid", "mid2", "slow"]
    log[:] = []
    sched.run_for(100000)  # through t=100000 where all four coincide again
    at_100ms = [n for n, t in log if t == 100000]
    assert at_100ms == ["fast", "mid", "mid2", "slow"], at_100ms


def test_exact_release_times_over_10000_periods():
    clock, sched, _, _ = _make(start=12345)
    log = []
    sched.add(Task("a", 10000, Recorder(clock, "a", log), offset_us=700))
    sched.add(Task("b", 30000, Recorder(clock, "b", log), offset_us=0))
    sched.run_for(10000 * 10000)
    a_times = [t for n, t in log if n == "a"]
    assert len(a_times) == 10000
    for k, t in enumerate(a_times):
        assert t == (12345 + 700 + k * 10000) % TICKS_PERIOD, (k, t)
    b_times = [t for n, t in log if n == "b"]
    assert len(b_times) == (10000 * 10000 + 29999) // 30000
    assert b_times[-1] == (12345 + (len(b_times) - 1) * 30000) % TICKS_PERIOD


def test_no_cumulative_drift_when_tasks_cost_time():
    clock, sched, _, _ = _make()
    log = []

    def costly():
        log.append(clock.now_us())
        clock.advance(3700)  # each run burns 3.7 ms of a 10 ms period

    sched.add(Task("costly", 10000, costly))
    sched.run_for(1000 * 10000)
    assert len(log) == 1000
    # Every start is exactly on the absolute grid: the cost never accumulates.
    for k, t in enumerate(log):
        assert t == k * 10000
    assert sched.task("costly").cpu_us >= 1000 * 3700


def test_overrun_and_late_accounting_with_a_task_that_burns_time():
    clock, sched, _, _ = _make()
    fast_log = []
    burns = [0]

    def burner():
        burns[0] += 1
        if burns[0] % 10 == 0:
            clock.advance(25000)  # every 10th run: 25 ms against a 10 ms budget

    sched.add(Task("fast", 5000, Recorder(clock, "fast", fast_log), budget_us=4000))
    sched.add(Task("burner", 50000, burner, budget_us=10000))
    sched.run_for(1000000)  # 1 s
    b = sched.task("burner")
    f = sched.task("fast")
    assert b.runs == 20
    assert b.overruns == 2  # runs 10 and 20
    assert b.max_cpu_us >= 25000
    # The fast task is delayed by each 25 ms burn: late starts and lateness recorded.
    assert f.late_starts >= 2
    assert 20000 <= f.max_late_us <= 25000
    # It skipped the releases it could not run, instead of bursting them: each burn
    # (450->475 ms, 950->975 ms) swallows the releases at +10, +15 and +20 ms
    # (the one at +5 ms runs late, the one at +25 ms on time).
    assert f.skipped == 6
    assert f.runs == 200 - 6
    assert f.deadline_misses >= 2
    assert f.overruns == 0


def test_fault_containment_disables_after_n_and_others_keep_running():
    clock, sched, events, safe = _make()
    log = []

    def bad():
        raise ValueError("sensor gone")

    sched.add(Task("good", 10000, Recorder(clock, "good", log)))
    sched.add(Task("bad", 20000, bad, max_faults=3))
    sched.run_for(200000)
    bad_t = sched.task("bad")
    assert bad_t.faults == 3
    assert not bad_t.enabled
    assert len(log) == 20  # the good task ran every period regardless
    kinds = [e[0] for e in events]
    assert kinds.count(EV_TASK_FAULT) == 3
    assert kinds.count(EV_TASK_DISABLED) == 1
    assert safe == []  # not critical: no safe mode


def test_memory_error_is_its_own_event_and_the_fault_handler_allocates_nothing():
    clock, sched, events, _ = _make()
    n = [0]

    def oom():
        n[0] += 1
        raise MemoryError("heap")

    t = sched.add(Task("oom", 10000, oom, max_faults=2))
    sched.run_for(5000)  # one run: reported through the event sink
    assert t.faults == 1 and [e[0] for e in events] == [EV_TASK_OUT_OF_MEMORY]
    assert events[0][2] == "oom"
    # The second fault with the heap locked (as when it is exhausted): the handler,
    # and the disable that follows, must neither raise nor need the heap.
    e = MemoryError("heap")
    if micropython is not None:
        micropython.heap_lock()
    try:
        sched._fault(t, e)
    finally:
        if micropython is not None:
            micropython.heap_unlock()
    assert t.faults == 2 and not t.enabled
    if micropython is None:  # (with the heap locked the recording sink itself fails)
        assert [x[0] for x in events[1:]] == [EV_TASK_OUT_OF_MEMORY, EV_TASK_DISABLED]


def test_intermittent_fault_resets_the_consecutive_count():
    clock, sched, _, _ = _make()
    n = [0]

    def flaky():
        n[0] += 1
        if n[0] % 2 == 0:
            raise OSError(5)

    sched.add(Task("flaky", 10000, flaky, max_faults=2))
    sched.run_for(100000)
    t = sched.task("flaky")
    assert t.enabled
    assert t.faults == 5


def test_critical_fault_calls_safe_hook():
    clock, sched, events, safe = _make()
    sched.add(Task("apt", 10000, _dead, critical=True, max_faults=2))
    sched.run_for(50000)
    assert safe == ["apt", "apt"]
    assert not sched.task("apt").enabled


def _dead():
    raise ValueError("dead")


def _broken():
    raise OSError(5)


def test_a_task_disabled_for_its_faults_runs_its_owners_safe_state_once():
    clock, sched, events, _ = _make()
    safed = []
    t = sched.add(Task("loop", 10000, _dead, max_faults=3,
                       on_disable=lambda: safed.append(len(events))))
    sched.run_for(15000)  # two faults (at 0 and 10 ms): not yet
    assert safed == [] and t.enabled
    sched.run_for(100000)
    assert not t.enabled and t.faults == 3 and [e[0] for e in events][-1] == EV_TASK_DISABLED
    assert safed == [4]  # once, right after the three faults and TASK_DISABLED


def test_a_safe_state_that_fails_is_its_own_event_and_the_others_run_on():
    clock, sched, events, _ = _make()
    log = []
    sched.add(Task("good", 10000, Recorder(clock, "good", log)))
    t = sched.add(Task("loop", 10000, _dead, max_faults=2, on_disable=_broken))
    sched.run_for(100000)
    assert [e[0] for e in events][-2:] == [EV_TASK_DISABLED, EV_TASK_SAFING_FAILED]
    assert events[-1][2] == "loop" and "OSError" in events[-1][1][0]
    assert len(log) == 10 and not t.enabled


def test_a_session_start_retries_only_the_tasks_their_faults_disabled():
    clock, sched, events, _ = _make()
    n = [0]

    def flaky():  # two faults, then well
        n[0] += 1
        if n[0] <= 2:
            raise ValueError("transient")

    loop = sched.add(Task("loop", 10000, flaky, max_faults=2))
    off = sched.add(Task("off", 10000, Recorder(clock, "off", [])))
    crit = sched.add(Task("crit", 10000, _dead, critical=True, max_faults=1))
    sched.run_for(50000)
    sched.enable("off", False)  # disabled on purpose, not by faults
    assert not loop.enabled and not crit.enabled and n[0] == 2
    got = []
    retry_disabled(sched, lambda i, a, d: got.append((i, a, d)))
    assert got == [(EV_TASK_RETRIED, [2], "loop")]
    assert loop.enabled and not off.enabled and not crit.enabled
    sched.run_for(50000)
    assert n[0] == 7 and loop.enabled and loop.faults == 2


def test_watchdog_fed_only_while_critical_tasks_run():
    clock, sched, _, _ = _make()
    wd = sched.watchdog
    stall = [False]

    def hog():
        if stall[0]:
            clock.advance(60000)  # hogs the CPU: the critical task cannot run

    sched.add(Task("health", 100000, lambda: None, critical=True))
    sched.add(Task("hog", 50000, hog))
    sched.run_for(1000000)
    healthy_feeds = wd.feeds
    assert healthy_feeds > 0
    assert sched.watchdog_withheld == 0
    stall[0] = True
    before = wd.feeds
    sched.run_for(2000000)
    # The hog (shorter period, higher priority) always has a due release: the critical
    # task starves, so the watchdog must not be fed any more.
    assert sched.task("health").runs <= 11
    assert wd.feeds == before
    stall[0] = False
    sched.run_for(1000000)
    assert wd.feeds > before  # recovered


def test_watchdog_not_fed_when_critical_task_disabled():
    clock, sched, _, _ = _make()
    sched.add(Task("crit", 10000, _dead, critical=True, max_faults=1))
    sched.add(Task("other", 10000, lambda: None))
    sched.run_for(100000)
    assert sched.watchdog.feeds == 0 or sched.watchdog.feeds <= 1
    assert sched.watchdog_withheld > 5


def test_schedule_across_ticks_wraparound():
    start = TICKS_PERIOD - 55000  # wraps after 55 ms
    clock, sched, _, _ = _make(start=start)
    log = []
    sched.add(Task("a", 10000, Recorder(clock, "a", log)))
    sched.run_for(200000)
    assert len(log) == 20
    times = [t for _, t in log]
    assert any(t < 100000 for t in times) and any(t > TICKS_PERIOD - 60000 for t in times)
    for k in range(1, len(times)):
        assert ticks_diff(times[k], times[k - 1]) == 10000
    assert times[0] == start
    assert clock.elapsed_us == 200000


def test_step_hook_sees_all_elapsed_time():
    steps = []
    clock = VirtualClock(step_hook=steps.append)
    sched = Scheduler(clock)
    sched.add(Task("a", 10000, lambda: None))
    sched.add(Task("b", 25000, lambda: None, offset_us=3000))
    sched.run_for(1000000)
    assert sum(steps) == 1000000
    assert clock.elapsed_us == 1000000
    assert ticks_add(0, sum(steps)) == clock.now_us()


def test_enable_after_disable_resumes_on_time():
    clock, sched, _, _ = _make()
    log = []
    sched.add(Task("a", 10000, Recorder(clock, "a", log)))
    sched.run_for(50000)
    sched.enable("a", False)
    sched.run_for(50000)
    assert len(log) == 5
    sched.enable("a", True)
    sched.run_for(50000)
    assert len(log) == 10
    assert sched.task("a").skipped == 0


def test_task_argument_validation():
    for bad in ((0, 0, 0), (-5, 0, 0), (10, -1, 0), (10, 0, -1)):
        try:
            Task("x", bad[0], lambda: None, offset_us=bad[1], budget_us=bad[2])
        except ValueError:
            continue
        raise AssertionError("accepted %r" % (bad,))
    clock, sched, _, _ = _make()
    sched.add(Task("x", 10, lambda: None))
    try:
        sched.add(Task("x", 10, lambda: None))
    except ValueError:
        return
    raise AssertionError("duplicate name accepted")


def test_gc_collect_runs_in_idle_when_heap_is_low():
    import gc

    clock = VirtualClock()
    # A threshold above any heap: every heap check finds it "low".
    sched = Scheduler(clock, gc_threshold=1 << 40, gc_check_period_us=50000)
    sched.add(Task("a", 10000, lambda: None))
    sched.run_for(1000000)
    if hasattr(gc, "mem_free"):  # MicroPython: checked every 50 ms of idle time
        assert 15 <= sched.gc_runs <= 21, sched.gc_runs
    else:  # CPython has no free-heap figure: never collects on its own
        assert sched.gc_runs == 0


def test_soft_task_behind_a_long_task_skips_without_a_deadline_miss():
    # The APT's 1 kHz mirror task is soft: a release that passed while a longer task ran
    # is skipped (counted), the mirror holding its last command - no deadline miss.  A
    # hard task in the same place misses its deadline.
    for soft in (True, False):
        clock, sched, events, _ = _make()
        log = []
        fast = sched.add(Task("fast", 1000, Recorder(clock, "fast", log), soft=soft))

        def long_run(clock=clock):
            clock.advance(3500)  # busy 3.5 ms

        sched.add(Task("long", 100000, long_run, offset_us=200))
        sched.run_for(10000)
        if soft:
            assert fast.deadline_misses == 0 and fast.skipped >= 2
            assert not [e for e in events if e[2] == "fast"]
        else:
            assert fast.deadline_misses >= 1
        assert fast.runs >= 6  # it caught up after the long run either way


def test_heap_is_walked_only_when_the_allocation_count_says_it_may_be_low():
    # gc.mem_free() walks the heap (1.16 M instructions on the target): with the port's
    # O(1) allocation count the idle check walks only when the free heap may be near the
    # floor (last walked figure less twice the octets allocated since).
    import flight.scheduler as S

    walks = [0]
    count = [0]

    class FakeGc:
        def mem_free(self):
            walks[0] += 1
            return 100000

        def collect(self):
            raise AssertionError("no collection above the floor")

    saved = (S.gc, S._mem_current)
    S.gc = FakeGc()
    S._mem_current = lambda: count[0]
    try:
        sched = S.Scheduler(VirtualClock(), gc_threshold=16384, gc_check_period_us=50000)
        sched.add(Task("a", 10000, lambda: None))
        w0 = walks[0]  # (the construction's walk)
        sched.run_for(1000000)  # 20 checks, nothing allocated
        assert walks[0] == w0 and sched.heap_free == 100000
        count[0] += 30000  # estimate 100000 - 2 * 30000 = 40000: above the floor
        sched.run_for(200000)
        assert walks[0] == w0 and sched.heap_free == 40000
        count[0] += 15000  # estimate 10000: below it, so the heap is walked (100000)
        sched.run_for(100000)
        assert walks[0] == w0 + 1 and sched.heap_free == 100000 and sched.gc_runs == 0
        sched.run_for(500000)
        assert walks[0] == w0 + 1  # the estimate starts again from the walk
        count[0] -= 500  # explicit frees lower the count a little: no wrap, no walk
        sched.run_for(500000)
        assert walks[0] == w0 + 1 and sched.heap_free == 100000
    finally:
        S.gc, S._mem_current = saved


def _walk_rig(free=100000, walk_us=11600):
    # A fake collector whose heap walk takes walk_us of the (virtual) clock, as
    # gc.mem_free() takes 1.16 M instructions (11.6 ms at 100 M/s) on the target.
    import flight.scheduler as S

    clock = VirtualClock()
    st = {"walks": 0, "collects": 0, "count": 0, "free": free}

    class FakeGc:
        def mem_free(self):
            st["walks"] += 1
            clock.advance(walk_us)
            return st["free"]

        def collect(self):
            st["collects"] += 1
            clock.advance(4 * walk_us)
            st["free"] = 100000

    saved = (S.gc, S._mem_current)
    S.gc = FakeGc()
    S._mem_current = lambda: st["count"]
    return S, clock, st, saved


def test_heap_walk_waits_for_room_before_the_hard_deadlines():
    # Issue 11: a walk (11.6 ms) started late in the APT's 10 ms period made the APT miss
    # its deadline.  The walk now waits for an idle step where it ends early enough for
    # every hard task released meanwhile to finish by its deadline: just after the APT.
    S, clock, st, saved = _walk_rig()
    try:
        sched = S.Scheduler(clock, gc_threshold=16384, gc_check_period_us=1000)
        w0 = st["walks"]

        def apt():
            clock.advance(1400)  # 140 k instructions at 100 M/s

        def late():
            clock.advance(100)
            if clock.now_us() > 20000 and not st.get("done"):
                st["done"] = True
                st["count"] += 45000  # estimate 100000 - 90000: below the floor

        a = sched.add(Task("apt", 10000, apt))
        sched.add(Task("late", 10000, late, offset_us=8500))
        sched.run_for(100000)
        assert st["walks"] == w0 + 1 and st["collects"] == 0
        assert sched.walk_deferrals >= 1  # not at the idle step 1.4 ms before the APT
        assert a.deadline_misses == 0 and a.runs >= 9, (a.deadline_misses, a.runs)
        assert sched.walk_us == 11600  # what the next walk is expected to cost, measured
    finally:
        S.gc, S._mem_current = saved


def test_heap_walk_deferred_at_most_gc_defer_max_then_collects_below_the_floor():
    # A hard task that never leaves room (period shorter than a walk) cannot switch the
    # floor off: after gc_defer_max_us the walk runs anyway, and a heap below the floor
    # is collected at once.
    S, clock, st, saved = _walk_rig(free=8000)
    try:
        sched = S.Scheduler(clock, gc_threshold=16384, gc_check_period_us=1000,
                            gc_defer_max_us=200000)
        w0 = st["walks"]
        sched._heap_walked = 100000  # (the fake's first figure was below the floor)
        fast = sched.add(Task("fast", 2000, lambda: clock.advance(100)))
        sched.run_for(50000)
        assert st["walks"] == w0 and st["collects"] == 0  # estimate above the floor
        st["count"] += 45000
        sched.run_for(150000)
        assert st["walks"] == w0 and sched.walk_deferrals > 10  # no room, not yet due
        sched.run_for(90000)
        assert sched.walks_forced == 1 and st["collects"] == 1, (sched.walks_forced, st)
        assert st["walks"] == w0 + 2  # the walk, and the one after the collection
        assert sched.gc_runs == 1 and sched.heap_free == 100000
        sched.run_for(10000)
        assert fast.deadline_misses == 1  # the price of the floor, paid once
    finally:
        S.gc, S._mem_current = saved

"""A Task's statistics and scheduler-only declaration are the items of one list
(``Task.row``, issue 11: a smaller instance on the heap); they still read as attributes,
the scheduler still counts them, its dispatch allocates nothing.  Runs under CPython
and inside the MicroPython VMs."""

import gc

from flight.scheduler import Scheduler, Task
# (from their home: a name read through flight.scheduler would be a globals slot there on
# the image, tools/freeze_trim.py)
from flight.scheduler_telemetry import EV_DEADLINE_MISS, S_DEADLINE_MISSES, S_RUNS, S_SKIPPED
from hal.clock import VirtualClock

try:
    import micropython
except ImportError:  # CPython: no heap lock, no gc.mem_alloc
    micropython = None


def _nothing():
    pass


def test_the_row_reads_as_attributes_and_unknown_names_still_raise():
    t = Task("a", 10000, _nothing, offset_us=3000, budget_us=100, critical=True,
             max_faults=4, soft=True)
    assert (t.name, t.period_us, t.max_faults, t.critical, t.soft) == \
        ("a", 10000, 4, True, True)
    assert (t.runs, t.faults, t.deadline_misses, t.last_error) == (0, 0, 0, None)
    t.row[S_RUNS] = 7
    assert t.runs == 7 and t.stats()["runs"] == 7
    try:
        x = t.no_such_statistic
        raise AssertionError("an unknown name must raise: %r" % (x,))
    except AttributeError:
        pass
    assert getattr(t, "no_such_statistic", 5) == 5
    t.row[S_SKIPPED] = 2
    t.reset_stats()
    assert (t.runs, t.skipped, t.last_error) == (0, 0, None)
    assert (t.name, t.period_us, t.max_faults, t.critical, t.soft) == \
        ("a", 10000, 4, True, True)  # the declaration is not a statistic


def test_offsets_anchor_once_at_the_start_or_at_a_later_add():
    clock = VirtualClock(start_ticks=1000)
    s = Scheduler(clock)
    a = s.add(Task("a", 10000, _nothing, offset_us=3000))
    b = s.add(Task("b", 10000, _nothing, offset_us=5000))
    s.enable("b", False)
    s.enable("b")  # (before the start: the offset stays)
    s.start()
    s.start()  # a second start changes nothing
    assert (a.next_release, b.next_release) == (4000, 6000)
    clock.advance(2500)
    c = s.add(Task("c", 10000, _nothing, offset_us=700))
    assert c.next_release == 3500 + 700 and c.last_start == c.next_release


def test_misses_are_counted_in_the_row_without_allocating():
    clock = VirtualClock()
    events = []
    s = Scheduler(clock, on_event=lambda i, a, d: events.append((i, d)))
    slow = [0]

    def burn():
        slow[0] += 1
        clock.advance(15000)  # every run: past the next release (10 ms)

    t = s.add(Task("late", 10000, burn))
    s.start()
    s.run_once()  # the first miss: reported (an event allocates its list)
    assert t.deadline_misses == 1 and events == [(EV_DEADLINE_MISS, "late")]
    if micropython is not None:
        micropython.heap_lock()
    try:
        for _ in range(4):  # dispatches only: the task is always due
            s._dispatch(t, clock.now_us())
    finally:
        if micropython is not None:
            micropython.heap_unlock()
    assert t.row[S_DEADLINE_MISSES] == 5 and t.runs == 5 and slow[0] == 5
    assert len(events) == 1  # the first miss only


class _SixAndARow:
    """What a Task may cost: six attributes and a list of seventeen items (the 17th, its
    owner's safe state, since stop 55: flight/scheduler_telemetry.py ``on_disable``)."""

    def __init__(self):
        self.row = [0] * 17
        self.a = self.b = self.c = self.d = self.e = 0


def _each(make):
    objs = [None] * 8
    gc.collect()
    a0 = gc.mem_alloc()
    for i in range(8):
        objs[i] = make()
    gc.collect()
    return (gc.mem_alloc() - a0) // 8, objs


def test_a_task_costs_six_attributes_and_one_seventeen_item_row():
    if micropython is None:
        return  # (CPython has no gc.mem_alloc: the count is MicroPython's)
    ref, _ = _each(_SixAndARow)
    each, ts = _each(lambda: Task("t", 10000, _nothing, offset_us=1000, budget_us=500))
    # On the 32-bit target: instance 16 octets + 6-slot attribute table 48 + list 16 + 17
    # items in 5 blocks 80 = 160 (208 with the 22 attributes it had; a 7th attribute
    # instead of the 17th item grew every task's table: +1.9 kB at boot).
    assert 0 < each <= ref, (each, ref)
    assert ts[7].budget_us == 500 and ts[7].next_release == 1000


def test_the_watchdog_looks_at_the_critical_tasks_in_priority_order():
    clock = VirtualClock()
    s = Scheduler(clock)
    try:
        Scheduler(clock, late_tolerance_us=-1)
        raise AssertionError("a negative tolerance must be refused")
    except ValueError:
        pass
    slow = s.add(Task("slow", 100000, _nothing, critical=True))
    s.add(Task("plain", 1000, _nothing))
    s.start()
    assert s.stalled_task() is None
    fast = s.add(Task("fast", 10000, _nothing, critical=True))  # after the start
    clock.advance(250000)  # nothing ran: both stalled, the shorter period first
    assert s.stalled_task() is fast
    s.enable("fast", False)
    assert s.stalled_task() is fast  # disabled: still the first
    fast.last_start = slow.last_start = clock.now_us()
    s.enable("fast")
    assert s.stalled_task() is None
    s.enable("plain", False)  # not critical: not the watchdog's concern
    assert s.stalled_task() is None

"""Host-side clock behaviour: compat ticks across the wrap, real clock pacing.

No wall-clock bound here: what a real clock is checked for holds however late the host
lets the process run (a start is never before its release, releases stay on the grid).
"""

from flight.scheduler import Scheduler, Task
from hal import clock as clock_mod
from hal import compat
from hal.clock import RealClock, VirtualClock
from hal.compat import TICKS_PERIOD, ticks_add, ticks_diff, ticks_us


class FakeHostTime:
    """A host µs counter that moves only when slept on: the wrap tested exactly."""

    def __init__(self, monkeypatch, start_ns):
        self.ns = start_ns
        monkeypatch.setattr(compat, "_perf_ns", lambda: self.ns)
        monkeypatch.setattr(clock_mod, "sleep_us", self.sleep_us)
        self.slept = []

    def sleep_us(self, us):
        self.slept.append(us)
        self.ns += us * 1000


def test_host_ticks_wrap_with_offset(monkeypatch):
    host = FakeHostTime(monkeypatch, start_ns=123456789000)
    try:
        compat.set_ticks_offset_us(TICKS_PERIOD - 2000 - 123456789)  # 2 ms before the wrap
        t0 = ticks_us()
        assert t0 == TICKS_PERIOD - 2000
        clock = RealClock()
        clock.sleep_until(ticks_add(t0, 5000))
        t1 = ticks_us()
        assert t1 == 3000  # wrapped ...
        assert ticks_diff(t1, t0) == 5000  # ... yet the difference is right
        assert host.slept == [5000]
    finally:
        compat.set_ticks_offset_us(0)


def test_real_clock_sleep_until_never_returns_early(monkeypatch):
    # A sleep that ends short (resolution, rounding of dt / speed) is followed by another:
    # sleep_until returns only once the clock reads the target.
    host = FakeHostTime(monkeypatch, start_ns=0)
    short = host.sleep_us
    host_sleep = []

    def sleeps_short(us):
        host_sleep.append(us)
        short(max(us - 7, 1))  # wakes up to 7 µs early

    monkeypatch.setattr(clock_mod, "sleep_us", sleeps_short)
    clock = RealClock(speed=3.0)
    t0 = clock.now_us()
    clock.sleep_until(ticks_add(t0, 1000))
    assert ticks_diff(clock.now_us(), t0) >= 1000
    assert len(host_sleep) >= 2 and host_sleep[0] == 334  # 1000 / 3 rounded up


class RecordingClock(RealClock):
    """A real clock that keeps its readings: the test knows the end run_for computed."""

    def __init__(self):
        super().__init__()
        self.readings = []

    def now_us(self):
        t = super().now_us()
        self.readings.append(t)
        return t


def test_real_clock_schedule_keeps_the_grid():
    clock = RecordingClock()
    runs = []  # (release, start)
    sched = Scheduler(clock)
    sched.add(Task("a", 10000, lambda: runs.append((sched.current_release, clock.now_us()))))
    sched.start()
    first = len(clock.readings)
    sched.run_for(200000)
    # run_for's first reading is its start: it ends 200 ms of clock time later.  (How
    # late after start() that is depends on the host: the bound is computed, not fixed.)
    end = ticks_add(clock.readings[first], 200000)
    anchor = sched._start
    assert runs and runs[0][0] == anchor
    slots = []
    for release, start in runs:
        # Never before its release, however coarse the clock or late the host.
        assert ticks_diff(start, release) >= 0, (release, start)
        # Releases are absolute: on the grid anchor + k × period, whatever each run cost.
        k, rem = divmod(ticks_diff(release, anchor), 10000)
        assert rem == 0, (release, anchor)
        slots.append(k)
    assert slots == sorted(set(slots))
    t = sched.task("a")
    # Every grid slot before the task's next release either ran (once) or was counted as
    # skipped (a host that stalls the process longer than a period makes the scheduler
    # skip, not burst) — also when the host stalls the last run past run_for's end.
    k_next, rem = divmod(ticks_diff(t.next_release, anchor), 10000)
    assert rem == 0 and slots[-1] < k_next
    assert len(slots) == t.runs and t.runs + t.skipped == k_next, (slots, t.skipped, k_next)
    # Nothing released at or after the end of run_for, however late the host ran it.
    assert all(ticks_diff(end, release) > 0 for release, _ in runs), (end, runs[-1])


def test_real_clock_speed_factor():
    clock = RealClock(speed=50.0)
    t0 = clock.now_us()
    clock.sleep_until(ticks_add(t0, 500000))  # 0.5 s scheduled = 10 ms real
    assert ticks_diff(clock.now_us(), t0) >= 500000
    try:
        RealClock(speed=0)
    except ValueError:
        pass
    else:
        raise AssertionError("speed 0 accepted")


def test_virtual_clock_charges_no_host_time_unless_asked():
    # Task cost on a virtual clock is virtual: host CPU time (or a host that pre-empts
    # the process) never shows as a task overrun.
    clock = VirtualClock()
    sched = Scheduler(clock)
    spin = [0]

    def busy():
        for _ in range(20000):  # real host work, no virtual busy time
            spin[0] += 1

    def burns():
        clock.advance(300)

    sched.add(Task("busy", 10000, busy, budget_us=1))
    sched.add(Task("burns", 20000, burns, budget_us=200))
    sched.run_for(100000)
    b, c = sched.task("busy"), sched.task("burns")
    assert b.runs == 10 and b.cpu_us == 0 and b.overruns == 0
    assert c.runs == 5 and c.cpu_us == 5 * 300 and c.overruns == 5
    assert clock.elapsed_us == 100000


def test_charge_cpu_counts_the_threads_cpu_time(monkeypatch):
    # Asked for (charge_cpu), the host's CPU time of this thread is measured and charged
    # to virtual time: here a fake CPU counter that runs 700 µs per task run.
    cpu = [0]
    monkeypatch.setattr(clock_mod, "cpu_us", lambda: cpu[0])
    clock = VirtualClock(charge_cpu=True, cpu_scale=2.0)
    sched = Scheduler(clock)
    starts = []

    def work():
        starts.append(clock.elapsed_us)
        cpu[0] += 700

    sched.add(Task("w", 10000, work, budget_us=1000))
    after = []
    sched.add(Task("after", 30000, lambda: after.append(clock.elapsed_us)))
    sched.run_for(30000)
    t = sched.task("w")
    assert t.cpu_us == 3 * 700 and t.overruns == 0 and t.max_cpu_us == 700
    assert starts == [0, 10000, 20000]
    assert after == [2 * 700]  # released with w at 0, it starts once w's charge has passed

"""compat: const and ticks_* behave as MicroPython's on both interpreters."""

from flight.scheduler import Scheduler, Task
from hal.clock import VirtualClock
from hal.compat import TICKS_PERIOD, const, ticks_add, ticks_diff, ticks_us

_FIVE = const(5)


def test_const_is_value():
    assert _FIVE == 5
    assert const(-3) == -3


def test_ticks_add_wraps():
    top = TICKS_PERIOD - 1
    assert ticks_add(top, 1) == 0
    assert ticks_add(0, -1) == top
    assert ticks_add(10, 20) == 30


def test_ticks_diff_signed_across_wrap():
    top = TICKS_PERIOD - 1
    assert ticks_diff(0, top) == 1
    assert ticks_diff(top, 0) == -1
    assert ticks_diff(ticks_add(123, 1000), 123) == 1000
    assert ticks_diff(123, ticks_add(123, 1000)) == -1000
    half = TICKS_PERIOD // 2
    assert ticks_diff(ticks_add(5, half - 1), 5) == half - 1


def test_ticks_us_in_range():
    t = ticks_us()
    assert 0 <= t < TICKS_PERIOD


def test_ticks_period_is_the_ports():
    # The period is the port's own (2**30 on 32-bit ports and CPython, 2**62 on the
    # 64-bit unix port), a power of two, and ticks_add/ticks_diff wrap exactly there.
    assert TICKS_PERIOD == ticks_add(0, -1) + 1
    assert TICKS_PERIOD >= 1 << 30
    assert TICKS_PERIOD & (TICKS_PERIOD - 1) == 0
    half = TICKS_PERIOD // 2
    assert ticks_diff(ticks_add(7, half - 1), 7) == half - 1
    assert ticks_diff(7, ticks_add(7, half - 1)) == -(half - 1)
    assert ticks_add(TICKS_PERIOD - 3, 5) == 2


def _long_run(start, duration, period):
    """Run one cheap task under a VirtualClock for ``duration`` µs from ``start``."""
    clock = VirtualClock(start_ticks=start)

    def guard(dt):
        # A run that does not stop at its end would loop forever: fail instead.
        if clock.elapsed_us > duration:
            raise AssertionError("run_for went past its end: %d" % clock.elapsed_us)

    clock.step_hook = guard
    sched = Scheduler(clock)
    starts = []
    sched.add(Task("slow", period, lambda: starts.append(clock.elapsed_us)))
    sched.run_for(duration)
    return clock, sched, starts


def test_virtual_run_past_2_30_us_ends_on_time():
    # 2**30 µs (17.9 min) plus 5 s: past the 32-bit wrap, and past the point where a
    # hard-coded 2**30 mask hung the 64-bit port; also longer than ticks_diff's half range.
    duration = (1 << 30) + 5000000
    period = 1000000
    clock, sched, starts = _long_run(0, duration, period)
    assert clock.elapsed_us == duration
    assert clock.now_us() == duration % TICKS_PERIOD
    assert len(starts) == (duration + period - 1) // period
    assert starts[-1] == (len(starts) - 1) * period  # still on the absolute grid
    assert sched.task("slow").skipped == 0


def test_virtual_run_across_the_wrap_longer_than_half_a_period():
    # Start 3 s before the port's wrap and run for longer than half the 32-bit period.
    duration = (1 << 29) + 7000000
    period = 2000000
    start = TICKS_PERIOD - 3000000
    clock, sched, starts = _long_run(start, duration, period)
    assert clock.elapsed_us == duration
    assert clock.now_us() == (start + duration) % TICKS_PERIOD
    assert len(starts) == (duration + period - 1) // period
    assert all(s == k * period for k, s in enumerate(starts))

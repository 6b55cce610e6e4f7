"""Host-side clock behaviour: compat ticks across the wrap, real clock pacing."""

from hal import compat
from hal.compat import TICKS_PERIOD, ticks_diff, ticks_us
from flight.scheduler import Scheduler, Task
from hal.clock import RealClock


def test_host_ticks_wrap_with_offset():
    try:
        now = compat._perf_ns() // 1000
        compat.set_ticks_offset_us(TICKS_PERIOD - 2000 - now)  # ~2 ms before the wrap
        t0 = ticks_us()
        assert t0 > TICKS_PERIOD - 3000
        clock = RealClock()
        clock.sleep_until(compat.ticks_add(t0, 5000))
        t1 = ticks_us()
        assert t1 < t0  # wrapped ...
        assert 5000 <= ticks_diff(t1, t0) < 200000  # ... yet the difference is right
    finally:
        compat.set_ticks_offset_us(0)


def test_real_clock_schedule_keeps_the_grid():
    clock = RealClock()
    starts = []
    sched = Scheduler(clock)
    sched.add(Task("a", 10000, lambda: starts.append(clock.now_us())))
    sched.run_for(200000)
    assert 19 <= len(starts) <= 21
    # Releases are absolute: the k-th start is never earlier than k periods.
    for k, t in enumerate(starts):
        assert ticks_diff(t, starts[0]) >= k * 10000


def test_real_clock_speed_factor():
    clock = RealClock(speed=50.0)
    t0 = clock.now_us()
    clock.sleep_until(compat.ticks_add(t0, 500000))  # 0.5 s scheduled = 10 ms real
    assert ticks_diff(clock.now_us(), t0) >= 500000
    try:
        RealClock(speed=0)
    except ValueError:
        pass
    else:
        raise AssertionError("speed 0 accepted")

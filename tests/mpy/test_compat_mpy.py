"""compat: const and ticks_* behave as MicroPython's on both interpreters."""

from flight.compat import TICKS_PERIOD, const, ticks_add, ticks_diff, ticks_us

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

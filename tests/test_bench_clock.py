"""The target bench's clock reading (tools/target_bench_parts.py ``now_us``) against the
QEMU port's ``ticks_us`` glitch: read in the SysTick period after the wrap interrupt
counted the millisecond, while the counter still reads 0, a reading is 999 µs AHEAD
(measured on the image: ``X999`` then ``X000`` one call later).  Of two readings at most
one is off; the bench keeps the consistent one and counts the correction.  The old rule
kept the later-looking one: the glitched reading, +1 M instructions on a task run."""

from hal.compat import TICKS_PERIOD
from tools.target_bench_parts import HELPERS

_MASK = TICKS_PERIOD - 1  # MicroPython's ticks wrap


def _now_us(readings):
    src = HELPERS[HELPERS.index("GLITCH = [0]"):HELPERS.index("class TimedGc")]
    it = iter(readings)

    def ticks_diff(a, b):
        d = (a - b) & _MASK
        return d - TICKS_PERIOD if d >= TICKS_PERIOD // 2 else d

    ns = {"ticks_us": lambda: next(it), "ticks_diff": ticks_diff}
    exec(src, ns)
    return ns["now_us"], ns["GLITCH"]


def test_a_reading_999_us_ahead_is_never_kept():
    now_us, glitch = _now_us([1999, 1001])  # the first glitched (true ~1000)
    assert now_us() == 1001 and glitch == [1]
    now_us, glitch = _now_us([1000, 2000])  # the second glitched (true ~1001)
    assert now_us() == 1000 and glitch == [1]


def test_consistent_readings_pass_unchanged_across_the_wrap():
    now_us, glitch = _now_us([1000, 1001, _MASK - 1, 3])
    assert now_us() == 1001 and now_us() == 3 and glitch == [0]

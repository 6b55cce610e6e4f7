"""Onboard time without float arithmetic on the housekeeping path (DESIGN §3.1).

Uptime is kept as whole seconds + µs (small ints: a µs count passes 2**30 after 18 min and
would then be a heap-allocated long int on a 32-bit port at every update), and the offset
set by SET_TIME (onboard time = uptime + offset) is kept as given and split the same way,
so the housekeeping time fields are filled in integers.
"""

from hal.compat import ticks_diff


class Uptime:
    def __init__(self, clock):
        self.clock = clock
        self._t_last = clock.now_us()
        self._up_s = 0
        self._up_us = 0
        self.set_offset(0.0)

    def set_offset(self, x):
        self.offset = x
        s = int(x)
        if s > x:
            s -= 1
        self._off_s = s
        self._off_us = int((x - s) * 1000000)

    def advance(self):
        now = self.clock.now_us()
        us = self._up_us + ticks_diff(now, self._t_last)
        self._t_last = now
        if us >= 1000000:
            s = us // 1000000
            self._up_s += s
            us -= s * 1000000
        self._up_us = us

    def uptime_s(self):
        self.advance()
        return self._up_s + self._up_us / 1000000

    def fill(self, values, i):
        """values[i..i+2] = onboard time (s), its ms part, uptime (1/100 s): integers."""
        self.advance()
        s = self._up_s + self._off_s
        us = self._up_us + self._off_us
        if us >= 1000000:
            s += 1
            us -= 1000000
        values[i] = s
        values[i + 1] = us // 1000
        values[i + 2] = self._up_s * 100 + self._up_us // 10000

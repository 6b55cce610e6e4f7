"""Simulated watchdog (hal.interfaces.Watchdog) on the board's clock.

``expired()`` says whether the timeout passed since the last feed; the simulated board
checks it and performs the reset the hardware would.
"""

from hal.compat import ticks_diff
from hal.interfaces import RESET_POWER_ON


class SimWatchdog:
    timeout_min_ms = 1
    timeout_max_ms = 32000

    def __init__(self, clock, cause=RESET_POWER_ON):
        self.clock = clock
        self.timeout_ms = None
        self._last = 0
        self.feeds = 0
        self.cause = cause

    def init(self):
        pass

    def start(self, timeout_ms):
        if not self.timeout_min_ms <= timeout_ms <= self.timeout_max_ms:
            raise ValueError("timeout_ms")
        if self.timeout_ms is not None and timeout_ms != self.timeout_ms:
            raise ValueError("watchdog already running with another timeout")
        self.timeout_ms = timeout_ms
        self._last = self.clock.now_us()

    def feed(self):
        self.feeds += 1
        self._last = self.clock.now_us()

    def expired(self):
        if self.timeout_ms is None:
            return False
        return ticks_diff(self.clock.now_us(), self._last) > self.timeout_ms * 1000

    def reset_cause(self):
        return self.cause

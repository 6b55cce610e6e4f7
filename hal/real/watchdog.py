"""Watchdog: the MCU's independent watchdog through ``machine.WDT``.

``machine`` is imported when first needed (so the module imports on CPython), or a
module-like object can be injected (tests). On the STM32 the IWDG accepts 1..32000 ms and,
once started, can be neither stopped nor re-armed with another timeout.
"""

from hal.errors import DeviceFault
from hal.interfaces import (
    RESET_HARD,
    RESET_OTHER,
    RESET_POWER_ON,
    RESET_SOFT,
    RESET_WATCHDOG,
    Watchdog,
)

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any  # noqa: F401


class MachineWatchdog(Watchdog):
    """:class:`hal.interfaces.Watchdog` on ``machine.WDT``."""

    def __init__(self, wdt_id=0, machine_module=None, name="wdt", timeout_max_ms=32000):
        # type: (int, Any, str, int) -> None
        self.name = name
        self._id = wdt_id
        self._m = machine_module
        self._wdt = None  # type: Any
        self._timeout_ms = 0
        self.timeout_max_ms = timeout_max_ms

    def _machine(self):
        # type: () -> Any
        if self._m is None:
            import machine

            self._m = machine
        return self._m

    def init(self):
        # type: () -> None
        """Nothing to do: the watchdog starts only on :meth:`start`."""
        return None

    def start(self, timeout_ms):
        # type: (int) -> None
        if not (self.timeout_min_ms <= timeout_ms <= self.timeout_max_ms):
            raise ValueError("watchdog timeout")
        if self._wdt is not None:
            if timeout_ms != self._timeout_ms:
                raise ValueError("watchdog already started with another timeout")
            return
        m = self._machine()
        try:
            self._wdt = m.WDT(id=self._id, timeout=timeout_ms)
        except (OSError, ValueError) as e:
            raise DeviceFault("%s: cannot start (%s)" % (self.name, e))  # noqa: B904
        self._timeout_ms = timeout_ms

    def started(self):
        # type: () -> bool
        return self._wdt is not None

    def feed(self):
        # type: () -> None
        w = self._wdt
        if w is not None:
            w.feed()

    def reset_cause(self):
        # type: () -> int
        m = self._machine()
        c = m.reset_cause()
        if c == getattr(m, "PWRON_RESET", -100):
            return RESET_POWER_ON
        if c == getattr(m, "WDT_RESET", -100):
            return RESET_WATCHDOG
        if c == getattr(m, "SOFT_RESET", -100):
            return RESET_SOFT
        if c == getattr(m, "HARD_RESET", -100):
            return RESET_HARD
        return RESET_OTHER

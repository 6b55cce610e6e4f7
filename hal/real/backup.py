"""Backup registers: the STM32H7 RTC backup registers through ``machine.mem32``.

The RTC of the STM32H7 has 32 backup registers ``RTC_BKP0R..RTC_BKP31R`` in the
battery-backed (VBAT) backup domain: they survive a reset, a power cycle while VBAT is
present and any rewrite of the flash file system. A backup-domain reset (RCC_BDCR.BDRST),
a tamper event or the loss of VBAT clears them to 0.

Registers (RM0433, STM32H742/743/750/753):

* ``RTC`` base ``0x5800_4000``; ``RTC_BKPxR`` at ``0x5800_4100 + 4 * x``;
* ``PWR_CR1`` at ``0x5802_4800``, bit 8 ``DBP``: writes to the backup domain are ignored
  while it is 0, so :meth:`write` sets it first;
* ``RCC_APB4ENR`` at ``0x5802_44F4``, bit 16 ``RTCAPBEN``: the RTC's register clock,
  which MicroPython's RTC start-up enables already; :meth:`init` makes sure.

This driver uses ``BKP0R..BKP7R`` (:data:`hal.interfaces.N_BACKUP_WORDS`); the high
registers are left to MicroPython's own RTC code, which may keep start-up state there.

``mem`` is ``machine.mem32`` (the stm32 port's view of the address space), injected
by tests.
"""

from hal.errors import DeviceFault
from hal.interfaces import N_BACKUP_WORDS, BackupRegisters

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any  # noqa: F401

RTC_BKP0R = 0x58004100
PWR_CR1 = 0x58024800
PWR_CR1_DBP = 1 << 8
RCC_APB4ENR = 0x580244F4
RCC_APB4ENR_RTCAPBEN = 1 << 16


def _mem32():
    # type: () -> Any
    import machine

    return machine.mem32


class Stm32BackupRegisters(BackupRegisters):
    """:class:`hal.interfaces.BackupRegisters` on ``RTC_BKP0R..RTC_BKP7R``."""

    def __init__(self, mem=None, name="rtc_bkp", base=RTC_BKP0R):
        # type: (Any, str, int) -> None
        self.name = name
        self._mem = mem
        self._base = base

    def _m(self):
        # type: () -> Any
        if self._mem is None:
            self._mem = _mem32()
        return self._mem

    def init(self):
        # type: () -> None
        m = self._m()
        m[RCC_APB4ENR] = m[RCC_APB4ENR] | RCC_APB4ENR_RTCAPBEN

    def read(self, i):
        # type: (int) -> int
        if not 0 <= i < N_BACKUP_WORDS:
            raise ValueError("backup word index")
        # mem32 returns a signed value on some ports: keep the unsigned 32-bit view.
        return self._m()[self._base + 4 * i] & 0xFFFFFFFF

    def write(self, i, value):
        # type: (int, int) -> None
        if not 0 <= i < N_BACKUP_WORDS:
            raise ValueError("backup word index")
        if not 0 <= value <= 0xFFFFFFFF:
            raise ValueError("backup word value")
        m = self._m()
        m[PWR_CR1] = m[PWR_CR1] | PWR_CR1_DBP
        addr = self._base + 4 * i
        m[addr] = value
        if m[addr] & 0xFFFFFFFF != value:  # write protection still on, or VBAT domain off
            raise DeviceFault("%s: word %d did not read back" % (self.name, i))

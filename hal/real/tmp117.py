"""Temperature: Texas Instruments TMP117 (I2C, +-0.1 degC, 16-bit, 7.8125 mK/LSB).

Two sensors on the SiPM board for redundancy: ADD0 to GND -> 0x48, ADD0 to V+ -> 0x49.

Registers (16-bit, big-endian, pointer = register address):

====  ===============  ===========================================================
0x00  TEMP_RESULT      two's complement, 7.8125 mK/LSB; 0x8000 after reset until
                       the first conversion completes
0x01  CONFIGURATION    15 HIGH_Alert, 14 LOW_Alert, 13 Data_Ready, 12 EEPROM_Busy
                       (read-only); 11:10 MOD, 9:7 CONV, 6:5 AVG, 4 T/nA, 3 POL,
                       2 DR/Alert, 1 Soft_Reset (reads 0), 0 reserved
0x0F  DEVICE_ID        15:12 revision, 11:0 0x117
====  ===============  ===========================================================

Configuration written by :meth:`Tmp117.init`: continuous conversion (MOD 00), CONV 011 with
AVG 01 (8 averages): a fresh result every 125 ms, four per 500 ms bias cycle.
"""

from hal.errors import SensorError
from hal.interfaces import TEMP_Q, TempSensor
from hal.real._util import I2cReg16, const, get16, get16s

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from machine import I2C  # noqa: F401

REG_TEMP = const(0x00)
REG_CONFIG = const(0x01)
REG_DEVICE_ID = const(0x0F)
DEVICE_ID = const(0x117)
CONFIG_DEFAULT = const(0x01A0)  # MOD=00 continuous, CONV=011, AVG=01
_CONFIG_RW_MASK = const(0x0FFC)  # bits that read back what was written
NO_RESULT = const(0x8000)
LSB_C = 0.0078125
_LSB_Q = TEMP_Q // 128  # one LSB (1/128 K) in 1/TEMP_Q degC: 32, exact


class Tmp117(I2cReg16, TempSensor):
    """:class:`hal.interfaces.TempSensor` on a TMP117.

    Args:
        i2c: ``machine.I2C`` (400 kHz).
        addr: 0x48 or 0x49 (0x4A, 0x4B also possible on the part).
        t_min_c, t_max_c: plausible range (part: -55..150 degC).
    """

    ADDRESSES = (0x48, 0x49, 0x4A, 0x4B)
    PART = "TMP117"

    def __init__(self, i2c, addr=0x48, name=None, t_min_c=-55.0, t_max_c=125.0):
        # type: (I2C, int, str | None, float, float) -> None
        I2cReg16.__init__(self, i2c, addr, name)
        self.t_min_c = t_min_c
        self.t_max_c = t_max_c
        # The range in read_q's unit, converted once (read_q makes no float).
        self._min_q = int(t_min_c * TEMP_Q)
        self._max_q = int(t_max_c * TEMP_Q)

    def device_id(self):
        # type: () -> int
        """The DEVICE_ID register (revision << 12 | 0x117)."""
        return get16(self._read(REG_DEVICE_ID), 0)

    def init(self):
        # type: () -> None
        did = self.device_id()
        if did & 0x0FFF != DEVICE_ID:
            raise SensorError("%s: DEVICE_ID 0x%04X is not a TMP117" % (self.name, did))
        self._write(REG_CONFIG, CONFIG_DEFAULT)
        cfg = get16(self._read(REG_CONFIG), 0)
        if cfg & _CONFIG_RW_MASK != CONFIG_DEFAULT & _CONFIG_RW_MASK:
            raise SensorError("%s: configuration reads back 0x%04X" % (self.name, cfg))

    def read_c(self):
        # type: () -> float
        b = self._read(REG_TEMP)
        if get16(b, 0) == NO_RESULT:
            raise SensorError("%s: no conversion yet" % self.name)
        t = get16s(b, 0) * LSB_C
        if not (self.t_min_c <= t <= self.t_max_c):
            raise SensorError("%s: implausible %.2f degC" % (self.name, t))
        return t

    def read_q(self):
        # type: () -> int
        """**hot** :meth:`read_c` in 1/TEMP_Q degC: the register times 32, exact, no float
        (the message's float only on an error)."""
        b = self._read(REG_TEMP)
        if get16(b, 0) == NO_RESULT:
            raise SensorError("%s: no conversion yet" % self.name)
        q = get16s(b, 0) * _LSB_Q
        if not (self._min_q <= q <= self._max_q):
            raise SensorError("%s: implausible %.2f degC" % (self.name, q / TEMP_Q))
        return q

"""Power switches: TI TPS2553 load switches (EN active high, FAULT open-drain active low:
current limit or thermal shutdown) on GPIOs, currents measured by TI INA3221 three-channel
shunt monitors on I2C (0x40: A0 to GND, 0x41: A0 to VS).

INA3221 registers (16-bit, big-endian):

====  ================  =========================================================
0x00  CONFIGURATION     15 RST, 14..12 CH1..CH3 enable, 11..9 AVG, 8..6 VBUS CT,
                        5..3 VSH CT, 2..0 MODE
0x01  CH1 SHUNT         two's complement in bits 15..3, 40 uV/LSB
0x03  CH2 SHUNT         (bus voltages at 0x02/0x04/0x06 are not used)
0x05  CH3 SHUNT
0xFE  MANUFACTURER_ID   0x5449 ("TI")
0xFF  DIE_ID            0x3220
====  ================  =========================================================

CONFIGURATION written: 0x7527 = all channels, AVG 16, 1.1 ms conversions, continuous
shunt and bus. Current (mA) = shunt uV / shunt mOhm.
"""

from hal.errors import SensorError
from hal.interfaces import N_SWITCHES, Power
from hal.real._util import I2cReg16, const, get16, get16s

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, List, Optional, Sequence, Tuple  # noqa: F401

    from machine import I2C, Pin  # noqa: F401

INA_REG_CONFIG = const(0x00)
INA_REG_MANUFACTURER_ID = const(0xFE)
INA_REG_DIE_ID = const(0xFF)
INA_MANUFACTURER_ID = const(0x5449)
INA_DIE_ID = const(0x3220)
INA_CONFIG = const(0x7527)
INA_SHUNT_LSB_UV = const(40)


class Ina3221(I2cReg16):
    """TI INA3221 shunt monitor."""

    ADDRESSES = (0x40, 0x41, 0x42, 0x43)
    PART = "INA3221"

    def __init__(self, i2c, addr=0x40, name=None):
        # type: (I2C, int, Optional[str]) -> None
        I2cReg16.__init__(self, i2c, addr, name)

    def init(self):
        # type: () -> None
        mid = get16(self._read(INA_REG_MANUFACTURER_ID), 0)
        did = get16(self._read(INA_REG_DIE_ID), 0)
        if mid != INA_MANUFACTURER_ID or did != INA_DIE_ID:
            raise SensorError("%s: IDs 0x%04X/0x%04X, not an INA3221" % (self.name, mid, did))
        self._write(INA_REG_CONFIG, INA_CONFIG)
        cfg = get16(self._read(INA_REG_CONFIG), 0)
        if cfg != INA_CONFIG:
            raise SensorError("%s: CONFIGURATION reads back 0x%04X" % (self.name, cfg))

    def shunt_uv(self, channel):
        # type: (int) -> int
        """Shunt voltage of channel 1..3, microvolts (signed)."""
        return (get16s(self._read(2 * channel - 1), 0) >> 3) * INA_SHUNT_LSB_UV


class GpioPower(Power):
    """:class:`hal.interfaces.Power` on GPIO load switches and INA3221 monitors.

    Args:
        en_pins: ``N_SWITCHES`` output pins (index = ``SW_*``), active high.
        monitors: :class:`Ina3221` objects.
        channels: per switch ``(monitor index, channel 1..3)``.
        shunt_mohm: per switch shunt resistance, milliohm (> 0).
        fault_pins: per switch input pin (active low) or None; or None for none at all.
    """

    def __init__(self, en_pins, monitors, channels, shunt_mohm, fault_pins=None, name="power"):
        # type: (Sequence[Pin], Sequence[Ina3221], Sequence[Tuple[int, int]], Sequence[int], Optional[Sequence[Optional[Pin]]], str) -> None
        if len(en_pins) != N_SWITCHES or len(channels) != N_SWITCHES:
            raise ValueError("one enable pin and one monitor channel per switch")
        if len(shunt_mohm) != N_SWITCHES or min(shunt_mohm) <= 0:
            raise ValueError("shunt_mohm")
        for mon, ch in channels:
            if not (0 <= mon < len(monitors)) or not (1 <= ch <= 3):
                raise ValueError("monitor channel")
        if fault_pins is not None and len(fault_pins) != N_SWITCHES:
            raise ValueError("fault_pins")
        self.name = name
        self._en = list(en_pins)
        self._mon = list(monitors)
        self._chan = list(channels)
        self._shunt = list(shunt_mohm)
        self._fault = list(fault_pins) if fault_pins is not None else [None] * N_SWITCHES
        self._state = [False] * N_SWITCHES
        self._tmp = [0] * N_SWITCHES  # type: List[int]

    def init(self):
        # type: () -> None
        for i in range(N_SWITCHES):
            self._en[i].value(0)
            self._state[i] = False
        for m in self._mon:
            m.init()

    def _check(self, switch):
        # type: (int) -> None
        if not (0 <= switch < N_SWITCHES):
            raise ValueError("switch")

    def set(self, switch, on):
        # type: (int, bool) -> None
        self._check(switch)
        self._en[switch].value(1 if on else 0)
        self._state[switch] = bool(on)

    def get(self, switch):
        # type: (int) -> bool
        self._check(switch)
        return self._state[switch]

    def currents(self, buf):
        # type: (Any) -> None
        if len(buf) < N_SWITCHES:
            raise ValueError("current buffer too small")
        tmp = self._tmp
        mon = self._mon
        chan = self._chan
        shunt = self._shunt
        i = 0
        while i < N_SWITCHES:
            mc = chan[i]
            tmp[i] = mon[mc[0]].shunt_uv(mc[1]) // shunt[i]
            i += 1
        i = 0
        while i < N_SWITCHES:
            buf[i] = tmp[i]
            i += 1

    def fault(self, switch):
        # type: (int) -> bool
        self._check(switch)
        p = self._fault[switch]
        return p is not None and p.value() == 0

    def trips(self):
        # type: () -> int
        m = 0
        st = self._state
        fp = self._fault
        i = 0
        while i < N_SWITCHES:
            p = fp[i]
            if st[i] and p is not None and p.value() == 0:
                m |= 1 << i
            i += 1
        return m

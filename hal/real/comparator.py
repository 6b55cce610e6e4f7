"""Comparator threshold: Microchip MCP4822 (dual 12-bit DAC, SPI, internal 2.048 V ref).

16-bit write frame, MSB first, latched on SCLK rising edges (SPI mode 0 or 3), framed by
CS; LDAC tied low so the output updates on the rising edge of CS:

    bit 15  A/B   0 = DAC A, 1 = DAC B
    bit 14  --    don't care (0)
    bit 13  GA    1 = gain 1x (Vout = 2.048 V * D / 4096), 0 = 2x
    bit 12  SHDN  1 = output active, 0 = output shut down (high impedance)
    11..0   D     code

Channel A sets the comparator threshold (gain 1x: 0.5 mV/code, 0..2.0475 V); channel B
is unused and shut down by :meth:`Mcp4822Comparator.init`. The part has no read-back.
"""

from hal.interfaces import ComparatorDac
from hal.real._util import bus_error, const

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from machine import SPI, Pin  # noqa: F401

_CH_A_ACTIVE_1X = const(0x30)  # A/B=0, GA=1, SHDN=1 (high nibble of the first byte)
_CH_B_SHUTDOWN = const(0x80)  # A/B=1, SHDN=0


class Mcp4822Comparator(ComparatorDac):
    """:class:`hal.interfaces.ComparatorDac` on channel A of an MCP4822.

    Args:
        spi: ``machine.SPI`` in mode 0 (shared with the FPGA).
        cs: chip-select pin (output, idle high).
        initial_code: threshold written by :meth:`init` (mid-scale by default).
    """

    code_max = 4095
    volts_per_code = 2.048 / 4096

    def __init__(self, spi, cs, name="comparator", initial_code=2048):
        # type: (SPI, Pin, str, int) -> None
        if not (0 <= initial_code <= 4095):
            raise ValueError("initial_code")
        self.name = name
        self._spi = spi
        self._cs = cs
        self._initial = initial_code
        self._code = initial_code
        self._b = bytearray(2)
        cs.value(1)

    def _send(self):
        # type: () -> None
        cs = self._cs
        cs.value(0)
        try:
            self._spi.write(self._b)
        except OSError as e:
            raise bus_error(self.name, "SPI write", e)  # noqa: B904
        finally:
            cs.value(1)

    def init(self):
        # type: () -> None
        self._b[0] = _CH_B_SHUTDOWN
        self._b[1] = 0
        self._send()
        self.set_code(self._initial)

    def set_code(self, code):
        # type: (int) -> None
        if not (0 <= code <= 4095):
            raise ValueError("comparator code out of range")
        b = self._b
        b[0] = _CH_A_ACTIVE_1X | (code >> 8)
        b[1] = code & 0xFF
        self._send()
        self._code = code

    def code(self):
        # type: () -> int
        return self._code

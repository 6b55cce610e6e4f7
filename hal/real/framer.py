"""Framer: the payload FPGA's framer block (50 Mbit/s Manchester packets, paper 2.5).

Register map (32-bit registers, protocol in ``hal/real/fpga.py``):

====  ====================  ==  =========================================================
addr  name                  rw  meaning
====  ====================  ==  =========================================================
0x00  ID                    r   0x5646524D ("VFRM")
0x01  VERSION               r   major << 16 | minor
0x02  CONTROL               rw  bit0 RX_EN, bit1 TX_EN
0x03  MODE                  rw  0 DATA, 1 PRBS, 2 LOOPBACK
0x04  STATUS                r   bit0 LOCKED, bit1 PLL_LOCKED, bit2 FAULT (configuration
                                memory upset found by the scrubber); other bits read 0
0x05  SNAPSHOT              w   write 1: copy every counter and STATUS into the shadow
                                block 0x10..0x1A in the same clock cycle, index + 1
0x10  SNAP_TAG              r   0x5646 << 16 | snapshot index (16 bits)
0x11  PACKETS_OK            r   \\
0x12  CRC_ERRORS            r    |
0x13  SERIAL_GAPS           r    |  32-bit counters, free-running from FPGA
0x14  PREAMBLE_BIT_ERRORS   r    |  configuration, wrapping, never cleared
0x15  PRBS_BIT_ERRORS       r    |
0x16  PRBS_BITS             r    |
0x17  SYNC_LOSSES           r   /
0x18  TRIGGERS              r   comparator output rising edges (noise triggers when no
                                signal: the comparator module's noise-floor sweep)
0x19  SNAP_STATUS           r   STATUS at the snapshot
0x1A  CODE_VIOLATIONS       r   Manchester code violations (00/11 chip pairs) on packet
                                chips while locked, 32-bit wrapping (FPGA v1.1: the
                                comparator's dither statistics at low BER)
====  ====================  ==  =========================================================

``read_counters`` = one 5-byte write (SNAPSHOT) + one 46-byte read burst (0x10..0x1A).
"""

from hal.errors import BusError, DeviceFault, SensorError
from hal.interfaces import (
    CTR_CODE_VIOLATIONS,
    CTR_LOCKED,
    CTR_SNAPSHOT,
    CTR_TRIGGERS,
    FRAMER_MODES,
    MODE_DATA,
    N_COUNTERS,
    Framer,
)
from hal.real._util import const, get16, get30, put32
from hal.real.fpga import WRITE_FLAG, FpgaSpi

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any  # noqa: F401

    from machine import SPI, Pin  # noqa: F401

FRAMER_ID = 0x5646524D
REG_ID = const(0x00)
REG_VERSION = const(0x01)
REG_CONTROL = const(0x02)
REG_MODE = const(0x03)
REG_STATUS = const(0x04)
REG_SNAPSHOT = const(0x05)
REG_SNAP_BLOCK = const(0x10)
SNAP_WORDS = const(11)
SNAP_TAG = const(0x5646)

CONTROL_RX_EN = const(0x01)
CONTROL_TX_EN = const(0x02)
STATUS_LOCKED = const(0x01)
STATUS_PLL_LOCKED = const(0x02)
STATUS_FAULT = const(0x04)
_STATUS_DEFINED = const(0x07)


class FpgaFramer(Framer):
    """:class:`hal.interfaces.Framer` over the FPGA framer block (SPI, own chip select)."""

    def __init__(self, spi, cs, name="framer"):
        # type: (SPI, Pin, str) -> None
        self.name = name
        self._fpga = FpgaSpi(spi, cs, name)
        self._control = 0
        self._mode = MODE_DATA
        self._snap_cmd = bytearray(5)
        self._snap_cmd[0] = WRITE_FLAG | REG_SNAPSHOT
        put32(self._snap_cmd, 1, 1)
        self._block = bytearray(4 * SNAP_WORDS)

    def init(self):
        # type: () -> None
        ident = self._fpga.read_reg(REG_ID)
        if ident != FRAMER_ID:
            raise SensorError("%s: ID 0x%08X, expected 0x%08X" % (self.name, ident, FRAMER_ID))
        self._control = 0
        self._fpga.write_reg(REG_CONTROL, 0)
        self._mode = MODE_DATA
        self._fpga.write_reg(REG_MODE, MODE_DATA)
        if self._fpga.read_reg(REG_CONTROL) != 0 or self._fpga.read_reg(REG_MODE) != MODE_DATA:
            raise SensorError("%s: configuration does not read back" % self.name)

    def version(self):
        # type: () -> int
        """FPGA framer block version, ``major << 16 | minor``."""
        return self._fpga.read_reg(REG_VERSION)

    def _set_control(self, bit, on):
        # type: (int, bool) -> None
        c = (self._control | bit) if on else (self._control & ~bit)
        self._fpga.write_reg(REG_CONTROL, c)
        self._control = c

    def enable_rx(self, on):
        # type: (bool) -> None
        self._set_control(CONTROL_RX_EN, on)

    def enable_tx(self, on):
        # type: (bool) -> None
        self._set_control(CONTROL_TX_EN, on)

    def set_mode(self, mode):
        # type: (int) -> None
        if mode not in FRAMER_MODES:
            raise ValueError("framer mode")
        self._fpga.write_reg(REG_MODE, mode)
        self._mode = mode

    def mode(self):
        # type: () -> int
        """The last mode set."""
        return self._mode

    def status(self):
        # type: () -> int
        """Live STATUS bits (LOCKED, PLL_LOCKED, FAULT). Raises BusError."""
        b = self._fpga.read_reg_buf(REG_STATUS)
        if b[0] or b[1] or b[2] or (b[3] & ~_STATUS_DEFINED):
            raise BusError("%s: implausible STATUS" % self.name)
        return b[3]

    def read_counters(self, buf):
        # type: (Any) -> None
        if len(buf) < N_COUNTERS:
            raise ValueError("counter buffer too small")
        fpga = self._fpga
        fpga.write(self._snap_cmd)
        blk = self._block
        fpga.read_into(REG_SNAP_BLOCK, blk)
        if get16(blk, 0) != SNAP_TAG:
            raise BusError("%s: bad snapshot tag" % self.name)
        # SNAP_STATUS is the last word (offset 36).
        if blk[36] or blk[37] or blk[38] or (blk[39] & ~_STATUS_DEFINED):
            raise BusError("%s: implausible snapshot status" % self.name)
        st = blk[39]
        if st & STATUS_FAULT:
            raise DeviceFault("%s: FPGA fault" % self.name)  # noqa: B904
        if not (st & STATUS_PLL_LOCKED):
            raise DeviceFault("%s: PLL unlocked" % self.name)  # noqa: B904
        # Counters PACKETS_OK..SYNC_LOSSES at words 1..7 -> buf[0..6].
        i = 0
        off = 4
        while i < CTR_LOCKED:
            buf[i] = get30(blk, off)
            i += 1
            off += 4
        buf[CTR_LOCKED] = st & STATUS_LOCKED
        buf[CTR_SNAPSHOT] = get16(blk, 2)
        buf[CTR_TRIGGERS] = get30(blk, 32)
        buf[CTR_CODE_VIOLATIONS] = get30(blk, 40)

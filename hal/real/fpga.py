"""SPI register protocol of the payload FPGA (camera block and framer block).

Both blocks speak the same protocol, each on its own chip select (see README.md):

* SPI mode 0 (CPOL=0, CPHA=0), MSB first, chip select active low.
* Registers are 32-bit, transferred big-endian; addresses are 7-bit (0x00..0x7F).
* **Write burst**: ``0x80 | addr``, then 4*k data bytes -> registers addr .. addr+k-1.
* **Read burst**: ``addr`` (bit 7 = 0), one turnaround byte ``0x00`` (MISO undefined), then
  4*k bytes shifted out while MOSI sends 0x00 -> registers addr .. addr+k-1.
* Address ``0x7F`` is a stream port (a FIFO): reading it does not auto-increment.

Every method is one chip-select cycle; ``OSError`` from ``machine.SPI`` becomes
:class:`hal.errors.BusError` and the chip select is always released.
"""

from hal.real._util import bus_error, const, get32, put32

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from _mpy_shed import AnyReadableBuf, AnyWritableBuf  # noqa: F401
    from machine import SPI, Pin  # noqa: F401

WRITE_FLAG = const(0x80)
STREAM_PORT = const(0x7F)


class FpgaSpi:
    """One chip select of the FPGA. Preallocates its command buffers."""

    def __init__(self, spi, cs, name):
        # type: (SPI, Pin, str) -> None
        self._spi = spi
        self._cs = cs
        self.name = name
        self._cmd = bytearray(2)  # read command: addr, turnaround
        self._w5 = bytearray(5)  # single-register write
        self._r4 = bytearray(4)  # single-register read
        cs.value(1)

    def write(self, frame):
        # type: (AnyReadableBuf) -> None
        """Send a prepared write burst (``frame[0] == 0x80 | addr``, then data)."""
        cs = self._cs
        cs.value(0)
        try:
            self._spi.write(frame)
        except OSError as e:
            raise bus_error(self.name, "SPI write", e)  # noqa: B904
        finally:
            cs.value(1)

    def write_reg(self, addr, value):
        # type: (int, int) -> None
        """Write one register."""
        w = self._w5
        w[0] = WRITE_FLAG | addr
        put32(w, 1, value)
        self.write(w)

    def read_into(self, addr, buf=None, buf2=None):
        # type: (int, AnyWritableBuf | None, AnyWritableBuf | None) -> AnyWritableBuf
        """Read burst from ``addr`` into ``buf`` (len multiple of 4; None: the internal
        4-byte buffer) and, in the same chip-select cycle, on into ``buf2`` if given
        (stream reads: header + payload).  Returns ``buf``."""
        if buf is None:
            buf = self._r4
        cmd = self._cmd
        cmd[0] = addr & 0x7F
        cmd[1] = 0
        cs = self._cs
        spi = self._spi
        cs.value(0)
        try:
            spi.write(cmd)
            spi.readinto(buf, 0)
            if buf2 is not None:
                spi.readinto(buf2, 0)
        except OSError as e:
            raise bus_error(self.name, "SPI read", e)  # noqa: B904
        finally:
            cs.value(1)
        return buf

    def read_reg(self, addr):
        # type: (int) -> int
        """Read one register as an unsigned 32-bit int (not for hot paths: may be a big
        int on MicroPython)."""
        self.read_into(addr, self._r4)
        return get32(self._r4, 0)

    # ``read_reg_buf(addr)``: one register into the internal 4-byte buffer, that buffer
    # returned (valid until the next call; allocation-free) -- :meth:`read_into` itself,
    # so the camera's STATUS read every APT frame is one call, not two (a Python call is
    # ~1 k instructions on the board: docs/firmware.md §4 "The tick's calls").
    read_reg_buf = read_into

    def write_then_read(self, frame, addr, buf, buf2):
        # type: (AnyReadableBuf, int, AnyWritableBuf, AnyWritableBuf) -> None
        """A prepared write burst (:meth:`write`), then a read burst from ``addr`` into
        ``buf`` and on into ``buf2`` (:meth:`read_into`): two chip-select cycles in one
        call — the camera's frame, its window command then its stream, on the APT's path
        to the mirror."""
        cs = self._cs
        spi = self._spi
        cs.value(0)
        try:
            spi.write(frame)
        except OSError as e:
            raise bus_error(self.name, "SPI write", e)  # noqa: B904
        finally:
            cs.value(1)
        cmd = self._cmd
        cmd[0] = addr & 0x7F
        cmd[1] = 0
        cs.value(0)
        try:
            spi.write(cmd)
            spi.readinto(buf, 0)
            spi.readinto(buf2, 0)
        except OSError as e:
            raise bus_error(self.name, "SPI read", e)  # noqa: B904
        finally:
            cs.value(1)

"""Small helpers shared by the ``hal/real`` drivers (MicroPython and CPython).

Byte packing is done by hand instead of ``struct`` so that hot paths allocate nothing:
``struct.unpack`` builds a tuple, ``int.from_bytes`` may build a big int. Getters that
serve hot paths return values below 2**30 (MicroPython small ints).
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(expr):  # type: ignore[misc,no-redef]
        return expr


from hal.errors import BusError

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional  # noqa: F401


def errno_of(exc):
    # type: (BaseException) -> int
    """The errno of an ``OSError`` (MicroPython and CPython both keep it in ``args[0]``),
    or -1 when there is none."""
    args = exc.args
    if args and isinstance(args[0], int):
        return args[0]
    return -1


def bus_error(name, what, exc):
    # type: (str, str, BaseException) -> BusError
    """A :class:`BusError` for ``OSError`` ``exc`` raised by ``machine`` during ``what``."""
    return BusError("%s: %s failed (errno %d)" % (name, what, errno_of(exc)))


def put16(buf, off, v):
    # type: (Any, int, int) -> None
    """Store ``v`` (0..65535) big-endian at ``buf[off:off+2]``."""
    buf[off] = (v >> 8) & 0xFF
    buf[off + 1] = v & 0xFF


def put32(buf, off, v):
    # type: (Any, int, int) -> None
    """Store ``v`` (0..2**32-1) big-endian at ``buf[off:off+4]``."""
    buf[off] = (v >> 24) & 0xFF
    buf[off + 1] = (v >> 16) & 0xFF
    buf[off + 2] = (v >> 8) & 0xFF
    buf[off + 3] = v & 0xFF


def get16(buf, off):
    # type: (Any, int) -> int
    """Unsigned big-endian 16-bit value at ``buf[off:off+2]``."""
    return (buf[off] << 8) | buf[off + 1]


def get16s(buf, off):
    # type: (Any, int) -> int
    """Signed (two's complement) big-endian 16-bit value at ``buf[off:off+2]``."""
    v = (buf[off] << 8) | buf[off + 1]
    if v & 0x8000:
        v -= 0x10000
    return v


def get30(buf, off):
    # type: (Any, int) -> int
    """Low 30 bits of the big-endian 32-bit word at ``buf[off:off+4]`` (a small int)."""
    return ((buf[off] & 0x3F) << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]


def get32(buf, off):
    # type: (Any, int) -> int
    """Full big-endian 32-bit value (may be a big int on MicroPython: not for hot paths)."""
    return (get16(buf, off) << 16) | get16(buf, off + 2)


class I2cReg16:
    """A part with 16-bit big-endian registers behind an 8-bit pointer on I2C (TMP117,
    ADS1115, INA3221): register read/write through one preallocated 2-byte buffer, bus
    failures as :class:`hal.errors.BusError` naming the part."""

    ADDRESSES = ()  # type: tuple
    PART = "part"

    def __init__(self, i2c, addr, name=None):
        # type: (Any, int, Optional[str]) -> None
        if addr not in self.ADDRESSES:
            raise ValueError("%s address" % self.PART)
        self._i2c = i2c
        self._addr = addr
        self.name = name if name is not None else "%s@0x%02X" % (self.PART.lower(), addr)
        self._b = bytearray(2)

    def _read(self, reg):
        # type: (int) -> bytearray
        try:
            self._i2c.readfrom_mem_into(self._addr, reg, self._b)
        except OSError as e:
            raise bus_error(self.name, "I2C read", e)  # noqa: B904
        return self._b

    def _write(self, reg, value):
        # type: (int, int) -> None
        put16(self._b, 0, value)
        try:
            self._i2c.writeto_mem(self._addr, reg, self._b)
        except OSError as e:
            raise bus_error(self.name, "I2C write", e)  # noqa: B904

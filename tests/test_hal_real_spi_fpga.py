"""hal/real/fpga.py against a fake bus: the FPGA SPI register protocol shared by the
camera and framer blocks (exact write/read frames, turnaround, chip select released,
OSError -> BusError)."""

import errno

import pytest

from hal.errors import BusError
from hal.real.fpga import FpgaSpi

try:  # tests/ on sys.path (pytest rootdir-less import) or the repository root
    from fakebus_pin import FakePin
    from fakebus_spi import FakeSPI, FpgaRegDevice
except ImportError:  # pragma: no cover
    from tests.fakebus_pin import FakePin
    from tests.fakebus_spi import FakeSPI, FpgaRegDevice


# =============================================================================== FPGA protocol


def test_fpga_write_reg_frame_and_cs_released():
    spi = FakeSPI(1)
    cs = FakePin("A4", FakePin.OUT, value=1)
    dev = spi.attach(cs, FpgaRegDevice("fpga"))
    f = FpgaSpi(spi, cs, "fpga")
    f.write_reg(0x04, 0x01020304)
    assert spi.mosi() == [bytes([0x84, 1, 2, 3, 4])]
    assert dev.regs[0x04] == 0x01020304
    assert cs.level == 1 and cs.history[-2:] == [0, 1]


def test_fpga_read_reg_command_turnaround_and_big_endian():
    spi = FakeSPI(1)
    cs = FakePin("A4", FakePin.OUT, value=1)
    spi.attach(cs, FpgaRegDevice("fpga", regs={0x01: 0x00020003}))
    f = FpgaSpi(spi, cs, "fpga")
    assert f.read_reg(0x01) == 0x00020003
    ((name, mosi, miso),) = spi.log()
    assert mosi == bytes([0x01, 0x00, 0, 0, 0, 0])
    assert miso[2:] == bytes([0, 2, 0, 3])


def test_fpga_oserror_becomes_buserror_and_cs_is_released():
    spi = FakeSPI(1)
    cs = FakePin("A4", FakePin.OUT, value=1)
    spi.attach(cs, FpgaRegDevice("fpga"))
    f = FpgaSpi(spi, cs, "fpga")
    spi.fail_next(OSError(errno.ETIMEDOUT, "ETIMEDOUT"))
    with pytest.raises(BusError) as ei:
        f.read_reg(0)
    assert "fpga" in str(ei.value) and str(errno.ETIMEDOUT) in str(ei.value)
    assert cs.level == 1
    spi.fail_next()
    with pytest.raises(BusError):
        f.write_reg(2, 1)
    assert cs.level == 1


def test_fpga_write_then_read_is_two_cycles_and_fails_closed():
    """``write_then_read`` (the camera's frame: its window burst, then its stream, one
    call) clocks the same two chip-select cycles as ``write`` then ``read_into``; a bus
    error in either is a BusError with the chip select released, and a failed write
    clocks no read after it."""
    spi = FakeSPI(1)
    cs = FakePin("A4", FakePin.OUT, value=1)
    spi.attach(cs, FpgaRegDevice("fpga", regs={0x01: 0x00020003, 0x02: 0x0A0B0C0D}))
    f = FpgaSpi(spi, cs, "fpga")
    a, b = bytearray(4), bytearray(4)
    f.write_then_read(bytes([0x84, 1, 2, 3, 4]), 0x01, a, b)
    assert spi.mosi() == [bytes([0x84, 1, 2, 3, 4]), bytes([0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0])]
    assert a == bytes([0, 2, 0, 3]) and b == bytes([0x0A, 0x0B, 0x0C, 0x0D])
    assert cs.level == 1 and cs.history[-4:] == [0, 1, 0, 1]
    spi.clear()
    spi.fail_next()
    with pytest.raises(BusError):
        f.write_then_read(bytes([0x84, 1, 2, 3, 4]), 0x01, a, b)
    assert cs.level == 1 and len(spi.mosi()) <= 1  # (no read cycle after the failed write)
    spi.clear()
    f.write(bytes([0x84, 0, 0, 0, 0]))  # (the write's cycle passes; the read's fails)
    spi.fail_next()
    with pytest.raises(BusError):
        f.read_into(0x01, a)
    assert cs.level == 1


def test_fpga_read_reg_buf_is_read_into_the_internal_buffer():
    """``read_reg_buf`` is ``read_into`` with no buffer: one register into the driver's
    own 4 octets, returned (the same buffer every call: nothing allocated)."""
    spi = FakeSPI(1)
    cs = FakePin("A4", FakePin.OUT, value=1)
    spi.attach(cs, FpgaRegDevice("fpga", regs={0x03: 0x00000003, 0x01: 0x00020003}))
    f = FpgaSpi(spi, cs, "fpga")
    r = f.read_reg_buf(0x03)
    assert r == bytes([0, 0, 0, 3]) and r is f.read_reg_buf(0x01) and r == bytes([0, 2, 0, 3])
    assert spi.mosi()[0] == bytes([0x03, 0x00, 0, 0, 0, 0]) and cs.level == 1

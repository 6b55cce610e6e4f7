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

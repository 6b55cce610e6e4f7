"""hal/real/framer.py against a fake FPGA framer block: init and ID check, control bits
and mode, the counter snapshot's exact bytes and layout, wrap and delta, lock and fault
status, corrupt blocks and a silent bus."""

from array import array

import pytest

from hal.errors import BusError, DeviceFault, SensorError
from hal.interfaces import (
    COUNTER_MASK,
    CTR_CRC_ERRORS,
    CTR_LOCKED,
    CTR_PACKETS_OK,
    CTR_PRBS_BITS,
    CTR_SNAPSHOT,
    CTR_SYNC_LOSSES,
    MODE_LOOPBACK,
    MODE_PRBS,
    N_COUNTERS,
    counter_delta,
)
from hal.real.camera import CAMERA_ID
from hal.real.framer import FRAMER_ID, FpgaFramer

try:  # tests/ on sys.path (pytest rootdir-less import) or the repository root
    from fakebus_pin import FakePin
    from fakebus_spi import FakeSPI, FpgaRegDevice, SpiDevice
except ImportError:  # pragma: no cover
    from tests.fakebus_pin import FakePin
    from tests.fakebus_spi import FakeSPI, FpgaRegDevice, SpiDevice


# =============================================================================== framer


class FramerModel(FpgaRegDevice):
    COUNTERS = (0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x1A)

    def __init__(self):
        super().__init__(
            "framer", regs={0x00: FRAMER_ID, 0x01: 0x00010000, 0x02: 0, 0x03: 0, 0x04: 0x03}
        )
        self.live = {a: 0 for a in self.COUNTERS}
        self.index = 0
        self.on_write[0x05] = self._snapshot
        self.tag = 0x5646

    def _snapshot(self, value):
        assert value == 1
        self.index = (self.index + 1) & 0xFFFF
        self.regs[0x10] = (self.tag << 16) | self.index
        for a in self.COUNTERS:
            self.regs[a] = self.live[a] & 0xFFFFFFFF
        self.regs[0x19] = self.regs[0x04]


@pytest.fixture
def framer():
    spi = FakeSPI(1)
    cs = FakePin("A3", FakePin.OUT, value=1)
    model = spi.attach(cs, FramerModel())
    return FpgaFramer(spi, cs), model, spi


def test_framer_init(framer):
    fr, model, spi = framer
    model.regs[0x02] = 3
    model.regs[0x03] = 2
    fr.init()
    assert (0x02, 0) in model.writes and (0x03, 0) in model.writes
    assert spi.mosi()[1:3] == [bytes([0x82, 0, 0, 0, 0]), bytes([0x83, 0, 0, 0, 0])]


def test_framer_init_id_mismatch(framer):
    fr, model, spi = framer
    model.regs[0] = CAMERA_ID  # the camera block answering on the framer's select
    with pytest.raises(SensorError):
        fr.init()


def test_framer_control_bits_and_mode(framer):
    fr, model, spi = framer
    fr.enable_rx(True)
    assert model.regs[0x02] == 0x1
    fr.enable_tx(True)
    assert model.regs[0x02] == 0x3
    fr.enable_rx(False)
    assert model.regs[0x02] == 0x2
    fr.set_mode(MODE_PRBS)
    assert spi.mosi()[-1] == bytes([0x83, 0, 0, 0, 1])
    fr.set_mode(MODE_LOOPBACK)
    assert model.regs[0x03] == 2 and fr.mode() == MODE_LOOPBACK
    with pytest.raises(ValueError):
        fr.set_mode(3)
    assert model.regs[0x03] == 2


def test_framer_read_counters_exact_bytes_and_layout(framer):
    fr, model, spi = framer
    model.live.update({0x11: 1000, 0x12: 7, 0x13: 2, 0x14: 33, 0x15: 44, 0x16: 123456, 0x17: 1,
                       0x18: 98765, 0x1A: 4321})
    buf = [None] * N_COUNTERS
    spi.clear()
    fr.read_counters(buf)
    snap, block = spi.mosi()
    assert snap == bytes([0x85, 0, 0, 0, 1])
    assert block == bytes([0x10, 0x00]) + bytes(44)
    assert buf == [1000, 7, 2, 33, 44, 123456, 1, 1, 1, 98765, 4321]
    assert buf[CTR_LOCKED] == 1 and buf[CTR_SNAPSHOT] == 1


def test_framer_counters_wrap_mod_2_30_and_delta(framer):
    fr, model, spi = framer
    a = array("i", [0] * N_COUNTERS)
    b = array("i", [0] * N_COUNTERS)
    model.live[0x16] = 0xFFFFFFF0  # 32-bit FPGA counter just before its wrap
    fr.read_counters(a)
    assert a[CTR_PRBS_BITS] == 0xFFFFFFF0 & COUNTER_MASK
    model.live[0x16] = 0x00000010  # wrapped in the FPGA: +0x20 events
    fr.read_counters(b)
    assert counter_delta(b[CTR_PRBS_BITS], a[CTR_PRBS_BITS]) == 0x20
    assert b[CTR_SNAPSHOT] == a[CTR_SNAPSHOT] + 1
    assert all(0 <= v < (1 << 30) for v in b)


def test_framer_unlocked_and_faults(framer):
    fr, model, spi = framer
    buf = [0] * N_COUNTERS
    model.regs[0x04] = 0x02  # PLL locked, not locked to the stream
    fr.read_counters(buf)
    assert buf[CTR_LOCKED] == 0
    sentinel = [-1] * N_COUNTERS
    model.regs[0x04] = 0x00  # PLL unlocked
    with pytest.raises(DeviceFault, match="PLL"):
        fr.read_counters(sentinel)
    model.regs[0x04] = 0x06
    with pytest.raises(DeviceFault, match="fault"):
        fr.read_counters(sentinel)
    assert sentinel == [-1] * N_COUNTERS  # untouched on error


def test_framer_corrupt_block_is_bus_error(framer):
    fr, model, spi = framer
    model.tag = 0x5643
    buf = [-1] * N_COUNTERS
    with pytest.raises(BusError, match="tag"):
        fr.read_counters(buf)
    assert buf == [-1] * N_COUNTERS
    model.tag = 0x5646
    model.regs[0x04] = 0x0100_0003  # undefined status bits
    with pytest.raises(BusError, match="status"):
        fr.read_counters(buf)


def test_framer_not_responding():
    spi = FakeSPI(1)
    cs = FakePin("A3", FakePin.OUT, value=1)
    spi.attach(cs, SpiDevice("framer", fill=0xFF))
    fr = FpgaFramer(spi, cs)
    with pytest.raises(BusError):
        fr.read_counters([0] * N_COUNTERS)
    with pytest.raises(BusError):
        fr.status()


def test_framer_small_buffer_rejected(framer):
    fr, model, spi = framer
    with pytest.raises(ValueError):
        fr.read_counters([0] * (N_COUNTERS - 1))


def test_framer_status_and_version(framer):
    fr, model, spi = framer
    model.regs[0x04] = 0x3
    assert fr.status() == 0x3
    assert fr.version() == 0x00010000


def test_framer_counter_names_match_registers(framer):
    fr, model, spi = framer
    model.live.update({0x11: 5, 0x12: 6, 0x17: 9})
    buf = [0] * N_COUNTERS
    fr.read_counters(buf)
    assert (buf[CTR_PACKETS_OK], buf[CTR_CRC_ERRORS], buf[CTR_SYNC_LOSSES]) == (5, 6, 9)

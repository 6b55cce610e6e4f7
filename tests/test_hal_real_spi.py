"""hal/real SPI drivers against fake buses: FPGA camera, FPGA framer, AD5664 FSM,
MCP4822 comparator DAC, DAC8551 bias DAC. Exact bytes on the wire and parsing of replies,
including error paths."""

import errno
import struct
from array import array

import pytest

from hal.errors import BusError, DeviceFault, HalError, SensorError
from hal.interfaces import (
    COUNTER_MASK,
    CTR_CRC_ERRORS,
    CTR_LOCKED,
    CTR_PACKETS_OK,
    CTR_PRBS_BITS,
    CTR_SNAPSHOT,
    CTR_SYNC_LOSSES,
    META_EXPOSURE_US,
    META_FRAME_COUNTER,
    META_GAIN_X16,
    META_LEN,
    MODE_LOOPBACK,
    MODE_PRBS,
    N_COUNTERS,
    counter_delta,
)
from hal.real.bias import Dac8551
from hal.real.camera import CAMERA_ID, FpgaCamera
from hal.real.comparator import Mcp4822Comparator
from hal.real.fpga import FpgaSpi
from hal.real.framer import FRAMER_ID, FpgaFramer
from hal.real.fsm import Ad5664Fsm

try:  # tests/ on sys.path (pytest rootdir-less import) or the repository root
    from fakebus import FakePin, FakeSPI, FpgaRegDevice, ScriptedSpiDevice, SpiDevice
except ImportError:  # pragma: no cover
    from tests.fakebus import FakePin, FakeSPI, FpgaRegDevice, ScriptedSpiDevice, SpiDevice


def be32(*words):
    return b"".join(w.to_bytes(4, "big") for w in words)


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


# =============================================================================== camera

W, H = 1280, 1024


def scene(x, y):
    """Synthetic 10-bit frame: a gradient plus a bright spot at (700, 300)."""
    v = (x * 3 + y * 5) % 200
    if abs(x - 700) < 4 and abs(y - 300) < 4:
        v = 1000
    return v


class CameraModel(FpgaRegDevice):
    """FPGA camera block: latches a frame and streams the binned window on WIN_CMD."""

    def __init__(self):
        super().__init__(
            "camera",
            regs={0x00: CAMERA_ID, 0x01: 0x00010002, 0x02: 0, 0x03: 0x03, 0x04: 1000, 0x05: 16},
        )
        self.frame_counter = 41
        self.bad = False
        self.on_write[0x09] = self._latch

    def _latch(self, value):
        assert value == 1
        x0, y0 = self.regs[0x06] >> 16, self.regs[0x06] & 0xFFFF
        w, h = self.regs[0x07] >> 16, self.regs[0x07] & 0xFFFF
        b = 1 << self.regs[0x08]
        self.frame_counter = (self.frame_counter + 1) & 0xFFFF
        self.regs[0x03] &= ~0x01
        hdr = be32(
            (0x5643 << 16) | self.frame_counter,
            self.regs[0x04],
            ((1 if self.bad else 0) << 16) | self.regs[0x05],
        )
        px = bytearray()
        for r in range(h):
            for c in range(w):
                s = 0
                for dy in range(b):
                    for dx in range(b):
                        s += scene(x0 + c * b + dx, y0 + r * b + dy)
                px += struct.pack("<H", s // (b * b))
        self.stream = bytearray(hdr + px)


def expected_window(x0, y0, w, h, b):
    out = []
    for r in range(h):
        for c in range(w):
            s = sum(scene(x0 + c * b + dx, y0 + r * b + dy) for dy in range(b) for dx in range(b))
            out.append(s // (b * b))
    return out


@pytest.fixture
def cam():
    spi = FakeSPI(1)
    cs = FakePin("A4", FakePin.OUT, value=1)
    model = spi.attach(cs, CameraModel())
    camera = FpgaCamera(spi, cs, exposure_us=1500, gain=2.0)
    return camera, model, spi


def test_camera_init_checks_id_and_configures(cam):
    camera, model, spi = cam
    camera.init()
    # Stop, exposure, gain, read back exposure, run.
    assert model.writes == [(0x02, 0), (0x04, 1500), (0x05, 32), (0x02, 1)]
    assert spi.mosi()[0] == bytes([0x00, 0x00, 0, 0, 0, 0])  # ID read
    assert spi.mosi()[1] == bytes([0x82, 0, 0, 0, 0])
    assert spi.mosi()[2] == bytes([0x84, 0, 0, 0x05, 0xDC])
    assert spi.mosi()[3] == bytes([0x85, 0, 0, 0, 0x20])
    assert spi.mosi()[-1] == bytes([0x82, 0, 0, 0, 1])


def test_camera_init_id_mismatch(cam):
    camera, model, spi = cam
    model.regs[0x00] = 0x12345678
    with pytest.raises(SensorError, match="ID"):
        camera.init()
    assert model.writes == []  # nothing configured on a foreign device


def test_camera_not_responding_floating_miso():
    spi = FakeSPI(1)
    cs = FakePin("A4", FakePin.OUT, value=1)
    spi.attach(cs, SpiDevice("camera", fill=0xFF))
    camera = FpgaCamera(spi, cs)
    with pytest.raises(SensorError):
        camera.init()
    with pytest.raises(BusError, match="STATUS"):
        camera.frame_ready()
    buf, meta = array("H", bytes(2 * 16)), [0] * META_LEN
    with pytest.raises(BusError, match="header"):
        camera.read_roi(0, 0, 4, 4, 1, buf, meta)


def test_camera_read_roi_exact_bytes_and_pixels(cam):
    camera, model, spi = cam
    buf = array("H", [0xAAAA] * 64)
    meta = [0, 0, 0]
    spi.clear()
    ok = camera.read_roi(696, 296, 8, 6, 1, buf, meta)
    assert ok is True
    cmd, stream = spi.mosi()
    assert cmd == bytes(
        [0x86, 0x02, 0xB8, 0x01, 0x28, 0x00, 0x08, 0x00, 0x06, 0, 0, 0, 0, 0, 0, 0, 1]
    )
    assert stream == bytes([0x7F, 0x00]) + bytes(12 + 2 * 48)
    assert list(buf[:48]) == expected_window(696, 296, 8, 6, 1)
    assert list(buf[48:]) == [0xAAAA] * 16  # beyond the window untouched
    assert meta[META_FRAME_COUNTER] == 42
    assert meta[META_EXPOSURE_US] == 1000
    assert meta[META_GAIN_X16] == 16
    assert max(buf[:48]) == 1000


@pytest.mark.parametrize("b", [2, 4, 8, 16])
def test_camera_binning_register_and_mean(cam, b):
    camera, model, spi = cam
    w, h = 4, 3
    buf = array("H", bytes(2 * w * h))
    camera.read_roi(640, 256, w, h, b, buf, [0, 0, 0])
    lb = {2: 1, 4: 2, 8: 3, 16: 4}[b]
    assert spi.mosi()[-2][9:13] == bytes([0, 0, 0, lb])
    assert list(buf) == expected_window(640, 256, w, h, b)


def test_camera_bytearray_buffer_gets_little_endian_words(cam):
    camera, model, spi = cam
    buf = bytearray(2 * 9)
    camera.read_roi(10, 20, 3, 3, 1, buf, [0, 0, 0])
    assert list(struct.unpack("<9H", buf)) == expected_window(10, 20, 3, 3, 1)


def test_camera_meta_array_and_bad_frame_flag(cam):
    camera, model, spi = cam
    meta = array("i", [0, 0, 0])
    model.bad = True
    model.regs[0x04] = 2500
    model.regs[0x05] = 40
    assert camera.read_roi(0, 0, 2, 2, 1, array("H", bytes(8)), meta) is False
    assert list(meta) == [42, 2500, 40]


def test_camera_frame_counter_wraps(cam):
    camera, model, spi = cam
    model.frame_counter = 0xFFFE
    meta = [0, 0, 0]
    buf = array("H", bytes(2))
    camera.read_roi(0, 0, 1, 1, 1, buf, meta)
    assert meta[0] == 0xFFFF
    camera.read_roi(0, 0, 1, 1, 1, buf, meta)
    assert meta[0] == 0


def test_camera_view_cache_follows_buffer_and_size(cam):
    camera, model, spi = cam
    a = array("H", bytes(2 * 16))
    b = array("H", bytes(2 * 16))
    camera.read_roi(700, 300, 4, 4, 1, a, [0, 0, 0])
    camera.read_roi(0, 0, 2, 2, 1, b, [0, 0, 0])
    assert list(b[:4]) == expected_window(0, 0, 2, 2, 1)
    assert list(a) == expected_window(700, 300, 4, 4, 1)  # a not overwritten
    camera.read_roi(0, 0, 4, 4, 1, b, [0, 0, 0])
    assert list(b) == expected_window(0, 0, 4, 4, 1)


@pytest.mark.parametrize(
    "args",
    [
        (0, 0, 4, 4, 3),  # binning not a power of two
        (0, 0, 4, 4, 32),  # binning too large
        (0, 0, 4, 4, 0),
        (-1, 0, 4, 4, 1),
        (0, -1, 4, 4, 1),
        (0, 0, 0, 4, 1),
        (0, 0, 4, 0, 1),
        (1277, 0, 4, 1, 1),  # past the right edge
        (0, 1021, 1, 4, 1),  # past the bottom
        (0, 0, 161, 1, 8),  # 161 * 8 > 1280
        (0, 0, 256, 256, 1),  # more than max_window_px
    ],
)
def test_camera_read_roi_rejects_bad_windows(cam, args):
    camera, model, spi = cam
    spi.clear()
    with pytest.raises(ValueError):
        camera.read_roi(*args, array("H", bytes(2 * 65536)), [0, 0, 0])
    assert spi.transactions == []  # nothing sent


def test_camera_read_roi_rejects_small_buffers(cam):
    camera, model, spi = cam
    with pytest.raises(ValueError):
        camera.read_roi(0, 0, 4, 4, 1, array("H", bytes(2 * 15)), [0, 0, 0])
    with pytest.raises(ValueError):
        camera.read_roi(0, 0, 4, 4, 1, bytearray(31), [0, 0, 0])


def test_camera_full_frame_binned_search_window(cam):
    camera, model, spi = cam
    buf = array("H", bytes(2 * 160 * 128))
    camera.read_roi(0, 0, 160, 128, 8, buf, [0, 0, 0])
    # The bright spot at (700, 300) lands in binned pixel (87, 37).
    i = max(range(len(buf)), key=buf.__getitem__)
    assert (i % 160, i // 160) == (87, 37)


def test_camera_frame_ready_and_sensor_error(cam):
    camera, model, spi = cam
    model.regs[0x03] = 0x03
    assert camera.frame_ready() is True
    assert camera.sensor_ok() is True
    assert spi.mosi()[0] == bytes([0x03, 0x00, 0, 0, 0, 0])
    camera.read_roi(0, 0, 1, 1, 1, array("H", [0]), [0, 0, 0])
    assert camera.frame_ready() is False  # latched by WIN_CMD
    model.regs[0x03] = 0x04
    with pytest.raises(DeviceFault):
        camera.frame_ready()
    model.regs[0x03] = 0x80  # undefined bit set: not a camera status
    with pytest.raises(BusError):
        camera.frame_ready()


def test_camera_exposure_and_gain(cam):
    camera, model, spi = cam
    assert camera.set_exposure(10) == 10
    assert camera.set_exposure(9000) == 9000
    assert model.regs[0x04] == 9000
    for bad in (9, 9001, -5):
        with pytest.raises(ValueError):
            camera.set_exposure(bad)
    assert camera.set_gain(1.0) == 1.0
    assert camera.set_gain(2.53) == pytest.approx(2.5)  # quantised to 1/16: 40.48 -> 40
    assert model.regs[0x05] == 40
    assert camera.set_gain(8.0) == 8.0 and model.regs[0x05] == 128
    for bad in (0.5, 8.1):
        with pytest.raises(ValueError):
            camera.set_gain(bad)


def test_camera_bus_error_mid_read(cam):
    camera, model, spi = cam
    spi.fail_next(OSError(errno.EIO, "EIO"))
    with pytest.raises(HalError):
        camera.read_roi(0, 0, 2, 2, 1, array("H", bytes(8)), [0, 0, 0])


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


# =============================================================================== FSM (AD5664)


def decode_ad5664(frames):
    """[(cmd, addr, data)] from 3-byte frames."""
    out = []
    for f in frames:
        assert len(f) == 3 and f[0] & 0xC0 == 0
        out.append(((f[0] >> 3) & 7, f[0] & 7, (f[1] << 8) | f[2]))
    return out


@pytest.fixture
def fsm():
    spi = FakeSPI(2, phase=1)
    sync = FakePin("B12", FakePin.OUT, value=1)
    hv = FakePin("C6", FakePin.OUT, value=0)
    fault = FakePin("C7", FakePin.IN, value=1)
    spi.attach(sync, ScriptedSpiDevice("ad5664", fill=0))
    return Ad5664Fsm(spi, sync, hv, fault), spi, hv, fault


def test_fsm_set_codes_frames(fsm):
    dev, spi, hv, fault = fsm
    dev.set_codes(1000, -2000)
    frames = spi.mosi()
    assert frames == [
        bytes([0x00, 0x83, 0xE8]),  # write input A (X+) = 32768 + 1000
        bytes([0x01, 0x7C, 0x17]),  # write input B (X-) = 32767 - 1000
        bytes([0x02, 0x78, 0x30]),  # write input C (Y+) = 32768 - 2000
        bytes([0x13, 0x87, 0xCF]),  # write input D (Y-) = 32767 + 2000, update all
    ]
    assert dev.codes() == (1000, -2000)


@pytest.mark.parametrize("cx,cy", [(0, 0), (32767, -32768), (-32768, 32767), (1, -1)])
def test_fsm_differential_codes(fsm, cx, cy):
    dev, spi, hv, fault = fsm
    dev.set_codes(cx, cy)
    (a, b, c, d) = decode_ad5664(spi.mosi())
    assert [x[1] for x in (a, b, c, d)] == [0, 1, 2, 3]
    assert [x[0] for x in (a, b, c, d)] == [0, 0, 0, 2]
    assert a[2] - b[2] == 2 * cx + 1 and a[2] + b[2] == 65535
    assert c[2] - d[2] == 2 * cy + 1 and c[2] + d[2] == 65535


def test_fsm_rejects_out_of_range(fsm):
    dev, spi, hv, fault = fsm
    for cx, cy in ((32768, 0), (0, -32769)):
        with pytest.raises(ValueError):
            dev.set_codes(cx, cy)
    assert spi.transactions == []


def test_fsm_init_sequence(fsm):
    dev, spi, hv, fault = fsm
    hv.value(1)
    dev.init()
    assert hv.level == 0 and not dev.is_enabled()
    seq = decode_ad5664(spi.mosi())
    assert seq[:3] == [(5, 0, 1), (4, 0, 0x000F), (6, 0, 0)]
    assert seq[3:] == [(0, 0, 32768), (0, 1, 32767), (0, 2, 32768), (2, 3, 32767)]


def test_fsm_enable_disable(fsm):
    dev, spi, hv, fault = fsm
    dev.set_codes(500, 500)
    dev.enable(True)
    assert hv.level == 1 and dev.is_enabled()
    spi.clear()
    dev.enable(False)
    assert hv.level == 0 and not dev.is_enabled()
    assert decode_ad5664(spi.mosi())[0] == (0, 0, 32768)  # parked before HV off
    assert dev.codes() == (0, 0)


def test_fsm_disable_drops_hv_even_if_bus_fails(fsm):
    dev, spi, hv, fault = fsm
    dev.enable(True)
    spi.fail_next()
    with pytest.raises(BusError):
        dev.enable(False)
    assert hv.level == 0 and not dev.is_enabled()


def test_fsm_fault_pin(fsm):
    dev, spi, hv, fault = fsm
    assert dev.fault() is False
    fault.level = 0
    assert dev.fault() is True
    with pytest.raises(DeviceFault):
        dev.enable(True)
    assert hv.level == 0


def test_fsm_without_fault_pin():
    spi = FakeSPI(2)
    sync = FakePin("B12", FakePin.OUT, value=1)
    spi.attach(sync, ScriptedSpiDevice("ad5664", fill=0))
    dev = Ad5664Fsm(spi, sync, FakePin("C6", FakePin.OUT))
    assert dev.fault() is False


def test_fsm_bus_error(fsm):
    dev, spi, hv, fault = fsm
    spi.fail_next(OSError(errno.ETIMEDOUT, "x"))
    with pytest.raises(BusError, match="fsm"):
        dev.set_codes(1, 1)


# =============================================================================== MCP4822


@pytest.fixture
def comp():
    spi = FakeSPI(1)
    cs = FakePin("A2", FakePin.OUT, value=1)
    spi.attach(cs, ScriptedSpiDevice("mcp4822", fill=0))
    return Mcp4822Comparator(spi, cs, initial_code=1234), spi


def test_comparator_frames(comp):
    dac, spi = comp
    dac.init()
    assert spi.mosi() == [bytes([0x80, 0x00]), bytes([0x34, 0xD2])]  # B shut down; A=1234
    assert dac.code() == 1234
    spi.clear()
    dac.set_code(0)
    dac.set_code(4095)
    assert spi.mosi() == [bytes([0x30, 0x00]), bytes([0x3F, 0xFF])]
    assert dac.code() == 4095


def test_comparator_range_and_errors(comp):
    dac, spi = comp
    for bad in (-1, 4096):
        with pytest.raises(ValueError):
            dac.set_code(bad)
    with pytest.raises(ValueError):
        Mcp4822Comparator(spi, FakePin("x"), initial_code=5000)
    spi.fail_next()
    with pytest.raises(BusError):
        dac.set_code(10)
    assert dac.code() == 1234  # unchanged on failure
    assert dac.volts_per_code == pytest.approx(0.0005)


# =============================================================================== DAC8551


def test_dac8551_frames():
    spi = FakeSPI(2, phase=1)
    sync = FakePin("B11", FakePin.OUT, value=1)
    spi.attach(sync, ScriptedSpiDevice("dac8551", fill=0))
    dac = Dac8551(spi, sync)
    dac.write(0xBEEF)
    dac.write(0, pd=1)
    assert spi.mosi() == [bytes([0x00, 0xBE, 0xEF]), bytes([0x01, 0x00, 0x00])]
    for bad in ((-1, 0), (65536, 0), (0, 4)):
        with pytest.raises(ValueError):
            dac.write(*bad)


def test_no_transfer_without_chip_select():
    """Every driver above framed its transfers: nothing was clocked with CS high."""
    spi = FakeSPI(1)
    cs = FakePin("A4", FakePin.OUT, value=1)
    spi.attach(cs, CameraModel())
    cam = FpgaCamera(spi, cs)
    cam.init()
    cam.read_roi(0, 0, 2, 2, 1, array("H", bytes(8)), [0, 0, 0])
    assert all(t.name == "camera" and t.closed for t in spi.transactions)


class _FakeTimer:
    def __init__(self):
        self.freq = None
        self.cb = None
        self.running = False

    def init(self, freq, callback):
        self.freq = freq
        self.cb = callback
        self.running = True

    def deinit(self):
        self.running = False

    def fire(self):
        self.cb(self)


def test_fsm_play_wave_writes_each_sample_on_the_timer():
    from array import array

    from hal.interfaces import FSM_WAVE_PERIOD_US

    spi = FakeSPI(2, phase=1)
    sync = FakePin("B12", FakePin.OUT, value=1)
    spi.attach(sync, ScriptedSpiDevice("ad5664", fill=0))
    tim = _FakeTimer()
    dev = Ad5664Fsm(spi, sync, FakePin("C6", FakePin.OUT, value=0), timer=tim)
    dev.play_wave(array("h", [10, 20, 30]), array("h", [-1, -2, -3]), 3)
    assert dev.codes() == (10, -1) and tim.running and tim.freq == 1000000 // FSM_WAVE_PERIOD_US
    tim.fire()
    assert dev.codes() == (20, -2)
    tim.fire()
    assert dev.codes() == (30, -3)
    tim.fire()  # past the last sample: the timer stops, the mirror holds
    assert not tim.running and dev.codes() == (30, -3)
    # set_codes stops a waveform playing
    dev.play_wave(array("h", [1, 2, 3]), array("h", [0, 0, 0]), 3)
    dev.set_codes(7, 7)
    tim.fire()
    assert dev.codes() == (7, 7) and not tim.running
    with pytest.raises(ValueError):
        dev.play_wave(array("h", [1]), array("h", [0]), 0)
    # without a timer: the first sample only
    dev2, _, _, _ = (Ad5664Fsm(spi, sync, FakePin("C6", FakePin.OUT, value=0)), 0, 0, 0)
    dev2.play_wave(array("h", [5, 6]), array("h", [5, 6]), 2)
    assert dev2.codes() == (5, 5)

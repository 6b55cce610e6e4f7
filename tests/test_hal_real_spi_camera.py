"""hal/real/camera.py against a fake FPGA camera block: init and ID check, exact ROI
command bytes, binned pixels and metadata (the frame's age at the latch included), the
stream header's checks, window and buffer validation, status, exposure/gain, bus errors,
and no transfer clocked without chip select."""

import errno
import struct
from array import array

import pytest

from hal.errors import BusError, DeviceFault, HalError, SensorError
from hal.interfaces import (
    META_EXPOSURE_US,
    META_FRAME_AGE_US,
    META_FRAME_COUNTER,
    META_GAIN_X16,
    META_LEN,
)
from hal.real.camera import CAMERA_ID, HDR_LEN, FpgaCamera

try:  # tests/ on sys.path (pytest rootdir-less import) or the repository root
    from fakebus_pin import FakePin
    from fakebus_spi import FakeSPI, FpgaRegDevice, SpiDevice
except ImportError:  # pragma: no cover
    from tests.fakebus_pin import FakePin
    from tests.fakebus_spi import FakeSPI, FpgaRegDevice, SpiDevice


def be32(*words):
    return b"".join(w.to_bytes(4, "big") for w in words)


# =============================================================================== camera

W, H = 1280, 1024


def scene(x, y):
    """Synthetic 10-bit frame: a gradient plus a bright spot at (700, 300)."""
    v = (x * 3 + y * 5) % 200
    if abs(x - 700) < 4 and abs(y - 300) < 4:
        v = 1000
    return v


class CameraModel(FpgaRegDevice):
    """FPGA camera block: latches a frame and streams the binned window on WIN_CMD, its
    header's fourth word the latched frame's age (``age_us``) under a reserved upper half
    that reads 0 (``reserved``: what a misframed stream would put there)."""

    def __init__(self):
        super().__init__(
            "camera",
            regs={0x00: CAMERA_ID, 0x01: 0x00010002, 0x02: 0, 0x03: 0x03, 0x04: 1000, 0x05: 16},
        )
        self.frame_counter = 41
        self.bad = False
        self.age_us = 1234
        self.reserved = 0
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
            (self.reserved << 16) | self.age_us,
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
    # Stop, the frame period (read back), exposure, gain, read back exposure, run.
    assert model.writes == [(0x02, 0), (0x0A, 6000), (0x04, 1500), (0x05, 32), (0x02, 1)]
    assert spi.mosi()[0] == bytes([0x00, 0x00, 0, 0, 0, 0])  # ID read
    assert spi.mosi()[1] == bytes([0x82, 0, 0, 0, 0])
    assert spi.mosi()[2] == bytes([0x8A, 0, 0, 0x17, 0x70])  # 6000 us
    assert spi.mosi()[3] == bytes([0x0A, 0, 0, 0, 0, 0])  # its read-back
    assert spi.mosi()[4] == bytes([0x84, 0, 0, 0x05, 0xDC])
    assert spi.mosi()[5] == bytes([0x85, 0, 0, 0, 0x20])
    assert spi.mosi()[-1] == bytes([0x82, 0, 0, 0, 1])
    assert (camera.frame_period_us, camera.exposure_max_us) == (6000, 5000)


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
    meta = [0] * META_LEN
    spi.clear()
    ok = camera.read_roi(696, 296, 8, 6, 1, buf, meta)
    assert ok is True
    cmd, stream = spi.mosi()
    assert cmd == bytes(
        [0x86, 0x02, 0xB8, 0x01, 0x28, 0x00, 0x08, 0x00, 0x06, 0, 0, 0, 0, 0, 0, 0, 1]
    )
    assert stream == bytes([0x7F, 0x00]) + bytes(16 + 2 * 48)  # (the header: four words)
    assert list(buf[:48]) == expected_window(696, 296, 8, 6, 1)
    assert list(buf[48:]) == [0xAAAA] * 16  # beyond the window untouched
    assert meta[META_FRAME_COUNTER] == 42
    assert meta[META_EXPOSURE_US] == 1000
    assert meta[META_GAIN_X16] == 16
    assert meta[META_FRAME_AGE_US] == 1234
    assert max(buf[:48]) == 1000


@pytest.mark.parametrize("b", [2, 4, 8, 16])
def test_camera_binning_register_and_mean(cam, b):
    camera, model, spi = cam
    w, h = 4, 3
    buf = array("H", bytes(2 * w * h))
    camera.read_roi(640, 256, w, h, b, buf, [0] * META_LEN)
    lb = {2: 1, 4: 2, 8: 3, 16: 4}[b]
    assert spi.mosi()[-2][9:13] == bytes([0, 0, 0, lb])
    assert list(buf) == expected_window(640, 256, w, h, b)


def test_camera_bytearray_buffer_gets_little_endian_words(cam):
    camera, model, spi = cam
    buf = bytearray(2 * 9)
    camera.read_roi(10, 20, 3, 3, 1, buf, [0] * META_LEN)
    assert list(struct.unpack("<9H", buf)) == expected_window(10, 20, 3, 3, 1)


def test_camera_meta_array_and_bad_frame_flag(cam):
    camera, model, spi = cam
    meta = array("i", [0] * META_LEN)
    model.bad = True
    model.regs[0x04] = 2500
    model.regs[0x05] = 40
    model.age_us = 777
    assert camera.read_roi(0, 0, 2, 2, 1, array("H", bytes(8)), meta) is False
    assert list(meta) == [42, 2500, 40, 777]


def test_camera_frame_counter_wraps(cam):
    camera, model, spi = cam
    model.frame_counter = 0xFFFE
    meta = [0] * META_LEN
    buf = array("H", bytes(2))
    camera.read_roi(0, 0, 1, 1, 1, buf, meta)
    assert meta[0] == 0xFFFF
    camera.read_roi(0, 0, 1, 1, 1, buf, meta)
    assert meta[0] == 0


@pytest.mark.parametrize("age", [0, 3517, 0xFFFF])
def test_camera_frame_age_into_the_meta(cam, age):
    """The header's fourth word (``age_us``: the latched frame's completion to the
    WIN_CMD latch, the camera's clock, saturating at 0xFFFF) lands in
    meta[META_FRAME_AGE_US], the other slots and the good/bad answer as before."""
    camera, model, spi = cam
    assert HDR_LEN == 16 and META_LEN == 4
    model.age_us = age
    meta = [-1] * META_LEN
    assert camera.read_roi(0, 0, 2, 2, 1, array("H", bytes(8)), meta) is True
    assert meta == [42, 1000, 16, age]
    model.bad = True
    meta = array("i", [-1] * META_LEN)
    assert camera.read_roi(0, 0, 2, 2, 1, array("H", bytes(8)), meta) is False
    assert list(meta) == [43, 1000, 16, age]


@pytest.mark.parametrize("reserved", [0x0001, 0x0100, 0x8000, 0xFFFF])
@pytest.mark.parametrize("bad", [False, True])
def test_a_reserved_age_half_not_0_is_a_bad_stream_header(cam, reserved, bad):
    """The age word's upper half is reserved and reads 0: anything else is a misframed
    stream, a BusError like a wrong tag, whether the frame is flagged BAD_FRAME or not,
    with ``meta`` untouched; the next good header reads as ever (the BAD_FRAME flag
    still answers False, a good frame True)."""
    camera, model, spi = cam
    buf = array("H", bytes(8))
    model.bad = bad
    model.reserved = reserved
    meta = [-1] * META_LEN
    with pytest.raises(BusError, match="header"):
        camera.read_roi(0, 0, 2, 2, 1, buf, meta)
    assert meta == [-1] * META_LEN
    model.reserved = 0
    assert camera.read_roi(0, 0, 2, 2, 1, buf, meta) is (not bad)
    assert meta == [43, 1000, 16, 1234]


def test_camera_view_cache_follows_buffer_and_size(cam):
    camera, model, spi = cam
    a = array("H", bytes(2 * 16))
    b = array("H", bytes(2 * 16))
    camera.read_roi(700, 300, 4, 4, 1, a, [0] * META_LEN)
    camera.read_roi(0, 0, 2, 2, 1, b, [0] * META_LEN)
    assert list(b[:4]) == expected_window(0, 0, 2, 2, 1)
    assert list(a) == expected_window(700, 300, 4, 4, 1)  # a not overwritten
    camera.read_roi(0, 0, 4, 4, 1, b, [0] * META_LEN)
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
        camera.read_roi(*args, array("H", bytes(2 * 65536)), [0] * META_LEN)
    assert spi.transactions == []  # nothing sent


@pytest.mark.parametrize(
    "args",
    [
        (0, 2048, 4, 4, 1),  # y0 into x0's bits: (x0 << 11 | y0) of (1, 0), the last read
        (1, 0, 4, 4, 3),  # the last read's window with a bad binning
        (1, 0, 4, 1025, 1),  # ... past the bottom
        (1, 0, 2048, 4, 1),  # ... w into the packed key's other half
    ],
)
def test_a_read_after_a_good_one_is_checked_unless_the_same_window(cam, args):
    """A read skips its window's checks only for the very window and buffer checked by
    the last read (docs/firmware.md §4 "The camera's read"): a window that differs in
    anything, however its numbers pack, is checked and refused; nothing is sent; the last
    window is kept and reads as before."""
    camera, model, spi = cam
    buf = array("H", bytes(2 * 65536))
    camera.read_roi(1, 0, 4, 4, 1, buf, [0] * META_LEN)
    spi.clear()
    with pytest.raises(ValueError):
        camera.read_roi(*args, buf, [0] * META_LEN)
    assert spi.transactions == []
    camera.read_roi(1, 0, 4, 4, 1, buf, [0] * META_LEN)
    assert spi.mosi()[0][1:9] == bytes([0, 1, 0, 0, 0, 4, 0, 4])
    assert list(buf[:16]) == expected_window(1, 0, 4, 4, 1)


def test_the_same_window_into_another_buffer_lands_there(cam):
    """The window unchanged, the buffer new: the pixels land in the new buffer (its own
    view, its size checked), the old one keeps the last read's."""
    camera, model, spi = cam
    a = array("H", bytes(2 * 16))
    b = array("H", bytes(2 * 16))
    camera.read_roi(700, 300, 4, 4, 1, a, [0] * META_LEN)
    before = list(a)
    camera.read_roi(700, 300, 4, 4, 1, b, [0] * META_LEN)
    assert list(b) == expected_window(700, 300, 4, 4, 1) and list(a) == before
    with pytest.raises(ValueError):  # the same window, a buffer too small for it
        camera.read_roi(700, 300, 4, 4, 1, array("H", bytes(2 * 15)), [0] * META_LEN)


def test_camera_read_roi_rejects_small_buffers(cam):
    camera, model, spi = cam
    with pytest.raises(ValueError):
        camera.read_roi(0, 0, 4, 4, 1, array("H", bytes(2 * 15)), [0] * META_LEN)
    with pytest.raises(ValueError):
        camera.read_roi(0, 0, 4, 4, 1, bytearray(31), [0] * META_LEN)


def test_camera_full_frame_binned_search_window(cam):
    camera, model, spi = cam
    buf = array("H", bytes(2 * 160 * 128))
    camera.read_roi(0, 0, 160, 128, 8, buf, [0] * META_LEN)
    # The bright spot at (700, 300) lands in binned pixel (87, 37).
    i = max(range(len(buf)), key=buf.__getitem__)
    assert (i % 160, i // 160) == (87, 37)


def test_camera_frame_ready_and_sensor_error(cam):
    camera, model, spi = cam
    model.regs[0x03] = 0x03
    assert camera.frame_ready() is True
    assert camera.sensor_ok() is True
    assert spi.mosi()[0] == bytes([0x03, 0x00, 0, 0, 0, 0])
    camera.read_roi(0, 0, 1, 1, 1, array("H", [0]), [0] * META_LEN)
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
    assert camera.set_exposure(5000) == 5000  # the 6 ms frame's longest
    assert model.regs[0x04] == 5000
    for bad in (9, 5001, 9000, -5):
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
        camera.read_roi(0, 0, 2, 2, 1, array("H", bytes(8)), [0] * META_LEN)


def test_no_transfer_without_chip_select():
    """Every driver above framed its transfers: nothing was clocked with CS high."""
    spi = FakeSPI(1)
    cs = FakePin("A4", FakePin.OUT, value=1)
    spi.attach(cs, CameraModel())
    cam = FpgaCamera(spi, cs)
    cam.init()
    cam.read_roi(0, 0, 2, 2, 1, array("H", bytes(8)), [0] * META_LEN)
    assert all(t.name == "camera" and t.closed for t in spi.transactions)


# ====================================================================== the frame period


def test_camera_frame_period_is_the_boards_and_caps_the_exposure():
    """The payload runs the sensor at the board's period (hal.interfaces
    CAMERA_FRAME_PERIOD_US, by default); at 7 ms the longest exposure is 6 ms: an exposure
    the 10 ms reference frame allowed is refused before any bus traffic."""
    from hal.interfaces import CAMERA_FRAME_PERIOD_US, camera_exposure_max
    from hal.real.board import BOARD_CONFIG

    assert BOARD_CONFIG["camera"]["frame_period_us"] == CAMERA_FRAME_PERIOD_US
    assert FpgaCamera(FakeSPI(1), FakePin("A4", FakePin.OUT)).frame_period_us == \
        CAMERA_FRAME_PERIOD_US
    assert camera_exposure_max(7000) == 6000 and camera_exposure_max(10000) == 9000
    assert camera_exposure_max(32000) == 9000  # the register's range end
    spi = FakeSPI(1)
    cs = FakePin("A4", FakePin.OUT, value=1)
    model = spi.attach(cs, CameraModel())
    camera = FpgaCamera(spi, cs, frame_period_us=7000)
    camera.init()
    assert model.regs[0x0A] == 7000
    n = len(model.writes)
    with pytest.raises(ValueError):
        camera.set_exposure(6001)
    assert len(model.writes) == n
    assert camera.set_exposure(6000) == 6000 and model.regs[0x04] == 6000


@pytest.mark.parametrize("period", [10000, 8000, 5000, 32000])
def test_camera_frame_period_configurable(period):
    spi = FakeSPI(1)
    cs = FakePin("A4", FakePin.OUT, value=1)
    model = spi.attach(cs, CameraModel())
    camera = FpgaCamera(spi, cs, frame_period_us=period)
    camera.init()
    assert model.regs[0x0A] == period
    assert camera.frame_period_us == period
    assert camera.exposure_max_us == min(9000, period - 1000)


@pytest.mark.parametrize("period", [4000, 2000, 7500, 33000, 0])
def test_camera_frame_period_out_of_reach_refused_at_construction(period):
    """Shorter than the sensor's 4762 us (PYTHON 1300, 210 frames/s), not whole waveform
    samples, or longer than the waveform buffer: ValueError, no bus traffic."""
    spi = FakeSPI(1)
    cs = FakePin("A4", FakePin.OUT, value=1)
    model = spi.attach(cs, CameraModel())
    with pytest.raises(ValueError, match="frame period"):
        FpgaCamera(spi, cs, frame_period_us=period)
    assert model.writes == [] and spi.mosi() == []


def test_camera_frame_period_not_read_back_is_a_sensor_error():
    """A camera block that ignores the period register (an older FPGA build) would run
    the APT at the wrong rate: init refuses it and leaves the sensor stopped."""
    spi = FakeSPI(1)
    cs = FakePin("A4", FakePin.OUT, value=1)
    model = spi.attach(cs, CameraModel())
    model.on_write[0x0A] = lambda v: model.regs.pop(0x0A)  # (reads 0xDEADBEEF)
    camera = FpgaCamera(spi, cs)
    with pytest.raises(SensorError, match="frame period"):
        camera.init()
    assert (0x02, 1) not in model.writes  # never set running


def test_frame_octets_is_what_a_frame_moves_on_the_bus(cam):
    """``frame_octets`` (the simulator's send and the board's bus share: stop 50) counts
    the octets read_roi clocks for a window, on the fake bus: the APT's tick reads no
    STATUS while frames come (stop 63), and a STATUS read is 6 octets more."""
    from hal.real.camera import frame_octets

    camera, model, spi = cam
    for w, h in ((8, 8), (16, 16), (32, 32), (8, 6)):
        spi.clear()
        camera.read_roi(600, 400, w, h, 1, array("H", bytes(2 * w * h)), [0] * META_LEN)
        assert sum(len(m) for m in spi.mosi()) == frame_octets(w, h)
        spi.clear()
        camera.frame_ready()
        assert sum(len(m) for m in spi.mosi()) == 6


def test_the_window_burst_follows_every_change_of_the_window(cam):
    """The burst's bytes are rebuilt only when the window changes (stop 50): each read's
    burst is its own window's, whichever of x0, y0, w, h or the binning changed, and the
    same window again sends the same bytes."""
    camera, model, spi = cam

    def burst(x0, y0, w, h, b):
        spi.clear()
        camera.read_roi(x0, y0, w, h, b, array("H", bytes(2 * w * h)), [0] * META_LEN)
        return spi.mosi()[0]

    def want(x0, y0, w, h, lb):
        return bytes([0x86, x0 >> 8, x0 & 255, y0 >> 8, y0 & 255, w >> 8, w & 255,
                      h >> 8, h & 255, 0, 0, 0, lb, 0, 0, 0, 1])

    seq = [(600, 400, 16, 16, 1), (600, 400, 16, 16, 1), (601, 400, 16, 16, 1),
           (601, 401, 16, 16, 1), (601, 401, 8, 32, 1), (601, 401, 32, 8, 1),
           (600, 400, 16, 16, 2), (600, 400, 16, 16, 1), (0, 0, 160, 128, 8)]
    for x0, y0, w, h, b in seq:
        assert burst(x0, y0, w, h, b) == want(x0, y0, w, h, b.bit_length() - 1)
        assert model.regs[0x06] == (x0 << 16) | y0 and model.regs[0x07] == (w << 16) | h

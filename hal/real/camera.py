"""Beacon camera: onsemi PYTHON 1300 sensor behind the payload FPGA's camera block.

The FPGA configures the sensor, receives its LVDS stream, keeps the latest complete frame
(double-buffered external SDRAM) and serves any window of it, binned on request, through
a stream port. Register map (32-bit registers, protocol in ``hal/real/fpga.py``):

====  ==============  ==  ===============================================================
addr  name            rw  meaning
====  ==============  ==  ===============================================================
0x00  ID              r   0x5643414D ("VCAM")
0x01  VERSION         r   major << 16 | minor
0x02  CONTROL         rw  bit0 RUN (free-running capture), bit1 SENSOR_RESET
0x03  STATUS          r   bit0 FRAME_READY (a frame newer than the last window latch),
                          bit1 SENSOR_OK, bit2 SENSOR_ERROR (stream sync lost; sticky,
                          cleared by reading); other bits read 0
0x04  EXPOSURE_US     rw  exposure, us, 10..9000 (applies from the next frame start)
0x05  GAIN_X16        rw  analog gain x16, 16..128
0x06  WIN_X0Y0        rw  x0 << 16 | y0  (sensor pixels)
0x07  WIN_WH          rw  w << 16 | h    (output pixels)
0x08  WIN_BIN         rw  log2(binning), 0..4
0x09  WIN_CMD         w   write 1: latch the latest complete frame, clear FRAME_READY and
                          load the stream port with its window
0x0A  FRAME_PERIOD_US rw  frame period, us, 4762..32000 (the sensor's shortest frame,
                          hal.interfaces.CAMERA_FRAME_PERIOD_MIN_US; applies from the next
                          frame start); the exposure must leave the sensor's 1 ms gap
0x7F  STREAM          r   16-byte header then w*h pixels (see below)
====  ==============  ==  ===============================================================

Stream: four header words (big-endian, like registers): ``0x5643 << 16 | frame_counter``,
``exposure_us``, ``flags << 16 | gain_x16`` (flags bit0 BAD_FRAME), ``age_us``: the µs
from the latched frame's completion (the instant FRAME_READY was set for it) to the
WIN_CMD latch, counted by the FPGA on the camera's own oscillator, saturating at 0xFFFF
(bits 31..16 reserved, read 0: not 0, a misframed stream, BusError like a wrong tag);
then pixels row-major, 16 bits each, **little-endian** so that the SPI burst lands
directly in an ``array('H')`` on the little-endian MCU (zero copy).  The age lets the APT
keep its ticks at the frames as the camera's clock and the MCU's drift apart
(``hal.interfaces.META_FRAME_AGE_US``; flight/apt_phase.py).
"""

from hal.errors import BusError, DeviceFault, SensorError
from hal.interfaces import (
    CAMERA_FRAME_PERIOD_MIN_US,
    CAMERA_FRAME_PERIOD_US,
    Camera,
    camera_exposure_max,
    check_frame_period,
)
from hal.real._util import const, put16, put32
from hal.real.fpga import WRITE_FLAG, FpgaSpi

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any  # noqa: F401

    from _mpy_shed import AnyWritableBuf  # noqa: F401
    from machine import SPI, Pin  # noqa: F401

CAMERA_ID = 0x5643414D
REG_ID = const(0x00)
REG_VERSION = const(0x01)
REG_CONTROL = const(0x02)
REG_STATUS = const(0x03)
REG_EXPOSURE_US = const(0x04)
REG_GAIN_X16 = const(0x05)
REG_WIN_X0Y0 = const(0x06)
REG_WIN_CMD = const(0x09)
REG_FRAME_PERIOD_US = const(0x0A)
REG_STREAM = const(0x7F)

CONTROL_RUN = const(0x01)
STATUS_FRAME_READY = const(0x01)
STATUS_SENSOR_OK = const(0x02)
STATUS_SENSOR_ERROR = const(0x04)
_STATUS_DEFINED = const(0x07)
HDR_TAG = const(0x5643)
_TAG_HI = const(0x56)  # HDR_TAG's octets, big-endian
_TAG_LO = const(0x43)
HDR_LEN = const(16)  # four words: tag | counter, exposure, flags | gain, age (0 | us)
FLAG_BAD_FRAME = const(0x01)
WIN_BURST_LEN = const(17)  # the window command's write burst: X0Y0, WH, BIN, CMD
_READ_CMD_LEN = const(2)  # a read burst's address and turnaround octets (hal/real/fpga.py)


def frame_octets(w, h):
    """The octets one frame of a ``w`` × ``h`` window moves on the FPGA's bus: the window
    burst and the stream read of :meth:`FpgaCamera.read_roi` (header and 16-bit pixels;
    the APT's tick reads no STATUS while frames come, flight/apt.py).  The APT waits for
    them before its centroid (the simulator's send, sim/run/costmodel.py; the board's bus
    time, bench/apt_tick_m7.py)."""
    return WIN_BURST_LEN + _READ_CMD_LEN + HDR_LEN + 2 * w * h


def stream_header_py(hdr, meta):
    """The stream's 16-octet header ``hdr``: -1 if its tag is not HDR_TAG or the age
    word's reserved upper half is not 0 (a misframed stream; ``meta`` untouched); else
    the frame counter, exposure (µs), gain (x16) and the frame's age at the latch (µs)
    into ``meta``[0..3] (hal.interfaces META_*) and 0 for a frame flagged BAD_FRAME, 1 for
    a good one.  (The plain-Python twin of hal/real/camera_viper.py ``stream_header``, the
    board's.)"""
    if hdr[0] != _TAG_HI or hdr[1] != _TAG_LO or hdr[12] or hdr[13]:
        return -1
    meta[0] = (hdr[2] << 8) | hdr[3]
    meta[1] = ((hdr[4] & 0x3F) << 24) | (hdr[5] << 16) | (hdr[6] << 8) | hdr[7]
    meta[2] = (hdr[10] << 8) | hdr[11]
    meta[3] = (hdr[14] << 8) | hdr[15]
    return 0 if hdr[9] & FLAG_BAD_FRAME else 1


# The viper kernel where the port compiles it (the board), else the twin (the VM refuses
# the decorator; CPython has no micropython module).
try:
    from hal.real.camera_viper import stream_header as _stream_header
except (ImportError, SyntaxError, ValueError):
    _stream_header = stream_header_py


class FpgaCamera(Camera):
    """:class:`hal.interfaces.Camera` over the FPGA camera block (SPI, own chip select).

    Args:
        spi: ``machine.SPI`` in mode 0 (shared with the framer and comparator DAC).
        cs: chip-select ``machine.Pin`` (output, idle high).
        exposure_us, gain: applied by :meth:`init`.
        frame_period_us: the sensor's frame period, set by :meth:`init` (the board's
            ``camera.frame_period_us``; hal.interfaces.CAMERA_FRAME_PERIOD_US): whole
            waveform samples (``check_frame_period``) no shorter than the sensor's shortest
            frame, else ValueError here, before any bus traffic.  The APT ticks once a
            frame, and the longest exposure is the period less the sensor's gap.
    """

    def __init__(self, spi, cs, name="camera", exposure_us=1000, gain=1.0,
                 frame_period_us=CAMERA_FRAME_PERIOD_US):
        # type: (SPI, Pin, str, int, float, int) -> None
        check_frame_period(frame_period_us)
        if frame_period_us < CAMERA_FRAME_PERIOD_MIN_US:
            raise ValueError("camera frame period %d us: the sensor's shortest is %d us"
                             % (frame_period_us, CAMERA_FRAME_PERIOD_MIN_US))
        self.frame_period_us = frame_period_us
        self.exposure_max_us = camera_exposure_max(frame_period_us)
        self.name = name
        self._fpga = FpgaSpi(spi, cs, name)
        self._init_exposure_us = exposure_us
        self._init_gain = gain
        # Window command: X0Y0, WH, BIN, CMD in one write burst, sent whole every frame.
        # A read's window and buffer are checked, its burst's bytes packed and the
        # buffer's byte view made only when one of them changed since the last read
        # (:meth:`_window`; TRACK reads one window all pass: docs/firmware.md §4 "The
        # camera's read").  The last window checked: _rx0 .. _rbin (-1: none yet), set
        # once every check has passed; its buffer is _view_src.
        self._win = bytearray(WIN_BURST_LEN)
        self._win[0] = WRITE_FLAG | REG_WIN_X0Y0
        self._win[WIN_BURST_LEN - 1] = 1  # CMD = 1: latch the latest frame
        self._rx0 = self._ry0 = self._rw = self._rh = self._rbin = -1
        self._hdr = bytearray(HDR_LEN)
        # The byte view of the caller's pixel buffer (_view_src), its _view_n pixels.
        self._view_src = None  # type: Any
        self._view_n = -1
        self._view = None  # type: Any

    def init(self):
        # type: () -> None
        ident = self._fpga.read_reg(REG_ID)
        if ident != CAMERA_ID:
            raise SensorError("%s: ID 0x%08X, expected 0x%08X" % (self.name, ident, CAMERA_ID))
        self._fpga.write_reg(REG_CONTROL, 0)
        # The period first: the exposure register must fit the frame.
        self._fpga.write_reg(REG_FRAME_PERIOD_US, self.frame_period_us)
        if self._fpga.read_reg(REG_FRAME_PERIOD_US) != self.frame_period_us:
            raise SensorError("%s: frame period register does not read back %d us"
                              % (self.name, self.frame_period_us))
        self.set_exposure(self._init_exposure_us)
        self.set_gain(self._init_gain)
        if self._fpga.read_reg(REG_EXPOSURE_US) != self._init_exposure_us:
            raise SensorError("%s: exposure register does not read back" % self.name)
        self._fpga.write_reg(REG_CONTROL, CONTROL_RUN)

    def version(self):
        # type: () -> int
        """FPGA camera block version, ``major << 16 | minor``."""
        return self._fpga.read_reg(REG_VERSION)

    def set_exposure(self, us):
        # type: (int) -> int
        if not (self.exposure_min_us <= us <= self.exposure_max_us):
            raise ValueError("exposure_us out of range")
        us = int(us)
        self._fpga.write_reg(REG_EXPOSURE_US, us)
        return us

    def set_gain(self, gain):
        # type: (float) -> float
        if not (self.gain_min <= gain <= self.gain_max):
            raise ValueError("gain out of range")
        x16 = int(gain * 16 + 0.5)
        self._fpga.write_reg(REG_GAIN_X16, x16)
        return x16 / 16

    def _status(self):
        # type: () -> int
        b = self._fpga.read_reg_buf(REG_STATUS)
        if b[0] or b[1] or b[2] or (b[3] & ~_STATUS_DEFINED):
            raise BusError("%s: implausible STATUS" % self.name)
        s = b[3]
        if s & STATUS_SENSOR_ERROR:
            raise DeviceFault("%s: sensor stream error" % self.name)  # noqa: B904
        return s

    def frame_ready(self):
        # type: () -> bool
        return bool(self._status() & STATUS_FRAME_READY)

    def sensor_ok(self):
        # type: () -> bool
        """True when the sensor is configured and streaming."""
        return bool(self._status() & STATUS_SENSOR_OK)

    def read_roi(self, x0, y0, w, h, binning, buf, meta):
        # type: (int, int, int, int, int, AnyWritableBuf, Any) -> bool
        if (buf is not self._view_src or x0 != self._rx0 or y0 != self._ry0
                or w != self._rw or h != self._rh or binning != self._rbin):
            self._window(x0, y0, w, h, binning, buf)  # (raises ValueError: nothing sent)
        hdr = self._hdr
        self._fpga.write_then_read(self._win, REG_STREAM, hdr, self._view)
        ok = _stream_header(hdr, meta)  # (viper on the board: hal/real/camera_viper.py)
        if ok < 0:
            raise BusError("%s: bad stream header" % self.name)
        return ok == 1

    def _window(self, x0, y0, w, h, binning, buf):
        # type: (int, int, int, int, int, AnyWritableBuf) -> None
        """A read's new window or buffer: checked (ValueError, the last window kept),
        its burst packed, the buffer's byte view made, then remembered."""
        # log2 of the binning, validated without allocating.
        lb = 0
        b = binning
        while b > 1 and lb < 5:
            b >>= 1
            lb += 1
        if (1 << lb) != binning or lb > 4:
            raise ValueError("binning")
        if (
            w < 1
            or h < 1
            or x0 < 0
            or y0 < 0
            or x0 + w * binning > self.width
            or y0 + h * binning > self.height
        ):
            raise ValueError("window outside sensor")
        n = w * h
        if n > self.max_window_px:
            raise ValueError("window too large")
        if buf is not self._view_src or n != self._view_n:  # (ACQUIRE's moving window:
            # a new position, the same view; a view allocates)
            need = 2 * n if isinstance(buf, bytearray) else n
            if len(buf) < need:
                raise ValueError("buffer too small")
            self._view = memoryview(buf)[:need]
            self._view_src = buf
            self._view_n = n
        win = self._win
        put16(win, 1, x0)
        put16(win, 3, y0)
        put16(win, 5, w)
        put16(win, 7, h)
        put32(win, 9, lb)
        self._rx0 = x0
        self._ry0 = y0
        self._rw = w
        self._rh = h
        self._rbin = binning

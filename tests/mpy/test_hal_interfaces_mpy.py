"""HAL interfaces and errors, and the real drivers' hot paths, under MicroPython.

Runs under CPython and inside the MicroPython VM. ``machine`` does not exist in the VM's
test environment: the drivers take bus objects, so tiny allocation-free fakes below stand
in for ``machine.SPI``/``I2C``/``UART``/``Pin``. Under MicroPython the hot paths run with
the heap locked (``micropython.heap_lock``): any allocation raises MemoryError.
"""

from array import array

from hal import errors, interfaces
from hal.errors import BusError, DeviceFault, HalError, SensorError, StorageError
from hal.interfaces import (
    COUNTER_MASK,
    CTR_LOCKED,
    CTR_PACKETS_OK,
    CTR_PRBS_BITS,
    CTR_SNAPSHOT,
    N_COUNTERS,
    N_SWITCHES,
    SWITCH_NAMES,
    counter_delta,
)
from hal.real.camera import FpgaCamera
from hal.real.comparator import Mcp4822Comparator
from hal.real.framer import FpgaFramer
from hal.real.fsm import Ad5664Fsm
from hal.real.power import GpioPower, Ina3221
from hal.real.uart_link import UartLink

try:
    import micropython

    _heap_lock = micropython.heap_lock
    _heap_unlock = micropython.heap_unlock
except (ImportError, AttributeError):  # CPython: nothing to lock

    def _heap_lock():
        return 0

    def _heap_unlock():
        return 0


# ------------------------------------------------------------------------ interfaces


def test_error_hierarchy():
    for cls in (BusError, SensorError, DeviceFault, StorageError):
        assert issubclass(cls, HalError)
        assert issubclass(cls, Exception)
        assert not issubclass(cls, ValueError)
    assert errors.HalError is HalError
    try:
        raise SensorError("tmp117@0x48: implausible")
    except HalError as e:
        assert isinstance(e, SensorError)
        assert e.args[0] == "tmp117@0x48: implausible"
    else:
        raise AssertionError("not raised")


def test_base_methods_are_abstract():
    calls = (
        (interfaces.Camera(), "frame_ready", ()),
        (interfaces.Camera(), "set_exposure", (100,)),
        (interfaces.Camera(), "read_roi", (0, 0, 1, 1, 1, array("H", [0]), [0] * 4)),
        (interfaces.Fsm(), "set_codes", (0, 0)),
        (interfaces.Fsm(), "fault", ()),
        (interfaces.Fsm(), "wave_errors", ()),
        (interfaces.Fsm(), "register_wave_buffers", (array("h", [0]),) * 4),
        (interfaces.TempSensor(), "read_c", ()),
        (interfaces.BiasSupply(), "set_volts", (1.0,)),
        (interfaces.BiasSupply(), "read_back_v", ()),
        (interfaces.ComparatorDac(), "set_code", (1,)),
        (interfaces.Framer(), "read_counters", ([0] * N_COUNTERS,)),
        (interfaces.Framer(), "set_mode", (interfaces.MODE_PRBS,)),
        (interfaces.BusLink(), "read_into", (bytearray(4),)),
        (interfaces.Storage(), "read", ("x",)),
        (interfaces.Watchdog(), "feed", ()),
        (interfaces.Power(), "currents", ([0] * N_SWITCHES,)),
        (interfaces.Power(), "set", (0, True)),
        (interfaces.Power(), "trips", ()),
        (interfaces.Device(), "init", ()),
    )
    for obj, name, args in calls:
        try:
            getattr(obj, name)(*args)
        except NotImplementedError:
            pass
        else:
            raise AssertionError(name + " did not raise NotImplementedError")


def test_constants_are_consistent():
    idx = (
        interfaces.CTR_PACKETS_OK,
        interfaces.CTR_CRC_ERRORS,
        interfaces.CTR_SERIAL_GAPS,
        interfaces.CTR_PREAMBLE_BIT_ERRORS,
        interfaces.CTR_PRBS_BIT_ERRORS,
        interfaces.CTR_PRBS_BITS,
        interfaces.CTR_SYNC_LOSSES,
        interfaces.CTR_LOCKED,
        interfaces.CTR_SNAPSHOT,
        interfaces.CTR_TRIGGERS,
        interfaces.CTR_CODE_VIOLATIONS,
    )
    assert sorted(idx) == list(range(N_COUNTERS))
    assert len(SWITCH_NAMES) == N_SWITCHES
    sw = (
        interfaces.SW_LASER_850,
        interfaces.SW_LASER_525,
        interfaces.SW_CAMERA,
        interfaces.SW_SIPM_BIAS,
        interfaces.SW_FRAMER,
    )
    assert sorted(sw) == list(range(N_SWITCHES))
    assert interfaces.Framer.MODE_LOOPBACK == interfaces.MODE_LOOPBACK
    assert len(set(interfaces.FRAMER_MODES)) == 3
    assert interfaces.FSM_CODE_MIN == -32768 and interfaces.FSM_CODE_MAX == 32767
    assert interfaces.META_LEN == 4
    meta = (interfaces.META_FRAME_COUNTER, interfaces.META_EXPOSURE_US,
            interfaces.META_GAIN_X16, interfaces.META_FRAME_AGE_US)
    assert sorted(meta) == list(range(interfaces.META_LEN))
    assert interfaces.BINNINGS == (1, 2, 4, 8, 16)


def test_counter_delta_wraps():
    assert counter_delta(10, 3) == 7
    assert counter_delta(5, COUNTER_MASK - 4) == 10
    assert counter_delta(0, 0) == 0
    assert COUNTER_MASK == (1 << 30) - 1


def test_board_container_defaults():
    b = interfaces.Board(name="x")
    assert b.camera is None and b.temps == [] and b.name == "x"
    b2 = interfaces.Board(temps=[1, 2])
    assert b2.temps == [1, 2] and b2.clock is None


# ------------------------------------------------------------------------ tiny fakes


class Pin:
    def __init__(self, level=1):
        self.level = level
        self.toggles = 0

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        self.toggles += 1
        return None

    def __call__(self, v=None):  # (machine.Pin's shortcut for value, as the FSM uses)
        return self.value(v)


class Spi:
    """Serves prepared sources element by element, one per ``readinto`` call in turn;
    keeps the last bytes written (up to 20) and counts writes."""

    def __init__(self, sources):
        self.sources = sources
        self.k = 0
        self.writes = 0
        self.last = bytearray(20)
        self.last_len = 0

    def write(self, buf):
        n = len(buf)
        i = 0
        while i < n and i < 20:
            self.last[i] = buf[i]
            i += 1
        self.last_len = n
        self.writes += 1

    def readinto(self, buf, fill=0):
        src = self.sources[self.k]
        self.k += 1
        if self.k == len(self.sources):
            self.k = 0
        n = len(buf)
        if len(src) < n:
            n = len(src)
        i = 0
        while i < n:
            buf[i] = src[i]
            i += 1


class I2c:
    def __init__(self, regs):
        self.regs = regs  # (addr, reg) -> bytearray(2)

    def readfrom_mem_into(self, addr, reg, buf):
        src = self.regs[addr * 256 + reg]
        buf[0] = src[0]
        buf[1] = src[1]

    def writeto_mem(self, addr, reg, buf):
        src = self.regs[addr * 256 + reg]
        src[0] = buf[0]
        src[1] = buf[1]


class Uart:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def any(self):
        return len(self.data) - self.pos

    def readinto(self, buf, n):
        i = 0
        while i < n:
            buf[i] = self.data[self.pos]
            self.pos += 1
            i += 1
        return n

    def write(self, buf):
        return len(buf)


# ------------------------------------------------------------------------ hot paths


def test_camera_read_roi_allocation_free():
    # fc 7, 1000 us, x1, the frame 3 000 us old at the latch
    hdr = bytearray(b"\x56\x43\x00\x07\x00\x00\x03\xe8\x00\x00\x00\x10\x00\x00\x0b\xb8")
    pixels = array("H", [i * 3 for i in range(256)])
    spi = Spi([hdr, pixels])
    cam = FpgaCamera(spi, Pin())
    buf = array("H", [0] * 256)
    meta = [0] * interfaces.META_LEN
    assert cam.read_roi(600, 500, 16, 16, 1, buf, meta)  # first call builds the view
    ok = False
    _heap_lock()
    try:
        ok = cam.read_roi(600, 500, 16, 16, 1, buf, meta)
    finally:
        _heap_unlock()
    assert ok is True
    assert meta == [7, 1000, 16, 3000]
    assert buf[0] == 0 and buf[255] == 765
    assert spi.last_len == 2  # the stream command, after the 17-byte window command
    # ACQUIRE's window moves every frame: its burst is packed again, its checks run
    # again, the buffer's view is kept -- still nothing allocated.
    writes = spi.writes
    _heap_lock()
    try:
        ok = cam.read_roi(601, 499, 16, 16, 1, buf, meta)
    finally:
        _heap_unlock()
    assert ok is True and spi.writes == writes + 2
    assert cam._win[1:5] == bytearray(b"\x02\x59\x01\xf3")  # x0 601, y0 499



def test_the_stream_header_kernel_matches_its_twin():
    # hal/real/camera_viper.py (the board, the unix port) against the plain-Python twin
    # (hal/real/camera.py stream_header_py) on 16-octet headers: tags right and wrong, the
    # age word's reserved half 0 and not (either octet), the BAD_FRAME flag and the other
    # flag bits, every octet's range, ages 0 and 0xFFFF among them, into a list and an
    # array('i') meta.
    import sys

    from hal.real import camera as C

    assert C.HDR_LEN == 16
    x = 12345
    seen = {}
    ages = {}
    for case in range(300):
        hdr = bytearray(16)
        for i in range(16):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            hdr[i] = (x >> 16) & 0xFF
        if case % 5:  # (four in five with the tag: its octets right)
            hdr[0], hdr[1] = 0x56, 0x43
        elif case % 10 == 5:
            hdr[0] = 0x56  # (only the second octet wrong)
        k = case % 7  # the reserved half: 0 five in seven, else one octet of it set
        if k == 5:
            hdr[12], hdr[13] = 0, hdr[13] | 1
        elif k == 6:
            hdr[12], hdr[13] = hdr[12] | 0x80, 0
        else:
            hdr[12] = hdr[13] = 0
        if case % 11 == 1:
            hdr[14] = hdr[15] = 0xFF  # (the age saturated)
        elif case % 11 == 2:
            hdr[14] = hdr[15] = 0
        for meta in ([-1, -1, -1, -1], array("i", [-1, -1, -1, -1])):
            m2 = [-1, -1, -1, -1]
            _heap_lock()
            try:
                r = C._stream_header(hdr, meta)
            finally:
                _heap_unlock()
            r2 = C.stream_header_py(hdr, m2)
            assert r == r2 and list(meta) == m2, (case, bytes(hdr))
            seen[r] = seen.get(r, 0) + 1
            tagged = hdr[0] == 0x56 and hdr[1] == 0x43
            if r >= 0:
                assert tagged and hdr[12] == 0 and hdr[13] == 0
                assert m2 == [(hdr[2] << 8) | hdr[3],
                              ((hdr[4] & 0x3F) << 24) | (hdr[5] << 16) | (hdr[6] << 8) | hdr[7],
                              (hdr[10] << 8) | hdr[11],
                              (hdr[14] << 8) | hdr[15]]
                assert r == 1 - (hdr[9] & 1)
                ages[m2[3]] = 1  # (0 and 0xFFFF among them, below)
            else:
                assert not tagged or hdr[12] or hdr[13]
                assert m2 == [-1, -1, -1, -1]  # a bad header: the meta untouched
                if tagged:
                    seen["reserved"] = seen.get("reserved", 0) + 1
    assert seen.get(-1, 0) > 20 and seen.get(0, 0) > 20 and seen.get(1, 0) > 20, seen
    assert seen.get("reserved", 0) > 20 and 0 in ages and 0xFFFF in ages, (seen, ages)
    impl = sys.implementation.name
    if impl == "micropython" and sys.platform != "webassembly":
        assert C._stream_header is not C.stream_header_py  # the board and the unix port
    else:
        assert C._stream_header is C.stream_header_py


def test_framer_read_counters_allocation_free():
    blk = bytearray(44)
    blk[0], blk[1], blk[2], blk[3] = 0x56, 0x46, 0x00, 0x05  # tag, snapshot 5
    blk[4:8] = b"\x00\x00\x27\x10"  # packets ok 10000
    blk[24:28] = b"\xff\xff\xff\xf0"  # PRBS bits: 32-bit value, kept mod 2**30
    blk[32:36] = b"\x00\x00\x01\x00"  # triggers 256
    blk[39] = 0x03  # locked, PLL locked
    blk[40:44] = b"\x00\x00\x00\x2a"  # code violations 42
    fr = FpgaFramer(Spi([blk]), Pin())
    buf = [0] * N_COUNTERS
    fr.read_counters(buf)
    _heap_lock()
    try:
        fr.read_counters(buf)
    finally:
        _heap_unlock()
    assert buf[CTR_PACKETS_OK] == 10000
    assert buf[CTR_PRBS_BITS] == 0x3FFFFFF0
    assert buf[CTR_LOCKED] == 1 and buf[CTR_SNAPSHOT] == 5
    assert buf[interfaces.CTR_TRIGGERS] == 256
    assert buf[interfaces.CTR_CODE_VIOLATIONS] == 42


def test_fsm_and_comparator_allocation_free():
    spi = Spi([bytearray(1)])
    sync = Pin()
    fsm = Ad5664Fsm(spi, sync, Pin(0))
    dac = Mcp4822Comparator(Spi([bytearray(1)]), Pin())
    _heap_lock()
    try:
        fsm.set_codes(-1000, 32767)
        dac.set_code(2100)
    finally:
        _heap_unlock()
    assert spi.writes == 4 and sync.level == 1 and sync.toggles == 9  # idle + 4 frames
    # Last frame: write input D (Y-) and update all, 65535 - (32767 + 32768) = 0.
    assert bytes(spi.last[:3]) == b"\x13\x00\x00"
    assert dac.code() == 2100


def test_fsm_registered_waveform_allocation_free():
    """The predictor's int16 pairs, registered once (``Fsm.register_wave_buffers``),
    play with ``n`` checked alone and nothing allocated; a wider buffer is refused (this
    port wraps a store into a narrow array: the probe reads it back changed)."""
    fsm = Ad5664Fsm(Spi([bytearray(1)]), Pin(), Pin(0))
    bufs = [array("h", [i] * 20) for i in range(4)]
    for tc, ok in (("h", True), ("b", True), ("H", False), ("i", False)):
        a = array(tc, [7, 8])
        assert interfaces.holds_codes_only(a) is ok, tc
        assert a[0] == 7
    assert not interfaces.holds_codes_only([7, 8])
    fsm.register_wave_buffers(bufs[0], bufs[1], bufs[2], bufs[3])
    _heap_lock()
    try:
        fsm.play_wave(bufs[2], bufs[3], 20)
        fsm.play_wave(bufs[0], bufs[1], 1)
    finally:
        _heap_unlock()
    assert fsm.codes() == (0, 1)
    for n in (0, 21):
        try:
            fsm.play_wave(bufs[0], bufs[1], n)
        except ValueError:
            pass
        else:
            raise AssertionError("n %d played" % n)
    try:
        fsm.register_wave_buffers(bufs[0], bufs[1], bufs[2], array("i", [0] * 20))
    except ValueError:
        pass
    else:
        raise AssertionError("an int32 buffer trusted")
    try:  # nothing trusted now: the per-sample check again
        fsm.play_wave(bufs[0], array("i", [0] * 19 + [40000]), 20)
    except ValueError:
        pass
    else:
        raise AssertionError("a code out of range played")


def test_fsm_dac_octets_kernel_is_its_twin():
    """The driver's DAC octets (viper on a port with a native emitter: the board) give
    its plain-Python twin's octets for codes across the range, command octets kept."""
    import sys

    from hal.real import fsm as fsm_mod

    a = bytearray(b"\x10" * 12)
    b = bytearray(b"\x10" * 12)
    for cx, cy in ((0, 0), (32767, -32768), (-32768, 32767), (1, -1), (1000, -2000),
                   (-12345, 23456)):
        fsm_mod._octets(a, cx, cy)
        fsm_mod.dac_octets_py(b, cx, cy)
        assert a == b, (cx, cy)
        assert a[0] == a[3] == a[6] == a[9] == 0x10
        assert (a[1] << 8 | a[2]) == cx + 32768 and (a[4] << 8 | a[5]) == 32767 - cx
    if sys.implementation.name == "micropython" and sys.platform != "webassembly":
        assert fsm_mod._octets is not fsm_mod.dac_octets_py  # the viper kernel
    elif sys.implementation.name != "micropython":
        assert fsm_mod._octets is fsm_mod.dac_octets_py


def test_power_currents_and_uart_allocation_free():
    regs = {}
    for addr in (0x40, 0x41):
        for reg in (1, 3, 5):
            regs[addr * 256 + reg] = bytearray(b"\x01\x90")  # 0x190 >> 3 = 50 -> 2000 uV
    i2c = I2c(regs)
    mons = [Ina3221(i2c, 0x40), Ina3221(i2c, 0x41)]
    p = GpioPower(
        [Pin(0) for _ in range(N_SWITCHES)],
        mons,
        [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2)],
        [100, 100, 100, 100, 50],
    )
    cur = [0] * N_SWITCHES
    link = UartLink(Uart(b"\x01\x02\x03\x00"))
    rx = bytearray(8)
    n = 0
    _heap_lock()
    try:
        p.currents(cur)
        n = link.read_into(rx)
    finally:
        _heap_unlock()
    assert cur == [20, 20, 20, 20, 40]
    assert n == 4 and rx[:4] == b"\x01\x02\x03\x00"
    assert link.read_into(rx) == 0


def test_driver_errors_are_hal_errors():
    class BadSpi(Spi):
        def write(self, buf):
            raise OSError(5)

    cs = Pin()
    dac = Mcp4822Comparator(BadSpi([bytearray(1)]), cs)
    try:
        dac.set_code(1)
    except BusError as e:
        assert "comparator" in e.args[0]
    else:
        raise AssertionError("no BusError")
    assert cs.level == 1  # chip select released
    try:
        dac.set_code(5000)
    except ValueError:
        pass
    else:
        raise AssertionError("no ValueError")

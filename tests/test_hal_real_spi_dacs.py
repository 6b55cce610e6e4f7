"""hal/real SPI DAC drivers against fake buses: AD5664 FSM driver (differential codes,
init sequence, HV enable and fault pin, waveform playback on a timer), MCP4822
comparator DAC and DAC8551 bias DAC. Exact frames on the wire and error paths."""

import errno

import pytest

from hal.errors import BusError, DeviceFault
from hal.real.bias import Dac8551
from hal.real.comparator import Mcp4822Comparator
from hal.real.fsm import Ad5664Fsm

try:  # tests/ on sys.path (pytest rootdir-less import) or the repository root
    from fakebus_machine import make_fake_machine
    from fakebus_pin import FakePin
    from fakebus_spi import FakeSPI, ScriptedSpiDevice
except ImportError:  # pragma: no cover
    from tests.fakebus_machine import make_fake_machine
    from tests.fakebus_pin import FakePin
    from tests.fakebus_spi import FakeSPI, ScriptedSpiDevice


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
    # SYNC idles high after a failed frame (the DAC takes no partial word), the codes
    # reported stay the last written; any other failure is passed on, SYNC high too
    assert dev._sync.value() == 1 and dev.codes() == (0, 0)
    spi.fail_next(RuntimeError("driver"))
    with pytest.raises(RuntimeError):
        dev.set_codes(2, 2)
    assert dev._sync.value() == 1 and dev.codes() == (0, 0)
    dev.set_codes(3, -3)  # and the next write is whole: four frames, SYNC framing each
    assert dev.codes() == (3, -3) and dev._sync.value() == 1
    assert spi.mosi()[-4:] == [bytes([0x00, 0x80, 0x03]), bytes([0x01, 0x7F, 0xFC]),
                               bytes([0x02, 0x7F, 0xFD]), bytes([0x13, 0x80, 0x02])]


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


def test_fsm_play_wave_writes_each_sample_on_the_timer():
    """The waveform's first timer callback writes the sample nearest its time from sample
    0 (none while that is sample 0: the board's millisecond tick may fire just after it;
    a later one if the callback came late), each later callback the next sample; the timer
    stops with the last sample, the mirror holds it."""
    from array import array

    from hal.interfaces import FSM_WAVE_PERIOD_US

    spi = FakeSPI(2, phase=1)
    sync = FakePin("B12", FakePin.OUT, value=1)
    spi.attach(sync, ScriptedSpiDevice("ad5664", fill=0))
    tim = make_fake_machine().Timer(-1)
    now = [1000]
    dev = Ad5664Fsm(spi, sync, FakePin("C6", FakePin.OUT, value=0), timer=tim,
                    clock_us=lambda: now[0])
    xs, ys = array("h", [10, 20, 30, 40, 50]), array("h", [-1, -2, -3, -4, -5])
    period = FSM_WAVE_PERIOD_US

    def play(times):
        dev.play_wave(xs, ys, 5)
        assert dev.codes() == (10, -1) and tim.running
        seen = []
        for t in times:  # callback times, periods after sample 0
            now[0] += int(t * period)
            n0 = len(spi.transactions)
            tim.fire()
            now[0] -= int(t * period)
            seen.append((dev.codes()[0], (len(spi.transactions) - n0) // 4, tim.running))
        return seen

    assert tim.freq is None
    # the tick 0.4 periods after sample 0: nothing, then samples 1 .. 4 a tick each
    assert play((0.4, 1.4, 2.4, 3.4, 4.4)) == [
        (10, 0, True), (20, 1, True), (30, 1, True), (40, 1, True), (50, 1, False)]
    assert tim.freq == 1000000 // period
    # the tick 0.7 periods after: sample 1 at once (0.3 early), the last a tick earlier
    assert play((0.7, 1.7, 2.7, 3.7, 4.7)) == [
        (20, 1, True), (30, 1, True), (40, 1, True), (50, 1, False), (50, 0, False)]
    # a first callback 2.6 periods late (a long native call): sample 3 (1 and 2 are stale)
    assert play((2.6, 3.6, 4.6)) == [(40, 1, True), (50, 1, False), (50, 0, False)]
    # set_codes stops a waveform playing
    dev.play_wave(array("h", [1, 2, 3]), array("h", [0, 0, 0]), 3)
    dev.set_codes(7, 7)
    now[0] += 5 * period
    tim.fire()
    assert dev.codes() == (7, 7) and not tim.running
    with pytest.raises(ValueError):
        dev.play_wave(array("h", [1]), array("h", [0]), 0)
    # without a timer: the first sample only
    dev2 = Ad5664Fsm(spi, sync, FakePin("C6", FakePin.OUT, value=0))
    dev2.play_wave(array("h", [5, 6]), array("h", [5, 6]), 2)
    assert dev2.codes() == (5, 5)

"""The HAL's integer twins of the hot float readings (issue 11: the 500 ms bias update
allocates nothing): ``TempSensor.read_q`` (1/TEMP_Q degC) and ``BiasSupply.set_uv`` /
``read_back_uv`` (µV), on both backends, agree with the float calls they stand for — same
codes on the wire, same errors, within 2 µV."""

import random

import pytest

from hal.errors import SensorError
from hal.interfaces import TEMP_Q, BiasSupply, TempSensor
from hal.real.bias import Ads1115, Dac8551, SipmBias
from hal.real.tmp117 import Tmp117

try:
    from fakebus_i2c import FakeI2C, FakeI2CDevice
    from fakebus_pin import FakePin
    from fakebus_spi import FakeSPI, ScriptedSpiDevice
except ImportError:  # pragma: no cover
    from tests.fakebus_i2c import FakeI2C, FakeI2CDevice
    from tests.fakebus_pin import FakePin
    from tests.fakebus_spi import FakeSPI, ScriptedSpiDevice


def be16(v):
    return (v & 0xFFFF).to_bytes(2, "big")


def test_the_contract_declares_the_integer_twins():
    for obj, name, args in ((TempSensor(), "read_q", ()), (BiasSupply(), "set_uv", (1,)),
                            (BiasSupply(), "read_back_uv", ())):
        with pytest.raises(NotImplementedError):
            getattr(obj, name)(*args)
    assert TEMP_Q == 4096  # the bias law's fixed point (flight/bias.py T_Q)


@pytest.mark.parametrize("raw", [0x0C80, 0x0001, 0xFFFF, 0xE480, 0x3E80, 0x0D20, 0x1234])
def test_tmp117_read_q_is_the_register_times_32(raw):
    i2c = FakeI2C(1)
    dev = i2c.attach(0x48, FakeI2CDevice({0x00: be16(raw)}))
    s = Tmp117(i2c, 0x48)
    assert s.read_q() == int(s.read_c() * TEMP_Q)
    dev.regs[0x00] = be16(raw)
    assert s.read_q() % 32 == 0


@pytest.mark.parametrize("raw", [0x8000, 0x3E81, 0xE47F])
def test_tmp117_read_q_raises_where_read_c_does(raw):
    i2c = FakeI2C(1)
    i2c.attach(0x48, FakeI2CDevice({0x00: be16(raw)}))
    s = Tmp117(i2c, 0x48)
    for f in (s.read_c, s.read_q):
        with pytest.raises(SensorError):
            f()


def _supply(v_per_code=40.0 / 65536, v_offset=0.0, v_min=0.0, v_max=32.0):
    i2c = FakeI2C(1)
    adc = FakeI2CDevice({0x00: be16(0), 0x01: be16(0x4283)})
    i2c.attach(0x4A, adc)
    spi = FakeSPI(2, phase=1)
    sync = FakePin("B11", FakePin.OUT, value=1)
    spi.attach(sync, ScriptedSpiDevice("dac8551", fill=0))
    b = SipmBias(Dac8551(spi, sync), Ads1115(i2c, 0x4A), v_per_code=v_per_code,
                 v_offset=v_offset, v_min=v_min, v_max=v_max, monitor_ratio=16.0)
    return b, adc, spi


@pytest.mark.parametrize("cal", [(40.0 / 65536, 0.0, 0.0, 32.0), (0.001, 10.0, 20.0, 30.0)])
def test_sipm_bias_set_uv_writes_the_code_set_volts_writes(cal):
    b, _adc, spi = _supply(*cal)
    rnd = random.Random(11)
    lo, hi = int(cal[2] * 1e6), int(cal[3] * 1e6)
    for uv in [lo, hi, (lo + hi) // 2] + [rnd.randint(lo, hi) for _ in range(2000)]:
        got = b.set_uv(uv)
        code, frame = b.code(), spi.mosi()[-1]
        v = b.set_volts(uv / 1e6)
        assert b.code() == code and spi.mosi()[-1] == frame, uv
        assert abs(got - v * 1e6) <= 2, (uv, got, v)
    for bad in (lo - 1, hi + 1):
        with pytest.raises(ValueError):
            b.set_uv(bad)


def test_sipm_bias_rejects_a_calibration_outside_the_integer_range():
    with pytest.raises(ValueError, match="calibration"):
        _supply(v_per_code=0.002, v_max=60.0)


@pytest.mark.parametrize("raw", [0x4E20, 0, 1, 0x7FFE, 0xFFF0, 0x8001])
def test_sipm_bias_read_back_uv_is_read_back_v_in_uv(raw):
    b, adc, _spi = _supply()
    adc.set16(0x00, raw)
    assert abs(b.read_back_uv() - b.read_back_v() * 1e6) <= 2


def test_the_simulated_devices_agree_with_their_float_calls():
    from hal.clock import VirtualClock
    from hal.interfaces import SW_SIPM_BIAS
    from hal.sim.board import make_board
    from hal.sim.world import make_world

    w = make_world("nominal", seed=1)
    board = make_board(clock=VirtualClock(), world=w)
    board.power.set(SW_SIPM_BIAS, True)
    for s in w.temps:
        q = s.read_q()
        assert isinstance(q, int) and abs(q - 25 * TEMP_Q) < 40 * TEMP_Q
    sup = w.bias
    for uv in (15000000, 24551234, 27500499, 27500500, 40000000):
        got = sup.set_uv(uv)
        code = sup.code()
        assert sup.set_volts(uv / 1e6) == pytest.approx(got / 1e6, abs=1e-9)
        assert sup.code() == code
    for bad in (14999999, 40000001):
        with pytest.raises(ValueError):
            sup.set_uv(bad)
    sup.readback_offset_v = 0.5
    assert abs(sup.read_back_uv() - (sup.volts() + 0.5) * 1e6) < 20000  # 2 mV noise x 10

"""hal/real I2C drivers against fake buses: TMP117, ADS1115 + DAC8551 bias supply,
INA3221 + GPIO power switches. Exact register traffic, parsing, error paths."""

import errno
from array import array

import pytest

from hal.errors import BusError, HalError, SensorError
from hal.interfaces import N_SWITCHES, SW_CAMERA, SW_FRAMER, SW_LASER_850, SW_SIPM_BIAS
from hal.real.bias import Ads1115, Dac8551, SipmBias
from hal.real.power import GpioPower, Ina3221
from hal.real.tmp117 import Tmp117

try:  # tests/ on sys.path (pytest rootdir-less import) or the repository root
    from fakebus_i2c import FakeI2C, FakeI2CDevice
    from fakebus_pin import FakePin
    from fakebus_spi import FakeSPI, ScriptedSpiDevice
except ImportError:  # pragma: no cover
    from tests.fakebus_i2c import FakeI2C, FakeI2CDevice
    from tests.fakebus_pin import FakePin
    from tests.fakebus_spi import FakeSPI, ScriptedSpiDevice


def be16(v):
    return (v & 0xFFFF).to_bytes(2, "big")


# =============================================================================== TMP117


def tmp117_device(raw_temp=0x0C80, device_id=0x1117):
    dev = FakeI2CDevice({0x00: be16(raw_temp), 0x01: be16(0x0220), 0x0F: be16(device_id)})

    def on_write(reg, data):  # config: status bits 15..12 read-only, Soft_Reset reads 0
        if reg == 0x01:
            v = int.from_bytes(data, "big") & 0x0FFD
            dev.regs[0x01] = be16(v | 0x2000)  # Data_Ready set

    dev.on_write = on_write
    return dev


@pytest.fixture
def tmp():
    i2c = FakeI2C(1)
    d48 = i2c.attach(0x48, tmp117_device())
    d49 = i2c.attach(0x49, tmp117_device(raw_temp=0x0C00))
    return i2c, d48, d49


def test_tmp117_init_traffic(tmp):
    i2c, d48, d49 = tmp
    s = Tmp117(i2c, 0x48)
    s.init()
    assert i2c.log == [
        ("r", 0x48, 0x0F, be16(0x1117)),
        ("w", 0x48, 0x01, bytes([0x01, 0xA0])),
        ("r", 0x48, 0x01, be16(0x21A0)),
    ]
    assert s.name == "tmp117@0x48"


def test_tmp117_id_mismatch(tmp):
    i2c, d48, d49 = tmp
    d48.set16(0x0F, 0x0119)  # some other TI part
    with pytest.raises(SensorError, match="DEVICE_ID"):
        Tmp117(i2c, 0x48).init()
    assert i2c.writes() == []


def test_tmp117_config_does_not_read_back(tmp):
    i2c, d48, d49 = tmp
    d48.on_write = None
    d48.script(0x01, be16(0x0220))  # write lost: still the reset default
    with pytest.raises(SensorError, match="configuration"):
        Tmp117(i2c, 0x48).init()


@pytest.mark.parametrize(
    "raw,expected",
    [
        (0x0C80, 25.0),
        (0x0001, 0.0078125),
        (0xFFFF, -0.0078125),
        (0xE480, -55.0),
        (0x3E80, 125.0),
        (0x0D20, 26.25),
    ],
)
def test_tmp117_conversion(tmp, raw, expected):
    i2c, d48, d49 = tmp
    d48.set16(0x00, raw)
    assert Tmp117(i2c, 0x48).read_c() == pytest.approx(expected, abs=1e-9)
    assert i2c.log[-1] == ("r", 0x48, 0x00, be16(raw))


def test_two_sensors_are_independent(tmp):
    i2c, d48, d49 = tmp
    a, b = Tmp117(i2c, 0x48), Tmp117(i2c, 0x49)
    assert a.read_c() == 25.0 and b.read_c() == 24.0


@pytest.mark.parametrize("raw", [0x8000, 0x3E81, 0x4B00, 0xE47F, 0x7FFF])
def test_tmp117_implausible(tmp, raw):
    """0x8000: no conversion since reset; others outside -55..125 degC."""
    i2c, d48, d49 = tmp
    d48.set16(0x00, raw)
    with pytest.raises(SensorError):
        Tmp117(i2c, 0x48).read_c()


def test_tmp117_custom_limits(tmp):
    i2c, d48, d49 = tmp
    s = Tmp117(i2c, 0x48, t_min_c=-20.0, t_max_c=20.0)
    with pytest.raises(SensorError, match="implausible"):
        s.read_c()  # 25 degC


def test_tmp117_nack_and_timeout(tmp):
    i2c, d48, d49 = tmp
    with pytest.raises(BusError, match=str(errno.ENODEV)):
        Tmp117(i2c, 0x4A).read_c()  # nobody at 0x4A: address NACK
    s = Tmp117(i2c, 0x48)
    i2c.fail_next(OSError(errno.ETIMEDOUT, "ETIMEDOUT"))
    with pytest.raises(BusError):
        s.read_c()
    i2c.fail_next()
    with pytest.raises(BusError):
        s.init()
    assert s.read_c() == 25.0  # recovers


def test_tmp117_bad_address():
    with pytest.raises(ValueError):
        Tmp117(FakeI2C(1), 0x40)


# =============================================================================== ADS1115 / bias


def ads_device(raw=0):
    dev = FakeI2CDevice({0x00: be16(raw), 0x01: be16(0x8583)})

    def on_write(reg, data):
        if reg == 0x01:  # continuous mode: OS reads 0 while converting
            dev.regs[0x01] = be16(int.from_bytes(data, "big") & 0x7FFF)

    dev.on_write = on_write
    return dev


@pytest.fixture
def bias():
    i2c = FakeI2C(1)
    adc_dev = i2c.attach(0x4A, ads_device())
    spi = FakeSPI(2, phase=1)
    sync = FakePin("B11", FakePin.OUT, value=1)
    spi.attach(sync, ScriptedSpiDevice("dac8551", fill=0))
    b = SipmBias(
        Dac8551(spi, sync),
        Ads1115(i2c, 0x4A),
        v_per_code=40.0 / 65536,
        v_offset=0.0,
        v_min=0.0,
        v_max=32.0,
        monitor_ratio=16.0,
    )
    return b, i2c, adc_dev, spi


def test_ads1115_init_traffic(bias):
    b, i2c, adc_dev, spi = bias
    b.init()
    assert spi.mosi() == [bytes([0, 0, 0])]  # DAC to the code nearest v_min
    assert i2c.log == [("w", 0x4A, 0x01, bytes([0x42, 0x83])), ("r", 0x4A, 0x01, be16(0x4283))]
    assert b.code() == 0


def test_ads1115_config_mismatch(bias):
    b, i2c, adc_dev, spi = bias
    adc_dev.on_write = None
    adc_dev.script(0x01, be16(0x8583))  # power-on default: write did not land
    with pytest.raises(SensorError, match="CONFIG"):
        b.init()


def test_bias_set_volts_rounds_and_frames(bias):
    b, i2c, adc_dev, spi = bias
    v = b.set_volts(27.5)
    assert b.code() == 45056  # 27.5 / (40/65536)
    assert v == pytest.approx(27.5)
    assert spi.mosi()[-1] == bytes([0x00, 0xB0, 0x00])
    v = b.set_volts(27.5004)  # 0.66 LSB above: rounds up by one code
    assert b.code() == 45057 and v == pytest.approx(45057 * 40.0 / 65536)
    assert b.limits() == (0.0, 32.0)


def test_bias_limits(bias):
    b, i2c, adc_dev, spi = bias
    for bad in (-0.1, 32.01, 100.0):
        with pytest.raises(ValueError):
            b.set_volts(bad)
    assert b.code_max_safe == 52428  # floor(32 / (40/65536))
    with pytest.raises(ValueError):
        b.set_code(52429)
    with pytest.raises(ValueError):
        b.set_code(-1)
    b.set_code(52428)
    assert spi.mosi()[-1] == bytes([0x00, 0xCC, 0xCC])
    assert b.set_volts(32.0) <= 32.0


def test_bias_offset_calibration():
    spi = FakeSPI(2)
    sync = FakePin("s", FakePin.OUT, value=1)
    spi.attach(sync, ScriptedSpiDevice("dac8551", fill=0))
    i2c = FakeI2C(1)
    i2c.attach(0x4A, ads_device())
    b = SipmBias(
        Dac8551(spi, sync), Ads1115(i2c), v_per_code=0.001, v_offset=10.0, v_min=20.0, v_max=30.0
    )
    assert (b.code_min, b.code_max_safe) == (10000, 20000)
    b.init()
    assert spi.mosi()[-1] == bytes([0x00, 0x27, 0x10])  # 10000: bias at v_min
    assert b.set_volts(25.0) == pytest.approx(25.0) and b.code() == 15000
    with pytest.raises(ValueError):
        b.set_code(9999)
    with pytest.raises(ValueError):
        SipmBias(
            Dac8551(spi, sync), Ads1115(i2c), v_per_code=0.001, v_offset=0.0, v_min=0.0, v_max=70.0
        )  # beyond the 16-bit DAC


@pytest.mark.parametrize(
    "raw,volts", [(0x4E20, 20000 * 0.000125 * 16), (0, 0.0), (0xFFF0, -16 * 0.000125 * 16)]
)
def test_bias_read_back(bias, raw, volts):
    b, i2c, adc_dev, spi = bias
    adc_dev.set16(0x00, raw)
    assert b.read_back_v() == pytest.approx(volts)
    assert i2c.log[-1][:3] == ("r", 0x4A, 0x00)


@pytest.mark.parametrize("raw", [0x7FFF, 0x8000])
def test_bias_read_back_over_range(bias, raw):
    b, i2c, adc_dev, spi = bias
    adc_dev.set16(0x00, raw)
    with pytest.raises(SensorError, match="over range"):
        b.read_back_v()


def test_bias_bus_errors(bias):
    b, i2c, adc_dev, spi = bias
    i2c.fail_next()
    with pytest.raises(BusError):
        b.read_back_v()
    b.set_code(100)
    spi.fail_next()
    with pytest.raises(BusError):
        b.set_code(200)
    assert b.code() == 100  # unchanged by the failed write
    del i2c.devices[0x4A]
    with pytest.raises(HalError):
        b.read_back_v()


# =============================================================================== INA3221 / power


def ina_device(shunts_uv=(0, 0, 0)):
    regs = {0xFE: be16(0x5449), 0xFF: be16(0x3220), 0x00: be16(0x7127)}
    for ch, uv in enumerate(shunts_uv, start=1):
        regs[2 * ch - 1] = be16((uv // 40) << 3)
    return FakeI2CDevice(regs)


@pytest.fixture
def power():
    i2c = FakeI2C(1)
    m40 = i2c.attach(0x40, ina_device((4000, 8000, 12000)))  # 40, 80, 120 mA at 100 mOhm
    m41 = i2c.attach(0x41, ina_device((20000, 400, 0)))  # 200 mA, 4 mA
    en = [FakePin("C%d" % i, FakePin.OUT, value=1) for i in range(N_SWITCHES)]
    faults = [FakePin("F%d" % i, FakePin.IN, value=1) for i in range(N_SWITCHES)]
    p = GpioPower(
        en,
        [Ina3221(i2c, 0x40), Ina3221(i2c, 0x41)],
        [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2)],
        [100] * N_SWITCHES,
        faults,
    )
    return p, i2c, m40, m41, en, faults


def test_power_init_all_off_and_monitor_config(power):
    p, i2c, m40, m41, en, faults = power
    p.init()
    assert [pin.level for pin in en] == [0] * N_SWITCHES
    assert not any(p.get(i) for i in range(N_SWITCHES))
    assert i2c.writes() == [(0x40, 0x00, bytes([0x75, 0x27])), (0x41, 0x00, bytes([0x75, 0x27]))]
    assert [e[2] for e in i2c.log[:2]] == [0xFE, 0xFF]


def test_power_monitor_identity(power):
    p, i2c, m40, m41, en, faults = power
    m41.set16(0xFE, 0x0000)
    with pytest.raises(SensorError, match="INA3221"):
        p.init()


def test_power_monitor_config_readback(power):
    p, i2c, m40, m41, en, faults = power
    m40.on_write = lambda reg, data: m40.set16(0x00, 0x7127)  # write ignored
    with pytest.raises(SensorError, match="CONFIGURATION"):
        p.init()


def test_power_switching(power):
    p, i2c, m40, m41, en, faults = power
    p.init()
    p.set(SW_CAMERA, True)
    assert en[SW_CAMERA].level == 1 and p.get(SW_CAMERA) is True
    p.set(SW_CAMERA, False)
    assert en[SW_CAMERA].history[-1] == 0 and p.get(SW_CAMERA) is False
    for bad in (-1, N_SWITCHES):
        with pytest.raises(ValueError):
            p.set(bad, True)
        with pytest.raises(ValueError):
            p.get(bad)
        with pytest.raises(ValueError):
            p.fault(bad)


def test_power_currents(power):
    p, i2c, m40, m41, en, faults = power
    buf = array("i", [0] * N_SWITCHES)
    p.currents(buf)
    assert list(buf) == [40, 80, 120, 200, 4]
    assert [(a, r) for (_, a, r, _) in i2c.log] == [
        (0x40, 1),
        (0x40, 3),
        (0x40, 5),
        (0x41, 1),
        (0x41, 3),
    ]


def test_power_negative_shunt_and_resolution(power):
    p, i2c, m40, m41, en, faults = power
    m40.set16(0x01, (-25 << 3) & 0xFFFF)  # -1000 uV -> -10 mA
    m41.set16(0x03, 0x7FF8)  # full scale 163.8 mV -> 1638 mA
    buf = [0] * N_SWITCHES
    p.currents(buf)
    assert buf[SW_LASER_850] == -10 and buf[SW_FRAMER] == 1638


def test_power_currents_error_leaves_buffer(power):
    p, i2c, m40, m41, en, faults = power
    buf = [7] * N_SWITCHES
    del i2c.devices[0x41]
    with pytest.raises(BusError):
        p.currents(buf)
    assert buf == [7] * N_SWITCHES
    with pytest.raises(ValueError):
        p.currents([0] * (N_SWITCHES - 1))


def test_power_fault_pins(power):
    p, i2c, m40, m41, en, faults = power
    assert not any(p.fault(i) for i in range(N_SWITCHES))
    faults[SW_SIPM_BIAS].level = 0
    assert p.fault(SW_SIPM_BIAS) and not p.fault(SW_CAMERA)
    # trips(): the same pins in one call, for the switches that are on only
    assert p.trips() == 0  # the bias switch is off: its pin's trip is no trip of a load
    p.set(SW_SIPM_BIAS, True)
    p.set(SW_CAMERA, True)
    assert p.trips() == 1 << SW_SIPM_BIAS
    faults[SW_CAMERA].level = 0
    assert p.trips() == (1 << SW_SIPM_BIAS) | (1 << SW_CAMERA)


def test_power_constructor_validation():
    i2c = FakeI2C(1)
    mons = [Ina3221(i2c, 0x40)]
    en = [FakePin(i) for i in range(N_SWITCHES)]
    ch = [(0, 1)] * N_SWITCHES
    with pytest.raises(ValueError):
        GpioPower(en[:4], mons, ch, [100] * N_SWITCHES)
    with pytest.raises(ValueError):
        GpioPower(en, mons, [(1, 1)] * N_SWITCHES, [100] * N_SWITCHES)  # no monitor 1
    with pytest.raises(ValueError):
        GpioPower(en, mons, [(0, 4)] * N_SWITCHES, [100] * N_SWITCHES)
    with pytest.raises(ValueError):
        GpioPower(en, mons, ch, [100, 100, 0, 100, 100])
    with pytest.raises(ValueError):
        Ina3221(i2c, 0x44)
    p = GpioPower(en, mons, ch, [100] * N_SWITCHES)  # no fault pins at all
    assert p.fault(0) is False
    p.set(0, True)
    assert p.trips() == 0

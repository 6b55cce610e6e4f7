"""SiPM bias supply: TI DAC8551 (16-bit SPI DAC) driving the high-voltage stage, and a
TI ADS1115 (16-bit I2C ADC) reading the bias back through a divider.

DAC8551 frame: 24 bits, MSB first, latched on SCLK falling edges (SPI mode 1), framed by
SYNC (low for exactly 24 bits; the output updates at the 24th bit):

    DB23..18  don't care (0)
    DB17..16  PD1 PD0: 00 normal, 01 1 kOhm to GND, 10 100 kOhm to GND, 11 high-Z
    DB15..0   code (straight binary, Vdac = Vref * code / 65536, Vref = 2.5 V)

ADS1115 (address by ADDR pin: GND 0x48, VDD 0x49, SDA 0x4A, SCL 0x4B; the board uses 0x4A
because the TMP117s sit at 0x48/0x49). 16-bit registers, big-endian:

    0x00 CONVERSION  two's complement; 0x7FFF / 0x8000 = over range
    0x01 CONFIG      15 OS, 14:12 MUX, 11:9 PGA, 8 MODE, 7:5 DR, 4 COMP_MODE,
                     3 COMP_POL, 2 COMP_LAT, 1:0 COMP_QUE

    CONFIG written: 0x4283 = MUX 100 (AIN0 vs GND), PGA 001 (+-4.096 V, 125 uV/LSB),
    MODE 0 (continuous), DR 100 (128 SPS), comparator disabled (COMP_QUE 11).
    The ADS1115 has no ID register: plausibility = CONFIG reads back (bit 15 excluded).

Bias: ``V_bias = v_offset + code * v_per_code`` (HV stage gain, board calibration);
monitor: ``V_bias = V_AIN0 * monitor_ratio``.
"""

from hal.errors import SensorError
from hal.interfaces import BiasSupply
from hal.real._util import I2cReg16, bus_error, const, get16, get16s, put16

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from machine import I2C, SPI, Pin  # noqa: F401

ADS_REG_CONVERSION = const(0x00)
ADS_REG_CONFIG = const(0x01)
ADS_CONFIG = const(0x4283)
ADS_LSB_V = 4.096 / 32768
_UPC_MAX = const(1 << 20)  # set_uv: µV per code x 1024 below 1.024 mV, (d % n) x 1024 < 2**30


class Dac8551:
    """TI DAC8551 on SPI mode 1 with its own SYNC pin."""

    def __init__(self, spi, sync, name="dac8551"):
        # type: (SPI, Pin, str) -> None
        self.name = name
        self._spi = spi
        self._sync = sync
        self._b = bytearray(3)
        sync.value(1)

    def write(self, code, pd=0):
        # type: (int, int) -> None
        """Write a code (0..65535) with power-down mode ``pd`` (0 = normal)."""
        if not (0 <= code <= 0xFFFF) or not (0 <= pd <= 3):
            raise ValueError("DAC8551 code/pd")
        b = self._b
        b[0] = pd
        put16(b, 1, code)
        sync = self._sync
        sync.value(0)
        try:
            self._spi.write(b)
        except OSError as e:
            raise bus_error(self.name, "SPI write", e)  # noqa: B904
        finally:
            sync.value(1)


class Ads1115(I2cReg16):
    """TI ADS1115 in continuous mode on one input (configuration :data:`ADS_CONFIG`)."""

    ADDRESSES = (0x48, 0x49, 0x4A, 0x4B)
    PART = "ADS1115"

    def __init__(self, i2c, addr=0x4A, name=None):
        # type: (I2C, int, str | None) -> None
        I2cReg16.__init__(self, i2c, addr, name)

    def init(self):
        # type: () -> None
        self._write(ADS_REG_CONFIG, ADS_CONFIG)
        cfg = get16(self._read(ADS_REG_CONFIG), 0)
        if cfg & 0x7FFF != ADS_CONFIG & 0x7FFF:
            raise SensorError("%s: CONFIG reads back 0x%04X" % (self.name, cfg))

    def read_raw(self):
        # type: () -> int
        """Latest conversion, signed LSBs (125 uV). Raises BusError, SensorError (over
        range)."""
        v = get16s(self._read(ADS_REG_CONVERSION), 0)
        if v >= 0x7FFF or v <= -0x8000:
            raise SensorError("%s: over range" % self.name)
        return v


class SipmBias(BiasSupply):
    """:class:`hal.interfaces.BiasSupply`: DAC8551 + HV stage + ADS1115 monitor.

    Args:
        dac: :class:`Dac8551`; adc: :class:`Ads1115`.
        v_per_code, v_offset: ``V_bias = v_offset + code * v_per_code``.
        v_min, v_max: safe command limits (volts), inside the DAC's reach.
        monitor_ratio: ``V_bias / V_AIN0`` of the read-back divider.
    """

    def __init__(
        self,
        dac,
        adc,
        v_per_code=40.0 / 65536,
        v_offset=0.0,
        v_min=0.0,
        v_max=32.0,
        monitor_ratio=16.0,
        name="sipm_bias",
    ):
        # type: (Dac8551, Ads1115, float, float, float, float, float, str) -> None
        if v_per_code <= 0 or monitor_ratio <= 0:
            raise ValueError("bias calibration")
        lo = self._ceil_code(v_min, v_offset, v_per_code)
        hi = self._floor_code(v_max, v_offset, v_per_code)
        if not (0 <= lo <= hi <= 65535):
            raise ValueError("bias limits outside the DAC range")
        self.name = name
        self._dac = dac
        self._adc = adc
        self.v_per_code = v_per_code
        self.v_offset = v_offset
        self.v_min = v_min
        self.v_max = v_max
        self.monitor_ratio = monitor_ratio
        self.code_min = lo
        self.code_max_safe = hi
        self._code = lo
        # The integer calibration of set_uv / read_back_uv (no float per call, issue 11):
        # µV per code x 1024 (40 V / 65536: 625 000, exact), and µV per monitor LSB as
        # its integer part and 1/256 (125 µV x 16: 2000, exact).
        self._upc1024 = int(v_per_code * 1024e6 + 0.5)
        if not 0 < self._upc1024 < _UPC_MAX:
            raise ValueError("bias calibration: v_per_code outside the integer range")
        self._off_uv = _uv(v_offset)
        self._min_uv = _uv(v_min)
        self._max_uv = _uv(v_max)
        m = ADS_LSB_V * monitor_ratio * 1e6
        self._upl = int(m)
        self._upl256 = int((m - self._upl) * 256 + 0.5)

    @staticmethod
    def _ceil_code(v, off, step):
        # type: (float, float, float) -> int
        x = (v - off) / step
        c = int(x)
        if c < x - 1e-9:
            c += 1
        return c

    @staticmethod
    def _floor_code(v, off, step):
        # type: (float, float, float) -> int
        x = (v - off) / step
        c = int(x)
        if c > x + 1e-9:
            c -= 1
        return c

    def init(self):
        # type: () -> None
        self._dac.write(self.code_min)
        self._code = self.code_min
        self._adc.init()

    def set_code(self, code):
        # type: (int) -> None
        if not (self.code_min <= code <= self.code_max_safe):
            raise ValueError("bias code outside the safe limits")
        self._dac.write(code)
        self._code = code

    def set_volts(self, v):
        # type: (float) -> float
        if not (self.v_min <= v <= self.v_max):
            raise ValueError("bias voltage outside the safe limits")
        code = int((v - self.v_offset) / self.v_per_code + 0.5)
        if code < self.code_min:
            code = self.code_min
        elif code > self.code_max_safe:
            code = self.code_max_safe
        self.set_code(code)
        return self.v_offset + code * self.v_per_code

    def code(self):
        # type: () -> int
        return self._code

    def read_back_v(self):
        # type: () -> float
        return self._adc.read_raw() * ADS_LSB_V * self.monitor_ratio

    def limits(self):
        # type: () -> tuple[float, float]
        return (self.v_min, self.v_max)

    def set_uv(self, uv):
        # type: (int) -> int
        """**hot** :meth:`set_volts` in µV, integers only (the code nearest ``uv``; returns
        the µV of that code, within 2 µV)."""
        if not (self._min_uv <= uv <= self._max_uv):
            raise ValueError("bias voltage outside the safe limits")
        n = self._upc1024
        d = uv - self._off_uv
        # code = round(d x 1024 / n) in two parts, each product below 2**30
        code = (d // n) * 1024 + ((d % n) * 1024 + (n >> 1)) // n
        if code < self.code_min:
            code = self.code_min
        elif code > self.code_max_safe:
            code = self.code_max_safe
        self.set_code(code)
        return self.uv_of(code)

    def uv_of(self, code):
        # type: (int) -> int
        """µV of a code (floored parts: within 2 µV of ``v_offset + code x v_per_code``)."""
        n = self._upc1024
        return self._off_uv + (((code >> 8) * n) >> 2) + (((code & 255) * n) >> 10)

    def read_back_uv(self):
        # type: () -> int
        """**hot** :meth:`read_back_v` in µV, integers only."""
        r = self._adc.read_raw()
        return r * self._upl + ((r * self._upl256) >> 8)


def _uv(v):
    # type: (float) -> int
    """Volts → µV, rounded (construction only)."""
    return int(v * 1e6 + 0.5) if v >= 0 else -int(0.5 - v * 1e6)

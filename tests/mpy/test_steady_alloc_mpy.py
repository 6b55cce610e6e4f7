"""Steady-state garbage of the periodic tasks, 0 octets (issue 11: garbage collection
never delays the APT because the flight makes (almost) none), on every interpreter:
under ``micropython.heap_lock()`` any allocation raises MemoryError.

* the 500 ms SiPM bias update on integer devices (the HAL's ``read_q``, ``set_uv``,
  ``read_back_uv``), sensors stepping in the TMP117's 1/128 K;
* its housekeeping fill, and the framer's 100 ms update (the BER limit in integers);
* the board drivers of those calls (hal/real: TMP117, DAC8551 + ADS1115) on buses that
  allocate nothing themselves.
"""

import gc

from flight import bias as B
from flight import framer_ctl as F
from heaplock import locked
from kit import bias_update_rig, rig
from hal.real.bias import Ads1115, Dac8551, SipmBias
from hal.real.tmp117 import Tmp117

try:
    import micropython
except ImportError:  # CPython
    micropython = None


class QTemp:
    """A temperature sensor with the HAL's integer reading only (1/4096 degC)."""

    def __init__(self, q):
        self.q = q

    def init(self):
        pass

    def read_q(self):
        return self.q


def _bias_on_integer_sensors():
    r = bias_update_rig({"bias_ff_tau_s": 3.0})
    b = r.bias
    ts = [QTemp(25 * 4096), QTemp(25 * 4096 + 1024)]
    for k in range(2):
        b.sensors.checks[k].sensor = ts[k]
        b.sensors.checks[k]._read_q = ts[k].read_q
    b.sensors.start()
    return b, ts


def test_a_bias_update_on_integer_devices_allocates_nothing():
    b, ts = _bias_on_integer_sensors()
    i = [0]

    def step():  # a slow rise in the TMP117's 1/128 K (32 in 1/4096 K) steps
        k = i[0]
        ts[0].q = 25 * 4096 + 32 * k
        ts[1].q = 25 * 4096 + 1024 + 32 * k
        i[0] = k + 1
        b.update()

    for _ in range(6):  # the baseline, the first anchor (outside the lock)
        step()
    locked(step, 40)
    assert b.state == B.ACTIVE and b.source == 0 and b.readback_bad == 0
    assert abs(b.t_used - (25 + 45 / 128)) < 1e-9  # the 46th reading, in use
    assert 0 < b.dtdt < 0.02  # 1/128 K per 500 ms, filtered: rising
    vals = [0] * 12
    locked(lambda: b.hk(vals, 0), 3)
    assert vals[0] == B.ACTIVE
    assert vals[3] == round((25 + 45 / 128) * 100) and vals[4] == 0
    assert vals[1] == (b._cmd_uv + 500) // 1000 and vals[2] == 0


def test_the_framer_update_allocates_nothing():
    r = rig("framer")
    fc, hal = r.fc, r.hal
    upd = fc.update
    for k in range(60):
        hal.add(ok=1800, crc=2, pre=5 + (k & 3), prbs_bits=0)  # (outside the lock)
        if k < 3:  # the limit's conversion and the LOCKED event: once, not per window
            upd()
        else:
            locked(upd, 1)
    assert fc.link == F.L_LOCKED  # BER ~5e-5 under the 2e-3 limit, in integers
    assert fc.window_valid and fc.last_window[F.W_OK] == 1800
    if micropython is None:
        return
    vals = [0] * 6
    x = 1.5
    gc.collect()
    gc.disable()
    try:
        a0 = gc.mem_alloc()
        y = x * 3.0  # one boxed float: the heap's unit for it (16 B on 32-bit ports)
        one = gc.mem_alloc() - a0
        a0 = gc.mem_alloc()
        fc.hk(vals, 0)
        used = gc.mem_alloc() - a0
    finally:
        gc.enable()
    assert y == 4.5 and used <= one, (used, one)  # the f32 BER's float; the PER in integers
    assert vals[3] == (2 * 10000 + 900) // 1802


class _I2c:
    """A bus that copies a preset register value and allocates nothing."""

    def __init__(self):
        self.reg = bytearray(2)

    def readfrom_mem_into(self, addr, reg, buf):
        buf[0] = self.reg[0]
        buf[1] = self.reg[1]

    def writeto_mem(self, addr, reg, buf):
        pass


class _Spi:
    def write(self, b):
        pass


class _Pin:
    def value(self, v=None):
        return 0


def test_the_board_drivers_integer_calls_allocate_nothing():
    i2c = _I2c()
    t = Tmp117(i2c, 0x48)
    sup = SipmBias(Dac8551(_Spi(), _Pin()), Ads1115(i2c, 0x4A))
    i2c.reg[0] = 0x0C  # 25 degC (0x0C80), and 0x0C80 LSBs on the monitor
    i2c.reg[1] = 0x80
    out = [0, 0, 0]

    def step():
        out[0] = t.read_q()
        out[1] = sup.set_uv(27500000)
        out[2] = sup.read_back_uv()

    locked(step, 20)
    assert out[0] == 25 * 4096
    assert abs(out[1] - 27500000) <= 611 and sup.code() == 45056
    assert out[2] == 0x0C80 * 2000  # 125 uV x 16 a monitor LSB

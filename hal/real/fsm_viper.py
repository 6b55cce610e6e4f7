"""The AD5664 mirror driver's viper kernels (hal/real/fsm.py): its DAC octets, and its
timer callback whole.

The driver's timer writes one waveform sample a millisecond, outside every task
(docs/firmware.md §4 "The mirror's timer"); as bytecode on the Cortex-M7 image the
sample's eight octets cost ~3 k instructions and the callback ~6 k, as viper code a call
~0.7 k and ~4 k (``python -m bench.apt_tick_m7``).  Ports without a native emitter refuse
the decorator and CPython has no ``micropython`` module: the driver then uses the
plain-Python twins (``hal.real.fsm.dac_octets_py``, ``wave_sample_py``: the same octets,
the same frames on the bus: tests/mpy/test_hal_interfaces_mpy.py,
test_fsm_timer_mpy.py).  Every value stored is
an octet of a code offset into 0 .. 65535: no sign, the same on 32- and 64-bit ports.
"""

import micropython

from hal.compat import ticks_diff
from hal.interfaces import FSM_WAVE_PERIOD_US


@micropython.viper
def dac_octets(buf, cx: int, cy: int):
    """See hal.real.fsm.dac_octets_py."""
    b = ptr8(buf)  # type: ignore[name-defined]  # noqa: F821  (viper built-in)
    p = cx + 32768
    hi = p >> 8
    lo = p & 0xFF
    b[1] = hi
    b[2] = lo
    b[4] = hi ^ 0xFF
    b[5] = lo ^ 0xFF
    p = cy + 32768
    hi = p >> 8
    lo = p & 0xFF
    b[7] = hi
    b[8] = lo
    b[10] = hi ^ 0xFF
    b[11] = lo ^ 0xFF


@micropython.viper
def wave_sample(self, _timer):
    """See hal.real.fsm.wave_sample_py (the driver's timer callback, bound as
    ``Ad5664Fsm._next``): the octets inline, the clock's and the bus's calls through the
    runtime.  The waveform's state by a pointer into ``_ws`` (hal/real/fsm.py ``_WS_N``,
    ``_WS_I``, ``_WS_FIRST``: 0, 1, 2 here), what it writes with from ``_io`` (SYNC, the
    bus's write, the four frames, the frame buffer, the waveform's x and y: hal/real/fsm.py
    ``_IO_WX``, ``_IO_WY``, 7 and 8 here): two lookups for what took thirteen."""
    ws = ptr32(self._ws)  # type: ignore[name-defined]  # noqa: F821  (viper built-in)
    n = int(ws[0])
    i = int(ws[1])
    if i >= n - 1:
        self._timer.deinit()
        return
    if ws[2] != 0:
        ws[2] = 0
        period = int(FSM_WAVE_PERIOD_US)
        e = int(ticks_diff(self._clock_us(), self._t0)) - (period >> 1)
        if e < 0:
            return
        i += 1
        while e >= period and i < n - 1:
            i += 1
            e -= period
    else:
        i += 1
    ws[1] = i
    if i == n - 1:
        self._timer.deinit()
    io = self._io  # (its items 6, 7, 8: the frame buffer, the waveform's x and y)
    b = ptr8(io[6])  # type: ignore[name-defined]  # noqa: F821  (viper built-in)
    p = int(io[7][i]) + 32768
    hi = p >> 8
    lo = p & 0xFF
    b[1] = hi
    b[2] = lo
    b[4] = hi ^ 0xFF
    b[5] = lo ^ 0xFF
    p = int(io[8][i]) + 32768
    hi = p >> 8
    lo = p & 0xFF
    b[7] = hi
    b[8] = lo
    b[10] = hi ^ 0xFF
    b[11] = lo ^ 0xFF
    sync = io[0]
    write = io[1]
    try:
        sync(0)
        write(io[2])
        sync(1)
        sync(0)
        write(io[3])
        sync(1)
        sync(0)
        write(io[4])
        sync(1)
        sync(0)
        write(io[5])
        sync(1)
    except Exception:  # noqa: BLE001 - a callback must not raise: counted
        sync(1)
        self._wave_errors = int(self._wave_errors) + 1

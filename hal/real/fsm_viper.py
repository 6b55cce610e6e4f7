"""The AD5664 mirror driver's DAC octets as MicroPython viper code (hal/real/fsm.py).

The driver's timer writes one waveform sample a millisecond, outside every task
(docs/firmware.md §4 "The mirror's timer"); the sample's eight octets cost ~3 k
instructions as bytecode on the Cortex-M7 image, a viper call less.  Ports without a
native emitter refuse the decorator and CPython has no ``micropython`` module: the driver
then uses its plain-Python twin (``hal.real.fsm.dac_octets_py``, the same octets:
tests/mpy/test_hal_interfaces_mpy.py).  Every value stored is an octet of a code offset
into 0 .. 65535: no sign, the same on 32- and 64-bit ports.
"""

import micropython


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

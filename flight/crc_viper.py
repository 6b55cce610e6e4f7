"""CRC-16/CCITT-FALSE over a buffer range as MicroPython viper code (DESIGN §3.1).

The telemetry path computes each packet's CRC in place (flight/tm.py): as bytecode the
152-octet housekeeping packet costs ~250 k instructions on the Cortex-M7 image, half the
per-task budget.  Ports without a native emitter refuse the decorator and CPython has no
``micropython`` module: flight/crc16.py then uses its plain-Python ``crc16_range``, which
gives the same results (tests/mpy/test_budget_mpy.py).
"""

import micropython


@micropython.viper
def crc_range(buf, start: int, end: int, crc: int, th, tl) -> int:
    """See crc16.crc16_range; ``th``/``tl``: its high/low-octet tables."""
    p = ptr8(buf)  # type: ignore[name-defined]  # noqa: F821  (viper built-in)
    h = ptr8(th)  # type: ignore[name-defined]  # noqa: F821
    l = ptr8(tl)  # type: ignore[name-defined]  # noqa: F821  # noqa: E741
    hi = (crc >> 8) & 0xFF
    lo = crc & 0xFF
    i = start
    while i < end:
        j = hi ^ int(p[i])
        hi = lo ^ int(h[j])
        lo = int(l[j])
        i += 1
    return (hi << 8) | lo

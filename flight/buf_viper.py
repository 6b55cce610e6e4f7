"""Buffer kernels of the TC/TM paths as MicroPython viper code (DESIGN §3.1).

* ``crc_range``: the telemetry path computes each packet's CRC in place (flight/tm.py): as
  bytecode the 152-octet housekeeping packet costs ~250 k instructions on the Cortex-M7
  image, half the per-task budget;
* ``copy``: octets from one buffer range to another without slicing (a slice of a buffer
  is a new heap object on MicroPython): the TC deframer's accumulation (flight/cobs.py);
* ``put_ascii``: an ASCII str's octets into a buffer without a bytes object: event texts
  and names encoded in place (flight/cbor.py flat_into).

Ports without a native emitter refuse the decorator and CPython has no ``micropython``
module: the importers then use plain-Python twins (flight/crc16.crc16_range_py,
flight/cobs.copy_py, flight/cbor.put_ascii_py) with the same results (tests/mpy/test_budget_mpy.py).
"""

import micropython


@micropython.viper
def crc_range(buf, start: int, end: int, crc: int, th, tl) -> int:
    """See crc16.crc16_range; ``th``/``tl``: its high/low-octet tables."""
    p = ptr8(buf)  # type: ignore[name-defined]  # noqa: F821  (viper built-in)
    th8 = ptr8(th)  # type: ignore[name-defined]  # noqa: F821
    tl8 = ptr8(tl)  # type: ignore[name-defined]  # noqa: F821
    hi = (crc >> 8) & 0xFF
    lo = crc & 0xFF
    i = start
    while i < end:
        j = hi ^ int(p[i])
        hi = lo ^ int(th8[j])
        lo = int(tl8[j])
        i += 1
    return (hi << 8) | lo


@micropython.viper
def copy(dst, doff: int, src, soff: int, n: int):
    """dst[doff:doff+n] = src[soff:soff+n] (distinct buffers, or one with doff <= soff:
    a forward copy)."""
    d = ptr8(dst)  # type: ignore[name-defined]  # noqa: F821
    s = ptr8(src)  # type: ignore[name-defined]  # noqa: F821
    i = 0
    while i < n:
        d[doff + i] = s[soff + i]
        i += 1


@micropython.viper
def put_ascii(dst, doff: int, text, n: int) -> int:
    """dst[doff:doff+n] = the octets of the ``n``-character str ``text`` if it is ASCII:
    1, else 0 (a non-ASCII character's first octet, >= 0x80, comes within the first
    ``n``: its UTF-8 is longer than its characters, so reading ``n`` octets stays inside
    it).  Without a bytes object: the telemetry path encodes event texts in place
    (flight/cbor.py flat_into)."""
    d = ptr8(dst)  # type: ignore[name-defined]  # noqa: F821
    s = ptr8(text)  # type: ignore[name-defined]  # noqa: F821
    i = 0
    while i < n:
        c = int(s[i])
        if c >= 0x80:
            return 0
        d[doff + i] = c
        i += 1
    return 1

"""What MicroPython has and CPython lacks: ``const`` and the ``ticks_*`` family.

Flight and HAL code import these names from here, never from ``time`` or ``micropython``
directly, so the same source runs on the payload computer and on the host.  The module
sits in hal/, the lowest layer, so that hal never imports flight.

Ticks follow MicroPython's semantics exactly: values live in ``[0, TICKS_PERIOD)``,
wrap around, and must only be compared through :func:`ticks_diff` (which orders two ticks
less than ``TICKS_PERIOD // 2`` apart).  ``TICKS_PERIOD`` is the port's own.  On CPython the
tick counters can be shifted (``set_ticks_offset_us``) so tests can exercise the
wrap-around without waiting 18 minutes.
"""

import sys as _sys
import time as _time

try:
    from micropython import const  # type: ignore[import-not-found]
except ImportError:  # CPython

    def const(value):  # type: ignore[no-redef,misc]
        return value


IS_MICROPYTHON = _sys.implementation.name == "micropython"

if IS_MICROPYTHON:
    # The port decides the ticks period (TICKS_MAX + 1): 2**30 on the 32-bit ports (the
    # payload computer, the WebAssembly VM), 2**62 on the 64-bit unix port.  Ask it rather
    # than assume one: a hard-coded 2**30 wraps a VirtualClock where the port's own
    # ticks_add/ticks_diff do not (a simulated run past 2**30 µs never ended).
    TICKS_PERIOD = _time.ticks_add(0, -1) + 1  # type: ignore[attr-defined]
else:
    # CPython mirrors the 32-bit target, so host runs wrap exactly as the board does.
    TICKS_PERIOD = 1 << 30
_TICKS_MASK = TICKS_PERIOD - 1
_TICKS_HALF = TICKS_PERIOD >> 1

if IS_MICROPYTHON:
    ticks_ms = _time.ticks_ms  # type: ignore[attr-defined]
    ticks_us = _time.ticks_us  # type: ignore[attr-defined]
    ticks_add = _time.ticks_add  # type: ignore[attr-defined]
    ticks_diff = _time.ticks_diff  # type: ignore[attr-defined]

    def set_ticks_offset_us(offset_us):
        """Only meaningful on CPython; MicroPython's counters are the hardware's."""
        raise NotImplementedError("tick offset is a CPython test facility")

else:
    _offset_us = 0

    def set_ticks_offset_us(offset_us):
        """Shift the host tick counters (tests use it to sit just before a wrap)."""
        global _offset_us
        _offset_us = int(offset_us)

    _perf_ns = _time.perf_counter_ns  # type: ignore[attr-defined]

    def ticks_us():
        return (_perf_ns() // 1000 + _offset_us) & _TICKS_MASK

    def ticks_ms():
        return ((_perf_ns() // 1000 + _offset_us) // 1000) & _TICKS_MASK

    def ticks_add(ticks, delta):
        # Same contract as MicroPython: delta may be negative, result wraps.
        return (ticks + delta) & _TICKS_MASK

    def ticks_diff(ticks1, ticks2):
        # Signed difference ticks1 - ticks2, valid while |diff| < TICKS_PERIOD/2.
        return ((ticks1 - ticks2 + _TICKS_HALF) & _TICKS_MASK) - _TICKS_HALF


def cpu_us():
    """CPU time of this thread in ticks µs where the host has such a clock (CPython); on
    MicroPython (one thread, no scheduler above it) the ticks counter.  For measuring what
    code costs: a host that pre-empts the process does not add to it."""
    if _thread_ns is None:
        return ticks_us()
    return (_thread_ns() // 1000) & _TICKS_MASK


_thread_ns = getattr(_time, "thread_time_ns", None)


def sleep_us(us):
    """Sleep ``us`` microseconds (negative or zero returns at once)."""
    if us <= 0:
        return
    if IS_MICROPYTHON:
        _time.sleep_us(us)  # type: ignore[attr-defined]
    else:
        _time.sleep(us / 1000000)


def heap_size():
    """The GC heap's size in octets (0 where the port cannot tell, e.g. CPython)."""
    try:
        import gc

        return gc.mem_free() + gc.mem_alloc()  # type: ignore[attr-defined]
    except AttributeError:
        return 0

"""The MicroPython heap lock of the payload-control tests (CPython and the MicroPython
VM): :func:`locked` runs a call with the heap locked, so any allocation in it fails.

Import: ``from heaplock import locked`` in tests/mpy (its directory is on the path, in
the VM too).
"""

try:
    import micropython
except ImportError:  # CPython: nothing to lock
    micropython = None


def locked(fn, n):
    """Call ``fn()`` ``n`` times with the MicroPython heap locked: any allocation raises
    MemoryError (CPython has no heap lock: there the calls just run)."""
    if micropython is not None:
        micropython.heap_lock()
    try:
        for _ in range(n):
            fn()
    finally:
        if micropython is not None:
            micropython.heap_unlock()

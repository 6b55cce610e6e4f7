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


def task_ticks(owner, n, heap_locked=True, us=100000):
    """``n`` runs of a module's periodic task (``owner._task``, run by ``owner.tick()``),
    its start time advanced by ``us`` by hand each run; heap-locked unless told not to
    (a run that emits an event allocates)."""
    task = owner._task

    def one():
        task.last_start += us
        owner.tick()
    if heap_locked:
        locked(one, n)
    else:
        for _ in range(n):
            one()

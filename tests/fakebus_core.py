"""What every fake ``machine`` bus of the hal/real tests shares (tests/fakebus_*.py).

* :func:`byte_view` -- a flat byte view of any buffer, as MicroPython's buffer protocol
  sees it (an ``array('H')`` of n items is 2n bytes).
* :class:`Failures` -- ``fail_next``: any bus method raises the queued exceptions first
  (error paths)."""

import errno


def byte_view(buf):
    """Writable/readable flat byte view of any buffer (array, bytearray, memoryview)."""
    mv = memoryview(buf)
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return mv


class Failures:
    """Queue of exceptions the next bus operations raise (``fail_next``)."""

    def __init__(self):
        self._queue = []

    def fail_next(self, exc=None, count=1):
        """The next ``count`` bus operations raise ``exc`` (default: OSError(EIO))."""
        for _ in range(count):
            self._queue.append(exc if exc is not None else OSError(errno.EIO, "EIO"))

    def _maybe_fail(self):
        if self._queue:
            raise self._queue.pop(0)

"""Per-step-length values of a model, cached in a fixed table (MicroPython-clean).

The world steps its models with a few alternating step lengths (its 1 kHz sub-steps), and
a model's discretisation for a length is costly (exp, sin, cos), so it is cached.  The
table is fixed (``slots`` lengths, ``width`` floats each, arrays allocated with the
model, replaced round robin): the world's heap must not grow as it runs, or the target
bench, which counts what is allocated after its baseline as flight memory (issue 11),
reads the cache as the flight's heap (dicts cleared at 64 lengths swung the figure by up
to 7.7 kB, docs/firmware.md §7).
"""

from array import array


class StepCache:
    """``width`` floats per step length, for up to ``slots`` lengths."""

    def __init__(self, width, slots=8):
        self.width = width
        self.slots = slots
        self.dts = array("d", [-1.0] * slots)  # step lengths cached (s); -1: none
        self.values = array("d", [0.0] * (width * slots))
        self._next = 0  # the slot the next new length replaces

    def find(self, dt):
        """Offset in :attr:`values` of ``dt``'s floats, or -1 when not cached."""
        dts = self.dts
        for i in range(self.slots):
            if dts[i] == dt:
                return i * self.width
        return -1

    def put(self, dt):
        """Offset in :attr:`values` where ``dt``'s floats go (the oldest slot's)."""
        i = self._next
        self.dts[i] = dt
        self._next = (i + 1) % self.slots
        return i * self.width

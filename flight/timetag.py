"""Bounded queue of time-tagged commands (DESIGN §3.7 ``TIMETAG``).

Entries are kept sorted by execution time; equal times keep their arrival order.
"""


class TimeTagQueue:
    def __init__(self, capacity=16):
        self.capacity = capacity
        self._q = []  # [time_s, cmd, args, (apid, seq)]
        self.executed = 0

    def __len__(self):
        return len(self._q)

    def full(self):
        return len(self._q) >= self.capacity

    def push(self, t, cmd, args, tc):
        if self.full():
            raise OverflowError("time-tag queue full")
        i = len(self._q)
        while i > 0 and self._q[i - 1][0] > t:
            i -= 1
        self._q.insert(i, (t, cmd, args, tc))

    def pop_due(self, now):
        """The earliest entry due at ``now``, or None."""
        if self._q and self._q[0][0] <= now:
            self.executed += 1
            return self._q.pop(0)
        return None

    def clear(self):
        n = len(self._q)
        self._q = []
        return n

    def snapshot(self):
        return [(e[0], e[1].name, dict(e[2]), e[3]) for e in self._q]

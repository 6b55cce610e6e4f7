"""The commands by opcode and by name, read like dicts: flight.cmddict's ``BY_OPCODE`` and
``BY_NAME`` (its ``__getattr__`` loads this module on first use).

The ground tools, the simulator and the tests look commands up there; flight itself
only by opcode (:meth:`flight.cmddict.Dispatcher.lookup`, a search of the table), so
frozen in the firmware this class is not held on the heap (issue 11).
"""

class ByKey:
    """The commands by opcode or by name (``key``: the record position of either), read
    like a dict (``get``, ``[k]``, ``in``, iteration, ``items``) and searched in place: no
    index dicts kept in RAM (issue 11).  Values are ``view(record)`` (flight.cmddict's
    namedtuple views, handed in: this module imports nothing of flight.cmddict)."""

    def __init__(self, commands, key, view):
        self._commands = commands
        self._key = key
        self._view = view

    def find(self, k):
        """The record (not a view) with key ``k``, or None."""
        key = self._key
        for c in self._commands:
            if c[key] == k:
                return c
        return None

    def get(self, k, default=None):
        c = self.find(k)
        return default if c is None else self._view(c)

    def __getitem__(self, k):
        c = self.find(k)
        if c is None:
            raise KeyError(k)
        return self._view(c)

    def __contains__(self, k):
        return self.find(k) is not None

    def __iter__(self):
        for c in self._commands:
            yield c[self._key]

    def __len__(self):
        return len(self._commands)

    def keys(self):
        return list(self)

    def values(self):
        return [self._view(c) for c in self._commands]

    def items(self):
        return [(c[self._key], self._view(c)) for c in self._commands]

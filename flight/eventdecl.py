"""Event declarations (DESIGN §3.7): severities, the ``Event`` record, the table by id.

A module declares its events as module-level data beside ``EV_X = const(0x..)``::

    EVENTS = (Event(EV_X, "X", SEV_WARN, "what happened", (("count", "int"),)), ...)

flight/events.py (the log) re-exports these names, so declaring modules import
``flight.events.Event`` as they always have.
"""

from collections import namedtuple

from hal.compat import IS_MICROPYTHON, const

SEV_INFO = const(0)
SEV_WARN = const(1)
SEV_ERROR = const(2)
SEV_CRITICAL = const(3)
SEVERITY_NAMES = ("INFO", "WARN", "ERROR", "CRITICAL")
_N_IDS = const(256)  # event ids are one octet (one range of 16 per owner)


# An event declaration is a record ``(id, name, severity, text, args)``, read by position
# (E_*): in the firmware the declaration blocks are constant tuples in flash
# (tools/freeze_decl.py: no heap, where ~90 namedtuples cost ~3.3 KiB, issue 11), and on
# MicroPython :func:`Event` returns the same plain tuple; on CPython a namedtuple (the
# ground tools and tests read ``e.name``).
E_ID = const(0)
E_NAME = const(1)
E_SEVERITY = const(2)
E_TEXT = const(3)
E_ARGS = const(4)
_Event = None if IS_MICROPYTHON else namedtuple(  # type: ignore[name-match]
    "Event", ("id", "name", "severity", "text", "args"))


def Event(ev_id, name, severity, text, args=()):
    """One event declaration (module-level data in the module that owns the event): a
    record ``(id, name, severity, text, args)`` (E_* positions).

    ``severity`` is one of SEV_*; ``text`` says what happened (the ground shows it with
    the instance's detail text); ``args`` names and types the values an instance carries:
    ``(("boot_count", "int"), ...)`` with types ``int``, ``float``, ``str``, ``bool``.
    """
    if severity < SEV_INFO or severity > SEV_CRITICAL:
        raise ValueError("event %s: bad severity" % name)
    if _Event is None:
        return (ev_id, name, severity, text, args)
    return _Event(ev_id, name, severity, text, args)  # type: ignore[call-arg]


def event_map(e, owner):
    """The exported dictionary's entry of one declaration."""
    return {"id": e[E_ID], "name": e[E_NAME], "severity": SEVERITY_NAMES[e[E_SEVERITY]],
            "owner": owner, "text": e[E_TEXT],
            "args": [{"name": a[0], "type": a[1]} for a in e[E_ARGS]]}


class Table:
    """The declared events by id, read in place: the owners' ``EVENTS`` tuples (constants
    in flash in the firmware) and one octet per id naming the tuple that holds it (272 B
    of heap, where a {id: Event} dict of ~90 entries cost ~0.8 KiB, issue 11).  An emit
    looks its severity up: one index, then a scan of that owner's few events (~3 k
    instructions on the Cortex-M7 image, the dict ~0.6 k, a scan of all ~37 k)."""

    def __init__(self, declarations):
        self._decls = tuple(evs for _owner, evs in declarations)
        self._owner_of = bytearray(_N_IDS)  # id -> 1 + index in _decls (0: undeclared)
        seen = {}  # type: dict  # (boot only: garbage once checked)
        for k in range(len(self._decls)):
            for e in self._decls[k]:
                i = e[E_ID]
                if i in seen:
                    raise ValueError("event id 0x%02x: %s and %s" % (i, seen[i], e[E_NAME]))
                if not 0 <= i < _N_IDS or k >= 255:
                    raise ValueError("event id 0x%02x: ids are one octet" % i)
                seen[i] = e[E_NAME]
                self._owner_of[i] = k + 1

    def get(self, ev_id, default=None):
        if not 0 <= ev_id < _N_IDS:
            return default
        k = self._owner_of[ev_id]
        if k:
            for e in self._decls[k - 1]:
                if e[E_ID] == ev_id:
                    return e
        return default

    def __getitem__(self, ev_id):
        e = self.get(ev_id)
        if e is None:
            raise KeyError(ev_id)
        return e

    def __contains__(self, ev_id):
        return self.get(ev_id) is not None

    def __iter__(self):
        for evs in self._decls:
            for e in evs:
                yield e[E_ID]

    def __len__(self):
        n = 0
        for evs in self._decls:
            n += len(evs)
        return n

    def values(self):
        return [e for evs in self._decls for e in evs]

    def items(self):
        return [(e[E_ID], e) for evs in self._decls for e in evs]


def table(declarations):
    """The declared events (:class:`Table`: ``get(id)``, ``[id]``, ``in``) from
    ``[(owner, EVENTS), ...]``; ValueError on an id used twice."""
    return Table(declarations)

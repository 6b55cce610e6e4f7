"""Events: severity, id, text, arguments, time (DESIGN §3.7).

Two stores:

* a bounded RAM ring, the queue of events still to be sent as TM (APID 0x0A2); when it
  is full the oldest unsent event is dropped and ``dropped`` counts it;
* a persistent, bounded log on storage (``WARN`` and above), written from the
  housekeeping task (never inside the hot path), which survives a reboot and is read
  back by ``EVENT_LOG_DUMP``.  It lives in two blobs used alternately: when the active
  one is full the other is overwritten, so the log keeps between ``persist_capacity/2``
  and ``persist_capacity`` newest entries.

Events are declared as module-level data in the module that owns them
(``EVENTS = (Event(...), ...)`` beside ``EV_X = const(0x..)``; one id range per owner:
0x0_ app, 0x1_ scheduler, 0x2_ tc/keys/time-tags, 0x3_ storage/params, 0x4_ modes/FDIR/
tm, 0x5_ apt, 0x6_ bias, 0x7_ comparator, 0x8_ framer); flight/components.py lists the
declaring modules and the app builds the log's table from them (:func:`table`).
"""

from flight import cbor
from hal.compat import const

SEV_INFO = const(0)
SEV_WARN = const(1)
SEV_ERROR = const(2)
SEV_CRITICAL = const(3)
SEVERITY_NAMES = ("INFO", "WARN", "ERROR", "CRITICAL")

# Keys of an event TM map (APID 0x0A2) and of a persistent-log dump entry ("n": running
# number across reboots, "dump": true).  "text" is the instance's detail, or the
# declared text when it has none.
TM_KEYS = ("seq", "time", "severity", "id", "name", "text", "args", "n", "dump")


class Event:
    """One event declaration (module-level data in the module that owns the event).

    ``severity`` is one of SEV_*; ``text`` says what happened (the ground shows it with
    the instance's detail text); ``args`` names and types the values an instance carries:
    ``(("boot_count", "int"), ...)`` with types ``int``, ``float``, ``str``, ``bool``.
    """

    def __init__(self, ev_id, name, severity, text, args=()):
        if severity < SEV_INFO or severity > SEV_CRITICAL:
            raise ValueError("event %s: bad severity" % name)
        self.id = ev_id
        self.name = name
        self.severity = severity
        self.text = text
        self.args = args

    def to_map(self, owner):
        return {"id": self.id, "name": self.name, "severity": SEVERITY_NAMES[self.severity],
                "owner": owner, "text": self.text,
                "args": [{"name": a[0], "type": a[1]} for a in self.args]}


def table(declarations):
    """{id: Event} from ``[(owner, EVENTS), ...]``; ValueError on an id used twice."""
    out = {}  # type: dict
    for _owner, evs in declarations:
        for e in evs:
            if e.id in out:
                raise ValueError("event id 0x%02x: %s and %s" % (e.id, out[e.id].name, e.name))
            out[e.id] = e
    return out


class EventLog:
    def __init__(self, time_fn, capacity=64, storage=None, persist_capacity=128,
                 persist_name="evlog", persist_min_sev=SEV_WARN, decl=None):
        if capacity < 1 or persist_capacity < 2:
            raise ValueError("capacity")
        self.time_fn = time_fn
        self.decl = decl if decl is not None else {}  # {id: Event}: see table()
        self.undeclared = 0  # emits of an id nobody declared (a bug: tests keep it 0)
        self.capacity = capacity
        self._ring = [None] * capacity  # type: list
        self._head = 0  # index of the oldest unsent entry
        self._count = 0
        self.seq = 0  # events ever emitted (this boot)
        self.dropped = 0
        self.storage = storage
        self.persist_capacity = persist_capacity
        self.persist_name = persist_name
        self.persist_min_sev = persist_min_sev
        self._unpersisted = []
        self.persist_errors = 0
        self.persist_dropped = 0
        self.counts = [0, 0, 0, 0]  # per severity
        self._active = 0
        self._active_entries = []
        self._boot_base = 0
        if storage is not None:
            self._load_persistent()

    # ------------------------------------------------------------------------ emit
    def emit(self, ev_id, args=None, detail=""):
        """Queue one event; its severity comes from its declaration.  ``args``: the
        declared argument values (list), ``detail``: instance text (what, where)."""
        d = self.decl.get(ev_id)
        if d is None:
            self.undeclared += 1
            return self.emit_sev(SEV_ERROR, ev_id, args, detail)
        return self.emit_sev(d.severity, ev_id, args, detail)

    def emit_sev(self, sev, ev_id, args=None, text=""):
        """Queue one event with an explicit severity (emit() looks it up)."""
        if sev < SEV_INFO or sev > SEV_CRITICAL:
            sev = SEV_CRITICAL
        self.seq += 1
        self.counts[sev] += 1
        entry = (self.seq, self.time_fn(), sev, ev_id, text, args)
        if self._count == self.capacity:
            self._head = (self._head + 1) % self.capacity
            self._count -= 1
            self.dropped += 1
        self._ring[(self._head + self._count) % self.capacity] = entry
        self._count += 1
        if self.storage is not None and sev >= self.persist_min_sev:
            if len(self._unpersisted) < self.persist_capacity:
                self._unpersisted.append(entry)
            else:  # flash unreachable for a long time: bounded, counted
                self.persist_dropped += 1
        return entry

    def pending(self):
        return self._count

    def pop(self):
        """The oldest unsent event, or None."""
        if self._count == 0:
            return None
        e = self._ring[self._head]
        self._ring[self._head] = None
        self._head = (self._head + 1) % self.capacity
        self._count -= 1
        return e

    def name(self, ev_id):
        d = self.decl.get(ev_id)
        return d.name if d is not None else "EV_%02X" % ev_id

    def text(self, ev_id, detail):
        """The instance's detail, or the declared text when there is none."""
        if detail:
            return detail
        d = self.decl.get(ev_id)
        return d.text if d is not None else ""

    def to_map(self, entry):
        """The CBOR map of an event TM packet (APID 0x0A2; keys in :data:`TM_KEYS`)."""
        seq, t, sev, ev_id, text, args = entry
        return {
            "seq": seq,
            "time": t,
            "severity": SEVERITY_NAMES[sev],
            "id": ev_id,
            "name": self.name(ev_id),
            "text": self.text(ev_id, text),
            "args": args if args is not None else [],
        }

    # ------------------------------------------------------------------ persistence
    def _blob(self, i):
        return "%s%d" % (self.persist_name, i)

    def _read_blob(self, i):
        """The well-formed records of blob ``i`` (a torn or corrupt blob gives fewer)."""
        raw = self.storage.read(self._blob(i))
        if raw is None:
            return []
        try:
            rec = cbor.decode(raw)
        except ValueError:
            return []
        if not isinstance(rec, list):
            return []
        out = []
        for r in rec:
            # Flash may hold anything (bit rot, an older format): keep only records of
            # the expected shape, so a bad blob costs its entries, never the boot.
            if isinstance(r, list) and len(r) == 6 and _is_int(r[0]) and _is_int(r[2]) \
                    and 0 <= r[2] <= SEV_CRITICAL and _is_int(r[3]):
                out.append(r)
        return out

    def _load_persistent(self):
        try:
            a = self._read_blob(0)
            b = self._read_blob(1)
        except Exception:
            self.persist_errors += 1
            return
        # The active blob is the one holding the newest entry (highest running number).
        na = _newest(a)
        nb = _newest(b)
        self._active = 1 if nb > na else 0
        self._active_entries = b if self._active else a
        self._boot_base = (nb if nb > na else na) + 1

    def _record(self, e):
        return [self._boot_base + e[0], e[1], e[2], e[3], e[4], e[5] if e[5] is not None else []]

    def persistent_log(self):
        """Entries of the persistent log, oldest first, as maps (dump / TM).

        Includes the entries still waiting for the next :meth:`flush`, so a dump right
        after an event shows it.
        """
        out = []
        try:
            lists = [self._read_blob(1 - self._active), self._read_blob(self._active)]
        except Exception:
            self.persist_errors += 1
            lists = []
        lists.append([self._record(e) for e in self._unpersisted])
        for lst in lists:
            for rec in lst:
                out.append({"n": rec[0], "time": rec[1], "severity": SEVERITY_NAMES[rec[2]],
                            "id": rec[3], "name": self.name(rec[3]),
                            "text": self.text(rec[3], rec[4]), "args": rec[5]})
        return out

    def flush(self):
        """Write events waiting for the persistent log (called from a slow task).

        The new state is committed only once every write succeeded: a failed or torn
        write leaves the entries pending for the next flush, never duplicated.
        """
        if self.storage is None or not self._unpersisted:
            return 0
        half = self.persist_capacity // 2
        active = self._active
        entries = list(self._active_entries)
        try:
            for e in self._unpersisted:
                if len(entries) >= half:
                    # Close the full blob, then start overwriting the other (oldest) one.
                    self.storage.write(self._blob(active), cbor.encode(entries))
                    active = 1 - active
                    entries = []
                entries.append(self._record(e))
            self.storage.write(self._blob(active), cbor.encode(entries))
        except Exception:
            self.persist_errors += 1
            return 0
        self._active = active
        self._active_entries = entries
        written = len(self._unpersisted)
        self._unpersisted = []
        return written


def _is_int(v):
    # bool is not an int on MicroPython but is one on CPython: exclude it on both.
    return isinstance(v, int) and v is not True and v is not False


def _newest(lst):
    n = -1
    for r in lst:
        if r[0] > n:
            n = r[0]
    return n

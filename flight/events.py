"""Events: severity, id, text, arguments, time (DESIGN §3.7).

Two stores:

* a bounded RAM ring, the queue of events still to be sent as TM (APID 0x0A2); when it
  is full the oldest unsent event is dropped and ``dropped`` counts it;
* a persistent, bounded log on storage (``WARN`` and above), written from the
  housekeeping task (never inside the hot path), which survives a reboot and is read
  back by ``EVENT_LOG_DUMP``.  It lives in three blobs, two halves in use: when the active
  one is full the oldest is overwritten, so the log keeps between ``persist_capacity/2``
  and ``persist_capacity`` newest entries.  Each entry is framed on its own (magic,
  length, CBOR record, CRC-16) and a flush writes the active half's new copy into a
  third blob, never over the blob holding its present copy or the closed half: a torn
  write loses at most the entries it was adding, a bit flip the one entry it hits (the
  reader resynchronises on the next frame and merges the blobs by running number); what
  was unreadable at load is in ``damaged`` (the app reports it: STORE_FALLBACK).

Events are declared as module-level data in the module that owns them
(``EVENTS = (Event(...), ...)`` beside ``EV_X = const(0x..)``; one id range per owner:
0x0_ app, 0x1_ scheduler, 0x2_ tc/keys/time-tags, 0x3_ storage/params, 0x4_ modes/FDIR/
tm, 0x5_ apt, 0x6_ bias, 0x7_ comparator, 0x8_ framer, 0x9_ what full ranges cannot
take: the knee's reuse 0x90, the APT's frame phase 0x91, the thermal sensors'
plausibility edges 0x92/0x93, the bias supply's cut 0x94); flight/components.py lists
the declaring modules and the app builds the log's table from them (:func:`table`, in
flight/eventdecl.py with the :func:`Event` record).
"""

from flight import cbor, lazy
from flight.crc16 import crc16
# The declarations (severities, the Event record, the table) live in flight/eventdecl.py;
# modules declare with ``flight.events.Event`` as before.
from flight.eventdecl import (E_NAME, E_SEVERITY, E_TEXT, SEV_CRITICAL, SEV_ERROR,  # noqa: F401
                              SEV_INFO, SEV_WARN, SEVERITY_NAMES, Event, event_map, table)
from hal.compat import const

DEFER_SLOTS = const(8)  # events held without allocating while the heap is exhausted
_DEFER_FIELDS = const(5)  # a deferred event in _deferred: seq, severity, id, text, args

# Keys of an event TM map (APID 0x0A2) and of a persistent-log dump entry ("n": running
# number across reboots, "dump": true).  "text" is the instance's detail, or the
# declared text when it has none.
TM_KEYS = ("seq", "time", "severity", "id", "name", "text", "args", "n", "dump")

# One persistent-log entry on flash: magic | length u16 | CBOR record | CRC-16 (of all
# before it).  The magic lets the reader find the next entry after a damaged one.
FRAME_MAGIC = const(0xE5)
FRAME_OVERHEAD = const(5)
# The reading side (boot, EVENT_LOG_DUMP), loaded on use (issue 11).
_EVLOG_READER = "flight.evlog_read"
# Three blobs: the closed half, the active half, and the one a flush writes (the active
# half's next copy), so no write ever overwrites an entry that is stored only there.
N_BLOBS = const(3)


class EventLog:
    def __init__(self, time_fn, capacity=64, storage=None, persist_capacity=128,
                 persist_name="evlog", persist_min_sev=SEV_WARN, decl=None):
        if capacity < 1 or persist_capacity < 2:
            raise ValueError("capacity")
        self.time_fn = time_fn
        self.decl = decl if decl is not None else {}  # id -> Event: see table()
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
        self._active = -1  # blob with the present copy of the active (newest) half
        self._closed = -1  # blob with the closed (older) half
        self._newest_n = [-1] * N_BLOBS  # newest running number per blob
        # The active half: the running number of its newest entry.  Its framed octets
        # stay on flash: a flush reads the copy back and appends (:meth:`_present`),
        # where holding them took up to half the log (~3 kB at 128) of live heap,
        # growing with the event history (stop 39).
        self._active_n = -1
        self.persist_salvaged = 0  # present copies read back damaged: their frames kept
        self._boot_base = 0
        self.damaged = ""  # what the load could not read (torn write, bit flip), or ""
        # Events emitted while the heap is exhausted (a MemoryError building the entry):
        # kept in these preallocated slots without allocating and queued as ordinary
        # events at the next pop() (their time is then the time they were queued);
        # ``deferred`` counts them and ``released`` those queued since the owner last
        # reported them (the app: an event of its own, EVENTS_DEFERRED).
        # (one flat list, _DEFER_FIELDS a slot: five lists cost ~0.1 kB more, issue 11)
        self._deferred = [None] * (_DEFER_FIELDS * DEFER_SLOTS)  # type: list
        self._d_n = 0
        self.deferred = 0
        self.released = 0
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
        return self.emit_sev(d[E_SEVERITY], ev_id, args, detail)

    def emit_sev(self, sev, ev_id, args=None, text=""):
        """Queue one event with an explicit severity (emit() looks it up)."""
        if sev < SEV_INFO or sev > SEV_CRITICAL:
            sev = SEV_CRITICAL
        self.seq += 1
        self.counts[sev] += 1
        try:
            entry = (self.seq, self.time_fn(), sev, ev_id, text, args)
        except MemoryError:  # heap exhausted: queue it without allocating
            self._defer(self.seq, sev, ev_id, text, args)
            return None
        self._store(entry, sev)
        return entry

    def _defer(self, seq, sev, ev_id, text, args):
        k = self._d_n
        self.deferred += 1
        if k >= DEFER_SLOTS:
            self.dropped += 1
            return
        d = self._deferred
        o = k * _DEFER_FIELDS
        d[o] = seq
        d[o + 1] = sev
        d[o + 2] = ev_id
        d[o + 3] = text
        d[o + 4] = args
        self._d_n = k + 1

    def _release_deferred(self):
        """Queue the deferred events (when the heap has room again), then their report."""
        n = self._d_n
        d = self._deferred
        try:
            t = self.time_fn()
            entries = [(d[o], t, d[o + 1], d[o + 2], d[o + 3], d[o + 4])
                       for o in range(0, n * _DEFER_FIELDS, _DEFER_FIELDS)]
        except MemoryError:
            return  # still no room: they wait
        self._d_n = 0
        for k in range(n * _DEFER_FIELDS):
            d[k] = None  # (what the slots held is not kept alive)
        for k in range(n):
            self._store(entries[k], entries[k][2])
        self.released += n

    def _store(self, entry, sev):
        if self._count == self.capacity:
            self._head = (self._head + 1) % self.capacity
            self._count -= 1
            self.dropped += 1
        self._ring[(self._head + self._count) % self.capacity] = entry
        self._count += 1
        if self.storage is not None and sev >= self.persist_min_sev:
            if len(self._unpersisted) < self.persist_capacity:
                try:
                    self._unpersisted.append(entry)
                except MemoryError:  # the list could not grow: counted as a loss
                    self.persist_dropped += 1
            else:  # flash unreachable for a long time: bounded, counted
                self.persist_dropped += 1

    def pending(self):
        return self._count + self._d_n

    def pop(self):
        """The oldest unsent event, or None."""
        if self._d_n:
            self._release_deferred()
        if self._count == 0:
            return None
        e = self._ring[self._head]
        self._ring[self._head] = None
        self._head = (self._head + 1) % self.capacity
        self._count -= 1
        return e

    def name(self, ev_id):
        d = self.decl.get(ev_id)
        return d[E_NAME] if d is not None else "EV_%02X" % ev_id

    def text(self, ev_id, detail):
        """The instance's detail, or the declared text when there is none."""
        if detail:
            return detail
        d = self.decl.get(ev_id)
        return d[E_TEXT] if d is not None else ""

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

    def _load_persistent(self):
        # (the reading side is loaded for it and released: flight/evlog_read.py)
        try:
            lazy.load(_EVLOG_READER).load(self)
        except lazy.LoadFailed:  # no heap at boot: counted there; the log starts empty
            self.persist_errors += 1
            self.damaged = "event log unread: no heap for its reader"
        finally:
            lazy.done(_EVLOG_READER)

    def persistent_log(self):
        """Entries of the persistent log, oldest first, as maps (dump / TM).

        Includes the entries still waiting for the next :meth:`flush`, so a dump right
        after an event shows it (flight/evlog_read.py, loaded for it: LoadFailed when
        the heap has no room for it).
        """
        try:
            return lazy.load(_EVLOG_READER).persistent_log(self)
        finally:
            lazy.done(_EVLOG_READER)

    def _record(self, e):
        return [self._boot_base + e[0], e[1], e[2], e[3], e[4], e[5] if e[5] is not None else []]

    def _spare(self, closed, active):
        """The blob a write may overwrite: neither the closed half nor the present copy
        of the active half (so a torn write loses nothing already persisted) — of the
        two others, the one with the oldest entries."""
        best = -1
        for i in range(N_BLOBS):
            if i != closed and i != active and (
                    best < 0 or self._newest_n[i] < self._newest_n[best]):
                best = i
        return best

    def flush(self):
        """Write events waiting for the persistent log (called from a slow task).

        The new state is committed only once every write succeeded: a failed or torn
        write leaves the entries pending for the next flush, never duplicated, and never
        touches a blob holding persisted entries (see :meth:`_spare`).  The active
        half's present copy is read back from flash and extended (a read error: pending,
        as a failed write; a copy damaged since: its frames that stand, :meth:`_present`).
        """
        if self.storage is None or not self._unpersisted:
            return 0
        half = self.persist_capacity // 2
        closed = self._closed
        active = self._active
        newest = list(self._newest_n)
        last = self._active_n
        try:
            frames, count = self._present(active)
            for e in self._unpersisted:
                if count >= half:
                    # The active half is complete: written whole, it becomes the closed
                    # half, and a new active half starts on the oldest blob.
                    if active < 0 or newest[active] != last:
                        active = self._write(closed, active, frames, last, newest)
                    closed = active
                    active = -1
                    frames = []
                    count = 0
                rec = self._record(e)
                frames.append(_frame(rec))
                count += 1
                last = rec[0]
            active = self._write(closed, active, frames, last, newest)
        except Exception:
            self.persist_errors += 1
            return 0
        self._closed = closed
        self._active = active
        self._newest_n = newest
        self._active_n = last
        written = len(self._unpersisted)
        self._unpersisted = []
        return written

    def _present(self, active):
        """The active half's present copy as stored: (its octets as a list of parts,
        its entries; ([], 0) when there is none).  Each frame is taken on its magic and
        length when the next one starts right after it (~10 bytecodes an entry, where
        a CRC is ~250 instructions an octet on the Cortex-M7), else on its CRC; octets
        that are neither (flash damaged since, or at boot) are skipped as the reader
        does, the frames that stand kept, and the copy counted in ``persist_salvaged``:
        a bit flip costs the one entry it hits, as on any blob (module doc)."""
        if active < 0:
            return [], 0
        raw = self.storage.read(self._blob(active))  # (an error: the caller counts it)
        if not raw:
            return [], 0
        k = _frames(raw, None)
        if k >= 0:
            return [raw], k
        self.persist_salvaged += 1
        parts = []  # type: list
        _frames(raw, parts)
        return parts, len(parts)

    def _write(self, closed, active, frames, last, newest):
        t = self._spare(closed, active)
        newest[t] = -1  # its old content is going (even if the write is torn)
        self._newest_n[t] = -1
        self.storage.write(self._blob(t), b"".join(frames))
        newest[t] = last
        return t


def _frames(raw, keep, crc=False):
    """The entries of ``raw`` (a blob's octets) framed end to end: their count, or -1
    at the first octet that is not a frame's start.  With ``keep`` (a list) the walk
    goes on past such octets, resynchronised on the magic, and appends each frame that
    stands (bytes).  A frame stands on its magic and length when the next frame (or the
    blob's end) follows it, else on its CRC; with ``crc`` on its CRC always (the reader,
    flight/evlog_read.py, which keeps only what it can vouch for)."""
    mv = memoryview(raw)
    n = len(raw)
    pos = 0
    k = 0
    while pos < n:
        end = -1
        if raw[pos] == FRAME_MAGIC and pos + FRAME_OVERHEAD <= n:
            end = pos + FRAME_OVERHEAD + ((raw[pos + 1] << 8) | raw[pos + 2])
            if end > n or ((crc or (end < n and raw[end] != FRAME_MAGIC))
                           and crc16(mv[pos:end - 2]) != (raw[end - 2] << 8) | raw[end - 1]):
                end = -1
        if end < 0:
            if keep is None:
                return -1
            pos += 1
            continue
        if keep is not None:
            keep.append(bytes(mv[pos:end]))
        k += 1
        pos = end
    return k


def _frame(r):
    """One entry framed on its own: magic | length | CBOR record | CRC-16 (a blob is its
    entries' frames, oldest first, so a write torn at any octet leaves every older entry
    whole)."""
    body = cbor.encode(r)
    ln = len(body)
    out = bytearray(ln + FRAME_OVERHEAD)
    out[0] = FRAME_MAGIC
    out[1] = ln >> 8
    out[2] = ln & 0xFF
    out[3:3 + ln] = body
    c = crc16(memoryview(out)[:3 + ln])
    out[3 + ln] = c >> 8
    out[4 + ln] = c & 0xFF
    return bytes(out)

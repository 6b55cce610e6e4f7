"""Events: severity, id, text, arguments, time (DESIGN §3.7).

Two stores:

* a bounded RAM ring, the queue of events still to be sent as TM (APID 0x0A2); when it
  is full the oldest unsent event is dropped and ``dropped`` counts it;
* a persistent, bounded log on storage (``WARN`` and above), written from the
  housekeeping task (never inside the hot path), which survives a reboot and is read
  back by ``EVENT_LOG_DUMP``.  It lives in two blobs used alternately: when the active
  one is full the other is overwritten, so the log keeps between ``persist_capacity/2``
  and ``persist_capacity`` newest entries.
"""

from flight import cbor
from hal.compat import const

SEV_INFO = const(0)
SEV_WARN = const(1)
SEV_ERROR = const(2)
SEV_CRITICAL = const(3)
SEVERITY_NAMES = ("INFO", "WARN", "ERROR", "CRITICAL")

# Event ids.  0x0_: application; 0x1_: scheduler; 0x2_: telecommand; 0x3_: storage and
# parameters; 0x4_: modes and FDIR; 0x5_ and up: payload control (APT, bias, comparator,
# framer), added by their modules.
EVENT_NAMES = {
    0x01: "BOOT",
    0x02: "REBOOT_REQUESTED",
    0x03: "TIME_SET",
    0x10: "TASK_FAULT",
    0x11: "TASK_DISABLED",
    0x12: "TASK_OVERRUN",
    0x13: "DEADLINE_MISS",
    0x20: "TC_REJECTED_AUTH",
    0x21: "KEY_ROTATED",
    0x22: "DEV_KEY_IN_USE",
    0x23: "TIMETAG_EXECUTED",
    0x24: "TIMETAG_DROPPED",
    0x30: "PARAMS_DEFAULTS",
    0x31: "PARAMS_CORRUPT",
    0x32: "PARAMS_SAVED",
    0x33: "PARAM_INVALID",
    0x34: "STORAGE_ERROR",
    0x35: "REPLAY_STATE_CORRUPT",
    0x40: "MODE_CHANGE",
    0x41: "LIMIT_VIOLATION",
    0x42: "SAFE_ENTERED",
    0x43: "POWER_SWITCH_FAULT",
    0x44: "TM_OVERFLOW",
    0x45: "WATCHDOG_WITHHELD",
}

EV_BOOT = const(0x01)
EV_REBOOT_REQUESTED = const(0x02)
EV_TIME_SET = const(0x03)
EV_TC_REJECTED_AUTH = const(0x20)
EV_KEY_ROTATED = const(0x21)
EV_DEV_KEY_IN_USE = const(0x22)
EV_TIMETAG_EXECUTED = const(0x23)
EV_TIMETAG_DROPPED = const(0x24)
EV_PARAMS_DEFAULTS = const(0x30)
EV_PARAMS_CORRUPT = const(0x31)
EV_PARAMS_SAVED = const(0x32)
EV_PARAM_INVALID = const(0x33)
EV_STORAGE_ERROR = const(0x34)
EV_REPLAY_STATE_CORRUPT = const(0x35)
EV_MODE_CHANGE = const(0x40)
EV_LIMIT_VIOLATION = const(0x41)
EV_SAFE_ENTERED = const(0x42)
EV_POWER_SWITCH_FAULT = const(0x43)
EV_TM_OVERFLOW = const(0x44)


def register(ev_id, name):
    """Control modules add their event names here (one table for the ground dictionary)."""
    if ev_id in EVENT_NAMES and EVENT_NAMES[ev_id] != name:
        raise ValueError("event id 0x%02x already used by %s" % (ev_id, EVENT_NAMES[ev_id]))
    EVENT_NAMES[ev_id] = name


class EventLog:
    def __init__(self, time_fn, capacity=64, storage=None, persist_capacity=128,
                 persist_name="evlog", persist_min_sev=SEV_WARN):
        if capacity < 1 or persist_capacity < 2:
            raise ValueError("capacity")
        self.time_fn = time_fn
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
    def emit(self, sev, ev_id, text="", args=None):
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

    @staticmethod
    def to_map(entry):
        seq, t, sev, ev_id, text, args = entry
        return {
            "seq": seq,
            "time": t,
            "severity": SEVERITY_NAMES[sev],
            "id": ev_id,
            "name": EVENT_NAMES.get(ev_id, "EV_%02X" % ev_id),
            "text": text,
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
                            "id": rec[3], "name": EVENT_NAMES.get(rec[3], "EV_%02X" % rec[3]),
                            "text": rec[4], "args": rec[5]})
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

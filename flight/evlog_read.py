"""Reading the persistent event log (flight/events.py ``EventLog``): its load at boot and
``EVENT_LOG_DUMP``'s read-back.  Loaded for those and released after (flight/lazy.py):
flight keeps only the writing side resident (issue 11).  The format and the recovery
rules are described in flight/events.py.
"""

from flight import cbor
from flight.eventdecl import SEV_CRITICAL, SEVERITY_NAMES
from flight.events import N_BLOBS, _frames


def read_blob(log, i, damage=None):
    """The well-formed records of blob ``i`` (a torn or corrupt blob gives fewer);
    ``damage`` (a list) receives the octets that were not a good entry."""
    raw = log.storage.read(log._blob(i))
    if not raw:
        return []
    if 0x80 <= raw[0] <= 0x9F:  # a CBOR list: the format before framed entries
        old = _old_blob(raw)
        if old is not None:
            return old
    frames = []  # type: list
    _frames(raw, frames, True)  # every frame whose CRC holds, resynchronised past damage
    lost = len(raw)
    out = []
    for f in frames:
        try:
            r = cbor.decode(f[3:-2])
        except ValueError:
            r = None
        if _good(r):
            out.append(r)
            lost -= len(f)
    if lost and damage is not None:
        damage.append("%s: %d octets unreadable" % (log._blob(i), lost))
    return out


def read_all(log, damage=None):
    """[(blob records)] of every blob (a read error propagates).  The CBOR decoder is
    released after (flight/cbor.py ``done``: it is loaded for the reading)."""
    try:
        return [read_blob(log, i, damage) for i in range(N_BLOBS)]
    finally:
        cbor.done()


def merged(log, lists):
    """The entries of all blobs, each once (by running number), oldest first, the
    newest ``persist_capacity`` of them."""
    seen = {}
    for lst in lists:
        for r in lst:
            seen[r[0]] = r
    out = [seen[n] for n in sorted(seen)]
    return out[-log.persist_capacity:]


def load(log):
    """EventLog ``log``'s state from its blobs (at its construction)."""
    damage = []  # type: list
    try:
        lists = read_all(log, damage)
    except Exception as e:
        log.persist_errors += 1
        log.damaged = "event log unreadable: %r" % (e,)
        return
    log.damaged = ", ".join(damage)
    newest = [_newest(lst) for lst in lists]
    # The active half: the blob holding the newest entry; the closed half: the
    # newest blob entirely older than the active one (a torn copy of the active half
    # overlaps it and is neither).
    act = 0
    for i in range(N_BLOBS):
        if newest[i] > newest[act]:
            act = i
    if newest[act] < 0:
        return
    first = lists[act][0][0]
    for r in lists[act]:
        if r[0] < first:
            first = r[0]
    closed = -1
    for i in range(N_BLOBS):
        if i != act and 0 <= newest[i] < first and (closed < 0 or newest[i] > newest[closed]):
            closed = i
    log._active = act
    log._closed = closed
    log._active_n = lists[act][-1][0]
    if _old_format(log, act):
        # The format before framed entries: it stays as it is, as the closed half, and
        # the next flush starts a new active half (a flush extends the stored copy's
        # frames: events.py ``_present``).
        log._closed = act
        log._active = -1
    log._newest_n = newest
    log._boot_base = newest[act] + 1


def persistent_log(log):
    """Entries of the persistent log, oldest first, as maps (dump / TM).

    Includes the entries still waiting for the next :meth:`flush`, so a dump right
    after an event shows it.
    """
    try:
        recs = merged(log, read_all(log))
    except Exception:
        log.persist_errors += 1
        recs = []
    out = []
    for rec in recs + [log._record(e) for e in log._unpersisted]:
        out.append({"n": rec[0], "time": rec[1], "severity": SEVERITY_NAMES[rec[2]],
                    "id": rec[3], "name": log.name(rec[3]),
                    "text": log.text(rec[3], rec[4]), "args": rec[5]})
    return out


def _is_int(v):
    # bool is not an int on MicroPython but is one on CPython: exclude it on both.
    return isinstance(v, int) and v is not True and v is not False


def _newest(lst):
    n = -1
    for r in lst:
        if r[0] > n:
            n = r[0]
    return n


def _good(r):
    # Flash may hold anything (bit rot, an older format): keep only records of the
    # expected shape, so a bad entry costs itself, never the boot.
    return isinstance(r, list) and len(r) == 6 and _is_int(r[0]) and _is_int(r[2]) \
        and 0 <= r[2] <= SEV_CRITICAL and _is_int(r[3])


def _old_format(log, i):
    try:
        raw = log.storage.read(log._blob(i))
    except Exception:  # read a moment ago: the flush will meet it again and count it
        return False
    return bool(raw) and 0x80 <= raw[0] <= 0x9F


def _old_blob(raw):
    """A blob of the earlier format (one CBOR list of every entry), or None."""
    try:
        rec = cbor.decode(raw)
    except ValueError:
        return None
    if not isinstance(rec, list):
        return None
    return [r for r in rec if _good(r)]

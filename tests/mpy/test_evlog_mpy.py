"""The persistent event log's flush on every interpreter (flight/events.py; design.md
"Events"): the active half stays on flash — a flush reads its copy back and extends it,
so the log's own state does not grow with the entries persisted — and a copy damaged
since its write keeps the entries that still stand, counted (``persist_salvaged``).

Plain test functions: CPython, the MicroPython VM, the unix port and the Cortex-M7 image
(``_frames`` walks ``bytes`` with memoryview slices and the CRC: port-sensitive code)."""

from flight.events import SEV_WARN, EventLog
from hal.sim.storage import MemStorage


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        self.t += 0.5
        return self.t


def _texts(log):
    return [e["text"] for e in log.persistent_log()]


def _held(log):
    # Octets the log's own state holds in bytes and lists (storage, clock and table apart).
    n = 0
    for k in ("_ring", "_unpersisted", "_newest_n", "_deferred", "counts"):
        v = getattr(log, k)
        n += len(v)
        for x in v:
            if isinstance(x, (bytes, bytearray)):
                n += len(x)
    for k in log.__dict__:
        assert not isinstance(log.__dict__[k], (bytes, bytearray)), k
    return n


def test_the_active_half_is_read_back_not_held():
    s = MemStorage()
    log = EventLog(_Clock(), storage=s, persist_capacity=32)
    log.emit_sev(SEV_WARN, 0x02, None, "e0")
    log.flush()
    while log.pop() is not None:
        pass
    one = _held(log)
    for k in range(1, 15):
        log.emit_sev(SEV_WARN, 0x02, [k], "entry %d" % k)
        log.pop()  # (sent: the ring's slot empty again)
        assert log.flush() == 1
    assert _held(log) == one
    assert log.persist_errors == 0 and log.persist_salvaged == 0
    want = ["e0"] + ["entry %d" % k for k in range(1, 15)]
    assert _texts(log) == want
    assert _texts(EventLog(_Clock(), storage=s, persist_capacity=32)) == want


def test_a_copy_damaged_since_keeps_its_standing_entries_counted():
    s = MemStorage()
    log = EventLog(_Clock(), storage=s, persist_capacity=8)
    for k in range(3):
        log.emit_sev(SEV_WARN, 0x02, None, "a%d" % k)
    log.flush()
    name = "evlog%d" % log._active
    raw = bytearray(s.blobs[name])
    raw[0] ^= 0x01  # the first entry's magic
    s.blobs[name] = bytes(raw)
    log.emit_sev(SEV_WARN, 0x02, None, "b0")
    assert log.flush() == 1
    assert log.persist_salvaged == 1 and log.persist_errors == 0
    assert _texts(EventLog(_Clock(), storage=s, persist_capacity=8)) == ["a1", "a2", "b0"]
    s.fail_reads = True  # a read error: pending, as a failed write
    log.emit_sev(SEV_WARN, 0x02, None, "b1")
    assert log.flush() == 0 and log.persist_errors == 1
    s.fail_reads = False
    assert log.flush() == 1
    assert _texts(EventLog(_Clock(), storage=s, persist_capacity=8)) == ["a1", "a2", "b0", "b1"]

"""Events (DESIGN §3.7): bounded RAM ring counting drops; bounded persistent log that
survives reboot, tolerates torn/corrupt flash, and is returned by EVENT_LOG_DUMP."""

import pytest

from flight import cbor, events, evlog_read
from flight.cmddict import BY_NAME
from flight.events import SEV_ERROR, SEV_INFO, SEV_WARN, EventLog
from flight.tm import APID_EVENT, APID_HK
from hal.sim.storage import MemStorage, PowerLoss
from flight import components
from tests.mpy.obc import Obc

DECL = events.table(components.declared("EVENTS"))


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        self.t += 0.5
        return self.t


def texts(log):
    return [e["text"] for e in log.persistent_log()]


def test_ring_is_bounded_counts_drops_and_keeps_the_newest():
    log = EventLog(Clock(), capacity=4)
    for i in range(10):
        log.emit_sev(SEV_INFO, 0x01, [i], "e%d" % i)
    assert log.pending() == 4
    assert log.dropped == 6
    got = []
    while True:
        e = log.pop()
        if e is None:
            break
        got.append(e)
    assert [e[4] for e in got] == ["e6", "e7", "e8", "e9"]
    assert [e[0] for e in got] == [7, 8, 9, 10]  # seq counts every event, dropped or not
    assert log.pending() == 0 and log.pop() is None
    log.emit_sev(SEV_WARN, 0x02)
    assert log.pending() == 1 and log.dropped == 6


def test_event_map_and_severity_clamp():
    log = EventLog(lambda: 12.5, decl=DECL)
    e = log.emit_sev(99, 0x41, [1, 2], "hot")
    m = log.to_map(e)
    assert m == {"seq": 1, "time": 12.5, "severity": "CRITICAL", "id": 0x41,
                 "name": "LIMIT_VIOLATION", "text": "hot", "args": [1, 2]}
    m = log.to_map(log.emit_sev(SEV_INFO, 0x7E))
    assert m["name"] == "EV_7E" and m["args"] == []
    assert log.counts == [1, 0, 0, 1]
    # emit() takes the severity from the declaration; text falls back to the declared one.
    m = log.to_map(log.emit(0x41))
    assert m["severity"] == "ERROR" and m["text"] == log.decl[0x41].text
    assert log.undeclared == 0
    log.emit(0x7E)
    assert log.undeclared == 1 and log.counts[SEV_ERROR] == 2


def test_event_table_rejects_an_id_declared_twice():
    a = (events.Event(0x7D, "TEST_A", SEV_INFO, "a"),)
    b = (events.Event(0x7D, "TEST_B", SEV_WARN, "b"),)
    with pytest.raises(ValueError, match="0x7d"):
        events.table([("x", a), ("y", b)])
    with pytest.raises(ValueError):
        events.Event(0x7E, "BAD_SEVERITY", 7, "x")
    names = [e.name for e in DECL.values()]
    assert len(names) == len(set(names))  # names are unique as well as ids


def test_persistent_log_keeps_warnings_only_and_survives_reboot():
    s = MemStorage()
    log = EventLog(Clock(), storage=s, decl=DECL)
    log.emit_sev(SEV_INFO, 0x01, None, "info")
    log.emit_sev(SEV_WARN, 0x02, None, "warn")
    log.emit_sev(SEV_ERROR, 0x34, [7], "error")
    assert texts(log) == ["warn", "error"]  # pending entries already visible
    assert log.flush() == 2
    assert log.flush() == 0
    log2 = EventLog(Clock(), storage=s, decl=DECL)  # reboot
    got = log2.persistent_log()
    assert [e["text"] for e in got] == ["warn", "error"]
    assert got[1]["args"] == [7] and got[1]["severity"] == "ERROR"
    assert got[1]["name"] == "STORAGE_ERROR"
    log2.emit_sev(SEV_WARN, 0x02, None, "after reboot")
    log2.flush()
    got = EventLog(Clock(), storage=s).persistent_log()
    assert [e["text"] for e in got] == ["warn", "error", "after reboot"]
    ns = [e["n"] for e in got]
    assert ns == sorted(ns) and len(set(ns)) == 3  # numbering continues across boots


@pytest.mark.parametrize("flush_every", [1, 3, 8])
def test_persistent_log_is_bounded_and_keeps_the_newest(flush_every):
    s = MemStorage()
    cap = 8
    log = EventLog(Clock(), storage=s, persist_capacity=cap)
    for i in range(100):
        log.emit_sev(SEV_WARN, 0x02, None, "w%d" % i)
        if i % flush_every == flush_every - 1:
            log.flush()
    log.flush()
    for lg in (log, EventLog(Clock(), storage=s, persist_capacity=cap)):
        t = texts(lg)
        assert cap // 2 <= len(t) <= cap
        assert t == ["w%d" % i for i in range(100 - len(t), 100)]
    assert set(s.blobs) == {"evlog0", "evlog1", "evlog2"}
    for i in range(3):
        assert len(evlog_read.read_blob(log, i)) <= cap // 2


def test_unflushed_backlog_is_bounded_and_counted():
    s = MemStorage()
    log = EventLog(Clock(), storage=s, persist_capacity=8)
    for i in range(20):
        log.emit_sev(SEV_WARN, 0x02, None, "w%d" % i)
    assert log.persist_dropped == 12
    # A flood beyond the backlog keeps its beginning (the first cause), counts the rest.
    assert texts(log) == ["w%d" % i for i in range(8)]
    log.flush()
    assert texts(EventLog(Clock(), storage=s, persist_capacity=8)) == ["w%d" % i for i in range(8)]


def test_failed_flush_keeps_entries_pending_without_duplicates():
    s = MemStorage()
    log = EventLog(Clock(), storage=s, persist_capacity=8)
    for i in range(3):
        log.emit_sev(SEV_WARN, 0x02, None, "a%d" % i)
    log.flush()
    for i in range(3):
        log.emit_sev(SEV_WARN, 0x02, None, "b%d" % i)
    s.fail_writes = True
    assert log.flush() == 0 and log.persist_errors == 1
    assert log.flush() == 0 and log.persist_errors == 2
    s.fail_writes = False
    assert log.flush() == 3
    want = ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert texts(log) == want
    assert texts(EventLog(Clock(), storage=s, persist_capacity=8)) == want


def test_torn_event_log_write_at_every_octet_never_breaks_the_boot():
    base = MemStorage()
    log = EventLog(Clock(), storage=base, persist_capacity=8)
    for i in range(6):  # blob 0 full (4 entries), blob 1 holds 2
        log.emit_sev(SEV_WARN, 0x02, None, "old%d" % i)
    log.flush()
    older = ["old0", "old1", "old2", "old3"]
    n = len(base.blobs["evlog1"]) + 40  # the torn write is a bit longer than blob 1 now
    for k in range(n):
        s = MemStorage()
        s.blobs = dict(base.blobs)
        lg = EventLog(Clock(), storage=s, persist_capacity=8)
        lg.emit_sev(SEV_WARN, 0x02, None, "new")
        s.tear_after = k
        assert lg.flush() == 0  # PowerLoss is contained: counted, entry stays pending
        assert lg.persist_errors == 1
        lg2 = EventLog(Clock(), storage=s, persist_capacity=8)  # power back
        t = texts(lg2)
        # Issue 12 finding 13: a torn write loses at most what it was adding, never an
        # entry persisted before (the write went to a third blob).
        assert t in (older + ["old4", "old5"], older + ["old4", "old5", "new"]), (k, t)
        lg2.emit_sev(SEV_WARN, 0x02, None, "later")
        assert lg2.flush() == 1
        assert texts(EventLog(Clock(), storage=s, persist_capacity=8))[-1] == "later"


def test_one_bit_flip_anywhere_in_the_event_log_costs_at_most_one_entry():
    """Issue 12 finding 13: one bit flip lost the whole blob (a CBOR list); each entry is
    now framed with its own CRC, and the reader resynchronises after a damaged one."""
    base = MemStorage()
    log = EventLog(Clock(), storage=base, persist_capacity=8)
    for i in range(7):
        log.emit_sev(SEV_WARN, 0x02, [i], "e%d" % i)
        log.flush()
    want = texts(EventLog(Clock(), storage=base, persist_capacity=8))
    assert want == ["e%d" % i for i in range(1, 7)] or want == ["e%d" % i for i in range(7)]
    for name in sorted(base.blobs):
        raw = base.blobs[name]
        for i in range(len(raw)):
            for bit in (0, 3, 7):
                s = MemStorage()
                s.blobs = dict(base.blobs)
                b = bytearray(raw)
                b[i] ^= 1 << bit
                s.blobs[name] = bytes(b)
                lg = EventLog(Clock(), storage=s, persist_capacity=8)
                t = texts(lg)
                assert len(t) >= len(want) - 1 and set(t) <= set(want), (name, i, bit, t)
                if len(t) < len(want):
                    assert lg.damaged and name in lg.damaged  # reported, not silent
                # ... and a flush after it extends the log without copying the damage
                # into a second entry lost (the active half is read back: stop 39).
                lg.emit_sev(SEV_WARN, 0x02, None, "new")
                assert lg.flush() == 1 and lg.persist_errors == 0, (name, i, bit)
                t2 = texts(EventLog(Clock(), storage=s, persist_capacity=8))
                assert t2[-1] == "new" and set(t2[:-1]) <= set(want), (name, i, bit, t2)
                assert len(t2) - 1 >= min(len(t), 3), (name, i, bit, t2)


def test_a_damaged_event_log_is_reported_at_boot():
    h = Obc()
    for i in range(3):
        h.app.emit(0x34, None, "failure %d" % i)
    h.settle()
    s = h.storage
    name = max(s.blobs, key=lambda n: len(s.blobs[n]) if n.startswith("evlog") else -1)
    b = bytearray(s.blobs[name])
    b[len(b) // 2] ^= 0x10
    s.blobs[name] = bytes(b)
    h2 = h.reboot()
    h2.run(1100000)
    ev = [e for e in h2.of(APID_EVENT) if e["name"] == "STORE_FALLBACK"]
    assert ev and ev[0]["args"] == ["evlog"] and "unreadable" in ev[0]["text"]
    kept = [e["text"] for e in h2.app.events.persistent_log() if e["text"].startswith("failure")]
    assert len(kept) >= 2


@pytest.mark.parametrize("blob0,blob1", [
    (b"\xff\x00garbage", None),
    (cbor.encode({"not": "a list"}), cbor.encode(3)),
    (cbor.encode([["x", 1, 2, 3, 4, 5]]), cbor.encode([[1, 2, 3]])),  # wrong shapes
    (cbor.encode([[1, 0.0, 9, 2, "bad severity", []]]), cbor.encode([None, [2]])),
    (cbor.encode([[True, 0.0, 1, 2, "bool n", []]]), b""),
])
def test_corrupt_event_log_never_breaks_the_boot(blob0, blob1):
    s = MemStorage()
    s.blobs["evlog0"] = blob0
    if blob1 is not None:
        s.blobs["evlog1"] = blob1
    log = EventLog(Clock(), storage=s)
    assert log.persistent_log() == []
    log.emit_sev(SEV_WARN, 0x02, None, "fresh")
    assert log.flush() == 1
    assert texts(EventLog(Clock(), storage=s)) == ["fresh"]
    h = Obc(storage=s)  # the whole app boots on it too
    assert h.app.modes.mode == "SAFE"


def test_well_formed_entries_survive_next_to_corrupt_ones():
    s = MemStorage()
    s.blobs["evlog0"] = cbor.encode([[5, 1.0, 1, 2, "good", []], ["junk"], [6, 2.0, 2, 0x34, "ok2", [1]]])
    t = texts(EventLog(Clock(), storage=s))
    assert t == ["good", "ok2"]


def test_app_sends_events_as_tm_bounded_per_tick_and_reports_drops():
    h = Obc()
    h.settle()
    for i in range(100):  # far more than the ring (64) holds
        h.app.emit(0x03, None, "burst %d" % i)
    assert h.app.events.dropped == 100 - 64
    h.app._task_tc()  # one tc tick: at most tm_events_per_tick (4) events go out
    h.collect()
    assert len(h.of(APID_EVENT)) == 4
    h.run(1100000)
    ev = h.of(APID_EVENT)
    assert [e["text"] for e in ev] == ["burst %d" % i for i in range(36, 100)]
    assert h.of(APID_HK)[-1]["events_dropped"] == 36


def test_event_log_dump_returns_the_persistent_log_across_reboots():
    h = Obc()
    for i in range(5):
        h.app.emit(0x34, None, "failure %d" % i)
    h.settle()
    h2 = h.reboot()
    h2.app.emit(0x02, None, "not flushed yet")
    reps = h2.send(BY_NAME["EVENT_LOG_DUMP"].opcode, {"max": 256})
    assert reps[-1]["ok"] and reps[-1]["result"]["total"] == reps[-1]["result"]["entries"]
    h2.run(100000)
    dumped = [e["text"] for e in h2.of(APID_EVENT) if e.get("dump")]
    assert dumped[:1] == ["DEVELOPMENT KEY loaded: not for flight"]
    assert ["failure %d" % i for i in range(5)] == [t for t in dumped if t.startswith("failure")]
    assert dumped[-1] == "not flushed yet"
    assert dumped.count("DEVELOPMENT KEY loaded: not for flight") == 2


def test_power_loss_during_event_flush_inside_the_app_is_contained():
    h = Obc()
    h.app.emit(0x02, None, "w")
    h.board.storage.tear_after = 3
    h.board.storage.tear_only = "evlog"
    h.run(1100000)  # hk flush hits the tear: contained, the app keeps running
    assert h.app.events.persist_errors == 1
    assert h.app.sched.task("hk").faults == 0
    h.run(1000000)
    assert "w" in texts(h.app.events)
    assert "w" in texts(h.reboot().app.events)  # written by the next flush, survives


def test_power_loss_exception_is_what_the_tear_raises():
    s = MemStorage()
    s.tear_after = 0
    with pytest.raises(PowerLoss):
        s.write("evlog0", b"x")


def test_a_flush_encodes_only_the_new_entries_and_the_half_reads_back(monkeypatch):
    # Each entry is framed once, when it joins the persisted half: a flush does not
    # re-encode the half (the housekeeping step that flushes stays short as it fills).
    s = MemStorage()
    log = EventLog(Clock(), storage=s, decl=DECL, persist_capacity=64)
    encoded = []
    real = cbor.encode

    def counting(obj):
        encoded.append(1)
        return real(obj)

    monkeypatch.setattr(cbor, "encode", counting)
    for k in range(20):
        log.emit_sev(SEV_WARN, 0x02, None, "w%d" % k)
        log.flush()
    assert len(encoded) == 20  # re-encoding the half at each flush would be 210
    monkeypatch.setattr(cbor, "encode", real)
    assert texts(EventLog(Clock(), storage=s)) == ["w%d" % k for k in range(20)]
    log2 = EventLog(Clock(), storage=s, persist_capacity=64)  # reboot: the half reloaded
    log2.emit_sev(SEV_WARN, 0x02, None, "after")
    log2.flush()
    assert texts(EventLog(Clock(), storage=s))[-2:] == ["w19", "after"]


def test_the_reader_is_loaded_for_the_boot_and_the_dump_only(monkeypatch):
    """flight/evlog_read.py (issue 11: not resident) is loaded to read the log at boot and
    for a dump, and released after both where it is frozen (as in the firmware)."""
    import sys

    from flight import lazy

    monkeypatch.setattr(lazy, "frozen", lambda name: True)
    s = MemStorage()
    log = EventLog(Clock(), storage=s, persist_capacity=8)
    log.emit_sev(SEV_WARN, 0x02, None, "kept")
    log.flush()
    sys.modules.pop("flight.evlog_read", None)
    again = EventLog(Clock(), storage=s, persist_capacity=8)
    assert "flight.evlog_read" not in sys.modules
    assert [e["text"] for e in again.persistent_log()] == ["kept"]
    assert "flight.evlog_read" not in sys.modules and again.persist_errors == 0


def test_no_heap_for_the_reader_is_a_counted_store_error(monkeypatch):
    from flight import lazy

    s = MemStorage()
    log = EventLog(Clock(), storage=s, persist_capacity=8)
    log.emit_sev(SEV_WARN, 0x02, None, "kept")
    log.flush()

    def no_heap(name, emit=None):
        raise lazy.LoadFailed()

    monkeypatch.setattr(lazy, "load", no_heap)
    again = EventLog(Clock(), storage=s, persist_capacity=8)
    assert again.persist_errors == 1 and "no heap" in again.damaged
    with pytest.raises(lazy.LoadFailed):
        again.persistent_log()


def _state_octets(log):
    # The octets the log's own state holds in bytes-like objects and lists (its storage,
    # clock and declarations apart): what grows with the persisted history if anything.
    n = 0
    for k, v in log.__dict__.items():
        if k in ("storage", "time_fn", "decl"):
            continue
        if isinstance(v, (bytes, bytearray)):
            n += len(v)
        elif isinstance(v, list):
            n += 8 * len(v) + sum(len(x) for x in v if isinstance(x, (bytes, bytearray)))
    return n


def test_the_active_half_stays_on_flash_not_in_the_heap():
    # Stop 39: the active half was held as framed octets (up to half the log, ~3 kB at
    # 128 entries, growing with the event history); a flush now reads its copy back.
    s = MemStorage()
    log = EventLog(Clock(), storage=s, decl=DECL, persist_capacity=128)
    log.emit_sev(SEV_WARN, 0x02, None, "first")
    log.flush()
    one = _state_octets(log)
    for k in range(60):
        log.emit_sev(SEV_WARN, 0x02, [k, k * 1000], "a longer detail text %d" % k)
        log.flush()
    assert _state_octets(log) == one  # the ring's slots and the blob ledger only
    assert log._present(log._active)[1] == 61 and log.persist_errors == 0
    assert texts(EventLog(Clock(), storage=s)) == ["first"] + [
        "a longer detail text %d" % k for k in range(60)]


def _two_flushed(cap=8):
    s = MemStorage()
    log = EventLog(Clock(), storage=s, persist_capacity=cap)
    for i in range(2):
        log.emit_sev(SEV_WARN, 0x02, None, "a%d" % i)
    log.flush()
    return s, log, "evlog%d" % log._active


@pytest.mark.parametrize("damage,kept", [("truncated", ["a0"]), ("length", ["a1"]),
                                         ("magic", ["a1"]), ("erased", [])])
def test_a_present_copy_damaged_since_keeps_the_frames_that_stand(damage, kept):
    # The flush reads the active half back (stop 39): what flash lost since its write
    # costs the entries it hit, is counted (persist_salvaged), and is not copied on.
    s, log, name = _two_flushed()
    raw = bytearray(s.blobs[name])
    if damage == "truncated":  # its last entry torn
        s.blobs[name] = bytes(raw[:-3])
    elif damage == "length":  # the first frame's length: it ends inside the second
        raw[2] ^= 0x10
        s.blobs[name] = bytes(raw)
    elif damage == "magic":
        raw[0] ^= 0x01
        s.blobs[name] = bytes(raw)
    else:
        del s.blobs[name]
    log.emit_sev(SEV_WARN, 0x02, None, "b0")
    assert log.flush() == 1 and log.persist_errors == 0
    assert log.persist_salvaged == (0 if damage == "erased" else 1)
    assert "evlog%d" % log._active != name
    assert texts(EventLog(Clock(), storage=s, persist_capacity=8)) == kept + ["b0"]
    log.emit_sev(SEV_WARN, 0x02, None, "b1")
    assert log.flush() == 1  # the new copy extends cleanly: counted once
    assert log.persist_salvaged == (0 if damage == "erased" else 1)
    assert texts(EventLog(Clock(), storage=s, persist_capacity=8)) == kept + ["b0", "b1"]


def test_a_read_error_at_flush_leaves_the_entries_pending():
    s, log, name = _two_flushed()
    log.emit_sev(SEV_WARN, 0x02, None, "b0")
    s.fail_reads = True
    assert log.flush() == 0 and log.persist_errors == 1
    s.fail_reads = False
    assert log.flush() == 1 and log.persist_errors == 1
    assert texts(EventLog(Clock(), storage=s, persist_capacity=8)) == ["a0", "a1", "b0"]


def test_a_bit_flip_inside_an_entry_is_carried_and_costs_that_entry_alone():
    # The walk checks the frames' magic and lengths, not each CRC (module doc): a flip in
    # an entry's body is copied by the next flush and loses that one entry, as on a blob.
    s, log, name = _two_flushed()
    raw = bytearray(s.blobs[name])
    raw[6] ^= 0x04  # inside the first entry's CBOR body
    s.blobs[name] = bytes(raw)
    log.emit_sev(SEV_WARN, 0x02, None, "b0")
    assert log.flush() == 1 and log.persist_errors == 0
    assert texts(EventLog(Clock(), storage=s, persist_capacity=8)) == ["a1", "b0"]


@pytest.mark.parametrize("old_format", [False, True])
def test_a_damaged_active_half_at_boot_is_extended_without_a_flush_error(old_format):
    s, log, name = _two_flushed()
    if old_format:  # the format before framed entries (one CBOR list): kept as closed
        s.blobs = {name: cbor.encode([[0, 1.0, SEV_WARN, 2, "a0", []],
                                      [1, 2.0, SEV_WARN, 2, "a1", []]])}
    else:
        s.blobs[name] = s.blobs[name][:-3]  # its last entry torn
    lg = EventLog(Clock(), storage=s, persist_capacity=8)
    before = texts(lg)
    assert before == (["a0", "a1"] if old_format else ["a0"])
    assert lg.damaged or old_format  # the torn one reported at boot
    lg.emit_sev(SEV_WARN, 0x02, None, "b0")
    assert lg.flush() == 1 and lg.persist_errors == 0
    assert lg.persist_salvaged == (0 if old_format else 1)
    assert texts(EventLog(Clock(), storage=s, persist_capacity=8)) == before + ["b0"]

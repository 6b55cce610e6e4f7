"""Issue 12 attacks through the whole TC path (app + tc + key store + replay guard + flood
limits), in process: each test does what the finding did and checks it no longer works.
The same attacks over the pty, against the `python -m flight` process: test_security_pty.py.
"""

import math

from flight import cbor, cobs
from flight.cmddict import COMMANDS
from flight.keys import DEV_KEY, DEV_KEY_ID
from flight.replay import COUNTER_MAX, RESERVE, WARN_AT, WINDOW
from flight.slotstore import decode_slot, encode_slot
from flight.tm import APID_EVENT, APID_HK
from hal.sim.backup import MemBackup
from hal.sim.link import MemLink
from hal.sim.storage import MemStorage
from tests.mpy.obc import Obc, core_board

OP = {c.name: c.opcode for c in COMMANDS}
PING, REBOOT, PARAM_LOAD_DEFAULTS = OP["PING"], OP["REBOOT"], OP["PARAM_LOAD_DEFAULTS"]
KEY_ROTATE, COUNTER_RESYNC = OP["KEY_ROTATE"], OP["COUNTER_RESYNC"]
KEY2 = bytes(range(32))
LINE_BPS = 11520  # 115,200 Bd, 8N1: octets per second on the OBC line


def obc(storage, backup, counter=0, keys=None):
    b = core_board(storage)
    b.backup = backup
    return Obc(board=b, counter=counter, keys=keys)


def pairs(reps):
    return [(r["stage"], r["ok"], r["reason"], r.get("detail")) for r in reps]


def names(o):
    return [e["name"] for e in o.of(APID_EVENT)]


def resync(o, floor):
    """The operator procedure: the nonce from housekeeping, then COUNTER_RESYNC."""
    o.run(1100000)
    nonce = o.of(APID_HK)[-1]["replay_nonce"]
    assert nonce != 0
    o.reports()
    reps = o.send(COUNTER_RESYNC, {"nonce": nonce, "floor": floor})
    assert pairs(reps)[:2] == [("accept", True, None, None), ("complete", True, None, None)]
    return reps[1]["result"]["mark"]


# ----------------------------------------------------------------- item 2: lost state
def _recorded(o, n=3):
    rec = [o.packet(PING) for _ in range(n)]
    for p in rec:
        o.send_raw(p)
    o.run(100000)
    assert all(r["ok"] for r in o.reports())
    return rec


def _lose_and_check(s, b, rec, counter):
    o2 = obc(s, b, counter=counter)
    o2.run(1100000)
    hk = o2.of(APID_HK)[-1]
    assert hk["replay_nonce"] != 0  # RESYNC: the nonce published in housekeeping
    ev = [e for e in o2.of(APID_EVENT) if e["name"] == "COUNTER_RESYNC_NEEDED"]
    assert ev and ev[0]["args"] == [o2.app.replay.nonce] == [hk["replay_nonce"]]
    o2.reports()
    for p in rec:  # the recorded TCs: not accepted again
        o2.send_raw(p)
    o2.send_raw(o2.packet(PING))  # nor a fresh one
    o2.send_raw(o2.packet(REBOOT))
    o2.run(100000)
    # individual reports: the first 4 of the interval (the rest summarised, tclimit.py)
    assert [(r["reason"], r.get("detail")) for r in o2.reports()] == \
        [("REPLAY", "resync needed")] * 4
    assert o2.app.tc.rejected["REPLAY"] == len(rec) + 2 and o2.app.tc.accepted == 0
    assert o2.app.reboot_requested is False
    o2.run(1000000)  # the next interval: a fresh report budget
    return o2


def test_lost_replay_store_needs_resync_with_the_published_nonce():
    s, b = MemStorage(), MemBackup()
    o = obc(s, b)
    rec = _recorded(o)
    s.blobs.pop("replay.a", None)
    s.blobs.pop("replay.b", None)  # both slots deleted: the backup says a record existed
    o2 = _lose_and_check(s, b, rec, o.counter)
    nonce = o2.app.replay.nonce
    bad = o2.send(COUNTER_RESYNC, {"nonce": nonce ^ 1, "floor": 100})
    assert pairs(bad)[0][:3] == ("accept", False, "BAD_ARG")
    good = o2.packet(COUNTER_RESYNC, {"nonce": nonce, "floor": 100})
    o2.send_raw(good)
    o2.run(40000)
    reps = o2.reports()
    assert pairs(reps)[:2] == [("accept", True, None, None), ("complete", True, None, None)]
    assert reps[1]["result"]["mark"] == 100
    o2.run(1100000)
    assert "COUNTER_RESYNCED" in names(o2) and o2.of(APID_HK)[-1]["replay_nonce"] == 0
    o2.reports()
    o2.send_raw(good)  # the resync TC replayed: no resync pending any more
    for p in rec:
        o2.send_raw(p)
    o2.run(40000)
    assert [r["reason"] for r in o2.reports()] == ["REPLAY"] * (1 + len(rec))
    o2.counter = 100
    assert [r["ok"] for r in o2.send(PING)] == [True, True]
    # persisted: a reboot keeps the new mark, no resync
    o3 = obc(s, b, counter=o2.counter)
    assert o3.app.replay.synced() and o3.app.replay.last(DEV_KEY_ID) == 101


def test_garbage_empty_and_bit_flipped_replay_slots_are_resync():
    for damage in ("garbage", "empty", "flip_newest", "truncate_newest"):
        s, b = MemStorage(), MemBackup()
        o = obc(s, b)
        rec = _recorded(o)
        gens = {k: s.blobs[k] for k in ("replay.a", "replay.b") if k in s.blobs}
        newest = max(gens, key=lambda k: decode_slot(gens[k])[0])
        if damage == "garbage":
            for k in gens:
                s.blobs[k] = bytes((i * 37 + 11) & 0xFF for i in range(40))
        elif damage == "empty":
            for k in gens:
                s.blobs[k] = b""
        elif damage == "flip_newest":
            v = bytearray(s.blobs[newest])
            v[-3] ^= 0x10
            s.blobs[newest] = bytes(v)
        else:
            s.blobs[newest] = s.blobs[newest][:7]
        _lose_and_check(s, b, rec, o.counter)


def test_rolled_back_state_directory_is_resync():
    s, b = MemStorage(), MemBackup()
    o = obc(s, b)
    _recorded(o, 1)
    old = dict(s.blobs)  # the attacker's copy of the state directory
    o.counter += RESERVE  # past the reservation: the record on the flash moves on
    rec = _recorded(o, 3)  # TCs recorded after the copy
    s.blobs.clear()
    s.blobs.update(old)  # rolled back; the backup registers are not
    _lose_and_check(s, b, rec, o.counter)


def test_state_directory_copied_inside_a_reservation_replays_nothing():
    """A copy taken and restored while the counters stay inside the flash reservation:
    the record is the same, so there is no rollback to see — and none to fear: the mark
    restored (the exact one of the backup registers, or with those cleared the
    reservation) is above every TC recorded after the copy."""
    s, b = MemStorage(), MemBackup()
    o = obc(s, b)
    _recorded(o, 1)
    old = dict(s.blobs)
    rec = _recorded(o, 3)
    assert [s.blobs.get(n) for n in ("replay.a", "replay.b")] == \
        [old.get(n) for n in ("replay.a", "replay.b")]  # no flash write after the copy
    for backup in (b, MemBackup()):
        s.blobs.clear()
        s.blobs.update(old)
        o2 = obc(s, backup, counter=o.counter)
        o2.reports()
        for p in rec:
            o2.send_raw(p)
        o2.run(100000)
        assert [r["reason"] for r in o2.reports()] == ["REPLAY"] * 3
        assert o2.app.tc.accepted == 0 and o2.app.replay.synced()


def test_resync_needed_repeats_without_flushing_the_persistent_log():
    s, b = MemStorage(), MemBackup()
    o = obc(s, b)
    _recorded(o)
    s.blobs.pop("replay.a", None)
    s.blobs.pop("replay.b", None)
    o2 = obc(s, b)
    o2.run(130 * 1000000)
    ev = [e for e in o2.of(APID_EVENT) if e["name"] == "COUNTER_RESYNC_NEEDED"]
    assert len(ev) == 3 and ev[0]["severity"] == "ERROR"
    assert {e["severity"] for e in ev[1:]} == {"INFO"}  # repeats: sent, not persisted
    logged = [e for e in o2.app.events.persistent_log() if e["name"] == "COUNTER_RESYNC_NEEDED"]
    assert len(logged) == 1


# ----------------------------------------------------- item 3: mark moves on authentication
def test_authentic_tc_rejected_once_is_not_replayable():
    for op in (REBOOT, PARAM_LOAD_DEFAULTS):
        o = Obc()
        o.app.params.set("limit_persist", 7)
        p = o.packet(op, {})
        o.app.modes.mode = "SESSION"  # refused in SESSION
        o.send_raw(p)
        o.run(40000)
        assert o.reports()[0]["reason"] == "WRONG_MODE"
        o.app.modes.mode = "SAFE"
        o.send_raw(p)  # replayed where it would be allowed
        o.run(40000)
        r = o.reports()[0]
        assert r["reason"] == "REPLAY" and o.app.reboot_requested is False
        assert o.app.params["limit_persist"] == 7
    o = Obc()
    p = o.body_packet(b"\xff\xff")  # authentic, undecodable: spent too
    o.send_raw(p)
    o.send_raw(p)
    o.run(40000)
    assert [r["reason"] for r in o.reports()] == ["DECODE", "REPLAY"]


# ------------------------------------------------------------- item 4: the counter window
def test_counter_ffffffff_does_not_lock_the_link():
    s, b = MemStorage(), MemBackup()
    o = obc(s, b)
    assert [x["ok"] for x in o.send(PING)] == [True, True]
    for c in (COUNTER_MAX, o.counter + 0x10001):
        r = o.send(PING, counter=c)
        assert r[0]["reason"] == "REPLAY" and "window" in r[0]["detail"]
    assert [x["ok"] for x in o.send(PING)] == [True, True]
    assert [x["ok"] for x in o.send(PING, counter=o.counter + 0x10000)] == [True, True]
    o2 = obc(s, b, counter=o.counter + 0x10000)  # and after a restart
    assert [x["ok"] for x in o2.send(PING)] == [True, True]
    # a key id's first counter may not be in the upper half either
    o3 = Obc()
    r = o3.send(PING, counter=COUNTER_MAX)
    assert r[0]["reason"] == "REPLAY"
    assert [x["ok"] for x in o3.send(PING)] == [True, True]


def test_near_exhaustion_warns_well_before_the_end():
    s, b = MemStorage(), MemBackup()
    o = obc(s, b)
    _recorded(o, 1)
    s.blobs.pop("replay.a", None)
    s.blobs.pop("replay.b", None)
    o2 = obc(s, b)
    # a key id used for billions of TCs: its stale mark (the backup registers') near the
    # top; a resync may set the mark up to the stale mark + the window (flight/replay.py)
    o2.app.replay.hwm[DEV_KEY_ID] = WARN_AT + 1 - WINDOW
    assert resync(o2, WARN_AT + 1) == WARN_AT + 1
    o2.run(100000)
    ev = [e for e in o2.of(APID_EVENT) if e["name"] == "COUNTER_NEAR_EXHAUSTION"]
    assert ev and ev[0]["args"] == [DEV_KEY_ID, COUNTER_MAX - WARN_AT - 1]
    assert ev[0]["args"][1] > 16000000  # millions of TCs left to rotate the key


def test_a_key_rotation_not_saved_says_the_new_key_is_in_force():
    """KEY_ROTATE whose key-store write fails: the rotation is in force (RAM and the
    floor), so the report says so — STORAGE naming the new active id — and KEY_ROTATED
    is in the persistent log; the old key is refused, the new one accepted."""
    s, b = MemStorage(), MemBackup()
    keys = {DEV_KEY_ID: DEV_KEY, 2: KEY2}
    o = obc(s, b, keys=keys)
    o.run(100000)
    s.fail_writes = True
    reps = o.send(KEY_ROTATE, {"key_id": 2})
    s.fail_writes = False
    assert pairs(reps)[1][:3] == ("complete", False, "STORAGE")
    assert "key id 2 active" in reps[1]["result"] and "not saved" in reps[1]["result"]
    o.run(1100000)
    ev = [e for e in o.of(APID_EVENT) if e["name"] == "KEY_ROTATED"]
    assert ev and ev[0]["args"] == [2] and "NOT saved" in ev[0]["text"]
    assert o.app.keyring.active == 2 and o.app.keyring.key(DEV_KEY_ID) is None


def test_key_rotate_drops_what_was_queued_under_the_retired_key():
    """A time-tagged command keeps the key id its TIMETAG was authenticated with: a
    KEY_ROTATE (say, after a suspected compromise) drops the entries of the ids it
    retires (TIMETAG_DROPPED); what the new key queues afterwards stays."""
    timetag = OP["TIMETAG"]
    s, b = MemStorage(), MemBackup()
    o = obc(s, b, keys={DEV_KEY_ID: DEV_KEY, 2: KEY2})
    o.run(100000)
    for i in range(3):
        assert pairs(o.send(timetag, {"time": 500.0 + i, "opcode": PING}))[1][:2] == (
            "complete", True)
    assert len(o.app.timetags) == 3
    assert pairs(o.send(KEY_ROTATE, {"key_id": 2}))[1][:2] == ("complete", True)
    assert len(o.app.timetags) == 0
    assert pairs(o.send(timetag, {"time": 600.0, "opcode": PING}))[1][:2] == ("complete", True)
    o.run(1100000)
    ev = [e for e in o.of(APID_EVENT) if e["name"] == "TIMETAG_DROPPED"]
    assert ev and ev[0]["args"] == [3] and "retired by KEY_ROTATE 2" in ev[0]["text"]
    assert len(o.app.timetags) == 1 and o.app.timetags._q[0][4] == 2


# ------------------------------------------------ items 5, 6: key store, persisted records
def test_losing_the_boot_record_does_not_undo_a_key_rotation():
    s, b = MemStorage(), MemBackup()
    keys = {DEV_KEY_ID: DEV_KEY, 2: KEY2}
    o = obc(s, b, keys=keys)
    assert pairs(o.send(KEY_ROTATE, {"key_id": 2}))[1][:2] == ("complete", True)
    o.run(1100000)
    assert "KEY_ROTATED" in names(o) and "KEYS_PROVISIONED" in names(o)
    for name in ("boot.a", "boot.b"):
        s.blobs.pop(name, None)
    o2 = obc(s, b, keys=keys, counter=o.counter)
    assert o2.app.keyring.active == 2 and o2.app.keyring.key(DEV_KEY_ID) is None
    assert pairs(o2.send(PING, key_id=DEV_KEY_ID, key=DEV_KEY)) == [("accept", False, "AUTH", None)]
    assert [r["ok"] for r in o2.send(PING, key_id=2)] == [True, True]
    # even the key record lost: the backup registers' key floor keeps id 1 retired
    for name in ("keys.a", "keys.b"):
        s.blobs.pop(name, None)
    o3 = obc(s, b, keys=keys, counter=o2.counter)
    assert o3.app.keyring.active == 2 and o3.app.keyring.key(DEV_KEY_ID) is None
    o3.run(1100000)
    assert o3.of(APID_HK)[-1]["key_id"] == 2
    assert [r["ok"] for r in o3.send(PING, key_id=2)] == [True, True]


def test_boot_record_with_wrong_types_does_not_boot_loop():
    for bad in ("x", float("nan"), [1], True, -1, {"a": 1}, 1e9):
        s = MemStorage()
        s.blobs["boot.a"] = encode_slot(5, cbor.encode({"boot_count": bad}))
        o = Obc(storage=s)
        assert o.app.boot_count == 1 and o.app.modes.mode == "SAFE"
        assert [r["ok"] for r in o.send(PING)] == [True, True]
    s = MemStorage()
    s.blobs["boot.a"] = encode_slot(5, cbor.encode({"boot_count": 41}))
    s.blobs["boot.b"] = encode_slot(6, cbor.encode({"boot_count": float("nan")}))
    assert Obc(storage=s).app.boot_count == 42  # the valid older slot
    assert not math.isnan(Obc(storage=s).app.boot_count)


def test_no_usable_key_every_hk_period_and_no_tc():
    from flight.app import FlightApp
    from flight.keystore import KeyStore

    s = MemStorage()
    s.blobs["keys.a"] = b"garbage"
    b = core_board(s)
    ks = KeyStore(s, None, dev_allowed=False)
    ks.load()
    o = Obc(board=b, app=FlightApp(b, keyring=ks))
    o.run(3100000)
    ev = [e for e in o.of(APID_EVENT) if e["name"] == "NO_USABLE_KEY"]
    assert len(ev) >= 3 and ev[0]["severity"] == "CRITICAL"
    assert {e["severity"] for e in ev[1:]} == {"INFO"}  # repeats are not persisted
    assert o.of(APID_HK)[-1]["key_state"] == "NO_KEY"
    assert o.app.modes.mode == "SAFE"
    assert pairs(o.send(PING, key=DEV_KEY, key_id=DEV_KEY_ID)) == \
        [("accept", False, "AUTH", None)]
    assert pairs(o.send(PING, key=bytes(32), key_id=0)) == [("accept", False, "AUTH", None)]


# ------------------------------------------------------------------- item 15: one AUTH
def test_wrong_key_id_and_wrong_mac_look_the_same():
    o = Obc(keys={DEV_KEY_ID: DEV_KEY, 2: KEY2})
    calls = []
    h = o.app.tc._hmac

    def counting(kid, key):
        calls.append(kid)
        return h(kid, key)

    o.app.tc._hmac = counting
    a = o.send(PING, key_id=2)  # in the ring, not active (authentic: audit O1)
    b = o.send(PING, key=bytes(32))  # forged MAC, active id
    c = o.send(PING, key_id=77, key=KEY2)  # unknown id
    d = o.send(PING, key_id=2, key=bytes(32))  # forged MAC, held id
    assert pairs(a) == pairs(b) == pairs(c) == pairs(d) == [("accept", False, "AUTH", None)]
    # one MAC computation each, with the active key or the held id's: no shortcut to time
    assert calls == [2, DEV_KEY_ID, DEV_KEY_ID, 2]
    o.run(1100000)
    ev = [e for e in o.of(APID_EVENT) if e["name"] == "TC_REJECTED_AUTH"]
    assert ev and all("key" not in e["text"].split(":")[-1] for e in ev)


# ---------------------------------------------------------------- items 7-9: floods
class LineLink(MemLink):
    """The OBC line at 115,200 Bd: the payload's writes drain at LINE_BPS of the board's
    clock (what is not taken waits in the TM queue, as on the real UART)."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.t0 = clock.now_us()
        self.sent = 0

    def write(self, data):
        allowed = (self.clock.now_us() - self.t0) * LINE_BPS // 1000000 - self.sent
        n = max(0, min(len(data), allowed))
        if n:
            self.sent += n
            return super().write(data[:n])
        return 0


def flood_run(kind, seconds=10):
    b = core_board()
    b.link = LineLink(b.clock)
    o = Obc(board=b)
    o.settle()
    replayed = o.packet(PING)
    o.send_raw(replayed)
    o.run(40000)
    o.settle()
    tick_octets = LINE_BPS // 50  # one tc tick (20 ms) of the line, full
    if kind == "empty":
        chunk = b"\x01\x00" * (tick_octets // 2)
    else:
        one = cobs.encode(replayed if kind == "replayed" else o.packet(PING, key=KEY2)) + b"\0"
        chunk = one * (tick_octets // len(one))
    n_ticks = seconds * 50
    for i in range(n_ticks):
        o.send_raw(chunk, framed=True)
        if i == n_ticks // 2:
            genuine = o.packet(PING)
            o.send_raw(genuine)  # an operator's TC in the middle of the flood
        o.run(20000)
    o.run(1000000)
    return o, genuine


def test_flood_keeps_housekeeping_and_a_genuine_tc_gets_through():
    for kind in ("empty", "forged", "replayed"):
        o, genuine = flood_run(kind)
        hk = o.of(APID_HK)
        assert len(hk) >= 10, (kind, len(hk))  # one a second, none starved (was 0-1 of 30)
        seqs = [s for a, s, _ in o.tm if a == APID_HK]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), kind  # none dropped
        reps = o.reports()
        mine = [r for r in reps if r["tc_seq"] == genuine[2] * 256 + genuine[3] & 0x3FFF]
        assert [(r["stage"], r["ok"]) for r in mine] == [("accept", True), ("complete", True)], kind
        other = [r for r in reps if r not in mine]
        # rejection reports: at most 4 an interval, the rest summarised by TC_REJECTIONS
        assert len(other) <= 4 * 12, (kind, len(other))
        summ = [e for e in o.of(APID_EVENT) if e["name"] == "TC_REJECTIONS"]
        assert len(summ) >= 9 and "first:" in summ[0]["text"], kind
        rej = sum(o.app.tc.rejected.values())
        assert sum(e["args"][0] for e in summ) + len(other) == rej, kind
        assert o.app.tm.dropped == 0 and o.of(APID_HK)[-1]["sched_deadline_misses"] == 0, kind


def test_flood_cannot_flush_the_persistent_event_log():
    s, b = MemStorage(), MemBackup()
    keys = {DEV_KEY_ID: DEV_KEY, 2: KEY2}
    o = obc(s, b, keys=keys)
    assert pairs(o.send(KEY_ROTATE, {"key_id": 2}))[1][:2] == ("complete", True)
    o.settle()
    forged = o.packet(PING, key=bytes(32), key_id=2)
    link = o.board.link
    for _ in range(60):  # 14,400 forged TCs and 600 UART read errors over a minute
        for _ in range(240):
            o.send_raw(forged)
        link.fail_next_reads = 10
        o.run(1000000)
    assert o.app.tc.rejected["AUTH"] + o.app.limits.budget.dropped == 14400
    log = o.app.events.persistent_log()
    assert "KEY_ROTATED" in [e["name"] for e in log]  # the security entry survived
    unauth = [e for e in log if e["name"] in ("TC_FLOOD", "UART_ERROR", "TC_REJECTED_AUTH")]
    assert len(unauth) <= 11, [e["name"] for e in unauth]  # 1 TC_FLOOD, 10 UART_ERROR

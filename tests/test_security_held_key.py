"""Audit O1 (docs/security.md "Keys"): a TC signed with a key id that is provisioned but
not yet active — the ground tried key N while its KEY_ROTATE N was lost on the uplink —
is refused AUTH, and its counter is spent, so the TC recorded on the link is never
accepted once KEY_ROTATE N has made the id active: not in the same boot, not after a
power cycle, not when the mark was lost meanwhile.  A forged TC of a held id spends
nothing.  The whole TC path in process (app + tc + key store + replay guard)."""

from flight.cmddict import COMMANDS
from flight.keys import DEV_KEY, DEV_KEY_ID
from flight.replay import RESERVE
from flight.tm import APID_EVENT
from hal.sim.backup import MemBackup
from hal.sim.storage import MemStorage
from tests.mpy.obc import fix_crc, flip
from tests.test_security_tc import KEY2, obc, pairs, resync

OP = {c.name: c.opcode for c in COMMANDS}
PING, KEY_ROTATE = OP["PING"], OP["KEY_ROTATE"]
KEYS = {DEV_KEY_ID: DEV_KEY, 2: KEY2}


def held_events(o):
    return [e for e in o.of(APID_EVENT) if e["name"] == "TC_KEY_HELD"]


def early(o, n=2):
    """``n`` PINGs the ground signs with key 2 before its KEY_ROTATE: refused AUTH,
    without detail, like any other authentication failure."""
    rec = [o.packet(PING, key_id=2) for _ in range(n)]
    for p in rec:
        o.send_raw(p)
    o.run(100000)
    assert pairs(o.reports()) == [("accept", False, "AUTH", None)] * n
    return rec


def rotate(o):
    assert pairs(o.send(KEY_ROTATE, {"key_id": 2}))[1][:2] == ("complete", True)
    assert o.app.keyring.active == 2


def replayed(o, rec):
    for p in rec:
        o.send_raw(p)
    o.run(100000)
    return [(r["reason"], r.get("detail")) for r in o.reports()]


def test_a_tc_signed_before_its_key_rotation_is_not_replayable_after_it():
    s, b = MemStorage(), MemBackup()
    o = obc(s, b, keys=KEYS)
    o.run(100000)
    rec = early(o)
    assert o.app.tc.rejected["AUTH"] == 2 and o.app.tc.accepted == 0
    assert o.app.replay.last(2) == o.counter  # spent, as an accepted counter is
    o.run(1100000)
    ev = held_events(o)
    assert [e["args"] for e in ev] == [[2, o.counter - 1], [2, o.counter]]
    rotate(o)
    last = o.counter
    got = replayed(o, rec)
    assert [r for r, _ in got] == ["REPLAY", "REPLAY"]
    assert "not above %d" % (last - 1) in got[0][1]  # (the spent mark, before KEY_ROTATE)
    assert o.app.tc.accepted == 1  # KEY_ROTATE alone
    # the ground's next counter of key 2 is above every one it used: accepted
    assert [r["ok"] for r in o.send(PING)] == [True, True]


def test_the_spent_counter_survives_a_power_cycle():
    """No backup registers hold a held id's mark (they keep the active id's exact one):
    the flash reservation does, and a boot restores it — the recorded TC stays REPLAY,
    the active id's exact mark is untouched, and the ground's next key-2 TC is refused
    once "not above" the reservation (its tool raises the counter: ground_tools/link.py)."""
    s, b = MemStorage(), MemBackup()
    o = obc(s, b, keys=KEYS)
    o.run(100000)
    assert [r["ok"] for r in o.send(PING)] == [True, True]
    exact = o.app.replay.last(DEV_KEY_ID)
    rec = early(o)
    res = o.counter - 1 + RESERVE  # (reserved at the first spent counter: one write)
    o2 = o.reboot()
    assert o2.app.replay.last(DEV_KEY_ID) == exact  # the registers' exact mark, not lost
    assert o2.app.replay.last(2) == res  # the reservation: never below
    rotate(o2)
    assert [r for r, _ in replayed(o2, rec)] == ["REPLAY", "REPLAY"]
    first = o2.send(PING)
    assert pairs(first)[0][:3] == ("accept", False, "REPLAY")
    assert "not above %d" % res in first[0]["detail"]
    assert [r["ok"] for r in o2.send(PING, counter=res + 1)] == [True, True]


def test_a_forged_tc_of_a_held_id_spends_nothing():
    """A wrong MAC under a held id, or a TC the active key signed that claims the held
    id, is AUTH like any forgery and moves no mark (else anyone could burn the next
    key's counter space before its rotation)."""
    s, b = MemStorage(), MemBackup()
    o = obc(s, b, keys=KEYS)
    o.run(100000)
    bad_mac = fix_crc(flip(o.packet(PING, key_id=2, counter=2000000000), -3))
    claims = o.packet(PING, key_id=2, key=DEV_KEY, counter=2000000001)
    for p in (bad_mac, claims):
        o.send_raw(p)
    o.run(1100000)
    assert pairs(o.reports()) == [("accept", False, "AUTH", None)] * 2
    assert o.app.replay.last(2) == 0 and held_events(o) == []
    rotate(o)
    assert [r["ok"] for r in o.send(PING)] == [True, True]  # key 2's first counter, low


def test_a_replay_of_a_held_tc_says_nothing_more():
    """The recorded early TC sent again before the rotation: AUTH again, the mark
    unmoved, no second TC_KEY_HELD (an eavesdropper cannot fill the event log)."""
    s, b = MemStorage(), MemBackup()
    o = obc(s, b, keys=KEYS)
    o.run(100000)
    rec = early(o, n=1)
    saves = o.app.replay.saves
    for _ in range(5):
        o.send_raw(rec[0])
    o.run(1100000)
    # (the interval's report budget, 4, then a summary: flight/tclimit.py; 3 or 4 of the
    # five reported, as the interval's end falls before or after them)
    reasons = [r["reason"] for r in o.reports()]
    assert set(reasons) == {"AUTH"} and 3 <= len(reasons) <= 4, reasons
    assert o.app.tc.rejected["AUTH"] == 6
    assert len(held_events(o)) == 1 and o.app.replay.saves == saves
    assert o.app.replay.last(2) == o.counter


def test_a_held_tc_during_resync_is_spent_and_the_resync_cannot_reopen_it():
    """Anti-replay state lost: the early key-2 TC is refused (AUTH), spent in RAM; the
    resync of key 1 does not touch it, and after KEY_ROTATE it is REPLAY."""
    s, b = MemStorage(), MemBackup()
    o = obc(s, b, keys=KEYS)
    o.run(100000)
    assert [r["ok"] for r in o.send(PING)] == [True, True]
    s.blobs.pop("replay.a", None)
    s.blobs.pop("replay.b", None)
    o2 = o.reboot()
    o2.run(100000)
    assert not o2.app.replay.synced()
    rec = early(o2, n=1)
    assert o2.app.replay.last(2) == o2.counter
    floor = o2.counter + 10
    assert resync(o2, floor) == floor
    o2.counter = floor  # (the ground's counters above its floor)
    rotate(o2)
    assert [r for r, _ in replayed(o2, rec)] == ["REPLAY"]


def test_an_obc_signing_with_a_held_key_cannot_flush_the_persistent_log():
    """The OBC configured with key 2 before its rotation (its 1 Hz NAV_STATE): every
    such TC is spent, the first 10 are in the persistent log, then every 100th is said
    without being persisted."""
    s, b = MemStorage(), MemBackup()
    o = obc(s, b, keys=KEYS)
    o.run(100000)
    for _ in range(10):
        for _ in range(10):
            o.send_raw(o.packet(PING, key_id=2))
        o.run(200000)
    o.run(1100000)
    assert o.app.tc.held_tcs == 100 and o.app.replay.last(2) == o.counter
    said = held_events(o)
    assert len(said) == 11 and said[-1]["text"].endswith("100 so far")
    logged = [e for e in o.app.events.persistent_log() if e["name"] == "TC_KEY_HELD"]
    assert len(logged) == 10

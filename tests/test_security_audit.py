"""An outside attacker's audit of the authenticated TC path (docs/security.md "Audit
findings"): each test does what the finding did — through the whole stack where it can —
and checks it no longer works.  Each failed on the code before its fix."""

from flight.cmddict import COMMANDS
from flight.keys import KeyFileError, parse_key_file
from flight.keystore import check_key_file
from flight.slotstore import encode_slot
from flight import cbor
from hal.sim.backup import MemBackup
from hal.sim.storage import MemStorage
from tests.mpy.obc import Obc, core_board

OP = {c.name: c.opcode for c in COMMANDS}
PING, REBOOT, SET_MODE, TIMETAG = OP["PING"], OP["REBOOT"], OP["SET_MODE"], OP["TIMETAG"]
COUNTER_RESYNC, PARAM_SAVE = OP["COUNTER_RESYNC"], OP["PARAM_SAVE"]
HEX = "00112233445566778899aabbccddeeff" * 2


def obc(storage, backup, counter=0):
    b = core_board(storage)
    b.backup = backup
    return Obc(board=b, counter=counter)


def pairs(reps):
    return [(r["stage"], r["ok"], r["reason"], r.get("detail")) for r in reps]


def done(reps):
    assert pairs(reps)[:2] == [("accept", True, None, None), ("complete", True, None, None)], reps
    return reps[1]


# ------------------------------------------- time tags: the mode when each one runs
def test_time_tags_due_together_are_each_checked_in_the_mode_they_run_in():
    """Two entries due in one health tick: SET_MODE SESSION, then REBOOT (allowed in SAFE
    and STANDBY only).  Both were checked against the mode before the first ran, so the
    REBOOT ran in SESSION; now it is refused WRONG_MODE at its completion."""
    o = Obc()
    done(o.send(SET_MODE, {"mode": "STANDBY"}))
    now = o.app.now_s()
    done(o.send(TIMETAG, {"time": now + 1.0, "opcode": SET_MODE, "args": {"mode": "SESSION"}}))
    done(o.send(TIMETAG, {"time": now + 1.01, "opcode": REBOOT}))
    o.run(1500000)
    reps = o.reports()
    assert [(r["name"], r["ok"], r["reason"]) for r in reps] == [
        ("SET_MODE", True, None), ("REBOOT", False, "WRONG_MODE")]
    assert o.app.modes.mode == "SESSION" and o.app.reboot_requested is False


# ----------------------------------------- anti-replay: TCs refused during RESYNC
def _resyncing(counter=3):
    """A payload in RESYNC (both replay slots deleted, the backup generation kept)."""
    s, b = MemStorage(), MemBackup()
    o = obc(s, b)
    for _ in range(counter):
        done(o.send(PING))
    s.blobs.pop("replay.a", None)
    s.blobs.pop("replay.b", None)
    o2 = obc(s, b, counter=o.counter)
    o2.run(1100000)
    o2.reports()
    assert not o2.app.replay.synced()
    return o2


def test_an_authentic_tc_refused_in_resync_is_not_replayed_after_the_resync():
    """An authentic REBOOT (another station's, or a counter past the ground's state file)
    refused "resync needed"; then COUNTER_RESYNC with a floor and a counter below it.  The
    mark became that lower counter and the recorded REBOOT, replayed, ran: now the
    REBOOT's counter joined the stale mark, the resync sets the mark at it."""
    o = _resyncing()
    rec = o.packet(REBOOT, counter=900)
    o.send_raw(rec)
    o.run(40000)
    assert pairs(o.reports()) == [("accept", False, "REPLAY", "resync needed")]
    c = done(o.send(COUNTER_RESYNC, {"nonce": o.app.replay.nonce, "floor": 500}, counter=600))
    assert c["result"]["mark"] == 900
    o.send_raw(rec)
    o.run(40000)
    assert pairs(o.reports()) == [("accept", False, "REPLAY", "counter 900 not above 900")]
    assert o.app.reboot_requested is False
    assert [r["ok"] for r in o.send(PING, counter=901)] == [True, True]


def test_a_far_counter_refused_in_resync_does_not_exhaust_the_counter_space():
    """The counters a RESYNC rejection spends are bounded like COUNTER_RESYNC's own (a
    first counter's limit): an authentic 0xFFFFFFFF leaves the mark where it was."""
    o = _resyncing()
    o.send_raw(o.packet(PING, counter=0xFFFFFFFF))
    o.run(40000)
    assert pairs(o.reports()) == [("accept", False, "REPLAY", "resync needed")]
    c = done(o.send(COUNTER_RESYNC, {"nonce": o.app.replay.nonce, "floor": 50}, counter=60))
    assert c["result"]["mark"] == 60


def test_a_counter_resync_whose_save_fails_says_storage_not_bad_arg():
    """The replay record's slot at the last generation (a forged slot; older code: any
    ValueError of the save): COUNTER_RESYNC took effect, yet its completion said BAD_ARG,
    "refused, nothing changed".  Now STORAGE, and the payload is synced."""
    s, b = MemStorage(), MemBackup()  # blank registers: nothing vouches for a slot
    rec = cbor.encode({"v": 2, "marks": {1: 10}, "base": {1: 10}})
    s.blobs["replay.a"] = encode_slot(0xFFFFFFFF, rec)
    s.blobs["replay.b"] = b"garbage"  # damaged: RESYNC
    o = obc(s, b, counter=20)
    o.run(1100000)
    assert not o.app.replay.synced()
    reps = o.send(COUNTER_RESYNC, {"nonce": o.app.replay.nonce, "floor": 100})
    assert pairs(reps)[0][:3] == ("accept", True, None)
    assert pairs(reps)[1][:3] == ("complete", False, "STORAGE")
    assert "not saved" in reps[1]["result"]
    assert o.app.replay.synced() and o.app.replay.last(1) == 100


# ------------------------------------------------- key file: one verdict everywhere
def test_a_key_file_is_read_the_same_by_the_deploy_tool_and_the_board():
    """int() and str.split() differ between CPython (tools/deploy.py, the ground tool)
    and MicroPython (the board), and both take signs and underscores: a key file one
    of them passed, the other refused or read as another key.  Now ASCII digits and
    hex digits only, the same on both (tests/mpy/test_security_mpy.py)."""
    assert parse_key_file(" 2\t" + HEX + "\r\n# comment, cl\u00e9\n") == {2: bytes.fromhex(HEX)}
    for bad in ("\u0661 " + HEX, "2\xa0" + HEX, "2\x1c" + HEX, "1_0 " + HEX, "+2 " + HEX,
                "2 " + "+f" * 32, "2 " + "-0" * 32, "2 " + "f_" * 32):
        try:
            parse_key_file(bad)
        except KeyFileError:
            pass
        else:
            raise AssertionError("accepted: %r" % (bad,))
        keys, why = check_key_file(bad.encode())
        assert keys is None and why


class _NoHeapForReplayLoad:
    """flight.lazy for flight/replay.py with the heap exhausted at the anti-replay load."""

    def __init__(self, real):
        self.real = real
        self.LoadFailed = real.LoadFailed

    def load(self, name, emit=None):
        if name == "flight.replay_load":
            raise self.real.LoadFailed("heap exhausted")
        return self.real.load(name, emit)

    def done(self, name):
        self.real.done(name)


def test_resync_after_a_boot_without_the_anti_replay_code_keeps_the_registers_mark(
        monkeypatch):
    """No heap for flight/replay_load.py at boot: RESYNC (fail secure), but nothing was
    read, so the stale mark was 0 and COUNTER_RESYNC with a low floor and counter set the
    mark below counters accepted before — though the backup registers held the exact mark:
    a TC recorded before the reboot was accepted again.  Now the registers' exact mark
    joins the stale mark before any authentic TC is decided in RESYNC."""
    from flight import replay

    s, b = MemStorage(), MemBackup()
    o = obc(s, b, counter=499)
    rec = o.packet(PING)  # counter 500
    o.send_raw(rec)
    o.run(40000)
    assert [r["ok"] for r in o.reports()] == [True, True]
    monkeypatch.setattr(replay, "lazy", _NoHeapForReplayLoad(replay.lazy))
    o2 = obc(s, b, counter=10)
    monkeypatch.undo()
    o2.run(1100000)
    assert not o2.app.replay.synced()
    c = done(o2.send(COUNTER_RESYNC, {"nonce": o2.app.replay.nonce, "floor": 20}))
    assert c["result"]["mark"] == 500
    o2.send_raw(rec)
    o2.run(40000)
    assert pairs(o2.reports()) == [("accept", False, "REPLAY", "counter 500 not above 500")]


# ------------------------------------------ KEY_ROTATE: what survives the next boot
def test_a_rotation_saved_nowhere_does_not_say_the_lower_ids_are_retired():
    """KEY_ROTATE with the flash and the backup registers both failing: in force in RAM
    only, and the next boot reads the old record with the old floor — key 1 active
    again.  It said "lower ids retired" (docs: "the next boot applies the floor"); now
    it says the rotation lasts until the next boot and which key comes back."""
    from flight.keys import DEV_KEY, DEV_KEY_ID
    from flight.tm import APID_EVENT

    k2 = bytes(range(32))
    keys = {DEV_KEY_ID: DEV_KEY, 2: k2}
    s, b = MemStorage(), MemBackup()
    bo = core_board(s)
    bo.backup = b
    o = Obc(board=bo, keys=keys)
    o.run(100000)
    s.fail_writes = True
    b.fail = True
    reps = o.send(OP["KEY_ROTATE"], {"key_id": 2})
    s.fail_writes = False
    b.fail = False
    assert pairs(reps)[1][:3] == ("complete", False, "STORAGE")
    assert "until the next boot only" in reps[1]["result"]
    assert "brings back key id 1" in reps[1]["result"]
    assert "lower ids retired" not in reps[1]["result"]
    o.run(1100000)
    ev = [e for e in o.of(APID_EVENT) if e["name"] == "KEY_ROTATED"]
    assert ev and "until the next boot only" in ev[0]["text"]
    o2 = Obc(storage=s, keys=keys, backup=b)
    assert o2.app.keyring.active == 1  # as the report said

"""Key store and anti-replay guard on both interpreters (MicroPython's bool is not an
int, its Exception has no __init__, its dicts may be unordered)."""

from flight import cbor
from flight.keystore import KeyStore, check_key_file
from flight.replay import RESYNC, SYNCED, WINDOW, ReplayGuard
from flight.slotstore import encode_slot
from hal.sim.backup import MemBackup
from hal.sim.storage import MemStorage

K2 = bytes(range(32))
K3 = bytes(range(3, 35))


def _rng(n):
    return bytes([7, 1, 2, 3, 4, 5, 6, 8][:n])


def test_key_file_checked_as_a_whole():
    keys, why = check_key_file(b"2 " + K2.hex().encode() + b"\n")
    assert why is None and keys[2] == K2
    for bad in (b"", b"1 zzzz\n", b"\xff\xfe\x00garbage", b"2 " + K2.hex()[:40].encode()):
        keys, why = check_key_file(bad)
        assert keys is None and why


def test_key_file_verdict_does_not_depend_on_the_interpreter():
    # int() and str.split() differ between CPython (tools/deploy.py) and MicroPython (the
    # board): ASCII digits and hex digits only, the same verdict on both
    h = K2.hex()
    keys, why = check_key_file((" 2\t" + h + "\r\n# cl\u00e9\n").encode())
    assert why is None and keys == {2: K2}
    for bad in ("\u0661 " + h, "2\xa0" + h, "2\x1c" + h, "1_0 " + h, "+2 " + h,
                "2 " + "+f" * 32, "2 " + "-0" * 32, "2 " + "f_" * 32):
        keys, why = check_key_file(bad.encode())
        assert keys is None and why, bad


def test_keystore_fail_secure_and_rotation():
    s = MemStorage()
    b = MemBackup()
    ks = KeyStore(s, b)
    assert ks.load() is False and ks.key(1) is None
    ks = KeyStore(s, b)
    assert ks.load({2: K2, 3: K3}) is True and ks.active == 2
    ks.rotate(3)
    ks2 = KeyStore(s, b)
    ks2.load({2: K2, 3: K3})
    assert ks2.active == 3 and ks2.key(2) is None


def test_keystore_rejects_bool_and_nan_fields():
    s = MemStorage()
    s.blobs["keys.a"] = encode_slot(1, cbor.encode(
        {"v": 1, "keys": {2: K2}, "active": True, "retired": []}))
    s.blobs["keys.b"] = encode_slot(2, cbor.encode(
        {"v": 1, "keys": {2: K2}, "active": float("nan"), "retired": []}))
    ks = KeyStore(s)
    assert ks.load() is False


def test_replay_window_resync():
    s = MemStorage()
    b = MemBackup()
    g = ReplayGuard(s, b, rng=_rng)
    g.load()
    assert g.check(2, 1) is None
    g.advance(2, 1)
    g.advance(2, 2)
    assert g.check(2, 0xFFFFFFFF) is not None and g.check(2, 2 + WINDOW) is None
    s.blobs["replay.a"] = b"\x00"
    s.blobs["replay.b"] = b"garbage"
    g2 = ReplayGuard(s, b, rng=_rng)
    g2.load()
    assert g2.state == RESYNC and g2.nonce == 0x07010203
    assert g2.check(2, 5) == "resync needed"
    assert g2.resync(2, 1, 0x07010203, 40) == 40 and g2.state == SYNCED


# ------------------------------------------------------------ through the whole TC path
def _op(name):
    from flight.cmddict import BY_NAME

    return BY_NAME[name].opcode


def _obc(storage, backup, counter=0, keys=None):
    from obc import Obc, core_board

    b = core_board(storage)
    b.backup = backup
    b.rng = _rng
    return Obc(board=b, counter=counter, keys=keys)


def _verify(o):
    return _verify_pairs(o.reports())


def test_resync_sdls_and_one_auth_through_the_tc_path():
    from flight.keys import DEV_KEY

    s = MemStorage()
    b = MemBackup()
    o = _obc(s, b)
    p = o.packet(_op("REBOOT"), {})  # REBOOT, refused in SESSION: authentic, so spent (SDLS)
    o.app.modes.mode = "SESSION"
    o.send_raw(p)
    o.run(40000)
    o.app.modes.mode = "SAFE"
    o.send_raw(p)
    o.run(40000)
    assert [v[2] for v in _verify(o)] == ["WRONG_MODE", "REPLAY"]
    assert o.app.reboot_requested is False
    a = o.send(_op("PING"), key_id=2, key=K2)  # a key id not in the ring
    c = o.send(_op("PING"), key=K3)  # a wrong MAC
    assert _verify_pairs(a) == _verify_pairs(c) == [("accept", False, "AUTH", None)]
    for n in ("replay.a", "replay.b"):
        if n in s.blobs:
            del s.blobs[n]
    o2 = _obc(s, b, counter=o.counter)
    assert o2.app.replay.state == RESYNC and o2.app.replay.nonce != 0
    o2.run(1100000)
    o2.reports()
    assert _verify_pairs(o2.send(_op("PING"))) == [("accept", False, "REPLAY", "resync needed")]
    r = o2.send(_op("COUNTER_RESYNC"), {"nonce": o2.app.replay.nonce, "floor": 500})
    assert [x[:3] for x in _verify_pairs(r)] == [("accept", True, None), ("complete", True, None)]
    assert r[1]["result"]["mark"] == 500 and o2.app.replay.state == SYNCED
    o2.counter = 500
    assert [x[1] for x in _verify_pairs(o2.send(_op("PING"), key=DEV_KEY))] == [True, True]


def _verify_pairs(reps):
    out = []
    for r in reps:
        out.append((r["stage"], r["ok"], r["reason"], r.get("detail")))
    return out

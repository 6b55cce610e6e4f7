"""Parameters and power-safe persistence (DESIGN §3.7, issue 3).

The central property: a power loss at *any* octet of a save, whichever slot it lands in,
never loses the last good record.  ``MemStorage.tear_after = k`` makes the next write
store only its first ``k`` octets and raise ``PowerLoss`` (the processor dies there); the
payload is then rebooted on the same storage (a new FlightApp).
"""

import math

import pytest

from flight import cbor
from flight.app import FlightApp
from flight.cmddict import BY_NAME, Refused
from flight.params import ParamDef, Params
from flight.slotstore import SlotStore, decode_slot, encode_slot
from flight.replay import RESERVE, ReplayGuard
from hal.errors import StorageError
from hal.sim.backup import MemBackup
from hal.sim.storage import FileStorage, MemStorage, PowerLoss
from tests.mpy.obc import Obc, core_board

DEFAULTS = {"temp_max_c": 60.0, "temp_min_c": -20.0, "current_max_ma": 1500,
            "limit_persist": 3, "timetag_capacity": 16, "tm_events_per_tick": 4}


def boot(storage):
    app = FlightApp(core_board(storage))
    app.boot()
    return app


def ring(app):
    """(name, text) of every event still in the RAM ring, oldest first."""
    out = []
    while True:
        e = app.events.pop()
        if e is None:
            return out
        out.append((app.events.name(e[3]), e[4]))
    return out


def names(app):
    return [n for n, _ in ring(app)]


def copy(storage):
    s = MemStorage()
    s.blobs = dict(storage.blobs)
    return s


def param_set(i):
    """A distinct, valid parameter set number ``i``."""
    return {"limit_persist": 1 + i % 50, "temp_max_c": 40.0 + i % 80, "current_max_ma": 100 + i}


def apply(app, values):
    for k, v in values.items():
        app.params.set(k, v)


def assert_loaded(app, values):
    for k, v in DEFAULTS.items():
        assert app.params[k] == values.get(k, v), (k, app.params[k], values)


# --------------------------------------------------------------------------- torn saves
def _prepared(n_saves):
    """Storage after ``n_saves`` good saves of param_set(1..n); returns (storage, last)."""
    s = MemStorage()
    app = boot(s)
    last = {}
    for i in range(1, n_saves + 1):
        last = param_set(i)
        apply(app, last)
        app.params.save()
    return s, last


def _record_len(base, values):
    s = copy(base)
    app = boot(s)
    before = dict(s.blobs)
    apply(app, values)
    app.params.save()
    changed = [k for k in s.blobs if s.blobs[k] != before.get(k) and k.startswith("params.")]
    assert len(changed) == 1
    return changed[0], len(s.blobs[changed[0]])


@pytest.mark.parametrize("n_saves,slot", [(0, "params.a"), (1, "params.b"), (2, "params.a"),
                                          (3, "params.b")])
def test_power_loss_at_every_octet_of_a_save_keeps_the_last_good_set(n_saves, slot):
    base, last_good = _prepared(n_saves)
    new = param_set(100)
    target, n = _record_len(base, new)
    assert target == slot  # the save alternates slots: both are exercised
    assert n > 40
    for k in range(n):
        s = copy(base)
        app = boot(s)
        assert_loaded(app, last_good)
        apply(app, new)
        s.tear_after = k
        with pytest.raises(PowerLoss):
            app.params.save()
        assert len(s.blobs[target]) == k  # torn: only the first k octets landed
        # Power comes back: the last good set (or the defaults before any save) loads.
        app2 = boot(s)
        assert_loaded(app2, last_good)
        ev = names(app2)
        if n_saves == 0:
            assert "PARAMS_CORRUPT" in ev  # a torn first save is a corrupt (not empty) store
        else:
            assert "PARAMS_CORRUPT" not in ev and "PARAMS_DEFAULTS" not in ev
        # ... and the store still works: the next save lands and is loaded after reboot.
        apply(app2, new)
        app2.params.save()
        assert_loaded(boot(s), new)


def test_power_loss_then_retry_without_reboot_does_not_overwrite_the_good_slot():
    """A torn save caught by PARAM_SAVE (storage error) and retried in the same boot."""
    base, last_good = _prepared(2)
    h = Obc(storage=copy(base))
    h.app.params.set("limit_persist", 42)
    h.board.storage.tear_after = 7
    h.board.storage.tear_only = "params."  # not the anti-replay record the TC writes first
    reps = h.send(BY_NAME["PARAM_SAVE"].opcode)
    assert reps[-1]["ok"] is False and reps[-1]["reason"] == "STORAGE"
    assert_loaded(boot(copy(h.board.storage)), last_good)
    reps = h.send(BY_NAME["PARAM_SAVE"].opcode)
    assert reps[-1]["ok"] is True
    got = boot(h.board.storage)
    assert got.params["limit_persist"] == 42


def test_power_loss_at_every_octet_of_the_anti_replay_record():
    s = MemStorage()
    b0 = MemBackup()  # the backup generation vouches for the older slot after a torn write
    g = ReplayGuard(s, b0)
    g.load()
    # Counters RESERVE + 1 apart: each one passes the reservation, so each is a save
    m1, m2, m3 = 1000, 1001 + RESERVE, 1002 + 2 * RESERVE
    g.advance(1, m1)
    g.advance(1, m2)  # both slots written: gen 1 and gen 2
    base = copy(s)
    rec_len = len(encode_slot(3, cbor.encode({"v": 2, "marks": {1: m3 + 2 * RESERVE},
                                              "base": {1: m3 + RESERVE}})))
    for slot_case in (0, 1):
        for k in range(rec_len):
            st = copy(base)
            b = MemBackup()
            b.words = list(b0.words)
            g = ReplayGuard(st, b)
            g.load()
            top = m3
            if slot_case:
                g.advance(1, m3)  # now the next save goes to the other slot
                top = m3 + RESERVE + 1
            st.tear_after = k
            with pytest.raises(PowerLoss):
                g.advance(1, top)
            assert g.last(1) == top  # RAM mark protects until the reboot ...
            g2 = ReplayGuard(st, b)
            g2.load()
            # ... and the exact mark in the backup registers after it (written first)
            assert g2.last(1) == top and not g2.corrupt
            assert g2.check(1, top) is not None and g2.check(1, top + 1) is None


# --------------------------------------------------------------------------- corruption
GARBAGE = [
    ("random", b"\x13\x37" * 20, b"\xff" * 64),
    ("empty_blobs", b"", b""),
    ("bad_crc", bytes(bytearray(encode_slot(5, cbor.encode({"limit_persist": 9})))[:-1]) + b"\0",
     encode_slot(6, cbor.encode({"limit_persist": 8}))[:-3] + b"abc"),
    ("bad_magic", b"XS" + encode_slot(5, b"\xa0")[2:], b"VT" + encode_slot(6, b"\xa0")[2:]),
]


@pytest.mark.parametrize("case", GARBAGE, ids=[g[0] for g in GARBAGE])
def test_corrupt_store_falls_back_to_defaults_with_an_event(case):
    s = MemStorage()
    s.blobs["params.a"] = case[1]
    s.blobs["params.b"] = case[2]
    app = boot(s)
    assert_loaded(app, {})
    ev = ring(app)
    assert ("PARAMS_CORRUPT", "parameter store corrupt: defaults loaded") in ev
    # The store recovers with the next save.
    app.params.set("limit_persist", 5)
    app.params.save()
    assert boot(s).params["limit_persist"] == 5


@pytest.mark.parametrize("payload", [b"\xff\xfe", cbor.encode([1, 2, 3]), cbor.encode(7),
                                     cbor.encode({"a": 1}) + b"\x00"])
def test_valid_slot_with_undecodable_or_wrong_shape_payload_is_corrupt(payload):
    s = MemStorage()
    s.blobs["params.a"] = encode_slot(1, payload)
    app = boot(s)
    assert_loaded(app, {})
    assert "PARAMS_CORRUPT" in names(app)


@pytest.mark.parametrize("payload", [b"\xff\xfe", cbor.encode([1, 2, 3]), cbor.encode(7)])
def test_a_crc_valid_newest_slot_that_is_no_set_falls_back_to_the_older_set(payload):
    """The newest slot's CRC checks but it holds no parameter map: the older valid set is
    used (STORE_FALLBACK), not the defaults (their limits may be wider than the saved)."""
    s = MemStorage()
    app = boot(s)
    apply(app, param_set(3))
    app.params.save()  # generation 1, in params.a
    s.blobs["params.b"] = encode_slot(2, payload)  # newer, and not a set
    app2 = boot(s)
    assert_loaded(app2, param_set(3))
    ev = names(app2)
    assert "STORE_FALLBACK" in ev and "PARAMS_CORRUPT" not in ev


def test_empty_store_loads_defaults_with_an_info_event():
    app = boot(MemStorage())
    assert_loaded(app, {})
    ev = names(app)
    assert "PARAMS_DEFAULTS" in ev and "PARAMS_CORRUPT" not in ev


def test_out_of_range_and_bad_stored_values_fall_back_per_parameter():
    s = MemStorage()
    stored = {
        "limit_persist": 1000,  # above max 50
        "temp_max_c": 70.0,  # fine
        "temp_min_c": -100.0,  # below min -60
        "current_max_ma": float("inf"),  # int parameter given infinity
        "timetag_capacity": "many",  # wrong type
        "tm_events_per_tick": 8,  # fine
        "no_such_param": 1,  # unknown (e.g. removed in this version)
    }
    SlotStore(s, "params").save(cbor.encode(stored))
    app = boot(s)
    assert app.params["temp_max_c"] == 70.0
    assert app.params["tm_events_per_tick"] == 8
    assert app.params["limit_persist"] == 3
    assert app.params["temp_min_c"] == -20.0
    assert app.params["current_max_ma"] == 1500
    assert app.params["timetag_capacity"] == 16
    ev = ring(app)
    invalid = [t for n, t in ev if n == "PARAM_INVALID"]
    assert len(invalid) == 5, invalid
    for name in ("limit_persist", "temp_min_c", "current_max_ma", "timetag_capacity",
                 "no_such_param"):
        assert any(name in t for t in invalid), name
    assert "PARAMS_CORRUPT" not in [n for n, _ in ev]


def test_nan_stored_for_a_float_parameter_is_invalid():
    s = MemStorage()
    SlotStore(s, "params").save(cbor.encode({"temp_max_c": float("nan"), "limit_persist": 4}))
    app = boot(s)
    assert app.params["temp_max_c"] == 60.0 and app.params["limit_persist"] == 4
    assert "PARAM_INVALID" in names(app)


def test_storage_read_errors_at_boot_do_not_stop_the_boot():
    s = MemStorage()
    app = boot(s)
    app.params.set("limit_persist", 6)
    app.params.save()
    s.fail_reads = True
    app2 = boot(s)  # every read raises StorageError
    assert app2.modes.mode == "SAFE"
    assert_loaded(app2, {})
    ev = names(app2)
    assert "STORAGE_ERROR" in ev and "PARAMS_CORRUPT" in ev
    assert "REPLAY_STATE_CORRUPT" in ev  # the anti-replay mark is unknown: said loudly
    s.fail_reads = False
    assert boot(s).params["limit_persist"] == 6


def test_boot_count_and_record_survive_reboots():
    s = MemStorage()
    assert [boot(s).boot_count for _ in range(3)] == [1, 2, 3]


def test_the_boot_count_saturates_and_its_record_stays_usable():
    s = MemStorage()
    app = boot(s)
    s.blobs["boot.a"] = encode_slot(50, cbor.encode({"boot_count": 0xFFFE}))
    s.blobs.pop("boot.b", None)
    counts = []
    for _ in range(3):
        a = boot(s)
        counts.append(a.boot_count)
        assert "STORE_FALLBACK" not in names(a)
    assert counts == [0xFFFF, 0xFFFF, 0xFFFF] and app.boot_count == 1


# --------------------------------------------------------------------------- slot store
def test_slot_store_alternates_and_loads_the_newest():
    s = MemStorage()
    st = SlotStore(s, "x")
    assert st.load() is None and st.corrupt_slots == 0
    for i in range(1, 6):
        st.save(b"rec%d" % i)
        assert st.generation == i
        assert SlotStore(s, "x").load() == b"rec%d" % i
    gens = sorted(decode_slot(s.blobs[n])[0] for n in ("x.a", "x.b"))
    assert gens == [4, 5]


def test_slot_store_save_without_load_never_overwrites_the_newest():
    s = MemStorage()
    s.blobs["x.a"] = encode_slot(5, b"five")
    s.blobs["x.b"] = encode_slot(4, b"four")
    st = SlotStore(s, "x")  # no load() first
    st.save(b"six")
    assert decode_slot(s.blobs["x.a"]) == (5, b"five")
    fresh = SlotStore(s, "x")
    assert fresh.load() == b"six" and fresh.generation == 6


def test_slot_store_one_corrupt_slot_counts_and_other_loads():
    s = MemStorage()
    st = SlotStore(s, "x")
    st.save(b"one")
    st.save(b"two")
    s.blobs["x.b"] = s.blobs["x.b"][:-1]
    st2 = SlotStore(s, "x")
    assert st2.load() == b"one" and st2.corrupt_slots == 1


@pytest.mark.parametrize("mutate", [
    lambda r: r[:-1], lambda r: r + b"\0", lambda r: b"\0" + r[1:],
    lambda r: r[:2] + b"\x02" + r[3:], lambda r: r[:9] + bytes([r[9] ^ 1]) + r[10:],
    lambda r: r[:7] + b"\x00\x09" + r[9:], lambda r: b"", lambda r: r[:10],
])
def test_decode_slot_rejects_every_damage(mutate):
    rec = encode_slot(3, b"payload!")
    assert decode_slot(rec) == (3, b"payload!")
    assert decode_slot(mutate(rec)) is None


def test_memstorage_tear_semantics():
    s = MemStorage()
    s.write("a", b"old")
    s.tear_after = 2
    with pytest.raises(PowerLoss):
        s.write("a", b"new data")
    assert s.read("a") == b"ne"
    assert s.tear_after is None  # one-shot
    s.tear_after = 1
    s.tear_only = "b"
    s.write("a", b"spared")  # another blob: written whole, the tear stays armed
    assert s.read("a") == b"spared" and s.tear_after == 1
    with pytest.raises(PowerLoss):
        s.write("b", b"torn")
    assert s.read("b") == b"t"
    s.tear_only = None
    s.write("a", b"whole")
    assert s.read("a") == b"whole"
    s.fail_writes = True
    with pytest.raises(StorageError):
        s.write("a", b"x")
    with pytest.raises(ValueError):
        s.write("../etc", b"x")


def test_file_storage_round_trip_and_restart(tmp_path):
    d = str(tmp_path / "state")
    fs = FileStorage(d)
    assert fs.read("params.a") is None and not fs.exists("params.a")
    app = FlightApp(core_board(fs))
    app.boot()
    app.params.set("limit_persist", 13)
    app.params.save()
    fs2 = FileStorage(d)  # a new process on the same state directory
    app2 = FlightApp(core_board(fs2))
    app2.boot()
    assert app2.params["limit_persist"] == 13 and app2.boot_count == 2
    snap = fs2.snapshot()
    assert "params.a" in snap and not any(k.endswith(".tmp") for k in snap)
    fs2.delete("params.a")
    assert fs2.read("params.a") is None
    with pytest.raises(ValueError):
        fs2.write("a/b", b"x")


# --------------------------------------------------------------------------- definitions
def test_param_definitions_and_checks():
    p = Params()
    p.declare((ParamDef("g", "float", 0.5, 0.0, 1.0, "1", "a gain"),
               ParamDef("n", "int", 3, 1, 10, "", ""),
               ParamDef("b", "bool", False, False, True, "", "")), "test")
    assert p.owner["g"] == "test"
    with pytest.raises(ValueError, match="defined twice"):
        p.declare((ParamDef("g", "float", 0.5, 0.0, 1.0, "", ""),))
    with pytest.raises(ValueError):
        ParamDef("s", "str", "x", 0, 1, "", "")
    with pytest.raises(Refused) as refused:
        ParamDef("bad", "int", 11, 1, 10, "", "")  # default out of range
    assert refused.value.reason == "BAD_ARG"
    assert p.set("g", 1) == 1.0 and isinstance(p["g"], float)
    assert p.set("n", 4.0) == 4 and isinstance(p["n"], int)
    for name, v in (("n", 4.5), ("n", True), ("n", float("inf")), ("n", float("nan")),
                    ("g", float("nan")), ("g", -math.inf), ("g", 1.5), ("b", 1), ("g", "1"),
                    ("zz", 1)):
        with pytest.raises(Refused) as refused:
            p.set(name, v)
        assert refused.value.reason == "BAD_ARG"
    assert (p["g"], p["n"], p["b"]) == (1.0, 4, False)
    seen = []
    p.listeners.append(lambda n, v: seen.append((n, v)))
    p.set("b", True)
    p.load_defaults()
    assert seen == [("b", True), (None, None)]
    assert p.snapshot() == {"g": 0.5, "n": 3, "b": False}
    assert [d["name"] for d in p.table()] == ["g", "n", "b"]
    with pytest.raises(ValueError):
        p.save()  # no storage
    assert p.load() == "empty"

"""The fail-secure key store (flight/keystore.py), attacked the way issue 12 describes:
damaged slots, wrong field types, a rolled-back key record, the development key."""

import math

import pytest

from flight import cbor
from flight.keys import DEV_KEY
from flight.keystore import (
    BK_KEY_FLOOR,
    EV_BACKUP_FAILED,
    EV_KEY_FILE_REJECTED,
    EV_KEY_STORE_FALLBACK,
    EV_NO_USABLE_KEY,
    PAIR_BLANK,
    PAIR_CORRUPT,
    BackupMirror,
    KeyStore,
)
from flight.slotstore import SlotStore, encode_slot
from hal.sim.backup import FileBackup, MemBackup
from hal.sim.storage import MemStorage

K2 = bytes(range(32))
K3 = bytes(range(1, 33))
K4 = bytes(range(2, 34))


def make(storage=None, backup=None, file_keys=None, file_error=None, dev=False):
    evs = []
    ks = KeyStore(storage if storage is not None else MemStorage(), backup,
                  emit=lambda i, a=None, d="": evs.append((i, a, d)), dev_allowed=dev)
    ks.load(file_keys, file_error)
    return ks, [e[0] for e in evs], evs


def test_provisioned_keys_persist_and_the_file_is_not_needed_afterwards():
    s = MemStorage()
    ks, ev, _ = make(s, file_keys={2: K2, 3: K3})
    assert ks.usable() and ks.active == 2 and ks.key(3) == K3
    ks2, ev2, _ = make(s)  # key file gone
    assert ks2.active == 2 and ks2.key(2) == K2 and EV_NO_USABLE_KEY not in ev2


def test_no_key_at_all_is_no_usable_key_never_the_dev_key():
    ks, ev, _ = make(MemStorage())
    assert not ks.usable() and ks.active == 0
    assert ks.key(1) is None and not ks.is_dev()
    assert EV_NO_USABLE_KEY in ev
    # and every housekeeping period again
    got = []
    ks._emit = lambda i, a=None, d="": got.append(i)
    assert ks.hk_tick() is False and ks.hk_tick() is False
    assert got == [EV_NO_USABLE_KEY, EV_NO_USABLE_KEY]


def test_damaged_key_file_without_store_is_no_usable_key():
    ks, ev, _ = make(MemStorage(), file_error="line 1: key is not hexadecimal")
    assert not ks.usable() and EV_KEY_FILE_REJECTED in ev and EV_NO_USABLE_KEY in ev


def test_damaged_key_file_with_store_keeps_the_stored_keys():
    s = MemStorage()
    make(s, file_keys={2: K2})
    ks, ev, _ = make(s, file_error="truncated")
    assert ks.active == 2 and EV_KEY_FILE_REJECTED in ev and EV_NO_USABLE_KEY not in ev


def test_dev_key_only_with_the_bench_flag_and_nothing_else():
    ks, _, _ = make(MemStorage(), dev=True)
    assert ks.active == 1 and ks.key(1) == DEV_KEY and ks.is_dev()
    # flag present but the key file damaged: not a fallback
    ks, ev, _ = make(MemStorage(), file_error="garbage", dev=True)
    assert not ks.usable() and ks.key(1) is None
    # dev key stored on the bench, flag removed for flight: dropped and retired
    s = MemStorage()
    make(s, dev=True)
    ks, ev, _ = make(s, file_keys={2: K2})
    assert ks.key(1) is None and not ks.is_dev() and 1 in ks.retired and ks.active == 2
    assert EV_KEY_FILE_REJECTED in ev


def test_dev_key_in_a_key_file_refused_without_flag():
    ks, ev, _ = make(MemStorage(), file_keys={1: DEV_KEY})
    assert not ks.usable() and EV_KEY_FILE_REJECTED in ev


def test_rotation_retires_lower_ids_for_ever():
    s = MemStorage()
    b = MemBackup()
    ks, _, _ = make(s, b, file_keys={2: K2, 3: K3, 4: K4})
    assert ks.check_rotate(2) is not None  # not above the active
    ks.rotate(3)
    assert ks.active == 3 and ks.key(2) is None and 2 in ks.retired
    assert ks.check_rotate(2) is not None and ks.check_rotate(99) is not None
    with pytest.raises(ValueError):
        ks.rotate(2)
    ks2, _, _ = make(s, b, file_keys={2: K2, 3: K3, 4: K4})  # key file re-read: no effect
    assert ks2.active == 3 and ks2.key(2) is None


def test_rolled_back_key_record_cannot_bring_back_a_retired_key():
    s = MemStorage()
    b = MemBackup()
    make(s, b, file_keys={2: K2, 3: K3})
    before = dict(s.blobs)  # the operator's (or attacker's) copy of the flash
    ks, _, _ = make(s, b)
    ks.rotate(3)
    s.blobs = before  # flash restored: the record says active 2, nothing retired
    ks2, _, _ = make(s, b, file_keys={2: K2, 3: K3})
    assert ks2.active == 3 and ks2.key(2) is None and 2 in ks2.retired
    # both key slots deleted and the key file re-provisioned: the floor still holds
    s.blobs.pop("keys.a")
    s.blobs.pop("keys.b", None)
    ks3, _, _ = make(s, b, file_keys={2: K2, 3: K3})
    assert ks3.active == 3 and ks3.key(2) is None


def test_a_corrupt_key_floor_never_brings_back_a_retired_key():
    """One upset in the floor's pair (or an unreadable register) together with a rolled
    back key record: the floor is unknown, so only the highest usable id is accepted
    (said), and the pair is written back — never read as 0 and rewritten lower."""
    s, b = MemStorage(), MemBackup()
    make(s, b, file_keys={2: K2, 3: K3})
    before = dict(s.blobs)
    ks, _, _ = make(s, b)
    ks.rotate(3)
    s.blobs = before  # the record rolled back: active 2, nothing retired
    b.words[BK_KEY_FLOOR] ^= 1  # the floor's pair no longer checks
    ks2, ev, evs = make(s, b, file_keys={2: K2, 3: K3})
    assert ks2.active == 3 and ks2.key(2) is None and 2 in ks2.retired
    assert EV_KEY_STORE_FALLBACK in ev
    assert any("key floor" in e[2] and "(3)" in e[2] for e in evs)
    assert BackupMirror(b).get(BK_KEY_FLOOR) == 3  # repaired upwards
    # a register that cannot be read at all: the same, and the failure reported
    b.fail = True
    ks3, ev3, _ = make(s, b, file_keys={2: K2, 3: K3})
    assert ks3.active == 3 and ks3.key(2) is None
    assert EV_KEY_STORE_FALLBACK in ev3 and EV_BACKUP_FAILED in ev3


def test_a_lost_key_store_is_said_when_the_floor_knows_keys_were_active():
    s, b = MemStorage(), MemBackup()
    ks, _, _ = make(s, b, file_keys={2: K2, 3: K3})
    ks.rotate(3)
    s.blobs.clear()  # both slots gone (not damaged: nothing to fall back from)
    ks2, ev, evs = make(s, b, file_keys={2: K2, 3: K3})
    assert ks2.active == 3 and ks2.key(2) is None
    assert EV_KEY_STORE_FALLBACK in ev and any("key store missing" in e[2] for e in evs)


def test_backup_register_failures_are_counted_and_said_without_flooding():
    b = MemBackup()
    said = []
    m = BackupMirror(b, emit=lambda i, a=None, d="": said.append((i, a, d)))
    assert m.put(BK_KEY_FLOOR, 3) and said == [] and m.errors == 0
    b.fail = True
    for _ in range(9):
        assert m.put(BK_KEY_FLOOR, 4) is False
    assert m.get(BK_KEY_FLOOR) == PAIR_CORRUPT
    assert m.errors == 10  # every failure counted (HK diag backup_errors) ...
    # ... and said at the 1st, 2nd, 4th and 8th
    assert [a for _i, a, _d in said] == [[1, BK_KEY_FLOOR], [2, BK_KEY_FLOOR],
                                         [4, BK_KEY_FLOOR], [8, BK_KEY_FLOOR]]
    assert {i for i, _a, _d in said} == {EV_BACKUP_FAILED} and "write" in said[0][2]
    ks, _, _ = make(MemStorage(), b, file_keys={2: K2})
    vals = [0, 0]
    ks.hk_diag(vals, 0)
    assert vals[1] == ks.mirror.errors > 0


@pytest.mark.parametrize("damage", ["truncate", "bitflip", "garbage", "empty", "delete"])
def test_one_damaged_slot_falls_back_with_an_event(damage):
    s = MemStorage()
    ks, _, _ = make(s, file_keys={2: K2, 3: K3})
    ks.rotate(3)  # second save: both slots hold a record, the newest says active 3
    newest = "keys.a" if SlotStore(s, "keys").load() and SlotStore(s, "keys").used == 0 \
        else "keys.b"
    raw = bytearray(s.blobs[newest])
    if damage == "truncate":
        s.blobs[newest] = bytes(raw[:len(raw) // 2])
    elif damage == "bitflip":
        raw[12] ^= 0x10
        s.blobs[newest] = bytes(raw)
    elif damage == "garbage":
        s.blobs[newest] = b"\xa5" * len(raw)
    elif damage == "empty":
        s.blobs[newest] = b""
    else:
        del s.blobs[newest]
    ks2, ev, evs = make(s)
    assert ks2.active == 2 and ks2.usable()  # the older record (no backup floor here)
    if damage != "delete":
        assert EV_KEY_STORE_FALLBACK in ev
        detail = [e[2] for e in evs if e[0] == EV_KEY_STORE_FALLBACK][0]
        assert newest in detail and "used" in detail


@pytest.mark.parametrize("bad", [
    {"v": 1, "keys": {2: K2}, "active": "x", "retired": []},
    {"v": 1, "keys": {2: K2}, "active": math.nan, "retired": []},
    {"v": 1, "keys": {2: K2}, "active": [2], "retired": []},
    {"v": 1, "keys": {2: K2}, "active": True, "retired": []},
    {"v": 1, "keys": {2: K2[:31]}, "active": 2, "retired": []},
    {"v": 1, "keys": {2: "k" * 32}, "active": 2, "retired": []},
    {"v": 1, "keys": {0: K2}, "active": 0, "retired": []},
    {"v": 1, "keys": {2: K2}, "active": 2, "retired": [2]},
    {"v": 1, "keys": {2: K2}, "active": 2, "retired": "none"},
    {"v": 1, "keys": [K2], "active": 2, "retired": []},
    {"v": 2, "keys": {2: K2}, "active": 2, "retired": []},
    [1, 2, 3],
])
def test_crc_valid_records_with_wrong_types_are_rejected(bad):
    s = MemStorage()
    s.blobs["keys.a"] = encode_slot(7, cbor.encode(bad))
    ks, ev, _ = make(s)
    assert not ks.usable() and EV_KEY_STORE_FALLBACK in ev and EV_NO_USABLE_KEY in ev


def test_a_bad_newest_record_uses_the_older_slot():
    s = MemStorage()
    s.blobs["keys.a"] = encode_slot(3, cbor.encode({"v": 1, "keys": {2: K2}, "active": 2,
                                                    "retired": []}))
    s.blobs["keys.b"] = encode_slot(4, cbor.encode({"v": 1, "keys": {2: K2},
                                                    "active": float("nan"), "retired": []}))
    ks, ev, evs = make(s)
    assert ks.active == 2 and EV_KEY_STORE_FALLBACK in ev
    assert "keys.b rejected (content)" in evs[0][2]


def test_unreadable_storage_is_no_usable_key():
    s = MemStorage()
    make(s, file_keys={2: K2})
    s.fail_reads = True
    ks, ev, _ = make(s)
    assert not ks.usable() and EV_KEY_STORE_FALLBACK in ev and EV_NO_USABLE_KEY in ev


def test_backup_pairs_blank_valid_corrupt(tmp_path):
    b = MemBackup()
    m = BackupMirror(b)
    assert m.get(BK_KEY_FLOOR) == PAIR_BLANK
    assert m.put(BK_KEY_FLOOR, 7) and m.get(BK_KEY_FLOOR) == 7
    b.words[BK_KEY_FLOOR + 1] ^= 1
    assert m.get(BK_KEY_FLOOR) == PAIR_CORRUPT
    b.fail = True
    assert m.get(BK_KEY_FLOOR) == PAIR_CORRUPT and not m.put(BK_KEY_FLOOR, 8)
    assert BackupMirror(None).get(BK_KEY_FLOOR) == PAIR_BLANK
    f = tmp_path / "backup.bin"
    fb = FileBackup(str(f))
    BackupMirror(fb).put(BK_KEY_FLOOR, 9)
    assert BackupMirror(FileBackup(str(f))).get(BK_KEY_FLOOR) == 9
    f.write_bytes(b"\x01\x02")  # short file: reads as blank, like a lost battery
    assert BackupMirror(FileBackup(str(f))).get(BK_KEY_FLOOR) == PAIR_BLANK

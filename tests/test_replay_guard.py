"""The anti-replay guard (flight/replay.py) attacked through its store: deleted, garbage,
truncated, bit-flipped and unreadable slots, a rolled-back state directory, counter
0xFFFFFFFF; and the RESYNC way out."""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight import cbor
from flight.keystore import BK_REPLAY_GEN, BK_REPLAY_KID, BackupMirror
from flight.replay import (
    EV_COUNTER_NEAR_EXHAUSTION,
    EV_COUNTER_RESYNC_NEEDED,
    EV_COUNTER_RESYNCED,
    EV_REPLAY_STORE_FALLBACK,
    COUNTER_MAX,
    FIRST_MAX,
    RESERVE,
    RESYNC,
    RESYNC_EVENT_EVERY,
    SYNCED,
    WARN_AT,
    WINDOW,
    ReplayGuard,
)
from flight.slotstore import SlotStore, encode_slot
from hal.real.backup import PWR_CR1, PWR_CR1_DBP, RTC_BKP0R, Stm32BackupRegisters
from hal.sim.backup import FileBackup, MemBackup
from hal.sim.storage import FileStorage, MemStorage, PowerLoss


def seeded(seed=1):
    r = random.Random(seed)
    return lambda n: bytes(r.getrandbits(8) for _ in range(n))


def guard(storage, backup=None, seed=1):
    evs = []
    g = ReplayGuard(storage, backup, emit=lambda i, a=None, d="": evs.append((i, a, d)),
                    rng=seeded(seed))
    g.load()
    return g, evs


def ids(evs):
    return [e[0] for e in evs]


# Counters each past the reservation of the one before: every one a flash save.
C = [1 + k * (RESERVE + 1) for k in range(12)]


def used(storage, n=3, backup=None):
    """A guard that accepted counters C[0..n-1] for key 2 (a save each: both slots
    used); the mark is C[n-1]."""
    g, _ = guard(storage, backup)
    for c in C[:n]:
        assert g.check(2, c) is None
        g.advance(2, c)
    return g


def test_window_and_replay():
    g, ev = guard(MemStorage())
    assert g.state == SYNCED and ev == []
    assert g.check(2, 0) is not None
    assert g.check(2, 1) is None
    g.advance(2, 10)
    assert g.check(2, 10) == "counter 10 not above 10"
    assert g.check(2, 9) is not None
    assert g.check(2, 10 + WINDOW) is None
    assert "window" in g.check(2, 11 + WINDOW)


def test_counter_ffffffff_does_not_lock_the_link():
    s, b = MemStorage(), MemBackup()
    g = used(s, backup=b)
    assert "window" in g.check(2, 0xFFFFFFFF)  # rejected: the mark stays
    assert g.last(2) == C[2] and g.check(2, C[2] + 1) is None
    g2, _ = guard(s, b)
    assert g2.check(2, C[2] + 1) is None


def test_mark_survives_reboot_and_old_counters_stay_replays():
    s, b = MemStorage(), MemBackup()
    used(s, 5, b)
    g, ev = guard(s, b)  # the exact mark from the backup registers
    assert g.state == SYNCED and ev == [] and g.last(2) == C[4]
    assert g.check(2, C[3]) is not None and g.check(2, C[4]) is not None
    assert g.check(2, C[4] + 1) is None
    g, ev = guard(s)  # no backup registers: the reservation, never lower
    assert g.state == SYNCED and ev == [] and g.last(2) == C[4] + RESERVE
    assert g.check(2, C[4]) is not None and g.check(2, C[4] + RESERVE + 1) is None


def test_near_exhaustion_warns_once_well_before():
    g, ev = guard(MemStorage())
    g.hwm[2] = WARN_AT - 1
    g.advance(2, WARN_AT + 1)
    g.advance(2, WARN_AT + 2)
    assert ids(ev).count(EV_COUNTER_NEAR_EXHAUSTION) == 1
    assert ev[0][1] == [2, 0xFFFFFFFF - WARN_AT - 1]
    assert 0xFFFFFFFF - WARN_AT >= 1 << 24  # 16.7 M counters of warning


def damage(storage, name, how):
    raw = bytearray(storage.blobs[name])
    if how == "delete":
        del storage.blobs[name]
    elif how == "empty":
        storage.blobs[name] = b""
    elif how == "truncate":
        storage.blobs[name] = bytes(raw[:-3])
    elif how == "bitflip":
        raw[len(raw) // 2] ^= 0x04
        storage.blobs[name] = bytes(raw)
    elif how == "garbage":
        storage.blobs[name] = bytes((i * 37 + 11) & 0xFF for i in range(len(raw)))


def newest(storage, name="replay"):
    st = SlotStore(storage, name)
    st.load()
    return st.blob(st.used), st.blob(1 - st.used)


@pytest.mark.parametrize("how", ["delete", "empty", "truncate", "bitflip", "garbage"])
@pytest.mark.parametrize("with_backup", [False, True])
def test_both_slots_lost_is_resync(how, with_backup):
    s = MemStorage()
    b = MemBackup() if with_backup else None
    used(s, 3, b)
    for n in ("replay.a", "replay.b"):
        damage(s, n, how)
    g, ev = guard(s, b)
    if how == "delete" and not with_backup:
        # undetectable without the backup words: looks like a factory-fresh board
        assert g.state == SYNCED
        return
    assert g.state == RESYNC and g.nonce != 0
    assert ev[0][0] == EV_COUNTER_RESYNC_NEEDED and ev[0][1] == [g.nonce]
    assert g.check(2, C[1]) == "resync needed" and g.check(2, C[9]) == "resync needed"


@pytest.mark.parametrize("how", ["delete", "empty", "truncate", "bitflip", "garbage"])
@pytest.mark.parametrize("with_backup", [False, True])
def test_newest_slot_damaged_older_not_used_silently(how, with_backup):
    s = MemStorage()
    b = MemBackup() if with_backup else None
    used(s, 3, b)
    new, old = newest(s)
    damage(s, new, how)
    g, ev = guard(s, b)
    if how == "delete" and not with_backup:
        assert g.state == SYNCED  # one slot alone: as after the first save (documented)
        return
    assert g.state == RESYNC, ev
    assert g.check(2, C[2]) == "resync needed"  # the TC with counter C[2] not replayable


def test_torn_save_with_backup_keeps_the_mark_current():
    """A power loss tearing the newest write leaves the older slot *current*: the backup
    generation was not advanced yet, so no resync is needed (just an event)."""
    s = MemStorage()
    b = MemBackup()
    g = used(s, 3, b)
    s.tear_after = 5
    with pytest.raises(PowerLoss):
        g.advance(2, C[3])  # past the reservation: a flash save, torn
    g2, ev = guard(s, b)
    # the exact mark went to the backup registers before the flash: C[3] stays a replay
    assert g2.state == SYNCED and g2.last(2) == C[3]
    assert EV_REPLAY_STORE_FALLBACK in ids(ev)


def test_unreadable_store_is_resync():
    s = MemStorage()
    used(s)
    s.fail_reads = True
    g, ev = guard(s)
    assert g.state == RESYNC and "unreadable" in ev[0][2]


@pytest.mark.parametrize("bad", [{"v": 1, "marks": {2: "x"}}, {"v": 1, "marks": {2: -1}},
                                 {"v": 1, "marks": {2: float("nan")}}, {"v": 1, "marks": [3]},
                                 {"v": 1, "marks": {2: 2 ** 32}}, {"v": 1, "marks": {2: True}},
                                 {"marks": {2: 3}}, "3"])
def test_crc_valid_records_with_wrong_types_are_resync(bad):
    s = MemStorage()
    s.blobs["replay.a"] = encode_slot(4, cbor.encode(bad))
    g, ev = guard(s)
    assert g.state == RESYNC and "content" in g.why


def test_state_directory_rollback_detected_with_the_backup_file(tmp_path):
    state = tmp_path / "state"
    bfile = str(tmp_path / "state.backup")  # beside the state directory
    s = FileStorage(str(state))
    used(s, 3, FileBackup(bfile))
    copy = {n: (state / n).read_bytes() for n in ("replay.a", "replay.b")}
    g, _ = guard(FileStorage(str(state)), FileBackup(bfile))
    for c in C[3:6]:
        g.advance(2, c)  # the TCs an attacker recorded after the copy
    for n, data in copy.items():
        (state / n).write_bytes(data)  # state directory rolled back
    g2, ev = guard(FileStorage(str(state)), FileBackup(bfile))
    assert g2.state == RESYNC and "older than backup" in g2.why
    assert g2.check(2, C[3]) == "resync needed"
    # restoring the backup file too is the documented undetectable case
    g3, _ = guard(FileStorage(str(state)), MemBackup())
    assert g3.state == SYNCED


def test_resync_needs_the_published_nonce_and_raises_the_floor():
    s = MemStorage()
    b = MemBackup()
    used(s, 3, b)
    s.blobs.clear()
    g, ev = guard(s, b, seed=5)
    assert g.state == RESYNC
    n = g.nonce
    assert g.check_resync(n ^ 1) is not None
    with pytest.raises(ValueError):
        g.resync(2, 1, n ^ 1, 100)
    assert g.state == RESYNC
    f = C[2] + 100  # above the mark C[2] the backup registers still hold
    assert g.resync(2, 7, n, f) == f
    assert g.state == SYNCED and g.nonce == 0
    assert ids(ev)[-1] == EV_COUNTER_RESYNCED and ev[-1][1] == [2, f]
    assert g.check(2, f) is not None and g.check(2, f + 1) is None
    assert g.check_resync(n) == "nonce: no resync pending"  # a recorded resync TC is dead
    g2, ev2 = guard(s, b)
    assert g2.state == SYNCED and g2.last(2) == f and ev2 == []


def test_resync_cannot_exhaust_the_counter_space():
    """One authentic COUNTER_RESYNC with floor or counter 0xFFFFFFFF would set the mark
    at the top of the counter space for good (no later TC, not even KEY_ROTATE, above
    it): both are bounded as a first counter is, or by the stale mark + the window."""
    s, b = MemStorage(), MemBackup()
    used(s, 3, b)
    s.blobs.clear()
    g, ev = guard(s, b, seed=5)
    n = g.nonce
    stale = g.last(2)
    assert stale == C[2] and g.resync_limit(2) == FIRST_MAX
    assert "floor: 4294967295 above the limit" in g.check_resync(n, 2, 7, 0xFFFFFFFF)
    assert "counter 4294967295 above the limit" in g.check_resync(n, 2, 0xFFFFFFFF, 100)
    with pytest.raises(ValueError):
        g.resync(2, 7, n, FIRST_MAX + 1)
    assert g.state == RESYNC and g.last(2) == stale  # nothing moved
    assert g.check_resync(n, 2, FIRST_MAX, FIRST_MAX) is None
    assert g.resync(2, 7, n, FIRST_MAX) == FIRST_MAX
    assert g.check(2, FIRST_MAX + 1) is None  # the ground can go on from there
    # a key id already used beyond the first-use limit: its stale mark + the window
    g.hwm[3] = COUNTER_MAX - 10 * WINDOW
    assert g.resync_limit(3) == COUNTER_MAX - 9 * WINDOW


def test_resync_floor_never_below_the_backup_registers_exact_mark():
    """Both slots lost, the backup registers kept: a COUNTER_RESYNC whose floor is too low
    (an operator's mistake) must not reopen the counters accepted before the loss."""
    s, b = MemStorage(), MemBackup()
    g, _ = guard(s, b)
    for c in range(10, 40):  # inside the first reservation: the exact mark is 39
        assert g.check(1, c) is None
        g.advance(1, c)
    s.blobs.clear()
    g2, _ = guard(s, b)
    assert g2.state == RESYNC
    assert g2.resync(1, 5, g2.nonce, 12) == 39
    assert g2.check(1, 39) is not None and g2.check(1, 20) is not None
    assert g2.check(1, 40) is None


def test_resync_floor_ignores_a_damaged_backup_key_word():
    s, b = MemStorage(), MemBackup()
    g, _ = guard(s, b)
    for c in range(10, 40):
        g.advance(1, c)
    s.blobs.clear()
    b.words[BK_REPLAY_KID] ^= 0x0100  # the key id's check byte no longer matches
    g2, _ = guard(s, b)
    assert g2.state == RESYNC
    assert g2.resync(1, 5, g2.nonce, 12) == 12  # nothing trusted below the ground's floor


def test_resync_after_rollback_moves_the_backup_generation_forward():
    s = MemStorage()
    b = MemBackup()
    used(s, 3, b)
    copy = dict(s.blobs)
    g, _ = guard(s, b)
    for c in C[3:7]:
        g.advance(2, c)
    top = BackupMirror(b).get(BK_REPLAY_GEN)
    s.blobs = dict(copy)
    g2, _ = guard(s, b)
    assert g2.state == RESYNC
    g2.resync(2, 1, g2.nonce, C[8])
    assert BackupMirror(b).get(BK_REPLAY_GEN) > top
    g3, ev = guard(s, b)
    assert g3.state == SYNCED and g3.last(2) == C[8]


def test_resync_nonce_fresh_per_boot_and_event_repeats():
    s = MemStorage()
    s.blobs["replay.a"] = b"garbage"
    g1, _ = guard(s, seed=1)
    g2, _ = guard(s, seed=2)
    assert g1.nonce != g2.nonce
    ev = []
    g1._emit = lambda i, a=None, d="": ev.append(i)
    for _ in range(RESYNC_EVENT_EVERY):
        g1.hk_tick()
    assert ev == [EV_COUNTER_RESYNC_NEEDED]


def test_corrupt_backup_is_resync():
    s = MemStorage()
    b = MemBackup()
    used(s, 3, b)
    b.words[BK_REPLAY_GEN] ^= 0x100
    g, _ = guard(s, b)
    assert g.state == RESYNC


class FakeMem:
    def __init__(self):
        self.m = {}

    def __getitem__(self, a):
        return self.m.get(a, 0)

    def __setitem__(self, a, v):
        # the backup domain ignores writes until PWR_CR1.DBP is set
        if RTC_BKP0R <= a < RTC_BKP0R + 128 and not self.m.get(PWR_CR1, 0) & PWR_CR1_DBP:
            return
        self.m[a] = v & 0xFFFFFFFF


def test_stm32_backup_registers_on_mem32():
    mem = FakeMem()
    r = Stm32BackupRegisters(mem)
    r.init()
    r.write(3, 0xDEADBEEF)
    assert mem.m[RTC_BKP0R + 12] == 0xDEADBEEF and r.read(3) == 0xDEADBEEF
    with pytest.raises(ValueError):
        r.write(8, 1)
    with pytest.raises(ValueError):
        r.read(-1)


def test_backup_file_default_lies_beside_the_state_directory(tmp_path):
    from flight.__main__ import backup_path, seeded_rng

    d = tmp_path / "state"
    assert backup_path(str(d)) == str(tmp_path / "state.backup")
    assert backup_path(str(d) + "/") == str(tmp_path / "state.backup")
    assert seeded_rng(None) is None  # no --seed: os.urandom, as on the board
    assert seeded_rng(3)(8) == seeded_rng(3)(8) and seeded_rng(3)(8) != seeded_rng(4)(8)


# ------------------------------------------------------------------ fuzzing the records

_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 40, 2 ** 40), st.floats(),
                  st.binary(max_size=40), st.text(max_size=8))
_obj = st.recursive(_leaf, lambda c: st.one_of(
    st.lists(c, max_size=4), st.dictionaries(st.one_of(st.integers(-3, 300), st.text(max_size=8)),
                                             c, max_size=4)), max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.one_of(st.binary(max_size=80), _obj.map(lambda o: cbor.encode(o))))
def test_any_crc_valid_slot_content_is_safe(payload):
    """Whatever a CRC-valid slot holds: no exception escapes the loads; the key store is
    either unusable or holds 32-octet keys; the guard is SYNCED only with u32 marks."""
    from flight.keystore import KeyStore

    s = MemStorage()
    s.blobs["replay.a"] = encode_slot(3, payload)
    s.blobs["keys.a"] = encode_slot(3, payload)
    g, _ = guard(s)
    assert g.state in (SYNCED, RESYNC)
    for k, v in g.hwm.items():
        assert isinstance(k, int) and 0 <= v <= 0xFFFFFFFF
    ks = KeyStore(s)
    ks.load()
    if ks.usable():
        assert all(len(v) == 32 for v in ks.keys.values())


# ------------------------------------------------- flash wear: reservations (NAV_STATE)
class CountingStorage(MemStorage):
    """Counts the writes of the anti-replay record (its two slots)."""

    def __init__(self):
        super().__init__()
        self.replay_writes = 0

    def write(self, name, data):
        if name.startswith("replay."):
            self.replay_writes += 1
        return super().write(name, data)


def test_an_hour_of_nav_state_costs_one_flash_write():
    """The OBC's NAV_STATE: one authenticated TC a second through a session.  Saving the
    mark at every TC was 3,600 flash writes an hour (475,200 over 5.5 days); with the
    reservation it is one an hour (132 over 5.5 days)."""
    s, b = CountingStorage(), MemBackup()
    g, _ = guard(s, b)
    hour = 3600
    c0 = 1000
    for c in range(c0, c0 + hour):  # one hour of NAV_STATE at 1 Hz
        assert g.check(1, c) is None
        g.advance(1, c)
    assert s.replay_writes == 1 and g.saves == 1
    for c in range(c0 + hour, c0 + 3 * hour):
        g.advance(1, c)
    assert s.replay_writes == 3  # one more per hour
    assert 5.5 * 24 * hour == 475200  # writes over 5.5 days of 1 Hz before: one per TC


def test_after_a_reboot_no_counter_accepted_before_is_accepted_again():
    """Random runs of advances and reboots, with the backup registers kept, cleared (a
    backup-domain reset), failing, and flash saves torn by a power loss: after every boot
    each counter accepted before is a REPLAY (or the guard is in RESYNC).  Key 1, then
    (KEY_ROTATE: key 1 retired for ever by the key store) key 2; a RESYNC is answered
    with the active key and the highest counter the ground used as the floor."""
    rnd = random.Random(7)
    for run in range(60):
        s, b = MemStorage(), MemBackup()
        accepted = {}  # key id -> highest counter ever accepted
        kid = 1
        g, _ = guard(s, b, seed=run)
        for _boot in range(6):
            for _ in range(rnd.randrange(1, 12)):
                if g.state != SYNCED:
                    g.resync(kid, 1, g.nonce, accepted.get(kid, 0))
                if kid == 1 and rnd.random() < 0.05:
                    kid = 2
                    accepted.pop(1, None)  # retired: the key store refuses it
                c = g.last(kid) + rnd.choice((1, 2, 50, RESERVE - 1, RESERVE, RESERVE + 7))
                if g.check(kid, c) is not None:
                    continue
                b.fail = backup_failed = rnd.random() < 0.1
                if rnd.random() < 0.1:
                    s.tear_after = rnd.randrange(0, 40)
                try:
                    g.advance(kid, c)
                    lost = False
                except PowerLoss:
                    lost = True  # power lost in the flash write: the reboot comes now
                finally:
                    s.tear_after = None
                    b.fail = False
                # Power lost during the check, the TC never ran; the guard still holds
                # its counter (in the registers) unless they failed at that very moment
                # too (a double fault: the TC then simply never arrived).
                if not (lost and backup_failed):
                    accepted[kid] = max(accepted.get(kid, 0), c)
                if lost:
                    break
            how = rnd.choice(("kept", "kept", "cleared", "failing"))
            if how == "cleared":
                b.words = [0] * len(b.words)
            b.fail = how == "failing"
            g, _ = guard(s, b, seed=run)
            b.fail = False
            for kid, top in accepted.items():
                for c in (top, top - 1, top // 2 + 1):
                    assert g.check(kid, c) is not None, (run, how, kid, c, g.hwm)


def test_inside_the_reservation_the_exact_mark_is_restored():
    """The usual reboot (backup registers kept): the next counter of the ground goes
    through at once — no counters skipped, no flash write at boot."""
    s, b = CountingStorage(), MemBackup()
    g, _ = guard(s, b)
    for c in range(10, 20):
        g.advance(1, c)
    g2, ev = guard(s, b)
    assert g2.last(1) == 19 and g2.check(1, 20) is None and ev == []
    g2.advance(1, 20)
    assert s.replay_writes == 1  # still the first reservation
    # a failed backup write: the registers' mark is stale from there, never restored
    b.fail = True
    g2.advance(1, 21)
    b.fail = False
    assert s.replay_writes == 2  # the base moved up to the reservation
    g3, _ = guard(s, b)
    assert g3.last(1) == 10 + RESERVE and g3.check(1, 21) is not None

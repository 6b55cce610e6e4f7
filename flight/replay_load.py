"""The anti-replay guard's boot: its marks restored from the flash record and the backup
registers (flight/replay.py ``ReplayGuard.load``; the rules are in that module's
docstring).  Run once a boot: loaded for it (flight/lazy.py) and released after where
its code is frozen, so a pass does not hold it (issue 11)."""

from flight import cbor
from flight.keystore import BK_REPLAY_GEN, PAIR_BLANK, PAIR_CORRUPT
from flight.replay import COUNTER_MAX, EV_REPLAY_STORE_FALLBACK


def _is_u32(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= COUNTER_MAX


def parse_record(raw):
    """({key id: reservation}, {key id: base}) from a slot payload, checked field by field
    (ValueError if not).  A version-1 record (marks only, saved at every TC) reads as
    reservations with their base at the reservation: no backup mark below it is trusted."""
    d = cbor.decode(raw, max_depth=3, max_items=1200, max_str=16)
    if not isinstance(d, dict) or d.get("v") not in (1, 2) or \
            not isinstance(d.get("marks"), dict):
        raise ValueError("replay record")
    out = {}
    for kid, mark in d["marks"].items():
        if not _is_u32(kid) or not 1 <= kid <= 255 or not _is_u32(mark):
            raise ValueError("replay mark %r" % (kid,))
        out[kid] = mark
    base = {}
    if d["v"] == 2:
        b = d.get("base")
        if not isinstance(b, dict):
            raise ValueError("replay record base")
        for kid, v in b.items():
            if not _is_u32(v) or kid not in out or v > out[kid]:
                raise ValueError("replay base %r" % (kid,))
            base[kid] = v
    for kid in out:
        if kid not in base:
            base[kid] = out[kid]
    return out, base


def load(g):
    """Restore the marks of guard ``g`` (it has a store); enter RESYNC when they are not
    known to be current."""
    why = ""
    rec = None
    try:
        rec = g.store.load(parse_record)
    except Exception as e:
        why = "anti-replay store unreadable: %r" % (e,)
    b = g.mirror.get(BK_REPLAY_GEN)
    gen = g.store.generation
    if b > g._bgen:
        g._bgen = b
    if why:
        pass
    elif b == PAIR_CORRUPT:
        why = "backup generation unreadable or corrupt"
    elif rec is None:
        if g.store.corrupt_slots:
            why = "no valid slot: " + g.store.describe()
        elif b > 0:
            why = "both slots missing, backup generation %d" % b
    elif b > 0 and gen < b:
        why = "state generation %d older than backup generation %d (rollback or lost " \
              "newest slot)" % (gen, b)
    elif g.store.fallback and b == PAIR_BLANK:
        why = "newest slot damaged, no backup generation to vouch for the older: " + \
              g.store.describe()
    if rec is not None:
        g.reserved, g.base = rec
        g.hwm = dict(g.reserved)  # kept as a lower bound even in RESYNC
    if why:
        _backup_floor(g)
        g.enter_resync(why)
        return
    _restore_exact(g)
    if g.store.fallback:
        g.emit(EV_REPLAY_STORE_FALLBACK, None, g.store.describe())
    if rec is not None and gen != b:
        if b == PAIR_BLANK and g.mirror.dev is not None:
            g.emit(EV_REPLAY_STORE_FALLBACK, None,
                   "backup generation blank: re-armed at %d" % gen)
        g.mirror.put(BK_REPLAY_GEN, gen)
    for kid in g.hwm:
        g._check_exhaustion(kid)


def _backup_floor(g):
    """Entering RESYNC: the backup registers' exact mark, whatever the flash says,
    is a counter accepted before, so it joins the floor COUNTER_RESYNC cannot go
    below (it can only raise a mark: fail secure even if the words are stale)."""
    km = g.backup_exact()
    if km is not None and km[1] > g.hwm.get(km[0], 0):
        g.hwm[km[0]] = km[1]


def _restore_exact(g):
    """The exact mark from the backup registers instead of the reservation, where it
    is trusted (module docstring); never below a counter accepted before."""
    km = g.backup_exact()
    if km is None:
        return  # blank or damaged: the reservations stand
    kid, mark = km
    g._bk_kid = kid
    res = g.reserved.get(kid)
    if res is None or mark > res:
        g.hwm[kid] = mark  # the flash lost its newest write: the higher one
    elif mark >= g.base.get(kid, res):
        g.hwm[kid] = mark

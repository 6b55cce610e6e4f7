"""Anti-replay guard of the TC path (CCSDS SDLS 355.0-B semantics; docs/security.md).

Every authenticated TC carries a 32-bit counter.  Per key id the guard keeps a
*high-water mark* (the highest counter accepted) in two slots (flight/slotstore.py,
record ``replay``), and accepts a counter only inside the window

    mark < counter <= mark + WINDOW          (WINDOW = 65,536)

(a key id's first counter, with no mark yet, may be anywhere in 1..FIRST_MAX = 2**31-1:
benches start from time-based counters; never in the upper half, so it cannot exhaust
the space either),
so a lost TC or a skipped range costs nothing, but one authentic TC with counter
0xFFFFFFFF (or any far jump) cannot exhaust the counter space and lock the link.  The
mark advances on **successful authentication**, whatever happens to the TC afterwards
(DECODE, BAD_ARG, WRONG_MODE, BUSY): an authentic TC rejected once is never replayable.
When a mark passes WARN_AT (16.7 M counters before exhaustion; a key id's counter
space restarts at 0 after KEY_ROTATE) the guard raises COUNTER_NEAR_EXHAUSTION.

**RESYNC.**  When the mark is not known to be current, the guard accepts no ordinary TC
(the TC path rejects them with REPLAY, detail "resync needed").  That is the case when:

* both slots are unreadable, corrupt (CRC, truncated, garbage, wrong field types) or
  deleted while the backup registers say a record existed;
* the newest slot is damaged and no backup generation vouches for the older one;
* the record is older than the generation mirrored in the backup registers
  (hal.interfaces.BackupRegisters, words :data:`flight.keystore.BK_REPLAY_GEN`): the
  state directory was rolled back to an older copy, or lost its newest write.

It then publishes a fresh random 32-bit nonce (housekeeping and the event
COUNTER_RESYNC_NEEDED) and accepts one command only: ``COUNTER_RESYNC nonce=N floor=F``,
authenticated with an on-board key; its counter is not checked (the mark is unknown),
the nonce makes it fresh.  The mark becomes ``max(F, counter, stale mark)``, where the
stale mark is the highest of what the flash record still held, the exact mark in the
backup registers and the counters of the authentic TCs refused "resync needed" since the
boot (:meth:`spent_in_resync`): a floor given too low by the ground never reopens
counters accepted before, nor one authenticated during the RESYNC.  The floor and the command's counter are bounded as a first counter is: at most
``max(FIRST_MAX, stale mark + WINDOW)`` (:meth:`resync_limit`), else BAD_ARG — one
authentic COUNTER_RESYNC with floor or counter 0xFFFFFFFF would otherwise exhaust the key
id's counter space for good (no later TC, not even KEY_ROTATE, above the mark).

**Flash wear: marks reserved in blocks.**  The OBC's NAV_STATE (0x60) is an authenticated
TC at 1 Hz through every session; saving the mark at each TC was one flash write a second
(3,600 an hour; 475,200 over 5.5 days of NAV_STATE).  Now the flash record holds, per key
id, a *reservation* (``marks``): when an accepted counter passes it, the record is
rewritten with ``counter + RESERVE`` — one write per RESERVE (3,600) counters, an hour of
NAV_STATE — and ``base``, the counter it was written at.  Counters up to the reservation
are accepted without a flash write.  The exact mark of the key id in use goes to the
battery-backed backup registers (words BK_REPLAY_MARK, BK_REPLAY_KID of flight/keystore.py:
registers, no wear) *before* the flash, at every advance.  At boot a key id's mark is

* the exact mark from the backup registers, when it is valid for that key id and not
  below ``base`` (or above the reservation: the flash then lost its newest write);
* else the reservation itself: never lower than any counter accepted before (fail
  secure); the counters between the true mark and the reservation are skipped (the
  ground's next TC is rejected once, REPLAY "not above N", and the ground tool raises its
  counter above N).

A backup write that fails moves ``base`` up to the reservation (one flash write), so an
exact mark left stale in the registers is never restored.

**Undetectable** (docs/security.md): restoring an older state directory *together with*
the same older backup words (battery-backed registers on the payload computer: physical
access and a backup-domain reset), or deleting both state and backup words, which looks
like a factory-fresh board (marks 0).  A flash record forged with a valid CRC can only
*raise* marks (denial of service, not replay).
"""

from flight import cbor
from flight.cmddict import BadArg, CmdFailed
from flight.events import SEV_ERROR, SEV_WARN, Event
from flight import lazy
from flight.keystore import BK_REPLAY_GEN, BK_REPLAY_KID, BK_REPLAY_MARK, BackupMirror
from flight.slotstore import SlotStore
from flight.telemetry import HkField
from hal.compat import const

WINDOW = const(0x10000)  # counters accepted above the mark (ground tools read this)
COUNTER_MAX = 0xFFFFFFFF
FIRST_MAX = 0x7FFFFFFF  # highest first counter of a key id without a mark
WARN_AT = COUNTER_MAX - 0x1000000  # mark above this: COUNTER_NEAR_EXHAUSTION
SYNCED = const(0)
RESYNC = const(1)
STATE_NAMES = ("SYNCED", "RESYNC")
RESYNC_EVENT_EVERY = const(60)  # housekeeping periods between COUNTER_RESYNC_NEEDED repeats
# Counters reserved per flash write of the record: an hour of the OBC's 1 Hz NAV_STATE per
# write; after a boot without the backup registers' exact mark, at most this many
# counters are skipped (the 32-bit counter space lasts 1.19 M such boots).
RESERVE = const(3600)

EV_COUNTER_RESYNC_NEEDED = const(0x2C)
EV_COUNTER_RESYNCED = const(0x2D)
EV_COUNTER_NEAR_EXHAUSTION = const(0x2E)
EV_REPLAY_STORE_FALLBACK = const(0x2F)
EVENTS = (
    # Repeated every RESYNC_EVENT_EVERY housekeeping periods at INFO (not persisted: the
    # repeats must not flush the persistent log); the first of a boot is an ERROR.
    Event(EV_COUNTER_RESYNC_NEEDED, "COUNTER_RESYNC_NEEDED", SEV_ERROR,
          "anti-replay mark not known to be current: only COUNTER_RESYNC with this nonce",
          (("nonce", "int"),)),
    Event(EV_COUNTER_RESYNCED, "COUNTER_RESYNCED", SEV_WARN,
          "anti-replay mark set by COUNTER_RESYNC", (("key_id", "int"), ("mark", "int"))),
    Event(EV_COUNTER_NEAR_EXHAUSTION, "COUNTER_NEAR_EXHAUSTION", SEV_WARN,
          "anti-replay counter near 2**32: rotate the key", (("key_id", "int"), ("left", "int"))),
    Event(EV_REPLAY_STORE_FALLBACK, "REPLAY_STORE_FALLBACK", SEV_WARN,
          "anti-replay slot rejected or backup re-armed; the mark is current"),
)
HK = (
    HkField("replay_nonce", "u32", alarm=(0, 0),
            description="anti-replay RESYNC: the nonce a COUNTER_RESYNC must carry (0: the "
            "mark is current, no resync pending)"),
)
HK_DIAG = (
    HkField("replay_state", "u8", enum=STATE_NAMES,
            description="anti-replay: SYNCED, or RESYNC (only COUNTER_RESYNC accepted)"),
    HkField("replay_resyncs", "u16", description="COUNTER_RESYNC executed since boot"),
)


def default_rng(n):
    import os

    return os.urandom(n)


class ReplayGuard:
    """``emit(ev_id, args=None, detail="")``; ``backup``: a BackupRegisters device or a
    shared :class:`flight.keystore.BackupMirror`; ``rng(n)`` → n random octets
    (``os.urandom`` on the board; the simulator injects a seeded source)."""

    def __init__(self, storage, backup=None, emit=None, rng=None):
        self.store = SlotStore(storage, "replay") if storage is not None else None
        self.mirror = backup if isinstance(backup, BackupMirror) else BackupMirror(backup)
        self._emit = emit
        self.rng = rng if rng is not None else default_rng
        self.hwm = {}  # key id -> the exact mark (RAM)
        self.reserved = {}  # key id -> the reservation in flash (>= the mark)
        self.base = {}  # key id -> the lowest backup mark a boot may restore
        self._bk_kid = 0  # key id of the exact mark in the backup registers (0: none)
        self.saves = 0  # flash writes of the record since boot
        self.state = SYNCED
        self.nonce = 0  # 0: no resync pending
        self.why = ""  # why the guard is in RESYNC
        self.resyncs = 0
        self._warned = {}
        self._hk_ticks = 0
        self._bgen = 0  # highest backup generation seen: the next save goes above it
        self.auth = (0, 0)  # (key id, counter) of the TC being checked (flight/tc.py)

    @property
    def corrupt(self):
        """The mark is not known to be current (REPLAY_STATE_CORRUPT at boot)."""
        return self.state == RESYNC

    def emit(self, ev_id, args=None, detail=""):
        if self._emit is not None:
            self._emit(ev_id, args, detail)

    # ------------------------------------------------------------ boot
    def load(self):
        """Restore the marks; enter RESYNC when they are not known to be current.  The
        code runs once a boot: flight/replay_load.py, loaded for it and released after
        (issue 11); with no heap for it (MODULE_LOAD_FAILED) the marks are not known to
        be current: RESYNC (fail secure)."""
        if self.store is None:
            return
        try:
            m = lazy.load("flight.replay_load", self.emit)
        except lazy.LoadFailed:
            self.enter_resync("anti-replay load: no heap for its code")
            return
        try:
            m.load(self)
        finally:
            lazy.done("flight.replay_load")

    def enter_resync(self, why):
        self.state = RESYNC
        self.why = why
        self.nonce = self._fresh_nonce()
        self._hk_ticks = 0
        self.emit(EV_COUNTER_RESYNC_NEEDED, [self.nonce], why)

    def _fresh_nonce(self):
        while True:
            r = self.rng(4)
            n = (r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]
            if n and n != self.nonce:
                return n

    # ------------------------------------------------------------ the TC path
    def last(self, kid):
        return self.hwm.get(kid, 0)

    def check(self, kid, counter):
        """None if an ordinary TC with ``counter`` may be accepted, else the REPLAY
        detail.  Called after the MAC check only."""
        if self.state != SYNCED:
            return "resync needed"
        mark = self.hwm.get(kid)
        if mark is None:
            # a key id's first counter: anywhere in the lower half (time-based counters
            # of benches), never so high that one TC could exhaust the space
            if 0 < counter <= FIRST_MAX:
                return None
            return "counter %d above the first-use limit %d" % (counter, FIRST_MAX)
        if counter <= mark:
            # the ground tool reads the mark from this text (ground_tools/link.py); it is
            # no secret: only an authentic TC gets this far
            return "counter %d not above %d" % (counter, mark)
        if counter - mark > WINDOW:
            return "counter %d beyond the window: %d + %d" % (counter, mark, WINDOW)
        return None

    def spent_in_resync(self, kid, counter):
        """RESYNC, an authentic TC (flight/tc.py, before it is decided): the stale mark
        COUNTER_RESYNC cannot go below takes

        * the backup registers' exact mark, whatever path entered RESYNC (with no heap
          for flight/replay_load.py nothing was read: a low floor reopened counters
          accepted before the reboot);
        * this TC's counter — refused "resync needed", it still spends it (SDLS: the
          mark moves on authentication; with a floor and a counter of COUNTER_RESYNC
          below it, the TC recorded on the link was accepted after the resync).  Only
          up to :meth:`resync_limit` (one far counter must not exhaust the space), and
          in RAM: a reboot before the resync forgets it (the operator's floor, the
          highest counter the ground used, covers it then)."""
        km = self.backup_exact()
        if km is not None and km[1] > self.hwm.get(km[0], 0):
            self.hwm[km[0]] = km[1]
        if self.hwm.get(kid, 0) < counter <= self.resync_limit(kid):
            self.hwm[kid] = counter

    def backup_exact(self):
        """``(kid, mark)``: the exact mark in the backup registers, or None when they
        are absent, unreadable, blank or damaged."""
        m = self.mirror
        if m.dev is None:
            return None
        try:
            w = m.dev.read(BK_REPLAY_KID)
        except Exception:
            m.errors += 1
            return None
        kid = w & 0xFF
        if w >> 16 or kid == 0 or (w >> 8) != kid ^ 0xFF:
            return None
        mark = m.get(BK_REPLAY_MARK)
        if mark < 0:
            return None
        return kid, mark

    def advance(self, kid, counter):
        """Record ``counter`` as authenticated: RAM first (protects until reboot), then
        the exact mark in the backup registers, then — only when the counter passes the
        reservation, or a backup write failed — the flash record, then the backup
        generation (that order: a power loss in between leaves the flash ahead of the
        mirror, which load() accepts).  Raises on a storage error (the caller reports
        it; the RAM mark and the backup mark still protect)."""
        if counter <= self.hwm.get(kid, 0):
            return
        self.hwm[kid] = counter
        self._check_exhaustion(kid)
        self._reserve(kid, counter)

    def advance_held(self, kid, counter):
        """Spend ``counter`` of an authentic TC signed with a key id that is held for a
        later KEY_ROTATE but not active (flight/tc.py refuses it AUTH): as an accepted
        counter is spent — RAM, then the flash reservation — so that TC, recorded on the
        link, is REPLAY once KEY_ROTATE makes the id active (docs/security.md "Keys",
        audit O1).  Never the backup registers: they hold the active id's exact mark,
        which this must not displace; a boot therefore restores a held id's reservation
        (fail secure: the ground's next counter of that id may be refused once, "not
        above N").  Call after :meth:`check` passed.  Raises on a storage error (the RAM
        mark protects until reboot)."""
        if counter <= self.hwm.get(kid, 0):
            return
        self.hwm[kid] = counter
        self._check_exhaustion(kid)
        res = self.reserved.get(kid, 0)
        if counter <= res:
            return  # inside the reservation: no flash write
        base = self.base.get(kid, res)
        new = counter + RESERVE if counter < COUNTER_MAX - RESERVE else COUNTER_MAX
        self.reserved[kid] = new
        self.base[kid] = new  # (no exact mark of this id in the registers to trust)
        try:
            self._persist()
        except Exception:
            if res:
                self.reserved[kid] = res
                self.base[kid] = base
            else:
                del self.reserved[kid]
                del self.base[kid]
            raise

    def _reserve(self, kid, mark, renew=False):
        """``mark`` in the registers; in the flash when it passes the reservation (or
        ``renew``: a new reservation from ``mark`` whatever the old one)."""
        exact = self._put_exact(kid, mark)
        res = self.reserved.get(kid, 0)
        base = self.base.get(kid, res)
        if renew or mark > res:
            new = mark + RESERVE if mark < COUNTER_MAX - RESERVE else COUNTER_MAX
            self.reserved[kid] = new
            self.base[kid] = mark if exact else new
        elif exact or base >= res:
            return  # inside the reservation: no flash write
        else:
            self.base[kid] = res  # the registers' mark is stale from here: never restored
        try:
            self._persist()
        except Exception:
            # Not on the flash: the next advance tries again (the RAM mark protects)
            if kid in self.reserved and not res:
                del self.reserved[kid]
                del self.base[kid]
            else:
                self.reserved[kid] = res
                self.base[kid] = base
            raise

    def _put_exact(self, kid, mark):
        """The exact mark in the backup registers; False if it could not be written."""
        m = self.mirror
        if m.dev is None:
            return False
        if self._bk_kid != kid:
            # another key id: invalidate first, so a torn update never pairs the new
            # mark with the old key id
            try:
                m.dev.write(BK_REPLAY_KID, 0)
            except Exception:
                m.errors += 1
                return False
            self._bk_kid = 0
        if not m.put(BK_REPLAY_MARK, mark):
            return False
        if self._bk_kid != kid:
            try:
                m.dev.write(BK_REPLAY_KID, kid | (kid ^ 0xFF) << 8)
            except Exception:
                m.errors += 1
                return False
            self._bk_kid = kid
        return True

    def _persist(self):
        if self.store is None:
            return
        if self.store.generation < self._bgen:
            self.store.generation = self._bgen  # the mirror never goes back
        self.store.save(cbor.encode({"v": 2, "marks": self.reserved, "base": self.base}))
        self.saves += 1
        self._bgen = self.store.generation
        self.mirror.put(BK_REPLAY_GEN, self._bgen)

    def _check_exhaustion(self, kid):
        m = self.hwm.get(kid, 0)
        if m > WARN_AT and not self._warned.get(kid):
            self._warned[kid] = True
            self.emit(EV_COUNTER_NEAR_EXHAUSTION, [kid, COUNTER_MAX - m], "")

    def check_resync(self, nonce, kid=0, counter=0, floor=0):
        """None if COUNTER_RESYNC with ``nonce`` (from key id ``kid``, its counter
        ``counter``, the floor ``floor``) may run, else the BAD_ARG text."""
        if self.state != RESYNC:
            return "nonce: no resync pending"
        if nonce != self.nonce:
            return "nonce: does not match the published nonce"
        lim = self.resync_limit(kid)
        if floor > lim:
            return "floor: %d above the limit %d (the first-use limit or the stale mark " \
                "+ window)" % (floor, lim)
        if counter > lim:
            return "counter %d above the limit %d (the first-use limit or the stale mark " \
                "+ window)" % (counter, lim)
        return None

    def resync_limit(self, kid):
        """The highest mark COUNTER_RESYNC may set for ``kid``: a first counter's limit, or
        the stale mark plus the window when that is higher."""
        lim = self.hwm.get(kid, 0) + WINDOW
        return lim if lim > FIRST_MAX else FIRST_MAX

    def resync(self, kid, counter, nonce, floor):
        """Execute COUNTER_RESYNC: the mark of ``kid`` becomes the highest of the floor,
        the command's own counter and the stale mark.  Returns the new mark."""
        why = self.check_resync(nonce, kid, counter, floor)
        if why:
            raise ValueError(why)
        mark = floor
        if counter > mark:
            mark = counter
        if self.hwm.get(kid, 0) > mark:
            mark = self.hwm[kid]
        self.hwm[kid] = mark
        self.state = SYNCED
        self.nonce = 0
        self.why = ""
        self.resyncs += 1
        self.emit(EV_COUNTER_RESYNCED, [kid, mark], "")
        self._check_exhaustion(kid)
        # A new reservation and a new generation whatever the old record held: the
        # resynced state must be newer than anything on the flash or in the registers.
        self._reserve(kid, mark, renew=True)
        return mark

    def hk_tick(self, repeat=None):
        """Every housekeeping period: in RESYNC repeat the event now and then (the nonce
        is in housekeeping all the time), through ``repeat(ev_id, args, detail)`` when
        given (the app's non-persisted repeat), else the guard's emit."""
        if self.state != RESYNC:
            return
        self._hk_ticks += 1
        if self._hk_ticks >= RESYNC_EVENT_EVERY:
            self._hk_ticks = 0
            (repeat or self.emit)(EV_COUNTER_RESYNC_NEEDED, [self.nonce], self.why)

    # ------------------------------------------------------------ COUNTER_RESYNC
    def check_command(self, cmd, args):
        """COUNTER_RESYNC only while resyncing, with the published nonce (a recorded
        COUNTER_RESYNC of an earlier resync carries an old nonce) and a floor and counter
        within :meth:`resync_limit`: else BAD_ARG."""
        kid, counter = self.auth
        why = self.check_resync(args["nonce"], kid, counter, args["floor"])
        if why:
            raise BadArg(why)

    def cmd_counter_resync(self, args, tc):
        kid, counter = self.auth
        # Checked here, apart from the save: a storage failure that is a ValueError (a
        # slot generation exhausted) was reported BAD_ARG — "refused, nothing changed" —
        # while the resync had taken effect.
        why = self.check_resync(args["nonce"], kid, counter, args["floor"])
        if why:  # the nonce changed since the acceptance check
            raise CmdFailed("BAD_ARG", why)
        try:
            mark = self.resync(kid, counter, args["nonce"], args["floor"])
        except Exception as e:  # flash: the RAM mark is set and protects until reboot
            raise CmdFailed("STORAGE", "anti-replay record not saved: %r" % (e,))
        return {"key_id": kid, "mark": mark}

    def synced(self):
        """True if an ordinary TC may be checked against the marks (not in RESYNC)."""
        return self.state == SYNCED

    def hk(self, values, i):
        values[i] = self.nonce

    def hk_diag(self, values, i):
        values[i] = self.state
        values[i + 1] = self.resyncs

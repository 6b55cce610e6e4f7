"""Time-tagged commands (DESIGN §3.7 ``TIMETAG``): a bounded queue and its two commands.

Entries are kept sorted by execution time; equal times keep their arrival order.  A
queued command's arguments and semantics are checked when it is queued; its mode and
busy checks when it runs (the health task calls :meth:`TimeTagQueue.run_due`), where a
refusal is its completion report (WRONG_MODE, BUSY, BAD_ARG).  At most ``RUN_MAX``
entries run in one health tick (audit O2): entries due together — a SET_TIME forward
releases the whole queue at once — run over the following ticks, in order, each a tick
or more after its time.

The queue runs in RAM; what it holds (time and opcode of each entry) is mirrored on
storage (a :class:`SlotStore` ``timetag``) at every change, so the boot after any reset
— a REBOOT, the watchdog, a power cycle — knows what the reset lost and reports it:
TIMETAG_DROPPED with the count and the entries.  Entries are not re-queued: onboard time
restarts at a reset (SET_TIME is RAM), so their times no longer mean what the ground
meant.  Lowering ``timetag_capacity`` (effective at once) below the queued count drops
the latest entries, also with TIMETAG_DROPPED.

Key rotation: each entry keeps the key id its TIMETAG was authenticated with; a
KEY_ROTATE drops the entries of the ids it retires (TIMETAG_DROPPED), so a key retired
after a suspected compromise leaves nothing queued to run after its retirement.

Heap (issue 11): the queue is held all session and is empty nearly always, so an empty
queue holds no list (``()``, in flash) and the storage record is a :class:`SlotStore`
made for each load or save (a save finds the generation in the slots themselves), not
one held for good.
"""

from flight import cbor
from flight.cmddict import BadArg, Busy, Refused
from hal.compat import const
from flight.events import SEV_INFO, SEV_WARN, Event
from flight.params import EV_STORE_FALLBACK, ParamDef
from flight.slotstore import SlotStore
from flight.telemetry import HkField

# At most RUN_MAX due entries run in one health tick (docs/security.md audit O2).  Each
# is a full command (PARAM_SAVE or KEY_ROTATE a flash write, EVENT_LOG_DUMP up to 256
# events): 2 bounds the health task's worst tick at two commands (it was the whole queue,
# up to 64; the tc task's is its 1.5 ms plus one), yet a pair queued for one time
# (SET_MODE STANDBY, SESSION_START) still runs in one tick; a full queue drains in 3.2 s.
# A constant, not a parameter, like the tc task's frame bound: it bounds the schedule,
# not an operation.
RUN_MAX = const(2)

EV_TIMETAG_EXECUTED = const(0x23)
EV_TIMETAG_DROPPED = const(0x24)

EVENTS = (
    Event(EV_TIMETAG_EXECUTED, "TIMETAG_EXECUTED", SEV_INFO,
          "a time-tagged command came due and ran", (("time", "float"),)),
    Event(EV_TIMETAG_DROPPED, "TIMETAG_DROPPED", SEV_WARN,
          "queued time-tagged commands were lost (reboot, or the queue shrank)",
          (("dropped", "int"),)),
)

PARAMS = (
    ParamDef("timetag_capacity", "int", 16, 1, 64, "",
             "time-tagged command queue length (lowering it drops the latest entries)",
             applies="now"),
)

HK = (
    HkField("timetags_queued", "u8", description="time-tagged commands waiting"),
    HkField("timetags_executed", "u16", description="time-tagged commands run"),
    HkField("timetags_dropped", "u16", warn=(0, 0),
            description="time-tagged commands lost (reboot, capacity lowered)"),
)


class TimeTagQueue:
    """``dispatch``: flight.cmddict.Dispatcher; ``now()``: onboard seconds;
    ``emit(ev_id, args, detail)``."""

    def __init__(self, capacity=16, dispatch=None, now=None, emit=None, storage=None,
                 storage_error=None, key_id=None):
        self.capacity = capacity
        self.dispatch = dispatch
        self.now = now
        self.emit = emit
        # [(time_s, cmd, args, (apid, seq), key id)], sorted: a list while one is queued
        self._q = ()  # type: tuple | list
        self.key_id = key_id  # fn() -> the key id of the TC being executed (0: none)
        self.executed = 0
        self.dropped = 0
        self.storage = storage  # the mirror's SlotStore "timetag" is made on use
        self.storage_error = storage_error  # fn(what, exc): the app's STORAGE_ERROR

    def __len__(self):
        return len(self._q)

    def full(self):
        return len(self._q) >= self.capacity

    def push(self, t, cmd, args, tc, kid=0):
        if self.full():
            raise OverflowError("time-tag queue full")
        q = self._q
        if not isinstance(q, list):
            q = self._q = []
        i = len(q)
        while i > 0 and q[i - 1][0] > t:
            i -= 1
        q.insert(i, (t, cmd, args, tc, kid))
        self._persist()

    def pop_due(self, now):
        """The earliest entry due at ``now``, or None."""
        q = self._q
        if isinstance(q, list) and q and q[0][0] <= now:
            self.executed += 1
            e = q.pop(0)
            if not q:
                self._q = ()
            self._persist()
            return e
        return None

    def clear(self):
        n = len(self._q)
        self._q = ()
        if n:
            self._persist()
        return n

    # ------------------------------------------------------------------ persistence
    def _persist(self):
        if self.storage is None:
            return
        store = SlotStore(self.storage, "timetag")  # (made per use: see the module's doc)
        try:
            store.save(cbor.encode([[e[0], e[1].opcode] for e in self._q]))
        except Exception as e:  # the queue itself is unaffected: reported, not raised
            if self.storage_error is not None:
                self.storage_error("timetag", e)

    def restore(self):
        """At boot: report what the last reset lost (TIMETAG_DROPPED), then an empty
        record.  Returns the number of entries lost."""
        if self.storage is None:
            return 0
        store = SlotStore(self.storage, "timetag")
        try:
            lost = store.load(parse=_parse)
        except Exception as e:
            if self.storage_error is not None:
                self.storage_error("timetag", e)
            return 0
        if store.fallback and self.emit is not None:
            self.emit(EV_STORE_FALLBACK, ["timetag"], store.describe())
        if not lost:
            return 0
        names = []
        for t, op in lost[:8]:
            c = self.dispatch.lookup(op) if self.dispatch is not None else None
            names.append("%s@%.1f" % (c.name if c is not None else "0x%02x" % op, t))
        more = " ..." if len(lost) > 8 else ""
        self._dropped(len(lost), "lost at reset: " + ", ".join(names) + more)
        self._persist()
        return len(lost)

    def drop_keys_below(self, kid):
        """Lose the entries queued under a key id below ``kid`` (KEY_ROTATE retired them):
        counted and reported.  Returns how many."""
        q = self._q
        keep = [e for e in q if e[4] >= kid]
        n = len(q) - len(keep)
        if n:
            self._q = keep if keep else ()
            self._persist()
            self._dropped(n, "queued under a key id retired by KEY_ROTATE %d" % kid)
        return n

    def drop(self, why):
        """Lose every queued entry (a reboot): counted and reported."""
        n = self.clear()
        if n:
            self._dropped(n, why)
        return n

    def set_capacity(self, capacity):
        """New capacity; the latest entries over it are lost (reported)."""
        self.capacity = capacity
        q = self._q
        n = len(q) - capacity
        if n > 0 and isinstance(q, list):  # (n > 0: a list; capacity >= 1: it stays one)
            del q[capacity:]
            self._persist()
            self._dropped(n, "capacity lowered to %d" % capacity)

    def _dropped(self, n, why):
        self.dropped += n
        if self.emit is not None:
            self.emit(EV_TIMETAG_DROPPED, [n], why)

    def snapshot(self):
        return [(e[0], e[1].name, dict(e[2]), e[3]) for e in self._q]

    def run_due(self, tc, mode):
        """Run the entries due now through ``tc`` (flight.tc.TcPipeline), the earliest
        first and at most ``RUN_MAX`` of them (audit O2): the others stay queued, in order
        and mirrored, and run in the next ticks (each checked then, against the mode of
        that moment; a SET_TIME backward makes them wait for their time again).

        ``mode`` is the mode as the run starts (the health task reads it each tick).  The
        next entry of the same run is checked against the mode read again (``tc.mode()``)
        after the one before it ran: entries due together were checked against the mode
        before the first, so a SET_MODE SESSION followed by a REBOOT ran the REBOOT in
        SESSION, where it is refused (audit A1).  An entry may change the queue itself
        (REBOOT empties it, KEY_ROTATE drops retired ids' entries): each is popped from
        the queue as it stands."""
        now = self.now()
        n = RUN_MAX  # (a constant: no attribute in the queue's dict, held all session)
        while n > 0:
            e = self.pop_due(now)
            if e is None:
                return
            n -= 1
            t, cmd, args, (apid, seq), _kid = e
            self.emit(EV_TIMETAG_EXECUTED, [t], cmd.name)
            x = {"timetag": True}
            try:
                self.dispatch.check(cmd, args, mode)
            except Refused as err:
                tc.completed(cmd, err.reason, apid, seq, None, x, str(err))
                continue
            tc.complete(cmd, args, apid, seq, x)
            mode = tc.mode()  # (this entry may have changed it: SET_MODE, a fault to SAFE)

    # ------------------------------------------------------------------ commands
    def check_command(self, cmd, args):
        if cmd.name != "TIMETAG":
            return
        inner = self.dispatch.lookup(args["opcode"])
        if inner is None:
            raise BadArg("opcode: %d unknown" % args["opcode"])
        if inner.owner == "timetag":
            raise BadArg("opcode: %s cannot be time-tagged" % inner.name)
        args["args"] = self.dispatch.check(inner, args["args"], None, queued=True)
        if args["time"] <= self.now():
            raise BadArg("time: %.3f is not in the future" % args["time"])
        if self.full():
            raise Busy("time-tag queue full (%d)" % self.capacity)

    def cmd_timetag(self, args, tc):
        inner = self.dispatch.lookup(args["opcode"])
        self.push(args["time"], inner, args["args"], tc,
                  self.key_id() if self.key_id is not None else 0)
        return {"queued": len(self._q)}

    def cmd_timetag_clear(self, args, tc):
        return {"dropped": self.clear()}

    # ------------------------------------------------------------------ telemetry
    def hk(self, values, i):
        values[i] = len(self._q)
        values[i + 1] = self.executed
        values[i + 2] = self.dropped


def _parse(payload):
    """The stored queue: [[time, opcode], ...], checked field by field."""
    rec = cbor.decode(payload)
    if not isinstance(rec, list):
        raise ValueError("not a list")
    for e in rec:
        if not isinstance(e, list) or len(e) != 2 or not isinstance(e[0], (int, float)) \
                or e[0] is True or e[0] is False or e[0] != e[0] \
                or not isinstance(e[1], int) or e[1] is True or e[1] is False:
            raise ValueError("bad entry")
    return rec

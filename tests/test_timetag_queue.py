"""The time-tag queue holds nothing while it is empty (issue 11: it is held all session and
empty nearly always) — no list, no SlotStore — and still mirrors every change to storage,
so the boot after a reset reports what the reset lost.  Entries due together run at most
RUN_MAX a health tick (docs/security.md audit O2), each in the mode of its moment."""

from flight.cmddict import MODES, WrongMode
from flight.slotstore import SlotStore
from flight.timetag import (EV_TIMETAG_DROPPED, EV_TIMETAG_EXECUTED, RUN_MAX, TimeTagQueue,
                            _parse)
from hal.sim.storage import MemStorage


_SRC = 7  # (the TC's APID, kept with the entry for its completion report: opaque here)


class _Cmd:
    def __init__(self, name, opcode):
        self.name = name
        self.opcode = opcode


class _Dispatch:
    def __init__(self, cmds):
        self.by_op = {c.opcode: c for c in cmds}

    def lookup(self, op):
        return self.by_op.get(op)


def _queue(storage, events):
    return TimeTagQueue(4, _Dispatch([_Cmd("PING", 0x01), _Cmd("NOOP", 0x02)]),
                        now=lambda: 0.0, emit=lambda i, a, d: events.append((i, a, d)),
                        storage=storage)


def _holds_nothing(q):
    held = list(vars(q).values())
    return not any(isinstance(v, (list, SlotStore)) for v in held)


def test_an_empty_queue_holds_no_list_and_no_store_yet_mirrors_every_change():
    storage = MemStorage()
    events = []
    q = _queue(storage, events)
    assert _holds_nothing(q) and len(q) == 0 and not q.full()
    assert q.pop_due(1e9) is None and q.clear() == 0 and storage.writes == 0
    ping, noop = q.dispatch.lookup(0x01), q.dispatch.lookup(0x02)
    q.push(20.0, noop, {}, (_SRC, 2))
    q.push(10.0, ping, {}, (_SRC, 1))
    assert len(q) == 2 and storage.writes == 2  # each change mirrored
    assert [e[1].name for e in q._q] == ["PING", "NOOP"]  # sorted by time
    assert q.pop_due(15.0)[1] is ping and len(q) == 1
    assert q.pop_due(15.0) is None
    assert q.pop_due(25.0)[1] is noop
    assert _holds_nothing(q) and q.executed == 2 and storage.writes == 4
    q.push(30.0, ping, {}, (_SRC, 3))
    q.push(40.0, noop, {}, (_SRC, 4))
    q.set_capacity(1)  # the latest entry is dropped, reported
    assert len(q) == 1 and q.dropped == 1 and events[-1][0] == EV_TIMETAG_DROPPED
    # A reset loses the queue: the next boot reads the mirror and reports the entry.
    q2 = _queue(storage, events)
    assert q2.restore() == 1
    assert events[-1][0] == EV_TIMETAG_DROPPED and "PING@30.0" in events[-1][2]
    assert _holds_nothing(q2) and q2.restore() == 0  # the record was emptied


# ------------------------------------------- entries due together: RUN_MAX a tick (O2)
# docs/security.md audit O2: entries due together (a SET_TIME forward releases the whole
# queue) ran in one health tick, each a full command.  Now at most RUN_MAX run a tick,
# the rest stay queued in order (and mirrored) for the next ticks.  Each test below
# failed on the code before the bound (every due entry ran in the first tick).

ALL = MODES


class _ModedCmd(_Cmd):
    def __init__(self, name, opcode, modes=ALL):
        _Cmd.__init__(self, name, opcode)
        self.modes = modes


PING = _ModedCmd("PING", 0x01)
SET_MODE = _ModedCmd("SET_MODE", 0x03)
SESSION_START = _ModedCmd("SESSION_START", 0x50, ("STANDBY",))
SESSION_END = _ModedCmd("SESSION_END", 0x51, ("SESSION",))
REBOOT = _ModedCmd("REBOOT", 0x30, ("SAFE", "STANDBY"))
KEY_ROTATE = _ModedCmd("KEY_ROTATE", 0x40)


class _CheckingDispatch(_Dispatch):
    """The dispatcher's mode check (flight.cmddict.Dispatcher.check), recording the mode
    each entry was checked against."""

    def __init__(self, cmds):
        _Dispatch.__init__(self, cmds)
        self.checked = []

    def check(self, cmd, args, mode):
        self.checked.append((cmd.name, mode))
        if mode not in cmd.modes:
            raise WrongMode("%s not allowed in %s" % (cmd.name, mode))
        return args


class _Tc:
    """flight.tc.TcPipeline as run_due uses it; the commands do what theirs do to the
    mode and the queue (SET_MODE, SESSION_*, REBOOT's drop, KEY_ROTATE's drop)."""

    def __init__(self, q, mode="SAFE"):
        self.q = q
        self.m = mode
        self.done = []  # (seq, name, refusal reason or None)

    def mode(self):
        return self.m

    def complete(self, cmd, args, apid, seq, extra=None):
        assert extra == {"timetag": True}
        self.done.append((seq, cmd.name, None))
        if cmd.name == "SET_MODE":
            self.m = args["mode"]
        elif cmd.name == "SESSION_START":
            self.m = "SESSION"
        elif cmd.name == "SESSION_END":
            self.m = "STANDBY"
        elif cmd.name == "REBOOT":
            self.q.drop("reboot by TC")
        elif cmd.name == "KEY_ROTATE":
            self.q.drop_keys_below(args["key_id"])

    def completed(self, cmd, reason, apid, seq, result=None, extra=None, detail=""):
        self.done.append((seq, cmd.name, reason))


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _moded_queue(storage, events, clock):
    cmds = [PING, SET_MODE, SESSION_START, SESSION_END, REBOOT, KEY_ROTATE]
    return TimeTagQueue(64, _CheckingDispatch(cmds), now=clock,
                        emit=lambda i, a, d: events.append((i, a, d)), storage=storage)


def _tick(q, tc):
    """The health task (flight/app.py ``_task_health``): run_due with the mode of now,
    only while something is queued."""
    n = len(tc.done)
    if len(q):
        q.run_due(tc, tc.mode())
    return tc.done[n:]


def _mirror(q, storage):
    """The storage record equals the queue (time, opcode of each entry, in order)."""
    rec = SlotStore(storage, "timetag").load(parse=_parse)
    assert rec == [[e[0], e[1].opcode] for e in q._q]
    return rec


def test_entries_due_together_run_at_most_run_max_a_tick_in_order_nothing_lost():
    storage, events, clock = MemStorage(), [], _Clock()
    q = _moded_queue(storage, events, clock)
    tc = _Tc(q)
    times = [5.0, 3.0, 3.0, 4.0, 1.0, 3.0, 2.0, 5.0, 6.0, 7.0]
    assert RUN_MAX < len(times) // 2  # (several ticks)
    for seq, t in enumerate(times):
        q.push(t, PING, {}, (_SRC, seq))
    q.push(500.0, PING, {}, (_SRC, 99))  # not due: waits for its time
    # Time order, arrival order for equal times (stable sort of the seqs by time).
    order = sorted(range(len(times)), key=lambda s: times[s])
    assert _tick(q, tc) == [] and storage.writes == 11  # nothing due: nothing written
    clock.t = 100.0  # a SET_TIME forward: all but the last due at once
    ran = []
    ticks = 0
    while len(ran) < len(times):
        writes, executed = storage.writes, len(events)
        done = _tick(q, tc)
        ticks += 1
        assert len(done) == min(RUN_MAX, len(times) - len(ran)), done
        ran += [seq for seq, name, reason in done]
        assert all(reason is None for seq, name, reason in done)
        # every change mirrored: one write per entry run, the record the queue left
        assert storage.writes - writes == len(done)
        assert len(_mirror(q, storage)) == len(q) == len(times) + 1 - len(ran)
        assert [e[0] for e in events[executed:]] == [EV_TIMETAG_EXECUTED] * len(done)
        assert q.executed == len(ran)
    assert ran == order and ticks == -(-len(times) // RUN_MAX)
    assert [e[3][1] for e in q._q] == [99]  # the one not due is still queued
    assert _tick(q, tc) == [] and len(q) == 1 and q.dropped == 0
    clock.t = 500.0
    assert [seq for seq, name, reason in _tick(q, tc)] == [99]
    assert _holds_nothing(q) and _mirror(q, storage) == []


def test_each_entry_is_checked_in_the_mode_of_the_moment_it_runs_across_ticks():
    """A mode change by an entry is seen by the next one, in the same tick (audit A1)
    and in the next ticks (the health task passes the mode of then)."""
    storage, events, clock = MemStorage(), [], _Clock()
    q = _moded_queue(storage, events, clock)
    tc = _Tc(q)
    plan = [(SESSION_END, {}), (SET_MODE, {"mode": "STANDBY"}),
            (SESSION_START, {}), (REBOOT, {}),
            (SESSION_END, {}), (REBOOT, {}),
            (PING, {})]
    for seq, (cmd, args) in enumerate(plan):
        q.push(10.0, cmd, args, (_SRC, seq))  # all due at one time: arrival order
    clock.t = 20.0
    assert RUN_MAX == 2  # (the ticks below are those of a bound of 2)
    assert _tick(q, tc) == [(0, "SESSION_END", "WRONG_MODE"), (1, "SET_MODE", None)]
    assert tc.m == "STANDBY" and len(_mirror(q, storage)) == 5
    assert _tick(q, tc) == [(2, "SESSION_START", None), (3, "REBOOT", "WRONG_MODE")]
    assert tc.m == "SESSION" and len(_mirror(q, storage)) == 3
    # The REBOOT runs in STANDBY now and empties the queue: the PING due with it is
    # lost, counted and reported like any entry a reboot loses.
    assert _tick(q, tc) == [(4, "SESSION_END", None), (5, "REBOOT", None)]
    assert q.dropped == 1 and events[-1][0] == EV_TIMETAG_DROPPED and events[-1][1] == [1]
    assert _holds_nothing(q) and _mirror(q, storage) == [] and _tick(q, tc) == []
    assert q.dispatch.checked == [
        ("SESSION_END", "SAFE"), ("SET_MODE", "SAFE"), ("SESSION_START", "STANDBY"),
        ("REBOOT", "SESSION"), ("SESSION_END", "SESSION"), ("REBOOT", "STANDBY")]


def test_a_backlog_waiting_through_a_fault_to_safe_is_checked_in_safe():
    storage, events, clock = MemStorage(), [], _Clock()
    q = _moded_queue(storage, events, clock)
    tc = _Tc(q, "STANDBY")
    for seq, cmd in enumerate([PING, PING, SESSION_START, PING]):
        q.push(1.0, cmd, {}, (_SRC, seq))
    clock.t = 2.0
    assert _tick(q, tc) == [(0, "PING", None), (1, "PING", None)]
    tc.m = "SAFE"  # a limit's FDIR between two ticks
    assert _tick(q, tc) == [(2, "SESSION_START", "WRONG_MODE"), (3, "PING", None)]
    assert tc.m == "SAFE" and _holds_nothing(q) and q.executed == 4


def test_key_rotate_drops_the_retired_ids_entries_of_a_waiting_backlog():
    """A time-tagged KEY_ROTATE drops what the retired ids queued, the entries due with it
    included; an uplinked KEY_ROTATE between two ticks drops them from the backlog."""
    storage, events, clock = MemStorage(), [], _Clock()
    q = _moded_queue(storage, events, clock)
    tc = _Tc(q)
    plan = [(PING, 1), (KEY_ROTATE, 1), (PING, 1), (PING, 2), (PING, 1), (PING, 2),
            (PING, 3), (PING, 2), (PING, 3)]
    for seq, (cmd, kid) in enumerate(plan):
        q.push(5.0 + seq * 0.01, cmd, {"key_id": 2} if cmd is KEY_ROTATE else {},
               (_SRC, seq), kid)
    clock.t = 50.0
    assert _tick(q, tc) == [(0, "PING", None), (1, "KEY_ROTATE", None)]
    assert q.dropped == 2 and events[-1][0] == EV_TIMETAG_DROPPED and events[-1][1] == [2]
    assert "KEY_ROTATE 2" in events[-1][2]
    assert [e[3][1] for e in q._q] == [3, 5, 6, 7, 8]
    assert _mirror(q, storage) == [[5.0 + s * 0.01, 0x01] for s in (3, 5, 6, 7, 8)]
    assert _tick(q, tc) == [(3, "PING", None), (5, "PING", None)]
    q.drop_keys_below(3)  # an uplinked KEY_ROTATE 3, in the tc task between two ticks
    assert q.dropped == 3 and [e[3][1] for e in q._q] == [6, 8]
    assert len(_mirror(q, storage)) == 2
    assert _tick(q, tc) == [(6, "PING", None), (8, "PING", None)]
    assert _holds_nothing(q) and _mirror(q, storage) == [] and q.executed == 6


def test_capacity_lowered_under_a_waiting_backlog_drops_its_latest_entries():
    storage, events, clock = MemStorage(), [], _Clock()
    q = _moded_queue(storage, events, clock)
    tc = _Tc(q)
    for seq in range(6):
        q.push(1.0 + seq, PING, {}, (_SRC, seq))
    clock.t = 10.0
    assert [s for s, n, r in _tick(q, tc)] == [0, 1]
    q.set_capacity(2)  # PARAM_SET timetag_capacity 2: the latest two of four go
    assert q.dropped == 2 and events[-1][1] == [2] and len(_mirror(q, storage)) == 2
    assert [s for s, n, r in _tick(q, tc)] == [2, 3]
    assert _holds_nothing(q) and _mirror(q, storage) == [] and _tick(q, tc) == []

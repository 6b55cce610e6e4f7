"""The time-tag queue holds nothing while it is empty (issue 11: it is held all session and
empty nearly always) — no list, no SlotStore — and still mirrors every change to storage,
so the boot after a reset reports what the reset lost."""

from flight.slotstore import SlotStore
from flight.timetag import EV_TIMETAG_DROPPED, TimeTagQueue
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

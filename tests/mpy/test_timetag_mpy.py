"""Time-tagged commands due together, through the whole stack on every interpreter
(docs/security.md audit O2): a SET_TIME forward releases the whole queue at once, and the
health task runs at most RUN_MAX entries a tick, each checked in the mode of the moment it
runs; the rest wait, in order and mirrored.  Failed on the code before the bound (every
due entry ran in the first tick).

The OBC-side harness is tests/mpy/obc.py, shared with the CPython tests.
"""

from obc import Obc, ok_pair

from flight.cmddict import BY_NAME
from flight.slotstore import SlotStore
from flight.timetag import RUN_MAX, _parse

PING = BY_NAME["PING"].opcode
SET_TIME = BY_NAME["SET_TIME"].opcode
SET_MODE = BY_NAME["SET_MODE"].opcode
SESSION_END = BY_NAME["SESSION_END"].opcode
REBOOT = BY_NAME["REBOOT"].opcode
TIMETAG = BY_NAME["TIMETAG"].opcode
PARAM_SET = BY_NAME["PARAM_SET"].opcode


def _count_ticks(q, ticks):
    """Each health tick's entries run (run_due wrapped on the instance: the app calls
    ``self.timetags.run_due``)."""
    run = q.run_due

    def run_due(tc, mode):
        n = q.executed
        run(tc, mode)
        ticks.append(q.executed - n)

    q.run_due = run_due


def _queue(o, t, plan):
    for i in range(len(plan)):
        op, args = plan[i]
        body = {"time": t + 0.01 * i, "opcode": op}
        if args is not None:
            body["args"] = args
        ok_pair(o.send(TIMETAG, body))


def _mirror(o):
    return SlotStore(o.storage, "timetag").load(parse=_parse)


def test_a_set_time_forward_releases_run_max_entries_a_tick_in_order():
    o = Obc()
    o.settle()
    t = o.app.now_s() + 1000.0
    n = 9
    _queue(o, t, [(PARAM_SET, {"name": "limit_persist", "value": 10 + i})
                  for i in range(n)])
    ticks = []
    _count_ticks(o.app.timetags, ticks)
    o.send_raw(o.packet(SET_TIME, {"time": t + 100.0}))
    o.run(150000)  # the SET_TIME, then at least one health tick
    reps = o.reports()
    assert [(r["name"], r["stage"]) for r in reps[:2]] == [
        ("SET_TIME", "accept"), ("SET_TIME", "complete")]
    ran = [k for k in ticks if k]
    assert ran and max(ran) == RUN_MAX and len(o.app.timetags) == n - sum(ran)
    assert len(reps) == 2 + sum(ran)
    assert len(_mirror(o)) == len(o.app.timetags)  # the backlog, mirrored as it stands
    o.run(100000 * (n // RUN_MAX + 1))
    ran = [k for k in ticks if k]
    assert ran == [RUN_MAX] * (n // RUN_MAX) + ([n % RUN_MAX] if n % RUN_MAX else [])
    reps = reps[2:] + o.reports()
    assert [(r["name"], r["ok"], r["result"]["value"]) for r in reps] == [
        ("PARAM_SET", True, 10 + i) for i in range(n)]
    assert all(r["timetag"] for r in reps)
    assert o.app.params["limit_persist"] == 10 + n - 1
    assert len(o.app.timetags) == 0 and o.app.timetags.executed == n
    assert _mirror(o) == [] and o.app.timetags.dropped == 0


def test_entries_spread_over_ticks_are_each_checked_in_the_mode_they_run_in():
    o = Obc()
    o.settle()
    t = o.app.now_s() + 1000.0
    _queue(o, t, [
        (SESSION_END, None),  # SAFE: WRONG_MODE
        (SET_MODE, {"mode": "STANDBY"}),
        (SET_MODE, {"mode": "SESSION"}),  # the next tick, in STANDBY
        (REBOOT, None),  # after it, in SESSION: WRONG_MODE (audit A1)
        (SESSION_END, None),  # the next tick, in SESSION
        (REBOOT, None),  # in STANDBY: runs, and loses what is queued
        (PING, None),  # due with it: lost at the reboot, reported
    ])
    ticks = []
    _count_ticks(o.app.timetags, ticks)
    o.send_raw(o.packet(SET_TIME, {"time": t + 100.0}))
    o.run(1000000)
    reps = o.reports()
    assert [(r["name"], r["ok"], r["reason"]) for r in reps] == [
        ("SET_TIME", True, None), ("SET_TIME", True, None),
        ("SESSION_END", False, "WRONG_MODE"), ("SET_MODE", True, None),
        ("SET_MODE", True, None), ("REBOOT", False, "WRONG_MODE"),
        ("SESSION_END", True, None), ("REBOOT", True, None)]
    ran = [k for k in ticks if k]  # 6 run, the 7th lost: in ticks of RUN_MAX
    assert sum(ran) == 6 and max(ran) == RUN_MAX and len(ran) == -(-6 // RUN_MAX)
    assert o.app.reboot_requested and o.app.modes.mode == "STANDBY"
    q = o.app.timetags
    assert len(q) == 0 and q.executed == 6 and q.dropped == 1 and _mirror(o) == []

"""Shared checks of the telecommand pipeline tests (tests/test_tc_pipeline_*.py, and the
anti-replay exemption of tests/tc_robust_pipe.py): the core opcodes by name, the
acceptance/completion report check (:func:`accepted`), the rejection check with its
no-state-change audit (:func:`check_rejected`), and small setups (mode, full time-tag
queue).

:func:`check_rejected` sends one packet through the whole stack (MemLink → tc task →
deframer → pipeline → TM on the link) of a booted FlightApp and checks: exactly one
verification report, ``stage == "accept"``, ``ok is False``, the reason as text,
``tc_apid``/``tc_seq`` of the packet; no completion report; the matching rejection
counter +1; and **no state change** but the anti-replay mark of an authentic TC (CCSDS
SDLS, issue 12 item 3): ``app.snapshot()`` is equal before and after, with the scheduler
run past a housekeeping tick so anything the TC could have caused to be written to flash
has been written.  A rejection persists nothing, not even in the event log (issue 12
item 9).
"""

import struct

from flight import ccsds
from flight.cmddict import COMMANDS
from flight.tm import APID_TC

OP = {c.name: c.opcode for c in COMMANDS}
PING, SET_TIME, SET_MODE = OP["PING"], OP["SET_TIME"], OP["SET_MODE"]
PARAM_SET, PARAM_GET, PARAM_SAVE = OP["PARAM_SET"], OP["PARAM_GET"], OP["PARAM_SAVE"]
PARAM_LOAD_DEFAULTS, EVENT_LOG_DUMP = OP["PARAM_LOAD_DEFAULTS"], OP["EVENT_LOG_DUMP"]
REBOOT, TIMETAG, TIMETAG_CLEAR = OP["REBOOT"], OP["TIMETAG"], OP["TIMETAG_CLEAR"]
KEY_ROTATE, SESSION_START, SESSION_END = OP["KEY_ROTATE"], OP["SESSION_START"], OP["SESSION_END"]

REPORT_KEYS = {"stage", "ok", "reason", "tc_apid", "tc_seq"}
KEY2 = bytes(range(32))
EVLOG_BLOBS = ("evlog0", "evlog1", "evlog2")
FAR = 1.0e6  # a time-tag execution time far in the future, s


# --------------------------------------------------------------------------- helpers
def state(app):
    """(snapshot without the event-log blobs, the event-log blobs)."""
    snap = app.snapshot()
    st = dict(snap["storage"])
    ev = {k: st.pop(k, None) for k in EVLOG_BLOBS}
    snap["storage"] = st
    return snap, ev


def accepted(reps, name=None):
    """Assert ``reps`` is exactly accept-ok then complete-ok; return the completion."""
    assert [(r["stage"], r["ok"]) for r in reps] == [("accept", True), ("complete", True)], reps
    for r in reps:
        assert REPORT_KEYS <= set(r)
        assert r["reason"] is None
        assert r["tc_apid"] == APID_TC
        if name is not None:
            assert r["name"] == name
    assert reps[0]["tc_seq"] == reps[1]["tc_seq"]
    return reps[1]


# Rejected after successful authentication: the anti-replay mark moves (SDLS; issue 12
# item 3), nothing else does.
AUTHENTIC = ("DECODE", "UNKNOWN_OPCODE", "BAD_ARG", "WRONG_MODE", "BUSY")


def without_replay(snap):
    snap = dict(snap)
    snap.pop("replay")
    snap["storage"] = {k: v for k, v in snap["storage"].items() if not k.startswith("replay.")}
    return snap


def check_rejected(h, packet, reason, held=False):
    """Send ``packet``; assert one rejection report with ``reason`` and no state change
    (but the anti-replay mark, for a TC rejected after authentication; ``held``: an
    authentic TC of a held key id, refused AUTH, its counter spent and TC_KEY_HELD in
    the persistent log — docs/security.md audit O1)."""
    app = h.app
    h.settle()
    before, ev_before = state(app)
    log_before = app.events.persistent_log()
    counts = dict(app.tc.rejected)
    n_acc = app.tc.accepted
    n_done = app.tc.completed_ok + app.tc.completed_fail
    h.send_raw(packet)
    h.run(1100000)  # past a housekeeping tick: anything to persist has been written
    reps = h.reports()
    assert len(reps) == 1, reps
    r = reps[0]
    assert REPORT_KEYS <= set(r)
    assert r["stage"] == "accept" and r["ok"] is False and r["reason"] == reason, r
    if len(packet) >= ccsds.HEADER_LEN:
        hdr = ccsds.unpack_header(packet)
        assert (r["tc_apid"], r["tc_seq"]) == (hdr[ccsds.H_APID], hdr[ccsds.H_SEQ_COUNT])
    else:
        assert (r["tc_apid"], r["tc_seq"]) == (-1, -1)
    after, ev_after = state(app)
    if held or reason in AUTHENTIC:
        assert without_replay(after) == without_replay(before)
        kid, counter = packet[-23], struct.unpack(">I", packet[-22:-18])[0]
        assert after["replay"][kid] == counter  # the authentic TC is spent
    else:
        assert after == before
    expect = dict(counts)
    expect[reason] += 1
    assert app.tc.rejected == expect
    assert app.tc.accepted == n_acc
    assert app.tc.completed_ok + app.tc.completed_fail == n_done
    log_after = app.events.persistent_log()
    if held:  # (its one event: an authentic TC, which no forger can repeat)
        assert [e["name"] for e in log_after[len(log_before):]] == ["TC_KEY_HELD"]
        assert log_after[:len(log_before)] == log_before
        return r
    assert ev_after == ev_before  # a rejection persists nothing (issue 12 item 9)
    assert log_after == log_before
    return r


def flip(packet, i, bit=0):
    p = bytearray(packet)
    p[i] ^= 1 << bit
    return bytes(p)


def to_mode(h, mode):
    path = {"SAFE": ["SAFE"], "STANDBY": ["STANDBY"], "SESSION": ["STANDBY", "SESSION"]}
    for m in path[mode]:
        accepted(h.send(SET_MODE, {"mode": m}), "SET_MODE")
    assert h.app.modes.mode == mode


def fill_timetags(h):
    n = h.app.timetags.capacity
    for i in range(n):
        accepted(h.send(TIMETAG, {"time": FAR + i, "opcode": PING}), "TIMETAG")
    assert len(h.app.timetags) == n

"""Telecommand pipeline (DESIGN §3.7, issue 3): every core command accepted and executed.

Through the whole stack of a booted FlightApp (tests/mpy/obc.py): PING, SET_TIME,
SET_MODE (transitions and refusals), the parameter commands (set, get, save, load
defaults, across a reboot), EVENT_LOG_DUMP, REBOOT (on a free and on a congested link),
time-tagged commands (execution time, order, mode checked at execution, the bounded
queue, TIMETAG_CLEAR); the verification reports (order, their own sequence count, a
report per core command), a handler exception and a storage failure reported as
completion failures, a completion that gets out past a dump larger than the TM queue, the
events the pipeline emits declared, and the bench workload.  Rejections:
tests/test_tc_pipeline_reject.py; authentication and anti-replay:
tests/test_tc_pipeline_auth.py.
"""

from flight import events
from flight.corecmds import EV_REBOOT_REQUESTED
from flight.keys import DEV_KEY, DEV_KEY_ID
from flight.tm import APID_EVENT, APID_HK, APID_VERIFY
from tests.mpy.obc import Obc
from tests.tc_helpers import (EVENT_LOG_DUMP, FAR, KEY2, KEY_ROTATE, PARAM_GET,
                              PARAM_LOAD_DEFAULTS, PARAM_SAVE, PARAM_SET, PING, REBOOT,
                              SESSION_END, SESSION_START, SET_MODE, SET_TIME, TIMETAG,
                              TIMETAG_CLEAR, accepted, check_rejected, fill_timetags,
                              to_mode)


def test_ping():
    h = Obc()
    c = accepted(h.send(PING), "PING")
    assert c["result"]["version"]
    assert c["tc_seq"] == h.seq


def test_reports_in_order_with_their_own_sequence_count():
    h = Obc()
    h.send_raw(h.packet(PING))
    h.send_raw(h.packet(0x7F))
    h.run(40000)
    verify = [(s, b) for a, s, b in h.tm if a == APID_VERIFY]
    assert [(b["stage"], b["ok"], b["tc_seq"]) for s, b in verify] == [
        ("accept", True, 1), ("complete", True, 1), ("accept", False, 2)]
    assert [s for s, b in verify] == [0, 1, 2]  # the verification APID's own count


def test_set_time():
    h = Obc()
    h.settle()
    accepted(h.send(SET_TIME, {"time": 1.0e8}), "SET_TIME")
    assert abs(h.app.now_s() - 1.0e8) < 0.1
    h.run(1000000)
    hk = h.of(APID_HK)[-1]
    assert 1.0e8 < hk["time"] + hk["time_ms"] / 1000 < 1.0e8 + 1.1
    assert "TIME_SET" in [e["name"] for e in h.of(APID_EVENT)]


def test_set_mode_transitions_and_refusals():
    h = Obc()
    assert h.app.modes.mode == "SAFE"
    # SAFE -> SESSION refused (acceptance), nothing changes.
    r = check_rejected(h, h.packet(SET_MODE, {"mode": "SESSION"}), "WRONG_MODE")
    assert "STANDBY" in r["detail"]
    c = accepted(h.send(SET_MODE, {"mode": "STANDBY"}))
    assert c["result"]["mode"] == h.app.modes.mode == "STANDBY"
    c = accepted(h.send(SET_MODE, {"mode": "STANDBY"}))  # same mode: no-op, succeeds
    assert c["result"]["mode"] == "STANDBY"
    accepted(h.send(SET_MODE, {"mode": "SESSION"}))
    assert h.app.modes.mode == "SESSION"
    accepted(h.send(SET_MODE, {"mode": "STANDBY"}))
    assert h.app.modes.mode == "STANDBY"
    accepted(h.send(SET_MODE, {"mode": "SESSION"}))
    accepted(h.send(SET_MODE, {"mode": "SAFE"}))
    assert h.app.modes.mode == "SAFE"
    assert h.app.modes.last_safe_cause == "TC"
    accepted(h.send(SET_MODE, {"mode": "STANDBY"}))
    accepted(h.send(SESSION_START))
    assert h.app.modes.mode == "SESSION"
    accepted(h.send(SESSION_END))
    assert h.app.modes.mode == "STANDBY"
    h.run(1000000)
    changes = [e["text"] for e in h.of(APID_EVENT) if e["name"] == "MODE_CHANGE"]
    assert changes[0].startswith("SAFE -> STANDBY")
    assert changes[-1].startswith("SESSION -> STANDBY")


def test_param_set_get_save_load_defaults():
    h = Obc()
    accepted(h.send(PARAM_SET, {"name": "limit_persist", "value": 7}), "PARAM_SET")
    c = accepted(h.send(PARAM_GET, {"name": "limit_persist"}), "PARAM_GET")
    assert c["result"] == {"name": "limit_persist", "value": 7}
    accepted(h.send(PARAM_SET, {"name": "temp_max_c", "value": 55}))  # int given to a float
    assert h.app.params["temp_max_c"] == 55.0 and isinstance(h.app.params["temp_max_c"], float)
    c = accepted(h.send(PARAM_SAVE), "PARAM_SAVE")
    gen = c["result"]["generation"]
    assert gen >= 1
    accepted(h.send(PARAM_SET, {"name": "limit_persist", "value": 9}))  # RAM only
    accepted(h.send(PARAM_LOAD_DEFAULTS), "PARAM_LOAD_DEFAULTS")
    assert h.app.params["limit_persist"] == 3
    assert h.app.params["temp_max_c"] == 60.0
    # Reboot: the saved set (7, 55.0) comes back, not the unsaved 9 nor the defaults.
    h2 = h.reboot()
    assert h2.app.params["limit_persist"] == 7
    assert h2.app.params["temp_max_c"] == 55.0
    c = accepted(h2.send(PARAM_GET, {"name": "limit_persist"}))
    assert c["result"]["value"] == 7
    c = accepted(h2.send(PARAM_SAVE))
    assert c["result"]["generation"] == gen + 1


def test_param_load_defaults_refused_in_session():
    h = Obc()
    to_mode(h, "SESSION")
    accepted(h.send(PARAM_SET, {"name": "limit_persist", "value": 7}))
    check_rejected(h, h.packet(PARAM_LOAD_DEFAULTS), "WRONG_MODE")
    assert h.app.params["limit_persist"] == 7


def test_event_log_dump():
    h = Obc()
    accepted(h.send(REBOOT))  # a WARN event: goes to the persistent log
    h2 = h.reboot()
    h2.settle()
    c = accepted(h2.send(EVENT_LOG_DUMP, {"max": 256}), "EVENT_LOG_DUMP")
    h2.run(100000)
    dumped = [e for e in h2.of(APID_EVENT) if e.get("dump")]
    assert c["result"]["entries"] == len(dumped) == c["result"]["total"]
    names = [e["name"] for e in dumped]
    # Both boots' warnings, oldest first: the first boot's survive the reboot.
    assert names.count("DEV_KEY_IN_USE") == 2
    assert names.index("REBOOT_REQUESTED") < len(names) - 1
    ns = [e["n"] for e in dumped]
    assert ns == sorted(ns) and len(set(ns)) == len(ns)
    # ``max`` bounds the dump to the newest entries.
    c = accepted(h2.send(EVENT_LOG_DUMP, {"max": 1}))
    h2.run(100000)
    assert c["result"]["entries"] == 1
    assert [e for e in h2.of(APID_EVENT) if e.get("dump")][-1]["n"] == ns[-1]


def test_reboot_sets_flag_and_stops_after_report():
    h = Obc()
    h.send_raw(h.packet(REBOOT))
    h.app.run_for(5000000)
    # The scheduler stopped at the first tc tick after the TC: report out, queue empty.
    assert h.app.reboot_requested is True
    assert h.app.sched.running is False
    assert h.app.clock.now_us() < 100000
    assert h.app.tm.queued_bytes() == 0
    h.collect()
    accepted(h.reports(), "REBOOT")
    assert "REBOOT_REQUESTED" in [e["name"] for e in h.of(APID_EVENT)]
    h2 = h.reboot()
    assert h2.app.boot_count == h.app.boot_count + 1
    assert h2.app.reboot_requested is False


def test_reboot_waits_for_a_congested_link():
    h = Obc()
    h.board.link.tx_capacity = 0  # the OBC is not reading
    h.send_raw(h.packet(REBOOT))
    h.app.run_for(200000)
    assert h.app.reboot_requested and h.app.tm.queued_bytes() > 0
    assert h.app.clock.now_us() >= 200000  # still running: the report is not out yet
    h.board.link.tx_capacity = 1 << 20
    h.app.run_for(200000)
    assert h.app.tm.queued_bytes() == 0
    assert h.app.clock.now_us() < 200000 + 40000
    h.collect()
    accepted(h.reports(), "REBOOT")


def test_timetag_executes_at_time_with_marked_completion():
    h = Obc()
    h.settle()
    t = h.app.now_s() + 2.0
    reps = h.send(TIMETAG, {"time": t, "opcode": PARAM_SET,
                            "args": {"name": "limit_persist", "value": 11}})
    c = accepted(reps, "TIMETAG")
    assert c["result"]["queued"] == 1
    seq = c["tc_seq"]
    h.run(1500000)
    assert h.app.params["limit_persist"] == 3  # not yet
    assert h.reports() == []
    h.run(1000000)
    assert h.app.params["limit_persist"] == 11
    reps = h.reports()
    assert len(reps) == 1
    r = reps[0]
    assert r["stage"] == "complete" and r["ok"] is True and r["timetag"] is True
    assert r["tc_seq"] == seq and r["name"] == "PARAM_SET"
    assert r["result"]["value"] == 11
    assert len(h.app.timetags) == 0
    assert "TIMETAG_EXECUTED" in [e["name"] for e in h.of(APID_EVENT)]


def test_timetag_order_and_mode_checked_at_execution():
    h = Obc()
    h.settle()
    now = h.app.now_s()
    # Queued in SAFE: STANDBY at +2 s, then SESSION at +3 s (needs STANDBY when it runs).
    accepted(h.send(TIMETAG, {"time": now + 3.0, "opcode": SET_MODE,
                              "args": {"mode": "SESSION"}}))
    accepted(h.send(TIMETAG, {"time": now + 2.0, "opcode": SET_MODE,
                              "args": {"mode": "STANDBY"}}))
    # SESSION_END is only allowed in SESSION: at +1 s (SAFE) it fails, WRONG_MODE.
    accepted(h.send(TIMETAG, {"time": now + 1.0, "opcode": SESSION_END}))
    h.run(3500000)
    reps = h.reports()
    assert [(r["name"], r["ok"], r["reason"]) for r in reps] == [
        ("SESSION_END", False, "WRONG_MODE"), ("SET_MODE", True, None),
        ("SET_MODE", True, None)]
    assert all(r["timetag"] for r in reps)
    assert h.app.modes.mode == "SESSION"


def test_timetag_queue_bounded_busy_and_clear():
    h = Obc()
    fill_timetags(h)
    check_rejected(h, h.packet(TIMETAG, {"time": FAR, "opcode": PING}), "BUSY")
    c = accepted(h.send(TIMETAG_CLEAR), "TIMETAG_CLEAR")
    assert c["result"]["dropped"] == h.app.timetags.capacity
    assert len(h.app.timetags) == 0
    accepted(h.send(TIMETAG, {"time": FAR, "opcode": PING}))


def test_timetag_clear_drops_pending_commands():
    h = Obc()
    h.settle()
    t = h.app.now_s() + 1.0
    accepted(h.send(TIMETAG, {"time": t, "opcode": PARAM_SET,
                              "args": {"name": "limit_persist", "value": 12}}))
    accepted(h.send(TIMETAG_CLEAR))
    h.run(2000000)
    assert h.reports() == []
    assert h.app.params["limit_persist"] == 3


def test_accepted_report_names_every_core_command():
    """Accept + complete (ok) for every core command of the dictionary in a valid mode."""
    h = Obc(keys={DEV_KEY_ID: DEV_KEY, 2: KEY2})
    h.settle()
    now = h.app.now_s()
    todo = [
        (PING, {}), (SET_TIME, {"time": 1000.0}), (SET_MODE, {"mode": "STANDBY"}),
        (PARAM_SET, {"name": "limit_persist", "value": 4}), (PARAM_GET, {"name": "limit_persist"}),
        (PARAM_SAVE, {}), (PARAM_LOAD_DEFAULTS, {}), (EVENT_LOG_DUMP, {}),
        (TIMETAG, {"time": now + 2000.0, "opcode": PING}), (TIMETAG_CLEAR, {}),
        (KEY_ROTATE, {"key_id": 2}), (REBOOT, {}),
    ]
    for op, args in todo:
        accepted(h.send(op, args))
    assert h.app.tc.accepted == len(todo)
    assert h.app.tc.rejected_total() == 0
    assert h.app.tc.completed_ok == len(todo)


def test_handler_exception_is_a_completion_failure_not_a_crash(monkeypatch):
    from flight.corecmds import CoreCommands

    def boom(self, args, tc):
        raise RuntimeError("handler bug")

    monkeypatch.setattr(CoreCommands, "cmd_ping", boom)
    h = Obc()
    reps = h.send(PING)
    assert [(r["stage"], r["ok"], r["reason"]) for r in reps] == [
        ("accept", True, None), ("complete", False, "EXEC")]
    assert h.app.tc.completed_fail == 1
    accepted(h.send(SET_MODE, {"mode": "STANDBY"}))


def test_storage_failure_on_param_save_is_reported():
    h = Obc()
    h.board.storage.fail_writes = True
    reps = h.send(PARAM_SAVE)
    assert [(r["stage"], r["ok"], r["reason"]) for r in reps] == [
        ("accept", True, None), ("complete", False, "STORAGE")]
    h.run(1000000)
    assert "STORAGE_ERROR" in [e["name"] for e in h.of(APID_EVENT)]


def test_event_ids_used_by_the_pipeline_are_declared():
    from flight import tc, timetag

    decl = Obc(boot=False).app.events.decl
    for ev in (tc.EV_TC_REJECTED_AUTH, tc.EV_KEY_ROTATED, tc.EV_UART_ERROR,
               timetag.EV_TIMETAG_EXECUTED, timetag.EV_TIMETAG_DROPPED):
        assert decl[ev].severity in (events.SEV_INFO, events.SEV_WARN)


def test_completion_report_survives_a_dump_larger_than_the_tm_queue():
    """An EVENT_LOG_DUMP on a slow link fills the TM queue; the queue's reserve keeps
    room for the verification reports, so the completion still gets out."""
    h = Obc()
    for i in range(120):
        h.app.emit(EV_REBOOT_REQUESTED, [i, 2 * i], "warning number %d, some text" % i)
    h.settle()
    link = h.board.link
    link.tx_capacity = 1500  # the OBC reads slowly: 1.5 kB of room on the wire
    reps = h.send(EVENT_LOG_DUMP, {"max": 256}, run_us=20000)
    assert [r["stage"] for r in reps] == ["accept"]
    assert h.app.tm.dropped > 0  # the dump did not fit
    link.tx_capacity = 1 << 20
    h.run(100000)
    c = h.reports()
    assert len(c) == 1 and c[0]["stage"] == "complete" and c[0]["ok"] is True
    r = c[0]["result"]
    assert 0 < r["entries"] < r["total"]
    assert len([e for e in h.of(APID_EVENT) if e.get("dump")]) == r["entries"]
    # A rejection in the same congested state is reported too.
    link.tx_capacity = 0
    for _ in range(3):
        h.app.tm.send(APID_EVENT, {"filler": "x" * 3000})
    assert h.app.tm.queued_bytes() > h.app.tm.max_queue_bytes - h.app.tm.reserve_bytes - 3100
    h.send_raw(h.packet(0x7F))
    h.run(40000)
    link.tx_capacity = 1 << 20
    h.run(40000)
    assert [r["reason"] for r in h.reports()] == ["UNKNOWN_OPCODE"]


def test_bench_workload_accepts_and_completes_every_tc():
    import time

    from bench import tc as bench_tc

    r = bench_tc.workload(lambda: time.perf_counter() * 1e6)
    assert r["ok"] and r["n"] == bench_tc.N_MEASURE
    assert r["us"] > 0  # the figure itself is `make bench`'s (no host-speed bound here)

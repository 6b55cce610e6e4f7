"""Flood limits (flight/tclimit.py): bounded work per tick, budgeted rejection reports."""

from flight.tclimit import EV_TC_FLOOD, EV_TC_REJECTIONS, RejectSummary, TcBudget


def test_reject_summary_budgets_unauthenticated_reports_only():
    ev = []
    rs = RejectSummary(lambda i, a=None, d="": ev.append((i, a, d)), individual=2,
                       flood_threshold=5, persist_every_s=100)
    sent = [rs.allow("LENGTH", 0xA0, s, "short") for s in range(10)]
    assert sent == [True, True] + [False] * 8
    assert rs.allow("BAD_ARG", 0xA0, 99, "x") is True  # authenticated: always reported
    assert rs.allow("AUTH", 0xA0, 11, "") is False
    assert rs.flush(0.0) == 9
    assert [e[0] for e in ev] == [EV_TC_REJECTIONS, EV_TC_FLOOD]
    assert ev[0][1] == [9] and ev[0][2].startswith("LENGTH 8, AUTH 1; first: LENGTH apid 160 seq 2")
    ev.clear()
    for s in range(20):
        rs.allow("CRC", 0xA0, s, "")
    rs.flush(50.0)  # a flood again within persist_every_s: summary only
    assert [e[0] for e in ev] == [EV_TC_REJECTIONS]
    ev.clear()
    for s in range(20):
        rs.allow("CRC", 0xA0, s, "")
    rs.flush(100.0)
    assert [e[0] for e in ev] == [EV_TC_REJECTIONS, EV_TC_FLOOD]
    ev.clear()
    assert rs.flush(101.0) == 0 and ev == []


def test_budget_bounds_frames_and_time_and_keeps_order():
    t = [0]
    b = TcBudget(max_frames=3, max_us=1000, backlog=2, now_us=lambda: t[0])
    done = []
    b.start()
    for i in range(7):
        b.offer(i, done.append)
    assert done == [0, 1, 2] and b.pending() == 2 and b.dropped == 2
    b.start()
    b.run(done.append)
    b.offer(7, done.append)
    assert done == [0, 1, 2, 3, 4, 7]
    b.start()

    def slow(p):
        done.append(p)
        t[0] += 600

    b.offer(8, slow)
    b.offer(9, slow)
    b.offer(10, slow)  # the time bound (1000 us) is used up after two
    assert done[-2:] == [8, 9] and b.pending() == 1


def test_a_quiet_tc_tick_checks_no_budget_time_and_a_busy_one_does():
    """The tc task checks its flood budget's time only when it has done work since the
    budget's start (a backlog run, octets read, an event owed): a quiet tick, 50 a
    second, reads the clock once (the budget's start: ~20 k instructions a tick fewer on
    the target than with the three checks); octets on the link bring the checks back,
    and the octets are still read."""
    from tests.mpy.kit import app_rig

    r = app_rig("apt")
    app = r.app
    budget = app.limits.budget
    reads = [0]
    clock_now = budget._now

    def counting_now():
        reads[0] += 1
        return clock_now()

    budget._now = counting_now
    for _ in range(50):  # (the boot's events drained: each one checks the time)
        app._task_tc()
    assert app.events.pending() == 0
    reads[0] = 0
    for _ in range(5):
        app._task_tc()
    assert reads[0] == 5 and budget.pending() == 0  # (start() alone, once a tick)
    r.link.inject(b"\x00garbage\x00")  # (a delimited frame: screened, rejected)
    reads[0] = 0
    app._task_tc()
    assert reads[0] > 1 and r.link.rx_pending() == 0  # (read: the budget checked)
    reads[0] = 0
    app._task_tc()
    assert reads[0] == 1

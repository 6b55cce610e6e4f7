"""The transmitter boresight scan (flight/bore_scan.py) under MicroPython and CPython: the
schedule (ABBA per axis), arming until TRACK, the aborts (TRACK lost, session end, TC),
and the point-ahead tick carrying the trial into the APT's reference offset with the heap
locked (docs/point-ahead.md, step 3)."""

from flight import apt as A
from flight import bore_scan as BS
from flight import pointahead as PA
from hal.interfaces import APT_ACQUIRE, APT_TRACK

from fakes import FakeCtx
from heaplock import task_ticks

PATTERN = ((1, 0), (-1, 0), (-1, 0), (1, 0), (0, 1), (0, -1), (0, -1), (0, 1))


class _Apt:
    state = APT_TRACK


class _Cmd:
    def __init__(self, name):
        self.name = name


def _scan(step=20.0, dwell=1.0, cycles=2, state=APT_TRACK):
    ctx = FakeCtx(A, PA)
    apt = _Apt()
    apt.state = state
    pa = PA.PointAhead(ctx)
    pa.in_session = True
    sc = BS.BoreScan(ctx, apt)
    pa.scan = sc
    args = {"step_urad": step, "dwell_s": dwell, "cycles": cycles}
    sc.check_command(_Cmd("PA_BORE_SCAN"), args)
    rep = sc.cmd_scan(args, None)
    return ctx, apt, pa, sc, rep


def _ticks(pa, n, heap_locked=False):
    task_ticks(pa, n, heap_locked)


def test_the_schedule_is_abba_on_each_axis_then_zero():
    ctx, apt, pa, sc, rep = _scan(step=20.0, dwell=1.0, cycles=2)
    assert rep["armed"] and rep["tracking"] and rep["duration_s"] == 16.0
    ctx.t = 50.0
    _ticks(pa, 1)  # starts: dwell 0, its event with t0
    assert sc.state == BS.ST_SCAN
    assert ctx.args(BS.EV_BORE_SCAN_STARTED) == [[50.0, 20.0, 1.0, 2]]
    seen = []
    for _k in range(16):
        seen.append((sc.dwell, sc.tx, sc.ty))
        _ticks(pa, 10)  # 1 s: the next dwell
    for k in range(16):
        px, py = PATTERN[k % 8]
        assert seen[k] == (k, 2000 * px, 2000 * py), (k, seen[k])
    assert sc.state == BS.ST_DONE and sc.tx == 0 and sc.ty == 0 and not sc.active
    assert ctx.args(BS.EV_BORE_SCAN_DONE)[0][0] == 16


def test_the_trial_moves_the_reference_like_the_boresight_parameter():
    ctx, apt, pa, sc, rep = _scan(step=20.0, dwell=1.0, cycles=2)
    _ticks(pa, 1)
    # dwell 0: +20 µrad on the boresight x -> the offset 20 µrad lower in camera x
    off_scan = pa.offset.dx_q6
    ctx.params.set("pa_tx_bore_x_urad", 20.0)
    sc.tx = 0
    pa.scan = BS.NO_SCAN
    _ticks(pa, 1)
    assert pa.offset.dx_q6 == off_scan
    assert off_scan == round((-37.5 - 20.0) * 0.64)  # the default point-ahead - 20 µrad


def test_the_tick_allocates_nothing_while_scanning():
    ctx, apt, pa, sc, rep = _scan(step=10.0, dwell=0.5, cycles=4)
    _ticks(pa, 1)  # the start's event, unlocked
    _ticks(pa, 40, heap_locked=True)  # 4 s: eight dwells, their trials
    assert sc.state == BS.ST_SCAN and sc.dwell == 8 and sc.tx == 1000


def test_armed_until_track_then_aborted_when_track_is_lost():
    ctx, apt, pa, sc, rep = _scan(state=APT_ACQUIRE)
    assert not rep["tracking"]
    _ticks(pa, 5)
    assert sc.state == BS.ST_ARMED and sc.tx == 0 and sc.active
    assert not BS.NO_SCAN.active  # (the point-ahead tick calls nothing without a scan)
    apt.state = APT_TRACK
    _ticks(pa, 25)  # 2.5 s of 1 s dwells: dwell 2
    assert sc.state == BS.ST_SCAN and sc.dwell == 2 and sc.tx == -2000
    apt.state = APT_ACQUIRE
    _ticks(pa, 1)
    assert sc.state == BS.ST_ABORTED and sc.tx == 0 and sc.ty == 0 and not sc.active
    assert ctx.args(BS.EV_BORE_SCAN_ABORTED) == [[BS.WHY_TRACK, 2]]


def test_busy_while_one_runs_and_stopped_by_tc_or_the_session_end():
    ctx, apt, pa, sc, rep = _scan()
    try:
        sc.check_command(_Cmd("PA_BORE_SCAN"), {})
        raise AssertionError("a second scan was accepted")
    except ValueError as e:
        assert e.reason == "BUSY"
    _ticks(pa, 3)
    assert sc.cmd_stop({}, None) == {"stopped": "SCAN"}
    assert sc.state == BS.ST_ABORTED and sc.tx == 0
    assert ctx.args(BS.EV_BORE_SCAN_ABORTED) == [[BS.WHY_TC, 0]]
    assert sc.cmd_stop({}, None) == {"stopped": "ABORTED"}  # nothing to stop: no event
    assert len(ctx.args(BS.EV_BORE_SCAN_ABORTED)) == 1
    sc.check_command(_Cmd("PA_BORE_SCAN"), {})  # (no longer busy)
    sc.cmd_scan({"step_urad": 5.0, "dwell_s": 2.0, "cycles": 3}, None)
    _ticks(pa, 1)
    sc.stop_session()
    assert sc.state == BS.ST_ABORTED and sc.tx == 0
    assert ctx.args(BS.EV_BORE_SCAN_ABORTED)[-1] == [BS.WHY_SESSION, 0]


def test_housekeeping_shows_the_state_and_the_trial():
    ctx, apt, pa, sc, rep = _scan(step=12.5, dwell=1.0, cycles=2)
    _ticks(pa, 11)
    values = [None] * 4
    sc.hk_diag(values, 0)
    assert values == [BS.ST_SCAN, 1, -1250, 0]
    assert len(BS.HK_DIAG) == 4

"""The breakdown sweep held only while it is needed (flight/knee_owner.py, issue 11): on
the simulated pass a tracking payload holds no knee object and none of its code, its
outcome still reported and used; a commanded sweep builds it again; no heap for it is
its own event.  The flight image releases because its code is frozen
(flight.lazy.frozen); here that is what the tests pretend, to take the same path."""

import sys

import pytest

from flight import lazy
from flight.cmddict import BY_NAME, Refused
from flight.scheduler import S_FAULTS
from sim.run.passsim import fly

KNEE_CODE = ("flight.bias_knee", "flight.bias_kt", "flight.bias_kt_due", "flight.bias_kt_line",
             "flight.bias_knee_fit", "flight.bias_knee_report",
             "flight.bias_knee_light", "flight.comparator_sweep", "flight.apt_calib_run")


def _events(res, name):
    return [ev for _t, _b, ev in res.obc.events if ev.get("name") == name]


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(lazy, "frozen", lambda name: True)
    for name in KNEE_CODE:
        lazy.release(name)


def test_tracking_holds_no_knee_and_a_command_builds_it_again(frozen):
    res = fly("nominal", seed=1, duration_s=12.0)
    app = res.apps[0]
    k = app.payload["bias_knee"]
    comp = app.payload["comparator"]
    assert comp.state == 4 and app.payload["apt"].state == 3  # TRACK, both
    # the session's sweep is over: nothing of it held, its outcome kept
    assert k.knee is None and [m for m in KNEE_CODE if m in sys.modules] == []
    assert k.result == 1 and k.sweeps == 1 and k.state == 0
    assert k.vbr25 == app.params["bias_vbr25_v"] and k.floor_sigma is not None
    # ... once its hindsight was made (the knee held until then: flight/bias_kt.py)
    (hind,) = _events(res, "BIAS_KNEE_HINDSIGHT")
    assert hind["args"][1] is True and hind["args"][2] == k.vbr25
    v = [None] * 11
    k.hk(v, 0)
    k.hk_diag(v, 5)
    assert v[:3] == [0, 1, round(k.vbr25 * 1000)] and v[5] == 1  # IDLE, OK, V_br; sweeps
    # a commanded sweep: built again (its counts carried), run, dropped again
    cmd = BY_NAME["BIAS_KNEE_CALIBRATE"]
    k.check_command(cmd, {})
    k.cmd_knee_calibrate({}, None)
    assert k.knee is not None and k.state == 1 and comp.state == 0  # SWEEP; comparator paused
    app.run_for(2500000)
    assert len(_events(res, "BIAS_KNEE_CALIBRATED")) == 2 and k.result == 1
    assert k.knee is not None and k.state == 0  # idle, its hindsight due
    app.run_for(1500000)
    assert len(_events(res, "BIAS_KNEE_HINDSIGHT")) == 2
    assert k.knee is None and k.sweeps == 2 and comp.state != 0
    assert "flight.bias_knee" not in sys.modules
    assert not _events(res, "MODULE_LOAD_FAILED")


def test_no_heap_for_the_knee_is_its_own_event_and_the_pass_goes_on(frozen, monkeypatch):
    def no_heap(name, attr, emit, *args):
        lazy.failures[0] += 1
        emit(lazy.EV_MODULE_LOAD_FAILED, None, name)
        raise lazy.LoadFailed("heap exhausted")

    n = lazy.failures[0]
    monkeypatch.setattr(lazy, "make", no_heap)
    res = fly("nominal", seed=1, duration_s=10.0)
    app = res.apps[0]
    k = app.payload["bias_knee"]
    failed = _events(res, "MODULE_LOAD_FAILED")
    assert [e["text"] for e in failed] == ["flight.bias_knee"] and lazy.failures[0] == n + 1
    assert not _events(res, "BIAS_KNEE_SWEEP") and k.knee is None and k.result == 0
    # the comparator found its floor by its own noise sweep and tracks
    assert app.payload["comparator"].state == 4
    with pytest.raises(Refused) as refused:
        k.check_command(BY_NAME["BIAS_KNEE_CALIBRATE"], {})
    assert refused.value.reason == "BUSY"


def _commanded_knee():
    """The nominal pass tracking, then BIAS_KNEE_CALIBRATE: (res, app, owner, emitted ids
    with the app's clock, in µs), the sweep run window by window until its hold ends."""
    res = fly("nominal", seed=1, duration_s=12.0)
    app = res.apps[0]
    k = app.payload["bias_knee"]
    ids = []
    emit = app.events.emit

    def record(ev_id, args=None, detail=""):
        ids.append(ev_id)
        return emit(ev_id, args, detail)

    app.events.emit = record
    k.check_command(BY_NAME["BIAS_KNEE_CALIBRATE"], {})
    k.cmd_knee_calibrate({}, None)
    for _ in range(60):  # (100 ms: the knee's task period, a framer window)
        app.run_for(100000)
        if k.state == 0:
            break
    return res, app, k, ids


def test_a_knees_report_runs_over_five_windows_the_hardware_back_in_the_first(frozen):
    # One run of the knee's task was 1.4-1.8 M instructions on the M7 (the fit, k_T, the
    # line, ~10 parameter changes, the release, the events) against its 500 k budget:
    # five stages a window now (flight/bias_knee_report.py).
    from flight.bias_knee import EV_KNEE_DONE
    res, app, k, ids = _commanded_knee()
    p = app.params
    knee = k.knee
    bias = knee.bias
    comp = app.payload["comparator"]
    # 1: the sweep's hold over (the session ready, the comparator back) in the run of its
    # last point; the bias held at this knee's operating point; nothing reported yet
    assert k.state == 0 and knee._job is not None and comp.state != 0
    assert bias._override is not None
    op = knee.vbr25 + p["bias_vov_v"] + p["bias_kt_mv_per_k"] * 1e-3 * (bias.t_est - 25.0)
    assert abs(bias._override - op) < 0.005
    assert EV_KNEE_DONE not in ids and p["bias_vbr25_v"] != knee.vbr25
    with pytest.raises(Refused) as busy:
        k.check_command(BY_NAME["BIAS_KNEE_CALIBRATE"], {})
    assert busy.value.reason == "BUSY"
    app.run_for(100000)  # 2: k_T and the line
    assert knee._job is not None and bias._override is not None and EV_KNEE_DONE not in ids
    app.run_for(100000)  # 3: V_br25 set, the bias back to its loop
    assert p["bias_vbr25_v"] == knee.vbr25 and bias._override is None
    assert knee._job is not None and EV_KNEE_DONE not in ids
    t_last = p["bias_knee_last_t_c"]
    app.run_for(100000)  # 4: the knee's record
    assert knee._job is not None and EV_KNEE_DONE not in ids
    assert p["bias_knee_last_t_c"] != t_last and p["bias_knee_last_vbr_v"] > 20.0
    app.run_for(100000)  # 5: its kind, its event
    assert knee._job is None and ids.count(EV_KNEE_DONE) == 1 and k.result == 1
    assert app.sched.task("bias_knee").row[S_FAULTS] == 0


def test_a_session_ending_mid_report_reports_the_knee_whole_at_once(frozen):
    from flight.bias_knee import EV_KNEE_ABORTED, EV_KNEE_DONE
    res, app, k, ids = _commanded_knee()
    knee = k.knee
    assert knee._job is not None
    app.modes.request("STANDBY")  # the session's end: what is left of the report, now
    assert knee._job is None and ids.count(EV_KNEE_DONE) == 1 and EV_KNEE_ABORTED not in ids
    assert app.params["bias_vbr25_v"] == knee.vbr25 and knee.bias._override is None


def _stage_2_broken():
    """:func:`_commanded_knee` with the report's second stage (k_T, the line) raising."""
    res, app, k, ids = _commanded_knee()

    def broken(*a):
        raise ValueError("stage 2 broken")

    k.knee.kt.accept_report = broken
    return app, k, k.knee, ids


def test_a_report_stage_that_fails_gives_the_hardware_back_and_is_the_tasks_fault(frozen):
    from flight.bias_knee import EV_KNEE_DONE

    app, k, knee, ids = _stage_2_broken()
    row = app.sched.task("bias_knee").row
    faults = row[S_FAULTS]
    app.run_for(100000)
    assert knee._job is None and knee.bias._override is None and k.state == 0
    assert row[S_FAULTS] == faults + 1 and EV_KNEE_DONE not in ids


def test_a_report_stage_failing_at_the_sessions_end_is_an_abort_not_an_exception(frozen):
    from flight.bias_knee import EV_KNEE_ABORTED, EV_KNEE_DONE

    app, k, knee, ids = _stage_2_broken()
    app.modes.request("STANDBY")  # the drain meets the failure: reported, the mode changes
    assert app.modes.mode == "STANDBY"
    assert knee._job is None and knee.bias._override is None
    assert EV_KNEE_ABORTED in ids and EV_KNEE_DONE not in ids and k.result == 3

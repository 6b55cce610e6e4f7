"""The breakdown sweep held only while it is needed (flight/knee_owner.py, issue 11): on
the simulated pass a tracking payload holds no knee object and none of its code, its
outcome still reported and used; a commanded sweep builds it again; no heap for it is
its own event.  The flight image releases because its code is frozen
(flight.lazy.frozen); here that is what the tests pretend, to take the same path."""

import sys

import pytest

from flight import lazy
from flight.cmddict import BY_NAME, Refused
from sim.run.passsim import fly

KNEE_CODE = ("flight.bias_knee", "flight.bias_kt", "flight.bias_kt_due", "flight.bias_kt_line",
             "flight.bias_knee_fit",
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

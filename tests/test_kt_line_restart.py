"""A unit whose breakdown moved after its line was measured, flown session after session
in the simulator (docs/calibration.md "A line that stops fitting"; flight/bias_kt_line.py
``off_add``, flight/bias_kt.py): the payload's own first knee of each session, its
parameter table saved and booted again by the next pass, as in orbit.

The unit's line is seeded from what the payload measured: its first session's dark knee
(in the sensor's temperature, as every knee is) and a point 12 K warmer on the unit's true
k_T — a commissioned line.  Then the world's breakdown moves +40 mV (``vbr_shift_v``: an
ageing, or another unit in the slot): the first two sessions' knees are kept out of the
line and counted, the third restarts it from the three, the fourth joins the new line.
The same sessions without the shift join the line, one knee each."""

from hal.sim.storage import MemStorage
from hal.sim.world import make_world
from sim.run import passsim
from sim.run.commission import OP_PARAM_SAVE, PARAM_BLOBS

SEED = 1
SHIFT_V = 0.040
DURATION_S = 16.0  # the session's first knee (~7 s) and its hindsight (~8.5 s)
SAVE_AFTER_S = 10.0  # PARAM_SAVE after the session's start: after the hindsight


def _save_plan(world, t_session, t_end, _obc):
    return [(t_session + SAVE_AFTER_S, OP_PARAM_SAVE, None)]


def _flash(app):
    """A fresh flash holding the parameter table ``app`` saved (what the next boot reads)."""
    out = MemStorage()
    for name in PARAM_BLOBS:
        if name in app.storage.blobs:
            out.blobs[name] = bytes(app.storage.blobs[name])
    return out


def _session(storage, shift_v=0.0, hook=None):
    """(result, the flash the next session boots with) of one session's start."""
    res = passsim.fly("nominal", seed=SEED, overrides={"vbr_shift_v": shift_v},
                      app_hook=hook, plan_hook=_save_plan, duration_s=DURATION_S,
                      storage=storage)
    nxt = _flash(res.apps[-1])
    assert nxt.blobs, "the session saved no parameter table"
    return res, nxt


def _events(res, prefix="BIAS_KNEE_LINE"):
    return [ev for _t, _b, ev in res.obc.events if ev.get("name", "").startswith(prefix)]


def _commissioned():
    """The flash of a unit whose line is two knees: its first session's and one 12 K
    warmer on its true k_T; that session's V_br25."""
    k_t = make_world("nominal", seed=SEED).k_t  # V/K (the unit's truth)
    res, flash = _session(None)
    p = res.apps[-1].params
    t1, v1 = p["bias_knee_last_t_c"], p["bias_knee_last_vbr_v"]
    assert t1 > -200.0, "the session took no knee"
    vbr25 = p["bias_vbr25_v"]

    def seed(app):
        q = app.params
        for name, value in (("bias_kt_line_n", 2), ("bias_kt_line_t_c", t1 + 6.0),
                            ("bias_kt_line_vbr_v", v1 + k_t * 6.0),
                            ("bias_kt_line_stt", 72.0), ("bias_kt_line_stv", 72.0 * k_t),
                            ("bias_kt_line_svv", 72.0 * k_t * k_t),
                            ("bias_kt_mv_per_k", k_t * 1e3)):
            q.set(name, value)
        q.save()

    app = passsim.fly("nominal", seed=SEED, app_hook=seed, duration_s=0.5,
                      storage=flash).apps[-1]
    return _flash(app), vbr25


def test_a_moved_breakdown_restarts_the_line_in_the_third_session_and_the_fourth_joins_it():
    flash, vbr25 = _commissioned()
    for i in (1, 2):
        res, flash = _session(flash, SHIFT_V)
        ev = _events(res)
        assert [e["args"] for e in ev] == [[2, False]], ev
        assert "off the line" in ev[0]["text"] and "(%d off it in a row)" % i in ev[0]["text"]
        p = res.apps[-1].params
        assert p["bias_kt_line_n"] == 2 and p["bias_kt_line_off_n"] == i
        # the knee itself anchors V_br25: the moved breakdown is followed at once
        assert abs(p["bias_vbr25_v"] - (vbr25 + SHIFT_V)) < 0.005, p["bias_vbr25_v"]
    res, flash = _session(flash, SHIFT_V)
    assert [e["args"] for e in _events(res, "BIAS_KNEE_LINE_RESTART")] == [[2, 3]]
    p = res.apps[-1].params
    assert p["bias_kt_line_n"] == 3 and p["bias_kt_line_off_n"] == 0
    res, flash = _session(flash, SHIFT_V)
    assert not [e for e in _events(res) if "off the line" in e["text"]]
    p = res.apps[-1].params
    assert p["bias_kt_line_off_n"] == 0 and p["bias_kt_line_n"] == 3
    assert abs(p["bias_vbr25_v"] - (vbr25 + SHIFT_V)) < 0.005, p["bias_vbr25_v"]


def test_the_same_sessions_without_the_move_join_the_line():
    flash, _vbr25 = _commissioned()
    for i in range(3):  # each session's knee is the line's next point
        res, flash = _session(flash)
        # (said at the knee and again at its hindsight's refit)
        assert {tuple(e["args"]) for e in _events(res)} == {(3 + i, True)}, _events(res)
        assert not _events(res, "BIAS_KNEE_LINE_RESTART")
        p = res.apps[-1].params
        assert p["bias_kt_line_off_n"] == 0 and p["bias_kt_line_n"] == 3 + i

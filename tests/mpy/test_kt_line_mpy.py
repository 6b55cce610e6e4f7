"""The unit's V_br(T) line across sessions (flight/bias_kt_line.py, its use in
flight/bias_kt.py; docs/calibration.md "The k_T line across sessions") on every
interpreter: the statistics merge exactly, a session's dark knees join the saved line
when the k_T through it is accepted and stay out when refused, the next session's first
knee fits through the line, a knee far off the line's prediction stays out of it, light
knees never enter it, a table from before the line starts from its last dark knee, an
out-of-range save changes nothing."""

from flight import bias as B
from flight import bias_knee as K
from flight import bias_kt_line as L
from flight.bias_kt import EV_KNEE_KT, EV_KNEE_LINE, EV_KNEE_LINE_RESTART, KtTrack, line_fit
from fakes import FakeCtx

KT = 22.5  # mV/K: the unit's (the flight default is 21.5)
VBR25 = 24.30


def _vbr(t, kt=KT):
    return VBR25 + kt * 1e-3 * (t - 25.0)


def _ctx(**kw):
    return FakeCtx(K, B, params=kw)


def _close(a, b, tol):
    return abs(a - b) <= tol


def _commissioned():
    """(ctx, its KtTrack) after a session's two dark knees, 20 and 32 degC: the line's
    first two knees, k_T the unit's."""
    ctx = _ctx()
    tr = KtTrack()
    for t in (20.0, 32.0):
        tr.accept_report(ctx, ctx.params, t, _vbr(t), ctx.params["bias_kt_mv_per_k"])
    return ctx, tr


def test_merged_statistics_equal_those_of_all_the_knees_at_once():
    ts = [5.0, 12.5, 20.0, 21.0, 33.0]
    noise = (0.002, -0.003, 0.001, 0.0, -0.001)
    vs = [_vbr(ts[i]) + noise[i] for i in range(len(ts))]
    whole = L.group(ts, vs)
    parts = L.merge(L.merge(L.group(ts[:2], vs[:2]), L.group(ts[2:3], vs[2:3])),
                    L.group(ts[3:], vs[3:]))
    assert whole[0] == parts[0] == 5
    for i in range(1, 6):
        assert _close(whole[i], parts[i], 1e-9 + 1e-6 * abs(whole[i])), (i, whole, parts)
    assert L.merge(L.EMPTY, whole) == whole and L.merge(whole, L.EMPTY) == whole
    # the line through the statistics is the least-squares line of the points (each
    # sum formed directly, the residuals' scatter from the points themselves)
    a = L.line(parts, 0.003)
    n = len(ts)
    mt = sum(ts) / n
    mv = sum(vs) / n
    stt = sum((t - mt) ** 2 for t in ts)
    k = sum((ts[i] - mt) * (vs[i] - mv) for i in range(n)) / stt
    r = sum((vs[i] - mv - k * (ts[i] - mt)) ** 2 for i in range(n)) / (n - 2)
    b = (k * 1e3, (max(r, 0.003 ** 2) / stt) ** 0.5 * 1e3, n, mt, mv)
    for i in range(5):
        assert _close(a[i], b[i], 1e-3 + 1e-4 * abs(b[i])), (i, a, b)
    assert line_fit(ts, vs, 0.003) == L.line(whole, 0.003)  # (the session's own line)
    assert L.line(L.group([20.0], [24.2]), 0.003) is None
    assert L.line(L.group([20.0, 20.0], [24.2, 24.21]), 0.003) is None  # no spread


def test_a_sessions_dark_knees_join_the_line_and_the_next_session_fits_through_it():
    ctx = _ctx()
    p = ctx.params
    tr = KtTrack()
    kt0 = p["bias_kt_mv_per_k"]
    tr.start()
    tr.accept_report(ctx, p, 20.0, _vbr(20.0), kt0)  # the session's first knee: no fit
    assert ctx.args(EV_KNEE_LINE) == [] and p["bias_kt_line_n"] == 0
    tr.accept_report(ctx, p, 33.0, _vbr(33.0), kt0)  # the dark knee at the pass's end
    assert ctx.args(EV_KNEE_LINE) == [[2, True]]
    assert p["bias_kt_line_n"] == 2 and _close(p["bias_kt_line_t_c"], 26.5, 1e-6)
    assert _close(p["bias_kt_line_stt"], 84.5, 1e-4)  # 6.5² x 2
    assert _close(p["bias_kt_mv_per_k"], KT, 0.01)
    # the next session: its first knee, at 18 degC, is a third point on the same line
    tr.start()
    v = _vbr(18.0) + 0.002
    vbr25 = tr.accept_report(ctx, p, 18.0, v, p["bias_kt_mv_per_k"])
    kt_args = ctx.args(EV_KNEE_KT)[-1]
    assert kt_args[1] and kt_args[3] == 3, kt_args
    assert ctx.args(EV_KNEE_LINE)[-1] == [3, True]
    g = L.group([20.0, 33.0, 18.0], [_vbr(20.0), _vbr(33.0), v])
    want = L.line(g, p["bias_knee_vbr_err_v"])
    assert _close(p["bias_kt_mv_per_k"], want[0], 1e-3)
    assert _close(vbr25, want[4] + want[0] * 1e-3 * (25.0 - want[3]), 1e-5)
    assert p["bias_kt_line_n"] == 3 and _close(p["bias_kt_line_stt"], g[3], 1e-3)


def test_a_refused_k_t_keeps_the_sessions_knees_out_of_the_line():
    ctx, tr = _commissioned()
    p = ctx.params
    saved = [p[k] for k in L._NAMES]
    assert saved[0] == 2
    p.set("bias_knee_kt_max", 22.0)  # the unit's 22.5 mV/K now beyond the plausible
    tr.start()
    tr.accept_report(ctx, p, 5.0, _vbr(5.0), p["bias_kt_mv_per_k"])
    assert not ctx.args(EV_KNEE_KT)[-1][1]
    assert ctx.args(EV_KNEE_LINE)[-1] == [3, False]
    assert [p[k] for k in L._NAMES] == saved
    assert ctx.named(EV_KNEE_LINE)[-1].endswith("as it was")


def test_light_knees_never_enter_the_line():
    ctx = _ctx()
    p = ctx.params
    tr = KtTrack()
    kt0 = p["bias_kt_mv_per_k"]
    for t in (20.0, 24.0, 28.0):  # a session of light knees (10 mV below dark ones)
        tr.accept_report(ctx, p, t, _vbr(t) - 0.010, kt0, True)
    assert ctx.args(EV_KNEE_KT)[-1][1]  # the light line fitted and accepted ...
    assert ctx.args(EV_KNEE_LINE) == [] and p["bias_kt_line_n"] == 0  # ... not the unit's


def test_a_table_from_before_the_line_starts_from_its_last_dark_knee():
    ctx = _ctx(bias_knee_last_t_c=5.0, bias_knee_last_vbr_v=_vbr(5.0))
    p = ctx.params
    assert L.load(p) == (1, 5.0, _vbr(5.0), 0.0, 0.0, 0.0)
    tr = KtTrack()
    tr.accept_report(ctx, p, 20.0, _vbr(20.0), 21.5)
    assert ctx.args(EV_KNEE_LINE) == [[2, True]] and _close(p["bias_kt_mv_per_k"], KT, 0.01)
    # a light last knee does not seed the dark line; 9 K is not enough for a pair either
    p2 = _ctx(bias_knee_last_t_c=5.0, bias_knee_last_vbr_v=_vbr(5.0),
              bias_knee_last_light=True).params
    assert L.load(p2) == L.EMPTY
    ctx3 = _ctx(bias_knee_last_t_c=11.0, bias_knee_last_vbr_v=_vbr(11.0))
    KtTrack().accept_report(ctx3, ctx3.params, 20.0, _vbr(20.0), 21.5)
    assert ctx3.args(EV_KNEE_KT) == [] and ctx3.params["bias_kt_line_n"] == 0


def test_setting_the_count_to_zero_forgets_the_line():
    ctx, _tr = _commissioned()
    p = ctx.params
    assert L.load(p)[0] == 2
    p.set("bias_knee_last_t_c", 32.0)  # (flight/bias_knee.py keeps the last knee)
    p.set("bias_knee_last_vbr_v", _vbr(32.0))
    p.set("bias_kt_line_n", 0)  # the line forgotten: the last knee would seed it again ...
    assert L.load(p) == (1, 32.0, _vbr(32.0), 0.0, 0.0, 0.0)
    p.set("bias_knee_last_t_c", -273.0)  # ... unless it is forgotten too (a unit replaced)
    assert L.load(p) == L.EMPTY


def test_an_out_of_range_save_changes_nothing():
    p = _ctx().params
    good = L.group([20.0, 30.0], [_vbr(20.0), _vbr(30.0)])
    assert L.save(p, good) and p["bias_kt_line_n"] == 2
    before = [p[k] for k in L._NAMES]
    bad = (3, 26.0, 24.3, 2e9, 1.0, 1.0)  # S_tt beyond its parameter's range
    assert not L.save(p, bad)
    assert [p[k] for k in L._NAMES] == before


def test_a_dark_knee_dropped_from_a_long_session_stays_in_the_line():
    ctx = _ctx(bias_knee_track_min_span=1.0)
    p = ctx.params
    tr = KtTrack()
    ts = [10.0 + 2.0 * i for i in range(10)]  # more knees than a session keeps
    for t in ts:
        tr.accept_report(ctx, p, t, _vbr(t), p["bias_kt_mv_per_k"])
    assert len(tr.ts) < len(ts)
    assert ctx.args(EV_KNEE_LINE)[-1] == [10, True] and p["bias_kt_line_n"] == 10
    assert _close(p["bias_kt_line_t_c"], sum(ts) / len(ts), 1e-4)


def test_the_line_predicts_with_its_own_scatter_carried_to_the_temperature():
    g = L.group([20.0, 30.0], [_vbr(20.0), _vbr(30.0)])
    v, se = L.predict(g, 40.0, 0.003)
    assert _close(v, _vbr(40.0), 1e-6)
    # two knees: 3 mV each, at 15 K from their mean (S_tt 50 K²): 3 sqrt(1/2 + 225/50)
    assert _close(se, 0.003 * (0.5 + 4.5) ** 0.5, 1e-6), se
    assert L.predict(L.group([20.0], [24.2]), 25.0, 0.003) is None


def test_a_knee_far_off_the_line_stays_out_of_it_and_fits_nothing():
    ctx, tr = _commissioned()
    p = ctx.params
    saved = [p[k] for k in L._NAMES]
    kt = p["bias_kt_mv_per_k"]
    n_kt = len(ctx.args(EV_KNEE_KT))
    tr.start()  # the next session's first knee reads 40 mV high (a sensor jump, say)
    v = _vbr(21.0) + 0.040
    vbr25 = tr.accept_report(ctx, p, 21.0, v, kt)
    assert ctx.args(EV_KNEE_LINE)[-1] == [2, False]
    assert "off the line" in ctx.named(EV_KNEE_LINE)[-1]
    assert len(ctx.args(EV_KNEE_KT)) == n_kt  # no k_T fitted through it
    assert [p[k] for k in L._NAMES] == saved and p["bias_kt_mv_per_k"] == kt
    assert _close(vbr25, v - kt * 1e-3 * (21.0 - 25.0), 1e-6)  # the knee itself re-anchors
    # the session's next dark knee, on the line, fits through the line without it
    tr.accept_report(ctx, p, 26.0, _vbr(26.0), kt)
    assert ctx.args(EV_KNEE_KT)[-1][3] == 3 and ctx.args(EV_KNEE_LINE)[-1] == [3, True]
    assert p["bias_kt_line_n"] == 3 and _close(p["bias_kt_mv_per_k"], KT, 0.01)
    # the same knee 10 mV high (within 15 mV and 3 sigma of the prediction) joins
    ctx2, tr2 = _commissioned()
    tr2.start()
    tr2.accept_report(ctx2, ctx2.params, 21.0, _vbr(21.0) + 0.010, kt)
    assert ctx2.args(EV_KNEE_LINE)[-1] == [3, True]


def _session(ctx, tr, t, v):
    """A new session's first knee: V_br ``v`` at ``t``."""
    tr.start()
    return tr.accept_report(ctx, ctx.params, t, v, ctx.params["bias_kt_mv_per_k"])


def test_a_unit_replaced_restarts_the_line_after_three_knees_off_it():
    ctx, tr = _commissioned()
    p = ctx.params
    old = [p[k] for k in L._NAMES]
    kt_new, vbr25_new = 20.0, VBR25 + 0.050  # the unit in the slot now

    def knee(t):
        return vbr25_new + kt_new * 1e-3 * (t - 25.0)

    for i, t in enumerate((21.0, 23.0)):  # two sessions: each knee kept out, counted
        vbr25 = _session(ctx, tr, t, knee(t))
        assert ctx.args(EV_KNEE_LINE)[-1] == [2, False]
        assert "(%d off it in a row)" % (i + 1) in ctx.named(EV_KNEE_LINE)[-1]
        assert p["bias_kt_line_off_n"] == i + 1
        assert [p[k] for k in L._NAMES] == old  # the line as it was ...
        assert _close(vbr25, knee(t) - KT * 1e-3 * (t - 25.0), 1e-6)  # ... the knee anchors
    assert not ctx.args(EV_KNEE_LINE_RESTART)
    _session(ctx, tr, 20.0, knee(20.0))  # the third in a row: the line restarts from them
    assert ctx.args(EV_KNEE_LINE_RESTART) == [[2, 3]]
    assert p["bias_kt_line_n"] == 3 and p["bias_kt_line_off_n"] == 0
    assert _close(p["bias_kt_line_t_c"], (21.0 + 23.0 + 20.0) / 3, 1e-4)
    assert _close(p["bias_kt_line_vbr_v"], (knee(21.0) + knee(23.0) + knee(20.0)) / 3, 1e-6)
    # the next session's knees join the new line, and k_T is the new unit's once they
    # spread (its first knee, then one 12 K warmer)
    n_line = len(ctx.args(EV_KNEE_LINE))
    _session(ctx, tr, 22.0, knee(22.0))  # (no spread yet: nothing fitted, nothing said)
    assert len(ctx.args(EV_KNEE_LINE)) == n_line and p["bias_kt_line_off_n"] == 0
    vbr25 = tr.accept_report(ctx, p, 34.0, knee(34.0), p["bias_kt_mv_per_k"])
    assert ctx.args(EV_KNEE_LINE)[-1] == [5, True]
    assert _close(p["bias_kt_mv_per_k"], kt_new, 0.01), p["bias_kt_mv_per_k"]
    assert _close(vbr25, vbr25_new, 1e-4), vbr25


def test_a_knee_on_the_line_clears_the_knees_off_it():
    ctx, tr = _commissioned()
    p = ctx.params
    _session(ctx, tr, 21.0, _vbr(21.0) + 0.040)  # one bad knee ...
    assert p["bias_kt_line_off_n"] == 1
    _session(ctx, tr, 22.0, _vbr(22.0))  # ... then the unit as the line knows it
    assert p["bias_kt_line_off_n"] == 0
    for t in (21.0, 23.0):  # two more bad ones: two in a row, not three
        _session(ctx, tr, t, _vbr(t) + 0.040)
    assert p["bias_kt_line_off_n"] == 2 and not ctx.args(EV_KNEE_LINE_RESTART)
    assert p["bias_kt_line_n"] == 3


def test_knees_off_the_line_that_disagree_with_each_other_start_afresh():
    ctx, tr = _commissioned()
    p = ctx.params
    for sign in (1, -1, 1, -1):  # erratic knees, 40 mV either side: no trend to follow
        _session(ctx, tr, 21.0, _vbr(21.0) + sign * 0.040)
        assert p["bias_kt_line_off_n"] == 1
    assert not ctx.args(EV_KNEE_LINE_RESTART) and p["bias_kt_line_n"] == 2


def test_a_restart_count_of_zero_never_restarts_the_line():
    ctx, tr = _commissioned()
    p = ctx.params
    p.set("bias_kt_line_restart_n", 0)
    for t in (21.0, 23.0, 20.0, 22.0):
        _session(ctx, tr, t, _vbr(t) + 0.040)
    assert not ctx.args(EV_KNEE_LINE_RESTART)
    assert p["bias_kt_line_n"] == 2 and p["bias_kt_line_off_n"] == 4

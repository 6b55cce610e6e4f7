"""The breakdown tracked against temperature (flight/bias_kt.py) and the SiPM bias law in
fixed point (flight/bias.py) on every interpreter: the k_T line through the knees, its
quality, the refusal of an implausible or imprecise fit, when a tracking knee is due; the
law against the float formula, and what one 500 ms update allocates (MicroPython floats
are boxed: nothing, the HAL's integer calls in and out; the sensor selection and
cross-check run under ``micropython.heap_lock()``).
"""

import gc

from flight import bias as B
from flight import bias_knee as K
from flight import framer_ctl as F
from flight.bias_kt import KtTrack, line_fit

from flight import thermal_sensors as TS
from flight.thermal_sensors import to_q
from fakes import FakeCtx
from heaplock import locked
from kit import bias_update_rig, rig
from test_budget_mpy import ConstTemp

try:
    import micropython
except ImportError:  # CPython
    micropython = None


def _params(**kw):
    return FakeCtx(K, B, params=kw).params


def test_line_fit_gives_the_slope_and_its_standard_error():
    ts = [20.0, 23.5, 27.0, 30.5]
    vs = [24.4 + 0.0229 * (t - 20.0) for t in ts]
    k, sig, n, mt, mv = line_fit(ts, vs, 0.003)
    assert abs(k - 22.9) < 0.05 and n == 4
    # exact points: the scatter is the assumed repeatability, 3 mV over sqrt(sum dT^2)
    stt = sum((t - mt) ** 2 for t in ts)
    assert abs(sig - 3.0 / stt ** 0.5) < 0.01
    assert abs(mv - (24.4 + 0.0229 * (mt - 20.0))) < 1e-4
    # a scattered knee raises the standard error above the assumed repeatability
    vs[1] += 0.02
    assert line_fit(ts, vs, 0.003)[1] > 2 * sig


def _window(packets):
    w = [0] * F.W_LEN
    w[F.W_OK] = packets
    return w


def test_a_tracking_knee_is_due_when_the_die_moved_enough():
    p = _params(bias_knee_track_dk=3.5)  # (off by default: the link pays for a knee)
    tr = KtTrack()
    tr.see(_window(K.MIN_PACKETS))  # the uplink seen: tracking knees from now on
    assert tr.lit and not tr.due(30 * B.T_Q)  # no knee this session yet
    tr.add(p, 20.0, 24.35)
    dk = p["bias_knee_track_dk"]
    assert not tr.due(int((20.0 + dk - 0.05) * B.T_Q))
    assert tr.due(int((20.0 + dk + 0.05) * B.T_Q))
    assert tr.due(int((20.0 - dk - 0.05) * B.T_Q))  # cooling counts too (eclipse)
    tr.tracks = p["bias_knee_track_max"]
    assert not tr.due(int((20.0 + 2 * dk) * B.T_Q))  # the session's tracking knees spent
    tr.start()
    assert not tr.due(int((20.0 + 2 * dk) * B.T_Q)) and tr.tracks == 0
    p2 = _params()  # tracking off: the default
    tr.see(_window(K.MIN_PACKETS))
    tr.add(p2, 20.0, 24.35)
    assert not tr.due(60 * B.T_Q)


def test_pre_link_knees_are_due_in_the_dark_until_the_uplink_is_seen():
    p = _params()  # (on by default: before the link a dark knee costs it nothing)
    dk = p["bias_knee_prelink_dk"]
    assert dk == 3.0 and p["bias_knee_track_dk"] == 0.0
    tr = KtTrack()
    assert not tr.waiting and not tr.due(30 * B.T_Q)  # no knee this session yet
    tr.add(p, 20.0, 24.35)
    assert tr.waiting
    assert not tr.ready(_window(0), int((20.0 + dk - 0.05) * B.T_Q))
    hot = int((20.0 + dk + 0.05) * B.T_Q)
    assert tr.ready(_window(0), hot) and tr.due(int((20.0 - dk - 0.05) * B.T_Q))
    why = tr.started(23.2)
    assert why == "temperature 3.2 K from the last knee, before the uplink", why
    assert tr.tracks == 1 and tr.prelinks == 1
    # a few packets are not the uplink (noise, a stray reflection) ...
    tr.see(_window(K.MIN_PACKETS - 1))
    assert not tr.lit and tr.due(hot)
    # ... a window of them is: no more pre-link knees, and tracking is off by default
    tr.see(_window(K.MIN_PACKETS))
    assert tr.lit and not tr.waiting and not tr.ready(_window(2000), 60 * B.T_Q)
    # the session's pre-link knees spent: none due, however warm
    tr.start()
    assert not tr.lit and tr.prelinks == 0
    tr.add(p, 20.0, 24.35)
    for i in range(p["bias_knee_prelink_max"]):
        t = 20.0 + (i + 1) * (dk + 0.1)
        assert tr.due(int(t * B.T_Q)), i
        tr.started(t)
        tr.add(p, t, 24.35 + 0.0215 * (t - 20.0))
    assert not tr.waiting and not tr.due(80 * B.T_Q)
    # tracking knees count apart: all four still to come once the uplink is on
    p3 = _params(bias_knee_track_dk=3.5)
    tr.add(p3, 35.0, 24.67)
    tr.see(_window(2000))
    assert tr.due(int(38.6 * B.T_Q))
    # light the comparator saw (a link too weak for packets) ends them too
    tr.start()
    tr.add(p, 20.0, 24.35)
    tr.see(_window(0), True)
    assert tr.lit and not tr.waiting and not tr.due(40 * B.T_Q)
    # off: none before the link
    tr.start()
    tr.add(_params(bias_knee_prelink_dk=0.0), 20.0, 24.35)
    assert not tr.waiting and not tr.due(40 * B.T_Q)


def test_kt_from_three_knees_is_accepted_and_sets_the_parameters():
    p = _params()
    tr = KtTrack()
    kt0 = p["bias_kt_mv_per_k"]
    vbr25 = None
    for t in (20.0, 24.0, 28.0):
        vbr25, f, ok = tr.accept(p, t, 24.30 + 0.0235 * (t - 25.0), kt0)
    assert ok and f[2] == 3
    assert abs(p["bias_kt_mv_per_k"] - 23.5) < 0.01
    assert abs(vbr25 - 24.30) < 1e-4  # the line's value at 25 degC
    assert abs(tr.kt_fit - 23.5) < 0.01 and 0 < tr.kt_sigma < p["bias_knee_kt_max_err"]


def test_implausible_or_imprecise_kt_is_refused_and_the_parameters_kept():
    p = _params()
    kt0 = p["bias_kt_mv_per_k"]
    tr = KtTrack()
    for t in (20.0, 24.0, 28.0):  # 40 mV/K: beyond bias_knee_kt_max (28)
        vbr25, f, ok = tr.accept(p, t, 24.30 + 0.040 * (t - 25.0), kt0)
    assert f is not None and not ok and abs(f[0] - 40.0) < 0.01
    assert p["bias_kt_mv_per_k"] == kt0
    # refused: V_br25 from the latest knee with the k_T in use
    assert abs(vbr25 - (24.30 + 0.040 * 3.0 - kt0 * 1e-3 * 3.0)) < 1e-6
    tr.start()
    # two knees 3.5 K apart: sigma = 3 mV sqrt 2 / 3.5 K = 1.2 mV/K > bias_knee_kt_max_err
    tr.accept(p, 20.0, 24.30, kt0)
    vbr25, f, ok = tr.accept(p, 23.5, 24.30 + 0.0215 * 3.5, kt0)
    assert f is not None and not ok and f[1] > p["bias_knee_kt_max_err"]
    assert p["bias_kt_mv_per_k"] == kt0
    # bounds set wider than the parameter's own range (10..40 mV/K): refused, no exception
    p.set("bias_knee_kt_max", 60.0)
    tr.start()
    for t in (20.0, 24.0, 28.0):
        vbr25, f, ok = tr.accept(p, t, 24.30 + 0.045 * (t - 25.0), kt0)
    assert not ok and abs(f[0] - 45.0) < 0.01 and p["bias_kt_mv_per_k"] == kt0
    tr.start()  # one knee, and none from an earlier session: no fit at all
    assert tr.accept(p, 20.0, 24.30, kt0)[1] is None


def test_an_earlier_sessions_knee_pairs_with_the_first_of_this_one():
    p = _params(bias_knee_last_t_c=5.0, bias_knee_last_vbr_v=24.30 + 0.0225 * -20.0)
    tr = KtTrack()
    vbr25, f, ok = tr.accept(p, 20.0, 24.30 + 0.0225 * -5.0, 21.5)
    assert ok and f[2] == 2 and abs(p["bias_kt_mv_per_k"] - 22.5) < 0.01
    assert abs(vbr25 - 24.30) < 1e-4


def test_knees_of_one_kind_only_make_the_line():
    """A light knee reads the breakdown ~10 mV below a dark one (docs/calibration.md
    "Commissioning"): a dark first knee and light later ones would tilt the line."""
    p = _params()
    kt0 = p["bias_kt_mv_per_k"]
    tr = KtTrack()
    law = 0.0225  # the unit's own k_T (V/K); light knees 10 mV low

    def vbr(t, light):
        return 24.30 + law * (t - 25.0) - (0.010 if light else 0.0)
    assert tr.accept(p, 18.0, vbr(18.0, False), kt0)[1] is None  # one knee: no line
    # one light knee 4 K warmer: not paired with the dark one (a mixed line: 20.0 mV/K)
    assert tr.accept(p, 22.0, vbr(22.0, True), kt0, True)[1] is None
    vbr25, f, ok = tr.accept(p, 26.0, vbr(26.0, True), kt0, True)
    assert f is not None and f[2] == 2 and abs(f[0] - 22.5) < 0.01
    vbr25, f, ok = tr.accept(p, 30.0, vbr(30.0, True), kt0, True)
    assert ok and f[2] == 3 and abs(p["bias_kt_mv_per_k"] - 22.5) < 0.01
    assert abs(vbr25 - (24.30 - 0.010)) < 1e-4  # the light knees' line at 25 degC
    # a dark knee after them: its own kind has it and the first one (12 K apart)
    vbr25, f, ok = tr.accept(p, 30.0, vbr(30.0, False), kt0, False)
    assert ok and f[2] == 2 and abs(f[0] - 22.5) < 0.01 and abs(vbr25 - 24.30) < 1e-4


def test_an_earlier_sessions_knee_pairs_only_with_its_own_kind():
    last = 24.30 + 0.0225 * -20.0
    for saved_light, this_light, pairs in ((False, False, True), (True, True, True),
                                           (True, False, False), (False, True, False)):
        p = _params(bias_knee_last_t_c=5.0, bias_knee_last_vbr_v=last,
                    bias_knee_last_light=saved_light)
        f = KtTrack().accept(p, 20.0, 24.30 + 0.0225 * -5.0, 21.5, this_light)[1]
        assert (f is not None) == pairs, (saved_light, this_light)


def test_the_fixed_point_law_matches_the_float_formula():
    r = rig("bias", params={"bias_ff_tau_s": 0.0, "bias_kt_mv_per_k": 23.37,
                            "bias_vbr25_v": 24.321}, session=False)
    b = r.bias
    b.start_session()
    for t in (-40.0, -3.3, 0.0, 17.77, 25.0, 33.125, 61.9, 95.0):
        t_q = int(t * B.T_Q)
        b._set_target(t_q)
        t = t_q / B.T_Q  # (the law's input: the estimate to 1/4096 K)
        want = 24.321 + 0.02337 * (t - 25.0) + 3.0
        assert abs(b.v_target - want) < 5e-6, (t, b.v_target, want)
    # a parameter change reaches the law through the listener
    r.ctx.params.set("bias_vov_v", 4.0)
    b._set_target(25 * B.T_Q)
    assert abs(b.v_target - 28.321) < 5e-6


def test_one_update_allocates_nothing():
    b = bias_update_rig({"bias_ff_tau_s": 3.0}).bias
    readings = [to_q(25.0 + 0.05 * i) for i in range(40)]  # (1/4096 K, as the HAL's read_q)
    it = [0]

    def reading():  # (the sensor selection is flight/thermal_sensors.py's, apart)
        it[0] += 1
        return readings[it[0]]

    b._temperature = reading
    for _ in range(12):
        b.update()
    assert b.state == B.ACTIVE and b.readback_bad == 0
    assert abs(b.dtdt - 0.1) < 0.01 and abs(b.t_est - (readings[it[0]] / 4096 + 0.3)) < 0.01
    if micropython is None:
        return  # (CPython has no gc.mem_alloc: the count is MicroPython's)
    x = 1.5
    gc.disable()
    try:
        a0 = gc.mem_alloc()
        y = x * 3.0  # one boxed float: the heap's unit for it
        one = gc.mem_alloc() - a0
        a0 = gc.mem_alloc()
        b.update()
        used = gc.mem_alloc() - a0
    finally:
        gc.enable()
    assert y == 4.5 and one > 0
    assert used == 0, (used, one)  # integers out and back (BiasSupply.set_uv, read_back_uv)


def test_a_reading_to_fixed_point_is_int_of_t_times_4096():
    for t in (25.0, 25.0078125, -3.3, -0.0001, 0.0, 1e-5, 0.5, 17.77, 99.99, -49.9921875,
              255.9, 300.0, 511.999, 600.0, -600.0, 1.0 / 4096, -1.0 / 4096):
        assert to_q(t) == int(t * 4096.0), (t, to_q(t))


def test_the_sensor_selection_allocates_nothing():
    r = bias_update_rig({"bias_ff_tau_s": 3.0})
    b = r.bias
    ts = [ConstTemp(25.0), ConstTemp(25.0)]  # (FakeTemp's dither makes a float a read)
    b.sensors.checks[0].sensor, b.sensors.checks[1].sensor = ts
    # a slow rise in the TMP117's 1/128 K steps, the second sensor 0.25 K above
    ramp = [20.0 + k * 0.0078125 for k in range(64)]
    ramp2 = [t + 0.25 for t in ramp]
    i = [0]
    sel = b.sensors

    def step():
        k = i[0]
        ts[0].t = ramp[k]
        ts[1].t = ramp2[k]
        i[0] = k + 1
        assert sel.select(None) == to_q(ramp[k])  # (1/4096 K: an int, no float made)

    b.sensors.start()
    for _ in range(4):  # the baseline, the first anchor (and its lists) outside the lock
        step()
    locked(step, 56)
    assert sel.source == 0 and not sel.disagree and sel.excluded == [False, False]
    assert sel._base[1] == to_q(0.25) and sel._has_anchor
    assert 500 <= sel._slope <= 520  # 1/128 K per update = 512 in 1/65536 K
    assert r.ctx.named(TS.EV_THERMAL_EXCLUDED) == [] and r.ctx.named(TS.EV_THERMAL_DISAGREE) == []


def test_a_tracking_knee_waits_for_a_link_bad_enough_to_pay_for_it():
    p = _params(bias_knee_track_dk=3.5, bias_knee_track_ber_min=1e-4)
    tr = KtTrack()
    tr.add(p, 20.0, 24.35)
    tr.see(_window(2000))  # the uplink on
    hot = 30 * B.T_Q
    good = [0] * F.W_LEN
    good[F.W_OK] = 2000  # 2000 packets, 10 preamble errors: BER 7.8e-5
    good[F.W_PRE] = 10
    bad = list(good)
    bad[F.W_PRE] = 20  # BER 1.6e-4
    for _ in range(49):
        assert not tr.ready(bad, hot)  # no verdict before a block of 50 windows
    assert tr.ready(bad, hot)
    for _ in range(49):
        tr.ready(good, hot)
    assert not tr.ready(good, hot)  # the next block: a better link, no knee
    dark = [0] * F.W_LEN  # no packets: a dark knee costs the link nothing
    for _ in range(49):
        tr.ready(dark, hot)
    assert tr.ready(dark, hot)


def test_a_parameter_change_reloads_its_own_field_as_a_full_reload_would():
    # The listener reloads only the changed parameter's field (a knee's report sets
    # V_br25 and k_T: the seven reloads were ~33 k instructions a change on the M7);
    # each field after one change equals a fresh load of every parameter.
    from kit import rig
    fields = ("_vbr25_uv", "_kt_uv", "_vov_uv", "_ff8", "_a8", "_ramp_uv", "_tol_uv")
    changes = (("bias_vbr25_v", 24.512), ("bias_kt_mv_per_k", 23.75), ("bias_vov_v", 2.75),
               ("bias_ff_tau_s", 4.5), ("bias_ff_filter", 0.4), ("bias_ramp_v_per_s", 0.35),
               ("bias_readback_tol_v", 0.07))
    r = rig("bias", session=False)
    b = r.bias
    for name, value in changes:
        before = [getattr(b, f) for f in fields]
        r.ctx.params.set(name, value)
        got = [getattr(b, f) for f in fields]
        b._load_params()  # (every parameter, as at start)
        want = [getattr(b, f) for f in fields]
        assert got == want, name
        assert sum(1 for i in range(len(fields)) if got[i] != before[i]) == 1, name
    r.ctx.params.set("bias_max_step_c", 3.0)  # a parameter the law does not cache
    assert [getattr(b, f) for f in fields] == want

"""SiPM breakdown from the noise knee (flight/bias_knee.py, DESIGN §3.4.1): the estimator
on exact and noisy data, and the sweep in closed loop on the honest simulator (per-unit
V_br error injected by sim/calib.py), with its refusals and aborts."""

import math

import pytest

from flight import bias_knee as K
from sim import receiver
from sim.run.passsim import fly


def test_q_inverse_matches_the_gaussian_tail():
    for z in (0.5, 1.0, 2.0, 3.5, 5.0):
        p = 0.5 * math.erfc(z / math.sqrt(2.0))
        assert K.q_tail(z) == pytest.approx(p, rel=2e-6)
        assert K.q_inv(p) == pytest.approx(z, abs=1e-5)
    assert K.sigma_from_rate(0, 0.04) is None  # no trigger: nothing to invert
    assert K.sigma_from_rate(0.2 * 1e8, 0.04) is None  # saturated


def test_fit_finds_the_knee_of_an_exact_power_law():
    vbr, se = 24.4, 0.0095
    vs = [25.3 + 0.2 * i for i in range(7)]
    sig = [math.sqrt(se * se + (0.035 * ((v - vbr) / 3.0) ** 2) ** 2) for v in vs]
    got = K.fit_knee(vs, sig, se, 2.0, 0.15)
    assert got is not None
    assert got[0] == pytest.approx(vbr, abs=1e-6)
    assert got[2] < 1e-6
    # a wrong exponent bends the line: its residual grows and the knee moves
    bad = K.fit_knee(vs, sig, se, 1.5, 0.15)
    assert abs(bad[0] - vbr) > 0.05 and bad[2] > got[2]
    assert K.fit_knee(vs[:2], sig[:2], se, 2.0, 0.15) is None  # too few points


def _knee(res):
    return res.apps[0].payload["bias_knee"]


def _events(res, name):
    return [ev for _t, _b, ev in res.obc.events if ev.get("name") == name]


def _effective_vbr25(w, k_t):
    """The unit's V_br referred to 25 degC *through its sensors* (what the bias loop
    needs): the die runs warmer than the primary sensor reads by gradient - offset."""
    c = w.calib
    return w.v_br25 + k_t * (c["die_gradient_k"] - c["temp_offset_k"])


@pytest.mark.parametrize("seed", [1, 3, 4])
def test_closed_loop_recovers_the_injected_breakdown_error(seed):
    res = fly("nominal", seed=seed, duration_s=10.0)
    w = res.world
    k = _knee(res)
    assert k.result == K.R_OK, [e["text"] for e in _events(res, "BIAS_KNEE_ABORTED")]
    assert len(_events(res, "BIAS_KNEE_SWEEP")) == 1
    assert len(_events(res, "BIAS_KNEE_CALIBRATED")) == 1
    params = res.apps[0].params
    eff = _effective_vbr25(w, params["bias_kt_mv_per_k"] * 1e-3)
    assert abs(w.calib["v_br25_v"]) > 0.02  # an error was injected
    assert params["bias_vbr25_v"] == k.vbr25
    assert abs(k.vbr25 - eff) < 0.03
    # The over-voltage is corrected: the last window's true V_ov is on target.
    vov = w.overvoltage()
    assert abs(vov - params["bias_vov_v"]) < 0.04


def test_an_implausible_knee_is_refused_and_nothing_changes():
    def hook(app):
        app.params.set("bias_knee_vbr25_max", 24.2)  # every real unit is above this

    res = fly("nominal", seed=1, duration_s=9.0, app_hook=hook)
    k = _knee(res)
    assert k.result == K.R_REFUSED
    refused = _events(res, "BIAS_KNEE_REFUSED")
    assert len(refused) == 1 and refused[0]["args"][0] > 24.2
    params = res.apps[0].params
    assert params["bias_vbr25_v"] == 24.55  # the default, untouched
    assert not _events(res, "BIAS_KNEE_CALIBRATED")
    assert k.state == K.IDLE and res.apps[0].payload["bias"]._override is None


def test_a_sensor_fault_aborts_the_sweep_cleanly():
    faults = [(6.45, "temp_fault", (0, "nan")), (6.45, "temp_fault", (1, "nan"))]
    res = fly("nominal", seed=1, duration_s=8.0, overrides={"faults": faults})
    k = _knee(res)
    aborted = _events(res, "BIAS_KNEE_ABORTED")
    assert k.result == K.R_ABORTED and len(aborted) == 1
    assert "ACTIVE" in aborted[0]["args"][0]
    # no retry without a trusted temperature: the stored V_br is what the session has
    assert len(_events(res, "BIAS_KNEE_SWEEP")) == 1
    assert len(_events(res, "BIAS_KNEE_REUSED")) == 1
    assert res.apps[0].params["bias_vbr25_v"] == 24.55
    assert k.state == K.IDLE and res.apps[0].payload["bias"]._override is None


def test_session_end_aborts_the_sweep_cleanly():
    res = fly("nominal", seed=1, duration_s=6.6)
    app = res.apps[0]
    k = _knee(res)
    assert k.state == K.SWEEP  # mid-sweep
    assert app.modes.request("STANDBY") is None
    assert k.state == K.IDLE and k.result == K.R_ABORTED
    assert app.payload["bias"]._override is None
    assert app.params["bias_vbr25_v"] == 24.55
    assert k.aborts == 1
    assert not _events(res, "BIAS_KNEE_REUSED")  # the session is over: nothing to say


def test_a_knee_task_disabled_mid_sweep_gives_the_bias_back_and_the_session_goes_on():
    # Before, the sweep kept the bias at its point and the session's start waited on the
    # knee (session_ready) for the rest of the session: the comparator never started.
    # Now its task's safe state aborts it.
    res = fly("nominal", seed=1, duration_s=6.6)
    app = res.apps[0]
    k = _knee(res)
    comp = app.payload["comparator"]
    assert k.state == K.SWEEP and app.modes.starting() and comp.state == 0  # waiting on it

    def broken():
        raise ValueError("knee bug")

    k.knee.update = broken  # every run of the knee's task from now on
    app.run_for(3000000)
    task = app.sched.task("bias_knee")
    assert not task.enabled and task.faults == 5
    assert k.state == K.IDLE and k.result == K.R_ABORTED
    assert app.payload["bias"]._override is None and app.params["bias_vbr25_v"] == 24.55
    (ab,) = _events(res, "BIAS_KNEE_ABORTED")
    assert ab["args"] == ["its task was disabled"]
    assert not _events(res, "BIAS_KNEE_REUSED") and len(_events(res, "BIAS_KNEE_SWEEP")) == 1
    assert not app.modes.starting() and comp.state != 0  # the start went on


@pytest.mark.parametrize("seed,weather", [(1, "clear"), (2, "fog")])
def test_with_the_uplink_on_from_the_start_the_knee_reads_the_code_violations(seed, weather):
    # The uplink on before the session (a low pass): no dark window at all.  The sweep
    # reads the off-chips' noise from the code violations at the light level and the
    # V_br comes out as well as in the dark.
    res = fly("nominal", seed=seed, duration_s=10.0,
              overrides={"beacon_min_el_deg": 10.0, "weather": weather})
    k = _knee(res)
    assert k.result == K.R_OK and k.light, [e["text"] for e in _events(res, "BIAS_KNEE_ABORTED")]
    done = _events(res, "BIAS_KNEE_CALIBRATED")
    assert len(done) == 1 and done[0]["args"][3] is True
    params = res.apps[0].params
    eff = _effective_vbr25(res.world, params["bias_kt_mv_per_k"] * 1e-3)
    assert abs(res.world.calib["v_br25_v"]) > 0.02
    assert abs(k.vbr25 - eff) < 0.03
    assert abs(res.world.overvoltage() - params["bias_vov_v"]) < 0.04
    assert not _events(res, "BIAS_KNEE_REUSED")


def test_light_coming_on_during_a_dark_sweep_restarts_it_on_the_violations():
    # Zenith pass: the uplink comes on ~1.4 s after the bias ramp, inside the sweep.
    res = fly("nominal", seed=1, duration_s=10.0, overrides={"beacon_min_el_deg": 17.75})
    k = _knee(res)
    assert k.result == K.R_OK and k.light and k._switched
    assert not _events(res, "BIAS_KNEE_ABORTED")
    eff = _effective_vbr25(res.world, res.apps[0].params["bias_kt_mv_per_k"] * 1e-3)
    assert abs(k.vbr25 - eff) < 0.03


def test_without_the_light_mode_an_aborted_sweep_is_retried_then_the_last_vbr_is_reused():
    def hook(app):
        app.params.set("bias_knee_light", 0)  # light aborts, as before issue 14's fix
        app.params.set("bias_vbr25_v", 24.31)  # a knee accepted in an earlier session
        app.params.set("bias_knee_last_t_c", 18.5)

    res = fly("nominal", seed=1, duration_s=10.0, overrides={"beacon_min_el_deg": 10.0},
              app_hook=hook)
    k = _knee(res)
    aborted = _events(res, "BIAS_KNEE_ABORTED")
    assert k.result == K.R_ABORTED and not k.light
    assert len(aborted) == 2  # the automatic sweep and its one retry (bias_knee_retries)
    assert [e["args"][0] for e in _events(res, "BIAS_KNEE_SWEEP")] == ["session start", "retry"]
    reused = _events(res, "BIAS_KNEE_REUSED")
    assert len(reused) == 1
    assert reused[0]["args"][0] == pytest.approx(24.31) and reused[0]["args"][1] == 18.5
    assert "light" in reused[0]["args"][2]
    app = res.apps[0]
    assert app.params["bias_vbr25_v"] == 24.31  # kept, and tracked with k_T by the loop
    b = app.payload["bias"]
    assert b._override is None and k.state == K.IDLE
    want = 24.31 + app.params["bias_kt_mv_per_k"] * 1e-3 * (b.t_est - 25.0) \
        + app.params["bias_vov_v"]
    assert b.v_target == pytest.approx(want, abs=1e-6)
    assert app.payload["comparator"].state != 0  # the session went on


def _loopback(app):
    app.payload["framer"].cmd_set_mode({"mode": "LOOPBACK"}, None)


def test_a_session_in_loopback_keeps_the_breakdown_and_says_why():
    """The framer in LOOPBACK counts its own packets: not the uplink's light.  The
    session's sweep ends at its first window, not retried, V_br25 kept (before stop 61
    the sweep read the loop's packets as the uplink: "light: packets during the sweep",
    twice, and the light mode's points from the loop's code violations)."""
    res = fly("nominal", seed=1, duration_s=10.0, app_hook=_loopback)
    app = res.apps[0]
    k = _knee(res)
    aborted = _events(res, "BIAS_KNEE_ABORTED")
    assert [e["args"][0] for e in aborted] == ["framer in LOOPBACK: no optical window"]
    assert [e["args"][0] for e in _events(res, "BIAS_KNEE_SWEEP")] == ["session start"]
    reused = _events(res, "BIAS_KNEE_REUSED")
    assert len(reused) == 1 and "LOOPBACK" in reused[0]["args"][2]
    assert app.params["bias_vbr25_v"] == 24.55 and k.aborts == 1 and not k.light
    assert k.state == K.IDLE and app.payload["bias"]._override is None


def test_loopback_commanded_mid_sweep_ends_it():
    res = fly("nominal", seed=1, duration_s=6.6)
    app = res.apps[0]
    k = _knee(res)
    assert k.state == K.SWEEP and k._i > 0  # a dark sweep under way, its points taken
    _loopback(app)
    app.run_for(500000)
    assert k.state == K.IDLE and k.result == K.R_ABORTED
    assert [e["args"][0] for e in _events(res, "BIAS_KNEE_ABORTED")] == [
        "framer in LOOPBACK: no optical window"]
    assert len(_events(res, "BIAS_KNEE_SWEEP")) == 1  # not retried
    assert app.params["bias_vbr25_v"] == 24.55 and app.payload["bias"]._override is None


def test_a_commanded_sweep_is_neither_retried_nor_reported_as_reused():
    res = fly("nominal", seed=1, duration_s=12.0)
    app = res.apps[0]
    k = _knee(res)
    app.params.set("bias_knee_light", 0)
    k.cmd_knee_calibrate({}, None)
    app.run_for(1000000)
    assert k.result == K.R_ABORTED
    assert [e["args"][0] for e in _events(res, "BIAS_KNEE_SWEEP")] == ["session start", "TC"]
    assert not _events(res, "BIAS_KNEE_REUSED")


def test_noise_trigger_model_is_continuous_through_breakdown():
    # The honest world counts the electronics' noise below breakdown too (no step at 0).
    lv = 150 / 4095.0
    below = receiver.noise_trigger_rate(lv, 0.0)
    just_above = receiver.noise_trigger_rate(lv, 0.01)
    assert below > 0 and just_above == pytest.approx(below, rel=1e-6)


@pytest.mark.parametrize("plausible", [True, False])
def test_k_t_from_two_knees_at_different_temperatures(plausible):
    # An earlier knee, 14 K colder than this session's (~19.6 degC on seed 3's sensors).
    w0 = fly("nominal", seed=3, duration_s=0.2).world
    k_true = w0.k_t
    t0 = 5.6
    eff = _effective_vbr25(w0, k_true)
    v0 = eff + k_true * (t0 - 25.0) if plausible else eff + 0.040 * (t0 - 25.0)

    def hook(app):
        app.params.set("bias_knee_last_t_c", t0)
        app.params.set("bias_knee_last_vbr_v", v0)

    res = fly("nominal", seed=3, duration_s=10.0, app_hook=hook)
    kt_ev = _events(res, "BIAS_KNEE_KT")  # (the knee's fit, then with it in hindsight)
    assert len(kt_ev) == 2 and kt_ev[0]["args"][1] is kt_ev[1]["args"][1] is plausible
    kt = res.apps[0].params["bias_kt_mv_per_k"]
    if plausible:
        assert abs(kt - k_true * 1e3) < 2.0  # from the 1 mV/K prior error down
    else:
        assert kt == 21.5 and kt_ev[0]["args"][0] > 28.0


def test_commanded_sweep_pauses_and_resumes_the_comparator():
    from flight.cmddict import BY_NAME, Refused

    res = fly("nominal", seed=1, duration_s=12.0)
    app = res.apps[0]
    k = _knee(res)
    comp = app.payload["comparator"]
    cmd = BY_NAME["BIAS_KNEE_CALIBRATE"]
    assert comp.state == 4  # TRACK
    k.check_command(cmd, {})  # bias ACTIVE, no sweep: accepted
    k.cmd_knee_calibrate({}, None)
    assert k.state == K.SWEEP and comp.state == 0  # the comparator paused (OFF)
    with pytest.raises(Refused) as refused:
        k.check_command(cmd, {})
    assert refused.value.reason == "BUSY"
    app.run_for(2500000)
    # The uplink is on in mid-pass: the sweep reads the code violations; the comparator
    # starts again afterwards from the new noise floor.
    assert k.state == K.IDLE and k.result == K.R_OK and k.light
    assert len(_events(res, "BIAS_KNEE_CALIBRATED")) == 2
    assert comp.state != 0
    assert app.params["bias_vbr25_v"] == k.vbr25
    eff = _effective_vbr25(res.world, app.params["bias_kt_mv_per_k"] * 1e-3)
    assert abs(k.vbr25 - eff) < 0.03
    app.payload["bias"].state = 3  # HOLD: no sweep without a trusted temperature
    with pytest.raises(Refused) as refused:
        k.check_command(cmd, {})
    assert refused.value.reason == "WRONG_MODE"


def test_no_sweep_without_a_trusted_temperature_reports_the_reused_breakdown():
    res = fly("nominal", seed=1, duration_s=12.0)
    app = res.apps[0]
    k = _knee(res)
    app.payload["bias"].state = 3  # HOLD at the next session start (sensors lost)
    n_sweeps = len(_events(res, "BIAS_KNEE_SWEEP"))
    k.start_session()
    app.run_for(1000000)
    assert k.state == K.IDLE and len(_events(res, "BIAS_KNEE_SWEEP")) == n_sweeps
    reused = _events(res, "BIAS_KNEE_REUSED")
    assert len(reused) == 1 and "ACTIVE" in reused[0]["args"][2]
    assert reused[0]["args"][0] == pytest.approx(app.params["bias_vbr25_v"])


# ---------------------------------------------------------------------- tracked against T
# A unit whose k_T is 1.41 mV/K above the flight default (sim/calib.py draw of this seed):
# one knee at the session start leaves 1.41 mV per kelvin of the pass's warming.
SEED_KT_HIGH = 2061857248


def _true_vbr(w, t):
    """The unit's V_br at sensor temperature ``t`` (what the bias loop must track)."""
    return _effective_vbr25(w, w.k_t) + w.k_t * (t - 25.0)


def _track_every_3k5(app):
    # (a knee every 3.5 K whatever the link's BER: two tracking knees in 72 s)
    app.params.set("bias_knee_track_dk", 3.5)
    app.params.set("bias_knee_track_ber_min", 0.0)


def test_tracking_knees_follow_the_warming_die_and_fit_the_units_k_t():
    res = fly("nominal", seed=SEED_KT_HIGH, duration_s=72.0, app_hook=_track_every_3k5)
    w = res.world
    app = res.apps[0]
    k = _knee(res)
    assert w.k_t * 1e3 - 21.5 > 1.0  # the unit's k_T is off the default
    starts = [e["args"][0] for e in _events(res, "BIAS_KNEE_SWEEP")]
    assert starts[0] == "session start" and len(starts) == 3
    assert all(s.startswith("temperature") for s in starts[1:])  # the die warmed 3.5 K
    done = _events(res, "BIAS_KNEE_CALIBRATED")
    assert len(done) == 3 and done[1]["args"][3] and done[2]["args"][3]  # uplink on
    # σ_e measured again at the light level by the first light knee (a comparator offset
    # scales σ_e differently at another level: reused, it moved the knee ~60 mV)
    assert k._se_codes == k._level_codes() != app.params["bias_knee_level_codes"]
    # each knee finds the breakdown where the die is then (knee noise: the light knees
    # read 3 points at the probe's higher level since they were made cheaper, ~10 mV)
    ts = k.kt.ts
    for i in range(3):
        assert abs(k.kt.vs[i] - _true_vbr(w, ts[i])) < 0.02, (i, ts[i])
    assert ts[2] - ts[0] > 6.5
    kt_ev = _events(res, "BIAS_KNEE_KT")
    # fitted through the two light knees only: the dark first one is of another kind (a
    # light knee reads ~10 mV lower: a mixed line tilts, docs/calibration.md)
    assert k.kt.ks == [False, True, True]
    # (each fit reported twice: as the knee came, and 1 s later with it in hindsight)
    assert [e["args"][3] for e in kt_ev] == [2, 2] and "hindsight" in kt_ev[1]["text"]
    assert all(e["args"][2] > 0.0 for e in kt_ev)  # with its standard error (quality)
    assert k.kt.tracks == 2 and not _events(res, "BIAS_KNEE_ABORTED")
    # the comparator held during the tracking knees and tracks on (no new acquisition)
    comp = app.payload["comparator"]
    assert comp.state == 4 and len(_events(res, "COMP_CALIBRATED")) == 1
    # the bias follows the re-anchored breakdown: V_ov on target where the die is now
    assert abs(w.overvoltage() - app.params["bias_vov_v"]) < 0.02  # (knee noise, above)
    hk = k.kt.kt_sigma
    assert hk is not None and hk == pytest.approx(kt_ev[-1]["args"][2])


def test_an_implausible_k_t_from_the_tracking_knees_is_refused():
    def hook(app):
        _track_every_3k5(app)
        app.params.set("bias_knee_kt_max_err", 5.0)  # any precision will do here ...
        app.params.set("bias_knee_kt_max", 15.0)  # ... but 15 mV/K is the most plausible

    res = fly("nominal", seed=SEED_KT_HIGH, duration_s=72.0, app_hook=hook)
    app = res.apps[0]
    k = _knee(res)
    kt_ev = _events(res, "BIAS_KNEE_KT")
    assert len(kt_ev) == 2  # (the fit, then with the knee in hindsight: both refused)
    assert all(e["args"][1] is False and e["args"][0] > 15.0 for e in kt_ev)
    assert all("refused" in e["text"] for e in kt_ev)
    assert app.params["bias_kt_mv_per_k"] == 21.5  # kept
    # the tracking knees themselves still re-anchor V_br (with the k_T in use)
    assert len(_events(res, "BIAS_KNEE_CALIBRATED")) == 3
    assert app.params["bias_vbr25_v"] == k.vbr25
    t = k.kt.ts[-1]
    assert k.vbr25 == pytest.approx(k.kt.vs[-1] - 0.0215 * (t - 25.0), abs=1e-9)


def test_no_tracking_knee_while_the_link_is_too_good_to_pay_for_it():
    def hook(app):
        app.params.set("bias_knee_track_dk", 3.5)
        app.params.set("bias_knee_track_ber_min", 0.01)  # BER 1 %: a link never that bad

    res = fly("nominal", seed=SEED_KT_HIGH, duration_s=36.0, app_hook=hook)
    k = _knee(res)
    assert len(_events(res, "BIAS_KNEE_SWEEP")) == 1  # the session start's only
    assert k.kt.due(res.apps[0].payload["bias"].t_est_q)  # (it was due: the die warmed)
    assert k.kt.tracks == 0 and not k.kt._link_ok


# ------------------------------------------------------------- what a light sweep costs
def _sweep_ber_sum(res, t_end):
    """Error-weighted cost of the knee to the link: the true BER summed over the windows
    with signal, above breakdown and the receiver on, before the comparator tracks (the
    knee's windows: sim/run/metrics_link.py ``ber_ratio_session_with_sweeps``)."""
    from sim.run.recorder import W_BER, W_CSTATE, W_LINK, W_SIGNAL, W_T, W_VOV
    return sum(r[W_BER] for r in res.rec.windows if r[W_SIGNAL] and r[W_VOV] > 0.05
               and r[W_LINK] >= 1 and r[W_CSTATE] != 4 and r[W_T] < t_end)


def test_a_light_sweep_with_a_strong_signal_costs_the_link_a_fifth_of_before():
    # Uplink on from the start, clear sky: the probe finds the signal strong, the sweep
    # reads 3 points at the higher level (moved to the noise).  Before: 4 points at 90
    # codes, 0.119 (a whole pass's best-level errors are ~0.04 on a 35-55 deg pass).
    res = fly("nominal", seed=1, duration_s=10.0, overrides={"beacon_min_el_deg": 10.0})
    k = _knee(res)
    params = res.apps[0].params
    assert k.result == K.R_OK and k.light
    assert k._codes > params["bias_knee_light_codes"] and k.n_fit == 3
    assert _sweep_ber_sum(res, 9.0) < 0.04
    eff = _effective_vbr25(res.world, params["bias_kt_mv_per_k"] * 1e-3)
    assert abs(k.vbr25 - eff) < 0.03


def test_in_fog_the_probe_keeps_the_low_light_level():
    # Weak signal: at the higher level its on-chips would be read low too, counted as
    # noise (the knee tens of mV low): the probe keeps bias_knee_light_codes.
    res = fly("nominal", seed=2, duration_s=10.0,
              overrides={"beacon_min_el_deg": 10.0, "weather": "fog"})
    k = _knee(res)
    assert k.result == K.R_OK and k.light
    assert k._codes == res.apps[0].params["bias_knee_light_codes"]


def test_light_arriving_late_in_a_dark_sweep_keeps_the_dark_points():
    # The uplink comes on after the dark sweep has 3+ points above the noise: fitted as
    # they are, no light sweep at all (before: restarted on the violations, 0.136).
    res = fly("nominal", seed=1, duration_s=10.0, overrides={"beacon_min_el_deg": 17.95})
    k = _knee(res)
    assert k.result == K.R_OK and not k.light and k.n_fit >= 3
    assert len(_events(res, "BIAS_KNEE_SWEEP")) == 1
    assert _sweep_ber_sum(res, 9.0) < 0.035  # 0.032 at the 130-code dark level
    eff = _effective_vbr25(res.world, res.apps[0].params["bias_kt_mv_per_k"] * 1e-3)
    assert abs(k.vbr25 - eff) < 0.03


def test_no_heap_for_the_light_sweeps_code_aborts_it_and_says_why(monkeypatch):
    # flight/bias_knee_light.py is loaded for a light sweep (flight/lazy.py): without the
    # heap for it the sweep aborts (its event, MODULE_LOAD_FAILED counted by lazy), the
    # bias goes back to its loop and the session runs on the stored V_br.
    from flight import lazy
    load = lazy.load

    def no_heap(name, emit=None):
        if name == "flight.bias_knee_light":
            raise lazy.LoadFailed("no heap")
        return load(name, emit)

    monkeypatch.setattr(lazy, "load", no_heap)
    res = fly("nominal", seed=1, duration_s=10.0, overrides={"beacon_min_el_deg": 10.0})
    k = _knee(res)
    why = [e["args"][0] for e in _events(res, "BIAS_KNEE_ABORTED")]
    assert k.result == K.R_ABORTED and why and all("heap" in w for w in why)
    assert len(_events(res, "BIAS_KNEE_REUSED")) == 1
    assert k.state == K.IDLE and res.apps[0].payload["bias"]._override is None
    assert res.apps[0].params["bias_vbr25_v"] == 24.55

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


def test_light_during_the_sweep_aborts_it():
    # The uplink on from the start: packets and signal triggers during the sweep.
    res = fly("nominal", seed=1, duration_s=8.0, overrides={"beacon_min_el_deg": 10.0})
    k = _knee(res)
    assert k.result == K.R_ABORTED
    assert res.apps[0].params["bias_vbr25_v"] == 24.55


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

    res = fly("nominal", seed=3, duration_s=9.0, app_hook=hook)
    kt_ev = _events(res, "BIAS_KNEE_KT")
    assert len(kt_ev) == 1 and kt_ev[0]["args"][1] is plausible
    kt = res.apps[0].params["bias_kt_mv_per_k"]
    if plausible:
        assert abs(kt - k_true * 1e3) < 2.0  # from the 1 mV/K prior error down
    else:
        assert kt == 21.5 and kt_ev[0]["args"][0] > 28.0


def test_commanded_sweep_pauses_and_resumes_the_comparator():
    from flight.cmddict import BY_NAME, Busy, WrongMode

    res = fly("nominal", seed=1, duration_s=12.0)
    app = res.apps[0]
    k = _knee(res)
    comp = app.payload["comparator"]
    cmd = BY_NAME["BIAS_KNEE_CALIBRATE"]
    assert comp.state == 4  # TRACK
    k.check_command(cmd, {})  # bias ACTIVE, no sweep: accepted
    k.cmd_knee_calibrate({}, None)
    assert k.state == K.SWEEP and comp.state == 0  # the comparator paused (OFF)
    with pytest.raises(Busy):
        k.check_command(cmd, {})
    app.run_for(1000000)
    # The uplink is on in mid-pass: the sweep sees packets and aborts; the comparator
    # starts again and nothing is changed.
    assert k.state == K.IDLE and k.result == K.R_ABORTED
    assert "light" in _events(res, "BIAS_KNEE_ABORTED")[-1]["args"][0]
    assert comp.state != 0
    assert app.params["bias_vbr25_v"] == k.vbr25  # the session-start result, kept
    app.payload["bias"].state = 3  # HOLD: no sweep without a trusted temperature
    with pytest.raises(WrongMode):
        k.check_command(cmd, {})

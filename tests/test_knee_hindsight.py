"""The session's first knee in hindsight, in closed loop on the honest simulator
(flight/bias_kt.py ``KtTrack.refine``; docs/calibration.md "The knee's temperature in
hindsight"): the knee runs ~2 s after power-on while the die warms; 1 s later its
temperature is re-read from the sensor's readings around it, closer to the die's."""

from flight.bias import BiasControl
from sim.run.passsim import fly


def _events(res, name):
    return [ev for _t, _b, ev in res.obc.events if ev.get("name") == name]


def test_the_first_knees_temperature_in_hindsight_is_closer_to_the_die(monkeypatch):
    log = {}  # bias reading index -> (die, offset of the sensor in use, t_est): the truth

    update = BiasControl.update

    def update_logged(b):
        update(b)
        if b.source >= 0:
            world = b.sensors.checks[0].sensor.world
            log[b.readings - 1] = (world.thermal.temperature(),
                                   world.sensors[b.source].offset_k, b.t_est)
    monkeypatch.setattr(BiasControl, "update", update_logged)

    res = fly("nominal", seed=1, duration_s=10.0)
    (done,) = _events(res, "BIAS_KNEE_CALIBRATED")
    (hind,) = _events(res, "BIAS_KNEE_HINDSIGHT")
    dt, accepted, vbr25, t_h = hind["args"]
    t_then = done["args"][2]
    assert accepted and abs(t_h - t_then - dt) < 1e-9
    assert 0.05 < dt < 0.3  # the estimate of the moment lagged the warming die
    params = res.apps[0].params
    assert params["bias_knee_last_t_c"] == t_h and params["bias_vbr25_v"] == vbr25
    # against the die (as the sensor in use reads it at rest) at the knee's reading: the
    # one whose estimate the knee carries
    (n,) = [k for k in log if log[k][2] == t_then]
    die, off, _ = log[n]
    causal = t_then - (die + off)
    hindsight = t_h - (die + off)
    # (seed 1: -0.121 K then, -0.044 in hindsight; -0.153 / -0.034 before stop 44's 7 ms
    # frames and slew-limited bias ramp started the knee 0.5 s later; the truth itself is
    # known to ~0.02 K here: the die logged at the task's run, the sensor's noise 0.01 K)
    assert causal < -0.1 and abs(hindsight) < min(abs(causal) / 2, 0.05), \
        (n, causal, hindsight)


def _knee_errors(monkeypatch, seeds, params):
    """The session's first knee against the truth on each seed's first 12 s: the flight's
    V_br at the die (as the sensor in use reads it without lag) after the hindsight, minus
    the unit's V_br there (mV)."""
    from flight.bias_knee import BiasKnee

    at = {}
    finish = BiasKnee._finish

    def finish_logged(knee):
        finish(knee)
        world = knee.bias.sensors.checks[0].sensor.world
        at["t"] = world.thermal.temperature() + world.sensors[knee.bias.source].offset_k
        at["vbr"] = world.v_br()
    monkeypatch.setattr(BiasKnee, "_finish", finish_logged)
    errs = []
    for seed in seeds:
        at.clear()

        def hook(app):
            for k, v in params.items():
                app.params.set(k, v)
        res = fly("nominal", seed=seed, duration_s=12.0, app_hook=hook)
        p = res.apps[0].params
        est = p["bias_vbr25_v"] + p["bias_kt_mv_per_k"] * 1e-3 * (at["t"] - 25.0)
        errs.append((est - at["vbr"]) * 1e3)
    return errs


def test_the_knees_points_in_hindsight_bring_its_breakdown_to_the_units(monkeypatch):
    # Seeds 1-4 (docs/calibration.md "The knee's temperature in hindsight": 40 draws, the error's mean
    # 2.3 -> 0.3 mV, RMS 5.4 -> 4.0): each knee's points referred with the die's
    # temperature in hindsight, against none (the estimate of the moment's lag and noise)
    seeds = (1, 2, 3, 4)
    now = _knee_errors(monkeypatch, seeds, {})
    then = _knee_errors(monkeypatch, seeds, {"bias_knee_hindsight_max_k": 0.0})
    mean_abs = [sum(abs(e) for e in errs) / len(errs) for errs in (now, then)]
    assert mean_abs[0] < 0.7 * mean_abs[1], (now, then)
    # (seeds 1-4: 5.4, 2.3, 4.1, -0.2 mV; 2.7, 3.9, 3.5, -2.1 before stop 44's timeline:
    # the 40 draws' RMS is 4.0 mV)
    assert max(abs(e) for e in now) < 6.0, now
    assert sum(then) / len(then) > 2.0  # the lag reads every knee high ...
    assert abs(sum(now) / len(now)) < 0.5 * sum(then) / len(then)  # ... not in hindsight

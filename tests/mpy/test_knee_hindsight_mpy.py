"""A knee's temperature in hindsight (flight/bias.py ``hindsight``, flight/bias_kt.py
``KtTrack.refine``; docs/calibration.md "The knee's temperature in hindsight"), on every
interpreter: the sensor's lag inverted with readings after the knee, where the bias
loop's estimate of the moment still lags a die warming from power-on; the knee moved, its
V_br25 and the k_T line refitted, an implausible correction refused."""

import math

from flight import bias as B
from flight import bias_knee as K
from flight.bias_kt import EV_KNEE_HINDSIGHT, EV_KNEE_KT, KtTrack
from fakes import FakeCtx
from kit import bias_update_rig

TAU_S = 3.0  # the sensor's lag behind the die (the flight's bias_ff_tau_s default)
RATE = 15.0 / 90.0  # K/s: power-on heating's first slope (sim/thermal.py: 15 K, 90 s)


def _die(t):
    return 20.0 + 15.0 * (1.0 - math.exp(-t / 90.0))


def _sensor(t):
    """A first-order lag (TAU_S) of :func:`_die` from rest at t = 0, exactly."""
    a = 1.0 / 90.0
    b = 1.0 / TAU_S
    return 20.0 + 15.0 * (1.0 - (b * math.exp(-a * t) - a * math.exp(-b * t)) / (b - a))


def _warming_rig(n_updates, hold_at=None):
    """The bias loop fed the sensor of a die warming from power-on (its session start);
    [(reading index, t_est, die, hindsight of the reading two before)] after each
    update."""
    b = bias_update_rig({"bias_ff_tau_s": TAU_S}).bias
    k = [0]

    def reading():  # (flight/thermal_sensors.py's selection apart: the reading itself)
        i = k[0]
        k[0] = i + 1
        if hold_at is not None and i == hold_at:
            return None
        return int(_sensor(i * 0.5) * B.T_Q)

    b._temperature = reading
    log = []
    for i in range(n_updates):
        if i == 0:
            b.start_session()  # (its first update reads the warming sensor at t = 0)
        else:
            b.update()
        n = b.readings - 1
        log.append((n, b.t_est, _die(i * 0.5), b.hindsight(n - 2)))
    return b, log


def test_hindsight_removes_the_lag_the_estimate_of_the_moment_still_has():
    b, log = _warming_rig(12)
    n, t_est, die, _ = log[4]  # 2 s after power-on: a session's first knee
    assert n == 4 and b.readings == 12
    lag = die - t_est
    got = log[6][3]  # 1 s later
    assert lag > 0.08, lag  # the filtered slope has not caught the warming yet
    assert abs(got - die) < 0.02, (got, die)
    assert abs(got - die) < lag / 4
    # every reading from the third on, in hindsight: within 0.02 K of the die
    for k in range(4, 12):
        assert abs(log[k][3] - log[k - 2][2]) < 0.02, k


def test_hindsight_needs_two_readings_after_and_an_unbroken_run():
    b, log = _warming_rig(7)
    assert b.readings == 7
    assert b.hindsight(4) is not None
    assert b.hindsight(5) is None  # reading 7 does not exist yet
    assert b.hindsight(1) is None  # readings 0 and 1 have left the 5-reading ring
    b, log = _warming_rig(10, hold_at=6)  # the 7th reading lost: a hold
    assert b.readings == 9
    assert b.hindsight(4) is None  # (6 would span the gap)
    assert b.hindsight(6) is not None  # after it: one-sided from the new run's start


def _params(**kw):
    return FakeCtx(K, B, params=kw).params


class _Bias:
    def __init__(self, t_h):
        self.readings = 0
        self.t_h = t_h

    def hindsight(self, n):
        return self.t_h


class _Knee:
    def __init__(self, t_h, **params):
        self.ctx = FakeCtx(K, B, params=params)
        self.bias = _Bias(t_h)
        self.vbr25 = None


def test_refine_moves_the_knee_and_refits_v_br25_and_k_t():
    law = 0.0225  # V/K, the unit's own k_T; the die 0.12 K warmer than estimated at knee 1
    knee = _Knee(20.12)
    p = knee.ctx.params
    kt0 = p["bias_kt_mv_per_k"]
    tr = KtTrack()
    v1 = 24.30 + law * (20.12 - 25.0)
    tr.accept_report(knee.ctx, p, 20.0, v1, kt0, False, reading=4)
    knee.bias.readings = 6
    tr.refine(knee)  # reading 6 is not there: not yet
    assert tr.ts == [20.0] and knee.ctx.args(EV_KNEE_HINDSIGHT) == []
    knee.bias.readings = 7
    tr.refine(knee)
    assert tr.ts == [20.12]
    (ev,) = knee.ctx.args(EV_KNEE_HINDSIGHT)
    assert abs(ev[0] - 0.12) < 1e-9 and ev[1] is True
    want = v1 - kt0 * 1e-3 * (20.12 - 25.0)
    assert abs(p["bias_vbr25_v"] - want) < 1e-9 and abs(knee.vbr25 - want) < 1e-9
    assert p["bias_knee_last_t_c"] == 20.12
    tr.refine(knee)  # done once
    assert len(knee.ctx.args(EV_KNEE_HINDSIGHT)) == 1
    # a knee 10 K warmer, at rest (no correction): the line through both is the unit's
    knee.bias.t_h = 30.12
    tr.accept_report(knee.ctx, p, 30.12, 24.30 + law * 5.12, kt0, False, reading=40)
    knee.bias.readings = 43
    tr.refine(knee)
    fits = knee.ctx.args(EV_KNEE_KT)
    assert len(fits) == 2 and fits[-1][1] is True
    assert abs(p["bias_kt_mv_per_k"] - 22.5) < 1e-6  # without the hindsight: 22.23


def test_an_implausible_or_impossible_correction_is_refused_and_none_made_when_off():
    knee = _Knee(22.5)  # 2.5 K: beyond bias_knee_hindsight_max_k (1 K)
    p = knee.ctx.params
    tr = KtTrack()
    tr.accept_report(knee.ctx, p, 20.0, 24.19, 21.5, False, reading=4)
    vbr25 = p["bias_vbr25_v"]
    knee.bias.readings = 7
    tr.refine(knee)
    (ev,) = knee.ctx.args(EV_KNEE_HINDSIGHT)
    assert ev[1] is False and tr.ts == [20.0] and p["bias_vbr25_v"] == vbr25
    lost = _Knee(None)  # a reading lost (or a sensor switch) around the knee: said, kept
    tr = KtTrack()
    tr.accept_report(lost.ctx, lost.ctx.params, 20.0, 24.19, 21.5, False, reading=4)
    vbr25 = lost.ctx.params["bias_vbr25_v"]
    lost.bias.readings = 7
    tr.refine(lost)
    (ev,) = lost.ctx.args(EV_KNEE_HINDSIGHT)
    assert ev[0] == 0.0 and ev[1] is False and tr.ts == [20.0]
    assert lost.ctx.params["bias_vbr25_v"] == vbr25
    assert "lost" in lost.ctx.named(EV_KNEE_HINDSIGHT)[0]
    off = _Knee(20.1, bias_knee_hindsight_max_k=0.0)
    tr = KtTrack()
    tr.accept_report(off.ctx, off.ctx.params, 20.0, 24.19, 21.5, False, reading=4)
    off.bias.readings = 7
    tr.refine(off)
    assert tr.ts == [20.0] and off.ctx.args(EV_KNEE_HINDSIGHT) == []

"""A knee's temperature in hindsight (flight/bias.py ``hindsight``, flight/bias_kt.py
``KtTrack.refine``; docs/calibration.md "The knee's temperature in hindsight"), on every
interpreter: the sensor's lag inverted with readings after the knee, where the bias
loop's estimate of the moment still lags a die warming from power-on; the knee moved, its
V_br25 and the k_T line refitted, an implausible correction refused; the knee's
points referred to 25 degC again with the die in hindsight at each and refitted."""

import math

from flight import bias as B
from flight import bias_knee as K
from flight.bias_knee_fit import fit_knee
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
    assert b.hindsight(1) is not None  # (one-sided at the run's start)
    b, log = _warming_rig(20)
    assert b.hindsight(6) is not None  # readings 4 .. 8 are in the 16-reading ring
    assert b.hindsight(5) is None  # reading 3 has left it
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
        self.stages = 0

    # A hindsight refine starts: its stages run as the knee's owner runs them (a framer
    # window each, flight/knee_owner.py), all at once here; ``stages`` counts them.
    _job = property(lambda self: None)

    @_job.setter
    def _job(self, job):
        self.stages = 0
        for _ in job:
            self.stages += 1
        self.stages += 1


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
    assert tr.ts == [20.12] and knee.stages == 3  # (three framer windows)
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


# A sweep of the knee on a die warming at RATE: the unit's own V_br(T) at the flight's
# k_T, the noise sigma^2 = se^2 + (a (V - V_br(T))^k)^2 exactly (flight/bias_knee_fit.py),
# one point a 100 ms window, the bias loop reading every 500 ms.
V25 = 24.30
SE = 0.02
A = 0.05
LEVEL = 0.066


class _SweepBias:
    """The bias loop as the sweep sees it: the die in hindsight at every reading
    (exact: the die's own temperature, or None for a lost one), the estimate of the
    moment ``lag`` behind."""
    period_us = 500000

    def __init__(self, lag, lost=()):
        self.readings = 0
        self.lag = lag
        self.lost = lost
        self.v_cmd = 0.0
        self.t_est = 0.0

    def hindsight(self, n):
        return None if n in self.lost else 20.0 + RATE * 0.5 * n


def _sweep(tr, knee, kt):
    """The sweep's windows (1.0 .. 1.9 s after power-on): the points referred with the
    estimate of the moment, as flight/bias_knee.py does; returns (V25 list, sigmas)."""
    b = knee.bias
    v25 = []
    sig = []
    tr.sweep_start()
    for w in range(10):
        t = 1.0 + 0.1 * w
        b.readings = int(t / 0.5 + 1e-9) + 1  # (the reading at 1.0 s made at 1.0 s)
        tr.refine(knee)  # (counts the windows since the last reading)
        die = 20.0 + RATE * t
        b.t_est = 20.0 + RATE * 0.5 * (b.readings - 1) - b.lag  # held since the reading
        b.v_cmd = V25 + kt * 1e-3 * (die - 25.0) + 0.9 + 0.12 * w
        vbr = V25 + kt * 1e-3 * (die - 25.0)
        sig.append(math.sqrt(SE * SE + (A * (b.v_cmd - vbr) ** 2) ** 2))
        v25.append(b.v_cmd - kt * 1e-3 * (b.t_est - 25.0))
        tr.point(knee)
    return v25, sig


def _knee_of_sweep(lag=0.12, lost=(), **params):
    knee = _Knee(None, **params)
    knee.bias = _SweepBias(lag, lost)
    knee.period_us = 100000
    p = knee.ctx.params
    kt = p["bias_kt_mv_per_k"]
    tr = KtTrack()
    v25, sig = _sweep(tr, knee, kt)
    inputs = (SE, 2.0, p["bias_knee_min_ratio"], LEVEL)
    vbr25, _, _, n = fit_knee(v25, sig, *inputs)
    t = knee.bias.t_est
    n_read = knee.bias.readings - 1
    got = tr.accept_report(knee.ctx, p, t, vbr25 + kt * 1e-3 * (t - 25.0), kt, False,
                           n_read, (sig,) + inputs)
    p.set("bias_vbr25_v", got)  # (as flight/bias_knee.py's _finish does)
    return knee, tr, got, n_read


def test_the_knees_points_are_referred_again_in_hindsight_and_refitted():
    knee, tr, then, n = _knee_of_sweep()
    p = knee.ctx.params
    assert abs(then - V25) > 0.002, then  # the estimate's lag: ~3 mV high
    knee.bias.readings = n + 3
    tr.refine(knee)  # the last point's reading needs the one after it in hindsight
    assert knee.ctx.args(EV_KNEE_HINDSIGHT) == []
    knee.bias.readings = n + 4
    tr.refine(knee)
    (ev,) = knee.ctx.args(EV_KNEE_HINDSIGHT)
    assert ev[1] is True and abs(ev[0] - 0.12) < 1e-9
    assert abs(p["bias_vbr25_v"] - V25) < 2e-5, p["bias_vbr25_v"]  # the unit's own
    assert abs(knee.vbr25 - V25) < 2e-5 and ev[2] == p["bias_vbr25_v"]
    assert p["bias_knee_last_t_c"] == ev[3] == knee.bias.hindsight(n)
    # the pair a later session's knee fits k_T with: the unit's V_br at that temperature
    want = V25 + p["bias_kt_mv_per_k"] * 1e-3 * (ev[3] - 25.0)
    assert abs(p["bias_knee_last_vbr_v"] - want) < 2e-5, (p["bias_knee_last_vbr_v"], want)


def test_a_knee_whose_points_cannot_be_read_again_is_kept_and_says_why():
    knee, tr, then, n = _knee_of_sweep(lost=(2,))  # the reading at 1.0 s lost: the
    # first points' (the knee's own, at 1.5 s, is there)
    p = knee.ctx.params
    knee.bias.readings = n + 4
    tr.refine(knee)
    (ev,) = knee.ctx.args(EV_KNEE_HINDSIGHT)
    assert ev[1] is False and p["bias_vbr25_v"] == then and tr.ts[-1] == ev[3]
    assert "lost" in knee.ctx.named(EV_KNEE_HINDSIGHT)[0]
    # a refit outside the plausible V_br25: refused, the knee kept
    knee, tr, then, n = _knee_of_sweep()
    knee.bias.readings = n + 4
    knee.ctx.params.set("bias_knee_vbr25_max", 24.2995)  # (the refit reads 24.3000)
    tr.refine(knee)
    (ev,) = knee.ctx.args(EV_KNEE_HINDSIGHT)
    assert ev[1] is False and knee.ctx.params["bias_vbr25_v"] == then
    assert "refused" in knee.ctx.named(EV_KNEE_HINDSIGHT)[0]


def test_a_session_ending_before_the_hindsight_says_so_and_keeps_the_knee():
    knee, tr, then, n = _knee_of_sweep()
    assert tr.pending  # (what keeps the knee's object on the board: flight/knee_owner.py)
    tr.stop(knee.ctx)
    assert not tr.pending
    (ev,) = knee.ctx.args(EV_KNEE_HINDSIGHT)
    assert ev[0] == 0.0 and ev[1] is False and ev[2] == then
    assert "session ended" in knee.ctx.named(EV_KNEE_HINDSIGHT)[0]
    knee.bias.readings = n + 4
    tr.refine(knee)  # nothing due any more
    assert len(knee.ctx.args(EV_KNEE_HINDSIGHT)) == 1
    assert knee.ctx.params["bias_vbr25_v"] == then
    tr.stop(knee.ctx)  # nothing due: nothing said
    assert len(knee.ctx.args(EV_KNEE_HINDSIGHT)) == 1


def test_a_k_t_fitted_at_the_knee_but_not_in_hindsight_is_undone():
    # An earlier session's knee 10.01 K warmer than this one's estimate of the moment:
    # a k_T through both (bias_knee_kt_min_dk 10 K) ...
    knee = _Knee(19.59, bias_knee_last_t_c=29.5, bias_knee_last_vbr_v=24.43)
    p = knee.ctx.params
    kt0 = p["bias_kt_mv_per_k"]
    tr = KtTrack()
    tr.accept_report(knee.ctx, p, 19.49, 24.21, kt0, False, reading=4)
    (fit,) = knee.ctx.args(EV_KNEE_KT)
    assert fit[1] is True and p["bias_kt_mv_per_k"] == fit[0] != kt0
    # ... but 9.91 K in hindsight: no k_T from this knee, the one before it back
    knee.bias.readings = 7
    tr.refine(knee)
    assert len(knee.ctx.args(EV_KNEE_KT)) == 1  # (no fit: no second report)
    assert p["bias_kt_mv_per_k"] == kt0
    want = 24.21 - kt0 * 1e-3 * (19.59 - 25.0)
    assert abs(p["bias_vbr25_v"] - want) < 1e-9
    assert "k_T %.2f" % kt0 in knee.ctx.named(EV_KNEE_HINDSIGHT)[0]


class _StepKnee(_Knee):
    job = None
    _job = property(lambda self: self.job)

    @_job.setter
    def _job(self, job):  # (kept: the test steps it)
        self.job = job


def test_a_hindsights_first_window_computes_and_the_next_two_write():
    # One run was ~1.1 M instructions on the M7 (the refit, ~5 parameter changes, the
    # events) against the knee task's 500 k: the refit in the window it is due, V_br25
    # and k_T in the next, the knee's record and event in the one after
    # (flight/knee_owner.py runs the stages).
    knee = _StepKnee(20.12)
    p = knee.ctx.params
    kt0 = p["bias_kt_mv_per_k"]
    tr = KtTrack()
    tr.accept_report(knee.ctx, p, 20.0, 24.30 + 0.0225 * (20.12 - 25.0), kt0, False, reading=4)
    v0 = p["bias_vbr25_v"]
    knee.bias.readings = 7
    tr.refine(knee)
    job = knee.job
    assert job is not None and not tr.pending
    next(job)  # the window it was due: computed, nothing written
    assert p["bias_vbr25_v"] == v0 and tr.ts == [20.0]
    assert knee.ctx.args(EV_KNEE_HINDSIGHT) == []
    next(job)  # the next: the knee moved, V_br25 and k_T set together, no event yet
    assert tr.ts == [20.12] and p["bias_vbr25_v"] != v0
    assert knee.ctx.args(EV_KNEE_HINDSIGHT) == [] and p["bias_knee_last_t_c"] != 20.12
    done = False
    try:
        next(job)  # the last: the knee's record, the event
    except StopIteration:
        done = True
    assert done and p["bias_knee_last_t_c"] == 20.12
    assert len(knee.ctx.args(EV_KNEE_HINDSIGHT)) == 1

"""A fitted k_T weighted with a prior (flight/bias_kt.py ``with_prior``;
docs/calibration.md "The fit weighted with a prior"): the inverse-variance mean of the fit
and ``bias_knee_kt_prior`` ± ``bias_knee_kt_prior_sd`` when that is set (off by default:
the campaigns' tails, measured there); the refusal rules judge the fit alone; the event
says both.

The first pass's warm-up: four dark knees ~3 K apart (flight/bias_kt_due.py) on many
simulated units — a true k_T drawn as the family's spread (σ 1 mV/K about 21.5,
sim/calib.py), each knee ``KNEE_MV`` off at random (``bias_knee_vbr_err_v``, the
flight's figure of one knee).  Deterministic (a seeded generator)."""

import math
import random

import pytest

from flight import bias as B
from flight import bias_knee as K
from flight.bias_kt import EV_KNEE_KT, KtTrack, with_prior
from hal.interfaces import SIPM_KT_MV_PER_K
from tests.mpy.fakes import FakeCtx

UNITS = 1500
KNEE_MV = 3.0


def _params(**kv):
    ctx = FakeCtx(K, B)
    for k, v in kv.items():
        ctx.params.set(k, v)
    return ctx


def test_declared_defaults_are_the_interfaces_numbers():
    p = _params().params
    assert p["bias_knee_kt_prior"] == SIPM_KT_MV_PER_K == p["bias_kt_mv_per_k"] == 21.5
    assert p["bias_knee_kt_prior_sd"] == 0.0  # off: a fit is used alone
    assert with_prior(p, 19.0, 0.7) == 19.0


@pytest.mark.parametrize("kt, sigma, sd, expect", [
    (19.0, 1.0, 1.0, 20.25),  # as uncertain as the spread: halfway
    (19.0, 0.5, 1.0, 19.5),  # σ² / (σ² + sd²) = 0.2 of the way back
    (24.0, 0.0, 1.0, 24.0),  # an exact fit: the fit
    (19.0, 0.5, 0.0, 19.0),  # the prior off: the fit alone
    (21.5, 0.7, 1.0, 21.5),  # on the prior: stays
])
def test_with_prior_is_the_inverse_variance_mean(kt, sigma, sd, expect):
    p = _params(bias_knee_kt_prior_sd=sd).params
    assert with_prior(p, kt, sigma) == pytest.approx(expect, abs=1e-9)


def _warm_up_errors(prior_sd, seed=7):
    """RMS k_T error (mV/K) after a warm-up's four dark knees, and the largest."""
    rng = random.Random(seed)
    sq = 0.0
    worst = 0.0
    for _ in range(UNITS):
        kt = 21.5 + rng.gauss(0.0, 1.0)
        vbr25 = 24.45 + rng.uniform(-0.2, 0.2)
        ctx = _params(bias_knee_kt_prior_sd=prior_sd)
        p = ctx.params
        tr = KtTrack()
        tr.start()
        t0 = 18.0 + rng.uniform(-3.0, 3.0)
        for j in range(4):  # the session's first knee and three pre-link knees
            t = t0 + 3.0 * j + rng.uniform(0.0, 0.3)
            v = vbr25 + kt * 1e-3 * (t - 25.0) + rng.gauss(0.0, KNEE_MV * 1e-3)
            tr.accept_report(ctx, p, t, v, p["bias_kt_mv_per_k"])
        e = abs(p["bias_kt_mv_per_k"] - kt)
        sq += e * e
        worst = max(worst, e)
    return math.sqrt(sq / UNITS), worst


def test_the_prior_brings_a_first_pass_k_t_closer():
    alone, worst_alone = _warm_up_errors(0.0)
    weighted, worst_weighted = _warm_up_errors(1.0)
    print("warm-up k_T RMS error: alone %.3f (worst %.2f), with the prior %.3f (worst %.2f)"
          % (alone, worst_alone, weighted, worst_weighted))
    # four knees over 9 K at 3 mV: σ ≈ 0.45 mV/K, so the expected RMS goes
    # 0.45 → 1/√(1/0.45² + 1) = 0.41 (−9 %); with 1500 units an RMS is known to ~2 %
    assert 0.3 < alone < 0.6
    assert weighted < 0.97 * alone, (weighted, alone)


def test_refusal_judges_the_fit_alone_and_the_event_says_both():
    # two knees 3 K apart: σ ≈ 1.4 mV/K, above bias_knee_kt_max_err — refused even
    # though the prior would make the weighted value's σ < 1
    ctx = _params(bias_knee_kt_prior_sd=1.0)
    p = ctx.params
    tr = KtTrack()
    tr.start()
    p.set("bias_knee_track_min_span", 2.0)
    for t in (20.0, 23.0):
        tr.accept_report(ctx, p, t, 24.4 + 0.019 * (t - 25.0), p["bias_kt_mv_per_k"])
    kt_events = [e for e in ctx.events if e[0] == EV_KNEE_KT]
    assert kt_events and kt_events[-1][1][1] is False
    assert p["bias_kt_mv_per_k"] == 21.5
    # a third knee: accepted; the parameter is the weighted value, the event's the fit's
    tr.accept_report(ctx, p, 29.0, 24.4 + 0.019 * 4.0, p["bias_kt_mv_per_k"])
    ev = [e for e in ctx.events if e[0] == EV_KNEE_KT][-1]
    kt_fit, ok, sigma = ev[1][0], ev[1][1], ev[1][2]
    assert ok is True and kt_fit == pytest.approx(19.0, abs=0.01)
    assert p["bias_kt_mv_per_k"] == pytest.approx(with_prior(p, kt_fit, sigma), abs=1e-9)
    assert kt_fit < p["bias_kt_mv_per_k"] < 21.5
    assert "in use with the prior 21.50 +/- 1.00" in ev[2]
    assert tr.kt_fit == pytest.approx(kt_fit)  # HK knee_kt_fit: the fit's own

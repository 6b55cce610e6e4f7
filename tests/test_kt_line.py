"""The unit's V_br(T) line across sessions (flight/bias_kt_line.py; docs/calibration.md
"The k_T line across sessions") against many simulated units: k_T's error falls session
after session as the line gathers dark knees, where the pair of a session's first knee
and one earlier knee (before the line) stays where the commissioning pass left it.

Each unit: a true k_T drawn as the family's spread (σ 1 mV/K about 21.5, sim/calib.py),
knees of ``KNEE_MV`` repeatability (``bias_knee_vbr_err_v``, the flight's figure of one
knee) — the commissioning pass's two dark knees (cold at the session's start, ~12 K warmer
in the dark after the pass, docs/calibration.md "Commissioning") and, in each later
session, its first knee, cold.  Deterministic (a seeded generator)."""

import math
import random

from flight import bias as B
from flight import bias_knee as K
from flight.bias_kt import KtTrack, line_fit
from tests.mpy.fakes import FakeCtx

UNITS = 400
SESSIONS = 4  # the commissioning pass and three after it
KNEE_MV = 3.0
KT_SIGMA = 1.0  # mV/K, the family's spread (sim/calib.py)


def _errors(seed=5):
    """RMS k_T error (mV/K) after each session: (with the line, the pair before it)."""
    rng = random.Random(seed)
    line_sq = [0.0] * SESSIONS
    pair_sq = [0.0] * SESSIONS
    for _ in range(UNITS):
        kt = 21.5 + rng.gauss(0.0, KT_SIGMA)
        vbr25 = 24.45 + rng.uniform(-0.2, 0.2)

        def knee(t, kt=kt, vbr25=vbr25):  # (this unit's)
            return t, vbr25 + kt * 1e-3 * (t - 25.0) + rng.gauss(0.0, KNEE_MV * 1e-3)

        ctx = FakeCtx(K, B)
        p = ctx.params
        tr = KtTrack()
        last = None
        kt_pair = 0.0
        for s in range(SESSIONS):
            tr.start()
            cold = knee(18.0 + rng.uniform(-3.0, 3.0))
            knees = [cold, knee(cold[0] + 12.0 + rng.uniform(-2.0, 2.0))] if s == 0 else [cold]
            for t, v in knees:
                tr.accept_report(ctx, p, t, v, p["bias_kt_mv_per_k"])
            line_sq[s] += (p["bias_kt_mv_per_k"] - kt) ** 2
            # before the line: the session's first knee with the last knee saved, when
            # they lie bias_knee_kt_min_dk apart, else the k_T kept from before
            pair = knees if s == 0 else [last, cold]
            if s == 0 or abs(cold[0] - last[0]) >= p["bias_knee_kt_min_dk"]:
                kt_pair = line_fit([k[0] for k in pair], [k[1] for k in pair],
                                   KNEE_MV * 1e-3)[0]
            pair_sq[s] += (kt_pair - kt) ** 2
            last = knees[-1]
    return ([math.sqrt(x / UNITS) for x in line_sq], [math.sqrt(x / UNITS) for x in pair_sq])


def test_the_line_across_sessions_brings_k_t_closer_each_session():
    line, pair = _errors()
    print("k_T RMS error per session, the line:", ["%.3f" % x for x in line],
          "the pair:", ["%.3f" % x for x in pair])
    # the commissioning pass alone: both are its pair of knees (3 mV·√2 / 12 K ≈ 0.35
    # mV/K, plus the spread of the warm knee's distance)
    assert abs(line[0] - pair[0]) < 1e-6
    assert 0.25 < line[0] < 0.6, line
    for s in range(1, SESSIONS):
        assert line[s] < line[s - 1], line  # every session's knee helps
    # after three more sessions, clearly better than the pair that forgets: with 400
    # units an RMS is known to ~4 %; the expected gain here is ~20 %
    assert line[-1] < 0.88 * line[0], line
    assert line[-1] < 0.88 * pair[-1], (line, pair)

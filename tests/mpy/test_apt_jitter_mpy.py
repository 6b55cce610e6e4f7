"""The unit's line-of-sight jitter (flight/apt_jitter.py): sampled from the predictor's
jitter state only while it runs settled on its nominal gains, its RMS in integers as a
float computation gives it, no sum leaving a 32-bit port's small ints, and sampling and
reporting allocate nothing (run as the APT's housekeeping runs them, heap-locked here).
Runs on CPython and on every MicroPython interpreter."""

from flight import apt_jitter as aj
from flight.apt_predict import C_FRESH, C_GOFF, C_NF, M_GAIN, Predictor
from hal.interfaces import FSM_LSB_RAD
from heaplock import locked


class Law:
    pass


def _law():
    law = Law()
    law.mode = 1
    law.pred = pr = Predictor()
    pr.designed = True
    pr.c[C_FRESH] = 0
    pr.c[C_NF] = aj.SETTLE_FRAMES
    pr.c[C_GOFF] = M_GAIN
    return law


def _rms_urad(xs, ys):
    """The float RMS per axis of q8-code samples, µrad."""
    ss = 0.0
    for k in range(len(xs)):  # (no zip(strict=): MicroPython's zip has none)
        ss += (xs[k] // 64) ** 2 + (ys[k] // 64) ** 2
    return (ss / (2 * len(xs))) ** 0.5 / 4.0 * FSM_LSB_RAD * 1e6


def test_isqrt_is_the_floor_of_the_root_up_to_the_sums_range():
    for n in list(range(0, 300)) + [2 ** 28 - 1, 2 ** 28, 2 ** 29 + 3, 10 ** 9 + 7]:
        r = aj.isqrt(n)
        assert r * r <= n < (r + 1) * (r + 1), n
    # around each power of four: where the start (the power of two over the root) steps
    for k in range(1, 15):
        for n in (4 ** k - 1, 4 ** k, 4 ** k + 1, 4 ** k + 2 ** k):
            r = aj.isqrt(n)
            assert r * r <= n < (r + 1) * (r + 1), n


def test_the_rms_matches_a_float_computation():
    law = _law()
    j = aj.LosJitter()
    s = law.pred.s
    # a sampled "jitter" of ~14 µrad per axis: q8 codes, both signs, both axes
    xs = [(3371 * k) % 7000 - 3500 for k in range(1, 201)]
    ys = [(1777 * k) % 9000 - 4500 for k in range(1, 201)]
    for k in range(len(xs)):
        s[4] = xs[k]
        s[10] = ys[k]
        j.sample(law)
    assert j.n == 200
    want = _rms_urad(xs, ys)
    assert 8.0 < want < 20.0
    got = j.rms_tenth_urad()
    assert abs(got / 10.0 - want) <= 0.06, (got, want)
    values = [None, None, None]
    j.hk(values, 1)
    assert values == [None, got, 200]
    j.start()  # a session's start: nothing sampled
    assert j.n == 0 and j.rms_tenth_urad() == 0


def test_samples_only_from_a_settled_predictor_on_its_nominal_gains():
    for spoil in ("pi", "none", "fresh", "settling", "robust"):
        law = _law()
        pr = law.pred
        if spoil == "pi":
            law.mode = 0
        elif spoil == "none":
            pr.designed = False
        elif spoil == "fresh":
            pr.c[C_FRESH] = 1
        elif spoil == "settling":
            pr.c[C_NF] = aj.SETTLE_FRAMES - 1
        else:
            pr.c[C_GOFF] = M_GAIN + 1
        j = aj.LosJitter()
        pr.s[4] = 5000
        j.sample(law)
        assert j.n == 0 and j.ss == 0, spoil


def test_the_sum_stays_a_small_int_at_the_clamp_and_stops_at_n_max():
    law = _law()
    j = aj.LosJitter()
    s = law.pred.s
    s[4] = -(1 << 16)  # the states' clamp (flight/predict_py.py _J_MAX)
    s[10] = 1 << 16
    for _ in range(aj.N_MAX + 20):
        j.sample(law)
    assert j.n == aj.N_MAX
    assert j.ss == aj.N_MAX * 2 * 1024 * 1024 < 2 ** 30
    # 1024 quarter codes = 256 codes: 272.7 µrad
    assert abs(j.rms_tenth_urad() - int(256 * FSM_LSB_RAD * 1e7 + 0.5)) <= 1


def test_sampling_and_reporting_allocate_nothing():
    law = _law()
    j = aj.LosJitter()
    law.pred.s[4] = 3000
    law.pred.s[10] = -2500
    values = [0, 0]

    def one():
        j.sample(law)
        j.hk(values, 0)
    locked(one, 50)
    assert j.n == 50 and values[1] == 50 and values[0] > 0

"""The breakdown estimator (flight/bias_knee.py, bias_knee_fit.py) and the comparator's
start-level and dither maths (comparator_sweep.py, comparator_track.py) on every
interpreter: the Gaussian tail and its inverse, σ from code violations, the knee of an exact power law, the vertex of
three log rates (MicroPython floats are single precision on the board: the tolerances
allow for it)."""

import math

from flight import bias_knee as K


def test_tail_and_inverse():
    for z in (1.0, 2.0, 3.5, 4.5):
        p = K.q_tail(z)
        assert abs(K.q_inv(p) - z) < 2e-3
    assert abs(K.q_tail(0.0) - 0.5) < 1e-6
    assert K.q_tail(-1.0) > 0.84
    assert K.sigma_from_rate(0, 0.04) is None


def test_the_inverse_is_the_tails_root_from_one_count_to_half():
    # q_inv: a rational start and three Newton steps (was 40 bisection steps, ~475 k
    # instructions a sweep point on the M7): the root of q_tail itself, to the float's
    # precision, from one count a session (1e-15) to half the samples; monotone; its
    # ends as the bisection's were (0 at p >= 0.5, 12 where no z < 12 has Q(z) <= p).
    rel = 1e-9 if 1.0 + 1e-12 != 1.0 else 2e-5  # (double here, single on some boards)
    prev = 13.0
    for i in range(61):
        p = 10.0 ** (-15.0 + i * 0.24)  # ... 0.40
        z = K.q_inv(p)
        assert abs(K.q_tail(z) - p) <= rel * p * (1.0 + z * z), (p, z)
        assert z < prev
        prev = z
    assert K.q_inv(0.5) == 0.0 and K.q_inv(0.7) == 0.0
    assert K.q_inv(0.0) == 12.0 and K.q_inv(-1.0) == 12.0
    assert K.q_inv(1e-40) == 12.0


def test_knee_of_a_power_law():
    vbr = 24.4
    se = 0.0095
    vs = [25.3 + 0.2 * i for i in range(7)]
    sig = [math.sqrt(se * se + (0.035 * ((v - vbr) / 3.0) ** 2) ** 2) for v in vs]
    got = K.fit_knee(vs, sig, se, 2.0, 0.15)
    assert got is not None and got[3] == 6  # the point 0.9 V over is within the noise
    assert abs(got[0] - vbr) < 0.01


def test_sigma_from_the_code_violations():
    # p = CV / bits = Q(L / sigma): 100 ms at 50 Mbit/s, 2 % of the off-chips high
    from flight.bias_knee_fit import sigma_from_violations
    s = sigma_from_violations(int(0.02 * 5000000), 0.1, 0.0205)
    assert abs(s - 0.0205 / K.q_inv(0.02)) < 1e-5
    assert abs(s - 0.00998) < 1e-4  # Q^-1(0.02) = 2.054
    assert sigma_from_violations(0, 0.1, 0.02) is None
    assert sigma_from_violations(2000000, 0.1, 0.02) is None  # 40 %: no lock, no relation


def test_vertex_and_dither_direction():
    from flight import comparator_sweep as S
    from flight import comparator_track as T
    r = [10 ** (((x - 1031) / 60.0) ** 2) for x in (952, 1000, 1048)]
    assert abs(S.vertex(1000, 48, r[0], r[1], r[2]) - 1031) <= 1
    assert S.vertex(1000, 48, 3.0, 2.0, 1.0) == 1048
    assert T.dither_direction(1000, 1000000, 500, 1000000) == 1
    assert T.dither_direction(1000, 1000000, 980, 1000000) == 0

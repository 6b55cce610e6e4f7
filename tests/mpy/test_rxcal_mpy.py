"""The breakdown estimator (flight/bias_knee.py) on every interpreter: the Gaussian tail
and its inverse, and the knee of an exact power law (MicroPython floats are single
precision on the board: the tolerances allow for it)."""

import math

from flight import bias_knee as K


def test_tail_and_inverse():
    for z in (1.0, 2.0, 3.5, 4.5):
        p = K.q_tail(z)
        assert abs(K.q_inv(p) - z) < 2e-3
    assert abs(K.q_tail(0.0) - 0.5) < 1e-6
    assert K.q_tail(-1.0) > 0.84
    assert K.sigma_from_rate(0, 0.04) is None


def test_knee_of_a_power_law():
    vbr = 24.4
    se = 0.0095
    vs = [25.3 + 0.2 * i for i in range(7)]
    sig = [math.sqrt(se * se + (0.035 * ((v - vbr) / 3.0) ** 2) ** 2) for v in vs]
    got = K.fit_knee(vs, sig, se, 2.0, 0.15)
    assert got is not None and got[3] == 6  # the point 0.9 V over is within the noise
    assert abs(got[0] - vbr) < 0.01

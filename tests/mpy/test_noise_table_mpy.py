"""The camera model's normal table (sim/noise_table.py) on CPython and MicroPython.

Plain asserts, MicroPython stdlib only.  The table must have mean 0, RMS 1 and a periodic
sample autocorrelation of -1/(n - 1) at every lag but 0 (the runs a window reads are then
uncorrelated on every pass), while a table of independent normals drawn from the same
generator is off by ~1/sqrt(n) at some short lag (what the flat table removes); and it must
draw from the generator exactly what the independent table drew, so every later draw of a
pass (hot pixels, frame offsets) stays the same.
"""

import math

from sim.noise_table import flat_normals, independent_normals
from sim.rng import Rng

N = 512  # (a short table: the same property at any power of two, and quick in the VM)
LAGS = (1, 2, 3, 7, 8, 9, 16, 61, 255, 256)


def _autocorrelation(z, lag):
    n = len(z)
    s = 0.0
    for i in range(n):
        s += z[i] * z[(i + lag) % n]
    return s / n


def test_flat_table_has_unit_rms_zero_mean_and_no_correlation_at_any_lag():
    for seed in (1, 2, 9):
        z = flat_normals(Rng(seed), N)
        mean = sum(z) / N
        assert abs(mean) < 1e-5, mean
        assert abs(_autocorrelation(z, 0) - 1.0) < 1e-4
        for lag in LAGS:
            r = _autocorrelation(z, lag)
            assert abs(r + 1.0 / (N - 1)) < 1e-4, (seed, lag, r)


def test_independent_table_is_correlated_at_some_short_lag():
    z = independent_normals(Rng(1), N)
    worst = max(abs(_autocorrelation(z, lag)) for lag in LAGS)
    assert worst > 0.03, worst  # ~1/sqrt(512) = 0.044 at random: what the flat table removes


def test_flat_table_draws_what_the_independent_table_drew():
    a = Rng(7)
    b = Rng(7)
    flat_normals(a, N)
    independent_normals(b, N)
    for _ in range(4):
        assert a.randbelow(1 << 20) == b.randbelow(1 << 20)


def test_flat_table_values_are_normal():
    z = flat_normals(Rng(3), 4096)
    n = len(z)
    beyond = 0
    m4 = 0.0
    for v in z:
        if abs(v) > 2.0:
            beyond += 1
        m4 += v * v * v * v
    # P(|z| > 2) = 4.55 %: binomial sd on 4096 ~ 0.33 %; kurtosis 3, sd ~ 0.08
    assert 0.035 < beyond / n < 0.056, beyond / n
    assert 2.7 < m4 / n < 3.3, m4 / n


def test_flat_table_refuses_a_length_not_a_power_of_two():
    for n in (0, 2, 6, 100):
        try:
            flat_normals(Rng(1), n)
        except ValueError:
            continue
        raise AssertionError("length %d accepted" % n)


def test_flat_table_vector():
    z = flat_normals(Rng(11), 64)
    # literal values from CPython; a tolerance for float32 and last-digit libm differences
    assert math.fabs(z[0] - 0.30702948570251465) < 2e-4
    assert math.fabs(z[1] + 0.46018674969673157) < 2e-4
    assert math.fabs(z[63] + 0.49133458733558655) < 2e-4

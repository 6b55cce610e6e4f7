"""The camera model's table of standard normals, built with a flat sample spectrum.

sim/camera.py renders a frame's noise from one table of N normals per camera (per pass),
read in contiguous runs from random starts: the spot's shot noise row by row, the
background one table slice per row.  A table of N independent normals has a *sample*
autocorrelation of about ±1/√N at every lag (±1/64 at N = 4096), and it is the same all
pass: a window's neighbouring pixels then share a little noise, and a pass's centroid
noise per axis came out 1.00 ± 0.04 of what independent pixels give (0.91–1.08 over 40
seeds; `python -m bench.camera_table --iid`, docs/physics-platform.md "The noise table").

This table is instead the inverse Fourier transform of a spectrum with every coefficient
of one magnitude and a random phase.  Its periodic sample autocorrelation is then exactly
−1/(N − 1) at every lag but 0, whatever the seed: any fixed pattern of pixels read from a
random start sees uncorrelated noise of unit variance, on every pass.  Each value is a sum
of N/2 − 1 cosines of independent phases, normal to the central limit's degree (excess
kurtosis −3/N).  The phases come from the same N/2 Box–Muller pairs the independent table
drew (the angle of a normal pair is uniform), so the generator's stream after the table —
the hot pixels, the frames' offsets — is what it was.

MicroPython: math and array only; built in the table's own array, nothing else held.
"""

import math

try:
    from array import array as _array
except ImportError:  # pragma: no cover - every MicroPython port has array
    _array = None


def floats(n):
    """n zero floats: an ``array('f')`` (no boxed float per element), a list without array."""
    return _array("f", bytes(4 * n)) if _array is not None else [0.0] * n


def _inverse_fft(z, m):
    """In-place radix-2 inverse DFT of m complex values held interleaved in ``z`` (z[2i] the
    real part, z[2i + 1] the imaginary), m a power of two, unscaled."""
    j = 0
    for i in range(1, m):  # bit-reversed order
        bit = m >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j |= bit
        if i < j:
            a, b = 2 * i, 2 * j
            z[a], z[b] = z[b], z[a]
            z[a + 1], z[b + 1] = z[b + 1], z[a + 1]
    size = 2
    while size <= m:
        half = size >> 1
        step = 2.0 * math.pi / size  # +: the inverse transform's sign
        for k in range(half):
            wr = math.cos(step * k)
            wi = math.sin(step * k)
            for a in range(2 * k, 2 * m, 2 * size):
                b = a + 2 * half
                tr = wr * z[b] - wi * z[b + 1]
                ti = wr * z[b + 1] + wi * z[b]
                z[b] = z[a] - tr
                z[b + 1] = z[a + 1] - ti
                z[a] += tr
                z[a + 1] += ti
        size <<= 1


def independent_normals(rng, n):
    """n normals as N/2 Box–Muller pairs: the table of before (bench.camera_table --iid)."""
    z = floats(n)
    for i in range(0, n, 2):
        a, b = rng.gauss_pair()
        z[i] = a
        z[i + 1] = b
    return z


def flat_normals(rng, n):
    """n (a power of two, >= 4) values of mean 0 and RMS 1 whose periodic sample
    autocorrelation is −1/(n − 1) at every non-zero lag; draws n/2 pairs from ``rng``.

    The spectrum X[k] = exp(i φ_k) (0 < k < n/2), X[0] = 0, X[n/2] = ±1 is transformed as
    the usual real inverse DFT by one of n/2 points over the table itself: the even and odd
    samples are the real and imaginary parts of the inverse transform of
    Y[k] = E[k] + i O[k], E[k] = (X[k] + X*[n/2 − k]) / 2,
    O[k] = (X[k] − X*[n/2 − k]) exp(2πik/n) / 2 — no second array on a fixed heap.
    """
    if n < 4 or n & (n - 1):
        raise ValueError("table length")
    z = floats(n)
    m = n >> 1
    a, _ = rng.gauss_pair()
    nyquist = 1.0 if a >= 0.0 else -1.0  # X[n/2] is real: a sign
    for k in range(1, m):  # X[k] = (z[2k], z[2k + 1]) for now
        a, b = rng.gauss_pair()
        r = math.sqrt(a * a + b * b)
        z[2 * k], z[2 * k + 1] = (a / r, b / r) if r > 0.0 else (1.0, 0.0)
    step = 2.0 * math.pi / n
    for k in range((m >> 1) + 1):  # the pairs (k, m - k), each pair's two Y at once
        j = m - k
        xr, xi = (0.0, 0.0) if k == 0 else (z[2 * k], z[2 * k + 1])
        yr, yi = (nyquist, 0.0) if k == 0 else (z[2 * j], z[2 * j + 1])
        for (ar, ai, br, bi, q) in ((xr, xi, yr, yi, k), (yr, yi, xr, xi, j)):
            if q == m:
                continue  # Y[m] is not stored: Y has m points
            er, ei = 0.5 * (ar + br), 0.5 * (ai - bi)  # E = (X[q] + X*[m - q]) / 2
            dr, di = 0.5 * (ar - br), 0.5 * (ai + bi)  # (X[q] − X*[m − q]) / 2
            c, s = math.cos(step * q), math.sin(step * q)
            orr, oi = dr * c - di * s, dr * s + di * c  # O = that × exp(2πiq/n)
            z[2 * q], z[2 * q + 1] = er - oi, ei + orr  # Y = E + iO
    _inverse_fft(z, m)
    ss = 0.0
    for i in range(n):
        ss += z[i] * z[i]
    g = math.sqrt(n / ss)
    for i in range(n):
        z[i] *= g
    return z

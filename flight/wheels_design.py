"""The wheel-line canceller's design maths (flight/apt_wheels.py ``Lines.service``): the
predictor's innovation transfer at a line's alias, in bounded pieces.

Floats and lists: run from the pointahead task while a line's design is queued, never in
the APT tick.  Split from apt_wheels.py (its frame step and codes are integer-only).
"""

import math


def innovation_setup(m, om):
    """arg S(e^{j om}) (rad), the transfer from the measurement to the innovation of the
    predictor's frame filter, x(n+1) = Phi (I - K h) x(n) + Phi K y(n), nu = y - h x, from
    its Q12 matrices (apt_predict M_PHI 0, the nominal gain of the 2 ms class at M_GAIN 36
    + 6, h of the 2153 µs exposure at M_H 60 + 27 * 6; the other classes' differ by < 1°):
    S = 1 - h (zI - Phi (I - K h))^-1 Phi K, a 6 x 6 complex solve (floats: at design).
    Three calls, each a bounded piece of Lines.service: this one builds the augmented
    matrix, :func:`eliminate` runs over half its columns, :func:`innovation_arg` ends.
    Returns [matrix, h]."""
    n = 6
    kk = [m[42 + i] / 4096.0 for i in range(n)]
    h = [1.0] + [m[60 + 27 * n + j] / 4096.0 for j in range(1, n)]
    ph = [[m[i * n + j] / 4096.0 for j in range(n)] for i in range(n)]
    pk = [sum(ph[i][j] * kk[j] for j in range(n)) for i in range(n)]
    z = complex(math.cos(om), math.sin(om))
    a = [[(z if i == j else 0.0) - ph[i][j] + pk[i] * h[j] for j in range(n)] + [pk[i]]
         for i in range(n)]
    return [a, h]


def eliminate(a, c0, c1):
    """Gaussian elimination with partial pivoting over columns c0 .. c1 - 1."""
    n = len(a)
    for c in range(c0, c1):
        p = c
        for r in range(c + 1, n):
            if abs(a[r][c]) > abs(a[p][c]):
                p = r
        a[c], a[p] = a[p], a[c]
        for r in range(c + 1, n):
            f = a[r][c] / a[c][c]
            for j in range(c, n + 1):
                a[r][j] -= f * a[c][j]


def innovation_arg(a, h):
    """The back substitution of the eliminated system and arg S (rad)."""
    n = len(a)
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (a[r][n] - sum(a[r][j] * x[j] for j in range(r + 1, n))) / a[r][r]
    s = 1.0 - sum(h[i] * x[i] for i in range(n))
    return math.atan2(s.imag, s.real)

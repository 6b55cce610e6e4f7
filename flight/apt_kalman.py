"""Design of the APT line-of-sight predictor (DESIGN §3.3, docs/apt-loop.md §4).

Runs when the predictor's design parameters change (floats and lists: it allocates, never
in a tick); flight/apt_predict.py then applies the result in fixed point.

Model, per axis, of the disturbance ``d`` the mirror must cancel (the platform's
line-of-sight error seen through the camera → FSM mapping), in continuous time, t in ms:

* drift: ``p' = v + w_p``, ``v' = w_v`` (the ADCS's slow error: ramps, its corrections);
* jitter: white noise through a 4th-order Butterworth low-pass at ``f_j`` (two
  second-order sections, Q = 0.541 and 1.307), scaled to ``rms`` per axis — the platform
  jitter of DESIGN §5 (20 µrad RMS in 0.1–10 Hz; its 0.1 Hz high-pass is the drift's).
  States ``j1, j1'/ω, j2, j2'/ω`` (ω = 2π·f_j per ms: every state in µrad-like units);

    x = (p, v, j1, j1'/ω, j2, j2'/ω),  d = p + j2,  x' = A x + B w

Discretised exactly (matrix exponential, Van Loan's method for the process noise) over
one frame ``T`` (the filter's step) and over the mirror waveform's sample period.

Measurement: the camera integrates ``d − mirror`` over the exposure ``e`` that ended
``ro`` before the frame tick; adding back the mirror commands in effect then gives

    y = H_e x + n,   H_e = (1/e) ∫_ro^(ro+e) C exp(−A s) ds,   n: centroid noise (σ_n)

The filter gain is the steady state of the Riccati recursion for a few exposure classes
(:data:`GAIN_CLASSES_US`); H_e is exact for each exposure of the ladder.  Prediction: the
waveform sample j, played ``j`` sample periods after the tick and seen by the mirror
``lead`` later, is ``C exp(A (j·P + lead)) x``.
"""

import math

# Exposures (µs) the steady-state gain is designed for; a frame uses the class nearest
# (in ratio) to its own exposure.  Four classes span the exposure ladder's 1-9 ms range.
GAIN_CLASSES_US = (1000, 2000, 4000, 8000)
N_STATES = 6
_Q1 = 0.5411961001461969  # 1 / (2 cos(pi/8)): Butterworth 4th order, first section
_Q2 = 1.3065629648763766  # 1 / (2 cos(3 pi/8))
RICCATI_ITER = 150  # frames: the gain converges in ~20-40 (checked in tests)
# The robust gains' centroid noise, × the design's: 3 (2 -> 6 µrad) keeps the loop bounded
# up to a mirror gain error of ×2.2 (bench/apt_predict_margin.py; docs/apt-loop.md §4);
# never below 6 µrad: a design for a quieter centroid (the default 1.5 µrad) keeps the
# same fallback, so the margin does not shrink with it (×1.9 at 4.5 µrad, measured).
ROBUST_NOISE = 3.0
ROBUST_NOISE_MIN_URAD = 6.0


def _zeros(n, m):
    return [[0.0] * m for _ in range(n)]


def _eye(n):
    a = _zeros(n, n)
    for i in range(n):
        a[i][i] = 1.0
    return a


def _mm(a, b):
    n = len(a)
    k = len(b)
    m = len(b[0])
    out = _zeros(n, m)
    for i in range(n):
        ai = a[i]
        oi = out[i]
        for t in range(k):
            v = ai[t]
            if v != 0.0:
                bt = b[t]
                for j in range(m):
                    oi[j] += v * bt[j]
    return out


def _tr(a):
    return [[a[j][i] for j in range(len(a))] for i in range(len(a[0]))]


def _scale(a, s):
    return [[v * s for v in row] for row in a]


def expm(a):
    """exp(a) by scaling and squaring of a Taylor series (small matrices, |a| modest)."""
    n = len(a)
    norm = max(sum(abs(v) for v in row) for row in a)
    s = 0
    while norm > 0.5:
        norm *= 0.5
        s += 1
    a = _scale(a, 1.0 / (1 << s))
    e = _eye(n)
    t = _eye(n)
    for k in range(1, 12):
        t = _scale(_mm(t, a), 1.0 / k)
        for i in range(n):
            for j in range(n):
                e[i][j] += t[i][j]
    for _ in range(s):
        e = _mm(e, e)
    return e


def model(f_j_hz):
    """(A, C) of the model above, time in ms."""
    w = 2.0 * math.pi * f_j_hz / 1000.0
    a = _zeros(N_STATES, N_STATES)
    a[0][1] = 1.0
    # j1'' = -w^2 j1 - (w/Q1) j1' + w^2 u  with z1 = j1'/w:  j1' = w z1,  z1' = -w j1 - z1 w/Q1 + w u
    a[2][3] = w
    a[3][2] = -w
    a[3][3] = -w / _Q1
    a[4][5] = w
    a[5][4] = -w
    a[5][5] = -w / _Q2
    a[5][2] = w  # the second section is driven by the first
    c = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    return a, c


def _discretise(a, qc, h):
    """(Phi, Qd) over h for x' = a x + w, E[w w'] = qc (Van Loan)."""
    n = len(a)
    m = _zeros(2 * n, 2 * n)
    for i in range(n):
        for j in range(n):
            m[i][j] = -a[i][j] * h
            m[i][n + j] = qc[i][j] * h
            m[n + i][n + j] = a[j][i] * h
    e = expm(m)
    phi = [[e[n + j][n + i] for j in range(n)] for i in range(n)]
    q12 = [[e[i][n + j] for j in range(n)] for i in range(n)]
    qd = _mm(phi, q12)
    for i in range(n):  # symmetrise
        for j in range(i):
            v = 0.5 * (qd[i][j] + qd[j][i])
            qd[i][j] = v
            qd[j][i] = v
    return phi, qd


def _jitter_input_psd(a, rms, h=1.0):
    """Input white-noise intensity giving ``rms`` at the jitter output (stationary
    variance by doubling: P <- P + Phi P Phi', Phi <- Phi^2, from P = Qd)."""
    sub = [row[2:6] for row in a[2:6]]
    qc = _zeros(4, 4)
    qc[1][1] = 1.0
    phi, p = _discretise(sub, qc, h)
    for _ in range(24):  # 2^24 ms: every pole (>= 0.02/ms) long decayed
        pn = _mm(_mm(phi, p), _tr(phi))
        p = [[p[i][j] + pn[i][j] for j in range(4)] for i in range(4)]
        phi = _mm(phi, phi)
    var = p[2][2]
    return rms * rms / var if var > 0.0 else 0.0


def h_row(a, c, ro_ms, e_ms, points=8):
    """H_e: the boxcar average of C exp(-A s) over s in [ro, ro + e] (midpoint rule)."""
    n = len(a)
    h = [0.0] * n
    step = e_ms / points
    back = expm(_scale(a, -step))
    m = expm(_scale(a, -(ro_ms + 0.5 * step)))
    for _ in range(points):
        for j in range(n):
            h[j] += sum(c[i] * m[i][j] for i in range(n)) / points
        m = _mm(m, back)
    return h


def steady_gain(phi, qd, h, r, iterations=None):
    """Steady-state Kalman gain (the filter's measurement-update gain) of x+ = Phi x + w,
    y = h x + n (var r)."""
    n = len(phi)
    p = _scale(_eye(n), 1e4)
    pt = _tr(phi)
    k = [0.0] * n
    for _ in range(RICCATI_ITER if iterations is None else iterations):
        pm = _mm(_mm(phi, p), pt)
        for i in range(n):
            for j in range(n):
                pm[i][j] += qd[i][j]
        ph = [sum(pm[i][j] * h[j] for j in range(n)) for i in range(n)]
        s = sum(h[i] * ph[i] for i in range(n)) + r
        k = [v / s for v in ph]
        p = [[pm[i][j] - k[i] * ph[j] for j in range(n)] for i in range(n)]
    return k


def design(jit_urad, jit_hz, noise_urad, drift_q, frame_us, ro_us, wave_us, lead_us,
           n_wave, robust=ROBUST_NOISE):
    """The predictor's matrices (floats, µrad and ms units) for the runtime:

    ``phi`` (one frame), ``gains`` (one per :data:`GAIN_CLASSES_US`), ``gains_r`` (the
    same for ``robust`` × the centroid noise, at least ROBUST_NOISE_MIN_URAD: the
    fallback of flight/apt_predict.py's supervisor), ``a``/``c`` (for :func:`h_row`),
    ``rows`` (n_wave waveform rows: C exp(A (j·P + lead)))."""
    a, c = model(jit_hz)
    n = N_STATES
    qc = _zeros(n, n)
    qc[3][3] = _jitter_input_psd(a, jit_urad)
    qc[1][1] = drift_q  # rate random walk, µrad²/ms³
    tf = frame_us / 1000.0
    phi, qd = _discretise(a, qc, tf)
    r = noise_urad * noise_urad
    ro = ro_us / 1000.0
    hs = [h_row(a, c, ro, e / 1000.0) for e in GAIN_CLASSES_US]
    gains = [steady_gain(phi, qd, h, r) for h in hs]
    rr = max(noise_urad * robust, ROBUST_NOISE_MIN_URAD)
    gains_r = [steady_gain(phi, qd, h, rr * rr) for h in hs]
    rows = []
    step = expm(_scale(a, wave_us / 1000.0))
    m = expm(_scale(a, lead_us / 1000.0))
    for _ in range(n_wave):
        rows.append([sum(c[i] * m[i][j] for i in range(n)) for j in range(n)])
        m = _mm(step, m)
    return {"a": a, "c": c, "phi": phi, "gains": gains, "gains_r": gains_r, "rows": rows}


def _q12(v):
    return int(v * 4096 + (0.5 if v >= 0 else -0.5))


def to_fixed(d, frame_us, ro_us, ladder, m, m_gain, m_h, m_gr, rows, cls):
    """``d`` (:func:`design`, with ``gains_r``) into the runtime's Q12 arrays: ``m`` (Phi
    at 0, the gains of each class at ``m_gain``, H of each ladder exposure at ``m_h``, the
    robust gains at ``m_gr``), ``rows`` (the waveform), ``cls`` (each ladder entry's gain
    class, the nearest in ratio).  Runtime units: q8 codes for every state,
    the rate per frame instead of per ms: x' = D x, D = diag(1, T, 1, 1, 1, 1)."""
    n = N_STATES
    tf = frame_us / 1000.0
    dd = [1.0, tf, 1.0, 1.0, 1.0, 1.0]
    phi = d["phi"]
    for i in range(n):
        for j in range(n):
            m[i * n + j] = _q12(dd[i] * phi[i][j] / dd[j])
    for base, gains in ((m_gain, d["gains"]), (m_gr, d["gains_r"])):
        for g in range(len(GAIN_CLASSES_US)):
            for i in range(n):
                m[base + g * n + i] = _q12(dd[i] * gains[g][i])
    for j in range(len(d["rows"])):
        r = d["rows"][j]
        for i in range(n):
            rows[j * n + i] = _q12(r[i] / dd[i])
    classes = GAIN_CLASSES_US
    nl = len(ladder)
    for li in range(nl):
        e = ladder[li]
        hr = h_row(d["a"], d["c"], ro_us / 1000.0, e / 1000.0)
        for i in range(n):
            m[m_h + li * n + i] = _q12(hr[i] / dd[i])
        best = 0
        for g in range(len(classes)):
            if abs(e - classes[g]) * classes[best] < abs(e - classes[best]) * classes[g]:
                best = g
        cls[li] = best

"""Design of the APT line-of-sight predictor (DESIGN §3.3): the steady-state Kalman gain.

Runs when the APT's parameters are loaded (floats, lists: it allocates, never in a tick).
The tick (flight/apt_control.py) then applies the gain in fixed point.

Model, per axis, in frames (T = one camera frame period): the disturbance the mirror must
cancel, ``d`` (platform pointing error seen through the camera → FSM mapping, in mirror
command units), is a *white-jerk* process with state ``x = (p, v, a)`` (position, rate per
frame, acceleration per frame²)::

    x[k+1] = F x[k] + w,   F = [[1, 1, 1/2], [0, 1, 1], [0, 0, 1]]
    Q = q · [[1/20, 1/8, 1/6], [1/8, 1/3, 1/2], [1/6, 1/2, 1]]        (jerk PSD q)

The camera measures ``d`` averaged over an exposure whose centre lies ``δ`` frames before
the frame tick (ROI read-out plus half the exposure)::

    y = H x + n,   H = (1, −δ, δ²/2),   n: centroid noise, variance r

Only the ratio q/r shapes the gain.  It is set from one design figure, the estimator's
bandwidth ``bw`` (Hz): ``q/r = (2π·bw·T)^6`` (a white-jerk filter's bandwidth grows as
(q/r)^(1/6)).  Too low: the 5–20 Hz platform jitter leaks through; too high: the centroid
noise is amplified and the gain margin against calibration error shrinks
(docs/apt-loop.md measures both).
"""


def _mm(a, b):
    n = len(a)
    m = len(b[0])
    k = len(b)
    return [[sum(a[i][t] * b[t][j] for t in range(k)) for j in range(m)] for i in range(n)]


def _tr(a):
    return [[a[j][i] for j in range(len(a))] for i in range(len(a[0]))]


def transition():
    """F of the white-jerk model over one frame."""
    return [[1.0, 1.0, 0.5], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]


def steady_gain(bw_hz, frame_s, delta_frames, iterations=400):
    """Steady-state Kalman gain (k_p, k_v, k_a) of the model above for a measurement
    ``delta_frames`` before the state's time, per frame."""
    w = 6.283185307179586 * bw_hz * frame_s
    q = w ** 6
    r = 1.0
    f = transition()
    ft = _tr(f)
    qm = [[q / 20.0, q / 8.0, q / 6.0], [q / 8.0, q / 3.0, q / 2.0],
          [q / 6.0, q / 2.0, q]]
    h = [1.0, -delta_frames, 0.5 * delta_frames * delta_frames]
    p = [[1e6, 0.0, 0.0], [0.0, 1e6, 0.0], [0.0, 0.0, 1e6]]
    k = [0.0, 0.0, 0.0]
    for _ in range(iterations):
        pm = _mm(_mm(f, p), ft)
        for i in range(3):
            for j in range(3):
                pm[i][j] += qm[i][j]
        ph = [sum(pm[i][j] * h[j] for j in range(3)) for i in range(3)]
        s = sum(h[i] * ph[i] for i in range(3)) + r
        k = [ph[i] / s for i in range(3)]
        p = [[pm[i][j] - k[i] * ph[j] for j in range(3)] for i in range(3)]
    return k[0], k[1], k[2]

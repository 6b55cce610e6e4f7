"""The APT predictor (``apt_law`` = 1; DESIGN §3.3, docs/apt-loop.md §4): a steady-state
Kalman filter of the line of sight and a mirror waveform per frame.

Each frame, per FSM axis:

1. **Measure the disturbance.**  The camera error mapped into mirror units (q8 codes,
   flight/apt_control.py) plus the mirror command that was in effect during the exposure
   (a 1-sample-period command history shifted by the mirror's delay ``apt_fsm_delay_us``)
   is a measurement of the disturbance d, averaged over the exposure.
2. **Estimate** d's state (drift position and rate, 4 jitter states: the model of
   flight/apt_kalman.py): propagate over the frames since the last update, correct with
   the steady-state gain of the frame's exposure class.  A large innovation (pull-in,
   re-acquisition) moves the estimate by 10/16 of it with the rate and jitter cleared.
3. **Predict** d over the next ``N_WAVE`` waveform samples (two frames: a missed frame is
   bridged) and hand them to the mirror driver (``Fsm.play_wave``), which outputs one
   every ``FSM_WAVE_PERIOD_US`` by itself (timer-driven DAC on the board; the simulated
   world applies each at its time).  No bytecode task runs between frames.

Fixed point: states in q8 FSM codes (the rate per frame), coefficients Q12; every product
is taken >> 12 on its own, so no sum leaves MicroPython's small ints (jitter states are
clamped to ±``J_MAX``).  The frame step allocates nothing.
"""

from array import array

from flight import apt_kalman as kd
from flight.apt_exposure import EXPOSURES_US
from hal.compat import const, ticks_diff
from hal.interfaces import FSM_CODE_MAX, FSM_CODE_MIN, FSM_WAVE_PERIOD_US

N_WAVE = const(20)  # samples per frame's waveform (20 ms at 1 kHz: two frames; the
# driver holds up to hal.interfaces.FSM_WAVE_MAX)
RING = const(32)  # command history, samples (>= 9 ms exposure + read-out + mirror delay)
_RMASK = const(31)
NU_GATE = const(100 << 8)  # innovation (q8) beyond which the estimate is pulled in (~107 urad)
V_MAX = const(1 << 15)  # rate clamp, q8 codes/frame (~13 mrad/s at 100 Hz)
J_MAX = const(1 << 16)  # jitter state clamp, q8 codes (~270 urad)
_NS = const(6)  # states per axis
_NG = const(4)  # gain classes (flight/apt_kalman.py GAIN_CLASSES_US)
M_PHI = const(0)  # offsets in Predictor.m
M_GAIN = const(36)
M_H = const(60)
U_MAX = FSM_CODE_MAX << 8
U_MIN = FSM_CODE_MIN << 8


def _q12(v):
    return int(v * 4096 + (0.5 if v >= 0 else -0.5))


class Predictor:
    """Both axes' filter state, its fixed-point matrices and the waveform buffers."""

    def __init__(self):
        n = _NS
        # One array for the kernels: the frame transition (Q12, rate per frame) at
        # M_PHI, the gains per class (Q12) at M_GAIN, H per ladder exposure (Q12) at M_H.
        self.m = array("i", [0] * (M_H + len(EXPOSURES_US) * n))
        self.cls = array("b", [0] * len(EXPOSURES_US))  # ladder index -> gain class
        self.rows = array("i", [0] * (N_WAVE * n))  # waveform rows, Q12
        self.s = array("i", [0] * (2 * n))  # x axis states, then y
        self.tmp = array("i", [0] * n)
        # the kernels' small ints: o, H offset, gain offset, y, frames, gate, V_MAX, J_MAX
        self.ka = array("i", [0, 0, 0, 0, 0, NU_GATE, V_MAX, J_MAX])
        self.fa = array("i", [0] * 6)  # fill: o, n, last, slew, max, min
        self.ca = array("i", [N_WAVE, 0, FSM_CODE_MAX, FSM_CODE_MIN])  # codes: n, d, max, min
        self.ra = array("i", [0, 0, 0, N_WAVE])  # record: ring index, m, offset, n
        self.ma = array("i", [0] * 4)  # mean: ring index, w0, w1, period
        self.hist_x = array("i", [0] * RING)  # q8 command of each past sample period
        self.hist_y = array("i", [0] * RING)
        self.n = 0  # ring index of the newest sample
        # Waveforms in codes, double-buffered: the driver may read a buffer until the
        # next play_wave() call returns.
        self.wx = (array("h", [0] * N_WAVE), array("h", [0] * N_WAVE))
        self.wy = (array("h", [0] * N_WAVE), array("h", [0] * N_WAVE))
        self.wq_x = array("i", [0] * N_WAVE)  # the last waveform, q8
        self.wq_y = array("i", [0] * N_WAVE)
        self.buf = 0
        self.fresh = True
        self.playing = False
        self.t0 = 0  # ticks of the last waveform's start
        self.ux = self.uy = 0  # the waveform's sample at the frame's end, q8
        self.k_end = 9  # its index
        self.last_x = self.last_y = 0  # the sample in effect at the frame tick, q8
        self.pd_x = self.pd_y = 0  # the FSM calibration's step in the last waveform, codes
        self.slew = 0  # largest step between samples, q8 codes
        self.pulls = 0
        self.stale = 0  # frames propagated without a measurement (missed frames)
        self.key = None  # design inputs of the matrices above
        self.x0_us = 0  # read-out + mirror delay
        self.frame_us = 10000
        self.wave_us = FSM_WAVE_PERIOD_US

    # ------------------------------------------------------------------ design
    def configure(self, p, frame_us, slew):
        """Matrices from the parameters (floats, allocates: at parameter load).  The
        design is redone only when one of its inputs changed.  ``slew``: the largest
        mirror step per frame (q8 codes)."""
        self.frame_us = frame_us
        self.slew = slew * FSM_WAVE_PERIOD_US // frame_us
        k = frame_us // FSM_WAVE_PERIOD_US - 1
        self.k_end = 0 if k < 0 else (N_WAVE - 1 if k >= N_WAVE else k)
        ro = p["apt_frame_delay_us"]
        self.x0_us = ro + p["apt_fsm_delay_us"]
        key = (p["apt_kf_jitter_urad"], p["apt_kf_jitter_hz"], p["apt_kf_noise_urad"],
               p["apt_kf_drift"], frame_us, ro, p["apt_kf_lead_us"])
        if key == self.key:
            return
        self.key = key
        d = kd.design(key[0], key[1], key[2], key[3], frame_us, ro, FSM_WAVE_PERIOD_US,
                      key[6], N_WAVE)
        # Runtime units: q8 codes (the same scale for every state: the model is linear),
        # the rate per frame instead of per ms: x' = D x, D = diag(1, T, 1, 1, 1, 1).
        tf = frame_us / 1000.0
        n = _NS
        dd = [1.0, tf, 1.0, 1.0, 1.0, 1.0]
        phi = d["phi"]
        for i in range(n):
            for j in range(n):
                self.m[M_PHI + i * n + j] = _q12(dd[i] * phi[i][j] / dd[j])
        for g in range(_NG):
            k = d["gains"][g]
            for i in range(n):
                self.m[M_GAIN + g * n + i] = _q12(dd[i] * k[i])
        for j in range(N_WAVE):
            r = d["rows"][j]
            for i in range(n):
                self.rows[j * n + i] = _q12(r[i] / dd[i])
        a = d["a"]
        c = d["c"]
        classes = kd.GAIN_CLASSES_US
        for li in range(len(EXPOSURES_US)):
            e = EXPOSURES_US[li]
            hr = kd.h_row(a, c, ro / 1000.0, e / 1000.0)
            for i in range(n):
                self.m[M_H + li * n + i] = _q12(hr[i] / dd[i])
            best = 0
            for g in range(_NG):
                if abs(e - classes[g]) * classes[best] < abs(e - classes[best]) * classes[g]:
                    best = g
            self.cls[li] = best

    def reset(self):
        self.fresh = True
        self.playing = False

    # ------------------------------------------------------------------ frame step
    def step(self, fx, fy, t, e, ux, uy):
        """One frame: the mapped error (q8 codes) ``fx``, ``fy``, the frame tick ``t``
        (ticks µs), the frame's exposure ``e`` (µs), the command in effect (q8) → the
        next waveform (q8, :meth:`play` sends it); its sample at the next frame tick in
        ``ux``/``uy``.
        Allocates nothing."""
        if not self.playing:  # the history: the command held until now
            self.pd_x = self.pd_y = 0
            j = 0
            while j < N_WAVE:
                self.wq_x[j] = ux
                self.wq_y[j] = uy
                j += 1
            m = RING
        else:
            m = ticks_diff(t, self.t0) // self.wave_us
        self._record(m)
        k = 0 if m < 1 else (m - 1 if m <= N_WAVE else N_WAVE - 1)
        self.last_x = self.wq_x[k]  # in effect now: the new waveform starts from it
        self.last_y = self.wq_y[k]
        exp_idx = _ladder(e)
        ux = self._mean_cmd(self.hist_x, e)
        uy = self._mean_cmd(self.hist_y, e)
        nf = (ticks_diff(t, self.t0) + (self.frame_us >> 1)) // self.frame_us
        s = self.s
        if self.fresh or not self.playing or nf > 3:
            i = 0
            while i < 2 * _NS:
                s[i] = 0
                i += 1
            s[0] = fx + ux
            s[_NS] = fy + uy
            self.fresh = False
        else:
            if nf > 1:
                self.stale += nf - 1
            a = self.ka
            a[0] = 0
            a[1] = M_H + exp_idx * _NS
            a[2] = M_GAIN + self.cls[exp_idx] * _NS
            a[3] = fx + ux
            a[4] = nf
            self.pulls += _kf_axis(s, self.m, self.tmp, a)
            a[0] = _NS
            a[3] = fy + uy
            a[4] = nf
            self.pulls += _kf_axis(s, self.m, self.tmp, a)
        self._fill()
        self.t0 = t
        self.playing = True

    def _record(self, m):
        """The last waveform's samples played since its start (``m`` periods; beyond its
        end the driver held the last one) into the command history."""
        a = self.ra
        a[0] = self.n
        a[1] = m if m < RING else RING
        a[2] = self.pd_x << 8  # the FSM calibration's step played with it (codes)
        _record_axis(self.hist_x, self.wq_x, a)
        a[2] = self.pd_y << 8
        self.n = _record_axis(self.hist_y, self.wq_y, a)

    def _mean_cmd(self, hist, e_us):
        """Mean command (q8) over [now − x0 − e, now − x0]: sample b periods back (b >= 1)
        was output over [−b·P, −(b−1)·P] (the newest, b = 1, ended now)."""
        a = self.ma
        a[0] = self.n
        a[1] = self.x0_us
        a[2] = self.x0_us + e_us
        a[3] = self.wave_us
        return _mean_axis(hist, a)

    def _fill(self):
        """The predicted waveform (q8), each sample within ``slew`` of the one before and
        saturated at the mirror range."""
        a = self.fa
        a[0] = 0
        a[1] = N_WAVE
        a[2] = self.last_x
        a[3] = self.slew
        a[4] = U_MAX
        a[5] = U_MIN
        _fill_axis(self.s, self.rows, self.wq_x, a)
        a[0] = _NS
        a[2] = self.last_y
        _fill_axis(self.s, self.rows, self.wq_y, a)
        k = self.k_end
        self.ux = self.wq_x[k]  # the command at the frame's end: what the next frame sees
        self.uy = self.wq_y[k]

    def play(self, fsm, d_x, d_y):
        """The waveform in codes (plus the FSM calibration's step ``d_x``/``d_y``) to the
        mirror driver, in the buffer it is not reading.  Raises HalError."""
        self.pd_x = d_x
        self.pd_y = d_y
        b = self.buf ^ 1
        self.buf = b
        wx = self.wx[b]
        wy = self.wy[b]
        a = self.ca
        a[1] = d_x
        _codes_axis(self.wq_x, wx, a)
        a[1] = d_y
        _codes_axis(self.wq_y, wy, a)
        fsm.play_wave(wx, wy, N_WAVE)


def _ladder(e):
    """Index of the exposure ladder entry nearest ``e`` µs (bisection, no allocation)."""
    lo = 0
    hi = len(EXPOSURES_US) - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if EXPOSURES_US[mid] <= e:
            lo = mid
        else:
            hi = mid
    return hi if EXPOSURES_US[hi] - e < e - EXPOSURES_US[lo] else lo




# ---------------------------------------------------------------------- the kernels
# Plain-Python twins of flight/predict_viper.py (same results; CPython and the VM).
def kf_axis_py(s, m, tmp, a):
    """Propagate ``nf`` frames and correct one axis (states ``s[o:o+6]``) with ``y``
    (``a`` = o, H offset ``ho`` and gain offset ``ko`` in ``m``, y, nf, gate, rate and
    jitter clamps; the transition at ``m[0:36]``): returns 1 when the innovation was
    beyond the gate (the estimate pulled in by 10/16 of it, the rate and jitter
    forgotten), else 0."""
    o = a[0]
    ho = a[1]
    ko = a[2]
    y = a[3]
    nf = a[4]
    phi = h = k = m
    while nf > 0:
        i = 0
        while i < 6:
            acc = 0
            j = 0
            while j < 6:
                c = phi[i * 6 + j]
                if c == 4096:
                    acc += s[o + j]
                elif c != 0:
                    acc += (c * s[o + j]) >> 12
                j += 1
            tmp[i] = acc
            i += 1
        i = 0
        while i < 6:
            s[o + i] = tmp[i]
            i += 1
        nf -= 1
    nu = y - s[o]  # H[0] = 1 (the drift position is the measurement's own level)
    j = 1
    while j < 6:
        nu -= (h[ho + j] * s[o + j]) >> 12
        j += 1
    gate = a[5]
    if nu > gate or nu < -gate:
        s[o] += (nu * 10) >> 4
        j = 1
        while j < 6:
            s[o + j] = 0
            j += 1
        return 1
    s[o] += (k[ko] * nu) >> 12
    v = s[o + 1] + ((k[ko + 1] * nu) >> 12)
    mx = a[6]
    s[o + 1] = mx if v > mx else (-mx if v < -mx else v)
    mx = a[7]
    j = 2
    while j < 6:
        v = s[o + j] + ((k[ko + j] * nu) >> 12)
        s[o + j] = mx if v > mx else (-mx if v < -mx else v)
        j += 1
    return 0


def fill_axis_py(s, rows, q, a):
    """``n`` waveform samples (q8) of one axis into ``q`` (``a`` = o, n, last, sl, umax,
    umin): row j of ``rows`` times the states ``s[o:o+6]`` (the level's coefficient is
    1), each within ``sl`` of the one before (from ``last``), saturated."""
    o = a[0]
    n = a[1]
    p = a[2]
    sl = a[3]
    umax = a[4]
    umin = a[5]
    j = 0
    while j < n:
        r = j * 6
        c = s[o] + ((rows[r + 1] * s[o + 1]) >> 12)
        i = 2
        while i < 6:
            c += (rows[r + i] * s[o + i]) >> 12
            i += 1
        c = p + sl if c > p + sl else (p - sl if c < p - sl else c)
        c = umax if c > umax else (umin if c < umin else c)
        q[j] = c
        p = c
        j += 1
    return 0


def record_axis_py(hist, q, a):
    """``m`` samples of the waveform ``q`` (beyond its ``n``: the last one) plus ``off``
    into the ring ``hist`` after index ``a[0]`` (``a`` = index, m, off, n); returns the
    new index."""
    r = a[0]
    m = a[1]
    off = a[2]
    n = a[3]
    j = 0
    while j < m:
        r = (r + 1) & _RMASK
        hist[r] = q[j if j < n else n - 1] + off
        j += 1
    return r


def mean_axis_py(hist, a):
    """The ring's mean over the window [w0, w1] µs back from now, each sample b periods
    back held over [b−1, b] periods, weighted by its overlap (``a`` = newest index, w0,
    w1, period)."""
    r = a[0]
    w0 = a[1]
    w1 = a[2]
    wave = a[3]
    ref = hist[r]
    acc = 0
    tot = 0
    b = w0 // wave + 1
    while b <= RING:
        lo = b * wave
        hi = lo - wave
        if hi >= w1:
            break
        a0 = lo if lo < w1 else w1
        a1 = hi if hi > w0 else w0
        ov = (a0 - a1) >> 3  # overlap in 8 µs units (products stay small)
        if ov > 0:
            acc += (hist[(r - b + 1) & _RMASK] - ref) * ov
            tot += ov
        b += 1
    if tot == 0:
        return ref
    return ref + (acc // tot if acc >= 0 else -((-acc) // tot))


def codes_axis_py(q, w, a):
    """q8 samples → codes plus ``d``, saturated, into ``w`` (``a`` = n, d, cmax, cmin)."""
    n = a[0]
    d = a[1]
    cmax = a[2]
    cmin = a[3]
    j = 0
    while j < n:
        c = (q[j] >> 8) + d
        w[j] = cmax if c > cmax else (cmin if c < cmin else c)
        j += 1
    return 0


# The viper kernels where the port compiles them (Cortex-M7 firmware, unix port), else
# the twins: the VM's compiler refuses the decorator, CPython has no micropython.
try:
    from flight.predict_viper import codes_axis as _codes_axis
    from flight.predict_viper import fill_axis as _fill_axis
    from flight.predict_viper import kf_axis as _kf_axis
    from flight.predict_viper import mean_axis as _mean_axis
    from flight.predict_viper import record_axis as _record_axis
except (ImportError, SyntaxError, ValueError):
    _kf_axis = kf_axis_py
    _record_axis = record_axis_py
    _mean_axis = mean_axis_py
    _fill_axis = fill_axis_py
    _codes_axis = codes_axis_py

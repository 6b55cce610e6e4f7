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
G_PULL_Q4 = const(10)  # pull-in gain 10/16
V_MAX = const(1 << 15)  # rate clamp, q8 codes/frame (~13 mrad/s at 100 Hz)
J_MAX = const(1 << 16)  # jitter state clamp, q8 codes (~270 urad)
_NS = const(6)  # states per axis
_NG = const(4)  # gain classes (flight/apt_kalman.py GAIN_CLASSES_US)
U_MAX = FSM_CODE_MAX << 8
U_MIN = FSM_CODE_MIN << 8


def _q12(v):
    return int(v * 4096 + (0.5 if v >= 0 else -0.5))


class Predictor:
    """Both axes' filter state, its fixed-point matrices and the waveform buffers."""

    def __init__(self):
        n = _NS
        self.phi = array("i", [0] * (n * n))  # one frame, Q12 (rate per frame)
        self.gain = array("i", [0] * (_NG * n))  # per class, Q12
        self.h = array("i", [0] * (len(EXPOSURES_US) * n))  # per ladder exposure, Q12
        self.cls = array("b", [0] * len(EXPOSURES_US))  # ladder index -> gain class
        self.rows = array("i", [0] * (N_WAVE * n))  # waveform rows, Q12
        self.s = array("i", [0] * (2 * n))  # x axis states, then y
        self.tmp = array("i", [0] * n)
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
        self.last_x = self.last_y = 0  # the last sample handed to the driver, q8
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
                self.phi[i * n + j] = _q12(dd[i] * phi[i][j] / dd[j])
        for g in range(_NG):
            k = d["gains"][g]
            for i in range(n):
                self.gain[g * n + i] = _q12(dd[i] * k[i])
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
                self.h[li * n + i] = _q12(hr[i] / dd[i])
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
            j = 0
            while j < N_WAVE:
                self.wq_x[j] = ux
                self.wq_y[j] = uy
                j += 1
            m = RING
        else:
            m = ticks_diff(t, self.t0) // self.wave_us
        self._record(m)
        self.last_x = self.hist_x[self.n]  # in effect now: the new waveform starts from it
        self.last_y = self.hist_y[self.n]
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
            h = exp_idx * _NS
            g = self.cls[exp_idx] * _NS
            self._update(0, fx + ux, nf, h, g)
            self._update(_NS, fy + uy, nf, h, g)
        self._fill()
        self.t0 = t
        self.playing = True

    def _record(self, m):
        """The last waveform's samples played since its start (``m`` periods; beyond its
        end the driver held the last one) into the command history."""
        if m > RING:
            m = RING
        n = self.n
        hx = self.hist_x
        hy = self.hist_y
        wx = self.wq_x
        wy = self.wq_y
        j = 0
        while j < m:
            k = j if j < N_WAVE else N_WAVE - 1
            n = (n + 1) & _RMASK
            hx[n] = wx[k]
            hy[n] = wy[k]
            j += 1
        self.n = n

    def _mean_cmd(self, hist, e_us):
        """Mean command (q8) over [now − x0 − e, now − x0]: sample b periods back (b >= 1)
        was output over [−b·P, −(b−1)·P] (the newest, b = 1, ended now)."""
        wave = self.wave_us
        w0 = self.x0_us
        w1 = w0 + e_us
        n = self.n
        ref = hist[n]
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
                acc += (hist[(n - b + 1) & _RMASK] - ref) * ov
                tot += ov
            b += 1
        return ref + (acc // tot if tot else 0)

    def _update(self, o, y, nf, h, g):
        """One axis (states ``s[o:o+6]``): propagate ``nf`` frames, correct with ``y``."""
        s = self.s
        phi = self.phi
        tmp = self.tmp
        while nf > 0:
            i = 0
            while i < _NS:
                r = i * _NS
                acc = 0
                j = 0
                while j < _NS:
                    c = phi[r + j]
                    if c:
                        if c == 4096:
                            acc += s[o + j]
                        else:
                            acc += (c * s[o + j]) >> 12
                    j += 1
                tmp[i] = acc
                i += 1
            i = 0
            while i < _NS:
                s[o + i] = tmp[i]
                i += 1
            nf -= 1
        hh = self.h
        nu = y - s[o]  # H[0] = 1 (the drift position is the measurement's own level)
        j = 1
        while j < _NS:
            nu -= (hh[h + j] * s[o + j]) >> 12
            j += 1
        if nu > NU_GATE or nu < -NU_GATE:
            s[o] += (nu * G_PULL_Q4) >> 4
            j = 1
            while j < _NS:
                s[o + j] = 0
                j += 1
            self.pulls += 1
            return
        k = self.gain
        s[o] += (k[g] * nu) >> 12
        v = s[o + 1] + ((k[g + 1] * nu) >> 12)
        s[o + 1] = V_MAX if v > V_MAX else (-V_MAX if v < -V_MAX else v)
        j = 2
        while j < _NS:
            v = s[o + j] + ((k[g + j] * nu) >> 12)
            s[o + j] = J_MAX if v > J_MAX else (-J_MAX if v < -J_MAX else v)
            j += 1

    def _fill(self):
        """The predicted waveform (q8), each sample within ``slew`` of the one before and
        saturated at the mirror range."""
        s = self.s
        rows = self.rows
        qx = self.wq_x
        qy = self.wq_y
        sl = self.slew
        px = self.last_x
        py = self.last_y
        j = 0
        while j < N_WAVE:
            r = j * _NS
            cx = s[0] + ((rows[r + 1] * s[1]) >> 12)
            cy = s[_NS] + ((rows[r + 1] * s[_NS + 1]) >> 12)
            i = 2
            while i < _NS:
                c = rows[r + i]
                cx += (c * s[i]) >> 12
                cy += (c * s[_NS + i]) >> 12
                i += 1
            cx = px + sl if cx > px + sl else (px - sl if cx < px - sl else cx)
            cy = py + sl if cy > py + sl else (py - sl if cy < py - sl else cy)
            px = U_MAX if cx > U_MAX else (U_MIN if cx < U_MIN else cx)
            py = U_MAX if cy > U_MAX else (U_MIN if cy < U_MIN else cy)
            qx[j] = px
            qy[j] = py
            j += 1
        k = self.k_end
        self.ux = qx[k]  # the command at the frame's end: what the next frame sees
        self.uy = qy[k]

    def play(self, fsm, d_x, d_y):
        """The waveform in codes (plus the FSM calibration's step ``d_x``/``d_y``) to the
        mirror driver, in the buffer it is not reading.  Raises HalError."""
        b = self.buf ^ 1
        self.buf = b
        wx = self.wx[b]
        wy = self.wy[b]
        qx = self.wq_x
        qy = self.wq_y
        j = 0
        while j < N_WAVE:
            cx = (qx[j] >> 8) + d_x
            cy = (qy[j] >> 8) + d_y
            wx[j] = FSM_CODE_MAX if cx > FSM_CODE_MAX else (FSM_CODE_MIN if cx < FSM_CODE_MIN
                                                            else cx)
            wy[j] = FSM_CODE_MAX if cy > FSM_CODE_MAX else (FSM_CODE_MIN if cy < FSM_CODE_MIN
                                                            else cy)
            j += 1
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



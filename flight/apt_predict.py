"""The APT predictor (``apt_law`` = 1; DESIGN §3.3, docs/apt-loop.md §4): a steady-state
Kalman filter of the line of sight and a mirror waveform per frame.

Each frame, per FSM axis: **measure** the disturbance (the camera error mapped into mirror
units, flight/apt_control.py, plus the mirror command in effect during the exposure: a
1-sample-period command history shifted by ``apt_fsm_delay_us``); **estimate** its state
(drift position and rate, 4 jitter states: flight/apt_kalman.py's model; a large
innovation is an alpha-beta pull-in instead, a clamped error a restart, a sustained mean
of the innovations a rate correction: flight/predict_py.py); **predict** it over the next ``C_NW``
samples (two frames, at most ``N_WAVE``: a missed frame is bridged) and hand them to the mirror driver
(``Fsm.play_wave``), which outputs one every ``FSM_WAVE_PERIOD_US`` by itself.

Fixed point: states in q8 FSM codes (the rate per frame), coefficients Q12; every product
is taken >> 12 on its own, so no sum leaves MicroPython's small ints (jitter states are
clamped to ±``predict_py._J_MAX``).  The frame step allocates nothing: one call of the
frame kernel (flight/predict_viper.py, viper on the 32-bit firmware; flight/predict_py.py its twin) and
one of the codes kernel per frame, the arrays in one tuple, the small ints in ``c``
(indices no other module reads are private consts: no globals entry on the board).
"""

from array import array

from flight import lazy
from flight.apt_exposure import EXPOSURES_US
from hal.compat import const, ticks_diff
from flight.pointahead import EV_APT_PREDICT_ROBUST
from hal.interfaces import FSM_CODE_MAX, FSM_CODE_MIN, FSM_LATENCY_US, FSM_LSB_RAD
from hal.interfaces import FSM_WAVE_PERIOD_US

N_WAVE = const(20)  # the waveform buffers' samples (20 ms at 1 kHz: two 10 ms frames; the
# driver holds up to hal.interfaces.FSM_WAVE_MAX); a frame's waveform is two frames of
# them (C_NW: 12 at the board's 6 ms frames, 14 at 7 ms), what one missed frame needs
_RING = const(32)  # command history, samples (>= 9 ms exposure + read-out + mirror delay)
_NS = const(6)  # states per axis
_NG = const(4)  # gain classes (flight/apt_kalman.py GAIN_CLASSES_US)
M_PHI = const(0)  # offsets in Predictor.m
M_GAIN = const(36)
M_H = const(60)
# The kernels' arrays, in Predictor.arrs (a tuple: one argument for all of them).
_A_M = const(0)  # phi, gains, H (Q12)
_A_ROWS = const(1)  # waveform rows (Q12)
A_S = const(2)  # states: x axis, then y
_A_TMP = const(3)
A_HX = const(4)  # command history rings (q8), x and y
A_HY = const(5)
A_QX = const(6)  # the last waveform (q8), x and y
A_QY = const(7)
A_LAD = const(8)  # the exposure ladder (µs: apt_exposure.EXPOSURES_US, 'H')
A_WX0 = const(9)  # the driver's buffers (codes): x and y of buffer 0, then of buffer 1
_A_CLS = const(13)  # each ladder entry's gain class (a bytearray: 0 .. _NG - 1)
# Predictor.c: the frame kernel's small ints (in: the frame's inputs; state; out).
C_DT = const(0)  # in: ticks since the last waveform's start (µs)
C_E = const(1)  # in: the frame's exposure (µs)
C_FX = const(2)  # in: the mapped error (q8 codes), x and y
C_FY = const(3)
C_UX = const(4)  # in: the command in effect (q8; used when no waveform plays);
C_UY = const(5)  # out: the waveform's sample at the next frame tick
C_PLAY = const(6)  # 1 while a waveform plays (in/out)
C_FRESH = const(7)  # 1: the next measurement restarts the estimate (in/out)
C_N = const(8)  # ring index of the newest history sample
C_PDX = const(9)  # the FSM calibration's step played with the last waveform (codes)
C_PDY = const(10)
C_PULLS = const(11)  # counters: pull-ins, frames propagated without a measurement
_C_STALE = const(12)
_C_X0 = const(13)  # read-out + mirror delay (µs)
_C_WAVE = const(14)  # waveform sample period (µs)
_C_FRAME = const(15)  # frame period (µs)
_C_SLEW = const(16)  # largest step between samples (q8)
_C_KEND = const(17)  # index of the waveform's sample at the next frame tick
C_NL = const(18)  # ladder length
_C_LASTX = const(19)  # out: the sample in effect at the frame tick (q8)
_C_LASTY = const(20)
C_DX = const(21)  # codes kernel, in: the FSM calibration's step to add (codes)
C_DY = const(22)
C_BUF = const(23)  # the driver buffer written last
# The camera -> FSM mapping (flight/apt_control.py) done by the kernel when C_MAP is 1:
# C_FX/C_FY then hold the spot's offset (q8 px: 1/256) and are replaced by the mapped error.
C_MAP = const(24)
C_K = const(25)  # px -> q8 codes (px2code_q8)
C_SX = const(26)  # axis signs (+-1)
C_SY = const(27)
C_M00 = const(28)  # camera -> FSM, Q12
C_M01 = const(29)
C_M10 = const(30)
C_M11 = const(31)
C_ECL = const(32)  # |error| clamp, q8 codes (apt_control.E_CLAMP)
C_QL = const(33)  # |offset| clamp, q8 px, beyond which the error is clamped anyway (the
# product with C_K then stays in 32 bits: viper's machine ints)
_C_CMAX = const(34)  # the mirror's code range (hal.interfaces), for the codes kernel
_C_CMIN = const(35)
C_GOFF = const(36)  # the gain block in use: M_GAIN, or the robust gains (Predictor.m_gr)
C_NF = const(37)  # frames updated since the estimate (re)started (capped at 30000)
C_NUPX = const(38)  # the last innovation (q8), x and y
C_NUPY = const(39)
C_NUAX = const(40)  # the supervisor's monitors: |innovation's change| (q8, clipped at
C_NUAY = const(41)  # predict_py._NU_CLIP) low-passed 1/16 a frame, x and y
_C_NUMX = const(42)  # the innovation's mean (q8), low-passed 1/8 a frame, x and y
_C_NUMY = const(43)
_C_MANS = const(44)  # counter: the manoeuvre detector's rate corrections (predict_py; no
# property for it: a class attribute is heap on the board, tests read c[C_NUAY + 3])
_C_FSTD = const(45)  # 1: the transition has the model's structure (:func:`structured`)
C_NW = const(46)  # the waveform's samples: two frames' (:meth:`Predictor.configure`)
_C_LEN = const(47)


def structured(m):
    """1 when the transition (Q12, at M_PHI) is the model's (flight/apt_kalman.py): the
    position gains the rate (1, 1), the rate holds (1), the four jitter states mix among
    themselves alone, each of their terms at most 2.0 (a product with a state, clamped at
    2**16, stays below 2**30): the viper kernel then multiplies those 16 terms alone, the
    same integers as its every-term loop.  Else 0 (that loop)."""
    one = 4096
    if (m[0], m[1], m[7]) != (one, one, one):
        return 0
    for i in range(6):
        for j in range(6):
            v = m[i * 6 + j]
            if i < 2 or j < 2:
                if v != 0 and (i, j) not in ((0, 0), (0, 1), (1, 1)):
                    return 0
            elif v > 2 * one or v < -2 * one:
                return 0
    return 1


def mirror_timing(p):
    """(lead, mirror delay) in µs: ``apt_kf_lead_us`` and ``apt_fsm_delay_us``, set for the
    reference unit's command latency (hal.interfaces ``FSM_LATENCY_US``), each moved by
    how much longer this unit's measured latency ``apt_fsm_latency_us`` is: the time from
    a sample's DAC write to the mirror's motion adds to both (docs/apt-loop.md §4 "The
    unit's mirror latency").  Never negative (flight/param_rules.py ``apt_mirror_timing``)."""
    shift = p["apt_fsm_latency_us"] - FSM_LATENCY_US
    return p["apt_kf_lead_us"] + shift, p["apt_fsm_delay_us"] + shift


class Predictor:
    """Both axes' filter state, its fixed-point matrices and the waveform buffers."""

    def __init__(self):
        n = _NS
        nl = len(EXPOSURES_US)
        # The frame transition (Q12, rate per frame) at M_PHI, the gains per class (Q12)
        # at M_GAIN, H per ladder exposure (Q12) at M_H.
        self.m_gr = M_H + nl * n  # the robust gains (the supervisor's fallback)
        self.m = array("i", [0] * (self.m_gr + _NG * n))
        self.lad = EXPOSURES_US  # the ladder (µs): apt_exposure's own array 'H' (<= 9000)
        self.cls = bytearray(nl)  # each ladder entry's gain class (0 .. _NG - 1)
        self.rows = array("i", [0] * (N_WAVE * n))  # waveform rows, Q12
        self.s = array("i", [0] * (2 * n))  # x axis states, then y
        self.hist_x = array("i", [0] * _RING)  # q8 command of each past sample period
        self.hist_y = array("i", [0] * _RING)
        self.wq_x = array("i", [0] * N_WAVE)  # the last waveform, q8
        self.wq_y = array("i", [0] * N_WAVE)
        # Waveforms in codes, double-buffered: the driver may read a buffer until the
        # next play_wave() call returns.
        self.wx = (array("h", [0] * N_WAVE), array("h", [0] * N_WAVE))
        self.wy = (array("h", [0] * N_WAVE), array("h", [0] * N_WAVE))
        self.arrs = (self.m, self.rows, self.s, array("i", [0] * n), self.hist_x,
                     self.hist_y, self.wq_x, self.wq_y, self.lad, self.wx[0], self.wy[0],
                     self.wx[1], self.wy[1], self.cls)
        c = self.c = array("i", [0] * _C_LEN)
        c[C_NW] = N_WAVE  # (until :meth:`configure` sets the frame's)
        c[C_FRESH] = 1
        c[C_GOFF] = M_GAIN
        c[_C_WAVE] = FSM_WAVE_PERIOD_US
        c[_C_FRAME] = 10000
        c[_C_KEND] = 9
        c[C_NL] = nl
        c[_C_CMAX] = FSM_CODE_MAX
        c[_C_CMIN] = FSM_CODE_MIN
        self.t0 = 0  # ticks of the last waveform's start
        self.key = None  # design inputs of the matrices above
        self.designed = False  # the matrices hold a design (else the law runs PI)
        self.fallbacks = 0  # the supervisor's switches to the robust gains
        # A trip's event waits for :meth:`report` (its monitor, q8; 0: none due): the
        # trip comes in the tick's heap-locked section, and an event allocates.
        self.robust_due_q8 = 0
        self._emit = None

    # Read-outs (telemetry, tests, benches; the tick reads ``c``).
    playing = property(lambda self: self.c[C_PLAY] != 0)
    fresh = property(lambda self: self.c[C_FRESH] != 0)
    pulls = property(lambda self: self.c[C_PULLS])
    stale = property(lambda self: self.c[_C_STALE])
    robust = property(lambda self: self.c[C_GOFF] != M_GAIN)  # the supervisor fell back

    # ------------------------------------------------------------------ design
    def configure(self, p, frame_us, slew):
        """Matrices from the parameters (floats, allocates: at parameter load).  The
        design is redone only when one of its inputs changed.  ``slew``: the largest
        mirror step per frame (q8 codes).  True while the matrices hold a design."""
        c = self.c
        c[_C_FRAME] = frame_us
        c[_C_SLEW] = slew * FSM_WAVE_PERIOD_US // frame_us
        k = frame_us // FSM_WAVE_PERIOD_US - 1
        nw = 2 * (k + 1)  # two frames: the next one's waveform, or one missed frame's
        c[C_NW] = 2 if nw < 2 else (N_WAVE if nw > N_WAVE else nw)
        c[_C_KEND] = 0 if k < 0 else (c[C_NW] - 1 if k >= c[C_NW] else k)
        ro = p["apt_frame_delay_us"]
        lead, delay = mirror_timing(p)
        c[_C_X0] = ro + delay
        key = (p["apt_kf_jitter_urad"], p["apt_kf_jitter_hz"], p["apt_kf_noise_urad"],
               p["apt_kf_drift"], frame_us, ro, lead)
        if key == self.key:
            return self.designed
        self._emit = getattr(p, "emit", None)  # (the app's, for the supervisor's event)
        # The design's code is loaded for it and released after (flight/lazy.py).  No heap
        # for it: MODULE_LOAD_FAILED, the matrices unchanged (the last design, or none: the
        # law runs PI), a new try at the next parameter load (the key stays unset).
        try:
            kd = lazy.load("flight.apt_kalman", self._emit)
        except lazy.LoadFailed:
            self.key = None
            return self.designed
        try:
            d = kd.design(key[0], key[1], key[2], key[3], frame_us, ro, FSM_WAVE_PERIOD_US,
                          key[6], N_WAVE)
            kd.to_fixed(d, frame_us, ro, EXPOSURES_US, self.m, M_GAIN, M_H, self.m_gr,
                        self.rows, self.cls)
        finally:
            lazy.done("flight.apt_kalman")
        c[_C_FSTD] = structured(self.m)
        self.key = key
        self.designed = True
        return True

    def reset(self):
        """A new start: the next measurement restarts the estimate, the nominal gains."""
        self.c[C_FRESH] = 1
        self.c[C_PLAY] = 0
        self.c[C_GOFF] = M_GAIN

    # ------------------------------------------------------------------ frame step
    def step(self, fx, fy, t, e, ux, uy, mapped=0, d_x=None, d_y=0, lines=None):
        """One frame: the error ``fx``, ``fy`` (q8 FSM codes; with ``mapped`` 1 the spot's
        offset in q8 px, which the kernel maps with :meth:`set_mapping`'s mapping), the
        frame tick ``t`` (ticks µs), the frame's exposure ``e`` (µs), the command in effect
        (q8) → the next waveform (q8); its sample at the next frame tick in
        ``c[C_UX]``/``c[C_UY]``.  With the FSM calibration's step ``d_x``, ``d_y`` (codes)
        also the wheel ``lines``' frame (flight/apt_wheels.py) and the waveform's codes
        into the driver buffer it is not reading (:meth:`fill`'s work): the tick's whole
        predictor frame in this one call, as flight/apt_control.py ControlLaw.step makes it
        (a Python call is ~2 k instructions on the board, on the loop's path to the mirror:
        docs/firmware.md §4 "The tick's calls").  :meth:`send` plays it.  Allocates nothing
        (the tick's locked section)."""
        c = self.c
        c[C_DT] = ticks_diff(t, self.t0)
        c[C_E] = e
        c[C_FX] = fx
        c[C_FY] = fy
        c[C_UX] = ux
        c[C_UY] = uy
        c[C_MAP] = mapped
        self.t0 = t
        A = self.arrs
        if _frame(A, c):  # (1: the supervisor's trip: predict_py.frame_py)
            self._robust()
        if d_x is None:
            return
        c[C_BUF] ^= 1  # (fill, inline; the lines' step reads none of these three)
        c[C_DX] = d_x
        c[C_DY] = d_y
        # the lines' frame; while they play, they write the codes (Lines.step)
        if lines is None or not lines.step(t, c, self.lad, A):
            _codes(A, c)

    def _robust(self):
        """The supervisor: the loop oscillates (a mirror gain error beyond the design's
        ×1.5): robust gains (×2.2) until a reset (a session's start, the mirror parked, a
        rejected candidate, a target switch) or parameter change; an event, which
        :meth:`report` gives once the tick's heap is unlocked.  Allocates nothing (it
        runs in the tick's locked section: emitting here raised MemoryError there, the
        tick aborted and the event lost — stop 48, the target bench at 6 ms frames)."""
        c = self.c
        c[C_GOFF] = self.m_gr
        self.fallbacks += 1
        a = c[C_NUAX]
        b = c[C_NUAY]
        self.robust_due_q8 = (a if a > b else b) or 1  # (an int store: no allocation)

    def report(self):
        """The supervisor's event for a trip :meth:`_robust` made (APT_PREDICT_ROBUST:
        the trips so far, the monitor in µrad).  Allocates: outside the tick's locked
        section (ControlLaw.command, every frame)."""
        q8 = self.robust_due_q8
        self.robust_due_q8 = 0
        if q8 and self._emit is not None:
            u = q8 * (FSM_LSB_RAD * 1e6 / 256)  # (q8 -> urad)
            self._emit(EV_APT_PREDICT_ROBUST, [self.fallbacks, u],
                       "innovation changes ~%d urad: robust predictor gains" % u)

    def set_mapping(self, k, sx, sy, m00, m01, m10, m11, e_clamp):
        """The camera -> FSM mapping for :meth:`step` (apt_control.ControlLaw's, bit for
        bit: tests/mpy/test_predict_kernels_mpy.py)."""
        c = self.c
        c[C_GOFF] = M_GAIN  # (a parameter changed: the nominal gains again)
        c[C_ECL] = e_clamp
        c[C_QL] = (e_clamp << 8) // k + 1 if k > 0 else 0
        c[C_K], c[C_SX], c[C_SY] = k, sx, sy  # (no more than 3: no tuple made)
        c[C_M00], c[C_M01] = m00, m01
        c[C_M10], c[C_M11] = m10, m11

    def fill(self, d_x, d_y, lines=None):
        """The last waveform in codes (plus the FSM calibration's step ``d_x``/``d_y`` and
        the wheel ``lines``, flight/apt_wheels.py) into the driver buffer it is not
        reading; :meth:`send` plays it.  Allocates nothing (the tick's locked section)."""
        c = self.c
        c[C_BUF] ^= 1
        c[C_DX], c[C_DY] = d_x, d_y  # (2: no tuple made)
        if lines is None or not lines.codes(self.arrs, c):
            _codes(self.arrs, c)

    def register(self, fsm):
        """The waveform buffers with the mirror driver (``Fsm.register_wave_buffers``):
        int16 storage, so its ``play_wave`` checks ``n`` alone, not every sample (12.2 k
        instructions a frame on the loop's path: docs/apt-loop.md §4).  A stand-in
        without the method keeps the per-sample check."""
        reg = getattr(fsm, "register_wave_buffers", None)
        if reg is not None:
            reg(self.wx[0], self.wy[0], self.wx[1], self.wy[1])

    def send(self, fsm):
        """The buffer :meth:`fill` wrote to the mirror driver.  Raises HalError."""
        b = self.c[C_BUF]
        fsm.play_wave(self.wx[b], self.wy[b], self.c[C_NW])


# The viper kernels where the port compiles them (the 32-bit firmware), else their
# plain-Python twins (flight/predict_py.py, imported only there): the VM's compiler refuses
# the decorator, a 64-bit port's ptr32 loads do not sign-extend (flight/predict_viper.py),
# CPython has no micropython.
try:
    from flight.predict_viper import codes as _codes
    from flight.predict_viper import frame as _frame
except (ImportError, SyntaxError, ValueError):
    from flight.predict_py import codes_py as _codes
    from flight.predict_py import frame_py as _frame

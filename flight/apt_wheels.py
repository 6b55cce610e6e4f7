"""The reaction-wheel line canceller of the APT predictor (DESIGN §3.3, docs/apt-loop.md §4
"Wheel lines").

The platform's reaction wheels shake the line of sight at their speed (static imbalance)
and its 2nd harmonic: narrow lines at 33-134 Hz that 100 Hz frames alias to 0-50 Hz,
where the predictor (flight/apt_predict.py) extrapolates them with a gain of ~2.7.  The
OBC knows the wheel speeds and sends them with its navigation state (``NAV_STATE``'s
optional ``rw1_hz`` .. ``rw4_hz``; flight/pointahead.py receives them and calls
:meth:`Lines.set_speeds`).  Per line (fundamental and 2nd harmonic per wheel) and per FSM
axis the canceller estimates the line's complex amplitude ``z`` (the line is
``Re(z · exp(j ω t))`` on the payload's clock) and adds the lines' predicted value at each
mirror sample of the waveform:

* **The measurement.**  The lines are played *outside* the predictor's command history
  (the codes, not the q8 waveform): the predictor's measurement of the disturbance is then
  the disturbance minus the lines as played, and its innovation ``ν`` holds what the
  canceller has not cancelled yet, as seen through the exposure: ``Re(Δz · P_n · F_e)``
  with ``P_n = exp(j ω t_n)`` at the frame tick and ``F_e`` the exposure's boxcar
  (``exp(−j ω (ro + e/2)) · sinc(ω e / 2)``, read-out ``ro``: a table per ladder exposure)
  — times the predictor's innovation transfer S at the line's alias (gain ~2.7 for
  aliases of 30-50 Hz).
* **The estimate** is an LMS on the innovation: ``z += μ ν conj(S̃ P_n F_e)`` (time
  constant ~0.75 s at |F_e| = 1), in frames where the predictor is settled (``ARM``
  frames after a restart, no pull-in); ``S̃ = S/|S|`` turns the basis by the predictor's
  innovation transfer at the line's alias (computed at design from the predictor's
  matrices: +41° at 33 Hz, 0 at 50, +113° at 10 Hz, where an uncompensated LMS would run
  the wrong way).  A line aliased below ``ALIAS_MIN_HZ`` is left to the predictor:
  there the predictor follows the alias itself, and in the honest passes (seeds 1-3,
  the 2nd harmonics at 21-30 Hz of 0.5 µrad) cancelling them cost more in estimation
  noise and crosstalk with the fundamentals (aliases 1-5 Hz apart) than they removed
  (seed 1: 5.32 µrad with them, 5.17 without; docs/apt-loop.md §4).
* **The waveform**: sample j (played j ms after the tick, on the line of sight ``lead``
  later) gets ``Re(z · P_n · exp(j ω (lead + j ms)))``: a Chebyshev recursion, one
  product per sample, no trigonometry per tick.  ``P`` advances by rotations (one frame,
  1 ms, the fraction of a ms by a Taylor series) and is renormalised every frame.
* **Stale or missing speeds** (older than ``apt_rw_max_age_s``, or never sent; the
  pointahead task decides and reports: APT_RW_STALE): the output fades to zero over
  ``FADE_FRAMES`` frames and the estimates are cleared — never a stale model driving the
  mirror.  Fresh speeds again: the estimates restart from zero (APT_RW_LINES).

Fixed point: rotations Q14, amplitudes q10 FSM codes (|z| clamped to ``Z_MAX``), each
product shifted on its own so that no sum leaves the small ints.  The frame step and the
codes allocate nothing (tests/mpy/test_wheels_mpy.py); :meth:`Lines.set_speeds` and
:meth:`Lines.configure` use floats (the TC path and parameter load).
"""

import math
from array import array

from flight.apt_exposure import EXPOSURES_US
from flight.wheels_design import eliminate, innovation_arg, innovation_setup
from flight.events import SEV_INFO, SEV_WARN, Event
from flight.params import ParamDef
from hal.compat import const, ticks_diff
from hal.interfaces import FSM_CODE_MAX, FSM_CODE_MIN

MAX_WHEELS = const(4)  # NAV_STATE's rw1_hz .. rw4_hz
N_SLOT = const(8)  # lines: fundamental and 2nd harmonic per wheel
ALIAS_MIN_HZ = 31.0  # lines aliased lower are left to the predictor (the module doc)
# A line aliased within 1.5 Hz of the frames' Nyquist frequency (50 Hz) is seen at nearly
# the same phase every frame: its quadrature part shows only over the 1 / (2 (50 - alias))
# beat, slower than the LMS (~0.75 s), and would drift unobserved into the waveform
# (campaign draw 32 of seed 11, a wheel at 49.9999 Hz: 6.9 -> 14.9 urad).  Left alone.
ALIAS_MAX_HZ = 48.5
TABLE_HZ = 1.0  # a line's exposure tables are redone when it moved this far (Hz)
PEND_ARG = const(1)  # Lines.pend: the innovation turn's 3 pieces, then the rungs'
PEND_RUNGS = const(4)
RUNG_CHUNK = const(9)  # exposure rungs designed per Lines.service call
LINE_MAX_HZ = 150.0  # the fraction-of-a-ms rotation's Taylor series holds to 0.9 rad
ONE = const(16384)  # Q14
Z_MAX = const(40000)  # amplitude clamp per component, q10 codes (~42 urad): |z| Q14
# products stay < 2**30 (small ints on the 32-bit port, machine words in viper)
ARM = const(50)  # frames after the predictor's (re)start before the LMS adapts
FADE_FRAMES = const(50)  # 0.5 s fade in / out
NU_MAX = const(100 << 8)  # innovation (q8) beyond which a frame is not used (the gate)
MU_Q12 = const(40)  # LMS step: z (q10) += (nu * b >> 14) * 4 * MU / 4096 per frame
# (innovation gain ~2.75, |F_e| ~1: a time constant of ~1 / (2.75 / 2 * 40 / 4096) ~ 75 frames)
AGE_NONE = const(4000000)  # an age (ms) that means "never received" (pointahead's cap)
NLAD = len(EXPOSURES_US)
# Per slot, in Lines.L (array 'i'), stride LS:
S_ON = const(0)  # 1: the slot's line is cancelled
S_RC = const(1)  # rotation over one waveform period (1 ms), Q14
S_RS = const(2)
S_FC = const(3)  # rotation over one frame period, Q14
S_FS = const(4)
S_W = const(5)  # omega, rad/us * 2**24 (the fraction of a ms)
S_LC = const(6)  # rotation over the lead (sample -> line of sight), Q14
S_LS = const(7)
S_PC = const(8)  # the phasor exp(j omega t) at the last frame tick, Q14
S_PS = const(9)
S_XR = const(10)  # amplitude, x axis (q10 codes, complex), then y
S_XI = const(11)
S_YR = const(12)
S_YI = const(13)
S_F = const(14)  # the exposure boxcar per ladder entry (Q14 re, im)
LS = 14 + 2 * NLAD
# Lines.k: the kernel's small ints
K_DT = const(0)  # in: µs since the last frame step
K_ON = const(1)  # in: 1 while the speeds are fresh and the canceller enabled
K_G = const(2)  # output gain, Q14 (the fade)
K_ACT = const(3)  # slots on
K_FRAME = const(4)  # frame period, µs
K_WAVE = const(5)  # waveform sample period, µs
K_UPD = const(6)  # counters: LMS updates, resets (phasor lost)
K_RST = const(7)
K_LEN = const(8)

# Declared with flight/pointahead.py's (the pointing component that receives the speeds).
EV_APT_RW_STALE = const(0xA6)
EV_APT_RW_LINES = const(0xA7)
RW_EVENTS = (
    Event(EV_APT_RW_STALE, "APT_RW_STALE", SEV_WARN,
          "reaction-wheel speeds stale or missing (or the canceller disabled): the APT's "
          "wheel-line canceller fades out and forgets its lines", (("age_s", "float"),)),
    Event(EV_APT_RW_LINES, "APT_RW_LINES", SEV_INFO,
          "reaction-wheel speeds fresh: the APT's wheel-line canceller adapts",
          (("lines", "int"),)),
)
RW_PARAMS = (
    ParamDef("apt_rw_max_age_s", "float", 3.0, 0.5, 60.0, "s",
             "wheel speeds (NAV_STATE rw*_hz) older than this are stale: the canceller fades"),
    ParamDef("apt_rw_cancel", "int", 1, 0, 1, "",
             "1: cancel the reaction-wheel lines (apt_law 1; docs/apt-loop.md §4)"),
)


class Lines:
    """Both axes' wheel lines: design (floats), frame step and codes (allocation-free)."""

    def __init__(self):
        self.L = array("i", [0] * (N_SLOT * LS))
        self.k = array("i", [0] * K_LEN)
        self.lx = array("i", [0] * 20)  # the lines' waveform, q8 codes, x and y
        self.ly = array("i", [0] * 20)
        self.k[K_FRAME] = 10000
        self.k[K_WAVE] = 1000
        self.hz = [0.0] * MAX_WHEELS  # the speeds in use (Hz; 0: no wheel)
        self.f_tab = [0.0] * N_SLOT  # each line's frequency when its tables were made
        self.lead_us = 1750
        self.ro_us = 500
        self.m = None  # the predictor's Q12 matrices (apt_predict.Predictor.m)
        # A line's tables are designed piece by piece, one piece per :meth:`service` call
        # (the pointahead task, 10 Hz): 0 none pending, PEND_ARG .. PEND_RUNGS - 1 its innovation turn, then
        # the exposure ladder in RUNG_CHUNK rungs a piece (one piece ~0.2-0.45 M
        # instructions on the Cortex-M7, where a whole line is ~0.9 M: a task's single run
        # stays inside half an APT period, issue 11).
        self.pend = array("b", [0] * N_SLOT)
        self.sp = [0.0] * N_SLOT  # each line's innovation turn (rad) while designed
        self._solve = []  # type: list  # its complex system between pieces
        self.t0 = 0
        self.started = False  # the phasors are running (a frame step since the start)

    # ------------------------------------------------------------------ design (floats)
    def configure(self, frame_us, wave_us, lead_us, ro_us, m=None):
        """Timing from the APT's parameters and the predictor's matrices ``m``
        (``Predictor.m``: its innovation transfer) at parameter load: the tables again."""
        k = self.k
        k[K_FRAME] = frame_us
        k[K_WAVE] = wave_us
        self.lead_us = lead_us
        self.ro_us = ro_us
        self.m = m
        self._design()

    def set_speeds(self, hz):
        """The wheel speeds (Hz, signed; up to MAX_WHEELS; 0 or None: no wheel) from the
        OBC: the tables are redone when a speed moved by more than 0.01 Hz (a phase error
        the LMS follows: 0.06 rad/s).  Returns the number of lines cancelled."""
        ch = False
        for i in range(MAX_WHEELS):
            v = abs(hz[i]) if i < len(hz) and hz[i] is not None else 0.0
            if abs(v - self.hz[i]) > 0.01:
                self.hz[i] = v
                ch = True
        if ch:
            self._design(False)
        return self.k[K_ACT]

    def feed(self, age_ms, max_ms, was, ctx):
        """The input state from the pointahead task: on while the speeds are younger than
        ``max_ms`` (-1: disabled); a change from ``was`` is reported through ``ctx`` (in
        session; None: not reported).  Returns the state (0/1), or ``was`` unreported."""
        on = 1 if age_ms <= max_ms else 0
        self.k[K_ON] = on
        if on == was or ctx is None:
            return was
        if on:
            ctx.emit(EV_APT_RW_LINES, [self.k[K_ACT]], "wheel lines %s Hz" % ", ".join(
                "%.1f" % f for f in self.frequencies()))
        else:
            a = age_ms * 1e-3
            ctx.emit(EV_APT_RW_STALE, [a], "wheel speeds %s: the lines fade out" % (
                "missing" if age_ms >= AGE_NONE else "%.1f s old" % a))
        return on

    def frequencies(self):
        """The cancelled lines' frequencies, those being designed included (Hz;
        telemetry, events, tests)."""
        out = []
        for w in range(MAX_WHEELS):
            for h in range(2):
                if self.L[(2 * w + h) * LS + S_ON] or self.pend[2 * w + h]:
                    out.append(self.hz[w] * (h + 1))
        return out

    def _design(self, full=True):
        """The lines' rotations now (~4 sin/cos a line); their exposure tables and
        innovation turn queued for :meth:`service` when ``full``, for a new line, or when
        a line moved by more than TABLE_HZ since its tables (those change by < 2° per Hz:
        a wheel's slow drift redoes only the rotations).  A new line is cancelled once its
        tables are complete; a line that moved keeps its old tables meanwhile."""
        L = self.L
        k = self.k
        pend = self.pend
        fr = 1e6 / k[K_FRAME]
        act = 0
        for w in range(MAX_WHEELS):
            for h in range(2):
                s = 2 * w + h
                o = s * LS
                f = self.hz[w] * (h + 1)
                al = abs(f - round(f / fr) * fr)
                if not (f >= 1.0 and ALIAS_MIN_HZ <= al <= ALIAS_MAX_HZ and f <= LINE_MAX_HZ):
                    L[o + S_ON] = 0
                    pend[s] = 0
                    continue
                act += 1
                wu = 2.0 * math.pi * f * 1e-6  # rad / µs
                L[o + S_RC], L[o + S_RS] = _rot(wu * k[K_WAVE])
                L[o + S_FC], L[o + S_FS] = _rot(wu * k[K_FRAME])
                L[o + S_W] = int(wu * (1 << 24) + 0.5)
                L[o + S_LC], L[o + S_LS] = _rot(wu * self.lead_us)
                if full or (not L[o + S_ON] and not pend[s]) or \
                        abs(f - self.f_tab[s]) > TABLE_HZ:
                    self.f_tab[s] = f
                    pend[s] = PEND_ARG
        k[K_ACT] = act

    def pending(self):
        """Lines whose tables are still being designed."""
        return sum(1 for p in self.pend if p)

    def service(self):
        """One piece of a queued line design (the pointahead task, each run): the line's
        innovation turn, or RUNG_CHUNK rungs of its exposure table; the last piece starts
        a new line (its estimate from zero).  False when nothing was pending."""
        pend = self.pend
        for s in range(N_SLOT):
            p = pend[s]
            if p:
                break
        else:
            return False
        L = self.L
        o = s * LS
        wu = 2.0 * math.pi * self.f_tab[s] * 1e-6
        if p < PEND_RUNGS:
            # the predictor's innovation turns the line by arg S at its alias: the LMS's
            # basis turns with it (its gain is the LMS step's); three pieces
            if self.m is None:
                self.sp[s] = 0.0
                pend[s] = PEND_RUNGS
                return True
            if p == PEND_ARG:
                self._solve = innovation_setup(self.m, wu * self.k[K_FRAME])
            elif p == PEND_ARG + 1:
                eliminate(self._solve[0], 0, 3)
            else:
                eliminate(self._solve[0], 3, 6)
                self.sp[s] = innovation_arg(self._solve[0], self._solve[1])
                self._solve = []
            pend[s] = p + 1
            return True
        i0 = (p - PEND_RUNGS) * RUNG_CHUNK
        sp = self.sp[s]
        for i in range(i0, min(NLAD, i0 + RUNG_CHUNK)):
            e = EXPOSURES_US[i]
            x = 0.5 * wu * e
            sc = math.sin(x) / x
            ph = sp - wu * (self.ro_us + 0.5 * e)
            L[o + S_F + 2 * i] = _q14(sc * math.cos(ph))
            L[o + S_F + 2 * i + 1] = _q14(sc * math.sin(ph))
        if i0 + RUNG_CHUNK < NLAD:
            pend[s] = p + 1
            return True
        pend[s] = 0
        if not L[o + S_ON]:  # a new line: its estimate starts from zero
            for i in range(S_PC, S_F):
                L[o + i] = 0
            L[o + S_PC] = ONE
            L[o + S_ON] = 1
        return True

    def complete(self):
        """Every queued design at once (tests, benches and the ground's tools: on the
        board the pointahead task spreads them over its runs)."""
        while self.service():
            pass

    # ------------------------------------------------------------------ per frame
    def step(self, t, pc, lad):
        """After the predictor's frame step (``pc``: its ``c``, ``lad``: its ladder) at
        tick ``t``: advance, adapt, the lines' waveform.  Allocates nothing."""
        k = self.k
        if k[K_G] == 0 and (k[K_ON] == 0 or k[K_ACT] == 0):  # off: nothing to play
            self.started = False  # (on again: the phasors restart, the estimates at 0)
            return
        k[K_DT] = ticks_diff(t, self.t0) if self.started else -1
        self.t0 = t
        self.started = True
        _step(self.L, k, pc, lad, self.lx, self.ly)

    def codes(self, A, c):
        """Add the lines to the predictor's waveform in the driver buffer it fills
        (``Predictor.play``, after its codes kernel)."""
        if self.k[K_G] != 0:
            _codes(A, c, self.lx, self.ly)


def _q14(v):
    return int(v * ONE + (0.5 if v >= 0 else -0.5))


def _rot(a):
    return _q14(math.cos(a)), _q14(math.sin(a))


# ---------------------------------------------------------------------- the kernels
# Indices of the predictor's arrays (flight/apt_predict.py A_* / C_*), as literals here
# and in the viper twins: A_QX 6, A_QY 7, A_LAD 8, A_WX0 9; C_E 1, C_PLAY 6, C_NF 37,
# C_NUPX 38, C_NUPY 39, C_DX 21, C_DY 22, C_BUF 23, C_NL 18, C_PULLS 11.
def step_py(L, k, pc, lad, lx, ly):
    """The frame step of every line (see the module doc).  Returns 0."""
    j = 0
    while j < 20:
        lx[j] = 0
        ly[j] = 0
        j += 1
    dt = k[K_DT]
    on = k[K_ON]
    g = k[K_G]
    if on != 0 and k[K_ACT] != 0:
        g = g + ONE // FADE_FRAMES if g < ONE - ONE // FADE_FRAMES else ONE
    else:
        g = g - ONE // FADE_FRAMES if g > ONE // FADE_FRAMES else 0
    k[K_G] = g
    frame = k[K_FRAME]
    wave = k[K_WAVE]
    lost = dt < 0 or dt > 100 * frame  # the phasors' time is lost: restart them
    if lost:
        k[K_RST] += 1
    # The LMS's frame: settled, no pull-in, the speeds fresh.
    nf = pc[37]
    adapt = on != 0 and nf >= ARM and pc[6] != 0
    nux = pc[38]
    nuy = pc[39]
    if nux > NU_MAX or nux < -NU_MAX or nuy > NU_MAX or nuy < -NU_MAX:
        adapt = False
    # the ladder entry nearest the exposure (as the predictor's kernel)
    e = pc[1]
    nl = pc[18]
    lo = 0
    hi = nl - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if lad[mid] <= e:
            lo = mid
        else:
            hi = mid
    ei = hi if lad[hi] - e < e - lad[lo] else lo
    if adapt:
        k[K_UPD] += 1
    s = 0
    while s < N_SLOT:
        o = s * LS
        if L[o] == 0:
            s += 1
            continue
        pr = L[o + S_PC]
        pi = L[o + S_PS]
        if lost or g == 0:
            if lost:
                pr = ONE
                pi = 0
            L[o + S_XR] = 0
            L[o + S_XI] = 0
            L[o + S_YR] = 0
            L[o + S_YI] = 0
        if not lost:  # advance by dt: frames, whole ms, the fraction (Taylor)
            n = dt // frame
            r = dt - n * frame
            m = r // wave
            r -= m * wave
            while n > 0:
                a = ((pr * L[o + S_FC]) >> 14) - ((pi * L[o + S_FS]) >> 14)
                pi = ((pr * L[o + S_FS]) >> 14) + ((pi * L[o + S_FC]) >> 14)
                pr = a
                n -= 1
            while m > 0:
                a = ((pr * L[o + S_RC]) >> 14) - ((pi * L[o + S_RS]) >> 14)
                pi = ((pr * L[o + S_RS]) >> 14) + ((pi * L[o + S_RC]) >> 14)
                pr = a
                m -= 1
            if r > 0:
                th = (L[o + S_W] * r) >> 10  # Q14 rad (< 0.9 rad: r < 1 ms, f < 150 Hz)
                t2 = (th * th) >> 14
                t3 = (th * t2) >> 14
                cr = ONE - (t2 >> 1) + ((t2 * t2) >> 14) // 24
                ci = th - t3 // 6 + ((t3 * t2) >> 14) // 120
                a = ((pr * cr) >> 14) - ((pi * ci) >> 14)
                pi = ((pr * ci) >> 14) + ((pi * cr) >> 14)
                pr = a
            nn = ((pr * pr) >> 14) + ((pi * pi) >> 14)  # renormalise: x (3 - |P|^2) / 2
            f = (3 * ONE - nn) >> 1
            pr = (pr * f) >> 14
            pi = (pi * f) >> 14
        L[o + S_PC] = pr
        L[o + S_PS] = pi
        if g == 0:
            s += 1
            continue
        if adapt:  # z += mu nu conj(b), b = P F_e
            fr_ = L[o + S_F + 2 * ei]
            fi = L[o + S_F + 2 * ei + 1]
            br = ((pr * fr_) >> 14) - ((pi * fi) >> 14)
            bi = ((pr * fi) >> 14) + ((pi * fr_) >> 14)
            i = o + S_XR
            while i <= o + S_YR:
                nu = nux if i == o + S_XR else nuy
                v = L[i] + ((((nu * br) >> 14) * MU_Q12) >> 10)
                L[i] = Z_MAX if v > Z_MAX else (-Z_MAX if v < -Z_MAX else v)
                v = L[i + 1] - ((((nu * bi) >> 14) * MU_Q12) >> 10)
                L[i + 1] = Z_MAX if v > Z_MAX else (-Z_MAX if v < -Z_MAX else v)
                i += 2
        # the waveform: q0 = P exp(j omega lead); sample j = Re(z q0 R1^j) (Chebyshev)
        qr = ((pr * L[o + S_LC]) >> 14) - ((pi * L[o + S_LS]) >> 14)
        qi = ((pr * L[o + S_LS]) >> 14) + ((pi * L[o + S_LC]) >> 14)
        rc = L[o + S_RC]
        rs = L[o + S_RS]
        q1r = ((qr * rc) >> 14) - ((qi * rs) >> 14)
        q1i = ((qr * rs) >> 14) + ((qi * rc) >> 14)
        i = o + S_XR
        while i <= o + S_YR:
            out = lx if i == o + S_XR else ly
            zr = L[i]
            zi = L[i + 1]
            v0 = ((zr * qr) >> 14) - ((zi * qi) >> 14)
            v1 = ((zr * q1r) >> 14) - ((zi * q1i) >> 14)
            out[0] += (v0 * g) >> 16  # (q10 -> q8, times the fade)
            out[1] += (v1 * g) >> 16
            j = 2
            while j < 20:
                v = ((rc * v1) >> 13) - v0
                v0 = v1
                v1 = v
                out[j] += (v * g) >> 16
                j += 1
            i += 2
        s += 1
    return 0


def codes_py(A, c, lx, ly):
    """The predictor's waveform (q8) plus the lines (q8) → codes, plus the FSM
    calibration's step, saturated, into the driver buffer ``c[C_BUF]`` (what the
    predictor's codes kernel wrote, with the lines).  Returns 0."""
    b = c[23]
    o = 0
    while o < 2:
        q = A[6 + o]
        w = A[9 + 2 * b + o]
        ln = lx if o == 0 else ly
        d = c[21] if o == 0 else c[22]
        j = 0
        while j < 20:
            v = ((q[j] + ln[j]) >> 8) + d
            w[j] = FSM_CODE_MAX if v > FSM_CODE_MAX else (FSM_CODE_MIN if v < FSM_CODE_MIN else v)
            j += 1
        o += 1
    return 0


try:
    from flight.wheels_viper import codes as _codes
    from flight.wheels_viper import step as _step
except (ImportError, SyntaxError, ValueError):
    _step = step_py
    _codes = codes_py

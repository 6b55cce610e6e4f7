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

Memory: a line's design (rotations, ω, the exposure table) is ``Lines.T``, an
``array('h')``: every entry is a Q14 cosine or sine, ``sinc · cos``/``sinc · sin`` (all
within ±16384) or ω in rad/µs × 2**24 (≤ 15 813 below ``LINE_MAX_HZ``), so 16 bits hold
them exactly (1.3 kB where 'i' took 2.75 kB; tests/test_apt_wheels.py checks the values
against their formulas).  What the frame step writes (the phasor, the amplitudes up to
``Z_MAX`` = 40 000) stays 32-bit: ``Lines.Z``, 'i'.
"""

import math
from array import array

from flight.apt_exposure import EXPOSURES_US
from hal.compat import const, ticks_diff

_MAX_WHEELS = const(4)  # NAV_STATE's rw1_hz .. rw4_hz
N_SLOT = const(8)  # lines: fundamental and 2nd harmonic per wheel
_ALIAS_MIN_HZ = const(31)  # lines aliased lower are left to the predictor (the module doc)
# A line aliased near the frames' Nyquist frequency is seen at nearly the same phase every
# frame: its quadrature part shows only as the line's phase walks against the frames, once
# per 1 / (Nyquist - alias).  Within ALIAS_GUARD_HZ of Nyquist (a walk slower than 10 s)
# it is left alone: there the LMS's estimate drifts unobserved into the waveform (a line
# at 50.001 Hz in 100 Hz frames: 5.0 -> 6.0 urad with it).  Measured (seed 1 with a
# 1.5 urad wheel line at 49.6 .. 50.2 Hz, two phases; docs/apt-loop.md §4): a line 0.03 ..
# 0.4 Hz from Nyquist is cancelled as well as one at 40 Hz (5.6 -> 4.8 urad).  Relative to
# the frame rate, so a faster camera cancels its own band.
ALIAS_GUARD_HZ = 0.1
_TABLE_HZ = const(1)  # a line's exposure tables are redone when it moved this far (Hz)
_PEND_ARG = const(1)  # Lines.pend: the innovation turn's 3 pieces, then the rungs'
_PEND_RUNGS = const(4)
_RUNG_CHUNK = const(9)  # exposure rungs designed per Lines.service call
_LINE_MAX_HZ = const(150)  # the fraction-of-a-ms rotation's Taylor series holds to 0.9 rad
ONE = const(16384)  # Q14
_Z_MAX = const(40000)  # amplitude clamp per component, q10 codes (~42 urad): |z| Q14
# products stay < 2**30 (small ints on the 32-bit port, machine words in viper)
# ARM (50 frames after the predictor's (re)start before the LMS adapts), FADE_FRAMES (50:
# 0.5 s fade in / out), NU_MAX (100 << 8: an innovation, q8, beyond which a frame is not
# used) and MU_Q12 (40: the LMS step, z (q10) += (nu * b >> 14) * 4 * MU / 4096 a frame;
# innovation gain ~2.75, |F_e| ~1: a time constant of ~1 / (2.75 / 2 * 40 / 4096) ~ 75
# frames) are the frame step's literals (flight/wheels_py.py, flight/wheels_viper.py).
_NLAD = const(36)  # len(EXPOSURES_US): the kernels' literal strides (a test checks)
# Per slot, in Lines.T (array 'h': read-only for the frame step), stride TS:
_T_ON = const(0)  # 1: the slot's line is cancelled
_T_RC = const(1)  # rotation over one waveform period (1 ms), Q14
_T_RS = const(2)
_T_FC = const(3)  # rotation over one frame period, Q14
_T_FS = const(4)
_T_W = const(5)  # omega, rad/us * 2**24 (the fraction of a ms)
_T_LC = const(6)  # rotation over the lead (sample -> line of sight), Q14
_T_LS = const(7)
T_F = const(8)  # the exposure boxcar per ladder entry (Q14 re, im)
TS = const(80)  # 8 + 2 * _NLAD
# Per slot, in Lines.Z (array 'i': the frame step's state), stride ZS:
Z_PC = const(0)  # the phasor exp(j omega t) at the last frame tick, Q14
Z_PS = const(1)
Z_XR = const(2)  # amplitude, x axis (q10 codes, complex), then y
Z_XI = const(3)
Z_YR = const(4)
Z_YI = const(5)
ZS = const(6)
# Lines.k: the kernel's small ints
K_DT = const(0)  # in: µs since the last frame step
K_ON = const(1)  # in: 1 while the speeds are fresh and the canceller enabled
K_G = const(2)  # output gain, Q14 (the fade)
_K_ACT = const(3)  # slots on
_K_FRAME = const(4)  # frame period, µs
_K_WAVE = const(5)  # waveform sample period, µs
K_UPD = const(6)  # counters: LMS updates, resets (phasor lost)
_K_RST = const(7)
_K_LEN = const(8)
# Lines.fl: the floats (speeds, tables' frequencies, innovation turns)
_FL_HZ = const(0)
_FL_TAB = const(4)  # (_MAX_WHEELS)
_FL_SP = const(12)  # (_FL_TAB + N_SLOT)
_FL_LEN = const(20)

# Its events (APT_RW_STALE, APT_RW_LINES) and parameters (apt_rw_*) are declared in
# flight/pointahead.py: the pointing component that receives the speeds and reports the
# canceller's input state.


class Lines:
    """Both axes' wheel lines: design (floats), frame step and codes (allocation-free)."""

    def __init__(self):
        self.T = array("h", bytes(2 * N_SLOT * TS))  # the lines' design (module doc)
        self.Z = array("i", bytes(4 * N_SLOT * ZS))  # the lines' state
        self.k = array("i", bytes(4 * _K_LEN))
        self.lx = array("i", bytes(80))  # the lines' waveform, q8 codes, x and y (20 each)
        self.ly = array("i", bytes(80))
        self.k[_K_FRAME] = 10000
        self.k[_K_WAVE] = 1000
        # The floats (an array 'd', filled with the first speeds: empty before, and unboxed
        # where a list holds each float as a 16-octet object on the board, issue 11): the
        # speeds in use (Hz; 0: no wheel) at _FL_HZ, each line's frequency when its tables
        # were made at _FL_TAB, each line's innovation turn (rad) at _FL_SP.
        self.fl = array("d")
        self.lead_us = 1750
        self.ro_us = 500
        self.m = None  # the predictor's Q12 matrices (apt_predict.Predictor.m)
        # A line's tables are designed piece by piece, one piece per :meth:`service` call
        # (the pointahead task, 10 Hz): 0 none pending, _PEND_ARG .. _PEND_RUNGS - 1 its
        # innovation turn, then the exposure ladder in _RUNG_CHUNK rungs a piece (one piece
        # ~0.2-0.45 M instructions on the Cortex-M7, where a whole line is ~0.9 M: a
        # task's single run stays inside half an APT period, issue 11).  ``queued``: the
        # lines pending, so that the task's runs cost nothing here while none is.
        self.pend = array("b", bytes(N_SLOT))
        self.queued = 0
        self._solve = []  # type: list  # its complex system between pieces
        self.t0 = 0
        self.started = False  # the phasors are running (a frame step since the start)

    # ------------------------------------------------------------------ design (floats)
    def configure(self, frame_us, wave_us, lead_us, ro_us, m=None):
        """Timing from the APT's parameters and the predictor's matrices ``m``
        (``Predictor.m``: its innovation transfer) at parameter load: the tables again."""
        k = self.k
        k[_K_FRAME] = frame_us
        k[_K_WAVE] = wave_us
        self.lead_us = lead_us
        self.ro_us = ro_us
        self.m = m
        self._design()

    def set_speeds(self, hz):
        """The wheel speeds (Hz, signed; up to _MAX_WHEELS; 0 or None: no wheel) from the
        OBC: the tables are redone when a speed moved by more than 0.01 Hz (a phase error
        the LMS follows: 0.06 rad/s).  Returns the number of lines cancelled."""
        ch = False
        fl = self.fl
        for i in range(_MAX_WHEELS):
            v = abs(hz[i]) if i < len(hz) and hz[i] is not None else 0.0
            if abs(v - (fl[_FL_HZ + i] if fl else 0.0)) > 0.01:
                if not fl:  # (the TC path: it may allocate)
                    fl = self.fl = array("d", bytes(8 * _FL_LEN))
                fl[_FL_HZ + i] = v
                ch = True
        if ch:
            self._design(False)
        return self.k[_K_ACT]

    def feed(self, age_ms, max_ms):
        """The input state from the pointahead task, each run (heap-locked: allocates
        nothing): on while the speeds are younger than ``max_ms`` (-1: disabled).
        Returns it (0/1); the task reports a change (APT_RW_LINES / APT_RW_STALE)."""
        on = 1 if age_ms <= max_ms else 0
        self.k[K_ON] = on
        return on

    def frequencies(self):
        """The cancelled lines' frequencies, those being designed included (Hz;
        telemetry, events, tests)."""
        out = []
        for w in range(_MAX_WHEELS):
            for h in range(2):
                if self.T[(2 * w + h) * TS + _T_ON] or self.pend[2 * w + h]:
                    out.append(self.fl[_FL_HZ + w] * (h + 1))
        return out

    def _design(self, full=True):
        """The lines' rotations now (~4 sin/cos a line); their exposure tables and
        innovation turn queued for :meth:`service` when ``full``, for a new line, or when
        a line moved by more than _TABLE_HZ since its tables (those change by < 2° per Hz:
        a wheel's slow drift redoes only the rotations).  A new line is cancelled once its
        tables are complete; a line that moved keeps its old tables meanwhile."""
        T = self.T
        k = self.k
        pend = self.pend
        fr = 1e6 / k[_K_FRAME]
        al_max = 0.5 * fr - ALIAS_GUARD_HZ
        fl = self.fl
        act = 0
        for w in range(_MAX_WHEELS):
            for h in range(2):
                s = 2 * w + h
                o = s * TS
                f = fl[_FL_HZ + w] * (h + 1) if fl else 0.0  # (no speeds yet: 0)
                al = abs(f - round(f / fr) * fr)
                if not (f >= 1.0 and _ALIAS_MIN_HZ <= al <= al_max and f <= _LINE_MAX_HZ):
                    T[o + _T_ON] = 0
                    pend[s] = 0
                    continue
                act += 1
                wu = 2.0 * math.pi * f * 1e-6  # rad / µs
                for i, a in ((_T_RC, wu * k[_K_WAVE]), (_T_FC, wu * k[_K_FRAME]),
                             (_T_LC, wu * self.lead_us)):  # the rotations, Q14
                    T[o + i] = _q14(math.cos(a))
                    T[o + i + 1] = _q14(math.sin(a))
                T[o + _T_W] = int(wu * (1 << 24) + 0.5)
                if full or (not T[o + _T_ON] and not pend[s]) or \
                        abs(f - fl[_FL_TAB + s]) > _TABLE_HZ:
                    fl[_FL_TAB + s] = f
                    pend[s] = _PEND_ARG
        k[_K_ACT] = act
        self.queued = self.pending()

    def pending(self):
        """Lines whose tables are still being designed."""
        return sum(1 for p in self.pend if p)

    def service(self):
        """One piece of a queued line design (the pointahead task, each run while
        ``queued``): the line's innovation turn, or _RUNG_CHUNK rungs of its exposure
        table; the last piece starts a new line (its estimate from zero).  False when
        nothing was pending."""
        if not self.queued:
            return False
        pend = self.pend
        for s in range(N_SLOT):
            p = pend[s]
            if p:
                break
        else:
            self.queued = 0
            return False
        T = self.T
        o = s * TS
        fl = self.fl  # (a line is pending: the speeds came)
        wu = 2.0 * math.pi * fl[_FL_TAB + s] * 1e-6
        if p < _PEND_RUNGS:
            # the predictor's innovation turns the line by arg S at its alias: the LMS's
            # basis turns with it (its gain is the LMS step's); three pieces (floats and
            # lists: imported at the first design, never in the APT tick)
            if self.m is None:
                fl[_FL_SP + s] = 0.0
                pend[s] = _PEND_RUNGS
                return True
            from flight import wheels_design as wd

            if p == _PEND_ARG:
                self._solve = wd.innovation_setup(self.m, wu * self.k[_K_FRAME])
            elif p == _PEND_ARG + 1:
                wd.eliminate(self._solve[0], 0, 3)
            else:
                wd.eliminate(self._solve[0], 3, 6)
                fl[_FL_SP + s] = wd.innovation_arg(self._solve[0], self._solve[1])
                self._solve = []
            pend[s] = p + 1
            return True
        i0 = (p - _PEND_RUNGS) * _RUNG_CHUNK
        sp = fl[_FL_SP + s]
        for i in range(i0, min(_NLAD, i0 + _RUNG_CHUNK)):
            e = EXPOSURES_US[i]
            x = 0.5 * wu * e
            sc = math.sin(x) / x
            ph = sp - wu * (self.ro_us + 0.5 * e)
            T[o + T_F + 2 * i] = _q14(sc * math.cos(ph))
            T[o + T_F + 2 * i + 1] = _q14(sc * math.sin(ph))
        if i0 + _RUNG_CHUNK < _NLAD:
            pend[s] = p + 1
            return True
        pend[s] = 0
        self.queued -= 1
        if not T[o + _T_ON]:  # a new line: its estimate starts from zero
            z = s * ZS
            for i in range(ZS):
                self.Z[z + i] = 0
            self.Z[z + Z_PC] = ONE
            T[o + _T_ON] = 1
        return True

    def complete(self):
        """Every queued design at once (tests, benches and the ground's tools: on the
        board the pointahead task spreads them over its runs)."""
        while self.service():
            pass

    # ------------------------------------------------------------------ per frame
    def step(self, t, pc, lad, A=None):
        """After the predictor's frame step (``pc``: its ``c``, ``lad``: its ladder) at
        tick ``t``: advance, adapt, the lines' waveform.  With the predictor's arrays
        ``A`` (``Predictor.step``: its driver buffer and the calibration's step already
        set) also :meth:`codes`' work: True when the lines wrote the waveform's codes
        (they play), else False (the predictor's kernel writes them) — a call less a
        frame on the loop's path.  Allocates nothing."""
        k = self.k
        if k[K_G] == 0 and (k[K_ON] == 0 or k[_K_ACT] == 0):  # off: nothing to play
            self.started = False  # (on again: the phasors restart, the estimates at 0)
            return False
        k[K_DT] = ticks_diff(t, self.t0) if self.started else -1
        self.t0 = t
        self.started = True
        _step(self.T, self.Z, k, pc, lad, self.lx, self.ly)
        if A is not None and k[K_G] != 0:  # (:meth:`codes`, inline)
            _codes(A, pc, self.lx, self.ly)
            return True
        return False

    def codes(self, A, c):
        """While the lines play: the predictor's waveform with the lines added, in codes,
        into the driver buffer it fills, in place of its own codes kernel
        (``Predictor.step`` with the calibration's step, or ``fill``), and True; else
        False (the predictor's kernel writes them: one conversion a frame either way)."""
        if self.k[K_G] != 0:
            _codes(A, c, self.lx, self.ly)
            return True
        return False


def _q14(v):
    return int(v * ONE + (0.5 if v >= 0 else -0.5))


# The frame step and the codes: viper on the 32-bit target, their plain-Python twins
# (flight/wheels_py.py, imported only where viper cannot run) elsewhere.
try:
    from flight.wheels_viper import codes as _codes
    from flight.wheels_viper import step as _step
except (ImportError, SyntaxError, ValueError):
    from flight.wheels_py import codes_py as _codes
    from flight.wheels_py import step_py as _step

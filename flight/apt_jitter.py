"""The unit's line-of-sight jitter, measured in TRACK (docs/apt-loop.md §4 "The unit's
jitter and the design's centroid noise").

Why: the predictor's best centroid-noise setting (``apt_kf_noise_urad``) follows the
platform's jitter, which differs from unit to unit (the campaign's 10-29 µrad); the
commissioning pass measures it here and the ground designs the unit's setting from it
(ground_tools/noise_design.py, ``vector-tc kf-noise``; docs/calibration.md "Commissioning").

What: once a second (the APT's housekeeping, never the tick) the predictor's estimate of
the jitter model's output (its state ``j2`` per axis, flight/apt_kalman.py: the line of
sight less the ADCS's drift, which the drift states hold) is squared and summed, while the
predictor runs settled on its nominal gains in TRACK.  Sampling once a second keeps the
variance of the 0.1-10 Hz jitter (a stationary process's variance does not depend on the
sampling rate); the centroid's noise adds ~1 µrad in quadrature.  HK_DIAG carries the RMS
per axis and the samples taken since the session's start.

Integers only, nothing allocated: the states (q8 codes, clamped at ±2**16) are taken in
quarter codes (``>> 6``: ±1024), so a sample's two squares are at most 2**21 and
:data:`N_MAX` of them stay below 2**30, a small int on a 32-bit port.
"""

from flight.apt_predict import C_FRESH, C_GOFF, C_NF, M_GAIN
from flight.comparator_track import isqrt
from flight.telemetry import HkField
from hal.compat import const
from hal.interfaces import FSM_LSB_RAD

# Samples kept per session: 500 s of TRACK, longer than a pass (~330 s); 500 * 2**21 < 2**30.
N_MAX = const(500)
# Frames of a (re)started estimate before it is sampled: its transient (~40 frames) and
# ACQUIRE's offload well over (3 s at 6 ms frames).
SETTLE_FRAMES = const(500)
_J2_X = const(4)  # the jitter model's output state, x then y (apt_predict: 6 states an axis)
_J2_Y = const(10)
# RMS in 1/64 code -> 0.1 µrad, Q16 (a code is FSM_LSB_RAD: 1.065 µrad)
_TENTH_Q16 = int(FSM_LSB_RAD * 1e7 / 64 * 65536 + 0.5)

HK = (  # (part of flight/apt.py's HK_DIAG: 4 octets)
    HkField("apt_los_jitter", "u16", "urad", 0.1,
            description="line-of-sight jitter RMS per axis in TRACK this session "
            "(the predictor's jitter estimate, sampled 1 Hz)"),
    HkField("apt_los_jitter_n", "u16", "s",
            description="seconds sampled for apt_los_jitter (at most 500)"),
)


class LosJitter:
    """The session's sum of squared jitter samples (both axes) and their count."""

    def __init__(self):
        self.start()

    def start(self):
        """A session's start: the statistic begins again."""
        self.ss = 0
        self.n = 0

    def sample(self, law):
        """One second's sample from the predictor of ``law`` (flight/apt_control.py
        ControlLaw) if it runs settled on its nominal gains; the caller is in TRACK."""
        pr = law.pred
        c = pr.c
        if law.mode != 1 or not pr.designed or c[C_FRESH] or c[C_NF] < SETTLE_FRAMES \
                or c[C_GOFF] != M_GAIN or self.n >= N_MAX:
            return
        s = pr.s
        x = s[_J2_X] >> 6
        y = s[_J2_Y] >> 6
        self.ss += x * x + y * y
        self.n += 1

    def rms_tenth_urad(self):
        """The RMS per axis so far, 0.1 µrad (0: no sample)."""
        if self.n == 0:
            return 0
        r64 = isqrt((self.ss // (2 * self.n)) << 8)  # 1/64 code: 16 x the quarter codes
        return ((r64 * _TENTH_Q16 >> 15) + 1) >> 1  # (rounded)

    def hk(self, values, i):
        """HK_DIAG's two values at ``values[i]``."""
        values[i] = self.rms_tenth_urad()
        values[i + 1] = self.n

"""The APT camera exposure (DESIGN §3.3): the exposure ladder and the auto-exposure.

(Split from flight/apt_control.py, which re-exports these names.)

The auto-exposure lengthens the exposure up to ``apt_exp_max_us`` and then raises the
camera's analog gain (steps of 2**(1/4), up to the sensor's 8), lowering the gain first
on the way back.  An exposure over the cap, whatever set it (SEARCH's, or the cap lowered
in TRACK), is traded down a step at a time for gain.  A long exposure averages the line of
sight over most of the frame and makes the measurement older, a short one needs the gain
and its shot noise: in the honest world the camera's longest wins, so the default cap is
none (docs/apt-loop.md §6 "The exposure's cap").  An exposure set explicitly (SEARCH, the
dark frames) returns the gain to 1.
"""

from array import array

from hal.errors import HalError

# Exposure ladder (µs): steps of ~2**(1/4), 20 µs .. 9 ms.  A fixed ladder keeps the
# number of distinct settings small (the sensor re-programs, the simulator caches).
# An array, not a tuple: frozen into firmware (mpy-tool), an int constant inside a tuple
# is a small int only up to 8191; 9000 would be a long-int object, and every product or
# quotient with it (the hot-pixel patch, each TRACK tick) a heap allocation on the board.
# Read from an array('H') it is a small int on every port.
EXPOSURES_US = array("H", (20, 24, 28, 34, 40, 48, 57, 67, 80, 95, 113, 135, 160, 190, 226,
                           269, 320, 381, 453, 538, 640, 761, 905, 1076, 1280, 1522, 1810,
                           2153, 2560, 3044, 3620, 4305, 5120, 6089, 7241, 9000))


EXP_START = 24  # ladder index a session starts with (1280 µs)
# Analog gain ladder, x16 (the sensor's 1/16 steps): 2**(k/4), 1 .. 8 (hal.interfaces
# Camera.gain_max of the reference sensor).
GAINS_X16 = array("H", (16, 19, 23, 27, 32, 38, 45, 54, 64, 76, 91, 108, 128))


class Exposure:
    """The camera exposure, on the ladder, and the auto-exposure that keeps the spot peak
    inside [lo, hi] DN by stepping along it."""

    def __init__(self, camera):
        self.camera = camera
        # The ladder's top: the camera's longest exposure (its frame less the gap between
        # frames, hal.interfaces CAMERA_EXPOSURE_GAP_US; all 9 ms of it at 10 ms frames).
        top = len(EXPOSURES_US) - 1
        while top and EXPOSURES_US[top] > camera.exposure_max_us:
            top -= 1
        self.top = top
        self.idx = EXP_START if EXP_START < top else top
        self.gain = 0  # index into GAINS_X16
        self.max_idx = top  # longest exposure before the gain rises
        self.wait = 0  # frames before the next step (a change shows a frame or two later)
        self.saturated = 0  # frames with the peak at full scale
        # fn(HalError): a camera write that failed (the APT's camera error: counted, said;
        # the setting kept as it was, so flight and camera agree).  None: it propagates.
        self.on_error = None
        # (the peak counted as saturated from here: the tick calls update() only for a
        # peak outside [lo, hi], at or above this, or while it waits)
        self.sat_dn = camera.pixel_max - 1

    def configure(self, max_us):
        """The longest exposure the auto-exposure uses before raising the gain."""
        i = 0
        while i < self.top and EXPOSURES_US[i + 1] <= max_us:
            i += 1
        self.max_idx = i
        self._arm_cap()

    def _arm_cap(self):
        """An exposure over the cap (SEARCH leaves its own, up to 4.3 ms, or the cap was
        lowered) is traded down from the next frame on: the tick calls update() while
        ``wait`` is set, and update() trades once it runs out.  (Before stop 64 the cap
        held only on the way up: a pass that entered TRACK at SEARCH's exposure kept it,
        whatever the cap: `--param apt_exp_max_us=100` flew campaign draw 11 to the
        digit as 9000 did.)"""
        if self.wait < 1 and self._over_cap():
            self.wait = 1

    def _over_cap(self):
        """Over the cap with a gain step left (at the top gain the exposure stays: the
        spot needs it, and the way up goes longer there too)."""
        return self.idx > self.max_idx and self.gain < len(GAINS_X16) - 1

    def set(self, idx):
        """An exposure (ladder index) at gain 1."""
        if self.gain:
            self._set_gain(0)
        self._set(idx)

    def _set(self, idx):
        idx = 0 if idx < 0 else (self.top if idx >= self.top else idx)
        if self._write(self.camera.set_exposure, EXPOSURES_US[idx]):
            self.idx = idx
            self._arm_cap()
            return True
        return False

    def _set_gain(self, g):
        """False when the camera refused the write (said through ``on_error``)."""
        if not self._write(self.camera.set_gain, GAINS_X16[g] / 16):  # (floats: a step's)
            return False
        self.gain = g
        self._arm_cap()
        return True

    def _write(self, setter, value):
        """A camera setting written; False when it failed (a HalError said through
        ``on_error``, the setting kept as it was; with no ``on_error`` it propagates)."""
        try:
            setter(value)
        except HalError as e:
            if self.on_error is None:
                raise
            self.on_error(e)
            return False
        return True

    def us(self):
        return EXPOSURES_US[self.idx]

    def raise_gain(self, steps, top):
        """The analog gain ``steps`` up the ladder, to index ``top`` at most (SEARCH at its
        longest exposure, flight/apt_search.py).  False when it is there already, or
        the camera refused the write."""
        g = self.gain + steps
        if g > top:
            g = top
        if g <= self.gain:
            return False
        return self._set_gain(g)

    def dark(self):
        """The exposure x gain (µs): what a hot pixel's dark signal (DN) scales with."""
        return (EXPOSURES_US[self.idx] * GAINS_X16[self.gain]) >> 4

    def update(self, peak, lo, hi):
        """One valid frame's peak (DN)."""
        if self.wait > 0:
            self.wait -= 1
            if self.wait or peak >= self.sat_dn or not self._over_cap():
                return
            # One exposure step down and one gain step up (both ladders 2**(1/4): the
            # signal kept), a trade every other frame.  A refused write (said through
            # ``on_error``) ends the trades until the next setting changes: no retry a
            # frame, no flood of camera errors.
            ok = self._set_gain(self.gain + 1) and self._set(self.idx - 1)
            self.wait = 2 if ok and self._over_cap() else 0
            return
        if peak >= self.sat_dn:
            self.saturated += 1
        if peak > hi:
            if self.gain:
                self._set_gain(self.gain - 1)
            else:
                self._set(self.idx - 1)
            self.wait = 3
        elif peak < lo:
            if self.idx < self.max_idx:
                self._set(self.idx + 1)
            elif self.gain < len(GAINS_X16) - 1:
                self._set_gain(self.gain + 1)
            elif self.idx < self.top:  # at the largest gain: longer again
                self._set(self.idx + 1)
            else:
                return
            self.wait = 3

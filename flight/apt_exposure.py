"""The APT camera exposure (DESIGN §3.3): the exposure ladder and the auto-exposure.

(Split from flight/apt_control.py, which re-exports these names.)
"""

from array import array

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


class Exposure:
    """The camera exposure, on the ladder, and the auto-exposure that keeps the spot peak
    inside [lo, hi] DN by stepping along it."""

    def __init__(self, camera):
        self.camera = camera
        self.idx = EXP_START
        self.wait = 0  # frames before the next step (a change shows a frame or two later)
        self.saturated = 0  # frames with the peak at full scale

    def set(self, idx):
        self.idx = 0 if idx < 0 else (len(EXPOSURES_US) - 1 if idx >= len(EXPOSURES_US)
                                      else idx)
        self.camera.set_exposure(EXPOSURES_US[self.idx])

    def us(self):
        return EXPOSURES_US[self.idx]

    def update(self, peak, lo, hi):
        """One valid frame's peak (DN)."""
        if self.wait > 0:
            self.wait -= 1
            return
        if peak >= self.camera.pixel_max - 1:
            self.saturated += 1
        if peak > hi:
            self.set(self.idx - 1)
            self.wait = 3
        elif peak < lo and self.idx < len(EXPOSURES_US) - 1:
            self.set(self.idx + 1)
            self.wait = 3

"""The beacon camera's frame clock in the simulated world (docs/apt-loop.md §5 "The
frame's phase"; design.md §3.3).

The world's time is the payload computer's: its scheduler, ``ticks_us`` and the mirror's
millisecond timer (hal/sim/finetruth.py ``wave_tick``) run on it.  The camera runs on
the payload FPGA's own oscillator: its frames come every ``frame_us · (1 + ppm·1e-6)`` µs
of the world, ``ppm`` the two oscillators' difference, and the sensor starts its frames
at a phase of its own each time it is started (``Camera.init``: the FPGA's CONTROL_RUN,
hal/real/camera.py).  So the APT task's ticks, on the computer's clock, meet the frames at
an arbitrary phase that drifts through the pass — 20 ppm is one 7 ms frame of slip
every 350 s — which the flight software must find (flight/apt_phase.py ``step``) and
follow (``follow``, on the frame's age the camera reports with each read:
``hal.interfaces.META_FRAME_AGE_US``).

``aligned`` (scenario ``"frame_clock": "aligned"``, ``python -m sim --aligned-frames``,
and the idealised world) is the idealisation the simulator flew until stop 60: the frames
on the computer's own grid (every ``frame_us`` from time 0), whatever the sensor's
starts.

MicroPython: plain Python (the world runs in the target benches' VM too).
"""

from sim.rng import Rng

# Assumed: the payload computer's clock against the camera's (the FPGA's own oscillator),
# parts per million: the STM32's HSE crystal, a common +/-20 ppm grade, against an FPGA
# oscillator taken as exact.  Until stop 60 it only moved the mirror timer's millisecond
# across the frames (hal/sim/finetruth.py); the APT task's ticks sat on the frames.
MCU_CLOCK_PPM = 20.0


class FrameClock:
    """The instants (µs of the world, floats: exact for whole microseconds) at which
    the camera's frames are complete.  ``next_us``: the next one; ``last_us``: the latest
    one passed (0.0 before the first)."""

    def __init__(self, frame_us, seed, ppm=MCU_CLOCK_PPM, aligned=False):
        self.aligned = aligned
        self.ppm = 0.0 if aligned else float(ppm)
        self.period_us = frame_us * (1.0 + self.ppm * 1e-6)
        self._rng = Rng(seed * 29 + 13)  # (a stream of its own: no other draw moves)
        self.last_us = 0.0
        self._last_int = 0  # (the latest frame's whole µs: age_us adds no float)
        self.next_us = float(frame_us)  # (aligned: the computer's grid from time 0)
        if not aligned:
            self.next_us = self.period_us * (1.0 + self._rng.uniform())

    def restart(self, t_us):
        """The sensor started again at ``t_us`` (``Camera.init``): its first frame one to
        two periods later, at a phase of its own.  Aligned: the grid stands."""
        if not self.aligned:
            self.next_us = t_us + self.period_us * (1.0 + self._rng.uniform())

    def due(self, t_us):
        """The next frame's instant if it is at or before ``t_us`` (it is then the latest
        one), else -1.0; call until -1.0 (a clock jump may hold more than one)."""
        tf = self.next_us
        if tf > t_us:
            return -1.0
        self.last_us = tf
        self._last_int = int(tf)
        self.next_us = tf + self.period_us
        return tf

    def age_us(self, t_us):
        """Microseconds from the latest frame to ``t_us``, as the camera reports it
        (whole, 0 .. 65535: hal.interfaces.META_FRAME_AGE_US).  Integers only: the
        camera's read runs heap-locked on the target benches (no float to box)."""
        a = int(t_us) - self._last_int
        return 0 if a < 0 else (a if a < 0xFFFF else 0xFFFF)

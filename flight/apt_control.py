"""The APT fixed-point control law (DESIGN §3.3): spot error → fast-steering-mirror command.

Per axis, a PI controller plus a rate integrator, in velocity form::

    r  += kii·dt²·e            (rate integrator: follows a ramp — drift, ADCS slews —
                                with no steady-state error: a type-2 loop)
    du  = kp·Δe + ki·dt·e + r
    u  += du                   (mirror command)

With the one-frame latency of the camera the closed-loop poles are the roots of
``z² + (a + b − 2)z + (1 − a)`` (a = ki·dt + kp, b = kii·dt²).  A double pole at z = r
needs a = 1 − r², b = (1 − r)².  The defaults (ki = 98/s, kii = 7200/s²) put it at
r ≈ 0.15, close to dead-beat: the platform jitter (20 µrad RMS, 0.1–10 Hz, DESIGN §5) is
rejected as well as one-frame latency allows (|S| ≈ (2πf·T)²/(1−r)² at low frequency),
at the price of ~2× amplification of centroid noise (measured: ~7 µrad residual in
the simulator; r = 0.5 gave 12.5 µrad).
The error is clamped before the gains, ``du`` is slew-limited, ``u`` saturates at the FSM
range, and the rate integrator stops while either limit is active (anti-windup).

Fixed point (integer maths only: :meth:`ControlLaw.step` runs in the 100 Hz tick and
allocates nothing):

* spot offsets in 1/64 px ("q6");
* mirror commands in 1/256 FSM code ("q8"); one code = 2°/32768 optical = 1.065 µrad;
* px → q8 codes through ``px2code_q8`` = ifov / code × 256 (≈ 24 031 for 100 µrad/px).

Every multiplication is bounded below 2**30 (MicroPython small ints) in TRACK.
"""

from array import array

from hal.compat import const
from hal.interfaces import FSM_CODE_MAX, FSM_CODE_MIN, FSM_LSB_RAD

E_CLAMP = const(1 << 20)  # |error| in q8 codes (~4100 codes, ~4.4 mrad) before the gains
U_MAX = FSM_CODE_MAX << 8  # mirror command range, q8
U_MIN = FSM_CODE_MIN << 8

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


class ControlLaw:
    """Both axes of the mirror loop: gains (set by :meth:`configure`) and state."""

    def __init__(self):
        self.u_x = 0  # mirror command, q8 codes
        self.u_y = 0
        self.e_x = 0  # last error, q8 codes
        self.e_y = 0
        self.r_x = 0  # rate integrator, q8 codes per frame
        self.r_y = 0
        # Gains and limits: zero until configure() (the APT calls it from its parameters
        # at every session start; nothing here repeats a parameter default).
        self.px2code_q8 = 0
        self.kp = 0
        self.kid = 0
        self.kiid = 0
        self.slew = 0
        self.sign_x = 1
        self.sign_y = 1

    def configure(self, kp, ki, kii, dt_s, slew_urad, ifov_urad, sign_x, sign_y):
        """Fixed-point gains from the physical ones (per frame, 1/s, 1/s², s, µrad/frame,
        µrad/px, ±1)."""
        self.px2code_q8 = int(ifov_urad * 1e-6 / FSM_LSB_RAD * 256 + 0.5)
        self.kp = int(kp * 256 + 0.5)
        self.kid = int(ki * dt_s * 256 + 0.5)
        self.kiid = int(kii * dt_s * dt_s * 256 + 0.5)
        self.slew = int(slew_urad * 1e-6 / FSM_LSB_RAD * 256)
        self.sign_x = -1 if sign_x < 0 else 1
        self.sign_y = -1 if sign_y < 0 else 1

    def reset(self):
        """Mirror back to rest (0, 0), integrators cleared."""
        self.u_x = 0
        self.u_y = 0
        self.r_x = 0
        self.r_y = 0

    def step(self, dx_q6, dy_q6):
        """One frame: the spot's offset from the boresight (q6 px) → new ``u_x``/``u_y``
        (q8 codes; the caller commands ``u >> 8``)."""
        k = self.px2code_q8
        ex = (dx_q6 * k) >> 6
        ey = (dy_q6 * k) >> 6
        if self.sign_x < 0:
            ex = -ex
        if self.sign_y < 0:
            ey = -ey
        if ex > E_CLAMP:
            ex = E_CLAMP
        elif ex < -E_CLAMP:
            ex = -E_CLAMP
        if ey > E_CLAMP:
            ey = E_CLAMP
        elif ey < -E_CLAMP:
            ey = -E_CLAMP
        kp = self.kp
        kid = self.kid
        kiid = self.kiid
        rx = self.r_x + ((kiid * ex) >> 8)
        ry = self.r_y + ((kiid * ey) >> 8)
        dx = ((kp * (ex - self.e_x) + kid * ex) >> 8) + rx
        dy = ((kp * (ey - self.e_y) + kid * ey) >> 8) + ry
        self.e_x = ex
        self.e_y = ey
        sl = self.slew
        limited_x = True
        limited_y = True
        if dx > sl:
            dx = sl
        elif dx < -sl:
            dx = -sl
        else:
            limited_x = False
        if dy > sl:
            dy = sl
        elif dy < -sl:
            dy = -sl
        else:
            limited_y = False
        ux = self.u_x + dx
        uy = self.u_y + dy
        if ux > U_MAX:
            ux = U_MAX
            limited_x = True
        elif ux < U_MIN:
            ux = U_MIN
            limited_x = True
        if uy > U_MAX:
            uy = U_MAX
            limited_y = True
        elif uy < U_MIN:
            uy = U_MIN
            limited_y = True
        if not limited_x:  # anti-windup: the rate integrator holds while limited
            self.r_x = rx
        if not limited_y:
            self.r_y = ry
        self.u_x = ux
        self.u_y = uy

    def mirror_px_q6(self, du_x, du_y, out):
        """A mirror move (q8 codes) as a spot move in q6 px, signed like the camera axes:
        ``out[0]``, ``out[1]`` (used by ACQUIRE's does-it-follow-the-mirror test)."""
        k = self.px2code_q8
        out[0] = (du_x << 6) // k * self.sign_x
        out[1] = (du_y << 6) // k * self.sign_y

    def mirror_urad(self):
        """(x, y) mirror deflection in µrad (floats: feedback and telemetry, not the
        tick)."""
        lsb = FSM_LSB_RAD * 1e6 / 256
        return self.u_x * lsb, self.u_y * lsb

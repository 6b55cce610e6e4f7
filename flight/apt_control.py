"""The APT fixed-point control laws (DESIGN §3.3, docs/apt-loop.md): spot error → mirror.

Two laws, chosen by ``apt_law``: the PI law (0, default) and the **predictor** (1,
experimental: docs/apt-loop.md has its measured figures).  Both map the camera error
(q6 px) into mirror-command units by the camera → FSM 2×2 mapping (``apt_sign_x/y``, then
``apt_cam_rot_mrad``, ``apt_fsm_gain_x/y``; pixel angle ``apt_ifov_urad``), the parameters
the FSM calibration measures.

Predictor.  Adding the mirror command that was in effect during the exposure (a 1 ms
command history, shifted by the mirror's delay ``apt_fsm_delay_us``) to the mapped error
gives a measurement of the *disturbance* d the mirror must cancel.  A steady-state Kalman
filter (flight/apt_kalman.py: white-jerk model, states position/rate/acceleration per
axis) estimates d at each frame and predicts it over the next 20 ms; the frame tick
commands the first 1 ms slot and the fast mirror task (:meth:`ControlLaw.play`, task
``apt_fsm``, ``FAST_US``) the following ones, so the mirror follows the predicted line of
sight at 1 kHz between the 100 Hz frames.  A large innovation (pull-in, re-acquisition)
moves the estimate by 10/16 of it with rate and acceleration cleared: a first-order
pull-in, stable for a loop-gain error up to ×3.2.  Gain margin of the tracking filter:
docs/apt-loop.md (×2 up to ``apt_kf_bw_hz`` ≈ 9 Hz at 100 Hz mirror updates).

PI law (``apt_law`` = 0): per axis, a PI controller plus a rate integrator, in velocity form::

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

import math
from array import array

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any  # noqa: F401  (type comments)

from flight.apt_exposure import EXP_START, EXPOSURES_US, Exposure  # noqa: F401  (re-export)
from flight.apt_kalman import steady_gain
from flight.params import ParamDef
from flight.scheduler import Task
from hal.compat import const, ticks_diff
from hal.errors import HalError
from hal.interfaces import FSM_CODE_MAX, FSM_CODE_MIN, FSM_LSB_RAD

E_CLAMP = const(1 << 20)  # |error| in q8 codes (~4100 codes, ~4.4 mrad) before the gains
U_MAX = FSM_CODE_MAX << 8  # mirror command range, q8
U_MIN = FSM_CODE_MIN << 8

# Predictor timing (DESIGN §3.3): mirror commands in 1 ms slots after each frame tick.
FAST_US = const(1000)  # the fast mirror task's period (task "apt_fsm")
NS = const(20)  # slots predicted per frame: two frames (one missed frame is bridged)
RING = const(32)  # 1 ms command history (>= 9 ms exposure + read-out + mirror delay)
_RMASK = const(31)
_NMASK = const(0xFFFF)  # slot counter wraps (small ints)
NU_GATE = const(100 << 8)  # innovation (q8) beyond which the estimate is pulled in (~107 urad)
G_PULL_Q4 = const(10)  # pull-in gain 10/16: converges for a loop gain error up to x3.2
V_MAX = const(1 << 15)  # rate clamp, q8 codes/frame (~13 mrad/s at 100 Hz)
A_MAX = const(1 << 14)  # acceleration clamp, q8 codes/frame^2
_META_EXPOSURE = const(1)  # hal.interfaces.META_EXPOSURE_US (the frame's exposure)

P = ParamDef
LAW_PARAMS = (
    P("apt_law", "int", 0, 0, 1, "",
      "control law: 0 = PI, 1 = predictor (Kalman filter; its 1 kHz mirror task from "
      "the next boot, the frame law at once; experimental, docs/apt-loop.md)",
      applies="reboot"),
    P("apt_fsm_gain_x", "float", 1.0, 0.8, 1.25, "1",
      "mirror deflection per commanded deflection, x (calibrated)"),
    P("apt_fsm_gain_y", "float", 1.0, 0.8, 1.25, "1",
      "mirror deflection per commanded deflection, y (calibrated)"),
    P("apt_cam_rot_mrad", "float", 0.0, -100.0, 100.0, "mrad",
      "camera axes into FSM axes: fsm = R(rot) camera, R(a) = [[cos a, -sin a], "
      "[sin a, cos a]] (calibrated)"),
    P("apt_kf_bw_hz", "float", 16.0, 2.0, 40.0, "Hz", "predictor (Kalman filter) bandwidth"),
    P("apt_fsm_delay_us", "int", 1750, 0, 5000, "us",
      "mirror delay: command latency plus the mirror's response lag"),
    P("apt_frame_delay_us", "int", 500, 0, 5000, "us",
      "end of the exposure to the frame tick (ROI read-out)"),
)


def _q12(v):
    return int(v * 4096 + (0.5 if v >= 0 else -0.5))


class ControlLaw:
    """Both axes of the mirror loop: gains and mapping (set by :meth:`configure`), the
    predictor's state and command history, the legacy PI law's state."""

    def __init__(self):
        self.u_x = 0  # mirror command, q8 codes
        self.u_y = 0
        self.e_x = 0  # PI: last error, q8 codes
        self.e_y = 0
        self.r_x = 0  # PI: rate integrator, q8 codes per frame
        self.r_y = 0
        # Gains, mapping and limits: zero until configure() (from the APT's parameters:
        # nothing here repeats a parameter default).
        self.px2code_q8 = 0
        self.kp = 0
        self.kid = 0
        self.kiid = 0
        self.slew = 0
        self.slew_slot = 0
        self.sign_x = 1
        self.sign_y = 1
        self.mode = 1
        self.m00 = self.m01 = self.m10 = self.m11 = 0  # camera -> FSM command, Q12
        self.n00 = self.n01 = self.n10 = self.n11 = 0  # FSM command -> camera, Q12
        self.kf_p = self.kf_v = self.kf_a = 0  # Kalman gain, Q12
        self.frame_us = 10000
        self.delay_us = 0
        self.ro_us = 0
        self.c1 = array("i", [0] * NS)  # slot j: prediction time (frames, Q12)
        self.c2 = array("i", [0] * NS)  # and half its square
        self.c1_hold = self.c2_hold = 0  # the same for a command held a whole frame
        # Predictor state (q8 codes; rate per frame, acceleration per frame²).
        self.s = array("i", [0] * 6)  # p_x, v_x, a_x, p_y, v_y, a_y
        self.fresh = True  # the next measurement re-initialises the estimate
        self.hist_x = array("i", [0] * RING)  # command in effect in each 1 ms slot
        self.hist_y = array("i", [0] * RING)
        self.n = 0  # slot counter of the last slot written (wraps at _NMASK)
        self.n0 = 0  # slot counter of the current frame's slot 0
        self.j = 0  # last slot of the current frame commanded
        self.t0 = 0  # ticks of the current frame's slot 0
        self.playing = False  # the fast task follows the prediction
        self.pulls = 0  # frames whose innovation exceeded NU_GATE (pull-in)
        # Attached by fast_task()/frame_clock() (the flight app; absent in unit rigs).
        self.frame_task = None  # type: Any
        self.fast = None  # type: Any
        self.meta = None  # type: Any
        self.fsm = None  # type: Any
        self.on_fsm_error = None  # type: Any

    def configure(self, p, period_us):
        """Fixed-point gains and mapping from the parameters ``p`` (APT frame period
        ``period_us``).  Runs at parameter load (floats, allocates)."""
        dt_s = period_us * 1e-6
        self.px2code_q8 = int(p["apt_ifov_urad"] * 1e-6 / FSM_LSB_RAD * 256 + 0.5)
        self.kp = int(p["apt_kp"] * 256 + 0.5)
        self.kid = int(p["apt_ki"] * dt_s * 256 + 0.5)
        self.kiid = int(p["apt_kii"] * dt_s * dt_s * 256 + 0.5)
        self.slew = int(p["apt_slew_urad"] * 1e-6 / FSM_LSB_RAD * 256)
        self.slew_slot = self.slew * FAST_US // period_us
        self.sign_x = -1 if p["apt_sign_x"] < 0 else 1
        self.sign_y = -1 if p["apt_sign_y"] < 0 else 1
        self.mode = p["apt_law"]
        gx = p["apt_fsm_gain_x"]
        gy = p["apt_fsm_gain_y"]
        rot = p["apt_cam_rot_mrad"] * 1e-3
        c = math.cos(rot)
        s = math.sin(rot)
        self.m00 = _q12(c / gx)
        self.m01 = _q12(-s / gx)
        self.m10 = _q12(s / gy)
        self.m11 = _q12(c / gy)
        self.n00 = _q12(c * gx)
        self.n01 = _q12(s * gy)
        self.n10 = _q12(-s * gx)
        self.n11 = _q12(c * gy)
        self.frame_us = period_us
        self.delay_us = p["apt_fsm_delay_us"]
        self.ro_us = p["apt_frame_delay_us"]
        # Gain for the nominal measurement time: read-out plus half a 1 ms exposure.
        kp, kv, ka = steady_gain(p["apt_kf_bw_hz"], dt_s,
                                 (self.ro_us + 500) / period_us)
        self.kf_p = _q12(kp)
        self.kf_v = _q12(kv)
        self.kf_a = _q12(ka)
        # Slot j >= 1 is commanded half a slot in (the fast task's phase) and held one
        # slot; slot 0 at the frame tick, held 1.5 slots: predict the middle of each hold,
        # ``delay_us`` later (when the mirror shows it).
        for j in range(NS):
            t = ((j + 1) * FAST_US if j else (3 * FAST_US) // 4) + self.delay_us
            t = t / period_us
            self.c1[j] = _q12(t)
            self.c2[j] = _q12(0.5 * t * t)
        t = (period_us // 2 + self.delay_us) / period_us
        self.c1_hold = _q12(t)
        self.c2_hold = _q12(0.5 * t * t)

    def reset(self):
        """Mirror back to rest (0, 0), integrators cleared, the estimate forgotten."""
        self.u_x = 0
        self.u_y = 0
        self.r_x = 0
        self.r_y = 0
        self.playing = False
        self.fresh = True

    # ------------------------------------------------------------------ fast task
    def frame_clock(self, task):
        """The APT frame task: its start time is the frame tick's time."""
        self.frame_task = task
        return task

    def fast_tasks(self, fsm, on_fsm_error, meta):
        """[the 1 kHz mirror task] with the predictor at boot, else [] (the PI law
        commands once a frame: no CPU spent on an idle task)."""
        self.meta = meta
        return [self.fast_task(fsm, on_fsm_error, meta)] if self.mode == 1 else []

    def fast_task(self, fsm, on_fsm_error, meta):
        """The 1 kHz mirror task (a Task; the APT adds it to its tasks).  ``meta``: the
        APT's frame meta array (the exposure of the frame measured)."""
        self.fsm = fsm
        self.on_fsm_error = on_fsm_error
        self.meta = meta
        # Released half a slot after the frame ticks: one command per 1 ms slot.
        self.fast = Task("apt_fsm", FAST_US, self.play, offset_us=FAST_US // 2,
                         budget_us=FAST_US // 4, critical=False, max_faults=5,
                         soft=True)
        return self.fast

    def play(self):
        """Fast task: command the prediction for the present 1 ms slot (no-op outside
        ACQUIRE/TRACK, beyond the predicted slots, or when this slot was commanded)."""
        if not self.playing or self.mode == 0:
            return
        m = ticks_diff(self.fast.last_start, self.t0) // FAST_US
        j = self.j
        if m <= j or m >= NS:
            return
        self._fill(m - j - 1)
        self.j = m
        c1 = self.c1[m]
        c2 = self.c2[m]
        s = self.s
        self._apply(s[0] + ((s[1] * c1) >> 12) + ((s[2] * c2) >> 12),
                    s[3] + ((s[4] * c1) >> 12) + ((s[5] * c2) >> 12), m - j)
        try:
            self.fsm.set_codes(self.u_x >> 8, self.u_y >> 8)
        except HalError:
            self.on_fsm_error()

    def _fill(self, k):
        """``k`` slots without a command: the last one stayed in effect."""
        if k > RING:
            k = RING
        n = self.n
        ux = self.u_x
        uy = self.u_y
        while k > 0:
            n = (n + 1) & _NMASK
            self.hist_x[n & _RMASK] = ux
            self.hist_y[n & _RMASK] = uy
            k -= 1
        self.n = n

    def _apply(self, cx, cy, slots):
        """New command (q8) at the next slot: slew-limited (``slots`` since the last
        command), saturated at the mirror range, written to the history."""
        sl = self.slew_slot * (slots if slots < 10 else 10)
        dx = cx - self.u_x
        dy = cy - self.u_y
        dx = sl if dx > sl else (-sl if dx < -sl else dx)
        dy = sl if dy > sl else (-sl if dy < -sl else dy)
        ux = self.u_x + dx
        uy = self.u_y + dy
        ux = U_MAX if ux > U_MAX else (U_MIN if ux < U_MIN else ux)
        uy = U_MAX if uy > U_MAX else (U_MIN if uy < U_MIN else uy)
        self.u_x = ux
        self.u_y = uy
        n = (self.n + 1) & _NMASK
        self.n = n
        self.hist_x[n & _RMASK] = ux
        self.hist_y[n & _RMASK] = uy

    # ------------------------------------------------------------------ frame step
    def step(self, dx_q6, dy_q6):
        """One frame: the spot's offset from the reference (q6 px) → new ``u_x``/``u_y``
        (q8 codes; the caller commands ``u >> 8``)."""
        if self.mode == 0:
            self._step_pi(dx_q6, dy_q6)
            return
        k = self.px2code_q8
        ex = (dx_q6 * k) >> 6
        ey = (dy_q6 * k) >> 6
        if self.sign_x < 0:
            ex = -ex
        if self.sign_y < 0:
            ey = -ey
        ex = E_CLAMP if ex > E_CLAMP else (-E_CLAMP if ex < -E_CLAMP else ex)
        ey = E_CLAMP if ey > E_CLAMP else (-E_CLAMP if ey < -E_CLAMP else ey)
        ex >>= 4  # (|e| < 2**16 here: each product below stays under 2**29)
        ey >>= 4
        fx = (self.m00 * ex + self.m01 * ey) >> 8  # FSM command units, q8
        fy = (self.m10 * ex + self.m11 * ey) >> 8
        # Slots since the last frame tick (a rig without the scheduler: one frame).
        ft = self.frame_task
        if ft is None:
            m = self.frame_us // FAST_US
        else:
            t = ft.last_start
            m = ticks_diff(t, self.t0) // FAST_US
            self.t0 = t
            if m < 1:
                m = 1
            elif m > 1000:
                m = 1000
        j = self.j
        self._fill((m - j - 1) if self.playing else RING)
        n0 = (self.n + 1) & _NMASK  # this frame's slot 0 (written by _apply below)
        self.n0 = n0
        self.j = 0
        # The mirror command in effect during the exposure: the slots whose middle lies
        # [x0, x1] before now (x0: read-out + mirror delay, x1 = x0 + exposure); slot b
        # back was commanded b - 1/2 slots before now and held one slot: its middle is
        # b - 1 slots back.
        meta = self.meta
        e_us = meta[_META_EXPOSURE] if meta is not None else 1000
        x0 = self.ro_us + self.delay_us
        x1 = x0 + e_us
        b0 = (x0 + FAST_US - 1) // FAST_US + 1
        b1 = x1 // FAST_US + 1
        if b1 < b0:
            b0 = b1 = (x0 + x1 + FAST_US) // (2 * FAST_US) + 1
        if b1 > RING - 1:
            b1 = RING - 1
            if b0 > b1:
                b0 = b1
        sx = 0
        sy = 0
        b = b0
        hx = self.hist_x
        hy = self.hist_y
        while b <= b1:
            i = (n0 - b) & _RMASK
            sx += hx[i]
            sy += hy[i]
            b += 1
        b = b1 - b0 + 1
        yx = fx + sx // b  # the disturbance, measured
        yy = fy + sy // b
        nf = (m * FAST_US + (self.frame_us >> 1)) // self.frame_us  # frames elapsed
        s = self.s
        if self.fresh or nf > 3 or not self.playing:
            s[0] = yx
            s[3] = yy
            s[1] = s[2] = s[4] = s[5] = 0
            self.fresh = False
        else:
            hd = ((self.ro_us + (e_us >> 1)) << 12) // self.frame_us  # delta, Q12
            hd2 = (hd * hd) >> 13
            self._update(0, yx, nf, hd, hd2)
            self._update(3, yy, nf, hd, hd2)
        if self.fast is None:
            c1 = self.c1_hold
            c2 = self.c2_hold
        else:
            c1 = self.c1[0]
            c2 = self.c2[0]
        self._apply(s[0] + ((s[1] * c1) >> 12) + ((s[2] * c2) >> 12),
                    s[3] + ((s[4] * c1) >> 12) + ((s[5] * c2) >> 12),
                    m - j if self.playing else 10)
        self.playing = True

    def _update(self, i, y, nf, hd, hd2):
        """One axis (state ``s[i:i + 3]``): propagate ``nf`` frames, then correct with
        the measurement ``y`` taken ``hd`` (Q12 frames) before the tick."""
        s = self.s
        p = s[i]
        v = s[i + 1]
        a = s[i + 2]
        while nf > 0:
            p += v + (a >> 1)
            v += a
            nf -= 1
        v = V_MAX if v > V_MAX else (-V_MAX if v < -V_MAX else v)
        nu = y - p + ((v * hd) >> 12) - ((a * hd2) >> 12)
        if nu > NU_GATE or nu < -NU_GATE:
            # Far from the model (pull-in, re-acquisition): a first-order step towards
            # the measurement, rate and acceleration forgotten.
            p += (nu * G_PULL_Q4) >> 4
            v = 0
            a = 0
            self.pulls += 1
        else:
            p += (self.kf_p * nu) >> 12
            v += (self.kf_v * nu) >> 12
            a += (self.kf_a * nu) >> 12
            v = V_MAX if v > V_MAX else (-V_MAX if v < -V_MAX else v)
            a = A_MAX if a > A_MAX else (-A_MAX if a < -A_MAX else a)
        s[i] = p
        s[i + 1] = v
        s[i + 2] = a

    # ------------------------------------------------------------------ legacy PI law
    def _step_pi(self, dx_q6, dy_q6):
        """The PI + rate-integrator law (``apt_law`` = 0; see the module docstring)."""
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
        ex >>= 4  # camera -> FSM mapping (|e| < 2**16: products under 2**29)
        ey >>= 4
        fx = (self.m00 * ex + self.m01 * ey) >> 8
        ey = (self.m10 * ex + self.m11 * ey) >> 8
        ex = fx
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
        ax = (du_x << 6) // k
        ay = (du_y << 6) // k
        out[0] = ((self.n00 * ax + self.n01 * ay) >> 12) * self.sign_x
        out[1] = ((self.n10 * ax + self.n11 * ay) >> 12) * self.sign_y

    def mirror_urad(self):
        """(x, y) mirror deflection in µrad (floats: feedback and telemetry, not the
        tick)."""
        lsb = FSM_LSB_RAD * 1e6 / 256
        return self.u_x * lsb, self.u_y * lsb

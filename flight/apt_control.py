"""The APT fixed-point control laws (DESIGN §3.3, docs/apt-loop.md): spot error → mirror.

Two laws, chosen by ``apt_law``: the PI law (0) and the **predictor** (1, the default;
docs/apt-loop.md has both laws' measured figures and margins).  Both map the camera error
(q8 px) into mirror-command units by the camera → FSM 2×2 mapping (``apt_sign_x/y``, then
``apt_cam_rot_mrad``, ``apt_fsm_gain_x/y``; pixel angle ``apt_ifov_urad``), the parameters
the FSM calibration measures.

Predictor (flight/apt_predict.py): a steady-state Kalman filter of the line of sight
(drift + the platform's jitter model, flight/apt_kalman.py) on the disturbance measured as
the mapped error plus the mirror command during the exposure; each frame hands the mirror
driver a waveform of predicted commands (``Fsm.play_wave``, one sample per
``FSM_WAVE_PERIOD_US``), so the mirror follows the predicted line of sight between frames
with no task running.

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

* spot offsets in 1/256 px ("q8": the centroid's own resolution, flight/apt_pixels.py);
* mirror commands in 1/256 FSM code ("q8"); one code = 2°/32768 optical = 1.065 µrad;
* px → q8 codes through ``px2code_q8`` = ifov / code × 256 (≈ 24 031 for 100 µrad/px).

Every multiplication is bounded below 2**30 (MicroPython small ints) in TRACK.
"""

import math

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any  # noqa: F401  (type comments)

from flight.apt_exposure import EXP_START, EXPOSURES_US, Exposure  # noqa: F401  (re-export)
from flight.apt_predict import C_BUF, C_NW, C_PLAY, C_QL, C_UX, C_UY, Predictor, mirror_timing
from flight.apt_wheels import Lines
from flight.params import ParamDef
from hal.compat import const, ticks_diff
from hal.interfaces import FSM_CODE_MAX, FSM_CODE_MIN, FSM_LATENCY_US, FSM_LSB_RAD
from hal.interfaces import FSM_WAVE_PERIOD_US

E_CLAMP = const(1 << 20)  # |error| in q8 codes (~4100 codes, ~4.4 mrad) before the gains
U_MAX = FSM_CODE_MAX << 8  # mirror command range, q8
U_MIN = FSM_CODE_MIN << 8

_META_EXPOSURE = const(1)  # hal.interfaces.META_EXPOSURE_US (the frame's exposure)

P = ParamDef
LAW_PARAMS = (
    P("apt_law", "int", 1, 0, 1, "",
      "control law: 0 = PI, 1 = predictor (Kalman filter, a mirror waveform per frame; "
      "docs/apt-loop.md)"),
    P("apt_fsm_gain_x", "float", 1.0, 0.8, 1.25, "1",
      "mirror deflection per commanded deflection, x (calibrated)"),
    P("apt_fsm_gain_y", "float", 1.0, 0.8, 1.25, "1",
      "mirror deflection per commanded deflection, y (calibrated)"),
    P("apt_cam_rot_mrad", "float", 0.0, -100.0, 100.0, "mrad",
      "camera axes into FSM axes: fsm = R(rot) camera, R(a) = [[cos a, -sin a], "
      "[sin a, cos a]] (calibrated)"),
    # The predictor's model (flight/apt_kalman.py); a change re-designs it (~0.1 s of
    # floats on the board, at the parameter change).
    P("apt_kf_jitter_urad", "float", 20.0, 1.0, 200.0, "urad",
      "predictor model: platform jitter RMS per axis (DESIGN §5: 20 urad)"),
    P("apt_kf_jitter_hz", "float", 10.0, 2.0, 40.0, "Hz",
      "predictor model: jitter band edge (4th-order; DESIGN §5: 10 Hz)"),
    P("apt_kf_noise_urad", "float", 1.25, 0.1, 50.0, "urad",
      "predictor model: measurement noise per axis (centroid ~1 urad in the pass, "
      "unmodelled lines); larger = smoother (docs/apt-loop.md §4)"),
    P("apt_kf_drift", "float", 1e-4, 0.0, 1.0, "urad2/ms3",
      "predictor model: drift-rate random walk (ADCS error changes)"),
    # The lead and the mirror delay count from the tick's start (the frame tick), so
    # they hold the tick's own compute and bus time up to its mirror command: the board's
    # send, 1.066 ms (sim/run/costmodel.py BOARD_SEND_US, stop 63).  Tuned on campaigns
    # (docs/apt-loop.md §4 "The board's send"): +400 µs on the 2920 / 2420 set for the
    # kit's 1.24 ms send (stop 46), which at the board's 1.68 ms (stop 50) let one
    # campaign unit in 40 trip its supervisor; -120 µs for the board's send made 111 µs
    # shorter (stop 52), -290 µs for it made 290 µs shorter again (stop 53), erring
    # short as before (119 µs); -210 µs for the 8 px TRACK window read without STATUS
    # (stop 63: its send 214 µs shorter; 116 µs short.  -280 tripped a 27 µrad-jitter
    # campaign unit's supervisor: docs/apt-loop.md §5 "6 ms frames (stop 63)").
    P("apt_kf_lead_us", "int", 2700, 0, 10000, "us",
      "predictor: waveform sample to the middle of its effect on the line of sight"),
    P("apt_exp_max_us", "int", 9000, 20, 9000, "us",
      "longest auto-exposure; beyond it the camera's analog gain rises (apt_exposure.py)"),
    P("apt_fsm_delay_us", "int", 2200, 0, 5000, "us",
      "mirror delay: the tick's compute to its command, the command latency, the "
      "mirror's response lag"),
    P("apt_frame_delay_us", "int", 500, 0, 5000, "us",
      "end of the exposure to the frame tick (ROI read-out)"),
    # The unit's own command latency, measured at its acceptance test and uploaded with
    # the ground calibration (docs/apt-loop.md §4 "The unit's mirror latency"): the lead
    # and the mirror delay above are set for the reference unit's (hal.interfaces
    # FSM_LATENCY_US) and move by the difference (flight/apt_predict.py mirror_timing).
    P("apt_fsm_latency_us", "int", FSM_LATENCY_US, 0, 3000, "us",
      "the mirror's command latency, DAC write to motion (ground-measured; moves the lead "
      "and the mirror delay)"),
)


def _q12(v):
    return int(v * 4096 + (0.5 if v >= 0 else -0.5))


class ControlLaw:
    """Both axes of the mirror loop: gains and mapping (set by :meth:`configure`), the
    PI law's state, the predictor (flight/apt_predict.py)."""

    def __init__(self, fsm=None):
        self.u_x = 0  # mirror command, q8 codes (the predictor: its waveform's first sample)
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
        self.sign_x = 1
        self.sign_y = 1
        self.mode = 0
        self.m00 = self.m01 = self.m10 = self.m11 = 0  # camera -> FSM command, Q12
        self.n00 = self.n01 = self.n10 = self.n11 = 0  # FSM command -> camera, Q12
        self.frame_us = 10000
        self.pred = Predictor()
        if fsm is not None:  # (the APT's driver; unit rigs pass none)
            self.pred.register(fsm)
        # The reaction-wheel lines added to the predictor's waveform (flight/apt_wheels.py;
        # the speeds from the OBC's NAV_STATE through flight/pointahead.py)
        self.lines = Lines()
        # Attached by the APT (absent in unit rigs: one frame period between steps).
        self.frame_task = None  # type: Any
        self.meta = None  # type: Any
        self._t = 0  # a rig's frame clock

    def configure(self, p, period_us):
        """Fixed-point gains and mapping from the parameters ``p`` (APT frame period
        ``period_us``).  Runs at parameter load (floats, allocates)."""
        dt_s = period_us * 1e-6
        self.px2code_q8 = int(p["apt_ifov_urad"] * 1e-6 / FSM_LSB_RAD * 256 + 0.5)
        self.kp = int(p["apt_kp"] * 256 + 0.5)
        self.kid = int(p["apt_ki"] * dt_s * 256 + 0.5)
        self.kiid = int(p["apt_kii"] * dt_s * dt_s * 256 + 0.5)
        self.slew = int(p["apt_slew_urad"] * 1e-6 / FSM_LSB_RAD * 256)
        self.sign_x = -1 if p["apt_sign_x"] < 0 else 1
        self.sign_y = -1 if p["apt_sign_y"] < 0 else 1
        # (the predictor only with a design: none yet, the design's code not loaded for
        # lack of heap, flight/apt_predict.py, and the PI law runs until one is made)
        law = p["apt_law"] if self.pred.configure(p, period_us, self.slew) else 0
        if law != self.mode:
            self.pred.reset()
        self.mode = law
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
        self.lines.configure(period_us, FSM_WAVE_PERIOD_US, mirror_timing(p)[0],
                             p["apt_frame_delay_us"], self.pred.m)
        self.pred.set_mapping(self.px2code_q8, self.sign_x, self.sign_y, self.m00, self.m01,
                              self.m10, self.m11, E_CLAMP)

    def reset(self):
        """Mirror back to rest (0, 0), integrators cleared, the estimate forgotten."""
        self.u_x = 0
        self.u_y = 0
        self.r_x = 0
        self.r_y = 0
        self.pred.reset()

    def frame_clock(self, task):
        """The APT frame task: its start time is the frame tick's time."""
        self.frame_task = task
        return task

    # ------------------------------------------------------------------ frame step
    def step(self, dx_q8, dy_q8, cal=None):
        """One frame: the spot's offset from the reference (q8 px) → new ``u_x``/``u_y``
        (q8 codes) and, with the predictor, the next waveform (:meth:`command` sends it).
        ``cal``: the FSM calibration (flight/apt_calib.py): the PI law takes its step's
        predicted spot move ``ff_x/y`` off the error (the predictor's history holds the
        steps)."""
        run = 0 if cal is None else cal.run
        if self.mode == 0 or run == 1 or run == 2:
            # The PI law, also while the FSM calibration steps the mirror (RUN_INJECT,
            # RUN_DRAIN): its regression assumes one command per frame, and a predictor
            # reacting within the frame biases it (gain ratios ~4 % off).
            pr = self.pred
            if pr.c[C_PLAY]:  # from the predictor: its rate estimate seeds the integrator
                self.r_x = pr.s[1]
                self.r_y = pr.s[7]
                pr.reset()
            if cal is not None:
                dx_q8 -= cal.ff_x << 2  # (q6 px)
                dy_q8 -= cal.ff_y << 2
            self._step_pi(dx_q8, dy_q8)
            return
        # (the predictor's kernel maps the offset into FSM units: set_mapping in configure)
        pr = self.pred
        c = pr.c
        ft = self.frame_task
        if ft is None:  # a rig without the scheduler: one frame per step
            self._t += self.frame_us
            t = self._t
        else:
            t = ft.last_start
            if c[C_PLAY] and ticks_diff(t, pr.t0) <= 0:
                t = pr.t0 + self.frame_us  # (the tick called outside its task)
        meta = self.meta
        # The filter's frame, the wheel lines' and the waveform's codes with the
        # calibration's step (what command() adds), in one call: the tick's locked
        # section, where a call's frame costs no heap scan.  (1: the kernel maps the
        # offset into FSM units.)
        d_x = d_y = 0
        if cal is not None:
            d_x = cal.d_x
            d_y = cal.d_y
        pr.step(dx_q8, dy_q8, t, meta[_META_EXPOSURE] if meta is not None else 1000,
                self.u_x, self.u_y, 1, d_x, d_y, self.lines)
        self.u_x = c[C_UX]
        self.u_y = c[C_UY]

    def command(self, fsm, d_x, d_y):
        """Send the command to the mirror (plus the FSM calibration's step ``d_x``/``d_y``,
        codes): the PI law's (or a held) command, or the predictor's waveform, whose codes
        :meth:`step` made with its ``cal``'s step (the same: flight/apt.py passes the
        calibration's to both).  Raises HalError.  After the send, unlocked: the
        predictor's supervisor reports a trip of the locked step (the next frame's, if
        the send raised)."""
        pr = self.pred
        c = pr.c
        if self.mode == 0 or not c[C_PLAY]:
            fsm.set_codes((self.u_x >> 8) + d_x, (self.u_y >> 8) + d_y)
        else:  # (Predictor.send, inline: a call less on the loop's path to the mirror)
            b = c[C_BUF]
            fsm.play_wave(pr.wx[b], pr.wy[b], c[C_NW])
        if pr.robust_due_q8:
            pr.report()

    # ------------------------------------------------------------------ legacy PI law
    def _step_pi(self, dx_q8, dy_q8):
        """The PI + rate-integrator law (``apt_law`` = 0; see the module docstring)."""
        k = self.px2code_q8
        # The offset's clamp of the predictor's mapping (set_mapping's, from E_CLAMP): beyond
        # it E_CLAMP clamps anyway, and the product stays a small int.
        ql = self.pred.c[C_QL]
        dx_q8 = ql if dx_q8 > ql else (-ql if dx_q8 < -ql else dx_q8)
        dy_q8 = ql if dy_q8 > ql else (-ql if dy_q8 < -ql else dy_q8)
        ex = (dx_q8 * k) >> 8
        ey = (dy_q8 * k) >> 8
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

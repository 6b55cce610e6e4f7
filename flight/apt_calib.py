"""On-orbit FSM calibration (DESIGN §3.3, issue 14.3): the mirror's gain per axis and the
rotation of the camera axes into the mirror axes, measured in TRACK by small known mirror
steps that the camera watches on the beacon spot.  Method, figures and the operator's
procedure: docs/fsm-calibration.md.

In short: the camera sees ``y = A·p − B·v`` (spot − boresight, q6 px; ``p`` the
platform's error, ``v`` the mirror codes).  A known step (±``apt_cal_step_codes``; each
level held two commands: 25 Hz, above the platform jitter's 0.1–10 Hz) is added to the
mirror command and is the instrument of an instrumental-variables fit on first
differences of consecutive frames, with the last command and the one before as
regressors (a long exposure sees both)::

    Δy = −B1·Δv_last − B2·Δv_before      [B1 B2] = −(Σ Δy·wᵀ)·(Σ Δv·wᵀ)⁻¹      B = B1 + B2

Both axes step at once, x as + − + − …, y the same, sign flipped over the run's 2nd and
4th quarters: orthogonal over each half, all the energy near 25 Hz (a pattern with some at
6.25 Hz, in the jitter band, scattered the rotation by 14 mrad RMS: docs/fsm-calibration.md).
The law is fed the error minus the spot move the step predicts (``ff_x/ff_y``).
``M = S·B·ifov/(64·LSB) = Rw(θ)·P`` (camera vector = Rw(θ)·mirror vector,
``Rw(θ) = [[cos θ, sin θ], [−sin θ, cos θ]]``, as hal/sim/world.py's
``cam_fsm_rot_rad``; ``P`` symmetric): θ → apt_cam_rot_mrad, ``P11``/``P22`` →
apt_fsm_gain_x/y, ``(P12 + P21)/2`` the cross-coupling.  Fit residual: RMS of half the
difference of the first- and second-half estimates of M.  A result outside the
parameters' ranges (the plausible bounds), a cross-coupling beyond ``CROSS_MAX`` or a
residual above ``apt_cal_resid_max`` is refused (event, parameters unchanged); accepted,
it goes through the parameter store (the law's listener picks it up; PARAM_SAVE persists).

When: by TC (APT_FSM_CALIBRATE) or automatically (``apt_cal_auto``), once TRACK has held
``apt_cal_settle_s``, the mirror inside its offload band and drifting less than
``apt_cal_drift_max_urad_s`` over the last second (no ADCS slew under the steps).  Aborts
(event, parameters unchanged): spot lost :data:`GAP_MAX` frames, TRACK left, session
ended, mirror command failed, mirror near its range, twice its length.

Hot path (:meth:`FsmCal.frame`, in the APT tick before the law; the APT adds ``d_x/d_y``
to its mirror command): integer maths on preallocated state, no events, allocates
nothing.  Starting, the estimate (floats) and every event run in the 10 Hz task.
"""

import math
from array import array

from hal.compat import const
from flight import lazy
from flight.cmddict import Busy
from flight.events import SEV_INFO, SEV_WARN, Event
from flight.params import ParamDef
from flight.scheduler import Task
from flight.telemetry import HkField
from hal.interfaces import APT_IDLE, APT_TRACK, FSM_CODE_MAX, FSM_LSB_RAD

EV_APT_CAL_START = const(0x5C)
EV_APT_CAL_DONE = const(0x5D)
EV_APT_CAL_REFUSED = const(0x5E)
EV_APT_CAL_ABORTED = const(0x5F)

EVENTS = (
    Event(EV_APT_CAL_START, "APT_CAL_START", SEV_INFO,
          "FSM calibration started (trigger 0: automatic, 1: TC)",
          (("trigger", "int"), ("step_codes", "int"), ("steps", "int"))),
    Event(EV_APT_CAL_DONE, "APT_CAL_DONE", SEV_INFO,
          "FSM calibration accepted: gains and rotation set", (
              ("gain_x", "float"), ("gain_y", "float"), ("rot_mrad", "float"),
              ("cross", "float"), ("resid", "float"), ("steps", "int"))),
    Event(EV_APT_CAL_REFUSED, "APT_CAL_REFUSED", SEV_WARN,
          "FSM calibration result refused (implausible or poor fit): parameters unchanged", (
              ("reason", "str"), ("gain_x", "float"), ("gain_y", "float"),
              ("rot_mrad", "float"), ("cross", "float"), ("resid", "float"))),
    Event(EV_APT_CAL_ABORTED, "APT_CAL_ABORTED", SEV_WARN,
          "FSM calibration aborted: parameters unchanged", (("reason", "str"),
                                                             ("steps", "int"))),
)

P = ParamDef
PARAMS = (
    P("apt_cal_valid", "bool", False, False, True, "",
      "apt_fsm_gain_x/y and apt_cam_rot_mrad (apt_control.py) come from an accepted FSM calibration"),
    # Default 0 (commanded only): on the nominal pass a calibration makes the aim error
    # worse by 0.2-0.5 urad (its steps, and gains that carry the centroid's local slope):
    # docs/fsm-calibration.md "Automatic calibration".
    P("apt_cal_auto", "int", 0, 0, 2, "",
      "automatic FSM calibration in TRACK: 0 never, 1 once a session while not "
      "apt_cal_valid, 2 once every session"),
    P("apt_cal_step_codes", "int", 8, 1, 64, "code", "calibration step per axis (±)"),
    P("apt_cal_steps", "int", 1024, 32, 4000, "steps",
      "calibration length: mirror commands with a step (frames; rounded up to whole "
      "16-command patterns)"),
    P("apt_cal_settle_s", "float", 2.0, 0.0, 60.0, "s",
      "TRACK held this long before a calibration starts"),
    P("apt_cal_resid_max", "float", 0.05, 0.001, 0.5, "1",
      "largest accepted fit residual (standard error of the mirror matrix)"),
    P("apt_cal_drift_max_urad_s", "float", 150.0, 10.0, 10000.0, "urad/s",
      "a calibration starts only while the mirror moved less than this over the last "
      "second, per axis (no ADCS slew under the steps)"),
)

# Calibration states (HK enum): RUNNING, or the outcome of the last one.
CAL_STATES = ("NONE", "RUNNING", "ACCEPTED", "REFUSED", "ABORTED")
_NONE = const(0)
_RUNNING = const(1)
ACCEPTED = const(2)  # (set by the fit)
REFUSED = const(3)
_ABORTED = const(4)

F = HkField
HK = (
    F("apt_cal_state", "u8", enum=CAL_STATES,
      description="FSM calibration running, or the outcome of the last one"),
    F("apt_cal_count", "u8", description="FSM calibrations accepted this boot"),
)
HK_DIAG = (  # the last result, accepted or refused
    F("apt_cal_gain_x", "u16", "1", 0.0001, description="last FSM calibration: gain x"),
    F("apt_cal_gain_y", "u16", "1", 0.0001, description="last FSM calibration: gain y"),
    F("apt_cal_rot", "i16", "mrad", 0.01, description="last FSM calibration: rotation"),
    F("apt_cal_cross", "i16", "1", 0.0001,
      description="last FSM calibration: symmetric cross-coupling"),
    F("apt_cal_resid", "u16", "1", 0.00001, warn=(0.0, 0.05),
      description="last FSM calibration: fit residual (standard error of the matrix)"),
    F("apt_cal_steps", "u16", "steps", description="last FSM calibration: mirror steps"),
    F("apt_cal_refused", "u8", warn=(0, 0), description="FSM calibrations refused"),
    F("apt_cal_aborted", "u8", description="FSM calibrations aborted"),
)

GAP_MAX = const(5)  # invalid frames in a row that abort (50 ms: the spot is gone, not a glitch)
# The mirror command stays this far inside the code range with the step added (the law
# may move it by its slew limit, ≤ 1500 µrad ≈ 1400 codes, between two frames).
_RANGE_MARGIN = const(2048)
# Sums (array 'i'), per half h (base HALF·h) of the steps: with the instruments
# w = (Δz_x, Δz_y of the last command, Δz_x, Δz_y of the one before) (halved sign
# changes, -1/0/1), Σ Δy_i·w_j at 4i + j (i = x, y) and Σ Δv_i·w_j at 8 + 4i + j
# (i = x, y of the last command, x, y of the one before).  Bounded well below 2**30
# (|Δy| < 2**10 q6, |Δv| < 2**16, ≤ 4000 steps).
HALF = const(24)  # (the fit, flight/apt_calib_fit.py, is loaded only to evaluate a run)
# Task runs over which the mirror's drift is measured before a start: one second at the
# task's 10 Hz (the ADCS's 1 s time constant: a slew after an offload shows as a drift of
# hundreds of µrad/s; the platform jitter moves the mirror by ~30 µrad RMS in a second).
DRIFT_N = const(10)
# Run states (``run``): the tick injects in RUN_INJECT, pairs the last step in RUN_DRAIN; the task
# evaluates RUN_DONE and reports RUN_ABORT.
RUN_IDLE = const(0)
RUN_INJECT = const(1)
RUN_DRAIN = const(2)
RUN_DONE = const(3)
RUN_ABORT = const(4)
_WHY = ("", "spot lost", "left TRACK", "session ended", "mirror command failed",
        "mirror near its range", "timeout", "no heap for the fit")
_W_LOST, _W_TRACK, _W_SESSION, _W_FSM, _W_RANGE, _W_TIMEOUT = 1, 2, 3, 4, 5, 6  # in _WHY
_W_MEMORY = const(7)  # the fit could not be loaded (MODULE_LOAD_FAILED, flight/lazy.py)


class FsmCal:
    """Owner ``aptcal``: the FSM calibration of one :class:`flight.apt.Apt` (``apt.cal``)."""

    name = "aptcal"

    def __init__(self, ctx, apt, period_us=100000):
        self.ctx = ctx
        self.apt = apt
        self.period_us = period_us
        apt.cal = self
        # Read by the APT tick: the step added to the mirror command (codes) and the
        # spot move it predicts for the frame that shows it (q6 px).
        self.d_x = self.d_y = 0
        self.ff_x = self.ff_y = 0
        self.run = RUN_IDLE
        self.busy = False  # frame() has work: the APT tick calls it only then
        self.why = 0
        self.sums = array("i", [0] * (2 * HALF))
        self.sent = self.n_steps = self.amp = self.half = 0
        self._quarter = 4
        # Signs of the step of the last command, and of the two before it; mirror codes
        # of the last two commands and the spot of the last frame (the previous pair).
        self._sx = self._sy = self._s1x = self._s1y = self._s2x = self._s2y = 0
        self._v1x = self._v1y = self._v2x = self._v2y = self._y1x = self._y1y = 0
        self._seq = self._ticks = 0  # consecutive frames with a command each, tick count
        self._inv = self._frames0 = self._fsm_err0 = 0
        self.requested = False
        self._tried = False  # an automatic attempt was made this session
        self._trigger = 0
        self.state = _NONE
        self.accepted = self.refused = self.aborted = 0
        self.raw = array("i", [0] * 6)  # last result as HK_DIAG raw values
        # Mirror commands of the last DRIFT_N task runs in TRACK (a ring): the start's drift
        self._drift_x = array("i", [0] * DRIFT_N)
        self._drift_y = array("i", [0] * DRIFT_N)
        self._drift_n = 0
        ctx.params.listeners.append(self._load_params)
        self._load_params()

    # ------------------------------------------------------------------ parameters
    def _load_params(self, name=None, value=None):
        if name is not None and not name.startswith("apt_"):
            return
        p = self.ctx.params
        self._auto = p["apt_cal_auto"]
        self._valid = p["apt_cal_valid"]
        self._settle_ticks = int(p["apt_cal_settle_s"] * 1e6 / self.apt.period_us)
        self._sign_x = -1 if p["apt_sign_x"] < 0 else 1
        self._sign_y = -1 if p["apt_sign_y"] < 0 else 1
        self._ifov = p["apt_ifov_urad"]
        self._band = int(p["apt_offload_frac"] * FSM_CODE_MAX)
        self._drift_max = int(p["apt_cal_drift_max_urad_s"] * 1e-6 / FSM_LSB_RAD) + 1
        # Feed-forward matrix (q6 px per code, ×1024): the spot move of one code with the
        # current parameters, −64·LSB/ifov·S·Rw(θ)·diag(g).
        k = -64.0 * FSM_LSB_RAD * 1e6 / self._ifov * 1024.0
        t = p["apt_cam_rot_mrad"] * 1e-3
        c = math.cos(t)
        s = math.sin(t)
        gx = p["apt_fsm_gain_x"]
        gy = p["apt_fsm_gain_y"]
        self._f11 = int(k * self._sign_x * c * gx)
        self._f12 = int(k * self._sign_x * s * gy)
        self._f21 = int(-k * self._sign_y * s * gx)
        self._f22 = int(k * self._sign_y * c * gy)

    # ------------------------------------------------------------------ commands
    def check_command(self, cmd, args):
        if self.run != RUN_IDLE:
            raise Busy("FSM calibration running")

    def cmd_fsm_calibrate(self, args, tc):
        self.requested = True
        return {"armed": True, "tracking": self.apt.state == APT_TRACK}

    # ------------------------------------------------------------------ the APT tick
    def frame(self, dx, dy):
        """A valid frame (spot − reference, q6 px), before the law's step: sets the
        feed-forward for this frame and the step of the command that follows."""
        sx = self._sx
        sy = self._sy
        a = self.amp
        self.ff_x = ((self._f11 * sx + self._f12 * sy) * a) >> 10
        self.ff_y = ((self._f21 * sx + self._f22 * sy) * a) >> 10
        r = self.run
        if r != RUN_INJECT and r != RUN_DRAIN:
            if sx or sy:
                self._no_step()  # (the feed-forward of its last step: one more frame)
            else:
                self.busy = False  # no step, no feed-forward: nothing until the next run
            return
        apt = self.apt
        if apt.state != APT_TRACK:
            self._stop(_W_TRACK)
            return
        inv = apt.invalid_frames
        if inv - self._inv >= GAP_MAX:
            self._stop(_W_LOST)
            return
        self._inv = inv
        t = apt.frames + apt.stale_frames
        if t - self._ticks != 1:  # a frame without a command between: pairs restart
            self._seq = 0
        self._ticks = t
        law = apt.law
        vx = (law.u_x >> 8) + self.d_x  # what the frame saw: the last command...
        vy = (law.u_y >> 8) + self.d_y
        if self._seq >= 2 and self._s2x:  # ... and the one before (three in this run)
            self._accumulate(dx - self._y1x, dy - self._y1y, vx, vy, sx, sy)
        elif self._seq < 2:
            self._seq += 1
        self._v2x = self._v1x
        self._v2y = self._v1y
        self._v1x = vx
        self._v1y = vy
        self._y1x = dx
        self._y1y = dy
        if r == RUN_DRAIN:  # this frame showed the last step
            self.run = RUN_DONE
            self._no_step()
            return
        lim = FSM_CODE_MAX - _RANGE_MARGIN
        if not (-lim < vx < lim and -lim < vy < lim):
            self._stop(_W_RANGE)
            return
        k = self.sent
        self.half = HALF if k + k >= self.n_steps else 0
        self._s2x = self._s1x
        self._s2y = self._s1y
        self._s1x = sx
        self._s1y = sy
        sx = 1 - (k & 2)  # (-1)^level, each level held for two commands
        sy = sx if (k // self._quarter) & 1 == 0 else -sx
        self._sx = sx
        self._sy = sy
        self.d_x = sx * a
        self.d_y = sy * a
        k += 1
        self.sent = k
        if k >= self.n_steps:
            self.run = RUN_DRAIN

    def _accumulate(self, ey_x, ey_y, vx, vy, sx, sy):
        """One pair of consecutive frames into the sums (see HALF): the change of the
        spot, of the last two commands, and of their steps' signs (the instruments)."""
        sm = self.sums
        b = self.half
        ev0x = vx - self._v1x
        ev0y = vy - self._v1y
        ev1x = self._v1x - self._v2x
        ev1y = self._v1y - self._v2y
        w0 = (sx - self._s1x) >> 1
        w1 = (sy - self._s1y) >> 1
        if w0 or w1:  # the last command changed the step
            sm[b] += ey_x * w0
            sm[b + 1] += ey_x * w1
            sm[b + 4] += ey_y * w0
            sm[b + 5] += ey_y * w1
            sm[b + 8] += ev0x * w0
            sm[b + 9] += ev0x * w1
            sm[b + 12] += ev0y * w0
            sm[b + 13] += ev0y * w1
            sm[b + 16] += ev1x * w0
            sm[b + 17] += ev1x * w1
            sm[b + 20] += ev1y * w0
            sm[b + 21] += ev1y * w1
        w0 = (self._s1x - self._s2x) >> 1
        w1 = (self._s1y - self._s2y) >> 1
        if w0 or w1:  # the command before the last changed it
            sm[b + 2] += ey_x * w0
            sm[b + 3] += ey_x * w1
            sm[b + 6] += ey_y * w0
            sm[b + 7] += ey_y * w1
            sm[b + 10] += ev0x * w0
            sm[b + 11] += ev0x * w1
            sm[b + 14] += ev0y * w0
            sm[b + 15] += ev0y * w1
            sm[b + 18] += ev1x * w0
            sm[b + 19] += ev1x * w1
            sm[b + 22] += ev1y * w0
            sm[b + 23] += ev1y * w1

    def _no_step(self):
        self._sx = self._sy = self._s1x = self._s1y = self._s2x = self._s2y = 0
        self.d_x = self.d_y = 0

    def _stop(self, why):
        self.run = RUN_ABORT
        self.why = why
        self._no_step()

    # ------------------------------------------------------------------ the 10 Hz task
    def tasks(self):
        return [Task("apt_calib", self.period_us, self.update, offset_us=6000,
                     budget_us=self.period_us // 4)]

    def update(self):
        apt = self.apt
        r = self.run
        if r == RUN_INJECT or r == RUN_DRAIN:
            if apt.state == APT_IDLE:
                self._stop(_W_SESSION)
            elif apt.state != APT_TRACK:
                self._stop(_W_TRACK)
            elif apt.bad_run >= GAP_MAX:
                self._stop(_W_LOST)
            elif apt.fsm_errors != self._fsm_err0:
                self._stop(_W_FSM)
            elif apt.frames - self._frames0 > 2 * self.n_steps + 100:
                self._stop(_W_TIMEOUT)
            r = self.run
        if r == RUN_ABORT:
            self._finish_abort()
            return
        if r == RUN_DONE:
            self._evaluate()
            return
        if r != RUN_IDLE:
            return
        if apt.state == APT_IDLE:  # no session: the next one may calibrate again
            self._tried = False
            self.requested = False
        if apt.state != APT_TRACK:
            self._drift_n = 0
            return
        law = apt.law
        ux = law.u_x >> 8
        uy = law.u_y >> 8
        # The mirror's drift over the last second (the ring's oldest entry, once full).
        i = self._drift_n % DRIFT_N
        dx = ux - self._drift_x[i]
        dy = uy - self._drift_y[i]
        self._drift_x[i] = ux
        self._drift_y[i] = uy
        full = self._drift_n >= DRIFT_N
        self._drift_n = DRIFT_N + i + 1 if full else self._drift_n + 1
        if not self.requested:
            if self._tried or self._auto == 0 or (self._auto == 1 and self._valid):
                return
        if apt.state_ticks < self._settle_ticks or not apt.valid:
            return
        b = self._band
        if not (-b < ux < b and -b < uy < b):
            return  # wait: the ADCS offloads the mirror
        d = self._drift_max
        if not (full and -d < dx < d and -d < dy < d):
            return  # wait: the platform still slews (an offload) under the mirror
        self._start()

    def _start(self):
        apt = self.apt
        p = self.ctx.params
        self._trigger = 1 if self.requested else 0
        self.requested = False
        self._tried = True
        n = p["apt_cal_steps"]
        self.n_steps = (n + 15) & ~15
        self._quarter = self.n_steps >> 2
        self.amp = p["apt_cal_step_codes"]
        sm = self.sums
        for i in range(2 * HALF):
            sm[i] = 0
        self.sent = 0
        self._seq = 0
        self._drift_n = 0  # (the ring restarts after this run)
        self._no_step()
        self._inv = apt.invalid_frames
        self._frames0 = apt.frames
        self._fsm_err0 = apt.fsm_errors
        self.state = _RUNNING
        self.run = RUN_INJECT
        self.busy = True
        self.ctx.emit(EV_APT_CAL_START, [self._trigger, self.amp, self.n_steps],
                      "%d steps of +-%d codes" % (self.n_steps, self.amp))

    def _finish_abort(self):
        self.run = RUN_IDLE
        self.state = _ABORTED
        self.aborted += 1
        why = _WHY[self.why]
        self.ctx.emit(EV_APT_CAL_ABORTED, [why, self.sent], "%s after %d of %d steps" % (
            why, self.sent, self.n_steps))

    # ------------------------------------------------------------------ the estimate
    def _evaluate(self):
        # The fit's code is loaded for this and released after (flight/lazy.py).
        self.run = RUN_IDLE
        try:
            fit = lazy.load("flight.apt_calib_fit", self.ctx.emit)
        except lazy.LoadFailed:
            self.why = _W_MEMORY
            self._finish_abort()
            return
        try:
            fit.evaluate(self)  # accepted (parameters set) or refused: events, raw
        finally:
            lazy.release("flight.apt_calib_fit")

    # ------------------------------------------------------------------ telemetry
    def hk(self, values, i):
        values[i] = self.state
        values[i + 1] = self.accepted

    def hk_diag(self, values, i):
        r = self.raw
        for k in range(6):
            values[i + k] = r[k]
        values[i + 6] = self.refused
        values[i + 7] = self.aborted


class NoCal:
    """The APT's calibration hook when no FsmCal is installed (a board or rig without
    it): no step, no feed-forward."""

    d_x = d_y = ff_x = ff_y = run = 0
    busy = False

    def frame(self, dx, dy):
        pass


NO_CAL = NoCal()

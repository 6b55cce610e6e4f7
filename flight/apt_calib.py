"""On-orbit FSM calibration (DESIGN §3.3, issue 14.3): the mirror's gain per axis and the
rotation of the camera axes into the mirror axes, measured in TRACK by small known mirror
steps that the camera watches on the beacon spot.  Method, figures and the operator's
procedure: docs/fsm-calibration.md.

In short: the camera sees ``y = A·p − B·v`` (spot − boresight, q6 px; ``p`` the
platform's error, ``v`` the mirror codes).  A known step (±``apt_cal_step_codes``; each
level held two commands: ~42 Hz at the board's 6 ms frames, 25 Hz at 10 ms, above the
platform jitter's 0.1–10 Hz) is added to the
mirror command and is the instrument of an instrumental-variables fit on first
differences of consecutive frames, with the last command and the one before as
regressors (a long exposure sees both)::

    Δy = −B1·Δv_last − B2·Δv_before      [B1 B2] = −(Σ Δy·wᵀ)·(Σ Δv·wᵀ)⁻¹      B = B1 + B2

Both axes step at once, x as + − + − …, y the same, sign flipped over the run's 2nd and
4th quarters: orthogonal over each half, all the energy near a quarter of the frame rate
(25 Hz at 10 ms frames; a pattern with some at 6.25 Hz there, in the jitter band, scattered the rotation by 14 mrad RMS: docs/fsm-calibration.md).
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

Held and released (issue 11): this module is what stays — the declarations, the owner
:class:`FsmCalOwner` (commands, housekeeping: the state, the counts and the last result)
and :data:`NO_CAL`.  The run itself (:class:`flight.apt_calib_run.FsmCal`: its sums, its
drift ring, its code) is loaded (flight/lazy.py) when a calibration is armed in TRACK
(commanded, or due automatically) and dropped with its module once it has ended,
accepted, refused or aborted, or the session has: a tracking APT holds none of it.  Its
result lives in the parameter store (the law's gains and rotation) and the owner's
housekeeping; no heap to load it is MODULE_LOAD_FAILED plus APT_CAL_ABORTED ("no heap").
"""

from array import array

from hal.compat import const
from flight import lazy
from flight.cmddict import Busy
from flight.events import SEV_INFO, SEV_WARN, Event
from flight.params import ParamDef
from flight.scheduler import Task
from flight.telemetry import HkField
from hal.interfaces import APT_IDLE, APT_TRACK

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
_CAL_STATES = ("NONE", "RUNNING", "ACCEPTED", "REFUSED", "ABORTED")  # (the HK enum only)
_NONE = const(0)
RUNNING = const(1)  # (set by the run, flight/apt_calib_run.py)
ACCEPTED = const(2)  # (set by the fit)
REFUSED = const(3)
ABORTED = const(4)

F = HkField
HK = (
    F("apt_cal_state", "u8", enum=_CAL_STATES,
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

# Sums (array 'i'), per half h (base HALF·h) of the steps: with the instruments
# w = (Δz_x, Δz_y of the last command, Δz_x, Δz_y of the one before) (halved sign
# changes, -1/0/1), Σ Δy_i·w_j at 4i + j (i = x, y) and Σ Δv_i·w_j at 8 + 4i + j
# (i = x, y of the last command, x, y of the one before).  Bounded well below 2**30
# (|Δy| < 2**10 q6, |Δv| < 2**16, ≤ 4000 steps).
HALF = const(24)  # (the fit, flight/apt_calib_fit.py, is loaded only to evaluate a run)
# Run states (``run``): the tick injects in RUN_INJECT, pairs the last step in RUN_DRAIN; the task
# evaluates RUN_DONE and reports RUN_ABORT.
RUN_IDLE = const(0)
RUN_INJECT = const(1)
RUN_DRAIN = const(2)
RUN_DONE = const(3)
RUN_ABORT = const(4)
RUN_MODULE = "flight.apt_calib_run"  # the run's code, loaded while a calibration is armed
# What the owner and a run hand over to each other (copied, not shared: a run's object
# must leave no reference behind when it is dropped).
_CARRIED = ("state", "accepted", "refused", "aborted", "requested", "_tried")


class FsmCalOwner:
    """Owner ``aptcal``: the FSM calibration of one :class:`flight.apt.Apt` — its
    commands, its 10 Hz task and housekeeping; the run (``cal``, flight/apt_calib_run.py)
    exists only while a calibration is armed or running."""

    name = "aptcal"

    def __init__(self, ctx, apt, period_us=100000):
        self.ctx = ctx
        self.apt = apt
        self.period_us = period_us
        self.cal = None  # the run (flight.apt_calib_run.FsmCal) while armed
        self.requested = False
        self._tried = False  # an automatic attempt was made this session
        self.state = _NONE
        self.accepted = self.refused = self.aborted = 0
        self.raw = array("i", [0] * 6)  # last result as HK_DIAG raw values (the run's)

    # ------------------------------------------------------------------ commands
    def check_command(self, cmd, args):
        c = self.cal
        if c is not None and c.run != RUN_IDLE:
            raise Busy("FSM calibration running")

    def cmd_fsm_calibrate(self, args, tc):
        self.requested = True
        if self.cal is not None:
            self.cal.requested = True
        return {"armed": True, "tracking": self.apt.state == APT_TRACK}

    def stop_session(self):
        """A request does not outlive its session (one armed while the APT was still
        IDLE at the session's start waits for TRACK: it was dropped there before)."""
        self.requested = False
        self._tried = False

    def safe(self):
        self.stop_session()

    # ------------------------------------------------------------------ the 10 Hz task
    def tasks(self):
        return [Task("apt_calib", self.period_us, self.update, offset_us=6000,
                     budget_us=self.period_us // 4, on_disable=self.task_disabled)]

    def task_disabled(self):
        """Its task disabled for its faults (``Task.on_disable``, flight/scheduler.py): a
        run left in place would hold its step on the mirror and the APT in its
        calibration frames for the rest of the session, so it ends, aborted for that
        reason, the parameters unchanged; the request with it (a session retries)."""
        c = self.cal
        if c is not None and c.run != RUN_IDLE:
            self._aborted("its task was disabled", c.sent)
        self.requested = False
        self._drop()

    def _aborted(self, why, steps):
        """An attempt the owner ends (no heap for its code, or its task disabled): counted
        and reported as the run reports its own aborts, the request dropped with it."""
        self.requested = False
        self.state = ABORTED
        self.aborted += 1
        self.ctx.emit(EV_APT_CAL_ABORTED, [why, steps], why)

    def update(self):
        c = self.cal
        if c is None:
            st = self.apt.state
            if st == APT_IDLE:  # no session (or not started): the next may calibrate again
                self._tried = False  # (a TC's request stands until the session ends)
                return
            # (inline: a call costs ~1.4 k instructions, and this runs at 10 Hz in TRACK)
            if st != APT_TRACK or not (self.requested or (not self._tried and self._due())):
                return
            c = self._load()
            if c is None:
                return
        c.update()
        for k in _CARRIED:  # (HK and the commands read the owner's)
            setattr(self, k, getattr(c, k))
        # Ended, or no longer armed (loaded again when armed in TRACK).  Once idle its
        # step is off the mirror and its feed-forward is 0, as NO_CAL's (``busy`` only
        # asks one more frame() to zero it): dropped at once.
        if c.run == RUN_IDLE and (self.apt.state != APT_TRACK or (
                not self.requested and (self._tried or not self._due()))):
            self._drop()

    def _due(self):
        """An automatic calibration is due this session (``apt_cal_auto``)."""
        p = self.ctx.params
        auto = p["apt_cal_auto"]
        return auto == 2 or (auto == 1 and not p["apt_cal_valid"])

    def _load(self):
        """The run, loaded and built (it sets ``apt.cal``); None when the heap has no
        room for it: MODULE_LOAD_FAILED (flight/lazy.py), and this attempt aborted."""
        try:
            c = lazy.make(RUN_MODULE, "FsmCal", self.ctx.emit, self.ctx, self.apt,
                          self.period_us)
        except lazy.LoadFailed:
            self.apt.cal = NO_CAL
            self._tried = True  # (an automatic one is not retried every 100 ms)
            self._aborted("no heap for the calibration", 0)
            return None
        for k in _CARRIED:
            setattr(c, k, getattr(self, k))
        c.raw = self.raw
        self.cal = c
        return c

    def _drop(self):
        """The run ended (or the session did): its outcome kept (carried out at each
        update), its object and code released (a ``gc.collect()`` frees them)."""
        c = self.cal
        if c is not None:
            c.close()
        self.cal = None
        self.apt.cal = NO_CAL
        lazy.release(RUN_MODULE)

    # ------------------------------------------------------------------ telemetry
    def hk(self, values, i):
        values[i] = self.state
        values[i + 1] = self.accepted

    def hk_diag(self, values, i):
        r = self.raw  # (the run writes this array: the result, accepted or refused)
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

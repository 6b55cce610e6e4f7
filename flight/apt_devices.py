"""The APT's devices failing: their events and the APT's answer to each (docs/design.md
§3.3 "The APT's devices failing").  Every failure is counted and said, and ends where
nothing acts on a dead device's last state:

* **the downlink laser's switch does not obey**: APT_LASER_FAULT, and the switch is set
  again at every ADCS feedback tick (5 Hz, in any state) until it obeys (:func:`laser`;
  said at the 1st, 2nd, 4th ... failure).
  Before stop 58 one failed "off" at TRACK → LOST left the laser on for good;
* **mirror commands fail**: APT_FSM_ERROR (1st, 101st ... failure); failing on
  :data:`FSM_FAIL_RUN` frames in a row the mirror is taken for faulty, as its driver's
  fault line says it (APT_FSM_FAULT: laser off, mirror parked, APT idle) — the loop was
  steering nothing, its frozen command in HK and the ADCS feedback;
* **the camera falls silent** (no new frame) **or repeats its last frame** (the frame
  counter of the frame's metadata unchanged, hal.interfaces META_FRAME_COUNTER): after
  ``apt_frame_timeout_ms`` without a new frame in ACQUIRE or TRACK, APT_CAMERA_ERROR
  ("no new frame ...") and LOST: the laser off, nothing valid to the ADCS.  Before, a
  silent camera left TRACK with the laser on and the ADCS fed a frozen error;
* **the camera flags a frame bad** (``read_roi`` False: a dropped line, a stream error) **or
  its metadata is implausible** (the exposure or the gain it says the frame was taken with
  outside the camera's own range, hal.interfaces META_EXPOSURE_US / META_GAIN_X16: a
  corrupted header, whose exposure the predictor would use as the frame's): the frame is
  skipped as a camera error (APT_CAMERA_ERROR, 1st, 101st ...; ``apt_camera_errors``), not
  taken for a frame without the beacon (:func:`checked`, :func:`meta_bad`).  A camera that
  flags every frame still ends in LOST after ``apt_lost_frames``: there is no measurement.
  Before stop 59 a flagged frame counted only as a frame without a spot, and a header's
  exposure went to the predictor unchecked.

Only the error paths run here: the frame tick's own path stays in flight/apt.py.
"""

from array import array

from flight.events import SEV_ERROR, SEV_WARN, Event
from hal.compat import const
from hal.errors import HalError, SensorError
from hal.interfaces import APT_ACQUIRE, APT_IDLE, APT_LOST, APT_TRACK, SW_LASER_850

EV_APT_FSM_FAULT = const(0x51)
EV_APT_CAMERA_ERROR = const(0x52)
EV_APT_FSM_ERROR = const(0x56)
EV_APT_LASER_FAULT = const(0x57)
EVENTS = (  # (part of flight/apt.py's EVENTS)
    Event(EV_APT_FSM_FAULT, "APT_FSM_FAULT", SEV_ERROR,
          "mirror fault (its driver's fault line, or its commands failing frame after "
          "frame): parked, APT idle"),
    Event(EV_APT_CAMERA_ERROR, "APT_CAMERA_ERROR", SEV_WARN,
          "camera read failed, or the frame flagged bad or its metadata implausible: "
          "frame skipped (1st, 101st, ... time); or no new frame for apt_frame_timeout_ms: "
          "LOST", (("count", "int"),)),
    Event(EV_APT_FSM_ERROR, "APT_FSM_ERROR", SEV_WARN,
          "mirror command failed (1st, 101st, ... time)", (("count", "int"),)),
    Event(EV_APT_LASER_FAULT, "APT_LASER_FAULT", SEV_ERROR,
          "downlink laser switch failed (1st, 2nd, 4th ... time): set again at 5 Hz",
          (("on", "bool"),)),
)

class Watch:
    """The state of the APT's device watch and of its frame-phase search (flight/apt_phase.py),
    held apart from the APT's own attributes (fewer on the instance the tick reads)."""

    def __init__(self):
        self.laser_want = False  # what the laser switch was last told (set again until so)
        self.silent = 0  # frame ticks without a new frame, since frames last came
        self.silent_max = 1  # apt_frame_timeout_ms in frame ticks (Apt._load_params)
        self.silent_since = -2  # Apt.frames when this silence began
        self.fail_run = 0  # mirror commands failing on consecutive valid frames
        self.fail_frame = -2  # Apt.valid_frames at the last failure
        self.phase_left = 0  # the phase search's ticks left (flight/apt_phase.py)
        self.phase_moved = 0
        self.phase_ready = False
        self.phase_ctr = -1  # the frame counter the follow last looked at
        self.phase_far = False  # the follow's last error was >= 1 ms (said once)
        self.phase_i = 0  # the follow's learnt rate, q4 µs a tick (flight/apt_phase.py)
        self.phase_last = 0  # the follow's last correction, µs a tick


# The meta array's slots after the camera's four (hal.interfaces META_*): the last frame
# counter seen (-2: none), then the camera's exposure (µs) and gain (x16) ranges, there so
# the tick checks a frame's metadata with array reads only (no attribute lookup a frame).
M_LAST = const(4)
M_EXP_LO = const(5)
M_EXP_HI = const(6)
M_GAIN_LO = const(7)
M_GAIN_HI = const(8)
_FLAGGED = SensorError("the camera flagged the frame bad")  # (made once: no heap a frame)


def new_meta(camera):
    """The APT's metadata array for ``camera``: its four fields, the last counter, and
    the ranges a frame's exposure and gain must lie in (the camera's own, hal.contracts
    Camera: ``exposure_min_us`` .. ``exposure_max_us``, ``gain_min`` .. ``gain_max``)."""
    return array("i", [0, 0, 0, 0, -2, int(camera.exposure_min_us), int(camera.exposure_max_us),
                       int(camera.gain_min * 16 + 0.5), int(camera.gain_max * 16 + 0.5)])


def checked(apt, ok):
    """A window read's result (``read_roi``'s ``ok``) with the frame checked: False, as a
    camera error, when the camera flagged it bad or its metadata is implausible."""
    if not ok:
        flagged(apt)
        return False
    m = apt._meta
    if m[M_EXP_LO] <= m[1] <= m[M_EXP_HI] and m[M_GAIN_LO] <= m[2] <= m[M_GAIN_HI]:
        return True
    return meta_bad(apt)


def flagged(apt):
    """The camera flagged the frame bad: a camera error, not a frame without the beacon."""
    camera_error(apt, _FLAGGED)


def meta_bad(apt):
    """The frame's exposure or gain is outside the camera's range: a corrupted header, the
    frame skipped as a camera error (its values said).  False: the frame is not used."""
    apt.camera_errors += 1
    if apt.camera_errors % ERR_REPORT == 1:
        m = apt._meta
        apt.ctx.emit(EV_APT_CAMERA_ERROR, [apt.camera_errors],
                     "frame %d's metadata implausible (exposure %d us, gain x16 %d; the "
                     "camera's %d..%d us, %d..%d): frame skipped" % (
                         m[0], m[1], m[2], m[M_EXP_LO], m[M_EXP_HI], m[M_GAIN_LO],
                         m[M_GAIN_HI]))
    return False


ERR_REPORT = const(100)  # a repeated device error is reported on its 1st, 101st, ... time
# Mirror commands failing on this many frames in a row: a mirror fault (assumed: 10
# frames, 70 ms at 7 ms frames — a bus glitch fails one or two, a dead DAC all).
FSM_FAIL_RUN = const(10)


def laser(apt, on):
    """Switch the downlink laser (SW_LASER_850) to ``on``; a failure is counted and said,
    and :meth:`flight.apt.Apt.feedback` (5 Hz) sets it again until it obeys."""
    apt.dv.laser_want = on
    if on == apt.laser_on:
        return
    try:
        apt.power.set(SW_LASER_850, on)
    except HalError as e:
        apt.laser_faults += 1
        n = apt.laser_faults
        if n & (n - 1) == 0:
            apt.ctx.emit(EV_APT_LASER_FAULT, [on], "laser850: %r (%d failures)" % (e, n))
        return
    apt.laser_on = on
    if apt.on_laser is not None:
        apt.on_laser(on)


def fsm_error(apt):
    """A mirror command failed: counted, said (1st, 101st, ...); on FSM_FAIL_RUN frames in
    a row (valid frames without a good command between them) a mirror fault."""
    apt.fsm_errors += 1
    if apt.fsm_errors % ERR_REPORT == 1:
        apt.ctx.emit(EV_APT_FSM_ERROR, [apt.fsm_errors])
    f = apt.valid_frames
    apt.dv.fail_run = apt.dv.fail_run + 1 if f - apt.dv.fail_frame <= 1 else 1
    apt.dv.fail_frame = f
    if apt.dv.fail_run >= FSM_FAIL_RUN and apt.state != APT_IDLE:
        fsm_fault(apt, "%d mirror commands in a row failed" % apt.dv.fail_run)


def fsm_fault(apt, why=""):
    """The mirror is faulty: the laser off, the mirror parked, the APT idle."""
    apt.fsm_faults += 1
    apt.dv.fail_run = 0
    apt.ctx.emit(EV_APT_FSM_FAULT, None, why)
    apt._laser(False)
    apt._park()
    apt._enter(APT_IDLE)


def camera_error(apt, e):
    apt.camera_errors += 1
    if apt.camera_errors % ERR_REPORT == 1:
        apt.ctx.emit(EV_APT_CAMERA_ERROR, [apt.camera_errors], repr(e))


def no_new_frame(apt):
    """A frame tick without a new frame (none ready, or the last one again); after
    ``apt_frame_timeout_ms`` of them in ACQUIRE or TRACK, the camera is silent: LOST."""
    apt.stale_frames += 1
    if apt.frames != apt.dv.silent_since:  # frames came since the last silence: a new one
        apt.dv.silent_since = apt.frames
        apt.dv.silent = 0
    apt.dv.silent += 1
    st = apt.state
    if apt.dv.silent >= apt.dv.silent_max and (st == APT_TRACK or st == APT_ACQUIRE):
        apt.camera_errors += 1
        apt.ctx.emit(EV_APT_CAMERA_ERROR, [apt.camera_errors],
                     "no new frame for %d ms: LOST" % (apt.dv.silent * apt.period_us // 1000))
        apt.valid = False  # (the ADCS feedback's last spot is no measurement now)
        apt._enter(APT_LOST)  # (LOST: the laser off; SEARCH, LOST have their own timeouts)

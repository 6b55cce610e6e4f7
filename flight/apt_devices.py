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
  silent camera left TRACK with the laser on and the ADCS fed a frozen error.

Only the error paths run here: the frame tick's own path stays in flight/apt.py.
"""

from flight.events import SEV_ERROR, SEV_WARN, Event
from hal.compat import const
from hal.errors import HalError
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
          "camera read failed, frame skipped (1st, 101st, ... time); or no new frame for "
          "apt_frame_timeout_ms: LOST", (("count", "int"),)),
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

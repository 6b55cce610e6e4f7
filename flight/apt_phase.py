"""The frame's phase: the APT task's ticks put at the camera's frames (docs/apt-loop.md §5
"The frame's phase").

The predictor times everything from the frame tick and assumes the frame it reads was
latched at that tick; the camera runs on its own frame clock, the APT task on the
scheduler's.  A session's first SEARCH ticks therefore find the phase: each tick consumes
the frame (a 1 × 1 window) and comes ``STEP_US`` earlier than the last (the task's period
is shortened for it, ``S_PERIOD_US`` of its scheduler row: the scheduler reads it after the
tick); the first tick that finds no new frame lies within ``STEP_US`` before the next
one, so the tick after it comes ``STEP_US`` later than a period, at the frame or at most
``STEP_US`` after it; the period is the frame's again from the next tick.  It costs at
most ``period / STEP_US + 2`` SEARCH ticks (0.5 s at 7 ms) before the dark frames.

Found at stop 58: a payload restarted mid-pass (scenario ``reboot-mid-pass``) ticked
6.2 ms after the frames and the predictor's loop did not hold (120–150 µrad).  Not done
here: following the drift of the two oscillators during a session (docs/apt-loop.md).
"""

from flight.events import SEV_INFO, Event
from flight.scheduler_telemetry import S_PERIOD_US
from hal.compat import const
from hal.errors import HalError

STEP_US = const(100)  # the search's step: the tick lands 0 .. STEP_US after the frame
# Its own component, "aptphase" (flight/components.py): apt's range 0x5_ is full; 0x9_
# takes what full ranges cannot (flight/bias_knee.py's 0x90).
EV_APT_FRAME_PHASE = const(0x91)
EVENTS = (
    Event(EV_APT_FRAME_PHASE, "APT_FRAME_PHASE", SEV_INFO,
          "the APT task's ticks moved onto the camera's frames (µs earlier; -1: not found)",
          (("moved_us", "int"),)),
)
_RESTORE = const(-1)  # phase_left: the lock tick is done, the period back at the next


def start(apt):
    """Arm the search (a session's start); a rig without the scheduler has no phase."""
    task = apt.law.frame_task
    apt.dv.phase_left = apt.period_us // STEP_US + 2 if task is not None else 0
    apt.dv.phase_moved = 0
    apt.dv.phase_ready = False


def step(apt):
    """One SEARCH tick of the search; False when SEARCH's own step should run too."""
    row = apt.law.frame_task.row
    if apt.dv.phase_left == _RESTORE:
        row[S_PERIOD_US] = apt.period_us
        apt.dv.phase_left = 0
        return False
    cam = apt.camera
    try:
        ready = cam.frame_ready()
        if ready:
            cam.read_roi(apt.win_x0, apt.win_y0, 1, 1, 1, apt.trk_buf, apt._meta)
    except HalError as e:
        apt._camera_error(e)
        _end(apt, row, -1)
        return True
    apt.dv.phase_left -= 1
    if apt.dv.phase_ready and not ready:  # the next frame comes within STEP_US
        row[S_PERIOD_US] = apt.period_us + STEP_US
        apt.dv.phase_moved -= STEP_US
        _end(apt, row, apt.dv.phase_moved)
        apt.dv.phase_left = _RESTORE
        return True
    apt.dv.phase_ready = ready
    if apt.dv.phase_left <= 0:  # no frame edge found (no frames): as it was
        _end(apt, row, -1)
        return True
    row[S_PERIOD_US] = apt.period_us - STEP_US
    apt.dv.phase_moved += STEP_US
    return True


def _end(apt, row, moved):
    if moved < 0:
        row[S_PERIOD_US] = apt.period_us
        apt.dv.phase_left = 0
    apt.ctx.emit(EV_APT_FRAME_PHASE, [moved])

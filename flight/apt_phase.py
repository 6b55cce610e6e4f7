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
6.2 ms after the frames and the predictor's loop did not hold (120–150 µrad).

**Followed** (:func:`follow`, stop 60): the two oscillators differ (20 ppm: a 7 ms frame of
slip every 350 s; hal/sim/frameclock.py), so the phase the search found walks off during
the session.  Each window read reports its frame's age at the read, counted by the
camera (hal.interfaces META_FRAME_AGE_US); the APT's 5 Hz feedback task compares it with
``TARGET_AGE_US`` and sets the APT task's period, through its scheduler row, so that the
ticks make up the difference over the next ``FOLLOW_US``: a phase-locked loop, the
period only (the release grid stays the scheduler's, no release is moved into the past).
The age is taken at the tick's release: a tick started late (another task ran over its
release) read its frame later by that much, which is no phase error.
"""

from flight.events import SEV_INFO, Event
from flight.scheduler_telemetry import S_PERIOD_US
from hal.compat import const, ticks_add, ticks_diff
from hal.errors import HalError
from hal.interfaces import APT_IDLE, META_FRAME_AGE_US, META_FRAME_COUNTER

STEP_US = const(100)  # the search's step: the tick lands 0 .. STEP_US after the frame
# The frame's age at the read the follow holds: the middle of what the search leaves
# (0 .. STEP_US).  On the board the read's latch comes ~20-40 µs of instructions after the
# tick's frame_ready (docs/apt-loop.md §5): the frame is ready at the tick with margin.
TARGET_AGE_US = const(50)
FOLLOW_US = const(200000)  # the follow's period: the APT's adcs_feedback task runs it
# A frame's period of change a tick at most (a relock after the camera restarted: 3.5 ms
# in 35 ticks), and the error that is said (APT_FRAME_PHASE) when the follow starts on it.
_D_MAX_US = const(100)
_FAR_US = const(1000)
_I_MAX = const(160)  # the rate learnt, at most 10 µs a tick (1 400 ppm), q4
# Its own component, "aptphase" (flight/components.py): apt's range 0x5_ is full; 0x9_
# takes what full ranges cannot (flight/bias_knee.py's 0x90).
EV_APT_FRAME_PHASE = const(0x91)
EVENTS = (
    Event(EV_APT_FRAME_PHASE, "APT_FRAME_PHASE", SEV_INFO,
          "the APT task's ticks moved onto the camera's frames (µs earlier; -1: not found; "
          "the follow: the frames' age at the ticks off its target by that much)",
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


def follow(apt):
    """The frames' phase followed (module docstring), every ``FOLLOW_US``: the APT task's
    period for the next interval from the latest read's frame age.  Nothing while the
    search runs or without a scheduler; the nominal period when idle or when no frame
    was read since the last look (frames stopped: nothing to follow)."""
    task = apt.law.frame_task
    if task is None or apt.dv.phase_left:
        return
    row = task.row
    p = apt.period_us
    m = apt._meta
    ctr = m[META_FRAME_COUNTER]
    age = m[META_FRAME_AGE_US]
    if apt.state == APT_IDLE or ctr == apt.dv.phase_ctr or age > p + p:
        row[S_PERIOD_US] = p
        apt.dv.phase_ctr = ctr
        apt.dv.phase_i = 0
        apt.dv.phase_last = 0
        return
    apt.dv.phase_ctr = ctr
    # The age at the read less the tick's start after its release (another task ran late:
    # the frame was read later, not released later): the age at the release.  The last
    # run's release: the next one less the period the row held for it (set only here).
    e = age - ticks_diff(task.last_start, ticks_add(task.next_release, -row[S_PERIOD_US])) \
        - TARGET_AGE_US
    if e > p >> 1:  # (the next frame is nearer: come later, to it)
        e -= p
    elif e < -(p >> 1):
        e += p
    far = e >= _FAR_US or e <= -_FAR_US
    if far and not apt.dv.phase_far:
        apt.ctx.emit(EV_APT_FRAME_PHASE, [e])
    apt.dv.phase_far = far
    n = FOLLOW_US // p
    # Within a step's worth of the target (a period's µs over the interval's ticks: the
    # finest change) the ticks are left as they go: every period change moves the ticks
    # against the mirror's millisecond timer, and the aim is the better for fewer
    # (seeds 1-3, 0.06 µrad).  Beyond it, the error over the interval's ticks, rounded.
    # Corrections the same way in two intervals running are a rate the clocks are apart
    # by, not noise: learnt (q4 µs a tick, a quarter of the error's share each time), so
    # that a fast drift is followed without lag; never from a larger error (a relock).
    i = apt.dv.phase_i
    d = 0
    if e > n or e < -n:
        d = (e + (n >> 1)) // n
        if -4 <= d <= 4 and apt.dv.phase_last and (d > 0) == (apt.dv.phase_last > 0):
            i += (e * 4 + (n >> 1)) // n
            i = _I_MAX if i > _I_MAX else (-_I_MAX if i < -_I_MAX else i)
            apt.dv.phase_i = i
    apt.dv.phase_last = d
    d += (i + 8) >> 4
    if d > _D_MAX_US:
        d = _D_MAX_US
    elif d < -_D_MAX_US:
        d = -_D_MAX_US
    row[S_PERIOD_US] = p - d

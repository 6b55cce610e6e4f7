"""The frames' phase followed (flight/apt_phase.py ``follow``, docs/apt-loop.md §5 "The
frame's phase"): every 200 ms the APT's feedback task reads the latest frame's age
(hal.interfaces META_FRAME_AGE_US), takes the tick's start after its release off it,
and sets the APT task's period for the next interval so that the ticks make up the
difference to TARGET_AGE_US — never while the session's phase search runs, the nominal
period when idle or when no frame came.

Plain test functions: CPython, the MicroPython VM, the unix port and the M7 image."""

from flight import apt as A
from flight import apt_phase as ph
from flight.apt_phase import EV_APT_FRAME_PHASE, FOLLOW_US, TARGET_AGE_US
from flight.scheduler import Task
from flight.scheduler_telemetry import S_PERIOD_US
from hal.compat import ticks_add
from hal.interfaces import META_FRAME_AGE_US, META_FRAME_COUNTER

from kit import rig

P = 10000  # the kit's APT: its camera's frame (tests/mpy/fakes.py FakeCamera), 10 ms
N = FOLLOW_US // P  # ticks an interval


def _apt():
    r = rig("apt", err=(0.001, 0.001))
    r.until(A.TRACK, 80)
    apt = r.apt
    t = Task("apt", apt.period_us, apt.tick)
    apt.law.frame_task = t
    apt.dv.phase_left = 0  # (the search done)
    return r, apt, t


def _read(apt, t, age, late=0, release=1000000):
    """A frame read by the last tick (released at ``release``, started ``late`` after)
    whose age at the read was ``age``; the scheduler's next release after it."""
    m = apt._meta
    m[META_FRAME_COUNTER] = (m[META_FRAME_COUNTER] + 1) & 0xFFFF
    m[META_FRAME_AGE_US] = age
    t.last_start = ticks_add(release, late)
    t.next_release = ticks_add(release, t.row[S_PERIOD_US])


def _d(e):
    return (e + (N >> 1)) // N  # the change a tick for an error ``e`` (µs)


def test_the_follow_spreads_the_error_over_the_interval():
    r, apt, t = _apt()
    assert apt.period_us == P
    _read(apt, t, TARGET_AGE_US + 300)  # the tick 300 µs late after its frame: earlier
    ph.follow(apt)
    assert t.row[S_PERIOD_US] == P - _d(300) and _d(300) == 15
    _read(apt, t, TARGET_AGE_US - 30)  # 30 µs early: later
    ph.follow(apt)
    assert t.row[S_PERIOD_US] == P + 1
    _read(apt, t, TARGET_AGE_US + 5)  # within the dead band: the frame's period
    ph.follow(apt)
    assert t.row[S_PERIOD_US] == P


def test_a_tick_started_late_is_no_phase_error():
    # (another task ran over the release: the frame was read 600 µs later, not released later)
    r, apt, t = _apt()
    _read(apt, t, TARGET_AGE_US + 600, late=600)
    ph.follow(apt)
    assert t.row[S_PERIOD_US] == P


def test_an_age_near_a_period_is_the_next_frame_near():
    # read a period less 100 µs after its frame: the next one completes 100 µs after
    # the tick's release, so the ticks come later (to it), not a period earlier
    r, apt, t = _apt()
    _read(apt, t, P - 100)
    ph.follow(apt)
    assert t.row[S_PERIOD_US] == P - _d(-100 - TARGET_AGE_US) > P


def test_a_far_error_is_said_once_and_the_change_is_bounded():
    r, apt, t = _apt()
    r.ctx.events = []
    _read(apt, t, 3000)  # (a camera restarted: 2.95 ms off)
    ph.follow(apt)
    assert t.row[S_PERIOD_US] == P - 100  # (at most 100 µs a tick: 2 ms an interval)
    _read(apt, t, 3000 - 100 * N)
    ph.follow(apt)
    assert t.row[S_PERIOD_US] == P - _d(3000 - 100 * N - TARGET_AGE_US)
    said = [e for e in r.ctx.events if e[0] == EV_APT_FRAME_PHASE]
    assert len(said) == 1 and said[0][1] == [3000 - TARGET_AGE_US]


def test_nothing_to_follow_gives_the_frame_period_back():
    r, apt, t = _apt()
    _read(apt, t, TARGET_AGE_US + 400)
    ph.follow(apt)
    assert t.row[S_PERIOD_US] < P
    ph.follow(apt)  # no frame read since: the frames stopped
    assert t.row[S_PERIOD_US] == P
    _read(apt, t, TARGET_AGE_US + 400)
    apt.stop_session()  # IDLE
    ph.follow(apt)
    assert t.row[S_PERIOD_US] == P


def test_the_session_search_is_left_alone():
    r, apt, t = _apt()
    apt.dv.phase_left = 5  # (flight/apt_phase.py step: it owns the period meanwhile)
    t.row[S_PERIOD_US] = P - ph.STEP_US
    _read(apt, t, TARGET_AGE_US + 400)
    ph.follow(apt)
    assert t.row[S_PERIOD_US] == P - ph.STEP_US


def test_a_rig_without_a_scheduler_has_no_follow():
    r = rig("apt", err=(0.001, 0.001))
    r.until(A.TRACK, 80)
    assert r.apt.law.frame_task is None
    ph.follow(r.apt)  # (nothing to set, no error)
    assert r.apt.state == A.TRACK


def test_a_steady_drift_is_learnt_as_a_rate():
    # the camera slower than the ticks by 3 µs a tick (its frames 3 N µs later each
    # interval, 300 ppm at 10 ms): corrections the same way twice running are learnt
    # as a rate, and the ticks then keep pace near the target without a standing lag
    r, apt, t = _apt()
    age = TARGET_AGE_US
    periods = []
    errs = []
    for _ in range(40):
        _read(apt, t, age)
        ph.follow(apt)
        periods.append(t.row[S_PERIOD_US])
        age += (t.row[S_PERIOD_US] - P - 3) * N
        errs.append(age - TARGET_AGE_US)
    assert apt.dv.phase_i <= -16  # (q4: 1 µs a tick or more learnt, the longer way)
    assert sum(periods[-10:]) == 10 * (P + 3)  # (on average the camera's own period)
    assert max(abs(e) for e in errs[-10:]) <= 2 * N


def test_the_follow_is_in_the_diagnostic_housekeeping():
    # the operator's view of it: the last read's frame age and the period it set
    r, apt, t = _apt()
    _read(apt, t, TARGET_AGE_US + 300)
    ph.follow(apt)
    d = r.hk("apt", diag=True)
    assert d["apt_frame_age_us"] == TARGET_AGE_US + 300
    assert d["apt_period_us"] == P - _d(300) == t.row[S_PERIOD_US]
    apt.law.frame_task = None  # (a rig without the scheduler: the frame's period)
    assert r.hk("apt", diag=True)["apt_period_us"] == P

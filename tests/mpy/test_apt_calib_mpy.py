"""The FSM calibration's hot path under MicroPython (flight/apt_calib.py, issue 14.3):
an APT tick in TRACK with the calibration stepping the mirror allocates nothing.

Plain test functions on the kit (tests/mpy/kit.py); runs under CPython and inside the
MicroPython VM (heap-locked there)."""

from array import array

from flight import apt as A
from flight import apt_calib as K
from flight.apt_calib_run import DRIFT_N

from kit import cal_rig

try:
    import micropython
except ImportError:  # CPython: the heap lock is a MicroPython facility
    micropython = None


def _tracking():
    r = cal_rig({"apt_cal_settle_s": 0.0, "apt_cal_auto": 0})
    r.tick(10)
    return r.ctx, r.cam, r.fsm, r.apt, r.owner


def test_calibration_steps_in_track_allocate_nothing():
    ctx, cam, fsm, apt, owner = _tracking()
    assert apt.cal is K.NO_CAL  # no run until one is armed
    owner.cmd_fsm_calibrate({}, None)
    for _ in range(DRIFT_N + 1):  # the task starts it (events, floats: outside the tick)
        owner.update()  # once it has seen the mirror's drift over a second
        apt.tick()
    cal = apt.cal  # the run (flight/apt_calib_run.py)
    assert cal.run == K.RUN_INJECT and ctx.named(K.EV_APT_CAL_START)
    cam.replay = array("H", apt.trk_buf)  # the last 16x16 TRACK frame
    apt.tick()  # first use of the replay path, outside the lock
    sent0 = cal.sent
    codes = []
    if micropython is not None:
        micropython.heap_lock()
    try:
        for _ in range(24):
            apt.tick()
    finally:
        if micropython is not None:
            micropython.heap_unlock()
    assert cal.sent == sent0 + 24 and cal.run == K.RUN_INJECT
    assert apt.state == A.TRACK and (apt.fsm_errors, apt.invalid_frames) == (0, 0)
    # the mirror carries the step: the command is the law's plus ±step
    codes.append((fsm.cx - (apt.law.u_x >> 8), fsm.cy - (apt.law.u_y >> 8)))
    a = ctx.params["apt_cal_step_codes"]
    assert codes[0][0] in (a, -a) and codes[0][1] in (a, -a)
    assert isinstance(cal.sums[0], int) and isinstance(cal.ff_x, int)


def test_idle_calibration_leaves_the_mirror_to_the_loop():
    ctx, cam, fsm, apt, owner = _tracking()
    for _ in range(5):
        apt.tick()
        owner.update()
    cal = apt.cal
    assert cal is K.NO_CAL and owner.cal is None  # not armed: nothing loaded
    assert cal.run == K.RUN_IDLE and cal.d_x == cal.d_y == cal.ff_x == cal.ff_y == 0
    assert (fsm.cx, fsm.cy) == (apt.law.u_x >> 8, apt.law.u_y >> 8)
    assert not ctx.named(K.EV_APT_CAL_START)  # apt_cal_auto 0: only by command

"""The frame's phase (flight/apt_phase.py, docs/apt-loop.md §5 "The frame's phase"): a
session's first SEARCH ticks put the APT task's ticks at the camera's frames.  The
payload restarted mid-pass (``reboot-mid-pass``: its new scheduler's grid 6.2 ms after
the frames) ticked off the frames and the predictor's loop did not hold (120–150 µrad
after the reset, stop 57); the search moves the ticks onto the frames and the loop holds
as before the reset."""

import math

import pytest

from flight import apt_phase
from flight.apt_search import TRACK_WIN
from hal.interfaces import CAMERA_FRAME_PERIOD_US
from sim.run import passsim
from sim.run.tmview import APT_TRACK


@pytest.fixture(scope="module")
def restarted():
    """The pass with its reset, and the frame ages (µs, hal.interfaces META_FRAME_AGE_US)
    of the APT's 16 x 16 reads as (time, age)."""
    from hal.sim import devices

    read = devices.SimCamera.read_roi
    ages = []

    def watched(self, x0, y0, w, h, b, buf, meta):
        ok = read(self, x0, y0, w, h, b, buf, meta)
        if w == TRACK_WIN:
            ages.append((self.world.t, meta[3]))
        return ok

    devices.SimCamera.read_roi = watched
    try:
        res = passsim.fly("reboot-mid-pass", seed=1, duration_s=185.0)
    finally:
        devices.SimCamera.read_roi = read
    res.ages = ages
    return res


def phases(res, boot):
    return [e.get("args")[0] for _t, b, e in res.obc.events
            if b == boot and e.get("name") == "APT_FRAME_PHASE"]


def rms_urad(res, t0, t1):
    ts, xs, ys, st = res.rec.fine
    v = [xs[i] * xs[i] + ys[i] * ys[i] for i in range(len(ts))
         if t0 <= ts[i] < t1 and st[i] == APT_TRACK]
    assert len(v) > 5000  # (TRACK for > 5 s of the window)
    return math.sqrt(sum(v) / len(v)) * 1e6


def median_age(res, t0, t1):
    a = sorted(age for t, age in res.ages if t0 <= t < t1)
    assert len(a) > 500
    return a[len(a) // 2]


def test_each_session_moves_its_ticks_onto_the_camera_s_frames(restarted):
    # the camera starts its frames at a phase of its own at each session's start
    # (hal/sim/frameclock.py): each boot's search moves the ticks by what it finds, once,
    # and the ticks then read each frame within ~0.1 ms of its completion (the follow
    # keeps them there: TARGET_AGE_US)
    for boot, (t0, t1) in ((0, (30.0, 150.0)), (1, (160.0, 185.0))):
        (moved,) = phases(restarted, boot)
        assert 0 <= moved < CAMERA_FRAME_PERIOD_US
        assert median_age(restarted, t0, t1) < 2 * apt_phase.TARGET_AGE_US + 50


def test_a_restarted_payload_is_at_the_frames_again(restarted):
    # the new scheduler's grid bears no relation to the camera's frames (restarted by
    # the new session): before the search, a tick 6.2 ms after the frames did not hold
    # the loop (stop 57); the search, then the follow, keep the period the frame's
    assert restarted.boot_times[1] == pytest.approx(150.0, abs=0.01)
    task = restarted.apps[-1].sched.tasks
    (apt_task,) = [t for t in task if t.name == "apt"]
    assert abs(apt_task.period_us - CAMERA_FRAME_PERIOD_US) <= 3  # (the follow's change a tick, 20 ppm)


def test_the_loop_holds_after_the_restart(restarted):
    before = rms_urad(restarted, 20.0, 150.0)
    after = rms_urad(restarted, 160.0, 185.0)
    assert before < 6.0 and after < 6.0  # (120-150 urad before the phase search)

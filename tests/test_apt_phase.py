"""The frame's phase (flight/apt_phase.py, docs/apt-loop.md §5 "The frame's phase"): a
session's first SEARCH ticks put the APT task's ticks at the camera's frames.  The
payload restarted mid-pass (``reboot-mid-pass``: its new scheduler's grid 6.2 ms after
the frames) ticked off the frames and the predictor's loop did not hold (120–150 µrad
after the reset, stop 57); the search moves the ticks onto the frames and the loop holds
as before the reset."""

import math

import pytest

from flight import apt_phase
from sim.run import passsim
from sim.run.tmview import APT_TRACK


@pytest.fixture(scope="module")
def restarted():
    return passsim.fly("reboot-mid-pass", seed=1, duration_s=185.0)


def phases(res, boot):
    return [e.get("args")[0] for _t, b, e in res.obc.events
            if b == boot and e.get("name") == "APT_FRAME_PHASE"]


def rms_urad(res, t0, t1):
    ts, xs, ys, st = res.rec.fine
    v = [xs[i] * xs[i] + ys[i] * ys[i] for i in range(len(ts))
         if t0 <= ts[i] < t1 and st[i] == APT_TRACK]
    assert len(v) > 5000  # (TRACK for > 5 s of the window)
    return math.sqrt(sum(v) / len(v)) * 1e6


def test_a_first_boot_is_already_at_the_frames(restarted):
    assert phases(restarted, 0) == [0]  # (the simulator's first boot: aligned)


def test_a_restarted_payload_moves_its_ticks_onto_the_frames(restarted):
    (moved,) = phases(restarted, 1)
    # the new scheduler's grid lies 6 174 us after the frames (the reset at 150.002174 s,
    # frames every 7 ms from 0): moved earlier by that, to within a step
    late = round((restarted.boot_times[1] * 1e6) % 7000)
    assert late - apt_phase.STEP_US < moved <= late
    task = restarted.apps[-1].sched.tasks
    (apt_task,) = [t for t in task if t.name == "apt"]
    assert apt_task.period_us == 7000  # the frame's period again after the search


def test_the_loop_holds_after_the_restart(restarted):
    before = rms_urad(restarted, 20.0, 150.0)
    after = rms_urad(restarted, 160.0, 185.0)
    assert before < 6.0 and after < 6.0  # (120-150 urad before the phase search)

"""Sub-frame mirror updates (issue 14.2; docs/apt-loop.md §4 "Mirror waveform"): the
predictor's 1 kHz waveform against one update a frame, and the honest world integrating
the mirror held between the waveform's samples (stale and missing predictor inputs:
tests/test_apt_wave.py)."""

from array import array

from hal.interfaces import FSM_WAVE_PERIOD_US
from hal.sim.world import make_world
from sim.fsm import Fsm


def test_sub_frame_updates_beat_one_mirror_update_a_frame():
    # The flight predictor around the honest linear plant (bench/apt_predict_margin.py):
    # the same predictions, played every 1 ms or held a frame from the frame's middle.
    from bench.apt_predict_margin import residual

    sub = residual(1.0, {}, seconds=6.0)
    held = residual(1.0, {}, seconds=6.0, per_frame=True)
    assert sub < 0.95 * held, (sub, held)


def _played(jumps):
    w = make_world("nominal", seed=1, fine_us=1000, fsm_latency_us=500,
                   wave_timing="exact")  # (the board's tick: tests/test_apt_wave.py)
    w.board = None
    xs = array("h", [1000, 3000, -2000, 500])
    w.fsm.play_wave(xs, array("h", [0, -700, 700, 0]), 4)
    for j in jumps:
        w.step(j)
    return w


def test_the_honest_world_holds_the_mirror_between_samples_whatever_the_clock_jumps():
    total = 6000
    a = _played([total])
    b = _played([300, 1200, 700, 1, 999, 2800])
    c = _played([250] * 24)
    for w in (b, c):
        assert abs(w.fsm_model.theta_x - a.fsm_model.theta_x) < 1e-12
        assert abs(w.fsm_model.theta_y - a.fsm_model.theta_y) < 1e-12
    # the same as the mirror model driven by hand: each code held from its output time
    # (the command latency, then one sample period apart), the dynamics exact in between
    m = a.fsm_model
    f = Fsm(fn_hz=m.fn_hz, zeta=m.zeta)
    f.set_gain_matrix(*m.gain_matrix)  # (the unit's gain error: sim/calib.py)
    t = 0
    for i, (cx, cy) in enumerate(((1000, 0), (3000, -700), (-2000, 700), (500, 0))):
        due = 500 + i * FSM_WAVE_PERIOD_US
        f.step((due - t) * 1e-6)
        f.command(cx, cy)
        t = due
    f.step((total - t) * 1e-6)
    assert f.theta_x > 1e-4 and abs(f.theta_x - a.fsm_model.theta_x) < 1e-12
    assert abs(f.theta_y - a.fsm_model.theta_y) < 1e-12
    # the residual's 1 kHz truth (the camera's exposure mean, the metrics) is taken at
    # each grid point with the mirror as it is then: between two held samples
    assert [h[0] for h in a.hist_samples()][-6:] == [1000, 2000, 3000, 4000, 5000, 6000]

"""The camera's frame rate as a HAL fact (issue 14.2 "the camera's ROI rate raised where the
sensor allows it"; docs/apt-loop.md §5 "A faster camera"): the periods a backend may
declare, the exposure a frame leaves, the APT ticking once a frame with the exposure ladder
cut at the camera's longest, and the simulator's ``--frame-rate``."""

import pytest

from flight.apt_exposure import EXPOSURES_US, GAINS_X16, Exposure
from hal.interfaces import (CAMERA_EXPOSURE_GAP_US, FSM_WAVE_MAX, FSM_WAVE_PERIOD_US, Camera,
                            check_frame_period)
from hal.sim.world import make_world


@pytest.mark.parametrize("us", [2 * FSM_WAVE_PERIOD_US, 5000, 8000, 10000,
                                FSM_WAVE_MAX * FSM_WAVE_PERIOD_US])
def test_frame_periods_of_whole_waveform_samples_are_accepted(us):
    assert check_frame_period(us) == us


@pytest.mark.parametrize("us", [0, -10000, FSM_WAVE_PERIOD_US, 1500, 3333, 10001,
                                (FSM_WAVE_MAX + 1) * FSM_WAVE_PERIOD_US])
def test_other_frame_periods_are_refused(us):
    with pytest.raises(ValueError, match="frame period"):
        check_frame_period(us)


def test_the_reference_camera_declares_a_valid_period_and_its_exposure_fits_it():
    from hal.real.camera import FpgaCamera

    for cam in (Camera, FpgaCamera):  # the contract's reference and the board's backend
        assert check_frame_period(cam.frame_period_us) == 10000
        assert cam.exposure_max_us == cam.frame_period_us - CAMERA_EXPOSURE_GAP_US


@pytest.mark.parametrize("rate,period,exp_max", [(100.0, 10000, 9000), (200.0, 5000, 4000),
                                                 (125.0, 8000, 7000), (500.0, 2000, 1000)])
def test_the_simulated_camera_follows_the_worlds_frame_rate(rate, period, exp_max):
    w = make_world("nominal", seed=1, frame_rate_hz=rate)
    assert w.frame_us == period
    assert w.camera.frame_period_us == period
    assert w.camera.exposure_max_us == exp_max
    w.camera.set_exposure(exp_max)
    with pytest.raises(ValueError):
        w.camera.set_exposure(exp_max + 1)  # longer than the frame leaves: refused


def test_a_world_at_an_unusable_frame_rate_is_refused():
    with pytest.raises(ValueError, match="frame period"):
        make_world("nominal", seed=1, frame_rate_hz=300.0)


class _Cam:
    """Records the exposures and gains set; refuses what the camera cannot do."""
    pixel_max = 1023

    def __init__(self, exposure_max_us):
        self.exposure_max_us = exposure_max_us
        self.set_us = []

    def set_exposure(self, us):
        assert 10 <= us <= self.exposure_max_us, us
        self.set_us.append(us)
        return us

    def set_gain(self, g):
        return g


def test_the_exposure_ladder_stops_at_the_cameras_longest_exposure():
    cam = _Cam(4000)
    e = Exposure(cam)
    assert EXPOSURES_US[e.top] <= 4000 < EXPOSURES_US[e.top + 1]
    e.configure(9000)  # apt_exp_max_us above what the camera can: the camera's longest
    assert e.max_idx == e.top
    e.set(len(EXPOSURES_US) - 1)  # the ladder's last: the camera's longest instead
    assert cam.set_us[-1] == EXPOSURES_US[e.top]
    for _ in range(200):  # a faint spot: longer, then the gain, never past the camera
        e.update(0, 100, 800)
    assert e.idx == e.top and e.gain == len(GAINS_X16) - 1
    assert max(cam.set_us) == EXPOSURES_US[e.top]
    e.configure(1000)
    assert EXPOSURES_US[e.max_idx] <= 1000


def test_the_reference_camera_keeps_the_whole_ladder():
    e = Exposure(_Cam(Camera.exposure_max_us))
    assert e.top == len(EXPOSURES_US) - 1 and EXPOSURES_US[e.top] == 9000


def _fly(rate, seconds):
    from sim.run import passsim

    apps = []
    res = passsim.fly("nominal", seed=2, overrides={"frame_rate_hz": rate}, app_hook=apps.append,
                      duration_s=seconds)
    return res, apps[0]


def test_at_200_hz_the_apt_ticks_every_5_ms_and_tracks_within_the_cameras_exposure():
    res, app = _fly(200.0, 27.0)
    apt = app.payload["apt"]
    task = [t for t in app.sched.tasks if t.name == "apt"][0]
    assert apt.period_us == task.period_us == 5000
    assert apt.law.frame_us == 5000 and apt.law.pred.designed
    assert apt.acquisitions >= 1 and apt.valid_frames > 1000
    assert apt.exposure.max_idx <= apt.exposure.top
    assert EXPOSURES_US[apt.exposure.top] <= res.world.camera.exposure_max_us == 4000
    assert task.faults == 0 and apt.camera_errors == 0
    # one frame a tick: hardly a stale tick (a tick that found no new frame)
    assert apt.stale_frames < apt.frames // 20, (apt.stale_frames, apt.frames)


def test_the_sim_cli_refuses_an_unusable_frame_rate(capsys):
    from sim.run import cli

    assert cli.main(["--frame-rate", "300", "--quiet"]) == 2
    assert "--frame-rate" in capsys.readouterr().err


def test_the_campaign_refuses_an_unusable_frame_rate_before_flying(capsys, tmp_path):
    from sim.run import campaign

    assert campaign.main(["--passes", "1", "--frame-rate", "300", "--quiet",
                          "--out", str(tmp_path)]) == 2
    assert "frame period" in capsys.readouterr().err
    assert not (tmp_path / "campaign.json").exists()

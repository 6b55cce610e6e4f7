"""The APT's devices failing (flight/apt_devices.py, design.md §3.3 "The APT's devices
failing"), on the APT rig: a silent camera, a frozen frame stream, mirror commands that
keep failing, a laser switch that does not obey — each counted, said, and ending with the
laser off and nothing valid fed to the ADCS."""

from array import array

from flight import apt as A
from flight import apt_devices as D
from hal.interfaces import SW_LASER_850
from tests.apt_rig import Rig


def tracking():
    rig = Rig(err=(0.001, 0.001))
    rig.until(A.TRACK, 80)
    assert rig.power.get(SW_LASER_850) and rig.apt.valid
    return rig


def silent_ticks(rig):
    """Frame ticks to the camera's timeout (apt_frame_timeout_ms)."""
    return rig.apt.dv.silent_max


def test_a_silent_camera_takes_track_to_lost_with_the_laser_off():
    rig = tracking()
    rig.cam.ready = False  # the sensor stops streaming
    n = silent_ticks(rig)
    assert n == rig.ctx.params["apt_frame_timeout_ms"] * 1000 // rig.apt.period_us
    rig.tick(n - 1)
    assert rig.apt.state == A.TRACK and rig.args(A.EV_APT_CAMERA_ERROR) == []
    rig.tick()
    assert rig.apt.state == A.LOST and not rig.power.get(SW_LASER_850)
    assert not rig.apt.valid  # the ADCS feedback is told: no measurement
    (text,) = rig.named(A.EV_APT_CAMERA_ERROR)
    assert text.startswith("no new frame for") and text.endswith("LOST")
    assert rig.apt.camera_errors == 1 and rig.apt.stale_frames == n
    rig.tick(3 * n)  # still silent: said once, counted as stale
    assert len(rig.named(A.EV_APT_CAMERA_ERROR)) == 1 and rig.apt.state == A.LOST
    rig.cam.ready = True  # frames again: the beacon is found, TRACK again
    rig.until(A.TRACK, 80)
    assert rig.power.get(SW_LASER_850)
    rig.cam.ready = False  # a short silence later: counted from its own start, tolerated
    rig.tick(n - 1)
    assert rig.apt.state == A.TRACK and len(rig.named(A.EV_APT_CAMERA_ERROR)) == 1


def test_a_frozen_frame_stream_is_no_new_frame():
    """The same frame again (its counter unchanged, hal.interfaces META_FRAME_COUNTER):
    not processed, counted as stale, and LOST at the camera's timeout."""
    rig = tracking()
    read = rig.cam.read_roi
    frozen = []

    def same_counter(x0, y0, w, h, b, buf, meta):
        ok = read(x0, y0, w, h, b, buf, meta)
        if not frozen:
            frozen.append(meta[0])
        meta[0] = frozen[0]
        return ok

    rig.cam.read_roi = same_counter
    valid = rig.apt.valid_frames
    rig.tick(silent_ticks(rig) + 1)
    assert rig.apt.state == A.LOST and not rig.power.get(SW_LASER_850)
    assert rig.apt.valid_frames == valid + 1  # the first of them only
    assert rig.named(A.EV_APT_CAMERA_ERROR)[0].startswith("no new frame")


def test_mirror_commands_failing_frame_after_frame_are_a_mirror_fault():
    rig = tracking()
    rig.fsm.fail = D.FSM_FAIL_RUN - 1  # a run one short: errors, no fault
    rig.tick(D.FSM_FAIL_RUN - 1)
    assert rig.apt.state == A.TRACK and rig.apt.fsm_faults == 0
    rig.tick(3)  # good commands again: the run restarts
    rig.fsm.fail = 1000
    rig.tick(D.FSM_FAIL_RUN - 1)
    assert rig.apt.state == A.TRACK
    rig.tick()
    assert rig.apt.state == A.IDLE and rig.apt.fsm_faults == 1
    assert not rig.power.get(SW_LASER_850)
    (text,) = rig.named(A.EV_APT_FSM_FAULT)
    assert text == "%d mirror commands in a row failed" % D.FSM_FAIL_RUN
    assert rig.args(A.EV_APT_FSM_ERROR) == [[1]]  # (1st, 101st, ...: counted each time)
    assert rig.apt.fsm_errors == 2 * D.FSM_FAIL_RUN - 1


def test_a_laser_switch_that_does_not_obey_is_set_again_until_it_does():
    """Set again at every ADCS feedback tick (5 Hz), in any state."""
    rig = tracking()
    tx = []
    rig.apt.on_laser = tx.append
    rig.power.fail = 3  # LOST's "off" and its next two retries fail
    rig.cam.beacon = False
    rig.until(A.LOST, 40)
    assert rig.power.get(SW_LASER_850) and rig.apt.laser_on  # still on: the switch failed
    rig.tick(5)
    assert rig.power.get(SW_LASER_850)  # (not in the frame tick)
    rig.apt.feedback()
    rig.apt.feedback()
    assert rig.power.get(SW_LASER_850)
    rig.apt.feedback()
    assert not rig.power.get(SW_LASER_850) and not rig.apt.laser_on and tx == [False]
    assert rig.apt.laser_faults == 3
    assert rig.args(A.EV_APT_LASER_FAULT) == [[False], [False]]  # the 1st and 2nd said


def test_a_camera_write_that_fails_is_a_camera_error_and_the_setting_is_kept():
    """An exposure or gain write raising (a bus error) was the APT task's fault (five of
    them: the task disabled for the session); now it is the APT's camera error, and the
    exposure the flight believes is the one the camera still has."""
    from hal.errors import BusError

    rig = tracking()
    ex = rig.apt.exposure
    idx, gain = ex.idx, ex.gain

    def fail(*_a):
        raise BusError("injected exposure write")

    rig.cam.set_exposure = fail
    rig.cam.set_gain = fail
    ex.set(idx + 1 if idx < ex.top else idx - 1)
    assert ex.raise_gain(1, 3) is False  # (refused by the camera, said)
    assert (ex.idx, ex.gain) == (idx, gain)
    assert rig.apt.camera_errors == 2
    assert "injected exposure write" in rig.named(A.EV_APT_CAMERA_ERROR)[0]
    rig.tick(5)
    assert rig.apt.state == A.TRACK  # the loop goes on


def test_a_frame_the_camera_flags_bad_is_a_camera_error_not_a_lost_beacon_frame():
    """read_roi False (a dropped line, a stream error: hal.contracts Camera.read_roi): the
    frame is skipped as a camera error and said; a short run of them keeps TRACK, a camera
    that flags every frame ends in LOST (no measurement) with its cause said."""
    rig = tracking()
    errors, steps = rig.apt.camera_errors, []
    law_step = rig.apt.law.step
    rig.apt.law.step = lambda *a: (steps.append(1), law_step(*a))
    rig.cam.flag_next = 2
    rig.tick(2)
    assert rig.apt.camera_errors == errors + 2 and steps == []
    assert rig.named(A.EV_APT_CAMERA_ERROR) == ["SensorError('the camera flagged the frame bad')"]
    assert rig.apt.state == A.TRACK
    rig.tick()
    assert steps == [1] and rig.apt.valid  # the next good frame is used
    rig.cam.flag_next = 10 ** 6
    rig.tick(rig.ctx.params["apt_lost_frames"])
    assert rig.apt.state == A.LOST and not rig.power.get(SW_LASER_850)
    assert rig.apt.camera_errors == errors + 2 + rig.ctx.params["apt_lost_frames"]


def test_a_frame_whose_metadata_is_implausible_is_skipped_as_a_camera_error():
    """The exposure or gain a frame's header gives outside the camera's range (a corrupted
    header): the frame is not used — its exposure would have gone to the predictor — and
    the camera error says the values."""
    rig = tracking()
    seen = []
    law_step = rig.apt.law.step
    rig.apt.law.step = lambda *a: (seen.append(rig.apt._meta[1]), law_step(*a))
    errors = rig.apt.camera_errors
    for bad in ((-1, 16), (rig.cam.exposure_max_us + 1, 16), (1000, 15), (1000, 129)):
        rig.cam.meta_next = bad
        rig.tick()
        assert rig.apt.state == A.TRACK
    assert seen == [] and rig.apt.camera_errors == errors + 4
    (text,) = rig.named(A.EV_APT_CAMERA_ERROR)  # (said at the 1st, 101st ... error)
    assert "metadata implausible (exposure -1 us, gain x16 16" in text
    rig.cam.meta_next = (rig.cam.exposure_max_us, 128)  # the range's ends are valid
    rig.tick()
    assert seen == [rig.cam.exposure_max_us] and rig.apt.camera_errors == errors + 4


def test_the_search_path_checks_the_frame_too():
    rig = Rig(err=(0.001, 0.001))
    buf = array("H", bytes(2 * 256))
    rig.cam.flag_next = 1
    errors = rig.apt.camera_errors
    assert rig.apt.read(0, 0, 16, 16, 1, buf) is False
    rig.cam.meta_next = (1000, 200)
    assert rig.apt.read(0, 0, 16, 16, 1, buf) is False
    assert rig.apt.read(0, 0, 16, 16, 1, buf) is True
    assert rig.apt.camera_errors == errors + 2


def _no_survey(rig):
    """The survey's look around the target (flight/apt_survey.py) asks the camera's
    status on its own frames: off, so every tick here is a tracking frame's."""
    sv = rig.apt.search.survey
    sv.every = sv.every_locked = 0
    sv.fast = False


def test_a_tracking_frame_is_read_without_a_status_read():
    """The window is read straight away and its counter says whether the frame is new:
    a tracking frame costs no STATUS read (docs/apt-loop.md §4 "The frame's read"); only
    a tick that finds the last frame again asks the status, and counts it stale."""
    rig = tracking()
    _no_survey(rig)
    asked = []
    ready = rig.cam.frame_ready
    rig.cam.frame_ready = lambda: asked.append(1) or ready()
    stale, frames = rig.apt.stale_frames, rig.cam.frames
    rig.tick(20)
    assert asked == [] and rig.cam.frames == frames + 20 and rig.apt.stale_frames == stale
    assert rig.apt.state == A.TRACK
    rig.cam.ready = False  # no new frame: the stream's counter stands
    rig.tick(3)
    assert len(asked) == 3 and rig.apt.stale_frames == stale + 3 and rig.apt.state == A.TRACK


def test_a_sensor_stream_error_stays_its_own_camera_error():
    """Frames stop and the status says why: the sensor's stream error is a camera error
    of its own text, not a stale frame, as when the status was read every frame."""
    from hal.errors import DeviceFault

    rig = tracking()
    _no_survey(rig)
    rig.cam.ready = False

    def status():
        raise DeviceFault("fake-camera: sensor stream error")

    rig.cam.frame_ready = status
    errors, stale = rig.apt.camera_errors, rig.apt.stale_frames
    rig.tick()
    assert rig.apt.camera_errors == errors + 1 and rig.apt.stale_frames == stale
    assert "sensor stream error" in rig.named(A.EV_APT_CAMERA_ERROR)[-1]

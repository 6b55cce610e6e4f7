"""The APT state machine (flight/apt.py) on the APT rig (tests/apt_rig.py): SEARCH ->
ACQUIRE -> TRACK with the laser only in TRACK, LOST and the timeouts, HK, and the faults
(camera errors, corrupted reads, stale frames, memory errors, FSM errors and faults, the
laser switch).
"""

from array import array

import pytest

from flight import apt as A
from flight import apt_pixels as px
from flight.apt_control import EXPOSURES_US
from flight.apt_search import DARK_FRAMES
from hal.interfaces import SW_LASER_850
from tests.apt_rig import DEG, LSB, Rig
from tests.mpy.kit import app_rig


# ---------------------------------------------------------------------- state machine
def test_search_acquire_track_and_laser_only_in_track():
    rig = Rig(err=(0.004, -0.003))  # 40 / -30 px off the boresight
    laser = []
    rig.apt.on_laser = laser.append
    # dark calibration of the TRACK window (exposure change, one frame to settle,
    # DARK_FRAMES frames), then one 8-strip binned frame
    n = rig.until(A.ACQUIRE, 8 + DARK_FRAMES + 2)
    assert n == DARK_FRAMES + 2 + 8
    assert rig.args(A.EV_APT_DARK_CALIBRATED) == [[0]]  # no hot pixel in this camera
    assert not rig.power.get(SW_LASER_850)
    rig.until(A.TRACK, 60)
    assert rig.power.get(SW_LASER_850) and laser == [True]
    assert rig.named(A.EV_APT_STATE)[-2:] == ["SEARCH -> ACQUIRE", "ACQUIRE -> TRACK"]
    assert rig.args(A.EV_APT_STATE)[-1] == [A.ACQUIRE, A.TRACK]
    rig.tick(50)
    assert rig.apt.state == A.TRACK
    rx, ry = rig.cam.residual_urad()
    assert abs(rx) < 15 and abs(ry) < 15  # the mirror cancels the 5 mrad error
    assert abs(rig.fsm.cx * LSB - 0.004) < 20e-6
    assert rig.apt.acquisitions == 1
    hk = rig.hk("apt")
    assert hk["apt_state"] == A.TRACK and hk["apt_laser850"] == 1 and hk["apt_valid"] == 1
    assert hk["apt_fsm_x"] == rig.fsm.cx and hk["apt_acquisitions"] == 1
    assert abs(hk["apt_res_x"]) < 150  # 0.1 urad units: < 15 urad
    assert hk["apt_exposure"] in EXPOSURES_US and 250 <= hk["apt_peak"] <= 1023
    diag = rig.hk("apt", diag=True)
    assert diag["apt_valid_frames"] == rig.apt.valid_frames > 50
    assert diag["apt_verified"] == 1 and diag["apt_hot_pixels"] == 0


def test_track_tick_runs_its_maths_with_the_heap_locked(monkeypatch):
    # Centroid and control law under micropython.heap_lock (every call's frame on the C
    # stack, no allocation possible); the devices and the FSM calibration's hook, which
    # may allocate (events, a driver's exception), with the heap unlocked.
    rig = Rig(err=(0.001, 0.001))
    rig.until(A.TRACK, 80)
    apt = rig.apt
    depth = [0]
    seen = {}

    def spy(name, fn):
        def call(*a):
            seen.setdefault(name, set()).add(depth[0])
            return fn(*a)
        return call

    monkeypatch.setattr(px, "heap_lock", lambda: depth.__setitem__(0, depth[0] + 1))
    monkeypatch.setattr(px, "heap_unlock", lambda: depth.__setitem__(0, depth[0] - 1))
    monkeypatch.setattr(px, "centroid", spy("centroid", px.centroid))
    apt.law.step = spy("step", apt.law.step)
    rig.cam.read_roi = spy("read_roi", rig.cam.read_roi)
    rig.fsm.set_codes = spy("set_codes", rig.fsm.set_codes)

    class Cal:  # a calibration stand-in: its hook only while busy
        d_x = d_y = ff_x = ff_y = run = 0
        busy = False
        calls = 0

        def frame(self, dx, dy):
            seen.setdefault("cal", set()).add(depth[0])
            self.calls += 1

    apt.cal = cal = Cal()
    rig.tick(5)
    assert cal.calls == 0 and apt.state == A.TRACK and apt.valid_frames > 0
    cal.busy = True
    rig.tick(5)
    assert cal.calls == 5 and apt.state == A.TRACK
    assert seen == {"centroid": {1}, "step": {0, 1}, "read_roi": {0}, "set_codes": {0},
                    "cal": {0}} and depth[0] == 0


def test_hk_fits_its_declared_types():
    from flight.telemetry import HkPacker

    rig = Rig(err=(1.5 * DEG, 0.0))  # mirror near full scale in TRACK
    rig.until(A.TRACK, 300)
    for decl, fill in ((A.HK, rig.apt.hk), (A.HK_DIAG, rig.apt.hk_diag)):
        packer = HkPacker([(decl, fill)])
        packer.pack()
        assert packer.errors == 0
        for f, v in zip(decl, packer.values, strict=True):
            assert isinstance(v, int), f.name
            lo, hi = {"u8": (0, 255), "i16": (-32768, 32767), "u16": (0, 65535),
                      "u32": (0, 2 ** 32 - 1)}[f.type]
            assert lo <= v <= hi, f.name  # no field relies on the packer's saturation


def test_no_self_transition_events():
    rig = Rig()
    rig.apt.stop_session()
    rig.apt.safe()  # IDLE -> IDLE: no event
    assert rig.named(A.EV_APT_STATE) == ["IDLE -> SEARCH", "SEARCH -> IDLE"]


def test_lost_after_lost_frames_then_track_again():
    rig = Rig(err=(0.002, 0.001))
    rig.until(A.TRACK, 80)
    rig.tick(20)
    codes = (rig.fsm.cx, rig.fsm.cy)
    rig.cam.beacon = False
    lost_after = rig.until(A.LOST, 100)
    assert lost_after == rig.ctx.params["apt_lost_frames"]
    assert not rig.power.get(SW_LASER_850)  # downlink off while not tracking
    assert rig.apt.losses == 1
    rig.tick(30)  # mirror held while the beacon is gone
    assert (rig.fsm.cx, rig.fsm.cy) == codes
    assert rig.apt.state == A.LOST
    rig.cam.beacon = True
    assert rig.until(A.ACQUIRE, 2) == 1
    assert rig.until(A.TRACK, 40) <= 20
    assert rig.power.get(SW_LASER_850)
    assert rig.apt.acquisitions == 2


def test_lost_times_out_to_search_and_search_times_out_the_session():
    rig = Rig(err=(0.001, 0.0), params={"apt_lost_timeout_s": 0.5, "apt_search_timeout_s": 1.0})
    rig.until(A.TRACK, 80)
    rig.cam.beacon = False
    rig.until(A.LOST, 30)
    n = rig.until(A.SEARCH, 200)
    assert n == 50  # 0.5 s of 10 ms frames
    rig.tick(100)
    assert rig.ctx.modes == []  # 1 s of SEARCH: a whole frame still to go
    rig.tick(8)
    assert rig.ctx.modes == [("STANDBY", "beacon not found")]
    assert len(rig.named(A.EV_APT_BEACON_TIMEOUT)) == 1


def test_search_timeout_ends_the_session_in_the_flight_app():
    r = app_rig("apt", err=(0.001, 0.0), params={"apt_search_timeout_s": 1.0})
    r.app.modes.request("STANDBY")
    r.app.modes.request("SESSION")
    r.cam.beacon = False
    for _ in range(200):
        r.apt.tick()
        if r.app.modes.mode != "SESSION":
            break
    assert r.app.modes.mode == "STANDBY"
    assert r.apt.state == A.IDLE
    assert r.named(A.EV_APT_BEACON_TIMEOUT)
    assert not r.fsm.enabled  # parked


def test_acquire_falls_back_to_search_when_the_spot_goes():
    rig = Rig(err=(0.003, 0.0))
    rig.until(A.ACQUIRE, 8 + DARK_FRAMES + 2)
    rig.tick(2)
    rig.cam.beacon = False
    assert rig.until(A.SEARCH, 40) == rig.ctx.params["apt_lost_frames"]


def test_camera_errors_and_stale_frames_are_counted_not_fatal():
    rig = Rig(err=(0.001, 0.001))
    rig.until(A.TRACK, 80)
    rig.cam.ready = False
    frames = rig.apt.frames
    rig.tick(5)
    assert rig.apt.stale_frames == 5 and rig.apt.frames == frames
    rig.cam.ready = True
    rig.cam.raise_next = 3
    rig.tick(3)
    assert rig.apt.camera_errors == 3 and rig.apt.state == A.TRACK
    assert rig.args(A.EV_APT_CAMERA_ERROR) == [[1]]  # reported once, counted 3 times
    assert "injected camera error" in rig.named(A.EV_APT_CAMERA_ERROR)[0]
    rig.tick(5)
    assert rig.apt.valid and rig.apt.state == A.TRACK
    assert rig.hk("apt")["apt_camera_errors"] == 3


def test_the_mirror_timers_failed_samples_are_reported_in_housekeeping():
    """The board's waveform timer cannot raise: its failed samples are the driver's count
    (``Fsm.wave_errors``).  The APT's 1 Hz housekeeping reads it and reports each growth
    as its own event, with how many are new — not as a mirror command's error, and not
    again while the count stands; the diagnostic housekeeping carries the count
    (``apt_fsm_wave_errors``, a warning limit at 0)."""
    from flight import apt_feedback as afb

    rig = Rig(err=(0.001, 0.001))
    rig.until(A.TRACK, 80)
    rig.hk("apt")
    assert rig.hk("apt", diag=True)["apt_fsm_wave_errors"] == 0
    assert rig.args(afb.EV_APT_FSM_WAVE_ERROR) == []
    rig.fsm.wave_fail = 5
    rig.hk("apt")
    rig.hk("apt")  # (a second second: no new event)
    assert rig.hk("apt", diag=True)["apt_fsm_wave_errors"] == 5
    rig.fsm.wave_fail = 7
    rig.hk("apt")
    assert rig.args(afb.EV_APT_FSM_WAVE_ERROR) == [[5, 5], [2, 7]]
    assert rig.apt.fsm_errors == 0 and rig.args(A.EV_APT_FSM_ERROR) == []
    rig.fsm.wave_fail = 70000
    rig.hk("apt")
    assert rig.hk("apt", diag=True)["apt_fsm_wave_errors"] == 0xFFFF  # (u16: held full)
    (field,) = [f for f in A.HK_DIAG if f.name == "apt_fsm_wave_errors"]
    assert A.EV_APT_FSM_ERROR != afb.EV_APT_FSM_WAVE_ERROR


def test_a_pixel_above_full_scale_is_a_camera_error_not_a_measurement():
    # A corrupted read (one pixel at 0xFFFF in the 10-bit window): the frame is invalid
    # before any sum (apt_pixels.centroid), the law does not step on it, and it is counted
    # and reported as a camera error, not as a lost spot.
    rig = Rig(err=(0.001, 0.001))
    rig.until(A.TRACK, 80)
    rig.tick(5)
    a = rig.apt
    invalid, errors, ux = a.invalid_frames, a.camera_errors, a.law.u_x
    rig.cam.corrupt_next = 1
    rig.tick()
    assert a.invalid_frames == invalid + 1 and a.camera_errors == errors + 1
    assert not a.valid and a.peak == 0xFFFF and a.state == A.TRACK
    assert "full scale" in rig.named(A.EV_APT_CAMERA_ERROR)[-1]
    assert a.law.u_x == ux  # (the predictor's waveform plays on: no new step)
    # a failed read right after it is one camera error, not the corrupted frame again
    rig.cam.raise_next = 1
    rig.tick()
    assert a.camera_errors == errors + 2
    rig.tick(3)
    assert a.valid and a.state == A.TRACK and a.camera_errors == errors + 2
    # A SEARCH candidate read corrupted at full resolution is reported the same way
    a.win_x0, a.win_y0 = 632, 504
    buf = array("H", [40] * 256)
    buf[120] = 2000
    assert not a.centroid(buf, 16) and a.camera_errors == errors + 3


def test_a_memory_error_is_no_camera_error():
    # A software fault (MemoryError, a bug) propagates to the scheduler, which counts it
    # as a fault of the apt task (TASK_OUT_OF_MEMORY); the camera's counter stays clean.
    rig = Rig(err=(0.001, 0.001))
    rig.until(A.TRACK, 80)
    rig.cam.oom_next = 1
    with pytest.raises(MemoryError):
        rig.tick()
    assert rig.apt.camera_errors == 0 and not rig.named(A.EV_APT_CAMERA_ERROR)
    rig.tick(3)
    assert rig.apt.state == A.TRACK and rig.apt.valid


def test_a_memory_error_is_its_own_event_in_the_flight_app():
    from flight.scheduler import EV_TASK_FAULT, EV_TASK_OUT_OF_MEMORY

    r = app_rig("apt", err=(0.001, 0.001))
    r.app.modes.request("STANDBY")
    r.app.modes.request("SESSION")
    r.app.run_for(2200000)  # (the kit's camera is always ready: the phase search gives up)
    assert r.apt.state == A.TRACK
    r.cam.oom_next = 1
    r.app.run_for(20000)
    task = [t for t in r.app.sched.tasks if t.name == "apt"][0]
    assert task.faults == 1 and r.apt.camera_errors == 0
    log = r.app.events.persistent_log()  # (ERROR and above are kept on flash)
    assert not [e for e in log if e["id"] == EV_TASK_FAULT]
    oom = [e for e in log if e["id"] == EV_TASK_OUT_OF_MEMORY]
    assert len(oom) == 1 and oom[0]["text"] == "apt"


def test_a_dead_apt_task_leaves_no_laser_no_mirror_no_feedback_and_a_session_retries_it():
    # The apt task disabled for its faults (5 in a row) is a dead loop: before, the
    # downlink laser stayed on, the mirror held its last command and the ADCS kept being
    # fed TRACK's frozen error at 5 Hz for the rest of the session.  Now its safe state
    # runs (Task.on_disable: the session's stop), and the next session retries the task.
    from flight.scheduler_telemetry import EV_TASK_DISABLED, EV_TASK_RETRIED

    r = app_rig("apt", err=(0.001, 0.001))
    fed = []
    send = r.apt.ctx.send_adcs
    r.apt.ctx.send_adcs = lambda rec: (fed.append(r.apt.state), send(rec))
    r.app.modes.request("STANDBY")
    r.app.modes.request("SESSION")
    r.app.run_for(2200000)  # (the kit's camera is always ready: the phase search gives up)
    assert r.apt.state == A.TRACK and r.power.get(SW_LASER_850) and fed
    task = r.app.sched.task("apt")
    r.cam.oom_next = 10 ** 6  # every frame from now on: a software fault
    r.app.run_for(1000000)
    assert not task.enabled and task.faults == 5
    assert r.apt.state == A.IDLE and not r.power.get(SW_LASER_850)
    assert not r.fsm.enabled and (r.fsm.cx, r.fsm.cy) == (0, 0)
    assert r.app.modes.mode == "SESSION"  # the rest of the payload runs on
    n = len(fed)
    r.app.run_for(2000000)
    assert len(fed) == n  # no feedback from a dead loop
    names = [e["name"] for e in r.app.events.persistent_log()]
    assert names[-1] == "TASK_DISABLED" and r.named(A.EV_APT_STATE)[-1] == "TRACK -> IDLE"
    # The ground starts a new session, in one tc tick (no health tick between): retried.
    r.cam.oom_next = 0
    r.app.modes.request("STANDBY")
    r.app.modes.request("SESSION")
    r.app.run_for(3000000)
    assert task.enabled and r.apt.state == A.TRACK and r.power.get(SW_LASER_850)
    assert len(fed) > n
    log = r.app.events.persistent_log()
    retried = [e for e in log if e["id"] == EV_TASK_RETRIED]
    assert len(retried) == 1 and retried[0]["text"] == "apt"
    assert len([e for e in log if e["id"] == EV_TASK_DISABLED]) == 1


def test_fsm_command_errors_are_counted_and_reported():
    rig = Rig(err=(0.001, 0.001))
    rig.until(A.TRACK, 80)
    rig.fsm.fail = 2
    rig.tick(2)
    assert rig.apt.fsm_errors == 2 and rig.args(A.EV_APT_FSM_ERROR) == [[1]]
    assert rig.apt.state == A.TRACK


def test_fsm_fault_parks_the_mirror():
    rig = Rig(err=(0.001, 0.001))
    rig.until(A.TRACK, 80)
    rig.fsm.faulted = True
    rig.tick()
    assert rig.apt.state == A.IDLE
    assert not rig.fsm.enabled and (rig.fsm.cx, rig.fsm.cy) == (0, 0)
    assert not rig.power.get(SW_LASER_850)
    assert rig.named(A.EV_APT_FSM_FAULT) and rig.hk("apt", diag=True)["apt_fsm_faults"] == 1


def test_laser_switch_failure_is_reported_and_the_laser_stays_off():
    rig = Rig(err=(0.001, 0.001))
    tx = []
    rig.apt.on_laser = tx.append
    rig.until(A.ACQUIRE, 30)
    rig.power.fail = 1  # the switch-on on entering TRACK fails
    rig.until(A.TRACK, 80)
    assert rig.args(A.EV_APT_LASER_FAULT) == [[True]]
    assert not rig.apt.laser_on and tx == []  # the transmitter does not follow either
    assert rig.hk("apt")["apt_laser850"] == 0
    assert rig.hk("apt", diag=True)["apt_laser_faults"] == 1

"""APT fine pointing (flight/apt.py, apt_pixels.py, apt_control.py, apt_search.py) on the
kit (tests/mpy/kit.py): a sim.camera.Camera renders the beacon spot at (pointing error -
mirror deflection), a fake mirror records its commands, a FakeCtx records events.

No pass world: the fake plant is the ideal one-frame-latency loop the APT is designed for
(the frame read at tick k shows the mirror commanded at tick k-1).
"""

import math
from array import array

import pytest

from flight import apt as A
from flight import apt_pixels as px
from flight.apt_control import EXPOSURES_US
from flight.apt_search import DARK_FRAMES
from hal.interfaces import FSM_LSB_RAD, SW_LASER_850
from sim.camera import Camera
from sim.rng import Rng
from tests.mpy.kit import app_rig, rig

LSB = FSM_LSB_RAD  # rad per FSM code
IFOV = 100e-6
DEG = math.pi / 180.0


def Rig(err=(0.004, -0.003), params=None, **kw):
    r = rig("apt", err=err, params=params, **kw)
    assert r.apt.state == (A.SEARCH if kw.get("session", True) else A.IDLE)
    return r


def centroid(buf, size, x0, y0, params=None):
    """apt_pixels.centroid with the parameter defaults: (valid, out)."""
    p = {d.name: d.default for d in A.PARAMS}
    p.update(params or {})
    out = array("i", [0] * px.CEN_LEN)
    ok = px.centroid(buf, size, x0, y0, p["apt_snr_min_dn"], p["apt_thr_min_dn"],
                     p["apt_min_spot_px"], p["apt_max_spot_px"], out)
    return ok, out


# ---------------------------------------------------------------------- centroid
@pytest.mark.parametrize("size", [16, 32])
def test_centroid_accuracy_on_rendered_spots(size):
    model = Camera(seed=5)
    model.set_exposure(1e-3)  # ~480 DN peak at the reference range
    buf = array("H", [0] * (size * size))
    x0 = 640 - size // 2
    y0 = 512 - size // 2
    rng = Rng(9)
    ex = []
    ey = []
    span = size / 2 - 5  # spot well inside the window (the edge rows are the background)
    for _ in range(150):
        dx = rng.uniform(-span, span)
        dy = rng.uniform(-span, span)
        model.set_residual(dx * IFOV, dy * IFOV)
        model.read(buf, x0, y0, size, size, 1)
        ok, out = centroid(buf, size, x0, y0)
        assert ok
        tx, ty = model.spot_px()
        ex.append(out[px.CEN_X] / 64 - tx)
        ey.append(out[px.CEN_Y] / 64 - ty)
    worst = max(max(abs(e) for e in ex), max(abs(e) for e in ey))
    rms = math.sqrt((sum(e * e for e in ex) + sum(e * e for e in ey)) / (2 * len(ex)))
    assert worst < 0.12  # px (12 urad): sub-pixel centroid
    assert rms < 0.04
    assert abs(sum(ex) / len(ex)) < 0.02 and abs(sum(ey) / len(ey)) < 0.02  # no bias


def test_centroid_rejects_hot_pixel_faint_spot_and_large_spot():
    buf = array("H", [0] * 256)
    model = Camera(seed=5)
    model.set_exposure(1e-3)
    # Beacon off: background and read noise only -> no spot (SNR).
    model.set_beacon(False)
    model.read(buf, 632, 504, 16, 16, 1)
    assert not centroid(buf, 16, 632, 504)[0]
    # A single hot pixel, far above background: one pixel is not a spot.
    buf[7 * 16 + 9] = 700
    ok, out = centroid(buf, 16, 632, 504)
    assert not ok
    assert out[px.CEN_PX] == 0  # isolated in its row: not even counted
    # The same frame with a real spot is valid.
    model.set_beacon(True)
    model.read(buf, 632, 504, 16, 16, 1)
    ok, out = centroid(buf, 16, 632, 504)
    assert ok and out[px.CEN_PX] >= 2
    # A spot too faint (peak below apt_snr_min_dn above background).
    model.set_exposure(30e-6)
    model.read(buf, 632, 504, 16, 16, 1)
    ok, out = centroid(buf, 16, 632, 504)
    assert not ok and out[px.CEN_PEAK] - out[px.CEN_BG] < 20
    # An extended (defocused) spot covers more pixels than apt_max_spot_px ...
    wide = Camera(seed=5, spot_sigma_px=4.0)
    wide.set_exposure(9e-3)
    big = array("H", [0] * 1024)
    wide.read(big, 624, 496, 32, 32, 1)
    ok, out = centroid(big, 32, 624, 496)
    assert not ok and out[px.CEN_PX] > 80
    # ... and the limit is a parameter, read through the APT's parameter cache.
    r = Rig()
    r.apt.win_x0 = 624
    r.apt.win_y0 = 496
    assert not r.apt.centroid(big, 32)
    r.ctx.params.set("apt_max_spot_px", 1024)
    assert r.apt.centroid(big, 32) and r.apt.valid


def test_a_brighter_isolated_hot_pixel_does_not_hide_the_spot():
    model = Camera(seed=5)
    model.set_exposure(1e-3)
    model.set_residual(0.0, 0.0)
    buf = array("H", [0] * 1024)
    model.read(buf, 624, 496, 32, 32, 1)
    ok, out = centroid(buf, 32, 624, 496)
    assert ok
    x_ok = out[px.CEN_X]
    buf[5 * 32 + 5] = 1000  # far brighter than the spot: it would set the threshold
    ok, out = centroid(buf, 32, 624, 496)
    assert ok
    assert abs(out[px.CEN_X] - x_ok) <= 2  # q6: the same spot


def test_centroid_peak_is_the_window_s_own():
    # ACQUIRE's 32 px window sits at the start of the longer SEARCH strip buffer: what
    # lies beyond the window is no pixel of it and never sets the peak (the threshold).
    model = Camera(seed=5)
    model.set_exposure(1e-3)
    buf = array("H", [0] * 2560)
    model.read(buf, 624, 496, 32, 32, 1)
    ok, out = centroid(buf, 32, 624, 496)
    assert ok
    alone = list(out)
    for i in range(1024, 2560):
        buf[i] = 1000
    ok, out = centroid(buf, 32, 624, 496)
    assert ok and list(out) == alone and out[px.CEN_PEAK] == max(buf[:1024])


def test_hot_pixel_patch_scales_with_the_exposure():
    buf = array("H", [100, 200, 50, 7])
    px.patch_hot(buf, [1, 90, 3, 90], 4500, 9000)  # half the dark exposure: half the excess
    assert list(buf) == [100, 155, 50, 0]  # (never below 0)


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
    r.app.run_for(1000000)
    assert r.apt.state == A.TRACK
    r.cam.oom_next = 1
    r.app.run_for(20000)
    task = [t for t in r.app.sched.tasks if t.name == "apt"][0]
    assert task.faults == 1 and r.apt.camera_errors == 0
    log = r.app.events.persistent_log()  # (ERROR and above are kept on flash)
    assert not [e for e in log if e["id"] == EV_TASK_FAULT]
    oom = [e for e in log if e["id"] == EV_TASK_OUT_OF_MEMORY]
    assert len(oom) == 1 and oom[0]["text"] == "apt"


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


# ---------------------------------------------------------------------- control law
def test_slew_limit_bounds_every_mirror_step():
    rig = Rig(err=(0.006, -0.004), params={"apt_slew_urad": 100.0})
    rig.until(A.ACQUIRE, 8 + DARK_FRAMES + 2)
    rig.fsm.steps = []
    rig.until(A.TRACK, 200)
    lim = 100e-6 / LSB + 1
    assert max(max(abs(a), abs(b)) for a, b in rig.fsm.steps) <= lim
    # the limit was what bounded the pull-in (several steps at the limit)
    assert sum(1 for a, b in rig.fsm.steps if abs(a) >= lim - 2) >= 10


def _windup_state(law):
    """The law's integrating state: the PI's rate integrator, the predictor's rate."""
    return law.r_x if law.mode == 0 else law.pred.s[1]


@pytest.mark.parametrize("law", [0, 1])
def test_saturation_and_anti_windup(law):
    # 2.4 deg is beyond the mirror's +-2 deg range: the command saturates.
    err = 2.4 * DEG
    rig = Rig(err=(err, 0.0), params={"apt_law": law})
    rig.until(A.ACQUIRE, 8 + DARK_FRAMES + 2)
    rig.tick(100)  # 2 deg at the 1000 urad/frame slew limit: 35 frames
    assert rig.fsm.cx == 32767
    assert rig.apt.law.u_x == 32767 << 8
    r_sat = _windup_state(rig.apt.law)
    assert abs(r_sat) <= rig.apt.law.slew  # slew-limited approach: no integration either
    rig.tick(150)  # still saturated: the integrating state must not wind up
    if law == 0:
        assert _windup_state(rig.apt.law) == r_sat and rig.fsm.cx == 32767
    else:  # the predictor estimates the disturbance (no integrator): its rate stays small
        assert abs(_windup_state(rig.apt.law)) <= 256 and rig.fsm.cx == 32767
    assert rig.apt.state == A.ACQUIRE  # the residual (0.4 deg) cannot be removed
    # The platform slews back within range (0.4 deg/s): the loop takes over where the
    # error enters the range and, when the slew stops, settles without the overshoot a
    # wound-up integrator would cause (~150 frames x 0.4 deg of integrated error).
    for k in range(200):
        rig.cam.err = ((2.4 - 0.8 * (k + 1) / 200) * DEG, 0.0)
        rig.tick()
    assert rig.apt.state == A.TRACK
    after = []
    for _ in range(100):
        rig.tick()
        after.append(rig.cam.residual_urad()[0])
    # (no wound-up overshoot: that would be degrees; the predictor's rate state takes
    # ~1 frame of the 70 urad/frame slew's stop)
    assert max(abs(r) for r in after) < (50.0 if law == 0 else 70.0)  # urad
    assert max(abs(r) for r in after[-50:]) < 15.0


def test_integral_action_follows_a_ramp_without_lag():
    rig = Rig(err=(0.001, 0.0))
    rig.until(A.TRACK, 80)
    rate = 100e-6  # rad/s drift (DESIGN §5 reference), 1 urad per frame
    res = []
    for k in range(300):
        rig.cam.err = (0.001 + rate * k * 0.01, 0.0)
        if k >= 150:  # the residual the frame sees (after the tick the mirror has moved
            res.append(rig.cam.residual_urad()[0])  # on: one frame of ramp, 1 urad, less)
        rig.tick()
    mean = sum(res) / len(res)
    # type-2 loop: no steady-state lag on a ramp.  (Measured after the tick this read
    # -1 urad of frame offset, which the centroid's old floor-division bias, +0.78 urad
    # on the true residual, hid.)
    assert abs(mean) < 0.5


def test_offload_request_and_adcs_feedback():
    rig = Rig(err=(1.5 * DEG, 0.2 * DEG))
    rig.until(A.TRACK, 200)
    rig.tick(20)
    rig.apt.feedback()
    body = rig.ctx.adcs[-1]
    assert sorted(body) == sorted(f.name for f in A.ADCS)  # exactly the declared fields
    assert body["offload"] == 1 and body["state"] == A.TRACK and body["valid"] == 1
    # The error reported to the platform is the whole line of sight (mirror + residual).
    assert abs(body["err_x_urad"] - 1.5 * DEG * 1e6) < 20
    assert abs(body["err_y_urad"] - 0.2 * DEG * 1e6) < 20
    assert abs(body["fsm_x_urad"] - rig.fsm.cx * LSB * 1e6) < 2
    assert rig.args(A.EV_APT_OFFLOAD) == [[1]]
    assert rig.apt.offload_requests == 1
    # Within the range fraction: no offload.
    small = Rig(err=(0.5 * DEG, 0.0))
    small.until(A.TRACK, 200)
    small.apt.feedback()
    assert small.ctx.adcs[-1]["offload"] == 0
    assert abs(small.ctx.adcs[-1]["err_x_urad"] - 0.5 * DEG * 1e6) < 20
    # No feedback while searching.
    s = Rig(err=(0.001, 0.0))
    s.apt.feedback()
    assert s.ctx.adcs == []


def test_set_gains_command_updates_the_fixed_point_gains():
    rig = Rig()
    res = rig.apt.cmd_set_gains({"kp": 0.5, "ki": 50.0}, None)
    assert res == {"kp": 0.5, "ki": 50.0}
    assert rig.ctx.params["apt_kp"] == 0.5
    assert rig.apt.law.kp == 128
    assert rig.apt.law.kid == int(50.0 * 0.01 * 256 + 0.5)


def test_gains_come_from_the_parameters_only():
    # No shadow defaults: a fresh module's fixed-point values are its parameters'.
    rig = Rig(params={"apt_ki": 10.0, "apt_peak_lo_dn": 300})
    assert rig.apt.law.kid == int(10.0 * 0.01 * 256 + 0.5)
    assert rig.apt._peak_lo == 300
    rig.ctx.params.load_defaults()
    assert rig.apt.law.kid == int(98.0 * 0.01 * 256 + 0.5) and rig.apt._peak_lo == 250


def test_auto_exposure_keeps_the_peak_in_band():
    rig = Rig(err=(0.001, 0.0))
    rig.until(A.TRACK, 80)
    rig.cam.model.set_range(2 * 560e3)  # 4x fainter
    rig.tick(200)
    lo = rig.ctx.params["apt_peak_lo_dn"]
    hi = rig.ctx.params["apt_peak_hi_dn"]
    assert lo <= rig.apt.peak <= hi
    assert rig.apt.state == A.TRACK
    rig.cam.model.set_range(0.7 * 560e3)  # 8x brighter than that
    rig.tick(200)
    assert lo <= rig.apt.peak <= hi and rig.apt.state == A.TRACK


# ---------------------------------------------------------------------- hot pixels
def test_dark_calibration_removes_a_hot_pixel_beside_the_boresight():
    # A hot pixel 2 px from the boresight pulls an uncorrected centroid by ~0.1 px at
    # long exposures; the session's dark frames find it and TRACK subtracts it.
    rig = Rig(err=(0.0, 0.0), hot={(641, 512): 600}, session=False)
    rig.cam.model.set_range(1700e3)  # a faint beacon: long exposures, no saturation
    rig.cam.beacon = False  # dark frames: the beacon is not in the boresight window yet
    rig.apt.start_session()
    rig.tick(DARK_FRAMES + 2)
    s = rig.apt.search
    assert s.hot_pixels == 1 and rig.args(A.EV_APT_DARK_CALIBRATED) == [[1]]
    assert s.hot[0] == (512 - 504) * 16 + (641 - 632)
    assert 500 < s.hot[1] <= 610  # 600 DN injected, plus the dark frames' noise
    rig.cam.beacon = True
    rig.until(A.TRACK, 200)
    rig.apt.exposure.set(len(EXPOSURES_US) - 1)  # 9 ms: the hot pixel at its strongest
    rig.apt.exposure.wait = 10 ** 6  # hold the exposure there
    res = []
    for _ in range(200):
        rig.tick()
        res.append(rig.cam.residual_urad()[0])
    mean = sum(res[100:]) / 100
    assert abs(mean) < 4.0  # urad
    # The same without the correction: the hot pixel pulls the spot off the boresight.
    s.hot = []
    res = []
    for _ in range(200):
        rig.tick()
        res.append(rig.cam.residual_urad()[0])
    assert abs(sum(res[100:]) / 100) > 8.0


def test_a_static_target_is_rejected_and_the_beacon_found():
    # A cluster of hot pixels (looks like a spot at full resolution, brighter than the
    # beacon) does not move against the mirror: ACQUIRE rejects it, SEARCH moves on.
    cluster = {(300 + dx, 200 + dy): 3000 for dx in (0, 1) for dy in (0, 1)}
    rig = Rig(err=(0.0, 0.0), hot=cluster)  # the beacon on the boresight, fainter in SEARCH
    rig.until(A.TRACK, 600)
    assert rig.apt.search.rejections >= 1
    assert any("does not follow the mirror" in t for t in rig.named(A.EV_APT_TARGET_REJECTED))
    x, y = rig.args(A.EV_APT_TARGET_REJECTED)[0]
    assert abs(x - 300) <= 8 and abs(y - 200) <= 8  # the cluster's cell
    rx, ry = rig.cam.residual_urad()
    assert abs(rx) < 30 and abs(ry) < 30  # tracking the beacon, not the cluster
    # the cluster's binned cell is remembered for the session (one list, made at the first
    # rejection), and masked in its strip; a new session forgets it
    s = rig.apt.search
    assert any(abs(i % s.cols - 300 // 8) <= 1 and abs(i // s.cols - 200 // 8) <= 1
               for i in s.rejected)
    s.start()
    assert s.rejected is None


def test_strip_background_masks_the_rejected_cells_of_its_strip_only():
    buf = array("H", [10, 10, 10, 90, 10, 10, 10, 10])  # cells 16 .. 23 of the frame
    bg = px.strip_background(buf, [3, 19, 24, 15], 16)  # (19: the strip's 4th cell)
    assert bg == 20 and list(buf) == [10, 10, 10, 20, 10, 10, 10, 10]
    buf[3] = 90
    assert px.strip_background(buf, None, 16) == 20 and buf[3] == 90


def test_centroid_weight_table_is_the_gaussian_it_documents():
    # (a bytes literal so that the firmware keeps it in flash: its values are the formula's)
    w = px._WTAB
    assert isinstance(w, bytes) and len(w) == 257
    for k in range(257):
        assert w[k] == int(64.0 * 2.718281828459045 ** (-0.5 * (k / 64.0) ** 2) + 0.5), k

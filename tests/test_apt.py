"""APT fine pointing (flight/apt.py) with fakes: a sim.camera.Camera renders the beacon
spot at (pointing error - mirror deflection), a fake mirror records its commands.

No pass world: the fake plant is the ideal one-frame-latency loop the APT is designed for
(the frame read at tick k shows the mirror commanded at tick k-1).
"""

import math
from array import array

import pytest

from flight import apt as A
from flight.app import FlightApp
from flight.keys import Keyring
from hal.clock import VirtualClock
from hal.errors import BusError
from hal.interfaces import Board
from hal.sim.link import MemLink
from hal.sim.power import SimPower
from hal.sim.storage import MemStorage
from hal.sim.watchdog import SimWatchdog
from sim.rng import Rng
from sim.camera import Camera

LSB = 2.0 * math.pi / 180.0 / 32768  # rad per FSM code (hal.interfaces FSM_RANGE_DEG = 2)
IFOV = 100e-6
DEG = math.pi / 180.0
SW_LASER_850 = 0


class FakeFsm:
    def __init__(self):
        self.cx = 0
        self.cy = 0
        self.enabled = False
        self.faulted = False
        self.steps = []

    def init(self):
        self.cx = self.cy = 0

    def enable(self, on):
        self.enabled = on
        if not on:
            self.cx = self.cy = 0

    def set_codes(self, cx, cy):
        assert isinstance(cx, int) and isinstance(cy, int)
        assert -32768 <= cx <= 32767 and -32768 <= cy <= 32767
        self.steps.append((cx - self.cx, cy - self.cy))
        self.cx = cx
        self.cy = cy

    def fault(self):
        return self.faulted


class FakeCamera:
    """hal.interfaces.Camera over sim.camera.Camera; the spot sits at err - FSM angle."""

    width = 1280
    height = 1024
    pixel_max = 1023

    def __init__(self, fsm, seed=3, **model_kw):
        self.model = Camera(seed=seed, **model_kw)
        self.fsm = fsm
        self.err = (0.0, 0.0)
        self.beacon = True
        self.ready = True
        self.raise_next = 0
        self.exposure_us = 1000

    def init(self):
        pass

    def set_gain(self, g):
        return self.model.set_gain(g)

    def set_exposure(self, us):
        self.exposure_us = us
        self.model.set_exposure(us * 1e-6)
        return us

    def frame_ready(self):
        return self.ready

    def read_roi(self, x0, y0, w, h, b, buf, meta):
        if self.raise_next:
            self.raise_next -= 1
            raise BusError("injected")
        self.model.set_beacon(self.beacon)
        self.model.set_pointing(self.err[0], self.err[1], self.fsm.cx * LSB, self.fsm.cy * LSB)
        self.model.read(buf, x0, y0, w, h, b)
        return True

    def residual_urad(self):
        return ((self.err[0] - self.fsm.cx * LSB) * 1e6, (self.err[1] - self.fsm.cy * LSB) * 1e6)


class Rig:
    def __init__(self, err=(0.004, -0.003), seed=3, params=None, **model_kw):
        self.clock = VirtualClock()
        self.fsm = FakeFsm()
        self.cam = FakeCamera(self.fsm, seed=seed, **model_kw)
        self.cam.err = err
        self.power = SimPower()
        board = Board(camera=self.cam, fsm=self.fsm, power=self.power, clock=self.clock,
                      link=MemLink(), storage=MemStorage(), watchdog=SimWatchdog(self.clock))
        self.app = FlightApp(board, keyring=Keyring())
        self.events = []
        self.adcs = []
        orig = self.app.emit

        def emit(sev, ev_id, text="", args=None):
            self.events.append((ev_id, text))
            return orig(sev, ev_id, text, args)

        self.app.emit = emit
        self.app.adcs_hook = self.adcs.append
        self.app.boot()
        for k, v in (params or {}).items():
            self.app.params.set(k, v)
        self.apt = self.app.payload["apt"]
        self.app.modes.request("STANDBY")
        self.app.modes.request("SESSION")
        assert self.apt.state == A.SEARCH

    def tick(self, n=1):
        for _ in range(n):
            self.apt.tick()

    def until(self, state, max_ticks):
        for i in range(max_ticks):
            self.apt.tick()
            if self.apt.state == state:
                return i + 1
        raise AssertionError("no %s within %d ticks (in %s)" % (
            A.STATE_NAMES[state], max_ticks, A.STATE_NAMES[self.apt.state]))

    def named(self, ev_id):
        return [t for i, t in self.events if i == ev_id]


# ---------------------------------------------------------------------- centroid
@pytest.mark.parametrize("size", [16, 32])
def test_centroid_accuracy_on_rendered_spots(size):
    rig = Rig()
    apt = rig.apt
    model = Camera(seed=5)
    model.set_exposure(1e-3)  # ~480 DN peak at the reference range
    buf = array("H", [0] * (size * size))
    x0 = 640 - size // 2
    y0 = 512 - size // 2
    apt.win_x0 = x0
    apt.win_y0 = y0
    rng = Rng(9)
    ex = []
    ey = []
    span = size / 2 - 5  # spot well inside the window (the edge rows are the background)
    for _ in range(150):
        dx = rng.uniform(-span, span)
        dy = rng.uniform(-span, span)
        model.set_residual(dx * IFOV, dy * IFOV)
        model.read(buf, x0, y0, size, size, 1)
        assert apt._centroid(buf, size)
        tx, ty = model.spot_px()
        ex.append(apt.spot_x / 64 - tx)
        ey.append(apt.spot_y / 64 - ty)
        assert isinstance(apt.spot_x, int) and isinstance(apt.spot_y, int)
    worst = max(max(abs(e) for e in ex), max(abs(e) for e in ey))
    rms = math.sqrt((sum(e * e for e in ex) + sum(e * e for e in ey)) / (2 * len(ex)))
    assert worst < 0.12  # px (12 urad): sub-pixel centroid
    assert rms < 0.04
    assert abs(sum(ex) / len(ex)) < 0.02 and abs(sum(ey) / len(ey)) < 0.02  # no bias


def test_centroid_rejects_hot_pixel_faint_spot_and_large_spot():
    rig = Rig()
    apt = rig.apt
    apt.win_x0 = 632
    apt.win_y0 = 504
    buf = array("H", [0] * 256)
    model = Camera(seed=5)
    model.set_exposure(1e-3)
    # Beacon off: background and read noise only -> no spot (SNR).
    model.set_beacon(False)
    model.read(buf, 632, 504, 16, 16, 1)
    assert not apt._centroid(buf, 16)
    # A single hot pixel, far above background: one pixel is not a spot.
    buf[7 * 16 + 9] = 700
    assert not apt._centroid(buf, 16)
    assert apt.spot_px == 0  # isolated in its row: not even counted
    # The same frame with a real spot is valid.
    model.set_beacon(True)
    model.read(buf, 632, 504, 16, 16, 1)
    assert apt._centroid(buf, 16) and apt.spot_px >= 2
    # A spot too faint (peak below apt_snr_min_dn above background).
    model.set_exposure(30e-6)
    model.read(buf, 632, 504, 16, 16, 1)
    assert not apt._centroid(buf, 16)
    assert apt.peak - apt.bg < rig.app.params["apt_snr_min_dn"]
    # An extended (defocused) spot covers more pixels than apt_max_spot_px.
    wide = Camera(seed=5, spot_sigma_px=4.0)
    wide.set_exposure(9e-3)
    big = array("H", [0] * 1024)
    apt.win_x0 = 624
    apt.win_y0 = 496
    wide.read(big, 624, 496, 32, 32, 1)
    assert not apt._centroid(big, 32)
    assert apt.spot_px > rig.app.params["apt_max_spot_px"]
    # ... and the limit is a parameter.
    rig.app.params.set("apt_max_spot_px", 1024)
    assert apt._centroid(big, 32)


# ---------------------------------------------------------------------- state machine
def test_search_acquire_track_and_laser_only_in_track():
    rig = Rig(err=(0.004, -0.003))  # 40 / -30 px off the boresight
    laser = []
    rig.apt.on_laser = laser.append
    # dark calibration of the TRACK window (exposure change, one frame to settle,
    # DARK_FRAMES frames), then one 8-strip binned frame
    n = rig.until(A.ACQUIRE, 8 + A.DARK_FRAMES + 2)
    assert n == A.DARK_FRAMES + 2 + 8
    assert not rig.power.get(SW_LASER_850)
    n = rig.until(A.TRACK, 60)
    assert rig.power.get(SW_LASER_850) and laser == [True]
    assert rig.named(A.EV_APT_STATE)[-2:] == ["SEARCH -> ACQUIRE", "ACQUIRE -> TRACK"]
    rig.tick(50)
    assert rig.apt.state == A.TRACK
    rx, ry = rig.cam.residual_urad()
    assert abs(rx) < 15 and abs(ry) < 15  # the mirror cancels the 5 mrad error
    assert abs(rig.fsm.cx * LSB - 0.004) < 20e-6
    assert rig.apt.acquisitions == 1
    hk = {}
    rig.apt.hk(hk)
    assert hk["apt_state"] == "TRACK" and hk["apt"]["laser850"] is True


def test_no_self_transition_events():
    rig = Rig()
    assert "IDLE -> IDLE" not in rig.named(A.EV_APT_STATE)


def test_lost_after_lost_frames_then_track_again():
    rig = Rig(err=(0.002, 0.001))
    rig.until(A.TRACK, 80)
    rig.tick(20)
    codes = (rig.fsm.cx, rig.fsm.cy)
    rig.cam.beacon = False
    lost_after = rig.until(A.LOST, 100)
    assert lost_after == rig.app.params["apt_lost_frames"]
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
    assert rig.app.modes.mode == "SESSION"
    for _ in range(400):
        rig.apt.tick()
        if rig.app.modes.mode != "SESSION":
            break
    assert rig.app.modes.mode == "STANDBY"
    assert rig.apt.state == A.IDLE
    assert rig.named(A.EV_APT_BEACON_TIMEOUT)
    assert not rig.fsm.enabled  # parked


def test_acquire_falls_back_to_search_when_the_spot_goes():
    rig = Rig(err=(0.003, 0.0))
    rig.until(A.ACQUIRE, 8 + A.DARK_FRAMES + 2)
    rig.tick(2)
    rig.cam.beacon = False
    assert rig.until(A.SEARCH, 40) == rig.app.params["apt_lost_frames"]


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
    rig.tick(5)
    assert rig.apt.valid and rig.apt.state == A.TRACK


def test_fsm_fault_parks_the_mirror():
    rig = Rig(err=(0.001, 0.001))
    rig.until(A.TRACK, 80)
    rig.fsm.faulted = True
    rig.tick()
    assert rig.apt.state == A.IDLE
    assert not rig.fsm.enabled and (rig.fsm.cx, rig.fsm.cy) == (0, 0)
    assert not rig.power.get(SW_LASER_850)
    assert rig.named(A.EV_APT_FSM_FAULT)


# ---------------------------------------------------------------------- control law
def test_slew_limit_bounds_every_mirror_step():
    rig = Rig(err=(0.006, -0.004), params={"apt_slew_urad": 100.0})
    rig.until(A.ACQUIRE, 8 + A.DARK_FRAMES + 2)
    rig.fsm.steps = []
    rig.until(A.TRACK, 200)
    lim = 100e-6 / LSB + 1
    assert max(max(abs(a), abs(b)) for a, b in rig.fsm.steps) <= lim
    # the limit was what bounded the pull-in (several steps at the limit)
    assert sum(1 for a, b in rig.fsm.steps if abs(a) >= lim - 2) >= 10


def test_saturation_and_anti_windup():
    # 2.4 deg is beyond the mirror's +-2 deg range: the command saturates.
    err = 2.4 * DEG
    rig = Rig(err=(err, 0.0))
    rig.until(A.ACQUIRE, 8 + A.DARK_FRAMES + 2)
    rig.tick(100)  # 2 deg at the 500 urad/frame slew limit: 70 frames
    assert rig.fsm.cx == 32767
    assert rig.apt.law.u_x == 32767 << 8
    r_sat = rig.apt.law.r_x
    assert abs(r_sat) <= rig.apt.law.slew  # slew-limited approach: no integration either
    rig.tick(150)  # still saturated: the rate integrator must not wind up
    assert rig.apt.law.r_x == r_sat and rig.fsm.cx == 32767
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
    assert max(abs(r) for r in after) < 50.0  # urad
    assert max(abs(r) for r in after[-50:]) < 15.0


def test_integral_action_follows_a_ramp_without_lag():
    rig = Rig(err=(0.001, 0.0))
    rig.until(A.TRACK, 80)
    rate = 100e-6  # rad/s drift (DESIGN §5 reference), 1 urad per frame
    res = []
    for k in range(300):
        rig.cam.err = (0.001 + rate * k * 0.01, 0.0)
        rig.tick()
        if k >= 150:
            res.append(rig.cam.residual_urad()[0])
    mean = sum(res) / len(res)
    assert abs(mean) < 1.0  # type-2 loop: no steady-state lag on a ramp


def test_offload_request_and_adcs_feedback():
    rig = Rig(err=(1.5 * DEG, 0.2 * DEG))
    rig.until(A.TRACK, 200)
    rig.tick(20)
    rig.apt.feedback()
    body = rig.adcs[-1]
    assert body["offload"] is True and body["state"] == "TRACK" and body["valid"] is True
    # The error reported to the platform is the whole line of sight (mirror + residual).
    assert abs(body["err_x_urad"] - 1.5 * DEG * 1e6) < 20
    assert abs(body["err_y_urad"] - 0.2 * DEG * 1e6) < 20
    assert rig.named(A.EV_APT_OFFLOAD)
    assert rig.apt.offload_requests == 1
    # Within the range fraction: no offload.
    small = Rig(err=(0.5 * DEG, 0.0))
    small.until(A.TRACK, 200)
    small.apt.feedback()
    assert small.adcs[-1]["offload"] is False
    assert abs(small.adcs[-1]["err_x_urad"] - 0.5 * DEG * 1e6) < 20
    # No feedback while searching.
    s = Rig(err=(0.001, 0.0))
    s.apt.feedback()
    assert s.adcs == []


def test_set_gains_command_updates_the_fixed_point_gains():
    rig = Rig()
    ok, why, res = rig.apt.cmd_set_gains({"kp": 0.5, "ki": 50.0})
    assert ok and res == {"kp": 0.5, "ki": 50.0}
    assert rig.apt.law.kp == 128
    assert rig.apt.law.kid == int(50.0 * 0.01 * 256 + 0.5)


def test_auto_exposure_keeps_the_peak_in_band():
    rig = Rig(err=(0.001, 0.0))
    rig.until(A.TRACK, 80)
    rig.cam.model.set_range(2 * 560e3)  # 4x fainter
    rig.tick(200)
    lo = rig.app.params["apt_peak_lo_dn"]
    hi = rig.app.params["apt_peak_hi_dn"]
    assert lo <= rig.apt.peak <= hi
    assert rig.apt.state == A.TRACK
    rig.cam.model.set_range(0.7 * 560e3)  # 8x brighter than that
    rig.tick(200)
    assert lo <= rig.apt.peak <= hi and rig.apt.state == A.TRACK


# ---------------------------------------------------------------------- hot pixels
class HotPixelCamera(FakeCamera):
    """FakeCamera plus fixed hot pixels whose dark signal grows with the exposure."""

    def __init__(self, fsm, hot, **kw):
        FakeCamera.__init__(self, fsm, **kw)
        self.hot = hot  # {(x, y): DN at 9 ms}

    def read_roi(self, x0, y0, w, h, b, buf, meta):
        FakeCamera.read_roi(self, x0, y0, w, h, b, buf, meta)
        for (x, y), dn in self.hot.items():
            if x0 <= x < x0 + w * b and y0 <= y < y0 + h * b:
                i = ((y - y0) // b) * w + (x - x0) // b
                v = buf[i] + dn * self.exposure_us // 9000 // (b * b)
                buf[i] = min(v, 1023)
        return True


def test_dark_calibration_removes_a_hot_pixel_beside_the_boresight():
    # A hot pixel 2 px from the boresight pulls an uncorrected centroid by ~0.1 px at
    # long exposures; the session's dark frames find it and TRACK subtracts it.
    hot = {(641, 512): 600}
    rig = Rig(err=(0.0, 0.0))
    rig.cam = HotPixelCamera(rig.fsm, hot)
    rig.cam.model.set_range(1700e3)  # a faint beacon: long exposures, no saturation
    rig.apt.camera = rig.cam
    rig.cam.beacon = False  # dark frames: the beacon is not in the boresight window yet
    rig.app.modes.request("STANDBY")
    rig.app.modes.request("SESSION")
    rig.tick(A.DARK_FRAMES + 2)
    assert rig.apt.hot_pixels == 1
    assert rig.apt._hot[0] == (512 - 504) * 16 + (641 - 632)
    assert 500 < rig.apt._hot[1] <= 610  # 600 DN injected, plus the dark frames' noise
    rig.cam.beacon = True
    rig.until(A.TRACK, 200)
    rig.apt._set_exposure(len(A.EXPOSURES_US) - 1)  # 9 ms: the hot pixel at its strongest
    rig.apt._ae_wait = 10 ** 6  # hold the exposure there
    res = []
    for _ in range(200):
        rig.tick()
        res.append(rig.cam.residual_urad()[0])
    mean = sum(res[100:]) / 100
    assert abs(mean) < 4.0  # urad
    # The same without the correction: the hot pixel pulls the spot off the boresight.
    rig.apt._hot = []
    res = []
    for _ in range(200):
        rig.tick()
        res.append(rig.cam.residual_urad()[0])
    assert abs(sum(res[100:]) / 100) > 8.0


def test_a_static_target_is_rejected_and_the_beacon_found():
    # A cluster of hot pixels (looks like a spot at full resolution, brighter than the
    # beacon) does not move against the mirror: ACQUIRE rejects it, SEARCH moves on.
    cluster = {(300 + dx, 200 + dy): 3000 for dx in (0, 1) for dy in (0, 1)}
    rig = Rig(err=(0.004, -0.003))
    rig.cam = HotPixelCamera(rig.fsm, cluster)
    rig.apt.camera = rig.cam
    rig.app.modes.request("STANDBY")
    rig.app.modes.request("SESSION")
    rig.until(A.TRACK, 600)
    assert rig.apt.rejections >= 1
    assert any("does not follow the mirror" in t for t in rig.named(A.EV_APT_STATE))
    rx, ry = rig.cam.residual_urad()
    assert abs(rx) < 30 and abs(ry) < 30  # tracking the beacon, not the cluster


def test_a_brighter_isolated_hot_pixel_does_not_hide_the_spot():
    rig = Rig()
    apt = rig.apt
    apt.win_x0 = 624
    apt.win_y0 = 496
    model = Camera(seed=5)
    model.set_exposure(1e-3)
    model.set_residual(0.0, 0.0)
    buf = array("H", [0] * 1024)
    model.read(buf, 624, 496, 32, 32, 1)
    assert apt._centroid(buf, 32)
    x_ok = apt.spot_x
    buf[5 * 32 + 5] = 1000  # far brighter than the spot: it would set the threshold
    assert apt._centroid(buf, 32)
    assert abs(apt.spot_x - x_ok) <= 2  # q6: the same spot

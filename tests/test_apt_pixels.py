"""APT pixel processing (flight/apt_pixels.py, apt_search.py) on sim.camera.Camera
frames: the Gaussian-weighted centroid's accuracy and rejections, its weight table, the
hot-pixel patch and the strip background; on the APT rig (tests/apt_rig.py) the dark
calibration that removes a hot pixel and the rejection of a static target.
"""

import math
from array import array

import pytest

from flight import apt as A
from flight import apt_pixels as px
from flight.apt_control import EXPOSURES_US
from flight.apt_search import DARK_FRAMES
from sim.camera import Camera
from sim.rng import Rng
from tests.apt_rig import Rig

IFOV = 100e-6


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


def test_centroid_weight_table_is_the_gaussian_it_documents():
    # (a bytes literal so that the firmware keeps it in flash: its values are the formula's)
    w = px._WTAB
    assert isinstance(w, bytes) and len(w) == 257
    for k in range(257):
        assert w[k] == int(64.0 * 2.718281828459045 ** (-0.5 * (k / 64.0 / 1.75) ** 2) + 0.5), k


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
    # its index in TRACK's 8 px window at the boresight (636 .. 643, 508 .. 515)
    assert A.TRACK_WIN == 8 and s.hot[0] == (512 - 508) * 8 + (641 - 636)
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


@pytest.mark.parametrize("ref, hot, origin", [
    ((2.0, 1.0), (1, 2), (0, 0)),  # the reference within half a window of the corner
    ((1278.5, 1022.0), (1276, 1020), (1272, 1016)),  # and of the far corner
])
def test_dark_frames_at_a_reference_by_the_sensor_edge_read_tracks_window(ref, hot, origin):
    """The dark look reads TRACK's own window, on the sensor (until stop 64 its origin was
    not clamped: a reference within 4 px of an edge, inside the parameter's bounds, made
    a ValueError a frame — five task faults and the APT disabled)."""
    rig = Rig(err=(0.0, 0.0), hot={hot: 600}, session=False)
    rig.apt.ctx.params.set("apt_ref_x", ref[0])
    rig.apt.ctx.params.set("apt_ref_y", ref[1])
    rig.cam.beacon = False
    rig.apt.start_session()
    rig.tick(DARK_FRAMES + 2)
    s = rig.apt.search
    assert s.hot_pixels == 1 and rig.args(A.EV_APT_DARK_CALIBRATED) == [[1]]
    rig.apt._center_window(rig.apt.ref_x, rig.apt.ref_y, A.TRACK_WIN)  # TRACK's window
    assert (rig.apt.win_x0, rig.apt.win_y0) == origin
    assert s.hot[0] == (hot[1] - origin[1]) * A.TRACK_WIN + (hot[0] - origin[0])
    assert rig.apt.camera_errors == 0


def test_window_origin_keeps_a_window_on_the_sensor():
    assert px.window_origin(640 << 6, 8, 1280) == 636
    assert px.window_origin(2 << 6, 8, 1280) == 0
    assert px.window_origin(1279 << 6, 8, 1280) == 1272
    assert px.window_origin(1279 << 6, 32, 1280) == 1248


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


def test_mask_rejected_gives_the_strip_s_false_targets_their_local_background():
    # cells 16 .. 31 of the frame, rows of 8: 19 is the strip's 4th cell, 24 the second
    # row's first (its background from the right), 15 and 40 outside the strip
    buf = array("H", [10, 11, 12, 90, 14, 15, 16, 17, 80, 21, 22, 23, 24, 25, 26, 27])
    assert px.mask_rejected(buf, [3, 19, 24, 15, 40], 16, 8) == 2
    assert buf[3] == 11 and buf[8] == 22  # two cells away in the row
    assert list(buf)[:3] == [10, 11, 12] and list(buf)[9:] == [21, 22, 23, 24, 25, 26, 27]
    # after the high-pass they hold no excess, and neither do their neighbours
    k = px.strip_highpass_py(0, buf, 8, 16)
    assert buf[3] == 0 and buf[8] == 0 and max(buf) < 3 and buf[k] == max(buf)
    assert px.mask_rejected(buf, None, 16, 8) == 0

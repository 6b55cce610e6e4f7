"""Beacon camera model (sim/camera.py): spot geometry, noise, ROI/binning, hot pixels."""

import math
import time
import tracemalloc
from array import array

import numpy as np
import pytest

from sim import camera as cam_mod
from sim.camera import ADC_MAX, Camera

IFOV = 100e-6
G = cam_mod.DN_PER_E  # DN per electron at unity gain
OFF = cam_mod.OFFSET_DN
RN2 = cam_mod.READ_NOISE_E ** 2
BG_E_S = cam_mod.BACKGROUND_E_S + cam_mod.DARK_E_S


def bg_sd(t_exp, gain=1.0):
    """Background + read noise of a native pixel in DN."""
    return G * gain * math.sqrt(BG_E_S * t_exp + RN2)


def frame(buf, cols, rows):
    return np.frombuffer(buf, dtype=np.uint16, count=cols * rows).reshape(rows, cols).astype(float)


def centroid(img, bg, thr):
    a = img - bg
    a[a < thr] = 0.0
    ys, xs = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    s = a.sum()
    return (a * (xs + 0.5)).sum() / s, (a * (ys + 0.5)).sum() / s


def hot_free_window(cam, w=16, h=16, margin=4):
    """A window near the sensor centre that contains no hot pixel (and margin around it)."""
    hot = {(x, y) for x, y, _ in cam.hot_pixels}
    for x0 in range(600, 680, 8):
        for y0 in range(480, 540, 8):
            if not any((x, y) in hot for x in range(x0 - margin, x0 + w + margin)
                       for y in range(y0 - margin, y0 + h + margin)):
                return x0, y0
    raise AssertionError("no hot-pixel-free window")


def test_reference_constants():
    assert (cam_mod.SENSOR_W, cam_mod.SENSOR_H) == (1280, 1024)
    assert cam_mod.IFOV_RAD == pytest.approx(100e-6)
    assert cam_mod.REFERENCE_FRAME_RATE_HZ == 100.0  # DESIGN §5's


def test_the_world_runs_the_boards_frame_unless_a_what_if_asks_another():
    from hal.interfaces import CAMERA_FRAME_PERIOD_US
    from hal.sim.world import make_world

    w = make_world("nominal", seed=1)
    assert w.frame_us == w.camera.frame_period_us == CAMERA_FRAME_PERIOD_US
    assert (CAMERA_FRAME_PERIOD_US, w.camera.exposure_max_us) == (6000, 5000)  # (stop 63)
    ref = make_world("nominal", seed=1, frame_rate_hz=cam_mod.REFERENCE_FRAME_RATE_HZ)
    assert (ref.camera.frame_period_us, ref.camera.exposure_max_us) == (10000, 9000)
    assert ADC_MAX == 1023  # 10-bit: hal/interfaces.py reference sensor
    assert (cam_mod.GAIN_MIN, cam_mod.GAIN_MAX) == (1.0, 8.0)
    assert (cam_mod.EXPOSURE_MIN_S, cam_mod.EXPOSURE_MAX_S) == (10e-6, 9e-3)


def test_spot_position_follows_residual_behind_fsm():
    c = Camera(seed=1)
    c.set_residual(1e-3, -5e-4)
    assert c.spot_px() == pytest.approx((650.0, 507.0))
    c.set_pointing(0.02, 0.01, 0.019, 0.0105)  # error - fsm = (1e-3, -5e-4)
    assert c.spot_px() == pytest.approx((650.0, 507.0))
    c2 = Camera(seed=1, boresight_px=(2.5, -1.0))
    c2.set_residual(0.0, 0.0)
    assert c2.spot_px() == pytest.approx((642.5, 511.0))


@pytest.mark.parametrize("fx", [0.0, 0.25, 0.5, 0.8])
@pytest.mark.parametrize("fy", [0.1, 0.5, 0.9])
def test_centroid_matches_commanded_position(fx, fy):
    c = Camera(seed=3)
    x0, y0 = hot_free_window(c)
    # spot at a sub-pixel position near the window centre
    sx = x0 + 7 + fx
    sy = y0 + 8 + fy
    c.set_residual((sx - 640.0) * IFOV, (sy - 512.0) * IFOV)
    assert c.spot_px() == pytest.approx((sx, sy))
    buf = array("H", bytes(2 * 256))
    bg = c.background_dn()
    errs = []
    for _ in range(20):
        assert c.read(buf, x0, y0, 16, 16, 1) == 256
        img = frame(buf, 16, 16)
        cx, cy = centroid(img, bg, 5 * bg_sd(1e-3))
        errs.append((cx + x0 - sx, cy + y0 - sy))
    errs = np.array(errs)
    assert np.max(np.abs(errs)) < 0.2, errs  # every single frame
    assert np.max(np.abs(errs.mean(axis=0))) < 0.05


def test_peak_signal_level_and_background():
    c = Camera(seed=4)
    x0, y0 = hot_free_window(c)
    c.set_residual((x0 + 8.5 - 640) * IFOV, (y0 + 8.5 - 512) * IFOV)  # centred on a pixel
    buf = array("H", bytes(512))
    peaks = []
    for _ in range(50):
        c.read(buf, x0, y0, 16, 16)
        peaks.append(max(buf))
    # 3e7 e-/s * 1 ms * (erf(0.5/sqrt2))^2 * 0.1 DN/e- + offset ~ 470 DN
    frac = math.erf(0.5 / math.sqrt(2)) ** 2
    expect = OFF + G * 3e7 * 1e-3 * frac + G * BG_E_S * 1e-3
    assert 300 < expect < 700  # mid-scale at zenith
    assert np.mean(peaks) == pytest.approx(expect, rel=0.03)
    # background: offset + (bg + dark) * t * g
    c.set_beacon(False)
    c.read(buf, x0, y0, 16, 16)
    img = frame(buf, 16, 16)
    assert img.mean() == pytest.approx(c.background_dn(), abs=1.0)
    sd_expect = math.sqrt(bg_sd(1e-3) ** 2 + 1 / 12)  # plus DN rounding
    assert img.std() == pytest.approx(sd_expect, rel=0.25)


def spot_sum(c, x0, y0, n=30):
    buf = array("H", bytes(2 * 32 * 32))
    # the background as the camera renders it at these settings, beacon off: the table's
    # level is quantised to 1/8 DN (Camera._table), up to ~64 DN over the window
    on, scale = c.beacon_on, c.power_scale
    c.set_beacon(False)
    dark = 0.0
    for _ in range(n):
        c.read(buf, x0, y0, 32, 32)
        dark += frame(buf, 32, 32).sum()
    c.set_beacon(on, power_scale=scale)
    tot = 0.0
    for _ in range(n):
        c.read(buf, x0, y0, 32, 32)
        tot += frame(buf, 32, 32).sum()
    return (tot - dark) / n


def test_signal_scales_with_range_exposure_gain_power_and_transmission():
    c = Camera(seed=5)
    x0, y0 = hot_free_window(c, 32, 32)
    c.set_residual((x0 + 16.3 - 640) * IFOV, (y0 + 15.6 - 512) * IFOV)
    ref = spot_sum(c, x0, y0)
    e_ref = c.spot_electrons()
    assert ref == pytest.approx(e_ref * G, rel=0.03)
    c.set_range(2 * cam_mod.RANGE_REF_M)
    assert spot_sum(c, x0, y0) == pytest.approx(ref / 4, rel=0.05)
    assert c.spot_electrons() == pytest.approx(e_ref / 4)
    c.set_range(cam_mod.RANGE_REF_M)
    c.set_gain(2.0)
    assert spot_sum(c, x0, y0) == pytest.approx(2 * ref, rel=0.03)
    c.set_gain(1.0)
    c.set_exposure(0.5e-3)
    assert spot_sum(c, x0, y0) == pytest.approx(ref / 2, rel=0.03)
    c.set_exposure(1e-3)
    c.set_beacon(True, power_scale=0.5)
    c.set_transmission(0.5)
    assert spot_sum(c, x0, y0) == pytest.approx(ref / 4, rel=0.05)


def test_beacon_off_shows_no_spot():
    c = Camera(seed=6)
    x0, y0 = hot_free_window(c)
    c.set_residual((x0 + 8 - 640) * IFOV, (y0 + 8 - 512) * IFOV)
    c.set_beacon(False)
    assert c.spot_electrons() == 0.0
    buf = array("H", bytes(512))
    for _ in range(20):
        c.read(buf, x0, y0, 16, 16)
        assert max(buf) < c.background_dn() + 6 * bg_sd(1e-3) + 1


def test_settings_clamped():
    c = Camera(seed=1)
    assert c.set_exposure(1.0) == cam_mod.EXPOSURE_MAX_S
    assert c.set_exposure(0.0) == cam_mod.EXPOSURE_MIN_S
    assert c.set_gain(100.0) == cam_mod.GAIN_MAX
    assert c.set_gain(0.1) == cam_mod.GAIN_MIN
    assert c.set_gain(2.03) == 2.0  # quantised to 1/16
    assert c.set_gain(2.05) == 2.0625


def test_window_geometry_and_validation():
    c = Camera(seed=1)
    buf = array("H", bytes(2 * 160 * 128))
    # (w, h) are output pixels, as in hal.interfaces.Camera.read_roi
    assert c.read(buf, 0, 0, 160, 128, 8) == 160 * 128
    assert c.read(buf, binning=8) == 160 * 128  # default: the whole sensor
    with pytest.raises(ValueError):
        c.read(buf, 0, 0, 320, 256, 4)  # does not fit a 160 x 128 buffer
    assert c.read(buf, 1248, 992, 32, 32, 1) == 1024
    assert c.read(buf, 10, 20, 12, 8, 2) == 96
    assert c.read(buf, 1264, 1008, 1, 1, 16) == 1  # last 16 x 16 block
    with pytest.raises(ValueError):
        c.read(buf, 1260, 0, 32, 32)  # off the right edge
    with pytest.raises(ValueError):
        c.read(buf, 1272, 0, 2, 2, 8)  # binned window off the right edge
    with pytest.raises(ValueError):
        c.read(buf, -1, 0, 16, 16)
    with pytest.raises(ValueError):
        c.read(buf, 0, 0, 0, 16)
    with pytest.raises(ValueError):
        c.read(array("H", bytes(2 * 100)), 0, 0, 16, 16)  # buffer too small
    with pytest.raises(ValueError):
        c.read(bytearray(2 * 255), 0, 0, 16, 16)  # bytearray: 2 bytes per pixel
    with pytest.raises(ValueError):
        c.read(buf, 0, 0, 16, 16, 0)


def test_window_reads_only_its_pixels():
    """A window's pixels beyond cols*rows are left untouched (render only what is read)."""
    c = Camera(seed=1)
    buf = array("H", [12345] * 600)
    c.read(buf, 100, 100, 16, 16)
    assert all(v == 12345 for v in buf[256:])
    assert all(v <= ADC_MAX for v in buf[:256])


@pytest.mark.parametrize("b", [2, 4, 8, 16])
def test_binned_full_frame_finds_the_spot(b):
    c = Camera(seed=7)
    cols, rows = 1280 // b, 1024 // b
    buf = array("H", bytes(2 * cols * rows))
    for sx, sy in ((100.4, 900.7), (640.0, 512.0), (1203.6, 37.2)):
        c.set_residual((sx - 640) * IFOV, (sy - 512) * IFOV)
        c.set_exposure(5e-3)  # spot well above any hot pixel after averaging
        assert c.read(buf, 0, 0, cols, rows, b) == cols * rows
        img = frame(buf, cols, rows)
        j, i = np.unravel_index(np.argmax(img), img.shape)
        # brightest bin is the one holding the spot centre (or its neighbour when the
        # centre sits within a sigma of a bin edge)
        assert abs(i - int(sx // b)) <= 1 and abs(j - int(sy // b)) <= 1
        # binned centroid is close to the spot in native pixels
        x0 = max(i - 2, 0)
        y0 = max(j - 2, 0)
        sub = img[y0:j + 3, x0:i + 3]
        cx, cy = centroid(sub, c.background_dn(), 5.0)
        assert abs((cx + x0) * b - sx) < 0.35 * b
        assert abs((cy + y0) * b - sy) < 0.35 * b


def test_binning_averages_background_noise():
    c = Camera(seed=8)
    c.set_beacon(False)
    c.set_exposure(5e-3)
    c.set_gain(8.0)  # noise well above 1 DN so the 1/b reduction is measurable
    buf = array("H", bytes(2 * 160 * 128))
    c.read(buf, 0, 0, 160, 128, 8)
    img8 = frame(buf, 160, 128)
    c.read(buf, 0, 0, 128, 128, 1)
    img1 = frame(buf, 128, 128)
    hot8 = np.zeros(img8.shape, bool)
    for x, y, _ in c.hot_pixels:
        hot8[y // 8, x // 8] = True
    sd1 = bg_sd(5e-3, 8.0)
    med1 = np.median(img1)
    good1 = img1[np.abs(img1 - med1) < 5 * sd1]  # hot pixels excluded
    # the average keeps the level (0..1023 scale, hal/interfaces.py)
    assert img8[~hot8].mean() == pytest.approx(c.background_dn(), abs=0.6)
    assert good1.mean() == pytest.approx(c.background_dn(), abs=0.6)
    # spread: native as modelled, binned 1/8 of it (plus the 1/sqrt(12) DN rounding)
    assert good1.std() == pytest.approx(math.sqrt(sd1 ** 2 + 1 / 12), rel=0.1)
    assert img8[~hot8].std() == pytest.approx(math.sqrt((sd1 / 8) ** 2 + 1 / 12), rel=0.15)


def test_hot_pixels_fixed_per_seed_and_visible():
    a = Camera(seed=9)
    b = Camera(seed=9)
    c = Camera(seed=10)
    assert a.hot_pixels == b.hot_pixels
    assert a.hot_pixels != c.hot_pixels
    assert len(a.hot_pixels) == round(1.5e-4 * 1280 * 1024)
    assert len({(x, y) for x, y, _ in a.hot_pixels}) == len(a.hot_pixels)
    a.set_beacon(False)
    a.set_exposure(9e-3)
    buf = array("H", bytes(512))
    bright = 0
    for x, y, rate in a.hot_pixels[:40]:
        x0 = min(max(x - 8, 0), 1280 - 16)
        y0 = min(max(y - 8, 0), 1024 - 16)
        a.read(buf, x0, y0, 16, 16)
        img = frame(buf, 16, 16)
        v = img[y - y0, x - x0]
        expect = min(a.background_dn() + G * rate * 9e-3, ADC_MAX)
        assert v == pytest.approx(expect, abs=6 * math.sqrt(G * (expect - OFF)) + 6)
        bright += v > a.background_dn() + 10 * bg_sd(9e-3)
    assert bright == 40  # every hot pixel stands out at 9 ms
    # hot pixels also show (averaged) in a binned frame
    big = array("H", bytes(2 * 160 * 128))
    a.read(big, 0, 0, 160, 128, 8)
    img = frame(big, 160, 128)
    x, y, rate = max(a.hot_pixels, key=lambda h: h[2])
    assert img[y // 8, x // 8] > a.background_dn() + G * rate * 9e-3 / 64 * 0.7


def test_saturation_at_adc_full_scale():
    c = Camera(seed=11)
    x0, y0 = hot_free_window(c)
    c.set_residual((x0 + 8.5 - 640) * IFOV, (y0 + 8.5 - 512) * IFOV)
    c.set_exposure(9e-3)
    c.set_gain(8.0)
    buf = array("H", bytes(512))
    c.read(buf, x0, y0, 16, 16)
    assert max(buf) == ADC_MAX
    assert sum(1 for v in buf if v == ADC_MAX) >= 9  # the core of the spot is clipped
    # binned: the average clips too, nothing above 12 bits anywhere
    big = array("H", bytes(2 * 320 * 256))
    c.read(big, 0, 0, 320, 256, 4)
    assert max(big) == ADC_MAX
    # at unity gain the full well limits the pixel, still reading full scale
    c.set_gain(1.0)
    c.set_range(100e3)
    c.read(buf, x0, y0, 16, 16)
    assert max(buf) == ADC_MAX


def test_buffer_types_give_identical_frames():
    cams = [Camera(seed=12) for _ in range(3)]
    bufs = [array("H", bytes(512)), bytearray(512), [0] * 256]
    for c in cams:
        c.set_residual(2.3e-4, -1.7e-4)
        c.set_exposure(9e-3)  # saturate the core so the clipping path is compared too
    outs = []
    for c, b in zip(cams, bufs, strict=True):
        c.read(b, 635, 500, 16, 16)
        if isinstance(b, bytearray):
            outs.append([b[2 * i] | (b[2 * i + 1] << 8) for i in range(256)])
        else:
            outs.append(list(b[:256]))
    assert outs[0] == outs[1] == outs[2]
    assert max(outs[0]) == ADC_MAX


def test_no_allocation_in_render_path():
    c = Camera(seed=13)
    c.set_residual(1e-4, 2e-4)
    roi = array("H", bytes(2 * 32 * 32))
    full = array("H", bytes(2 * 160 * 128))
    c.read(roi, 630, 500, 32, 32)  # builds and caches the noise tables
    c.read(full, 0, 0, 160, 128, 8)
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    for _ in range(100):
        c.read(roi, 630, 500, 32, 32)
        c.read(full, 0, 0, 160, 128, 8)
    cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # a new ROI frame would be 2 kB and a binned frame 40 kB: only small transient objects
    # (floats, slice views) may appear
    assert peak - base < 2048, peak - base
    assert cur - base < 512


def test_deterministic_per_seed():
    out = []
    for seed in (21, 21, 22):
        c = Camera(seed=seed)
        c.set_residual(3e-4, 1e-4)
        buf = array("H", bytes(512))
        c.read(buf, 640, 505, 16, 16)
        out.append(list(buf))
    assert out[0] == out[1]
    assert out[0] != out[2]


def test_camera_render_timing_print():
    c = Camera(seed=1)
    c.set_residual(3.3e-4, -2.1e-4)
    roi = array("H", bytes(2 * 32 * 32))
    full = array("H", bytes(2 * 320 * 256))
    timings = {}
    for name, args, n in (("roi16", (roi, 635, 501, 16, 16, 1), 5000),
                          ("roi32", (roi, 627, 493, 32, 32, 1), 3000),
                          ("full_bin8", (full, 0, 0, 160, 128, 8), 300),
                          ("full_bin4", (full, 0, 0, 320, 256, 4), 200)):
        c.read(*args)
        t0 = time.perf_counter()
        for _ in range(n):
            c.read(*args)
        timings[name] = (time.perf_counter() - t0) / n * 1e6
    print("\ncamera_render_us: " + " ".join("%s=%.1f" % kv for kv in timings.items()))
    assert timings["roi16"] > 0.0


def test_auto_exposure_nudges_reuse_noise_tables():
    c = Camera(seed=14)
    buf = array("H", bytes(512))
    for k in range(50):  # exposure walked up by 1 % per frame, as an AE loop would
        c.set_exposure(1e-3 * (1.01 ** k))
        c.read(buf, 600, 500, 16, 16)
    # background moves by ~0.1 DN over the walk: a few tables, not 50
    assert c.tables_built <= 4
    c.set_gain(4.0)
    c.read(buf, 600, 500, 16, 16)
    assert c.tables_built <= 5
    slots = [id(sl[4]) for sl in c._slots if sl[4] is not None]
    for k in range(50):  # many more settings than slots: the slots' buffers are reused
        c.set_gain(1.0 + k / 16.0 * 2)
        c.read(buf, 600, 500, 16, 16)
    assert c.tables_built > len(c._slots)
    assert set(slots) <= {id(sl[4]) for sl in c._slots}


def test_table_bytes_counts_the_noise_table_buffers():
    from hal.sim.heap_est import noise_table_bytes

    # The benches subtract this from the flight software's heap: it must be what the
    # cache really holds (memoryviews of bytearrays or of arrays, whatever their kind).
    c = Camera(seed=14)
    assert noise_table_bytes(c) == 0
    buf = array("H", bytes(512))
    for k in range(12):  # more settings than slots: every slot gets its buffer
        c.set_gain(1.0 + k / 4.0)
        c.read(buf, 600, 500, 16, 16)
    held = sum(memoryview(sl[4]).nbytes if not isinstance(sl[4], list) else 4 * len(sl[4])
               for sl in c._slots if sl[4] is not None)
    assert held > 0 and noise_table_bytes(c) == held

"""Issue 13: structured background (city lights, sunlit ground) in the camera's ROI."""

from array import array

import pytest

from sim.background import Background
from sim.camera import Camera


def _roi(bg, res=(0.0, 0.0), seed=3):
    cam = Camera(seed=seed)
    cam.set_beacon(True)
    cam.set_residual(*res)
    buf = array("H", [0] * (96 * 96))
    x0 = int(cam.spot_px()[0]) - 48
    y0 = int(cam.spot_px()[1]) - 48
    cam.read(buf, x0, y0, 96, 96, 1)
    if bg is not None:
        bg.add(cam, buf, x0, y0, 96, 96, 1)
    return cam, buf


def test_city_lights_add_spots_that_move_with_the_pointing():
    bg = Background("city", seed=5)
    _, plain = _roi(None)
    _, lit = _roi(bg)
    extra = sum(lit) - sum(plain)
    assert extra > 0
    diff = [b - a for a, b in zip(plain, lit, strict=True)]
    assert sum(1 for d in diff if d > 20) >= 3  # several distinct bright lights
    # move the pointing by 3 px: the lights move with the beacon (fixed on the ground)
    _, lit2 = _roi(bg, res=(300e-6, 0.0))
    _, plain2 = _roi(None, res=(300e-6, 0.0))
    diff2 = [b - a for a, b in zip(plain2, lit2, strict=True)]
    assert sum(diff2) == pytest.approx(sum(diff), rel=0.2)


def test_sunlit_ground_raises_the_whole_roi_with_a_gradient():
    bg = Background("sunlit", seed=1)
    cam, plain = _roi(None)
    _, lit = _roi(bg)
    d = [b - a for a, b in zip(plain, lit, strict=True)]
    assert min(d) > 0
    assert max(d) > min(d)  # the albedo gradient
    with pytest.raises(ValueError):
        Background("fog")


def _added(bg, b, n, beacon=False):
    """What ``bg`` adds to a zeroed window of n x n output pixels at binning ``b``,
    centred on the beacon's spot (the same sensor area at every binning)."""
    cam = Camera(seed=3)
    cam.set_beacon(beacon)
    side = n * b
    x0 = int(cam.spot_px()[0]) - side // 2
    y0 = int(cam.spot_px()[1]) - side // 2
    buf = array("H", [0] * (n * n))
    bg.add(cam, buf, x0, y0, n, n, b)
    return buf


def _block_means(full, n, b):
    """The b x b block means of a full-resolution n*b square window."""
    side = n * b
    out = []
    for J in range(n):
        for i in range(n):
            s = 0
            for y in range(J * b, J * b + b):
                s += sum(full[y * side + i * b:y * side + i * b + b])
            out.append(s / (b * b))
    return out


@pytest.mark.parametrize("b", [2, 8, 16])
def test_a_binned_frame_gets_the_mean_of_its_pixels_city(b):
    # A bin is the average of its sensor pixels (hal/interfaces.py): the lights in a
    # binned frame are the full-resolution lights averaged — not b^2 times brighter.
    n = 96 // b
    full = _added(Background("city", seed=5), 1, 96)
    binned = _added(Background("city", seed=5), b, n)
    ref = _block_means(full, n, b)
    assert sum(full) > 300  # lights in view (~900 DN of them at 1 ms)
    assert sum(binned) == pytest.approx(sum(ref), rel=0.1, abs=4 * n)
    assert max(binned) == pytest.approx(max(ref), rel=0.25, abs=3)


@pytest.mark.parametrize("b", [8, 16])
def test_a_binned_frame_gets_the_mean_of_its_pixels_sunlit(b):
    n = 96 // b
    cam = Camera(seed=3)
    full = _added(Background("sunlit", seed=1), 1, 96)
    binned = _added(Background("sunlit", seed=1), b, n)
    level = 1.0e5 * cam.exposure_s * cam.conversion_dn_per_e()  # DN per pixel, mean
    assert sum(full) / len(full) == pytest.approx(level, rel=0.35)
    assert sum(binned) / len(binned) == pytest.approx(sum(full) / len(full), rel=0.05)


def test_sunlit_ground_has_its_shot_noise():
    # 1e5 e-/s for 9 ms: ~900 e- a pixel, sqrt: 30 e- = 3 DN RMS (the read noise is 1 DN)
    cam = Camera(seed=3)
    cam.set_exposure(9e-3)
    buf = array("H", [0] * (32 * 32))
    Background("sunlit", seed=1).add(cam, buf, 600, 500, 32, 32, 1)
    m = sum(buf) / len(buf)
    sd = (sum((v - m) ** 2 for v in buf) / len(buf)) ** 0.5
    assert 2.0 < sd < 4.5

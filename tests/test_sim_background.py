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

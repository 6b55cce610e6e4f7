"""Issue 13's MicroPython-safe physics (point-ahead, calibration draw, structured
background) agree between CPython and the MicroPython VM; literal values from CPython."""

from array import array

from sim import calib, geometry, pointahead
from sim.background import Background
from sim.camera import Camera


XY45 = (-3.362543738686938e-05, -1.7783579487298996e-05)
VBR7 = -0.07597487014718352  # uniform over the J-series 24.2-24.7 V (issue 14)
BORE7 = -1.092458091216432e-05


def close(a, b, tol):
    return abs(a - b) <= tol


def test_point_ahead_literals():
    x, y = pointahead.point_ahead_rad(geometry.Pass(90.0), 0.0)
    assert close(x, -5.056540058065842e-05, 1e-15) and y == 0.0
    x, y = pointahead.point_ahead_rad(geometry.Pass(45.0), 100.0)
    assert close(x, XY45[0], 1e-15) and close(y, XY45[1], 1e-15)


def test_calibration_draw_same_on_both_interpreters():
    d = calib.draw(7)
    assert close(d["v_br25_v"], VBR7, 1e-12)
    assert close(d["tx_bore_x_rad"], BORE7, 1e-18)
    assert calib.ideal()["fsm_gain_x"] == 0.0


def test_city_lights_render():
    cam = Camera(seed=3)
    cam.set_beacon(True)
    buf = array("H", [0] * (64 * 64))
    x0 = int(cam.spot_px()[0]) - 32
    y0 = int(cam.spot_px()[1]) - 32
    cam.read(buf, x0, y0, 64, 64, 1)
    s0 = sum(buf)
    Background("city", seed=5).add(cam, buf, x0, y0, 64, 64, 1)
    assert sum(buf) > s0

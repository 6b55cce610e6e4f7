"""Issue 13: point-ahead geometry and per-unit calibration errors."""

import math

import pytest

from sim import calib, geometry, pointahead
from hal.sim.world import make_world


def test_point_ahead_zenith_and_20_deg():
    p = geometry.Pass(90.0)
    x, y = pointahead.point_ahead_rad(p, 0.0)
    v = geometry.orbital_speed()
    assert math.hypot(x, y) == pytest.approx(2 * v / pointahead.C_M_S, rel=1e-9)
    assert 50e-6 < math.hypot(x, y) < 51e-6 and y == 0.0  # issue 13: ~51 urad at zenith
    t20 = p.time_at_elevation_s(20.0)
    m20 = pointahead.point_ahead_mag_rad(p, t20)
    assert 24e-6 < m20 < 26e-6  # ~25 urad near 20 deg
    assert pointahead.point_ahead_mag_rad(p, -t20) == pytest.approx(m20)


def test_point_ahead_off_track_pass_has_a_cross_axis_part():
    p = geometry.Pass(45.0)
    t20 = p.time_at_elevation_s(20.0)
    x, y = pointahead.point_ahead_rad(p, t20)
    assert abs(y) > 5e-6 and abs(x) > 5e-6
    # at the culmination the velocity is normal to the line of sight: full 2 v / c
    assert pointahead.point_ahead_mag_rad(p, 0.0) == pytest.approx(
        pointahead.zenith_point_ahead_rad(), rel=1e-6)


def test_calibration_draw_is_per_seed_and_bounded():
    a, b = calib.draw(1), calib.draw(1)
    assert a == b and a != calib.draw(2)
    assert set(a) == set(calib.KEYS) and all(v == 0.0 for v in calib.ideal().values())
    for s in range(1, 200):
        d = calib.draw(s)
        # within the J-series range 24.2-24.7 V
        assert 24.2 - 1e-9 <= 24.55 + d["v_br25_v"] <= 24.7 + 1e-9
        assert math.hypot(d["tx_bore_x_rad"], d["tx_bore_y_rad"]) <= calib.TX_BORE_MAX_RAD


def test_world_applies_calibration_errors_unless_ideal():
    w = make_world("nominal", seed=3)
    wi = make_world("nominal", seed=3, ideal=True)
    cal = w.calib
    assert w.v_br() - wi.v_br() == pytest.approx(
        cal["v_br25_v"] + cal["k_t_v_per_k"] * (w.thermal.temperature() - 25.0))
    assert w.fsm_model.gain_matrix[0] == pytest.approx(1.0 + cal["fsm_gain_x"])
    assert wi.fsm_model.gain_matrix == (1.0, 0.0, 0.0, 1.0)
    assert w.cam_model.ifov == pytest.approx(100e-6 * (1.0 + cal["ifov_scale"]))
    w.point_ahead = (-50e-6, 0.0)
    wi.point_ahead = (-50e-6, 0.0)
    ax, ay = w.aim_error(0.0, 0.0)
    assert ax == pytest.approx(50e-6 + cal["tx_bore_x_rad"])
    assert ay == pytest.approx(cal["tx_bore_y_rad"])
    assert wi.aim_error(1e-6, 2e-6) == (1e-6, 2e-6)

"""Pass geometry (paper Eqs. 4-6) against an independent 3-D vector computation."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import geometry
from sim.geometry import ALTITUDE_M, R_EARTH_M, Pass


def vector_range_elevation(max_el_deg, t):
    """Range and elevation from 3-D positions (no use of Eqs. 4-6 or the spherical-triangle
    shortcut): orbit in the x-z plane, station rotated off-track about the x axis."""
    r = R_EARTH_M + ALTITUDE_M
    omega = math.sqrt(geometry.G_SURFACE * R_EARTH_M ** 2 / r ** 3)  # sqrt(GM / r^3)
    beta = geometry.central_angle_for_elevation(math.radians(max_el_deg))
    sat = (r * math.cos(omega * t), 0.0, r * math.sin(omega * t))
    st_ = (R_EARTH_M * math.cos(beta), R_EARTH_M * math.sin(beta), 0.0)
    los = [s - g for s, g in zip(sat, st_, strict=True)]
    d = math.sqrt(sum(x * x for x in los))
    up = [g / R_EARTH_M for g in st_]
    el = math.asin(sum(a * b for a, b in zip(los, up, strict=True)) / d)
    return d, math.degrees(el)


def test_zenith_pass_above_20_deg_lasts_328_s():
    # paper §3.2: -164 ... +164 s; §4: "about 328 s"; DESIGN §5: 328 s
    assert Pass().duration_above_s(20.0) == pytest.approx(328.0, abs=1.0)


def test_zenith_values_at_culmination():
    p = Pass()
    assert p.range_m(0.0) == pytest.approx(560e3, rel=1e-9)
    assert p.elevation_deg(0.0) == pytest.approx(90.0, abs=1e-9)


def test_angular_rate_is_keplerian():
    r = R_EARTH_M + ALTITUDE_M
    gm = geometry.G_SURFACE * R_EARTH_M ** 2
    assert geometry.angular_rate() == pytest.approx(math.sqrt(gm / r ** 3), rel=1e-12)
    period_min = 2 * math.pi / geometry.angular_rate() / 60
    assert 95.0 < period_min < 97.0  # ~96 min for 560 km
    assert geometry.orbital_speed() == pytest.approx(geometry.angular_rate() * r, rel=1e-12)


def test_eq5_holds_on_zenith_pass():
    p = Pass()
    r = R_EARTH_M + ALTITUDE_M
    for t in (10.0, 60.0, 120.0, 163.0, 250.0):
        a = p.alpha_rad(t)
        assert a == pytest.approx(geometry.angular_rate() * t, rel=1e-12)  # Eq. 6
        d = p.range_m(t)
        assert math.cos(p.elevation_rad(t)) == pytest.approx(r * math.sin(a) / d, rel=1e-9)


def test_range_at_20_deg():
    # Standard slant-range formula d = sqrt(r^2 - R^2 cos^2 el) - R sin el.
    el = math.radians(20)
    r = R_EARTH_M + ALTITUDE_M
    d = math.sqrt(r * r - (R_EARTH_M * math.cos(el)) ** 2) - R_EARTH_M * math.sin(el)
    assert geometry.range_at_elevation_m(20.0) == pytest.approx(d, rel=1e-9)
    t = Pass().time_at_elevation_s(20.0)
    assert Pass().range_m(t) == pytest.approx(d, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.floats(1.0, 90.0), st.floats(-600.0, 600.0))
def test_matches_3d_vectors(max_el, t):
    p = Pass(max_el)
    d, el = vector_range_elevation(max_el, t)
    assert p.range_m(t) == pytest.approx(d, rel=1e-9, abs=1e-3)
    # Near the zenith both formulas go through acos/asin of a value ~1, whose rounding
    # error grows to ~sqrt(eps) rad (~1e-6 deg): compare to 1e-5 deg there.
    tol = 1e-5 if el > 89.9 else 1e-7
    assert p.elevation_deg(t) == pytest.approx(el, abs=tol)


@pytest.mark.parametrize("max_el", [90.0, 60.0, 35.0, 21.0])
def test_lower_pass(max_el):
    p = Pass(max_el)
    assert p.elevation_deg(0.0) == pytest.approx(max_el, abs=1e-9)
    t20 = p.time_at_elevation_s(20.0)
    assert p.elevation_deg(t20) == pytest.approx(20.0, abs=1e-7)
    assert p.elevation_deg(-t20) == pytest.approx(20.0, abs=1e-7)
    # elevation falls monotonically after culmination
    els = [p.elevation_deg(t) for t in range(0, 600, 10)]
    assert all(b < a for a, b in zip(els, els[1:], strict=False))


def test_duration_shrinks_with_max_elevation():
    ds = [Pass(m).duration_above_s(20.0) for m in (90, 70, 50, 30, 21)]
    assert all(b < a for a, b in zip(ds, ds[1:], strict=False))
    assert Pass(19.0).duration_above_s(20.0) == 0.0
    assert Pass(19.0).time_at_elevation_s(20.0) is None
    assert Pass(20.0).duration_above_s(20.0) == pytest.approx(0.0, abs=1.0)


def test_below_horizon_is_negative():
    p = Pass()
    t0 = p.time_at_elevation_s(0.0)
    assert p.elevation_deg(t0 + 60.0) < 0.0


@pytest.mark.parametrize("bad", [0.0, -5.0, 91.0])
def test_invalid_max_elevation(bad):
    with pytest.raises(ValueError):
        Pass(bad)

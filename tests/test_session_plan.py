"""The session planned before the station's uplink (sim/geometry.py ``planned_rise_s``,
ground_tools/plan.py; docs/calibration.md "Plan the session before the uplink"): on
every pass the beacon and uplink come on as long after the session's start as on the
zenith pass, so the breakdown sweep at the session's start runs in the dark."""

import pytest

from hal.sim.world import make_world
from sim import geometry
from sim.run import passsim


def _beacon_on(world):
    """World time [s] the station's beacon comes on (first 10 ms step above 18°)."""
    t = 0.0
    while True:
        world.t = t
        if world.beacon_visible():
            return t
        t += 0.01


def test_the_zenith_pass_keeps_its_timeline_and_every_pass_gets_its_beacon_as_late():
    assert geometry.planned_rise_s(geometry.Pass(90.0), 18.0) == 20.5
    assert make_world("nominal", seed=1).pass_start == 20.5
    zenith = _beacon_on(make_world("nominal", seed=1))
    assert 7.5 < zenith < 8.5  # 2.9 s after SESSION_START at 5 s
    for el in (30.0, 38.0, 45.0, 67.0):
        w = make_world("nominal", seed=1, max_elevation_deg=el)
        assert w.pass_start > 20.0  # a lower pass climbs more slowly: it rises later
        assert _beacon_on(w) == pytest.approx(zenith, abs=0.011)
    # an explicit rise keeps its own (the old timeline: a 30° pass lit before its session)
    assert _beacon_on(make_world("nominal", seed=1, max_elevation_deg=30.0,
                                 pass_start_s=20.0)) < 5.0


def _first_knee_light(**ov):
    res = passsim.fly("nominal", seed=3, duration_s=10.0,
                      overrides=dict(max_elevation_deg=35.0, **ov))
    knees = [e.get("args") for _t, _b, e in res.obc.events
             if e.get("name") == "BIAS_KNEE_CALIBRATED"]
    assert knees, "no knee accepted in the first 10 s"
    return knees[0][3]


def test_a_low_pass_planned_so_sweeps_in_the_dark():
    assert _first_knee_light() is False
    assert _first_knee_light(pass_start_s=20.0) is True  # the uplink first: a light sweep

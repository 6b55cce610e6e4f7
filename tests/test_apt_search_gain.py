"""SEARCH raises the camera's analog gain once its exposure ladder ends
(flight/apt_search.py ``Search._strip_step``): a beacon too faint for the binned frame at
the longest SEARCH exposure (fog at low elevation: campaign draw 13 of seed 11 searched
for 1.2 s) is found within a few frames, and tracked."""

from flight import apt as A
from flight.apt_exposure import GAINS_X16
from flight.apt_search import SEARCH_MAX_EXP_US, SEARCH_MAX_GAIN
from tests.mpy.kit import rig

FAR_M = 3500e3  # the beacon's range: ~3 DN over the background in the 8x8 bins at 5 ms


def _search(r, ticks):
    n = 0
    while r.apt.state == A.SEARCH and n < ticks:
        r.tick(1)
        n += 1
    return n


def test_a_beacon_too_faint_at_the_longest_exposure_is_found_with_gain_and_tracked():
    r = rig("apt", err=(0.004, -0.003))
    r.cam.model.set_range(FAR_M)
    n = _search(r, 400)
    assert r.apt.state == A.ACQUIRE, "still searching after %d ticks" % n
    assert n < 100  # dark frames, the exposure ladder and two gain steps (8 ticks a frame)
    assert r.apt.exposure.us() > SEARCH_MAX_EXP_US
    assert 1.0 < r.cam.model.gain <= GAINS_X16[SEARCH_MAX_GAIN] / 16
    r.until(A.TRACK, 200)
    rx, ry = r.cam.residual_urad()
    assert abs(rx) < 30 and abs(ry) < 30


def test_the_search_gain_stops_at_its_ceiling_when_nothing_is_there():
    r = rig("apt", err=(0.004, -0.003))
    r.cam.model.set_range(20000e3)  # no detectable beacon at any gain
    _search(r, 300)
    assert r.apt.state == A.SEARCH
    assert r.apt.exposure.gain == SEARCH_MAX_GAIN
    assert r.cam.model.gain == GAINS_X16[SEARCH_MAX_GAIN] / 16
    assert not r.named(A.EV_APT_TARGET_REJECTED)  # the binned noise stays below threshold


def test_a_bright_beacon_is_found_before_any_gain():
    r = rig("apt", err=(0.004, -0.003))
    _search(r, 100)
    assert r.apt.state == A.ACQUIRE
    assert r.apt.exposure.gain == 0 and r.cam.model.gain == 1.0

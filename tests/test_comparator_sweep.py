"""The comparator's calibration sweeps (flight/comparator.py, comparator_sweep.py) on the
fake receiver channel (tests/comparator_rig.py): the noise-floor sweep, the BER sweep's
levels and the window it chooses, a sweep abandoned when the light goes.
"""

import pytest

from flight import comparator as C
from tests.comparator_rig import Rig, calibrated


# ---------------------------------------------------------------------- noise floor
def test_implausible_noise_floor_means_the_sweep_saw_light():
    # Flight default cap (1024 codes): a "floor" at 3000 is the uplink's own pulses seen
    # by a noise sweep that started after the light came on; the floor is unknown (0).
    rig = Rig(signal=False, floor=3000, params={"comp_noise_floor_max": 1024})
    rig.start()
    rig.until(C.WAIT_SIGNAL, 40)
    assert rig.comp.noise_floor == 0
    assert rig.named(C.EV_COMP_FLOOR_UNKNOWN) and "saw light" in rig.named(C.EV_COMP_FLOOR_UNKNOWN)[0]


@pytest.mark.parametrize("floor", [1, 700, 1234, 4000])
def test_noise_sweep_binary_search_finds_the_floor(floor):
    rig = Rig(signal=False, floor=floor)
    rig.start()
    n = rig.until(C.WAIT_SIGNAL, 40)
    assert rig.comp.noise_floor == floor
    assert n <= 2 * 13  # log2(4096) levels, each after a settling window
    p = rig.params
    assert rig.dac.value == max(p["comp_start_code"], floor + p["comp_floor_margin_codes"])


def test_noise_sweep_is_skipped_when_signal_is_already_there():
    rig = Rig(signal=True)
    rig.start()
    rig.window(2)
    assert rig.comp.state == C.WAIT_SIGNAL and rig.comp.noise_floor == 0


def test_light_during_the_noise_sweep_is_seen_at_the_first_probe():
    # The uplink is already on when the session starts, but the mid-scale probe is far
    # above the optimum (no packet): its triggers are light, not noise (flight default:
    # no plausible noise floor above comp_noise_floor_max = 1024).
    rig = Rig(signal=True, c0=500, floor=300, params={"comp_noise_floor_max": 1024,
                                                      "comp_start_code": 520})
    rig.start()
    n = rig.until(C.WAIT_SIGNAL, 40)
    assert n == 2  # a settling window and one probe, not a 12-step binary search
    assert rig.comp.noise_floor == 0
    assert rig.dac.value == 520  # parked on the a-priori level
    assert rig.named(C.EV_COMP_FLOOR_UNKNOWN) and "saw light" in rig.named(C.EV_COMP_FLOOR_UNKNOWN)[0]


# ---------------------------------------------------------------------- BER sweep
def test_sweep_chooses_the_window_centre():
    # BER <= 1e-3 from 1900 to 2100 (bmin 1e-4, a decade per 100 codes).
    rig = calibrated(c0=2000)
    comp = rig.comp
    assert comp.calibrations == 1
    assert comp.cal_duration_s <= 5.0  # issue 5: calibration <= 5 s
    assert abs(comp.tracking_level() - 2000) <= 15
    assert abs(comp.window_lo - 1900) <= 25 and abs(comp.window_hi - 2100) <= 25
    assert rig.params["comp_start_code"] == comp.tracking_level()  # next a-priori
    assert rig.args(C.EV_COMP_CALIBRATED) == [[comp.tracking_level(), comp.cal_duration_s]]


@pytest.mark.parametrize("start", [1700, 2100, 2500])
def test_sweep_with_a_wide_zero_error_bottom_stays_near_the_prior_level(start):
    """At high power the window's bottom counts no error at all over many levels: they
    say nothing about the optimum, so the level stays near the one in use (the a-priori
    level, near the optimum which hardly moves) — not the first zero-error level."""
    rig = calibrated(start=start, flat=(1500, 2700))
    assert abs(rig.comp.tracking_level() - start) <= 70  # within a coarse step / 2
    assert rig.comp.window_lo < rig.comp.tracking_level() < rig.comp.window_hi


def test_sweep_window_around_an_asymmetric_optimum():
    """Fig. A1: the upper edge of the window lies far above the optimum.  The level is
    the centre of the window the fine sweep resolves around the optimum, not the centre
    of the whole window (which would sit at ~2x the best BER)."""
    rig = calibrated(start=2000, c0=2000)
    ch = rig.ch
    ch.ber = lambda code: min(0.5, 1e-4 * 10 ** ((2000 - code) / 100.0 if code < 2000
                                                 else (code - 2000) / 1000.0))
    rig.comp.cmd_calibrate({}, None)
    rig.until(C.TRACK, 100)
    lv = rig.comp.tracking_level()
    assert ch.ber(lv) <= 1.5 * ch.ber(2000)
    assert abs(lv - 2000) <= 125


def test_sweep_lowest_ber_when_no_level_qualifies():
    rig = calibrated(start=2600, c0=2600, bmin=5e-3)  # never <= 1e-3
    comp = rig.comp
    assert comp.window_lo is None and comp.window_hi is None
    assert abs(comp.tracking_level() - 2600) <= 15
    assert comp.best_code == comp.tracking_level()


def test_sweep_levels_run_from_the_floor_toward_full_scale():
    # Evenly spaced from the noise floor toward 4095; past the window's upper edge (three
    # ever-worse levels) the rest of the scale is not scanned.
    rig = calibrated(c0=2000)
    p = rig.params
    coarse = rig.coarse
    bers = rig.coarse_ber
    step = (4095 - 1234) / (p["comp_coarse_steps"] - 1)
    assert coarse[0] == 1234
    assert all(abs((b - a) - step) <= 1 for a, b in zip(coarse, coarse[1:], strict=False))
    assert len(coarse) < p["comp_coarse_steps"]
    assert bers[-3] <= bers[-2] <= bers[-1] and bers[-3] > 10 * p["comp_ber_target"]


def test_wrong_a_priori_level_still_calibrates():
    """Light on the detector but no packet at the a-priori level: the sweep starts on the
    trigger rate."""
    rig = calibrated(start=600, c0=2000)
    assert abs(rig.comp.tracking_level() - 2000) <= 15


def test_sweep_abandoned_when_the_light_goes():
    rig = Rig(signal=False, params={"comp_start_code": 2000})
    rig.start()
    rig.until(C.WAIT_SIGNAL, 40)
    rig.ch.signal = True
    rig.until(C.SWEEP, 20)
    rig.window(5)
    rig.ch.signal = False
    assert rig.until(C.WAIT_SIGNAL, 3) == 1
    assert rig.dac.value == 2000  # back at the level in use before the sweep
    assert len(rig.named(C.EV_COMP_SWEEP_ABANDONED)) == 1 and rig.comp.sweeps_abandoned == 1
    rig.window(20)
    assert rig.comp.state == C.WAIT_SIGNAL
    rig.ch.signal = True
    rig.until(C.TRACK, 100)
    assert abs(rig.comp.tracking_level() - 2000) <= 15 and rig.comp.calibrations == 1


def test_coarse_sweep_stops_past_the_upper_edge():
    # A narrow window low on the scale: the BER keeps rising above it, the coarse sweep
    # ends three levels later instead of scanning to full scale.
    rig = calibrated(start=600, c0=600, scale=100.0, floor=300)
    coarse = rig.coarse
    n = rig.params["comp_coarse_steps"]
    assert len(rig.coarse_ber) < n
    assert max(c for c in coarse[:len(rig.coarse_ber)]) < 2000
    assert abs(rig.comp.tracking_level() - 600) <= 60


def test_wide_window_keeps_the_prior_level():
    # High power: zero errors over a wide region; the centre of the measured window says
    # nothing about the optimum, the prior (last calibration) level is kept.
    rig = calibrated(start=1500, flat=(1000, 3000))
    assert rig.comp.window_lo <= 1500 <= rig.comp.window_hi
    assert rig.comp.tracking_level() == 1500

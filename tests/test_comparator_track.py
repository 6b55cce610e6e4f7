"""The comparator in TRACK (flight/comparator.py, comparator_track.py) on the fake
receiver channel (tests/comparator_rig.py): the dither toward fewer errors, the
re-calibration on a degraded BER, the level held without light, DAC write failures.
"""

import math

import pytest

from flight import comparator as C
from flight import comparator_track as T
from tests.comparator_rig import calibrated


# ---------------------------------------------------------------------- tracking
def test_dither_moves_toward_fewer_errors_and_stays_bounded():
    rig = calibrated(c0=2000)
    comp = rig.comp
    start = comp.tracking_level()
    d = rig.params["comp_dither_codes"]
    rig.ch.c0 = start + 80  # the optimum moves up (over-voltage or power change)
    levels = [start]
    for _ in range(12 * 22):  # 12 dither cycles: 2 x 10 windows + 2 settling windows
        rig.window()
        assert comp.state == C.TRACK
        # always centre +- the amplitude in use: d, or 2 d on scarce errors (~50 a cycle)
        assert abs(rig.dac.value - comp.tracking_level()) == comp._amp in (d, 2 * d)
        if comp.tracking_level() != levels[-1]:
            levels.append(comp.tracking_level())
    assert levels[-1] > start + 40  # moved toward the optimum
    assert abs(levels[-1] - (start + 80)) <= 2 * d
    # Bounded steps: d, growing to at most 4 d on a run of moves the same way (the
    # start from the a-priori level), and the first step of a run is d.
    steps = [b - a for a, b in zip(levels, levels[1:], strict=False)]
    assert all(abs(x) <= 4 * d for x in steps)
    assert abs(steps[0]) == d
    assert all(abs(y) == d for x, y in zip(steps, steps[1:], strict=False) if x * y < 0)
    assert comp.dither_moves >= 2  # d then 2 d: 72 of the 80 codes


def test_dither_adds_cycles_up_at_a_low_ber():
    """~1 error per window on the worse side: one 20-window cycle is not significant, a
    few together are; the level still finds the optimum."""
    rig = calibrated(c0=2000, bmin=1e-6, seed=7)
    comp = rig.comp
    start = comp.tracking_level()
    rig.ch.c0 = start + 80
    rig.window(22 * 10)
    assert comp.tracking_level() >= start + 32
    assert comp.dither_moves >= 2


def test_a_slight_slope_at_a_low_ber_adds_up_until_it_is_told():
    """High power: a flat floor (log BER a parabola 300 codes a decade) and ~40 code
    violations a cycle.  The centre 90 codes above the optimum reads 1.2x its BER; its
    dither's sides (±2d, the scarce errors' amplitude) differ by ~40 %, which 100 errors
    cannot tell from noise.  The counts add up past 100 until they can
    (comparator_track._MAX_ACC): the level follows.  (Restarting at every 100 errors,
    before stop 68, it held the centre for good: a campaign pass's 1.23x.)"""
    rig = calibrated(c0=2000, bmin=2e-7, parabola=300.0, cv=True)
    comp = rig.comp
    start = comp.tracking_level()
    rig.ch.c0 = start - 90
    rig.window(22 * 60)  # 60 cycles, 36 s
    assert comp._amp == 2 * rig.params["comp_dither_codes"]  # (scarce errors: 2 d)
    assert comp.tracking_level() <= start - 48 and comp.dither_moves >= 2
    assert comp.tracking_level() >= start - 90 - 2 * comp._amp  # not past the optimum


def test_dither_does_not_move_on_insignificant_differences():
    rig = calibrated(c0=2000, bmin=1e-6, scale=2000.0)  # ~no errors anywhere near
    comp = rig.comp
    lv = comp.tracking_level()
    rig.window(22 * 5)
    assert comp.tracking_level() == lv and comp.dither_moves == 0


def test_dither_direction_needs_a_significant_difference():
    assert T.dither_direction(1000, 10 ** 6, 500, 10 ** 6) == 1  # fewer above: up
    assert T.dither_direction(500, 10 ** 6, 1000, 10 ** 6) == -1
    assert T.dither_direction(1000, 10 ** 6, 960, 10 ** 6) == 0  # within 3 sigma
    assert T.dither_direction(1000, 10 ** 6, 2000, 2 * 10 ** 6) == 0  # per bit: equal


def test_recalibration_when_ber_degrades():
    rig = calibrated(c0=2000)
    p = rig.params
    rig.ch.bmin = 2e-2  # power drop: BER above comp_ber_recal everywhere
    n = rig.until(C.SWEEP, 100)
    # comp_recal_windows bad windows in a row (dither settling windows are not counted)
    # (each dither half-cycle of comp_dither_windows adds one settling window)
    settle = p["comp_recal_windows"] // p["comp_dither_windows"] + 2
    assert p["comp_recal_windows"] <= n <= p["comp_recal_windows"] + settle
    assert any("BER degraded" in t for t in rig.named(C.EV_COMP_RECAL))
    rig.ch.bmin = 1e-4
    rig.until(C.TRACK, 100)
    assert rig.comp.calibrations == 2


def test_no_light_holds_the_level_and_tracking_resumes():
    """A beacon/uplink drop-out is not a bad level: the level is held (no dither, no
    re-calibration) and tracking goes on when the light is back."""
    rig = calibrated(c0=2000)
    lv = rig.comp.tracking_level()
    code = rig.dac.value
    rig.ch.signal = False
    rig.window(100)  # 10 s dark
    assert rig.comp.state == C.TRACK and rig.dac.value == code
    assert rig.comp.calibrations == 1
    rig.ch.signal = True
    rig.window(50)
    assert rig.comp.state == C.TRACK and rig.comp.calibrations == 1
    assert abs(rig.comp.tracking_level() - lv) <= rig.params["comp_dither_codes"]


def test_light_without_packets_is_a_bad_level():
    rig = calibrated(c0=2000)
    rig.ch.c0 = 3200  # the optimum moved far away: light, but nothing decodes
    n = rig.until(C.SWEEP, 100)
    p = rig.params
    # (each dither half-cycle of comp_dither_windows adds one settling window)
    settle = p["comp_recal_windows"] // p["comp_dither_windows"] + 2
    assert p["comp_recal_windows"] <= n <= p["comp_recal_windows"] + settle
    rig.until(C.TRACK, 100)
    assert abs(rig.comp.tracking_level() - 3200) <= 15


def test_ber_per_window_estimate_is_exact_on_the_fake_channel():
    rig = calibrated(c0=2000)
    rig.window()
    w = rig.fc.last_window
    b = rig.ch.ber(rig.dac.value)
    bits = 64 * (w[0] + w[1])
    assert w[3] / bits == pytest.approx(b, abs=1.0 / bits)
    assert rig.fc.window_ber() == w[3] / bits
    assert math.isfinite(rig.fc.ber())


def test_dac_write_failures_are_counted_and_reported_once():
    rig = calibrated(c0=2000)
    rig.dac.fail = 3
    values = []
    for _ in range(30):
        rig.window()
        values.append(rig.dac.value)
    assert rig.comp.dac_errors == 3 and rig.args(C.EV_COMP_DAC_ERROR) == [[1]]
    assert rig.comp.state == C.TRACK and len(set(values[-12:])) >= 2  # the dither goes on
    assert rig.k.hk("comparator")["comp_dac_errors"] == 3

"""Receiver BER model: shapes of the paper's Fig. A1 and Fig. 7 (DESIGN §5)."""

import math

import pytest

from sim import receiver as rx
from sim import geometry, linkbudget

P_LO, P_HI = 150e-9, 1.7e-6  # paper §4: received power at 20 deg / zenith, worst weather
POWERS = [P_LO * (P_HI / P_LO) ** (k / 11) for k in range(12)]


def test_best_level_ber_below_1e3_over_the_pass_range():
    for p in POWERS:
        b = rx.best_level(p)
        assert rx.ber(b, p) <= 1e-3, p


def test_fig7_ber_falls_with_power_and_is_about_1e3_at_150nw():
    bers = [rx.ber(rx.best_level(p), p) for p in POWERS]
    assert all(b < a for a, b in zip(bers, bers[1:], strict=False))
    assert 1e-4 < bers[0] <= 1e-3  # paper §5: "of about 1e-3" at 150 nW
    assert bers[-1] < bers[0] / 100


def test_fixed_level_ber_falls_with_power():
    # App. A: "at a fixed comparator level, the higher signal power, the lower BER"
    level = rx.best_level(P_LO)
    bers = [rx.ber(level, p) for p in POWERS]
    assert all(b < a for a, b in zip(bers, bers[1:], strict=False))


def test_window_widens_on_both_sides():
    wins = [rx.window(p) for p in POWERS]
    assert None not in wins
    for (lo1, hi1), (lo2, hi2) in zip(wins, wins[1:], strict=False):
        assert lo2 < lo1  # lower edge moves down (bias drop lowers the noise)
        assert hi2 > hi1  # upper edge moves up (more signal)
    assert wins[-1][1] - wins[-1][0] > 5 * (wins[0][1] - wins[0][0])
    assert 0.0 < wins[-1][0] and wins[-1][1] < 1.0  # both edges visible in the DAC range


def test_optimum_hardly_moves():
    best = [rx.best_level(p) for p in POWERS]
    assert max(best) - min(best) <= 0.05  # <= 5 % of the level range
    for p, b in zip(POWERS, best, strict=True):
        lo, hi = rx.window(p)
        assert lo < b < hi


@pytest.mark.parametrize("p", [P_LO, 500e-9, P_HI])
def test_overvoltage_error_moves_edges(p):
    lo0, hi0 = rx.window(p, rx.V_OV_NOMINAL)
    for dv in (-0.3, 0.3):
        lo, hi = rx.window(p, rx.V_OV_NOMINAL + dv)
        assert abs(lo - lo0) > 0.01
        assert abs(hi - hi0) > 0.01
        # more over-voltage -> more gain -> both edges move up
        assert (lo > lo0) == (dv > 0) and (hi > hi0) == (dv > 0)


def test_window_edges_sit_at_ber_max():
    for p in (P_LO, 400e-9, P_HI):
        lo, hi = rx.window(p)
        assert rx.ber(lo, p) == pytest.approx(1e-3, rel=1e-3)
        assert rx.ber(hi, p) == pytest.approx(1e-3, rel=1e-3)
        for k in range(1, 20):
            assert rx.ber(lo + (hi - lo) * k / 20, p) <= 1e-3
    assert rx.window(100e-9) is None  # below the design range the window closes
    lo, hi = rx.window(P_HI, ber_max=1e-5)
    lo3, hi3 = rx.window(P_HI)
    assert lo3 < lo < hi < hi3


def test_best_level_is_global_minimum_on_dac_grid():
    for p in (P_LO, 600e-9, P_HI):
        b = rx.best_level(p)
        grid_min = min(rx.ber_at_dac(c, p) for c in range(0, 4096, 3))
        assert rx.ber(b, p) <= grid_min * (1 + 1e-9)


def test_no_signal_or_no_bias_gives_ber_one_half():
    assert rx.ber(0.3, 0.0) == pytest.approx(0.5, rel=1e-6)
    assert rx.ber(0.3, P_HI, vov=0.0) == pytest.approx(0.5, rel=1e-6)
    assert rx.ber(0.0, P_HI) == pytest.approx(0.25, rel=1e-3)  # every off-chip at 50 %


def test_noise_trigger_rate():
    rates = [rx.noise_trigger_rate(k / 100) for k in range(0, 40)]
    assert rates[0] == pytest.approx(rx.CHIP_RATE / 2)
    assert all(b < a for a, b in zip(rates, rates[1:], strict=False))
    assert rx.noise_trigger_rate(0.15, 3.3) > rx.noise_trigger_rate(0.15, 3.0)
    # the level where the dark sweep sees 2 * 1e-3 * 100 MHz triggers predicts the
    # lower window edge at the low end of the power range (calibration, DESIGN §3.5)
    lo_cal, hi_cal = 0.0, 1.0
    for _ in range(60):
        mid = (lo_cal + hi_cal) / 2
        if rx.noise_trigger_rate(mid) > 2e-3 * rx.CHIP_RATE:
            lo_cal = mid
        else:
            hi_cal = mid
    assert lo_cal == pytest.approx(rx.window(P_LO)[0], abs=0.01)


def test_level_dac_mapping():
    assert rx.level_to_dac(0.0) == 0 and rx.level_to_dac(1.0) == 4095
    assert rx.level_to_dac(-0.2) == 0 and rx.level_to_dac(1.7) == 4095
    for code in (0, 1, 100, 2048, 4094, 4095):
        assert rx.level_to_dac(rx.dac_to_level(code)) == code
    assert rx.level_to_volts(0.5) == pytest.approx(0.5 * rx.LEVEL_FULL_SCALE_V)
    assert rx.ber_at_dac(650, P_LO) == rx.ber(650 / 4095, P_LO)


def test_erfc_fallback_matches_math():
    for k in range(-30, 120):
        x = k / 10
        assert rx._erfc_fallback(x) == pytest.approx(math.erfc(x), rel=1e-10, abs=1e-300)


def test_uplink_budget_keeps_receiver_in_its_window():
    # The pass simulator feeds the link budget's uplink power into the receiver: above
    # 20 deg in fog the best level must keep BER <= 1e-3 (paper Fig. 7 conclusion).
    p = geometry.Pass()
    half = p.time_at_elevation_s(20.0)
    for k in range(-10, 11):
        pw = linkbudget.uplink_received_power_w(p, half * k / 10.0)
        assert rx.ber(rx.best_level(pw), pw) <= 1.05e-3


def test_receiver_and_sipm_share_one_nominal_overvoltage_and_the_documented_saturation_gap():
    # issue 13 / docs/physics-link.md §3 "Consistency with the SiPM model"
    from sim import sipm

    assert rx.V_OV_NOMINAL == sipm.V_OV_NOMINAL_V == 3.0
    p_sipm = sipm.saturation_power_w(rx.CELLS)
    assert 105e-9 < p_sipm < 115e-9  # 111 nW with PDE 10 %, 450 cells, 10 ns on-chips
    assert 6.5 < rx.P_SAT_W / p_sipm < 7.5  # the stated 7.0x gap (effective PDE 1.4 %)

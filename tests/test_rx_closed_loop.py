"""Issue 14.3/14.4 in closed loop on the honest simulator (per-unit V_br, k_T, sensor and
comparator-offset errors of sim/calib.py): the over-voltage after the breakdown
calibration, and the comparator against the best level over whole passes in clear sky
and fog (the power range of Fig. A1: ~0.1-2 µW on the SiPM)."""

import pytest

from sim.run import metrics
from sim.run.passsim import fly

_CACHE = {}


def _metrics(scenario, seed):
    key = (scenario, seed)
    if key not in _CACHE:
        res = fly(scenario, seed=seed)
        _CACHE[key] = (res, metrics.compute(res))
    return _CACHE[key]


@pytest.mark.parametrize("scenario", ["nominal", "fog"])
def test_comparator_and_overvoltage_over_a_pass(scenario):
    res, m = _metrics(scenario, 1)
    # the pass spans the power range of Fig. A1 (clear zenith ~2 µW, fog start ~0.12 µW)
    powers = [r[1] for r in res.rec.windows if r[1] > 0]
    assert min(powers) < 2.5e-7 and max(powers) > 1.5e-6
    assert res.world.calib["comparator_offset_v"] != 0.0  # the offset is in the loop
    # Issue 14 goal 1.2 (bar 1.3), clear and fog: the fog pass read 1.31 (its first 10 s
    # step, at the a-priori level, ~0.12 µW) before the start-level acquisition.
    assert m["ber_ratio_chosen_to_best_max"] <= 1.2
    assert m["ber_ratio_session_with_sweeps"] <= 2.0  # sweeps cost little
    assert m["link_lock_time_s"] <= 1.0
    assert m["overvoltage_error_rms_mv"] <= 10.0 and m["overvoltage_error_max_mv"] <= 30.0
    # without the breakdown calibration the same unit is far off
    assert m["overvoltage_error_uncorrected_max_mv"] > 100.0
    assert "BIAS_KNEE_CALIBRATED" in [e["name"] for _t, _b, e in res.obc.events]


def test_comparator_is_reproducible():
    a = fly("fog", seed=1, duration_s=40.0)
    b = fly("fog", seed=1, duration_s=40.0)
    assert metrics.compute(a)["ber_ratio_chosen_to_best_max"] == \
        metrics.compute(b)["ber_ratio_chosen_to_best_max"]

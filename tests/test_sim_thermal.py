"""Thermal and SiPM models (sim/thermal.py, sim/sipm.py)."""

import math
import time

import numpy as np
import pytest

from sim import sipm as sipm_mod
from sim import thermal as th_mod
from sim.sipm import Sipm, breakdown_voltage
from sim.thermal import (TempSensor, Thermal, ThermalScenario, die_temperature,
                         nominal_die_temperature, nominal_profile, nominal_scenario)


def advance(obj, seconds, dt=0.01):
    for _ in range(int(round(seconds / dt))):
        obj.step(dt)


# --- thermal --------------------------------------------------------------------------------

def test_power_on_transient_is_plus_15_k_first_order():
    th = Thermal()
    t0 = th.temperature()
    assert t0 == pytest.approx(th_mod.T_BASE_C)
    th.set_power(True)
    tau = th_mod.TAU_HEAT_S
    advance(th, tau, 0.1)
    assert th.temperature() - t0 == pytest.approx(15.0 * (1 - math.exp(-1)), abs=1e-9)
    advance(th, 9 * tau, 0.5)
    assert th.temperature() - t0 == pytest.approx(15.0, abs=15.0 * math.exp(-10) + 1e-9)
    # power off: cools back with the same time constant
    th.set_power(False)
    advance(th, tau, 0.1)
    assert th.temperature() - t0 == pytest.approx(15.0 * math.exp(-1), abs=2e-3)


def test_eclipse_transition():
    th = Thermal(powered=True)
    hot = th.temperature()
    assert hot == pytest.approx(th_mod.T_BASE_C + 15.0)
    th.set_eclipse(True)
    advance(th, th_mod.TAU_ECLIPSE_S, 0.5)
    assert th.temperature() - hot == pytest.approx(-10.0 * (1 - math.exp(-1)), abs=1e-9)
    th.set_eclipse(False)
    advance(th, 20 * th_mod.TAU_ECLIPSE_S, 1.0)
    assert th.temperature() == pytest.approx(hot, abs=1e-6)


def test_stepping_is_exact_for_any_dt():
    a = Thermal()
    b = Thermal()
    a.set_power(True)
    b.set_power(True)
    advance(a, 100.0, 0.01)
    advance(b, 100.0, 2.5)
    assert a.temperature() == pytest.approx(b.temperature(), abs=1e-9)


def test_scenario_matches_analytic_profile_across_events():
    sc = ThermalScenario()
    assert sc.temperature() == pytest.approx(nominal_die_temperature(0.0), abs=1e-12)
    t = 0.0
    for dt in [7.0] * 47:  # 329 s with a step straddling the 164 s eclipse entry
        sc.step(dt)
        t += dt
        assert sc.temperature() == pytest.approx(nominal_die_temperature(t), abs=1e-9), t
    # an event in the future of t=0 works for power-on too
    sc2 = ThermalScenario(power_on_s=30.0, eclipse_entry_s=None)
    advance(sc2, 100.0, 0.3)
    assert sc2.temperature() == pytest.approx(
        die_temperature(sc2.t, power_on_s=30.0, eclipse_entry_s=None), abs=1e-9)


def test_nominal_thermal_scenario_shape():
    prof = nominal_profile(dt=1.0)
    ts = np.array([p[0] for p in prof])
    tt = np.array([p[1] for p in prof])
    assert ts[0] == 0.0 and ts[-1] == pytest.approx(328.0)
    # powered 60 s before: 15 * (1 - exp(-60/90)) = 7.30 K already at session start
    assert tt[0] == pytest.approx(20.0 + 15.0 * (1 - math.exp(-60.0 / 90.0)), abs=1e-9)
    i_peak = int(np.argmax(tt))
    assert ts[i_peak] == pytest.approx(164.0, abs=2.0)  # heating until eclipse entry
    assert np.all(np.diff(tt[:i_peak + 1]) > 0) and np.all(np.diff(tt[i_peak + 1:]) < 0)
    swing = tt.max() - tt.min()
    assert 4.0 < swing < 10.0  # K over the pass: a significant breakdown drift
    # uncorrected over-voltage error: k_T * swing ~ 0.1 V
    assert 0.0215 * swing > 0.08


# --- sensor ---------------------------------------------------------------------------------

class _Source:
    def __init__(self, t):
        self.t = t

    def temperature(self):
        return self.t


def test_sensor_lag_first_order():
    src = _Source(20.0)
    s = TempSensor(src, noise_k=0.0, resolution_k=0.0)
    assert s.read() == 20.0
    src.t = 30.0  # die temperature step of +10 K
    tau = th_mod.SENSOR_TAU_S
    advance(s, tau, 0.01)
    assert s.read() - 20.0 == pytest.approx(10.0 * (1 - math.exp(-1)), abs=1e-9)
    advance(s, 4 * tau, 0.5)
    assert s.read() - 20.0 == pytest.approx(10.0 * (1 - math.exp(-5)), abs=1e-9)
    # a ramp is followed with a lag of tau (what optional dT/dt feed-forward cancels)
    src2 = _Source(20.0)
    s2 = TempSensor(src2, noise_k=0.0, resolution_k=0.0)
    for _ in range(3000):
        src2.t += 0.1 * 0.01  # 0.1 K/s
        s2.step(0.01)
    assert src2.t - s2.read() == pytest.approx(0.1 * tau, abs=0.1 * 0.01)  # within one step


def test_sensor_noise_and_quantisation():
    th = Thermal()
    s = TempSensor(th, seed=3, resolution_k=0.0)
    v = np.array([s.read() for _ in range(5000)])
    assert v.std() == pytest.approx(th_mod.SENSOR_NOISE_K, rel=0.1)
    assert v.mean() == pytest.approx(th.temperature(), abs=0.002)
    q = TempSensor(th, seed=3)
    for _ in range(200):
        r = q.read()
        q_k = th_mod.SENSOR_RES_K
        assert q_k == 0.0078125  # TMP117
        assert abs(r / q_k - round(r / q_k)) < 1e-6


def test_sensor_faults():
    th = Thermal()
    s = TempSensor(th, seed=1, offset_k=0.5, noise_k=0.0, resolution_k=0.0)
    assert s.read() == pytest.approx(th.temperature() + 0.5)
    s.set_fault("offset", 3.0)
    assert s.read() == pytest.approx(th.temperature() + 3.5)
    good = s.read()
    s.set_fault("stuck")
    th.set_power(True)
    advance(th, 100.0, 1.0)
    advance(s, 100.0, 1.0)
    assert s.read() == good
    s.set_fault("nan")
    assert math.isnan(s.read())
    s.set_fault("error")
    with pytest.raises(OSError):
        s.read()
    s.set_fault(None)
    assert s.read() == pytest.approx(th.temperature() + 0.5, abs=0.01)


# --- SiPM -----------------------------------------------------------------------------------

def test_breakdown_voltage_k_t_21p5_mv_per_k():
    assert sipm_mod.K_T_V_PER_K == 0.0215
    assert breakdown_voltage(25.0) == pytest.approx(sipm_mod.V_BR25_V)
    assert breakdown_voltage(35.0) - breakdown_voltage(25.0) == pytest.approx(0.215, abs=1e-12)
    assert breakdown_voltage(-5.0) - breakdown_voltage(25.0) == pytest.approx(-0.645, abs=1e-12)
    sp = Sipm(v_br25=24.0, k_t=0.054)
    assert sp.v_br(30.0) == pytest.approx(24.27)


def test_overvoltage_gain_linear_and_zero_below_breakdown():
    sp = Sipm()
    sp.set_bias(sp.bias_for(30.0, 2.5))
    assert sp.overvoltage(30.0) == pytest.approx(2.5, abs=1e-12)
    # warmer die, same bias: over-voltage drops by k_T per kelvin
    assert sp.overvoltage(34.0) == pytest.approx(2.5 - 4 * 0.0215, abs=1e-12)
    g1 = Sipm(bias_v=breakdown_voltage(25.0) + 1.0).gain(25.0)
    g2 = Sipm(bias_v=breakdown_voltage(25.0) + 2.0).gain(25.0)
    g3 = Sipm(bias_v=breakdown_voltage(25.0) + 3.0).gain(25.0)
    assert g2 == pytest.approx(2 * g1) and g3 == pytest.approx(3 * g1)
    assert g1 == pytest.approx(sipm_mod.GAIN_PER_V)
    below = Sipm(bias_v=breakdown_voltage(25.0) - 0.5)
    assert below.gain(25.0) == 0.0 and below.dcr_hz(25.0) == 0.0 and below.pde(25.0) == 0.0
    assert Sipm(bias_v=breakdown_voltage(25.0) + 2.5).relative_gain(25.0) == pytest.approx(1.0)


def test_dark_count_model():
    sp = Sipm(bias_v=breakdown_voltage(25.0) + 2.5)
    assert sp.dcr_hz(25.0) == pytest.approx(sipm_mod.DCR_REF_HZ)
    # thermal doubling at constant over-voltage
    sp2 = Sipm(bias_v=breakdown_voltage(33.0) + 2.5)
    assert sp2.dcr_hz(33.0) == pytest.approx(2 * sipm_mod.DCR_REF_HZ)
    # rises monotonically with over-voltage, faster than linear at low V_ov
    rates = [Sipm(bias_v=breakdown_voltage(25.0) + v).dcr_hz(25.0) for v in (0.5, 1, 2, 3, 4, 5)]
    assert all(b > a for a, b in zip(rates[:-1], rates[1:], strict=True))
    assert rates[1] / rates[0] > 2.0
    # PDE saturates with over-voltage
    p = [Sipm(bias_v=breakdown_voltage(25.0) + v).pde(25.0) for v in (1, 2, 4, 8, 16)]
    assert all(b > a for a, b in zip(p[:-1], p[1:], strict=True)) and p[-1] < sipm_mod.PDE_MAX


def test_uncorrected_bias_over_nominal_pass():
    """Fixed bias set at session start: the over-voltage error the corrector must remove."""
    sp = Sipm()
    sc = nominal_scenario()
    sp.set_bias(sp.bias_for(sc.temperature(), 2.5))
    errs = []
    for _ in range(328):
        sc.step(1.0)
        errs.append(sp.overvoltage(sc.temperature()) - 2.5)
    worst = max(abs(e) for e in errs)
    assert 0.08 < worst < 0.2  # ~120 mV: ~5 % of the 2.5 V over-voltage


def test_step_timing_print():
    sc = nominal_scenario()
    s = TempSensor(sc)
    n = 50000
    t0 = time.perf_counter()
    for _ in range(n):
        sc.step(0.01)
        s.step(0.01)
    us = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    for _ in range(n):
        s.read()
    read_us = (time.perf_counter() - t0) / n * 1e6
    print("\nthermal_and_sensor_step_us=%.2f sensor_read_us=%.2f" % (us, read_us))
    assert us > 0.0

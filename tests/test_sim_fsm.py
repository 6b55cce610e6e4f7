"""Fast steering mirror model (sim/fsm.py): dynamics, DAC, saturation, faults."""

import math
import random
import time

import pytest

from sim import fsm as fsm_mod
from sim.fsm import Fsm

DEG = math.pi / 180.0
WN = 2 * math.pi * 300.0
ZETA = 0.7


def step_response(f, target, dt=1e-5, n=1500):
    f.command_angle(target, 0.0)
    ys = []
    for _ in range(n):
        f.step(dt)
        ys.append(f.theta_x)
    return ys


def test_reference_constants():
    assert fsm_mod.FSM_RANGE_RAD == pytest.approx(2.0 * DEG)
    assert fsm_mod.FSM_FN_HZ == 300.0
    assert fsm_mod.FSM_ZETA == 0.7
    f = Fsm()
    assert f.lsb_rad == pytest.approx(2.0 * DEG / 32768)  # ~1.065 urad
    # hal/interfaces.py convention: signed codes, 0 = rest, +/-32768 = +/-2 deg
    assert (f.code_min, f.code_max) == (-32768, 32767)
    assert f.codes() == (0, 0)
    assert f.angle_for_code(-32768) == pytest.approx(-2.0 * DEG)


def test_step_response_matches_300hz_zeta_0p7():
    f = Fsm()
    a = 0.01
    ys = step_response(f, a)
    u = f.u_x
    t10 = next(i for i, v in enumerate(ys) if v >= 0.1 * u) * 1e-5
    t90 = next(i for i, v in enumerate(ys) if v >= 0.9 * u) * 1e-5
    rise = t90 - t10
    # 10-90 % rise time of a 2nd-order system: (1 - 0.4167 z + 2.917 z^2) / wn = 1.13 ms
    assert rise == pytest.approx((1 - 0.4167 * ZETA + 2.917 * ZETA ** 2) / WN, rel=0.05)
    overshoot = max(ys) / u - 1.0
    assert overshoot == pytest.approx(math.exp(-math.pi * ZETA / math.sqrt(1 - ZETA ** 2)), abs=0.003)
    t_peak = ys.index(max(ys)) * 1e-5
    assert t_peak == pytest.approx(math.pi / (WN * math.sqrt(1 - ZETA ** 2)), rel=0.02)
    assert ys[-1] == pytest.approx(u, abs=1e-9)


def test_exact_discretisation_independent_of_dt():
    f1 = Fsm()
    f2 = Fsm()
    f1.command_angle(0.012, -0.007)
    f2.command_angle(0.012, -0.007)
    f1.step(1e-3)
    for _ in range(100):
        f2.step(1e-5)
    assert f1.angle() == pytest.approx(f2.angle(), abs=1e-12)
    assert f1.rate_x == pytest.approx(f2.rate_x, rel=1e-9)


@pytest.mark.parametrize("dt", [0.01, 0.1, 1.0])
def test_stable_with_large_steps(dt):
    f = Fsm()
    rnd = random.Random(1)
    for _ in range(2000):
        a = rnd.uniform(-0.04, 0.04)
        b = rnd.uniform(-0.04, 0.04)
        f.command_angle(a, b)
        f.step(dt)
        ux, uy = f.commanded_angle()
        # 10 ms is 13 decay time constants (1/(zeta*wn) = 0.76 ms) of the 300 Hz mode: a
        # residual of ~3e-6 of the step, under half an LSB even for a 4.6 deg swing
        assert f.theta_x == pytest.approx(ux, abs=0.5 * f.lsb_rad)
        assert f.theta_y == pytest.approx(uy, abs=0.5 * f.lsb_rad)
        assert abs(f.theta_x) <= f.range_rad and abs(f.theta_y) <= f.range_rad


def test_quantisation_to_dac_codes():
    f = Fsm()
    assert f.code_for_angle(0.0) == 0
    assert f.code_for_angle(1.0) == 32767 and f.code_for_angle(-1.0) == -32768
    rnd = random.Random(2)
    for _ in range(500):
        a = rnd.uniform(-0.03, 0.03)
        f.command_angle(a, -a)
        cx, cy = f.codes()
        ux, uy = f.commanded_angle()
        assert ux == pytest.approx(cx * f.lsb_rad, abs=1e-15)
        assert abs(ux - a) <= 0.5 * f.lsb_rad + 1e-15
        assert abs(uy + a) <= 0.5 * f.lsb_rad + 1e-15
    # two commands less than half an LSB apart give the same output
    f.command_angle(1e-3, 0.0)
    c1 = f.codes()
    f.command_angle(1e-3 + 0.3 * f.lsb_rad, 0.0)
    assert f.codes() == c1
    assert f.angle_for_code(f.code_for_angle(0.001)) == pytest.approx(0.001, abs=f.lsb_rad / 2)


def test_command_saturation_and_range_clamp():
    f = Fsm()
    f.command_angle(0.1, -0.1)  # 5.7 deg: beyond +/-2 deg
    assert f.saturated
    assert f.codes() == (32767, -32768)
    f.step(0.01)
    assert f.theta_x == pytest.approx(2.0 * DEG - f.lsb_rad, abs=0.1 * f.lsb_rad)
    assert f.theta_y == pytest.approx(-2.0 * DEG, abs=0.1 * f.lsb_rad)
    f.command(40000, -40000)
    assert f.saturated and f.codes() == (32767, -32768)
    f.command(4000, -20000)
    assert not f.saturated
    assert f.saturation_count == 2
    # a NaN command is refused and flagged; the output is kept
    f.command_angle(float("nan"), 0.0)
    assert f.saturated and f.codes() == (4000, -20000)


def test_hard_stop_limits_deflection_with_overshoot_and_gain():
    f = Fsm(optical_gain=(1.2, 1.0))
    f.command_angle(2.0 * DEG, 0.0)  # full-scale step overshoots by ~4.6 % and gain 1.2
    peak = 0.0
    for _ in range(500):
        f.step(1e-5)
        peak = max(peak, f.theta_x)
        assert f.theta_x <= f.range_rad
    assert peak == pytest.approx(f.range_rad)


def test_driver_fault_hold_and_zero():
    f = Fsm()
    f.command_angle(0.01, 0.005)
    f.step(0.01)
    f.set_fault(True, "hold")
    assert f.fault
    f.command_angle(-0.02, 0.0)
    f.step(0.01)
    assert f.angle() == pytest.approx((f.angle_for_code(f.code_for_angle(0.01)),
                                       f.angle_for_code(f.code_for_angle(0.005))), abs=0.1 * f.lsb_rad)
    f.set_fault(True, "zero")
    f.step(0.01)
    assert f.angle() == pytest.approx((0.0, 0.0), abs=0.1 * f.lsb_rad)
    f.set_fault(False)
    assert not f.fault
    f.command_angle(-0.02, 0.0)
    f.step(0.01)
    assert f.theta_x == pytest.approx(-0.02, abs=f.lsb_rad)


def test_disable_returns_to_rest_and_park():
    f = Fsm()
    f.command_angle(0.02, 0.02)
    f.step(0.01)
    f.set_enabled(False)
    f.step(0.01)
    assert f.angle() == pytest.approx((0.0, 0.0), abs=0.1 * f.lsb_rad)
    # codes are accepted while disabled; the mirror goes to them when enabled
    f.command_angle(-0.01, 0.005)
    f.step(0.01)
    assert f.angle() == pytest.approx((0.0, 0.0), abs=0.1 * f.lsb_rad)
    f.set_enabled(True)
    f.step(0.01)
    assert f.angle() == pytest.approx((-0.01, 0.005), abs=f.lsb_rad)
    f.park()
    f.step(0.05)
    assert f.codes() == (0, 0)
    assert f.angle() == pytest.approx((0.0, 0.0), abs=1e-12)


@pytest.mark.parametrize("zeta", [1.0, 1.5])
def test_other_damping_ratios_are_exact_and_monotonic(zeta):
    f1 = Fsm(zeta=zeta)
    f2 = Fsm(zeta=zeta)
    ys = step_response(f1, 0.01, n=2000)
    assert max(ys) <= f1.u_x * (1 + 1e-9)  # no overshoot at zeta >= 1
    assert all(b >= a - 1e-15 for a, b in zip(ys[:-1], ys[1:], strict=True))
    f2.command_angle(0.01, 0.0)
    f2.step(0.02)
    assert f2.theta_x == pytest.approx(ys[-1], abs=1e-12)


def test_step_timing_print():
    f = Fsm()
    n = 50000
    t0 = time.perf_counter()
    for i in range(n):
        f.command_angle(1e-4 * (i % 11), -1e-4 * (i % 7))
        f.step(0.01)
    us = (time.perf_counter() - t0) / n * 1e6
    print("\nfsm_command_and_step_us=%.2f" % us)
    assert us > 0.0


def test_step_cache_is_fixed_and_replaces_the_oldest_length():
    """sim/stepcache.py: the models' per-step-length values in fixed arrays (the world's
    heap must not grow as it runs: issue 11), the oldest length replaced first."""
    from sim.stepcache import StepCache

    c = StepCache(2, slots=3)
    sizes = (len(c.dts), len(c.values))
    assert c.find(0.001) == -1
    offs = [c.put(dt) for dt in (0.001, 0.002, 0.003)]
    assert offs == [0, 2, 4] and [c.find(dt) for dt in (0.001, 0.002, 0.003)] == offs
    assert c.put(0.004) == 0  # the oldest slot (0.001's) is reused
    assert c.find(0.001) == -1 and c.find(0.004) == 0
    assert (len(c.dts), len(c.values)) == sizes  # nothing grew


def test_fsm_coefficients_from_the_cache_equal_fresh_ones():
    f = Fsm()
    for dt in (0.001, 0.0005, 0.001, 0.00025, 0.0005) * 3 + tuple(k * 1e-4 for k in range(1, 12)):
        f._use_coeffs(dt)
        cached = f._c
        f._coeffs(dt)
        assert cached == f._c and f._dt == dt

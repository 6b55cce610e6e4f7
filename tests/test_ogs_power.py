"""The simulated station power meter (sim/ogs_power.py): the link budget times the
Gaussian beam's aim loss, the log-normal scintillation's statistics, determinism, and the
power log it writes for `vector-tc bore-fit`."""

import math

import numpy as np
import pytest

from ground_tools import borefit
from hal.sim.world import World
from sim import geometry, linkbudget, ogs_power

THETA = linkbudget.DOWNLINK.divergence_rad


class FakeWorld:
    """What the meter reads of hal/sim/world.py World: a zenith pass, clear sky."""

    def __init__(self, max_el=90.0):
        self.pass_ = geometry.Pass(max_el)
        self.duration_s = self.pass_.duration_above_s(20.0)
        self.pass_start = 20.0
        self.kappa_db = linkbudget.KAPPA_CLEAR_DB

    pass_time = World.pass_time  # (the world's own: t is always given here)


def grid(t0, seconds):
    """The world's 1 kHz aim-error grid (hal/sim/world.py FINE_US), as the recorder has
    it: times accumulated in floating point."""
    return t0 + np.arange(int(round(seconds * 1000))) * 1e-3


def test_the_model_is_the_link_budget_times_the_aim_loss():
    w = FakeWorld()
    t = w.pass_start + w.duration_s / 2 + 30.0  # 30 s after the culmination
    link = linkbudget.downlink_received_power_w(w.pass_, 30.0, w.kappa_db, 0.0)
    assert link > 0
    assert ogs_power.link_w(w, t) == pytest.approx(link, rel=1e-12)
    a = (3e-6, -4e-6)  # |a| = 5 µrad
    assert ogs_power.aim_fraction(*a) == pytest.approx(math.exp(-2 * 25e-12 / THETA ** 2),
                                                       rel=1e-12)
    arr = ogs_power.aim_fraction(np.array([0.0, 3e-6]), np.array([0.0, -4e-6]))
    assert arr.shape == (2,) and arr[0] == 1.0 and arr[1] == pytest.approx(
        ogs_power.aim_fraction(*a))
    # below the horizon: no power
    assert ogs_power.link_w(w, w.pass_start - 600.0) == 0.0


def test_meter_without_scintillation_or_noise_is_the_mean_of_the_model():
    w = FakeWorld(60.0)
    m = ogs_power.PowerMeter(w, seed=1, scint_index=0.0, rel_noise=0.0)
    ts = grid(w.pass_start + 100.0, 2.0)
    rng = np.random.default_rng(9)
    ax = 5e-6 * rng.standard_normal(len(ts)) + 2e-6  # jitter around an offset
    ay = 5e-6 * rng.standard_normal(len(ts)) - 1e-6
    tm, p = m.samples(ts, ax, ay)
    assert len(tm) == len(p) == 200  # 100 Hz for 2 s
    assert np.allclose(np.diff(tm), 0.01, atol=1e-9)
    assert np.allclose(tm, ts.reshape(200, 10).mean(axis=1))
    # the mean over each sample's ten 1 ms points; the meter takes the link budget once, at
    # the sample's mean time (the geometry's change in 10 ms: < 1e-5 of the power here)
    model = np.array([ogs_power.link_w(w, t) for t in ts]) * ogs_power.aim_fraction(ax, ay)
    ref = model.reshape(200, 10).mean(axis=1)
    assert np.allclose(p, ref, rtol=1e-5, atol=0)
    # a steady aim: exactly the model at the sample's time
    a = np.full(len(ts), 4e-6)
    tm, p = ogs_power.PowerMeter(w, seed=1, scint_index=0.0, rel_noise=0.0).samples(ts, a, -a)
    model = np.array([ogs_power.link_w(w, t) for t in tm]) * ogs_power.aim_fraction(4e-6, -4e-6)
    assert np.allclose(p, model, rtol=1e-12, atol=0)
    assert np.allclose(p, np.array([linkbudget.downlink_received_power_w(
        w.pass_, x - w.pass_start - w.duration_s / 2, w.kappa_db, 0.0) for x in tm])
        * np.exp(-2 * 32e-12 / THETA ** 2), rtol=1e-12, atol=0)


def test_scintillation_has_unit_mean_the_configured_variance_and_correlation():
    w = FakeWorld()
    si, corr = 0.1, 5e-3
    m = ogs_power.PowerMeter(w, seed=11, scint_index=si, corr_s=corr)
    n = 400_000  # 400 s at 1 kHz
    i = m.scintillation(np.arange(n) * 1e-3)
    rho = math.exp(-1e-3 / corr)
    # independent samples of an AR(1) series: n (1 - rho) / (1 + rho)
    n_eff = n * (1 - rho) / (1 + rho)
    assert abs(i.mean() - 1.0) < 5 * math.sqrt(si / n_eff)
    # the variance of a log-normal variance estimate: E[(I - 1)^4] - si^2
    s2 = math.log1p(si)
    m4 = math.exp(6 * s2) - 4 * math.exp(3 * s2) + 6 * math.exp(s2) - 3
    assert abs(i.var() - si) < 5 * math.sqrt((m4 - si * si) / n_eff)
    x = np.log(i)
    assert abs(x.var() - s2) < 5 * s2 * math.sqrt(2 / n_eff)
    assert abs(x.mean() + s2 / 2) < 5 * math.sqrt(s2 / n_eff)
    # lag-1 and lag-5 correlation: exp(-lag / corr)
    xc = x - x.mean()
    for lag in (1, 5):
        r = float(np.dot(xc[:-lag], xc[lag:]) / np.dot(xc, xc))
        assert abs(r - rho ** lag) < 0.02


def test_successive_calls_continue_one_process():
    w = FakeWorld()
    ts = np.arange(2000) * 1e-3
    whole = ogs_power.PowerMeter(w, seed=4).scintillation(ts)
    parts = ogs_power.PowerMeter(w, seed=4)
    a = parts.scintillation(ts[:700])
    b = parts.scintillation(ts[700:])
    # the same draws in the same order: the same series
    assert np.allclose(np.r_[a, b], whole, rtol=1e-12)


def test_same_seed_same_samples():
    w = FakeWorld()
    ts = grid(w.pass_start + 200.0, 1.0)
    ax = np.full(len(ts), 1e-6)
    ay = np.zeros(len(ts))
    t1, p1 = ogs_power.PowerMeter(w, seed=7).samples(ts, ax, ay)
    t2, p2 = ogs_power.PowerMeter(w, seed=7).samples(ts, ax, ay)
    _, p3 = ogs_power.PowerMeter(w, seed=8).samples(ts, ax, ay)
    assert np.array_equal(t1, t2) and np.array_equal(p1, p2)
    assert not np.allclose(p1, p3)


def test_20_urad_offset_costs_the_gaussian_fraction():
    w = FakeWorld()
    ts = grid(w.pass_start + 150.0, 5.0)
    zero = np.zeros(len(ts))
    _, p0 = ogs_power.PowerMeter(w, seed=3).samples(ts, zero, zero)
    _, p20 = ogs_power.PowerMeter(w, seed=3).samples(ts, zero + 20e-6, zero)
    # the same seed: the same scintillation and read noise, so the ratio is the beam's
    expect = math.exp(-2 * 400e-12 / THETA ** 2)
    assert p20.mean() / p0.mean() == pytest.approx(expect, rel=1e-9)
    # exp(-2 (20/67.6)^2) with the rounded divergence (67.6 µrad): 0.839
    assert expect == pytest.approx(math.exp(-2 * 400 / 67.6 ** 2), rel=1e-3)
    # an independent seed: the same within the scintillation's scatter
    _, p20b = ogs_power.PowerMeter(w, seed=30).samples(ts, zero + 20e-6, zero)
    assert p20b.mean() / p0.mean() == pytest.approx(expect, rel=0.02)


def test_bad_inputs():
    w = FakeWorld()
    with pytest.raises(ValueError, match="corr_s"):
        ogs_power.PowerMeter(w, 1, corr_s=0.0)
    with pytest.raises(ValueError, match="scint_index"):
        ogs_power.PowerMeter(w, 1, scint_index=-0.1)
    m = ogs_power.PowerMeter(w, 1)
    with pytest.raises(ValueError, match="one length"):
        m.samples([0.0, 0.001], [0.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="increasing"):
        m.samples([0.0, 0.0], [0.0, 0.0], [0.0, 0.0])
    t, p = m.samples([], [], [])
    assert len(t) == len(p) == 0


def test_a_simulated_scan_logged_and_fitted(tmp_path):
    """The meter's log of a scan through write_csv and the ground tool's reader and fit:
    the hidden boresight error comes back within its standard errors."""
    w = FakeWorld(70.0)
    c = (1.5, -2.0)  # µrad: the parameter's error the scan should find
    t0_onboard, off = 500.0, w.pass_start + 120.0 - 500.0  # world = onboard + off
    step, dwell, cycles = 20.0, 2.0, 4
    ts = grid(t0_onboard + off - 1.0, 8 * cycles * dwell + 2.0)
    tx = np.zeros(len(ts))
    ty = np.zeros(len(ts))
    for a, b, dx, dy in borefit.schedule(t0_onboard + off, step, dwell, cycles):
        k = (ts >= a) & (ts < b)
        tx[k], ty[k] = dx, dy
    jit = np.random.default_rng(2).standard_normal((2, len(ts))) * 3.5e-6  # loop jitter
    ax = (tx - c[0]) * 1e-6 + jit[0]  # aim error = trial - correction (+ jitter)
    ay = (ty - c[1]) * 1e-6 + jit[1]
    tm, p = ogs_power.PowerMeter(w, seed=5).samples(ts, ax, ay)
    path = tmp_path / "power.csv"
    ogs_power.write_csv(path, tm - off, p)
    tt, pp = borefit.load_power(path)
    assert len(tt) == len(tm)
    r = borefit.fit(tt, pp, t0_onboard, step, dwell, cycles)
    assert r["accepted"], r["why"]
    assert abs(r["dx_urad"] - c[0]) < 4 * r["se_x_urad"] + 0.05
    assert abs(r["dy_urad"] - c[1]) < 4 * r["se_y_urad"] + 0.05

"""Framer counters drawn from the BER (sim/framerstats.py) against the bit-level theory."""

import math

import pytest

from sim import framerstats as fs
from sim.rng import Rng


def run(ber, windows, mode=fs.MODE_DATA, seed=7):
    f = fs.FramerStats(Rng(seed))
    return [f.step(ber, mode) for _ in range(windows)]


def mean_var(xs):
    m = sum(xs) / len(xs)
    return m, sum((x - m) ** 2 for x in xs) / (len(xs) - 1)


def test_packet_rate_18011_per_second():
    assert fs.SLOT_BITS == 2776
    assert int(fs.PACKETS_PER_S) == 18011  # DESIGN §3.6
    sent = [c["sent"] for c in run(0.0, 100)]  # 10 s
    assert set(sent) <= {1801, 1802}
    assert sum(sent) == int(fs.PACKETS_PER_S * 10.0) or sum(sent) == int(
        fs.PACKETS_PER_S * 10.0) + 1


def test_error_free_channel():
    for c in run(0.0, 5, fs.MODE_PRBS):
        assert c["ok"] == c["sent"] and c["crc_errors"] == c["gaps"] == 0
        assert c["preamble_bit_errors"] == c["prbs_bit_errors"] == c["sync_losses"] == 0
        assert c["preamble_bits"] == 64 * c["sent"] and c["prbs_bits"] == 2568 * c["sent"]
        assert c["locked"]


@pytest.mark.parametrize("ber", [2e-5, 3e-4, 1e-3, 4e-3])
def test_counter_mean_and_variance_match_theory(ber):
    cs = run(ber, 600, fs.MODE_PRBS, seed=int(ber * 1e7))
    n = sum(c["sent"] for c in cs) / len(cs)
    q = fs.p_preamble_miss(ber)
    pc = fs.p_crc_error(ber)
    found = n * (1 - q)

    def check(key, mean, var):
        m, v = mean_var([c[key] for c in cs])
        se = math.sqrt(var / len(cs)) + 1e-9
        assert abs(m - mean) < 5 * se + 0.02, (key, m, mean)
        # sample variance of 600 draws: relative SE ~ sqrt(2/600) = 6 %
        if var > 0.5:
            assert v == pytest.approx(var, rel=0.3), (key, v, var)

    check("crc_errors", found * pc, found * pc * (1 - pc) + pc ** 2 * n * q * (1 - q))
    check("prbs_bit_errors", 2568 * found * ber, 2568 * found * ber * (1 - ber))
    pb = fs.mean_preamble_errors_matched(ber) / 64
    check("preamble_bit_errors", 64 * found * pb, 64 * found * pb * (1 - pb))
    check("gaps", n * q, n * q * (1 - q))
    # the framer's BER estimators are unbiased to < 1 % at these BERs
    est_pre = sum(c["preamble_bit_errors"] for c in cs) / sum(c["preamble_bits"] for c in cs)
    est_prbs = sum(c["prbs_bit_errors"] for c in cs) / sum(c["prbs_bits"] for c in cs)
    assert est_prbs == pytest.approx(ber, rel=0.05)
    assert est_pre == pytest.approx(ber, rel=0.1 if ber > 1e-4 else 0.35)


def test_per_is_one_minus_success_over_crc_bits():
    for ber in (1e-6, 1e-5, 1e-4, 1e-3):
        expected = 1 - (1 - ber) ** fs.CRC_COVERED_BITS
        assert fs.packet_error_rate(ber) == pytest.approx(expected, rel=1e-3)
        assert fs.p_crc_error(ber) == pytest.approx(expected, rel=1e-9)
    assert fs.packet_error_rate(0.0) == 0.0
    # measured PER over windows
    cs = run(1e-4, 300)
    per = 1 - sum(c["ok"] for c in cs) / sum(c["sent"] for c in cs)
    assert per == pytest.approx(fs.packet_error_rate(1e-4), rel=0.05)


def test_preamble_miss_probability_is_binomial_tail():
    for ber in (1e-3, 1e-2, 0.05, 0.2):
        tail = sum(math.comb(64, k) * ber ** k * (1 - ber) ** (64 - k)
                   for k in range(fs.PREAMBLE_MAX_ERRORS + 1, 65))
        assert fs.p_preamble_miss(ber) == pytest.approx(tail, rel=1e-6, abs=1e-15)
    assert fs.p_preamble_miss(0.0) == 0.0 and fs.p_preamble_miss(0.5) == 1.0
    assert fs.mean_preamble_errors_matched(1e-4) == pytest.approx(64e-4, rel=1e-3)
    assert fs.mean_preamble_errors_matched(0.05) < 64 * 0.05  # selection of matched ones


def test_high_ber_loses_sync_and_packets():
    cs = run(0.08, 50)
    assert sum(c["gaps"] for c in cs) > 0.3 * sum(c["sent"] for c in cs)
    assert sum(c["sync_losses"] for c in cs) > 0
    assert sum(c["ok"] for c in cs) < 0.01 * sum(c["sent"] for c in cs)


def test_signal_loss_and_relock():
    f = fs.FramerStats(Rng(3))
    assert f.step(1e-4)["locked"]
    c = f.step(1e-4, signal=False)
    assert c["sync_losses"] == 1 and c["ok"] == 0 and not c["locked"]
    c = f.step(1e-4, signal=False)
    assert c["sync_losses"] == 0 and c["gaps"] == 0  # nothing to see while unlocked
    c = f.step(0.5)
    assert c["ok"] == 0 and c["sync_losses"] == 0
    c = f.step(1e-5)
    assert c["locked"] and c["ok"] > 1700


def test_loopback_ignores_channel():
    c = run(0.3, 1, fs.MODE_LOOPBACK)[0]
    assert c["ok"] == c["sent"] and c["crc_errors"] == 0


def test_data_mode_has_no_prbs_counts():
    c = run(1e-3, 1)[0]
    assert c["prbs_bits"] == 0 and c["prbs_bit_errors"] == 0


def test_bad_mode():
    with pytest.raises(ValueError):
        fs.FramerStats(Rng(1)).step(1e-3, "turbo")


def test_deterministic_per_seed():
    assert run(1e-3, 20, fs.MODE_PRBS, seed=11) == run(1e-3, 20, fs.MODE_PRBS, seed=11)
    assert run(1e-3, 20, fs.MODE_PRBS, seed=11) != run(1e-3, 20, fs.MODE_PRBS, seed=12)


def test_serial_counter_wraps():
    f = fs.FramerStats(Rng(1))
    f.serial = 0xFFFFFFFF - 100
    f.step(0.0)
    assert 0 < f.serial < 2000


# --- the RNG underneath -------------------------------------------------------------

@pytest.mark.parametrize("n,p", [(50, 0.1), (1000, 0.001), (10, 0.9), (200000, 0.001),
                                 (5000, 0.4), (64, 0.02)])
def test_binomial_moments(n, p):
    r = Rng(n)
    xs = [r.binomial(n, p) for _ in range(20000)]
    m, v = mean_var(xs)
    var = n * p * (1 - p)
    assert abs(m - n * p) < 5 * math.sqrt(var / len(xs))
    assert v == pytest.approx(var, rel=4 * math.sqrt((1 / var + 2) / len(xs)))
    assert min(xs) >= 0 and max(xs) <= n


@pytest.mark.parametrize("lam", [0.01, 0.7, 5.0, 29.0, 31.0, 400.0])
def test_poisson_moments(lam):
    r = Rng(int(lam * 100))
    xs = [r.poisson(lam) for _ in range(20000)]
    m, v = mean_var(xs)
    assert abs(m - lam) < 5 * math.sqrt(lam / len(xs))
    # relative SE of a Poisson sample variance: sqrt((1/lam + 2) / N)
    assert v == pytest.approx(lam, rel=4 * math.sqrt((1 / lam + 2) / len(xs)))


def test_small_count_path_is_exact_distribution():
    # Binomial(20, 0.15) frequencies against the pmf (chi-square style bound)
    r = Rng(99)
    N = 40000
    counts = [0] * 21
    for _ in range(N):
        counts[r.binomial(20, 0.15)] += 1
    for k in range(8):
        pk = math.comb(20, k) * 0.15 ** k * 0.85 ** (20 - k)
        assert abs(counts[k] / N - pk) < 5 * math.sqrt(pk * (1 - pk) / N)


def test_uniform_and_gauss():
    r = Rng(5)
    us = [r.random() for _ in range(20000)]
    assert 0.0 <= min(us) and max(us) < 1.0
    m, v = mean_var(us)
    assert m == pytest.approx(0.5, abs=0.01) and v == pytest.approx(1 / 12, rel=0.03)
    gs = [r.gauss(2.0, 3.0) for _ in range(20000)]
    m, v = mean_var(gs)
    assert m == pytest.approx(2.0, abs=0.1) and v == pytest.approx(9.0, rel=0.05)


def test_rng_state_roundtrip_and_edge_cases():
    r = Rng(1)
    s = r.getstate()
    a = [r.next_u32() for _ in range(5)]
    r.setstate(s)
    assert [r.next_u32() for _ in range(5)] == a
    assert r.binomial(0, 0.5) == 0 and r.binomial(10, 0.0) == 0 and r.binomial(10, 1.0) == 10
    assert r.poisson(0.0) == 0
    assert Rng(0).getstate() != (0, 0, 0, 0)

"""Fixed checks of the MicroPython-safe link physics (geometry, link budget, receiver,
framer statistics, RNG).  Runs under CPython and inside the MicroPython VM; the literal
values were produced on CPython, so equality here proves both interpreters agree."""

from sim import framerstats, geometry, linkbudget, receiver
from sim.rng import Rng


def close(a, b, tol):
    return abs(a - b) <= tol


def test_zenith_pass_duration_and_range():
    p = geometry.Pass()
    assert close(p.duration_above_s(20.0), 328.0, 1.0)
    assert close(p.range_m(0.0), 560e3, 1e-3)
    assert close(p.elevation_deg(0.0), 90.0, 1e-9)
    assert close(geometry.range_at_elevation_m(20.0), 1313439.5, 1.0)


def test_lower_pass():
    p = geometry.Pass(40.0)
    assert close(p.elevation_deg(0.0), 40.0, 1e-9)
    assert p.duration_above_s(20.0) < 328.0
    assert geometry.Pass(10.0).time_at_elevation_s(20.0) is None


def test_table1_core():
    r = linkbudget.table1()
    paper = (("down_diffraction_zenith_db", 39.0), ("down_diffraction_el20_db", 46.4),
             ("down_total_min_db", 47.7), ("down_total_max_db", 59.0),
             ("up_diffraction_zenith_db", 65.0), ("up_diffraction_el20_db", 72.4),
             ("up_total_min_db", 71.0), ("up_total_max_db", 82.3))
    for key, value in paper:
        assert close(r[key], value, 0.1), key
    assert close(r["down_received_zenith_worst_w"], 1.7e-6, 0.085e-6)
    assert close(r["down_received_el20_worst_w"], 150e-9, 7.5e-9)


def test_pointing_loss_eq2():
    div = linkbudget.UPLINK.divergence_rad
    assert close(linkbudget.pointing_loss_db(50e-6, div), 4.746, 0.01)
    assert linkbudget.pointing_loss_db(0.0, div) == 0.0


def test_uplink_power_over_pass():
    p = geometry.Pass()
    top = linkbudget.uplink_received_power_w(p, 0.0)
    edge = linkbudget.uplink_received_power_w(p, p.time_at_elevation_s(20.0))
    assert close(top, 1.744e-6, 0.01e-6)
    assert close(edge, 153.8e-9, 1e-9)


def test_receiver_fixed_points():
    b = receiver.best_level(150e-9)
    assert close(b, 0.12398, 1e-4)
    assert close(receiver.ber(b, 150e-9), 4.594e-4, 1e-6)
    lo, hi = receiver.window(150e-9)
    lo2, hi2 = receiver.window(1.7e-6)
    assert close(lo, 0.10302, 1e-4) and close(hi, 0.15977, 1e-4)
    assert close(lo2, 0.07292, 1e-4) and close(hi2, 0.87549, 1e-4)
    assert receiver.noise_trigger_rate(0.05) > receiver.noise_trigger_rate(0.2)
    assert receiver.level_to_dac(0.5) == 2048


def test_erfc_fallback():
    for x, ref in ((0.3, 0.6713732405408726), (4.0, 1.541725790028002e-08)):
        assert abs(receiver._erfc_fallback(x) / ref - 1.0) < 1e-10


def test_rng_stream_is_identical():
    r = Rng(12345)
    assert [r.next_u32() for _ in range(4)] == [518667457, 440444462, 4232892992, 3757857622]
    r = Rng(2024)
    assert [r.binomial(100, 0.05) for _ in range(6)] == [5, 6, 4, 5, 5, 6]
    assert [r.poisson(2.5) for _ in range(6)] == [0, 2, 1, 3, 3, 3]
    assert r.binomial(1000000, 1e-3) == 1006
    assert r.poisson(1000.0) == 1060


def test_framerstats_fixed_seed():
    f = framerstats.FramerStats(Rng(77))
    c = [f.step(1e-3, framerstats.MODE_PRBS) for _ in range(3)]
    assert [x["sent"] for x in c] == [1801, 1801, 1801]
    assert [x["ok"] for x in c] == [147, 126, 125]
    assert [x["prbs_bit_errors"] for x in c] == [4663, 4580, 4672]
    assert [x["preamble_bit_errors"] for x in c] == [104, 116, 111]
    assert c[0]["prbs_bits"] == 2568 * 1801


def test_framer_error_free_and_loss():
    f = framerstats.FramerStats(Rng(1))
    c = f.step(0.0)
    assert c["ok"] == c["sent"] and c["crc_errors"] == 0
    c = f.step(1e-3, signal=False)
    assert c["sync_losses"] == 1 and c["ok"] == 0
    assert int(framerstats.PACKETS_PER_S) == 18011

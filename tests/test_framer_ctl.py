"""Framer control (flight/framer_ctl.py) on the kit: a fake FPGA framer with settable
counters (hal.interfaces CTR_* layout), a FakeCtx recording events."""

import pytest

from flight import framer_ctl as F
from flight.cmddict import CmdFailed
from hal.interfaces import (COUNTER_MASK, CTR_LOCKED, CTR_PACKETS_OK, CTR_PRBS_BIT_ERRORS,
                            CTR_PREAMBLE_BIT_ERRORS, CTR_TRIGGERS,
                            MODE_PRBS, SW_FRAMER)
from tests.mpy.kit import app_rig, rig

MASK = COUNTER_MASK


def Rig(params=None):
    r = rig("framer", params=params, session=False)
    return r


def start(r):
    r.fc.start_session()
    r.fc.update()  # first snapshot


def window(r, **kw):
    r.hal.add(**kw)
    r.fc.update()


def test_session_start_configures_the_framer():
    rig = Rig()
    assert rig.fc.link == F.L_OFF and not rig.fc.rx_on
    start(rig)
    assert rig.power.get(SW_FRAMER) and rig.hal.rx and rig.fc.link == F.L_SEARCHING
    rig.fc.stop_session()
    assert rig.fc.link == F.L_OFF and not rig.hal.rx and not rig.power.get(SW_FRAMER)


def test_counter_wrap_at_30_bits():
    rig = Rig()
    rig.hal.k[CTR_PACKETS_OK] = MASK - 4
    rig.hal.k[CTR_PREAMBLE_BIT_ERRORS] = MASK - 1
    rig.hal.k[CTR_TRIGGERS] = MASK
    start(rig)
    window(rig, ok=1800, crc=1, pre=120, trig=2500000)
    assert rig.hal.k[CTR_PACKETS_OK] < 1800  # the hardware counter wrapped
    w = rig.fc.last_window
    assert (w[F.W_OK], w[F.W_CRC], w[F.W_PRE], w[F.W_TRIG]) == (1800, 1, 120, 2500000)
    assert rig.fc.totals[0] == 1800 and rig.fc.totals[3] == 120


def test_stale_snapshot_is_not_a_window():
    rig = Rig()
    start(rig)
    window(rig, ok=1800, pre=10)
    totals = list(rig.fc.totals)
    rig.fc.update()  # the FPGA did not latch a new snapshot
    assert rig.fc.stale == 1 and not rig.fc.window_valid
    assert rig.fc.totals == totals
    window(rig, ok=1800, pre=20)
    assert rig.fc.window_valid and rig.fc.last_window[3] == 20


def test_a_counter_read_backwards_is_not_a_window():
    """One torn read (a counter going back by one: ~2^30 counts as a difference) is not
    used: no window, no totals of a billion, no link change; counted and said
    (FRAMER_COUNTERS_IMPLAUSIBLE); the next good read is measured from the last good one."""
    rig = Rig()
    start(rig)
    window(rig, ok=1800, pre=10)
    totals = list(rig.fc.totals)
    good = rig.hal.k[CTR_PREAMBLE_BIT_ERRORS]
    rig.hal.k[CTR_PREAMBLE_BIT_ERRORS] = good - 1  # read backwards
    window(rig, ok=1800)
    assert not rig.fc.window_valid and rig.fc.totals == totals
    assert rig.fc.implausible == 1 and rig.ctx.args(F.EV_FRAMER_IMPLAUSIBLE) == [
        [1, CTR_PREAMBLE_BIT_ERRORS]]
    rig.hal.k[CTR_PREAMBLE_BIT_ERRORS] = good + 7
    window(rig, ok=1800)
    assert rig.fc.window_valid and rig.fc.last_window[F.W_PRE] == 7
    assert rig.fc.last_window[F.W_OK] == 3600  # both periods' packets, from the good read
    assert rig.hk("framer", diag=True)["framer_implausible"] == 1


def test_counters_restarted_by_the_fpga_become_the_baseline():
    rig = Rig()
    start(rig)
    window(rig, ok=1800, pre=10)
    for i in range(F._RESYNC_READS):
        rig.hal.k[CTR_PACKETS_OK] = 5 + i  # the FPGA restarted: far below the last read
        window(rig)
    assert rig.fc.implausible == F._RESYNC_READS
    window(rig, ok=100)
    assert rig.fc.window_valid and rig.fc.last_window[F.W_OK] == 100


def test_read_errors_are_counted_and_reported_once():
    rig = Rig()
    start(rig)
    rig.hal.fail = 3
    for _ in range(3):
        window(rig, ok=1800)
        assert not rig.fc.window_valid
    assert rig.fc.read_errors == 3
    assert rig.args(F.EV_FRAMER_ERROR) == [[1]]
    assert rig.hk("framer")["framer_read_errors"] == 3
    window(rig, ok=1800, pre=5)
    # the window after the errors spans everything since the last good read
    assert rig.fc.window_valid and rig.fc.last_window[0] == 4 * 1800


def test_link_states():
    rig = Rig()
    start(rig)
    window(rig, locked=False)
    assert rig.fc.link == F.L_SEARCHING
    window(rig, ok=1700, crc=100, pre=20, locked=True)
    assert rig.fc.link == F.L_LOCKED and rig.fc.lock_time_s is not None
    # window BER above framer_ber_degraded (2e-3): 64 x 1800 x 3e-3 errors per window;
    # two bad windows are tolerated, the third makes the link DEGRADED
    for _ in range(2):
        window(rig, ok=0, crc=1800, pre=346, locked=True)
        assert rig.fc.link == F.L_LOCKED
    window(rig, ok=0, crc=1800, pre=346, locked=True)
    assert rig.fc.ber() > 2e-3 and rig.fc.link == F.L_DEGRADED
    window(rig, ok=1790, crc=10, pre=2, locked=True)  # one good window: LOCKED again
    assert rig.fc.link == F.L_LOCKED
    window(rig, locked=True)  # locked flag but no packet in the window: not locked
    assert rig.fc.link == F.L_SEARCHING
    states = rig.named(F.EV_LINK_STATE)
    assert states == ["OFF -> SEARCHING", "SEARCHING -> LOCKED", "LOCKED -> DEGRADED",
                      "DEGRADED -> LOCKED", "LOCKED -> SEARCHING"]


def test_sliding_per_and_ber():
    rig = Rig(params={"framer_windows": 10})
    start(rig)
    assert rig.fc.ber() is None and rig.fc.per() is None
    wins = []
    for i in range(15):
        ok, crc, gaps, pre = 1700 - 10 * i, 90 + 10 * i, i, 10 + i
        window(rig, ok=ok, crc=crc, gaps=gaps, pre=pre)
        wins.append((ok, crc, gaps, pre))
    last = wins[-10:]
    pk = sum(w[0] + w[1] for w in last)
    assert rig.fc.ber() == pytest.approx(sum(w[3] for w in last) / (64.0 * pk), rel=1e-12)
    assert rig.fc.per() == pytest.approx(sum(w[1] + w[2] for w in last)
                                         / float(sum(w[0] + w[1] + w[2] for w in last)),
                                         rel=1e-12)
    last3 = wins[-3:]
    assert rig.fc.ber(3) == pytest.approx(
        sum(w[3] for w in last3) / (64.0 * sum(w[0] + w[1] for w in last3)), rel=1e-12)
    assert rig.fc.window_ber() == pytest.approx(wins[-1][3] / (64.0 * (wins[-1][0] + wins[-1][1])))
    rig.ctx.params.set("framer_windows", 50)  # more than seen: all of them
    assert rig.fc.ber() == pytest.approx(sum(w[3] for w in wins)
                                         / (64.0 * sum(w[0] + w[1] for w in wins)))


def test_ring_keeps_the_last_50_windows():
    rig = Rig(params={"framer_windows": 50})
    start(rig)
    for i in range(60):
        window(rig, ok=1000, pre=1 if i < 10 else 2)
    assert rig.fc.ber() == pytest.approx(100 / (64.0 * 50000))


def test_ring_holds_the_summed_counts_and_the_last_window_all_eight():
    """The ring keeps the six counts the sliding BER/PER sum (wrapping over 50 windows,
    full 30-bit differences); triggers and violations reach last_window and totals."""
    rig = Rig(params={"framer_windows": 50})
    assert rig.fc.cmd_set_mode({"mode": "PRBS"}, None) == {"mode": "PRBS"}
    start(rig)
    big = F._MAX_DELTA  # the largest difference a read may move (more: not used)
    for i in range(53):
        window(rig, ok=1000 + i, crc=i, gaps=2 * i, pre=3 * i, prbs_err=5 + i,
               prbs_bits=big if i == 52 else 1000, trig=7 * i, cv=11 * i)
    seen = range(3, 53)  # the last 50
    assert rig.fc.ber() == (sum(5 + i for i in seen)
                            / float(sum(big if i == 52 else 1000 for i in seen)))
    total = sum(1000 + i + i + 2 * i for i in seen)
    assert rig.fc.per() == sum(i + 2 * i for i in seen) / float(total)
    w = rig.fc.last_window
    assert (w[F.W_OK], w[F.W_PRBS_BITS], w[F.W_TRIG], w[F.W_CV]) == (1052, big, 364, 572)
    # the session's totals are the four housekeeping reports (packets, CRC errors, gaps,
    # preamble errors); triggers and violations are the last window's only
    assert len(rig.fc.totals) == 4
    assert rig.fc.totals[F.W_OK] == sum(1000 + i for i in range(53))
    assert rig.fc.totals[F.W_PRE] == sum(3 * i for i in range(53))
    assert len(rig.fc._ring16) + len(rig.fc._ring) == 6 * F._SLOTS  # (50 windows + a spare)


def test_ring_packet_counts_are_16_bits_saturated_the_bit_counts_30():
    """A window's packet counts (ok, CRC errors, gaps: <= ~1 900 in 100 ms at 50 Mbit/s)
    are kept in 16 bits, capped at 0xFFFF (a window over ~3.4 s of stale snapshots); the
    bit counts keep their differences (up to _MAX_DELTA a period since the last read used:
    more is an implausible read)."""
    rig = Rig(params={"framer_windows": 2})
    start(rig)
    for _ in range(7):  # (135 535 packets: a window 8 periods long may hold them)
        rig.fc.update()
    window(rig, ok=70000, crc=65535, gaps=1, prbs_bits=F._MAX_DELTA)
    window(rig, ok=1911, crc=0, gaps=65536, prbs_bits=5)
    s = rig.fc._sums()
    assert (s[F.W_OK], s[F.W_CRC], s[F.W_GAPS]) == (65535 + 1911, 65535, 1 + 65535)
    assert s[F.W_PRBS_BITS] == F._MAX_DELTA + 5
    assert rig.fc.last_window[F.W_OK] == 1911 and rig.fc.totals[F.W_OK] == 71911
    assert rig.fc._ring16.typecode == "H" and rig.fc._ring.typecode == "i"


def test_prbs_mode_uses_the_payload_bits():
    rig = Rig()
    assert rig.fc.cmd_set_mode({"mode": "PRBS"}, None) == {"mode": "PRBS"}
    assert rig.hal.mode == MODE_PRBS
    start(rig)
    assert rig.hal.mode == 1  # the session keeps the commanded mode
    window(rig, ok=1800, pre=100, prbs_err=462, prbs_bits=1800 * 2568)
    assert rig.fc.ber() == pytest.approx(462 / (1800 * 2568.0))
    hk = rig.hk("framer")
    assert hk["framer_mode"] == MODE_PRBS and hk["framer_link"] == F.L_LOCKED
    assert hk["framer_ber"] == rig.fc.ber() and hk["framer_per"] == 0


def test_transmitter_follows_enable_tx():
    rig = Rig()
    start(rig)
    rig.fc.enable_tx(True)
    assert rig.hal.tx and rig.fc.tx_on
    rig.fc.stop_session()
    assert not rig.hal.tx and not rig.fc.tx_on


def test_mode_command_failure_completes_hal_with_an_event():
    rig = Rig()
    rig.hal.fault = 1
    with pytest.raises(CmdFailed) as e:
        rig.fc.cmd_set_mode({"mode": "LOOPBACK"}, None)
    assert e.value.reason == "HAL" and rig.fc.mode == 0
    assert rig.args(F.EV_FRAMER_MODE_FAILED) == [[2]]
    assert rig.hk("framer")["framer_switch_errors"] == 1


def test_transmitter_switch_failure_is_reported():
    rig = Rig()
    start(rig)

    def broken(on):
        from hal.errors import BusError

        raise BusError("tx")

    rig.hal.enable_tx = broken
    rig.fc.enable_tx(True)  # (called by the APT when it enters TRACK: must not raise)
    assert not rig.fc.tx_on and rig.args(F.EV_FRAMER_SWITCH_FAILED) == [["tx", True]]


def test_hk_no_data_values_and_diag():
    rig = Rig()
    start(rig)
    hk = rig.hk("framer")
    assert hk["framer_ber"] == -1.0 and hk["framer_per"] == 65535  # no window yet
    window(rig, ok=1700, crc=100, gaps=0, pre=64)
    hk = rig.hk("framer")
    assert hk["framer_per"] == round(100 / 1800 * 10000)
    diag = rig.hk("framer", diag=True)
    assert diag["framer_rx"] == 1 and diag["framer_packets_ok"] == 1700
    assert diag["framer_window_ber"] == pytest.approx(64 / (64 * 1800))


def test_diag_totals_are_the_sessions():
    """framer_packets_ok .. framer_preamble_bit_errors say "this session": a new session
    starts them from 0 (before, they ran on from the first session since boot)."""
    rig = Rig()
    start(rig)
    window(rig, ok=1700, crc=100, gaps=2, pre=64)
    assert list(rig.fc.totals) == [1700, 100, 2, 64]
    rig.fc.stop_session()
    start(rig)
    assert list(rig.fc.totals) == [0, 0, 0, 0]
    window(rig, ok=1500, pre=7)
    diag = rig.hk("framer", diag=True)
    assert (diag["framer_packets_ok"], diag["framer_preamble_bit_errors"]) == (1500, 7)


def test_framer_in_the_flight_app_locks_on_packets():
    r = app_rig("framer")
    r.app.modes.request("STANDBY")
    r.app.modes.request("SESSION")
    for _ in range(5):
        r.hal.add(ok=1800, pre=10)
        r.app.run_for(100000)
    assert r.fc.link == F.L_LOCKED and r.fc.totals[F.W_OK] >= 3 * 1800
    r.app.modes.request("SAFE")
    assert r.fc.link == F.L_OFF and not r.power.get(SW_FRAMER)


def test_frozen_snapshots_leave_the_link_searching_after_a_second():
    """The FPGA latching no new snapshot (its counters frozen): a stale read keeps the
    link as it was, but ten in a row (1 s) are said and the link's state is unknown."""
    rig = Rig()
    start(rig)
    window(rig, ok=1800, pre=10)
    assert rig.fc.link == F.L_LOCKED
    for _ in range(F._STALE_MAX - 1):
        rig.fc.update()
    assert rig.fc.link == F.L_LOCKED and rig.ctx.args(F.EV_FRAMER_FROZEN) == []
    rig.fc.update()
    assert rig.fc.link == F.L_SEARCHING
    assert rig.ctx.args(F.EV_FRAMER_FROZEN) == [[F._STALE_MAX]]
    window(rig, ok=1800, pre=10)  # new snapshots again
    assert rig.fc.link == F.L_LOCKED and rig.fc._stale_run == 0


# ---------------------------------------------------------------------- outside probe
def test_unreadable_counters_leave_the_link_searching_after_a_second():
    """Before: reads failing for good left the link LOCKED (the APT's survey cadence
    follows it); one second of them (as of frozen snapshots) and its state is unknown."""
    rig = Rig()
    start(rig)
    window(rig, ok=1800, pre=10)
    rig.hal.fail = 10 ** 6
    for _ in range(F._STALE_MAX - 1):
        window(rig, ok=1800, pre=10)
    assert rig.fc.link == F.L_LOCKED  # a glitch under a second is tolerated
    window(rig, ok=1800, pre=10)
    assert rig.fc.link == F.L_SEARCHING and rig.args(F.EV_FRAMER_ERROR) == [[1]]
    assert rig.named(F.EV_LINK_STATE)[-1] == "LOCKED -> SEARCHING"
    rig.hal.fail = 0
    window(rig, ok=1800, pre=10)
    assert rig.fc.link == F.L_LOCKED and rig.fc.window_valid


def test_an_undefined_lock_state_is_an_implausible_read():
    """Before: a lock flag neither 0 nor 1 read as "not locked", silently."""
    rig = Rig()
    start(rig)
    window(rig, ok=1800, pre=10)
    totals = list(rig.fc.totals)
    rig.hal.add(ok=1800, pre=10)
    rig.hal.k[CTR_LOCKED] = 2
    rig.fc.update()
    assert not rig.fc.window_valid and rig.fc.totals == totals
    assert rig.fc.link == F.L_LOCKED  # (not a verdict on the link)
    assert rig.args(F.EV_FRAMER_IMPLAUSIBLE) == [[1, CTR_LOCKED]]
    for _ in range(F._STALE_MAX - 1):  # stuck there: resynchronised, still no window
        rig.hal.add(ok=1800, pre=10)
        rig.hal.k[CTR_LOCKED] = 0xFF
        rig.fc.update()
    assert rig.fc.link == F.L_SEARCHING and rig.fc.implausible == F._STALE_MAX
    window(rig, ok=1800, pre=10)
    assert rig.fc.window_valid and rig.fc.link == F.L_LOCKED


def test_more_errors_than_bits_is_an_implausible_read():
    """Before: 100 000 preamble errors on 10 packets made a window BER of 156 (HK
    framer_window_ber) and, three of them, the link DEGRADED."""
    rig = Rig()
    start(rig)
    window(rig, ok=1800, pre=10)
    for _ in range(3):
        window(rig, ok=10, pre=100000)
        assert not rig.fc.window_valid
    assert rig.fc.link == F.L_LOCKED and rig.fc.ber() < 1e-3
    assert rig.args(F.EV_FRAMER_IMPLAUSIBLE) == [[1, CTR_PREAMBLE_BIT_ERRORS],
                                                 [2, CTR_PREAMBLE_BIT_ERRORS]]
    window(rig, ok=10, pre=64 * 10 + 63)  # a packet caught in flight: its preamble counted
    assert rig.fc.window_valid
    window(rig, ok=1800, prbs_err=1001, prbs_bits=1000)
    assert not rig.fc.window_valid and rig.fc.implausible == 4
    assert rig.ctx.args(F.EV_FRAMER_IMPLAUSIBLE)[-1] == [4, CTR_PRBS_BIT_ERRORS]


def test_more_packets_than_the_line_carries_is_an_implausible_read():
    """Before: a packet counter jumping by 2^20 (under _MAX_DELTA) was a window of a
    million packets: HK totals off by as much, a window BER of ~0 for the comparator."""
    rig = Rig()
    start(rig)
    window(rig, ok=1800, pre=10)
    rig.hal.add(ok=1800, pre=10)
    rig.hal.k[CTR_PACKETS_OK] += 1 << 20  # a bit of the read flipped
    rig.fc.update()
    assert not rig.fc.window_valid and rig.fc.totals[F.W_OK] == 1800
    assert rig.args(F.EV_FRAMER_IMPLAUSIBLE) == [[1, CTR_PACKETS_OK]]
    rig.hal.k[CTR_PACKETS_OK] -= 1 << 20
    window(rig, ok=1801)  # measured from the last good read: both periods' packets
    assert rig.fc.window_valid and rig.fc.last_window[F.W_OK] == 1800 + 1801
    # after 3 s of read errors the window spans them all: plausible
    rig = Rig()
    start(rig)
    rig.hal.fail = 30
    for _ in range(31):
        window(rig, ok=1802, pre=10)
    assert rig.fc.window_valid and rig.fc.last_window[F.W_OK] == 31 * 1802


def test_a_sessions_first_read_is_no_verdict_on_the_link():
    """Before: the first read of a session judged the link on the last session's window
    (LOCKED at once, without a packet of this session)."""
    rig = Rig()
    start(rig)
    window(rig, ok=1800, pre=10)
    rig.fc.stop_session()
    start(rig)  # the FPGA still shows its lock; no window of this session yet
    assert rig.fc.link == F.L_SEARCHING and not rig.fc.window_valid
    window(rig, ok=1800, pre=10)
    assert rig.fc.link == F.L_LOCKED


def test_windows_through_the_optics_only():
    """window_optical: DATA and PRBS windows come through the comparator; a loopback
    window, or one across a mode change, does not (flight/comparator.py holds on it)."""
    rig = Rig()
    start(rig)
    seen = []
    for mode in ("DATA", "PRBS", "PRBS", "LOOPBACK", "LOOPBACK", "DATA", "DATA"):
        rig.fc.cmd_set_mode({"mode": mode}, None)
        window(rig, ok=1800)
        seen.append(rig.fc.window_optical)
    assert seen == [True, False, True, False, False, False, True]


def test_an_fpga_fault_is_said_at_its_onset_whatever_the_read_errors_before():
    """Before: the FPGA's own fault (DeviceFault: configuration upset, PLL unlocked) was
    one more FRAMER_ERROR, said only at the 1st, 101st ... read failing of any kind."""
    from hal.errors import DeviceFault

    rig = Rig()
    start(rig)
    window(rig, ok=1800, pre=10)
    rig.hal.fail = 1
    window(rig, ok=1800)  # a bus glitch: FRAMER_ERROR [1]
    good = rig.hal.read_counters
    onsets = []

    def faulty(buf):
        raise DeviceFault("framer: FPGA fault")

    for _onset in range(4):
        rig.hal.read_counters = faulty
        for _ in range(3):
            window(rig, ok=1800)
        rig.hal.read_counters = good
        window(rig, ok=1800)
        assert rig.fc.window_valid
        onsets.append(rig.fc.fault_onsets)
    assert onsets == [1, 2, 3, 4] and rig.fc.read_errors == 13
    assert rig.args(F.EV_FRAMER_FAULT) == [[1], [2], [4]]
    assert rig.args(F.EV_FRAMER_ERROR) == [[1]]


def test_seconds_of_unreadable_counters_are_no_implausible_read():
    """Before: the movement bound did not grow with the time since the last read used:
    after 3 s of read errors with the light on (triggers ~3.75e7/s) three reads were not
    used and said as implausible counters (the simulated pass's framer_bus fault)."""
    rig = Rig()
    start(rig)
    rig.hal.fail = 30
    for _ in range(31):
        window(rig, ok=1801, pre=10, trig=3750000, cv=1000)
    assert rig.fc.window_valid and rig.fc.implausible == 0
    assert rig.fc.last_window[F.W_TRIG] == 31 * 3750000
    rig.hal.fail = 100  # 10 s: the bound at its cap, half the wrap
    for _ in range(100):
        rig.fc.update()
    rig.hal.k[CTR_TRIGGERS] = (rig.fc._prev[CTR_TRIGGERS] - 1) & MASK  # read backwards
    window(rig, ok=1801)
    assert not rig.fc.window_valid and rig.args(F.EV_FRAMER_IMPLAUSIBLE) == [[1, CTR_TRIGGERS]]


def test_a_refused_read_leaves_a_full_ring_of_windows_as_it_was():
    """The read is written into the ring's spare slot at the head while it is checked: with
    all 50 windows summed (framer_windows at its maximum), a refused read changes no sum."""
    rig = Rig(params={"framer_windows": F._MAX_WINDOWS})
    start(rig)
    for i in range(F._MAX_WINDOWS + 3):
        window(rig, ok=1800, crc=i % 7, pre=10 + i)
    before = list(rig.fc._sums())
    ber = rig.fc.ber()
    window(rig, ok=10, pre=100000)  # more errors than bits: refused
    assert not rig.fc.window_valid
    assert list(rig.fc._sums()) == before and rig.fc.ber() == ber
    window(rig, ok=1800, crc=0, pre=10)  # the next good read replaces the oldest window
    assert rig.fc.window_valid and list(rig.fc._sums()) != before

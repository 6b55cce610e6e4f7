"""Framer control (flight/framer_ctl.py) against a fake FPGA framer with settable counters."""

import pytest

from flight import framer_ctl as F
from flight.app import FlightApp
from flight.keys import Keyring
from hal.clock import VirtualClock
from hal.errors import BusError
from hal.interfaces import Board
from hal.sim.link import MemLink
from hal.sim.power import SimPower
from hal.sim.storage import MemStorage
from hal.sim.watchdog import SimWatchdog

MASK = (1 << 30) - 1
OK, CRC, GAPS, PRE, PRBS_ERR, PRBS_BITS, SYNC, LOCKED, SNAP, TRIG = range(10)


class FakeFramerHal:
    def __init__(self):
        self.k = [0] * 10
        self.rx = False
        self.tx = False
        self.mode = 0
        self.fail = 0

    def init(self):
        self.rx = self.tx = False

    def enable_rx(self, on):
        self.rx = on

    def enable_tx(self, on):
        self.tx = on

    def set_mode(self, m):
        assert m in (0, 1, 2)
        self.mode = m

    def add(self, ok=0, crc=0, gaps=0, pre=0, prbs_err=0, prbs_bits=0, trig=0, locked=True):
        k = self.k
        for i, v in ((OK, ok), (CRC, crc), (GAPS, gaps), (PRE, pre), (PRBS_ERR, prbs_err),
                     (PRBS_BITS, prbs_bits), (TRIG, trig)):
            k[i] = (k[i] + v) & MASK
        k[LOCKED] = 1 if locked else 0
        k[SNAP] = (k[SNAP] + 1) & 0xFFFF

    def read_counters(self, buf):
        if self.fail:
            self.fail -= 1
            raise BusError("spi")
        for i in range(10):
            buf[i] = self.k[i]


class Rig:
    def __init__(self, params=None):
        self.clock = VirtualClock()
        self.hal = FakeFramerHal()
        self.power = SimPower()
        board = Board(framer=self.hal, power=self.power, clock=self.clock, link=MemLink(),
                      storage=MemStorage(), watchdog=SimWatchdog(self.clock))
        self.app = FlightApp(board, keyring=Keyring())
        self.events = []
        orig = self.app.emit

        def emit(sev, ev_id, text="", args=None):
            self.events.append((ev_id, text))
            return orig(sev, ev_id, text, args)

        self.app.emit = emit
        self.app.boot()
        for k, v in (params or {}).items():
            self.app.params.set(k, v)
        self.fc = self.app.payload["framer"]

    def start(self):
        self.app.modes.request("STANDBY")
        self.app.modes.request("SESSION")
        self.fc.update()  # first snapshot

    def window(self, **kw):
        self.hal.add(**kw)
        self.clock.advance(100000)
        self.fc.update()

    def named(self, ev_id):
        return [t for i, t in self.events if i == ev_id]


def test_session_start_configures_the_framer():
    rig = Rig()
    assert rig.fc.link == F.L_OFF and not rig.fc.rx_on
    rig.start()
    assert rig.power.get(4) and rig.hal.rx and rig.fc.link == F.L_SEARCHING
    rig.app.modes.request("STANDBY")
    assert rig.fc.link == F.L_OFF and not rig.hal.rx and not rig.power.get(4)


def test_counter_wrap_at_30_bits():
    rig = Rig()
    rig.hal.k[OK] = MASK - 4
    rig.hal.k[PRE] = MASK - 1
    rig.hal.k[TRIG] = MASK
    rig.start()
    rig.window(ok=1800, crc=1, pre=120, trig=2500000)
    assert rig.hal.k[OK] < 1800  # the hardware counter wrapped
    w = rig.fc.last_window
    assert (w[0], w[1], w[3], w[6]) == (1800, 1, 120, 2500000)
    assert rig.fc.totals[0] == 1800 and rig.fc.totals[3] == 120


def test_stale_snapshot_is_not_a_window():
    rig = Rig()
    rig.start()
    rig.window(ok=1800, pre=10)
    totals = list(rig.fc.totals)
    rig.clock.advance(100000)
    rig.fc.update()  # the FPGA did not latch a new snapshot
    assert rig.fc.stale == 1 and not rig.fc.window_valid
    assert rig.fc.totals == totals
    rig.window(ok=1800, pre=20)
    assert rig.fc.window_valid and rig.fc.last_window[3] == 20


def test_read_errors_are_counted_and_reported_once():
    rig = Rig()
    rig.start()
    rig.hal.fail = 3
    for _ in range(3):
        rig.window(ok=1800)
        assert not rig.fc.window_valid
    assert rig.fc.read_errors == 3
    assert len(rig.named(F.EV_FRAMER_ERROR)) == 1
    rig.window(ok=1800, pre=5)
    # the window after the errors spans everything since the last good read
    assert rig.fc.window_valid and rig.fc.last_window[0] == 4 * 1800


def test_link_states():
    rig = Rig()
    rig.start()
    rig.window(locked=False)
    assert rig.fc.link == F.L_SEARCHING
    rig.window(ok=1700, crc=100, pre=20, locked=True)
    assert rig.fc.link == F.L_LOCKED and rig.fc.lock_time_s is not None
    # window BER above framer_ber_degraded (2e-3): 64 x 1800 x 3e-3 errors per window;
    # two bad windows are tolerated, the third makes the link DEGRADED
    for _ in range(2):
        rig.window(ok=0, crc=1800, pre=346, locked=True)
        assert rig.fc.link == F.L_LOCKED
    rig.window(ok=0, crc=1800, pre=346, locked=True)
    assert rig.fc.ber() > 2e-3 and rig.fc.link == F.L_DEGRADED
    rig.window(ok=1790, crc=10, pre=2, locked=True)  # one good window: LOCKED again
    assert rig.fc.link == F.L_LOCKED
    rig.window(locked=True)  # locked flag but no packet in the window: not locked
    assert rig.fc.link == F.L_SEARCHING
    states = rig.named(F.EV_LINK_STATE)
    assert states == ["OFF -> SEARCHING", "SEARCHING -> LOCKED", "LOCKED -> DEGRADED",
                      "DEGRADED -> LOCKED", "LOCKED -> SEARCHING"]


def test_sliding_per_and_ber():
    rig = Rig(params={"framer_windows": 10})
    rig.start()
    assert rig.fc.ber() is None and rig.fc.per() is None
    wins = []
    for i in range(15):
        ok, crc, gaps, pre = 1700 - 10 * i, 90 + 10 * i, i, 10 + i
        rig.window(ok=ok, crc=crc, gaps=gaps, pre=pre)
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
    rig.app.params.set("framer_windows", 50)  # more than seen: all of them
    assert rig.fc.ber() == pytest.approx(sum(w[3] for w in wins)
                                         / (64.0 * sum(w[0] + w[1] for w in wins)))


def test_ring_keeps_the_last_50_windows():
    rig = Rig(params={"framer_windows": 50})
    rig.start()
    for i in range(60):
        rig.window(ok=1000, pre=1 if i < 10 else 2)
    assert rig.fc.ber() == pytest.approx(100 / (64.0 * 50000))


def test_prbs_mode_uses_the_payload_bits():
    rig = Rig()
    ok, why, res = rig.fc.cmd_set_mode({"mode": "PRBS"})
    assert ok and res == {"mode": "PRBS"} and rig.hal.mode == 1
    rig.start()
    assert rig.hal.mode == 1  # the session keeps the commanded mode
    rig.window(ok=1800, pre=100, prbs_err=462, prbs_bits=1800 * 2568)
    assert rig.fc.ber() == pytest.approx(462 / (1800 * 2568.0))
    hk = {}
    rig.fc.hk(hk)
    assert hk["framer"]["mode"] == "PRBS" and hk["link_state"] == "LOCKED"


def test_transmitter_follows_enable_tx():
    rig = Rig()
    rig.start()
    rig.fc.enable_tx(True)
    assert rig.hal.tx and rig.fc.tx_on
    rig.app.modes.request("STANDBY")
    assert not rig.hal.tx and not rig.fc.tx_on

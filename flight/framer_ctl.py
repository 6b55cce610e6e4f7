"""Framer control (DESIGN §3.6): mode, counters, link state, PER and BER.

Every 100 ms the FPGA counters are latched and read; the differences to the previous
snapshot are one *window*.  A ring of the last ``framer_windows`` windows gives the
sliding PER and BER:

* BER = preamble bit errors / (64 × packets seen) — the 64 known preamble bits of every
  packet (DESIGN §3.5); in PRBS/loopback mode the PRBS payload bits are used instead;
* PER = (CRC errors + serial-number gaps) / (packets ok + CRC errors + gaps).

Link state: OFF (receiver disabled) / SEARCHING (not locked or no packets) / LOCKED /
DEGRADED (locked but the BER of ``framer_degraded_windows`` windows in a row above
``framer_ber_degraded``; one good window is LOCKED again).  The state follows the latest
windows, not the sliding average, so it reacts within 100 ms when the comparator moves to a
good level.  BER, not PER, is the
criterion: at the paper's working point (BER 1e-3) 93 % of the 2,616-bit packets fail
their CRC, yet the link is usable with error correction on top (paper §4).  The comparator module reads the
last window through :meth:`last`.
"""

from array import array

from flight import events
from hal.compat import const

L_OFF = const(0)
L_SEARCHING = const(1)
L_LOCKED = const(2)
L_DEGRADED = const(3)
LINK_NAMES = ("OFF", "SEARCHING", "LOCKED", "DEGRADED")
MODE_NAMES = ("DATA", "PRBS", "LOOPBACK")

PREAMBLE_BITS = const(64)
_MASK = const((1 << 30) - 1)  # hal.interfaces COUNTER_MASK
N_CTR = const(10)  # hal.interfaces N_COUNTERS
C_OK = const(0)
C_CRC = const(1)
C_GAPS = const(2)
C_PRE = const(3)
C_PRBS_ERR = const(4)
C_PRBS_BITS = const(5)
C_SYNC = const(6)
C_LOCKED = const(7)
C_SNAP = const(8)
C_TRIG = const(9)

EV_LINK_STATE = const(0x60)
EV_FRAMER_ERROR = const(0x61)
events.register(EV_LINK_STATE, "LINK_STATE")
events.register(EV_FRAMER_ERROR, "FRAMER_ERROR")

_SW_FRAMER = const(4)
_MAX_WINDOWS = const(50)


class FramerControl:
    name = "framer"

    def __init__(self, app, framer, power, period_us=100000):
        self.app = app
        self.framer = framer
        self.power = power
        self.period_us = period_us
        self.handlers = {"FRAMER_SET_MODE": self.cmd_set_mode}
        self.mode = 0
        self.link = L_OFF
        self.rx_on = False
        self.tx_on = False
        self._cur = array("i", [0] * N_CTR)
        self._prev = array("i", [0] * N_CTR)
        self._have_prev = False
        # Ring of windows: [ok, crc, gaps, pre_err, prbs_err, prbs_bits, triggers]
        self._ring = [array("i", [0] * 7) for _ in range(_MAX_WINDOWS)]
        self._head = 0
        self._filled = 0
        self.last_window = array("i", [0] * 7)
        self.window_valid = False
        self.locked_hw = False
        self.totals = [0, 0, 0, 0, 0, 0, 0]
        self.read_errors = 0
        self.stale = 0
        self.lock_time_s = None
        self._bad = 0  # consecutive windows with a BER above framer_ber_degraded

    def define_params(self, p):
        p.define("framer_windows", "int", 10, 1, _MAX_WINDOWS, "windows",
                 "sliding window for PER/BER (x 100 ms)")
        p.define("framer_ber_degraded", "float", 2e-3, 1e-7, 0.5, "",
                 "window BER above which a locked link is DEGRADED")
        p.define("framer_degraded_windows", "int", 3, 1, 100, "windows",
                 "consecutive bad windows before DEGRADED")

    def cmd_set_mode(self, args):
        m = MODE_NAMES.index(args["mode"])
        try:
            self.framer.set_mode(m)
        except Exception as e:
            return False, "HAL", repr(e)
        self.mode = m
        return True, None, {"mode": args["mode"]}

    def tasks(self):
        from flight.scheduler import Task

        return [Task("framer", self.period_us, self.update, offset_us=2000,
                     budget_us=10000, max_faults=5)]

    # ------------------------------------------------------------------ session hooks
    def start_session(self):
        self.power.set(_SW_FRAMER, True)
        self.framer.init()
        self.framer.set_mode(self.mode)
        self.framer.enable_rx(True)
        self.rx_on = True
        self._have_prev = False
        self._filled = 0
        self.lock_time_s = None
        self._set_link(L_SEARCHING)

    def stop_session(self):
        try:
            self.enable_tx(False)
            self.framer.enable_rx(False)
        except Exception:
            self.read_errors += 1
        self.rx_on = False
        try:
            self.power.set(_SW_FRAMER, False)
        finally:
            self._set_link(L_OFF)

    def safe(self):
        self.stop_session()

    def enable_tx(self, on):
        if self.tx_on != on:
            self.framer.enable_tx(on)
            self.tx_on = on

    def _set_link(self, s):
        if s != self.link:
            old = self.link
            self.link = s
            if s == L_LOCKED and self.lock_time_s is None:
                self.lock_time_s = self.app.now_s()
            self.app.emit(events.SEV_INFO, EV_LINK_STATE, "%s -> %s" % (LINK_NAMES[old],
                                                                          LINK_NAMES[s]))

    # ------------------------------------------------------------------ 100 ms update
    def update(self):
        self.window_valid = False
        if not self.rx_on:
            return
        cur = self._cur
        try:
            self.framer.read_counters(cur)
        except Exception as e:
            self.read_errors += 1
            if self.read_errors == 1 or self.read_errors % 100 == 0:
                self.app.emit(events.SEV_WARN, EV_FRAMER_ERROR, "counters: %r" % (e,),
                              [self.read_errors])
            return
        prev = self._prev
        if self._have_prev and cur[C_SNAP] == prev[C_SNAP]:
            self.stale += 1
            return
        if self._have_prev:
            w = self._ring[self._head]
            w[0] = (cur[C_OK] - prev[C_OK]) & _MASK
            w[1] = (cur[C_CRC] - prev[C_CRC]) & _MASK
            w[2] = (cur[C_GAPS] - prev[C_GAPS]) & _MASK
            w[3] = (cur[C_PRE] - prev[C_PRE]) & _MASK
            w[4] = (cur[C_PRBS_ERR] - prev[C_PRBS_ERR]) & _MASK
            w[5] = (cur[C_PRBS_BITS] - prev[C_PRBS_BITS]) & _MASK
            w[6] = (cur[C_TRIG] - prev[C_TRIG]) & _MASK
            for i in range(7):
                self.last_window[i] = w[i]
                self.totals[i] += w[i]
            self._head = (self._head + 1) % _MAX_WINDOWS
            if self._filled < _MAX_WINDOWS:
                self._filled += 1
            self.window_valid = True
        for i in range(N_CTR):
            prev[i] = cur[i]
        self._have_prev = True
        self.locked_hw = cur[C_LOCKED] == 1
        self._update_link()

    def _sums(self, n=None):
        if n is None:
            n = self.app.params["framer_windows"]
        if n > self._filled:
            n = self._filled
        s = [0, 0, 0, 0, 0, 0, 0]
        i = self._head
        for _ in range(n):
            i = (i - 1) % _MAX_WINDOWS
            w = self._ring[i]
            for k in range(7):
                s[k] += w[k]
        return s

    def ber(self, n=None):
        """Sliding bit-error rate, or None without data."""
        s = self._sums(n)
        if self.mode != 0 and s[5] > 0:
            return s[4] / s[5]
        pk = s[0] + s[1]
        if pk == 0:
            return None
        return s[3] / (PREAMBLE_BITS * pk)

    def per(self, n=None):
        s = self._sums(n)
        total = s[0] + s[1] + s[2]
        if total == 0:
            return None
        return (s[1] + s[2]) / total

    def window_ber(self):
        """BER of the last window (preamble bits), or None when no packet was seen."""
        w = self.last_window
        pk = w[0] + w[1]
        if not self.window_valid or pk == 0:
            return None
        return w[3] / (PREAMBLE_BITS * pk)

    def _update_link(self):
        w = self.last_window
        seen = w[0] + w[1]
        if not self.locked_hw or seen == 0:
            self._set_link(L_SEARCHING)
            return
        ber = w[3] / (PREAMBLE_BITS * seen)
        if ber <= self.app.params["framer_ber_degraded"]:
            self._bad = 0
            self._set_link(L_LOCKED)
            return
        self._bad += 1
        if self._bad >= self.app.params["framer_degraded_windows"]:
            self._set_link(L_DEGRADED)

    # ------------------------------------------------------------------ telemetry
    def hk(self, d):
        d["link_state"] = LINK_NAMES[self.link]
        d["framer"] = {"mode": MODE_NAMES[self.mode], "link": LINK_NAMES[self.link],
                       "rx": self.rx_on, "tx": self.tx_on, "ber": self.ber(),
                       "per": self.per(), "packets_ok": self.totals[0],
                       "crc_errors": self.totals[1], "serial_gaps": self.totals[2],
                       "preamble_bit_errors": self.totals[3], "read_errors": self.read_errors,
                       "stale": self.stale}

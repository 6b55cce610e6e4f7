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
good level.  BER, not PER, is the criterion: at the paper's working point (BER 1e-3)
93 % of the 2,616-bit packets fail their CRC, yet the link is usable with error
correction on top (paper §4).  The comparator module reads the last window
(``last_window``, W_* layout, valid when ``window_valid``; through the optics alone when
``window_optical``).  Implausible reads are not used (:meth:`FramerControl.update`).
"""

from array import array

from flight.cmddict import CmdFailed
from hal.compat import const
from flight.events import SEV_INFO, SEV_WARN, Event
from flight.params import ParamDef
from flight.scheduler import Task
from flight.telemetry import HkField
from hal.errors import DeviceFault, HalError
from hal import interfaces as _hw  # (names only declarations read: not a global slot each)
from hal.interfaces import (COUNTER_MASK, CTR_CODE_VIOLATIONS, CTR_CRC_ERRORS, CTR_LOCKED,
                            CTR_PACKETS_OK, CTR_PREAMBLE_BIT_ERRORS, CTR_PRBS_BIT_ERRORS,
                            CTR_PRBS_BITS, CTR_SERIAL_GAPS, CTR_SNAPSHOT, CTR_TRIGGERS,
                            CHIP_RATE_HZ, MODE_DATA, MODE_LOOPBACK, N_COUNTERS, PREAMBLE_BITS,
                            SW_FRAMER)

L_OFF = _hw.LINK_OFF
L_SEARCHING = _hw.LINK_SEARCHING
L_LOCKED = _hw.LINK_LOCKED
L_DEGRADED = _hw.LINK_DEGRADED
LINK_NAMES = _hw.LINK_STATE_NAMES
MODE_NAMES = _hw.FRAMER_MODE_NAMES

# A window: the differences of these counters between two snapshots, in this order
# (W_* index the window arrays; the comparator reads them through last_window).  Names
# imported, not read from _hw: the firmware build makes them constants
# (tools/freeze_trim.py), so this tuple is one in flash, not a heap object (issue 11).
_WINDOW_CTRS = (CTR_PACKETS_OK, CTR_CRC_ERRORS, CTR_SERIAL_GAPS, CTR_PREAMBLE_BIT_ERRORS,
                CTR_PRBS_BIT_ERRORS, CTR_PRBS_BITS, CTR_TRIGGERS, CTR_CODE_VIOLATIONS)
W_OK = const(0)
W_CRC = const(1)
W_GAPS = const(2)
W_PRE = const(3)
W_PRBS_ERR = const(4)
W_PRBS_BITS = const(5)
W_TRIG = const(6)
W_CV = const(7)
W_LEN = const(8)
# The ring keeps the first _SUMMED counts of each window (W_OK .. W_PRBS_BITS: what the
# sliding BER and PER sum); triggers and code violations are read from the last window
# only (1.2 kB of ring, not 1.6: issue 11).  The first _NARROW of them (packets ok, CRC
# errors, serial gaps) count packets: at most ~1 900 a 100 ms window at 50 Mbit/s, kept
# in 16 bits (saturated at 0xFFFF: only a window over ~3.4 s of stale snapshots could
# reach it, its PER counts then capped); the others (bits) in 32: 0.9 kB, not 1.2.
_SUMMED = const(6)
_NARROW = const(3)
_WIDE = const(3)  # _SUMMED - _NARROW
# The session's totals: W_OK .. W_PRE (HK_DIAG), far inside a small int for a pass.  Bit
# counts are not totalled: the triggers pass 2^30 on the 32-bit target in a minute, and
# each addition then allocated a long int (32 B a window: docs/design.md §3.6).
_TOTALLED = const(4)
_MAX_WINDOWS = const(50)
# The ring holds one slot more than the windows it sums: the slot at the head is written
# while a read is checked, never summed (a refused read leaves every window as it was).
_SLOTS = const(51)
_BER_SHIFT = const(16)  # the BER limit's fixed point in _update_link (2^16 x 64 bits)
_ERR_REPORT = const(100)  # a repeated read error is reported on its 1st, 101st, ... time

EV_LINK_STATE = const(0x80)
EV_FRAMER_ERROR = const(0x81)
EV_FRAMER_MODE_FAILED = const(0x82)
EV_FRAMER_SWITCH_FAILED = const(0x83)
EV_FRAMER_IMPLAUSIBLE = const(0x84)
# A counter that moved more than this per update since the last read used is a torn or
# corrupted read (read backwards it shows as ~2^30): one second of the chip samples (the
# fastest counter, CHIP_RATE_HZ), at most _DELTA_CAP, half the wrap; not used, and
# _RESYNC_READS in a row (the FPGA restarted its counters) are the new baseline.
_MAX_DELTA = CHIP_RATE_HZ
_DELTA_CAP = const(0x20000000)
_DELTA_PERIODS = const(5)  # the last factor under the cap (no big integer on the target)
_RESYNC_READS = const(3)
# Snapshots not new this many updates in a row (1 s): the counters are frozen, the link's
# state unknown — SEARCHING, said; as many updates without a window for any reason:
# SEARCHING too (a lock the framer no longer shows is not acted on).
_STALE_MAX = const(10)
# Packets (good + CRC errors) a window may hold per update period since the last read
# used: ten periods of the line's 18,011 packets/s (DESIGN §3.6), a late release's margin;
# more is a corrupted read (a flipped bit below 2^27 would make a window's BER ~0).
_PACKETS_PER_S = const(18012)
_PERIODS_MAX = const(30000)  # (the factor saturates where _DELTA_CAP takes over)
EV_FRAMER_FROZEN = const(0x85)
EV_FRAMER_FAULT = const(0x86)

EVENTS = (
    Event(EV_LINK_STATE, "LINK_STATE", SEV_INFO, "uplink state changed",
          (("from", "int"), ("to", "int"))),
    Event(EV_FRAMER_ERROR, "FRAMER_ERROR", SEV_WARN,
          "framer counters unreadable (1st, 101st, ... time)", (("count", "int"),)),
    Event(EV_FRAMER_MODE_FAILED, "FRAMER_MODE_FAILED", SEV_WARN,
          "framer mode change failed", (("mode", "int"),)),
    Event(EV_FRAMER_SWITCH_FAILED, "FRAMER_SWITCH_FAILED", SEV_WARN,
          "framer receiver or transmitter switch failed", (("what", "str"), ("on", "bool"))),
    Event(EV_FRAMER_IMPLAUSIBLE, "FRAMER_COUNTERS_IMPLAUSIBLE", SEV_WARN,
          "framer counters implausible: moved more than possible since the last read (torn "
          "read, or the FPGA restarted them), more packets than the line carries, more "
          "errors than bits, or a lock state neither 0 nor 1: the read not used (1st, 2nd, "
          "4th ... time)", (("count", "int"), ("counter", "int"))),
    Event(EV_FRAMER_FROZEN, "FRAMER_SNAPSHOTS_FROZEN", SEV_WARN,
          "no new framer snapshot for 1 s: the link's state unknown, SEARCHING",
          (("stale", "int"),)),
    Event(EV_FRAMER_FAULT, "FRAMER_FPGA_FAULT", SEV_WARN,
          "the framer FPGA reports a fault of its own (configuration upset found by its "
          "scrubber, or its PLL unlocked): counters not read (1st, 2nd, 4th ... onset)",
          (("count", "int"),)),
)

PARAMS = (
    ParamDef("framer_windows", "int", 10, 1, _MAX_WINDOWS, "windows",
             "sliding window for PER/BER (x 100 ms)"),
    ParamDef("framer_ber_degraded", "float", 2e-3, 1e-7, 0.5, "",
             "window BER above which a locked link is DEGRADED"),
    ParamDef("framer_degraded_windows", "int", 3, 1, 100, "windows",
             "consecutive bad windows before DEGRADED"),
)

F = HkField
HK = (  # 1 Hz: 11 octets
    F("framer_link", "u8", enum=LINK_NAMES, description="uplink state"),
    F("framer_mode", "u8", enum=MODE_NAMES, description="framer mode"),
    F("framer_ber", "f32", warn=(0.0, 2e-3), description="sliding BER (-1: no data)"),
    F("framer_per", "u16", "", 0.0001, description="sliding packet error rate (65535: no data)"),
    F("framer_read_errors", "u16", warn=(0, 0), description="counter reads that failed"),
    F("framer_switch_errors", "u8", warn=(0, 0), description="rx/tx/mode changes that failed"),
)
HK_DIAG = (
    F("framer_rx", "u8", enum=("OFF", "ON"), description="receiver enabled"),
    F("framer_tx", "u8", enum=("OFF", "ON"), description="transmitter enabled"),
    F("framer_packets_ok", "u32", description="packets with a good CRC this session"),
    F("framer_crc_errors", "u32", description="packets with a CRC error"),
    F("framer_serial_gaps", "u32", description="serial-number gaps (missed packets)"),
    F("framer_preamble_bit_errors", "u32", description="preamble bit errors"),
    F("framer_stale", "u32", description="snapshots that were not new"),
    F("framer_implausible", "u16", warn=(0, 0),
      description="counter reads not used: a counter moved more than possible"),
    F("framer_window_ber", "f32", description="BER of the last window (-1: no packet)"),
)


class FramerControl:
    name = "framer"

    def __init__(self, ctx, framer, power, period_us=100000):
        self.ctx = ctx
        self.framer = framer
        self.power = power
        self.period_us = period_us
        self.mode = MODE_DATA
        self.link = L_OFF
        self.rx_on = False
        self.tx_on = False
        self._cur = array("i", [0] * N_COUNTERS)
        self._prev = array("i", [0] * N_COUNTERS)
        self._have_prev = False
        # The windows, their first _SUMMED counts each (W_* layout), in two flat arrays:
        # fifty arrays of eight cost 2.6 kB of heap on the target, these 0.9 kB (issue 11).
        # 'H': the _NARROW packet counts (saturated); 'i': the bit counts, 30-bit counter
        # differences (COUNTER_MASK).
        self._ring16 = array("H", bytes(2 * _NARROW * _SLOTS))
        self._ring = array("i", bytes(4 * _WIDE * _SLOTS))
        self._s = [0] * _SUMMED  # _sums' result (reused: no list per call)
        self._head = 0
        self._filled = 0
        self.last_window = array("i", [0] * W_LEN)
        self.window_valid = False
        self.locked_hw = False
        self.totals = [0] * _TOTALLED  # this session's (reset by start_session)
        self.read_errors = 0
        self.switch_errors = 0  # receiver / transmitter / mode changes that failed
        self.stale = 0
        self.implausible = 0  # reads not used (FRAMER_COUNTERS_IMPLAUSIBLE)
        self._implausible_run = 0
        self.fault_onsets = 0  # runs of reads failing on the FPGA's own fault
        self._faulted = False  # the last read failed so
        self._stale_run = 0  # consecutive snapshots not new
        self._blind = 0  # consecutive updates without a window (any reason)
        self._periods = 0  # updates since the last read used (the packet bound's factor)
        self._pkt_lim = _PACKETS_PER_S * (period_us // 1000) // 100  # a period's bound
        # The last window came through the optical channel alone (DATA or PRBS all along):
        # a loopback window, or one across a mode change, says nothing of the comparator's
        # level (flight/comparator.py holds on it).
        self.window_optical = False
        self._switched = False  # the mode changed since the last read used
        self.lock_time_s = None
        self._bad = 0  # consecutive windows with a BER above framer_ber_degraded
        self._lim_f = None  # framer_ber_degraded as last converted, and in its unit
        self._lim_q = 0

    def cmd_set_mode(self, args, tc):
        m = MODE_NAMES.index(args["mode"])
        try:
            self.framer.set_mode(m)
        except HalError as e:
            self.switch_errors += 1
            self.ctx.emit(EV_FRAMER_MODE_FAILED, [m], repr(e))
            raise CmdFailed("HAL", repr(e))  # noqa: B904 (no exception chaining on MicroPython)
        if m != self.mode:
            self._switched = True  # the next window holds both modes
        self.mode = m
        return {"mode": args["mode"]}

    def tasks(self):
        return [Task("framer", self.period_us, self.update, offset_us=2000,
                     budget_us=10000, max_faults=5)]

    # ------------------------------------------------------------------ session hooks
    def start_session(self):
        self.power.set(SW_FRAMER, True)
        self.framer.init()
        self.framer.set_mode(self.mode)
        self.framer.enable_rx(True)
        self.rx_on = True
        self._have_prev = False
        self._filled = 0
        self._blind = 0
        self.lock_time_s = None
        t = self.totals
        for k in range(_TOTALLED):
            t[k] = 0
        self._set_link(L_SEARCHING)

    def stop_session(self):
        self.window_valid = False  # (also the safe state of a task disabled mid-update)
        self.enable_tx(False)
        try:
            self.framer.enable_rx(False)
        except HalError as e:
            self._switch_error("rx", False, e)
        self.rx_on = False
        try:
            self.power.set(SW_FRAMER, False)
        finally:
            self._set_link(L_OFF)

    safe = stop_session

    def enable_tx(self, on):
        """The downlink transmitter (follows the APT's downlink laser)."""
        if self.tx_on == on:
            return
        try:
            self.framer.enable_tx(on)
        except HalError as e:
            self._switch_error("tx", on, e)
            return
        self.tx_on = on

    def _switch_error(self, what, on, e):
        self.switch_errors += 1
        self.ctx.emit(EV_FRAMER_SWITCH_FAILED, [what, on], repr(e))

    def _set_link(self, s):
        if s != self.link:
            old = self.link
            self.link = s
            if s == L_LOCKED and self.lock_time_s is None:
                self.lock_time_s = self.ctx.now()
            self.ctx.emit(EV_LINK_STATE, [old, s], "%s -> %s" % (LINK_NAMES[old], LINK_NAMES[s]))

    # ------------------------------------------------------------------ 100 ms update
    def update(self):
        self.window_valid = False
        if not self.rx_on:
            return
        cur = self._cur
        if self._periods < _PERIODS_MAX:
            self._periods += 1
        try:
            self.framer.read_counters(cur)
        except HalError as e:
            self.read_errors += 1
            if self.read_errors % _ERR_REPORT == 1:
                self.ctx.emit(EV_FRAMER_ERROR, [self.read_errors], "counters: %r" % (e,))
            if isinstance(e, DeviceFault) and not self._faulted:
                # The FPGA's own fault is said at its onset, whatever the read errors
                # before (FRAMER_ERROR alone said it at the 1st, 101st ... read failing).
                self._faulted = True
                self.fault_onsets += 1
                n = self.fault_onsets
                if n & (n - 1) == 0:
                    self.ctx.emit(EV_FRAMER_FAULT, [n], repr(e))
            self._no_window()
            return
        self._faulted = False
        prev = self._prev
        if self._have_prev and cur[CTR_SNAPSHOT] == prev[CTR_SNAPSHOT]:
            self.stale += 1
            self._stale_run += 1
            if self._stale_run == _STALE_MAX:  # (a stale read leaves the link as it was)
                self.ctx.emit(EV_FRAMER_FROZEN, [self.stale])
            self._no_window()
            return
        self._stale_run = 0
        if not self._have_prev:  # the baseline: no window, the link judged on the next
            self._baseline(cur, prev)
            self._have_prev = True
            self.locked_hw = cur[CTR_LOCKED] == 1
            return
        w = self.last_window  # (read only while window_valid: filled before it is judged)
        n = self._periods
        lim = _MAX_DELTA * n if n <= _DELTA_PERIODS else _DELTA_CAP  # (a local, not 8 lookups)
        w16 = self._ring16
        r = self._ring
        t = self.totals
        o16 = self._head * _NARROW
        o = self._head * _WIDE - _NARROW
        for k in range(W_LEN):
            c = _WINDOW_CTRS[k]
            d = (cur[c] - prev[c]) & COUNTER_MASK
            if d > lim:
                self._implausible(cur, prev, c, "moved more than possible", k)
                return
            w[k] = d
            # (One loop: the ring's slot at the head is summed once the head moved past it,
            # _SLOTS, and a refused read's counts are taken back out of the totals.)
            if k < _NARROW:
                w16[o16 + k] = d if d <= 0xFFFF else 0xFFFF
            elif k < _SUMMED:
                r[o + k] = d
            if k < _TOTALLED:
                t[k] += d  # (taken back by _implausible if the read is refused)
        # Counts that cannot be together (integers: nothing allocated; a preamble error
        # may belong to a packet the snapshot caught in flight, hence // PREAMBLE_BITS).
        pk = w[W_OK] + w[W_CRC]
        if cur[CTR_LOCKED] != 0 and cur[CTR_LOCKED] != 1:
            self._implausible(cur, prev, CTR_LOCKED, "lock state undefined", W_LEN)
            return
        if pk > self._pkt_lim * n:
            self._implausible(cur, prev, CTR_PACKETS_OK, "more packets than the line carries",
                              W_LEN)
            return
        if w[W_PRE] // PREAMBLE_BITS > pk:
            self._implausible(cur, prev, CTR_PREAMBLE_BIT_ERRORS, "more errors than bits", W_LEN)
            return
        if w[W_PRBS_ERR] > w[W_PRBS_BITS]:
            self._implausible(cur, prev, CTR_PRBS_BIT_ERRORS, "more errors than bits", W_LEN)
            return
        self._implausible_run = 0
        self._head = (self._head + 1) % _SLOTS
        if self._filled < _MAX_WINDOWS:
            self._filled += 1
        self.window_optical = not self._switched and self.mode != MODE_LOOPBACK
        self._baseline(cur, prev)
        self._blind = 0
        self.locked_hw = cur[CTR_LOCKED] == 1
        self._update_link()
        self.window_valid = True  # (last: an update that raised leaves no window)

    def _baseline(self, cur, prev):
        """``cur`` is the read the next window is measured from."""
        for i in range(N_COUNTERS):
            prev[i] = cur[i]
        self._periods = 0
        self._switched = False

    def _no_window(self):
        """An update without a window: the _STALE_MAX-th in a row leaves the link
        SEARCHING (its state unknown: nothing acts on a lock seen a second ago)."""
        self._blind += 1
        if self._blind == _STALE_MAX:
            self._set_link(L_SEARCHING)

    def _implausible(self, cur, prev, c, why, added):
        """Counter ``c`` of the read cannot be (``why``): the read is not used, counted
        and said; the _RESYNC_READS-th such read in a row is the new baseline.  Its first
        ``added`` window counts are taken back out of the totals."""
        t = self.totals
        w = self.last_window
        for k in range(added if added < _TOTALLED else _TOTALLED):
            t[k] -= w[k]
        self.implausible += 1
        self._implausible_run += 1
        n = self.implausible
        if n & (n - 1) == 0:
            self.ctx.emit(EV_FRAMER_IMPLAUSIBLE, [n, c], "counter %d %s: %d -> %d" % (
                c, why, prev[c], cur[c]))
        self._no_window()  # (a stream of them, resynchronised or not, is no window)
        if self._implausible_run < _RESYNC_READS:
            return
        self._implausible_run = 0  # the counters restarted: this read is the baseline
        self._baseline(cur, prev)

    def _sums(self, n=None):
        if n is None:
            n = self.ctx.params["framer_windows"]
        if n > self._filled:
            n = self._filled
        s = self._s
        for k in range(_SUMMED):
            s[k] = 0
        i = self._head
        w16 = self._ring16
        w = self._ring
        for _ in range(n):
            i = (i - 1) % _SLOTS
            o = i * _NARROW
            for k in range(_NARROW):
                s[k] += w16[o + k]
            o = i * _WIDE - _NARROW
            for k in range(_NARROW, _SUMMED):
                s[k] += w[o + k]
        return s

    def ber(self, n=None):
        """Sliding bit-error rate, or None without data."""
        s = self._sums(n)
        if self.mode != MODE_DATA and s[W_PRBS_BITS] > 0:
            return s[W_PRBS_ERR] / s[W_PRBS_BITS]
        pk = s[W_OK] + s[W_CRC]
        if pk == 0:
            return None
        return s[W_PRE] / (PREAMBLE_BITS * pk)

    def per(self, n=None):
        s = self._sums(n)
        total = s[W_OK] + s[W_CRC] + s[W_GAPS]
        if total == 0:
            return None
        return (s[W_CRC] + s[W_GAPS]) / total

    def _per_e4(self):
        """``per()`` in 1/10000, rounded, integers only (65535: no data)."""
        s = self._sums()
        total = s[W_OK] + s[W_CRC] + s[W_GAPS]
        if total == 0:
            return 65535
        return ((s[W_CRC] + s[W_GAPS]) * 10000 + (total >> 1)) // total

    def window_ber(self):
        """BER of the last window (preamble bits), or None when no packet was seen."""
        w = self.last_window
        pk = w[W_OK] + w[W_CRC]
        if not self.window_valid or pk == 0:
            return None
        return w[W_PRE] / (PREAMBLE_BITS * pk)

    def _update_link(self):
        w = self.last_window
        seen = w[W_OK] + w[W_CRC]
        if not self.locked_hw or seen == 0:
            self._set_link(L_SEARCHING)
            return
        # BER <= framer_ber_degraded in integers (a float a window was 160 B/s of
        # garbage, issue 11): errors x 2^16 <= packets x ceil(limit x 64 x 2^16), the
        # limit converted when it changes (exact but for <= 1/limit_q of the limit).
        lim = self.ctx.params["framer_ber_degraded"]
        if lim is not self._lim_f:
            self._lim_f = lim
            q = lim * (PREAMBLE_BITS << _BER_SHIFT)
            self._lim_q = int(q) + (1 if int(q) < q else 0)
        if (w[W_PRE] << _BER_SHIFT) <= seen * self._lim_q:
            self._bad = 0
            self._set_link(L_LOCKED)
            return
        self._bad += 1
        if self._bad >= self.ctx.params["framer_degraded_windows"]:
            self._set_link(L_DEGRADED)

    # ------------------------------------------------------------------ telemetry
    def hk(self, values, i):
        ber = self.ber()  # (the f32 field's one float)
        values[i] = self.link
        values[i + 1] = self.mode
        values[i + 2] = ber if ber is not None else -1.0
        values[i + 3] = self._per_e4()
        values[i + 4] = self.read_errors
        values[i + 5] = self.switch_errors

    def hk_diag(self, values, i):
        wb = self.window_ber()
        values[i] = int(self.rx_on)
        values[i + 1] = int(self.tx_on)
        values[i + 2] = self.totals[W_OK]
        values[i + 3] = self.totals[W_CRC]
        values[i + 4] = self.totals[W_GAPS]
        values[i + 5] = self.totals[W_PRE]
        values[i + 6] = self.stale
        values[i + 7] = self.implausible
        values[i + 8] = wb if wb is not None else -1.0

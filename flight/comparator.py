"""Comparator-level management (DESIGN §3.5, paper App. A, Fig. A1).

The comparator turns SiPM avalanches into bits; its level is chosen where the bit error
rate is lowest and kept there while the received power changes ×10 over a pass.

1. NOISE_SWEEP (session start, before signal): binary search for the lowest level whose
   noise-trigger rate (framer TRIGGERS counter) is below ``comp_noise_max_hz`` — the lower
   bound of every later sweep.  Skipped if packets are already arriving.
2. WAIT_SIGNAL: level parked at the a-priori level ``comp_start_code`` (the optimum of the
   last calibration — the dashed line of Fig. A1, which hardly moves with power — but at
   least the noise floor + margin) until the framer has seen packets — or light the
   level does not decode: a trigger rate above ``comp_light_hz`` — for
   ``comp_presweep_windows`` windows: the link locks at once on a usable level, and the
   sweep starts.
3. SWEEP (with signal): a coarse sweep from the noise floor to full scale, then a fine
   sweep ±1 coarse step around the best coarse level, one 100 ms framer window per level;
   BER from the preamble bit errors (64 known bits per packet).  Equal best values (a
   high-power window whose bottom counts no error in 100 ms) say nothing about the
   optimum: the one nearest the level in use wins.  The level chosen is the centre of the
   widest run of fine-sweep levels with BER ≤ ``comp_ber_target`` (or the lowest-BER
   level when none qualifies): the acceptable window *around the optimum*.  The whole
   window is not used: in the receiver model (and Fig. A1) it is strongly asymmetric —
   the upper edge lies several times further from the optimum than the lower one — so
   its centre costs ~2× the best BER.  Calibrating at the start of a pass — lowest
   power, narrowest window — puts the level on the optimum, which hardly moves with
   power (Fig. A1).  A sweep commanded by COMP_CALIBRATE skips the first window (counted
   at the old level); a sweep that loses the light (no packets, no triggers) is
   abandoned for WAIT_SIGNAL at the level in use before it.
4. TRACK: slow dither (±``comp_dither_codes``, ``comp_dither_windows`` windows each side,
   starting on the low side right after the sweep); the centre steps (bounded, kept on
   the scale) toward the side with significantly fewer errors (at a low BER the counts
   of up to 10 cycles add up).  BER above ``comp_ber_recal`` — or light without packets
   — for ``comp_recal_windows`` windows, or COMP_CALIBRATE, re-calibrates.  Without
   light (beacon/uplink lost) the level is held: no dither, no re-calibration.
"""

import math

from flight import events
from hal.compat import const

OFF = const(0)
NOISE_SWEEP = const(1)
WAIT_SIGNAL = const(2)
SWEEP = const(3)
TRACK = const(4)
STATE_NAMES = ("OFF", "NOISE_SWEEP", "WAIT_SIGNAL", "SWEEP", "TRACK")

EV_COMP_CALIBRATED = const(0x68)
EV_COMP_RECAL = const(0x69)
EV_COMP_ERROR = const(0x6A)
events.register(EV_COMP_CALIBRATED, "COMP_CALIBRATED")
events.register(EV_COMP_RECAL, "COMP_RECALIBRATE")
events.register(EV_COMP_ERROR, "COMP_ERROR")

PREAMBLE_BITS = const(64)
_MIN_PACKETS = const(50)  # packets in a window before its BER means anything
_MAX_CYCLES = const(10)  # dither cycles whose error counts may add up to one decision


class ComparatorControl:
    name = "comparator"

    def __init__(self, app, dac, framer_ctl, period_us=100000):
        self.app = app
        self.dac = dac
        self.fc = framer_ctl
        self.period_us = period_us
        self.code_max = getattr(dac, "code_max", 4095)
        self.handlers = {"COMP_CALIBRATE": self.cmd_calibrate}
        self.state = OFF
        self.code = 0
        self.noise_floor = 0
        self._lo = 0
        self._hi = 0
        self._settle = 0
        self._sweep_codes = []
        self._sweep_ber = []
        self._sweep_i = 0
        self._fine = False
        self._coarse_codes = []
        self._coarse_ber = []
        self._center = 0
        self._prior = 0
        self.window_lo = None
        self.window_hi = None
        self.best_code = None
        self.cal_start_s = None
        self.cal_duration_s = None
        self.calibrations = 0
        self._dither_phase = 0
        self._dither_n = 0
        self._acc = [0, 0, 0, 0]  # errors-, bits-, errors+, bits+
        self._cycles = 0
        self._bad_windows = 0
        self._calibrated = 0
        self._seen = 0
        self.dither_moves = 0
        self.dac_errors = 0

    def define_params(self, p):
        p.define("comp_noise_max_hz", "float", 1000.0, 1.0, 1e8, "1/s",
                 "noise-trigger rate defining the noise floor")
        p.define("comp_noise_floor_max", "int", 1024, 0, 4095, "codes",
                 "highest plausible noise floor; above it the sweep saw signal, not noise")
        p.define("comp_floor_margin_codes", "int", 20, 0, 1000, "codes",
                 "parking level above the noise floor while waiting for signal")
        p.define("comp_start_code", "int", 570, 0, 4095, "codes",
                 "a-priori level (updated by every calibration; PARAM_SAVE keeps it)")
        p.define("comp_presweep_windows", "int", 5, 1, 100, "windows",
                 "windows with packets at the a-priori level before the sweep starts")
        p.define("comp_coarse_steps", "int", 24, 4, 64, "", "levels of the coarse sweep")
        p.define("comp_fine_steps", "int", 12, 0, 64, "", "levels of the fine sweep")
        p.define("comp_wide_codes", "int", 600, 0, 4095, "codes",
                 "coarse window wider than this: high power, keep the prior level if inside")
        p.define("comp_ber_target", "float", 1e-3, 1e-9, 0.1, "", "acceptable BER")
        p.define("comp_dither_codes", "int", 24, 1, 400, "codes", "tracking dither amplitude")
        p.define("comp_track_range_codes", "int", 160, 0, 4095, "codes",
                 "how far tracking may move the level from the calibrated one")
        p.define("comp_dither_windows", "int", 5, 1, 600, "windows",
                 "windows on each side of a dither cycle")
        p.define("comp_ber_recal", "float", 5e-3, 1e-6, 0.5, "",
                 "BER that triggers a re-calibration when it persists")
        p.define("comp_recal_windows", "int", 30, 1, 6000, "windows",
                 "persistence of a high BER before re-calibration")
        p.define("comp_light_hz", "float", 1e5, 1.0, 1e9, "1/s",
                 "trigger rate that means light on the detector (a window without packets "
                 "but with light is a bad level; without light, the level is held)")

    def cmd_calibrate(self, args):
        # The window the comparator reads next was counted at the old level: skip it.
        self._begin_sweep("TC", settle=1)
        return True, None, None

    def busy(self, cmd, args):
        if cmd.name == "COMP_CALIBRATE" and self.state in (NOISE_SWEEP, SWEEP):
            return "comparator calibration in progress"
        return None

    def tasks(self):
        from flight.scheduler import Task

        return [Task("comparator", self.period_us, self.update, offset_us=4000,
                     budget_us=10000, max_faults=5)]

    # ------------------------------------------------------------------ session hooks
    def start_session(self):
        self.dac.init()
        self.noise_floor = 0
        self._lo = 0
        self._hi = self.code_max
        self._settle = 1
        self.state = NOISE_SWEEP
        self._set(self._mid())

    def stop_session(self):
        self.state = OFF

    def safe(self):
        self.state = OFF

    def _mid(self):
        return (self._lo + self._hi) // 2

    def _set(self, code):
        code = 0 if code < 0 else (self.code_max if code > self.code_max else code)
        try:
            self.dac.set_code(code)
            self.code = code
        except Exception as e:
            self.dac_errors += 1
            if self.dac_errors == 1 or self.dac_errors % 100 == 0:
                self.app.emit(events.SEV_WARN, EV_COMP_ERROR, "DAC: %r" % (e,))

    # ------------------------------------------------------------------ 100 ms update
    def update(self):
        st = self.state
        if st == OFF or not self.fc.window_valid:
            return
        w = self.fc.last_window
        packets = w[0] + w[1]
        if self._settle > 0:  # the first window after a level change is mixed
            self._settle -= 1
            return
        if st == NOISE_SWEEP:
            self._noise_step(w, packets)
        elif st == WAIT_SIGNAL:
            # Packets at the a-priori level, or light the level does not decode.
            if packets >= _MIN_PACKETS or self._light(w):
                self._seen += 1
                if self._seen >= self.app.params["comp_presweep_windows"]:
                    self._begin_sweep("signal")
            else:
                self._seen = 0
        elif st == SWEEP:
            self._sweep_step(w, packets)
        elif st == TRACK:
            self._track_step(w, packets)

    def _noise_step(self, w, packets):
        if packets > 0:  # signal already there: no noise measurement possible
            self.noise_floor = 0
            self._wait_signal()
            return
        rate = w[6] * 1000000 / self.period_us
        p = self.app.params
        if rate > p["comp_noise_max_hz"] and self.code > p["comp_noise_floor_max"]:
            # Triggers above any plausible noise floor (the first probe is mid-scale):
            # the uplink is already on.  No noise measurement is possible; wait for
            # packets at the a-priori level at once instead of finishing the search.
            self.app.emit(events.SEV_WARN, EV_COMP_ERROR,
                          "noise sweep saw light at level %d: floor unknown" % self.code)
            self.noise_floor = 0
            self._wait_signal()
            return
        if rate > p["comp_noise_max_hz"]:
            self._lo = self.code + 1
        else:
            self._hi = self.code
        if self._lo >= self._hi:
            floor = self._hi
            if floor > self.app.params["comp_noise_floor_max"]:
                # Noise alone does not trigger that high: the uplink was already on (its
                # pulses counted as "noise").  The floor is unknown: sweep from 0.
                self.app.emit(events.SEV_WARN, EV_COMP_ERROR,
                              "noise sweep saw light (floor %d): floor unknown" % floor)
                floor = 0
            self.noise_floor = floor
            self._wait_signal()
            return
        self._set(self._mid())

    def _wait_signal(self):
        p = self.app.params
        self.state = WAIT_SIGNAL
        self._seen = 0
        floor = self.noise_floor + p["comp_floor_margin_codes"]
        start = p["comp_start_code"]
        self._set(start if start > floor else floor)

    def _begin_sweep(self, why, settle=0):
        p = self.app.params
        n = p["comp_coarse_steps"]
        lo = self.noise_floor
        hi = self.code_max
        step = (hi - lo) / (n - 1) if n > 1 else 0
        self._sweep_codes = [int(lo + i * step + 0.5) for i in range(n)]
        self._sweep_ber = []
        self._sweep_i = 0
        self._fine = False
        # The level in use: the tie-break of a sweep without a clear optimum.
        self._prior = self._center if self.state == TRACK else self.code
        self.state = SWEEP
        self.cal_start_s = self.app.now_s()
        if why != "signal":
            self.app.emit(events.SEV_INFO, EV_COMP_RECAL, "calibration: " + why)
        self._set(self._sweep_codes[0])
        self._settle = settle

    def _light(self, w):
        return w[6] * 1000000 / self.period_us > self.app.params["comp_light_hz"]

    def _sweep_step(self, w, packets):
        if packets < _MIN_PACKETS and not self._light(w):
            # The light went (beacon/uplink lost): the sweep means nothing; start again
            # when it is back, from the level in use before the sweep.
            self.app.emit(events.SEV_WARN, EV_COMP_ERROR, "no light: sweep abandoned")
            self.state = WAIT_SIGNAL
            self._seen = 0
            self._set(self._prior)
            return
        if packets >= _MIN_PACKETS:
            ber = w[3] / (PREAMBLE_BITS * packets)
            # Packets lost to sync (gaps) count as fully errored bits: BER reflects them.
            gaps = w[2]
            if gaps:
                ber = (w[3] + gaps * PREAMBLE_BITS // 2) / (PREAMBLE_BITS * (packets + gaps))
        else:
            ber = 0.5
        self._sweep_ber.append(ber)
        self._sweep_i += 1
        if self._sweep_i < len(self._sweep_codes) and not self._past_upper_edge():
            self._set(self._sweep_codes[self._sweep_i])
            return
        codes = self._sweep_codes[:len(self._sweep_ber)]
        bers = self._sweep_ber
        if not self._fine:
            self._coarse_codes = codes
            self._coarse_ber = bers
            nf = self.app.params["comp_fine_steps"]
            ib = self._best_index(bers, codes, self._prior)
            if nf > 0 and len(codes) > 1:
                lo = codes[ib - 1] if ib > 0 else codes[0]
                hi = codes[ib + 1] if ib + 1 < len(codes) else codes[-1]
                step = (hi - lo) / (nf - 1) if nf > 1 else 0
                self._sweep_codes = [int(lo + i * step + 0.5) for i in range(nf)]
                self._sweep_ber = []
                self._sweep_i = 0
                self._fine = True
                self._set(self._sweep_codes[0])
                return
        self._choose(codes, bers)

    def _past_upper_edge(self):
        """Coarse sweep only: the BER has risen past the window's upper edge for good.

        Three levels in a row above the minimum so far, each worse than the one before
        and all above 10 × max(target, minimum): the signal amplitude is below the level
        and only gets further below — the rest of the scale holds nothing, and scanning
        it would keep the link down for seconds at low power (Fig. A1: the window is
        narrowest, and the sweep matters most, at the start of a pass).
        """
        if self._fine:
            return False
        b = self._sweep_ber
        n = len(b)
        if n < 4:
            return False
        lo = min(b)
        if b.index(lo) > n - 4:
            return False
        bound = 10 * max(self.app.params["comp_ber_target"], lo)
        return bound < b[n - 3] <= b[n - 2] <= b[n - 1]

    @staticmethod
    def _best_index(bers, codes=None, prior=None):
        """Index of the lowest BER.  Equal lowest values (a high-power window whose bottom
        counts no error in 100 ms) carry no information about the optimum: the one
        nearest ``prior`` (the level in use, near the optimum, which hardly moves) wins."""
        m = min(bers)
        best = -1
        for i in range(len(bers)):
            if bers[i] == m:
                if best < 0 or (prior is not None and
                                abs(codes[i] - prior) < abs(codes[best] - prior)):
                    best = i
        return best

    def _widest_run(self, codes, bers):
        """(i, j): the widest run of consecutive levels with BER <= target, or None."""
        target = self.app.params["comp_ber_target"]
        best_run = None
        i = 0
        n = len(codes)
        while i < n:
            if bers[i] <= target:
                j = i
                while j + 1 < n and bers[j + 1] <= target:
                    j += 1
                if best_run is None or codes[j] - codes[i] > codes[best_run[1]] - codes[best_run[0]]:
                    best_run = (i, j)
                i = j + 1
            else:
                i += 1
        return best_run

    def _choose(self, codes, bers):
        best_run = self._widest_run(codes, bers)
        ib = self._best_index(bers, codes, self._prior)
        self.best_code = codes[ib]
        if best_run is not None:
            self.window_lo = codes[best_run[0]]
            self.window_hi = codes[best_run[1]]
            chosen = (self.window_lo + self.window_hi) // 2
            # A run reaching an end of the fine sweep: the window is wider than what was
            # looked at closely (high power, Fig. A1) and its centre says nothing about
            # the optimum, which hardly moves with power — keep the prior level when it
            # lies inside.
            prior = self._prior
            coarse = self._widest_run(getattr(self, "_coarse_codes", codes),
                                      getattr(self, "_coarse_ber", bers))
            cc = getattr(self, "_coarse_codes", codes)
            wide = coarse is not None and \
                cc[coarse[1]] - cc[coarse[0]] > self.app.params["comp_wide_codes"]
            if wide and (best_run[0] == 0 or best_run[1] == len(codes) - 1) \
                    and prior is not None and self.window_lo <= prior <= self.window_hi:
                chosen = prior
        else:
            self.window_lo = self.window_hi = None
            chosen = codes[ib]
        self.calibrations += 1
        self.cal_duration_s = self.app.now_s() - self.cal_start_s
        self.state = TRACK
        self._dither_phase = 0
        self._dither_n = 0
        self._acc = [0, 0, 0, 0]
        self._cycles = 0
        self._bad_windows = 0
        self._center = chosen
        self._calibrated = chosen
        # The dither starts at once on its low side (phase 0 measures centre - d).
        self._set(chosen - self.app.params["comp_dither_codes"])
        self._settle = 1
        try:  # the next session (and a re-calibration) starts from here
            self.app.params.set("comp_start_code", chosen)
        except ValueError:
            pass
        self.app.emit(events.SEV_INFO, EV_COMP_CALIBRATED,
                      "level %d (window %r..%r, best %d) in %.1f s" % (
                          chosen, self.window_lo, self.window_hi, codes[ib],
                          self.cal_duration_s), [chosen])

    def _track_step(self, w, packets):
        p = self.app.params
        ber = w[3] / (PREAMBLE_BITS * packets) if packets >= _MIN_PACKETS else None
        if ber is None and not self._light(w):
            return  # no light (beacon/uplink lost): hold the level, no dither, no verdict
        if ber is None or ber > p["comp_ber_recal"]:
            self._bad_windows += 1
            if self._bad_windows >= p["comp_recal_windows"]:
                self._begin_sweep("BER degraded")
                return
        else:
            self._bad_windows = 0
        if ber is None:
            return
        # Dither: phase 0 measures at centre - d, phase 1 at centre + d.
        k = self._dither_phase * 2
        self._acc[k] += w[3]
        self._acc[k + 1] += PREAMBLE_BITS * packets
        self._dither_n += 1
        d = p["comp_dither_codes"]
        if self._dither_n < p["comp_dither_windows"]:
            return
        self._dither_n = 0
        if self._dither_phase == 0:
            self._dither_phase = 1
            self._set(self._center + d)
            self._settle = 1
            return
        e_lo, b_lo, e_hi, b_hi = self._acc
        self._dither_phase = 0
        self._cycles += 1
        # Step only on a statistically significant difference: error counts are Poisson,
        # so the side with fewer errors (per bit) must be ahead by 3 standard deviations
        # of the difference.  At a low BER (high power: ~0.1 error per window) the
        # counts of several cycles add up until there are enough (at most _MAX_CYCLES).
        if e_lo + e_hi >= 20 and b_lo and b_hi:
            self._acc = [0, 0, 0, 0]
            self._cycles = 0
            x_lo = e_lo * b_hi  # errors scaled to the same number of bits
            x_hi = e_hi * b_lo
            sigma = math.sqrt(e_lo * b_hi * b_hi + e_hi * b_lo * b_lo)
            # (or a ratio above 1.5: with few errors the counts can be lopsided yet
            # below 3 sigma, and one dither step is cheap)
            if x_lo - x_hi > 3 * sigma or x_lo > 1.5 * x_hi:
                self._center += d
                self.dither_moves += 1
            elif x_hi - x_lo > 3 * sigma or x_hi > 1.5 * x_lo:
                self._center -= d
                self.dither_moves += 1
        elif self._cycles >= _MAX_CYCLES:
            self._acc = [0, 0, 0, 0]
            self._cycles = 0
        lo = d if d > self.noise_floor else self.noise_floor
        hi = self.code_max - d
        # The optimum hardly moves with power (Fig. A1): the tracker stays within
        # comp_track_range_codes of the calibrated level, so a run of unlucky error counts
        # cannot walk it away.
        r = p["comp_track_range_codes"]
        if self._calibrated - r > lo:
            lo = self._calibrated - r
        if self._calibrated + r < hi:
            hi = self._calibrated + r
        self._center = lo if self._center < lo else (hi if self._center > hi else self._center)
        self._set(self._center - d)
        self._settle = 1

    def tracking_level(self):
        """The level the tracker is centred on (what the dither oscillates around)."""
        return self._center if self.state == TRACK else self.code

    # ------------------------------------------------------------------ telemetry
    def hk(self, d):
        d["comparator"] = {"state": STATE_NAMES[self.state], "code": self.code,
                           "center": self.tracking_level(), "noise_floor": self.noise_floor,
                           "window": [self.window_lo, self.window_hi],
                           "best_code": self.best_code, "cal_duration_s": self.cal_duration_s,
                           "calibrations": self.calibrations,
                           "dither_moves": self.dither_moves, "dac_errors": self.dac_errors}

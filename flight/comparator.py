"""Comparator-level management (DESIGN §3.5, paper App. A, Fig. A1; operators:
docs/calibration.md).  The level is kept where the bit error rate is lowest while the
received power changes ×10 over a pass.

1. NOISE_SWEEP (session start, before signal, when the breakdown sweep gave no noise
   figure): binary search for the lowest level whose noise-trigger rate is below
   ``comp_noise_max_hz`` — the lower bound of every later sweep.
2. WAIT_SIGNAL: level at the a-priori level (``comp_start_code``, or from the breakdown
   sweep's noise; at least floor + margin).  With packets (``comp_start_sweep`` 0): the
   start-level acquisition — code violations at the a-priori level and ±
   ``comp_acquire_codes``, TRACK from the vertex of their logarithms (the optimum moves
   ~150 codes between 0.1 and 0.4 µW, Fig. A1's narrowest windows).  Light the level
   does not decode (triggers above ``comp_light_hz``) for ``comp_presweep_windows``: SWEEP.
3. SWEEP: coarse, then fine BER sweep (flight/comparator_sweep.py chooses the level;
   its code is loaded (flight/lazy.py) for the breakdown sweep's noise levels, the
   start-level acquisition and a sweep, and released after each (TRACK and a
   WAIT_SIGNAL without light hold none of it): no heap for it is MODULE_LOAD_FAILED,
   and the level stays where it is — TRACK from the a-priori level, or the tracked one
   kept);
   COMP_CALIBRATE skips the first window (counted at the old level); a sweep that loses
   the light (or the framer's windows, 1 s) goes back to WAIT_SIGNAL at the level before.
4. TRACK (flight/comparator_track.py, allocation-free): dither ±``comp_dither_codes``
   (``comp_dither_windows`` windows a side); the centre steps toward the side with
   significantly fewer errors (code violations when there are enough, else preamble
   errors summed over up to 10 cycles), within
   ``comp_track_range_codes`` of where it started.  BER above ``comp_ber_recal`` — or
   light without packets — for ``comp_recal_windows`` windows re-calibrates.  Without
   light the level is held.
No state judges a window while a DAC write fails (retried) nor a loopback one: DESIGN §3.5.
"""

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any  # noqa: F401  (type comments)

from flight.cmddict import Busy
from hal.compat import const
from flight.events import SEV_INFO, SEV_WARN, Event
from flight import comparator_track as track
from flight import lazy
from flight.framer_ctl import W_CRC, W_OK, W_TRIG
from flight.params import ParamDef
from flight.scheduler import Task
from flight.telemetry import HkField
from hal.errors import HalError
from hal.interfaces import (COMP_NOISE_SWEEP, COMP_OFF, COMP_STATE_NAMES, COMP_SWEEP,
                            COMP_TRACK, COMP_WAIT_SIGNAL, ComparatorDac)

OFF = COMP_OFF
NOISE_SWEEP = COMP_NOISE_SWEEP
WAIT_SIGNAL = COMP_WAIT_SIGNAL
SWEEP = COMP_SWEEP
TRACK = COMP_TRACK
STATE_NAMES = COMP_STATE_NAMES

_MIN_PACKETS = const(50)  # packets in a window before its BER means anything
_ERR_REPORT = const(100)  # a repeated DAC error is reported on its 1st, 101st, ... time
_NONE_U16 = const(65535)  # "no value" in a u16 housekeeping field
_CODE_MAX = ComparatorDac.code_max  # the DAC's full scale bounds the level parameters
_SWEEP = "flight.comparator_sweep"  # loaded while the level is being chosen
_SWEEP_USES = "flight.bias_knee_fit"  # what it imports (q_inv) and TRACK does not hold

EV_COMP_CALIBRATED = const(0x70)
EV_COMP_RECAL = const(0x71)
EV_COMP_DAC_ERROR = const(0x72)
EV_COMP_FLOOR_UNKNOWN = const(0x73)
EV_COMP_SWEEP_ABANDONED = const(0x74)
EV_COMP_BLIND = const(0x78)  # (0x75-0x77: flight/bias_kt.py's)

EVENTS = (
    Event(EV_COMP_CALIBRATED, "COMP_CALIBRATED", SEV_INFO, "comparator level calibrated",
          (("level", "int"), ("duration_s", "float"))),
    Event(EV_COMP_RECAL, "COMP_RECALIBRATE", SEV_INFO,
          "comparator re-calibration started (TC or BER degraded)"),
    Event(EV_COMP_DAC_ERROR, "COMP_DAC_ERROR", SEV_WARN,
          "comparator DAC write failed (1st, 101st, ... time)", (("count", "int"),)),
    Event(EV_COMP_FLOOR_UNKNOWN, "COMP_NOISE_FLOOR_UNKNOWN", SEV_WARN,
          "the noise sweep saw light: noise floor unknown, sweeps start at 0",
          (("level", "int"),)),
    Event(EV_COMP_SWEEP_ABANDONED, "COMP_SWEEP_ABANDONED", SEV_WARN,
          "the light went during a sweep: back to waiting for signal"),
    Event(EV_COMP_BLIND, "COMP_CHOICE_BLIND", SEV_WARN, "no framer window for 1 s while the "
          "level was being chosen: back to the level in use before it", (("count", "int"),)),
)

P = ParamDef
PARAMS = (
    P("comp_noise_max_hz", "float", 2e5, 1.0, 1e8, "1/s",
      "noise-trigger rate defining the noise floor (2e5: noise alone costs the usable "
      "BER 1e-3, half the off-chips of 100 Mchip/s; a stricter floor lies above the "
      "low-power optimum of Fig. A1)"),
    P("comp_noise_floor_max", "int", 1024, 0, _CODE_MAX, "codes",
      "highest plausible noise floor; above it the sweep saw signal, not noise"),
    P("comp_floor_margin_codes", "int", 20, 0, 1000, "codes",
      "parking level above the noise floor while waiting for signal"),
    P("comp_start_code", "int", 570, 0, _CODE_MAX, "codes",
      "a-priori level (updated by every calibration; PARAM_SAVE keeps it)"),
    P("comp_start_noise_hz", "float", 2e4, 1.0, 1e8, "1/s",
      "a-priori level where the noise at the operating point (breakdown sweep) triggers "
      "this often (2e4: 2e-4 of the chips, the low-power optimum of Fig. A1)"),
    P("comp_presweep_windows", "int", 5, 1, 100, "windows",
      "windows with packets at the a-priori level before the sweep starts"),
    P("comp_start_sweep", "int", 0, 0, 1, "",
      "1: BER sweep when the signal first comes; 0: track from the a-priori level at once "
      "(the optimum hardly moves, Fig. A1; a sweep's far levels cost more errors than a "
      "whole pass of tracking)"),
    P("comp_acquire_codes", "int", 48, 0, 400, "codes",
      "step of the start-level acquisition around the a-priori level (0: TRACK at the "
      "a-priori level at once)"),
    P("comp_coarse_steps", "int", 24, 4, 64, "", "levels of the coarse sweep"),
    P("comp_fine_steps", "int", 12, 0, 64, "", "levels of the fine sweep"),
    P("comp_wide_codes", "int", 600, 0, _CODE_MAX, "codes",
      "coarse window wider than this: high power, keep the prior level if inside"),
    P("comp_ber_target", "float", 1e-3, 1e-9, 0.1, "", "acceptable BER"),
    P("comp_dither_codes", "int", 24, 1, 400, "codes", "tracking dither amplitude"),
    P("comp_track_range_codes", "int", 160, 0, _CODE_MAX, "codes",
      "how far tracking may move the level from the calibrated one"),
    P("comp_dither_windows", "int", 2, 1, 600, "windows",
      "windows on each side of a dither cycle"),
    P("comp_ber_recal", "float", 5e-3, 1e-6, 0.5, "",
      "BER that triggers a re-calibration when it persists"),
    P("comp_recal_windows", "int", 30, 1, 6000, "windows",
      "persistence of a high BER before re-calibration"),
    P("comp_light_hz", "float", 1e5, 1.0, 1e9, "1/s",
      "trigger rate that means light on the detector (a window without packets "
      "but with light is a bad level; without light, the level is held)"),
)

F = HkField
HK = (  # 1 Hz: 8 octets
    F("comp_state", "u8", enum=COMP_STATE_NAMES, description="comparator-level state"),
    F("comp_code", "u16", "codes", description="threshold DAC code in use"),
    F("comp_center", "u16", "codes", description="level the dither is centred on"),
    F("comp_calibrations", "u8", description="calibrations completed"),
    F("comp_dac_errors", "u16", warn=(0, 0), description="DAC writes that failed"),
)
HK_DIAG = (
    F("comp_noise_floor", "u16", "codes", description="noise floor (0: unknown)"),
    F("comp_window_lo", "u16", "codes", description="BER window low edge (65535: none)"),
    F("comp_window_hi", "u16", "codes", description="BER window high edge (65535: none)"),
    F("comp_best_code", "u16", "codes", description="lowest-BER level of the last sweep"),
    F("comp_cal_duration", "u16", "s", 0.01, description="last calibration (655.35: none)"),
    F("comp_dither_moves", "u16", description="dither steps of the centre"),
    F("comp_sweeps_abandoned", "u16", description="sweeps that lost the light"),
    F("comp_floor_unknown", "u16", description="noise sweeps that saw light"),
)


class ComparatorControl:
    name = "comparator"

    def __init__(self, ctx, dac, framer_control, period_us=100000):
        self.ctx = ctx
        self.dac = dac
        self.fc = framer_control
        self.period_us = period_us
        self.code_max = dac.code_max
        self.state = OFF
        self.code = 0
        self.noise_floor = 0
        self._lo = self._hi = self._settle = self._sweep_i = 0
        self._sw = None  # type: Any  # flight.comparator_sweep while loaded (:meth:`_sweep`)
        # A sweep's levels and error rates (lists while it runs; () otherwise)
        self._sweep_codes = self._sweep_ber = self._coarse_codes = self._coarse_ber = ()  # type: Any
        self._fine = False
        self._center = 0
        self._prior = 0
        self.window_lo = self.window_hi = self.best_code = None
        self.cal_start_s = self.cal_duration_s = None
        self.calibrations = 0
        self._dither_phase = self._dither_n = 0
        self._acc = [0, 0, 0, 0, 0, 0]  # errors-, bits-, errors+, bits+, violations-, +
        self._cycles = 0
        self._bad_windows = 0
        self._calibrated = 0
        self._seen = 0
        self.dither_moves = 0
        self.dac_errors = 0
        self.sweeps_abandoned = 0
        self.floor_unknown = 0  # noise sweeps that saw light
        self._run = 0  # consecutive dither moves: + up, - down
        self._pending = -1  # a level whose DAC write failed, retried before any window
        self._blind = self.sweeps_blind = 0  # updates without a window (comparator_sweep)
        self._apriori = None  # a-priori level from the breakdown sweep's noise, if fresh
        self.knee = None  # flight/bias_knee.py: its noise at the operating point, if fresh
        self._acq = None  # start-level acquisition (comparator_sweep; a list while it runs)
        self._acq_n = 0  # the rate its next window measures (0: not started)
        self._amp = 0  # dither amplitude and step unit in use (codes)
        self._light_trig = self._recal_q = 0  # integer thresholds (comparator_track.py)
        track.thresholds(self)
        ctx.params.listeners.append(self._param_changed)

    def _param_changed(self, name, value):
        if name is None or name in ("comp_light_hz", "comp_ber_recal"):
            track.thresholds(self)

    def cmd_calibrate(self, args, tc):
        # The window the comparator reads next was counted at the old level: skip it.
        self._begin_sweep("TC", settle=1)
        return None

    def check_command(self, cmd, args):
        if cmd.name != "COMP_CALIBRATE":
            return
        if self.state in (NOISE_SWEEP, SWEEP):
            raise Busy("comparator calibration in progress")
        # Not started, or paused by a breakdown sweep (its level held: not moved under it)
        if self.state == OFF or (self.knee is not None and self.knee.state):
            raise Busy("comparator level held (not started, or a breakdown sweep)")

    def tasks(self):
        return [Task("comparator", self.period_us, self.update, offset_us=4000,
                     budget_us=10000, max_faults=5)]

    # ------------------------------------------------------------------ session hooks
    def start_session(self):
        self._apriori = None
        self._pending = -1
        track.thresholds(self)
        self.dac.init()
        self.code = self.dac.code()  # (init sets its own level: what HK says until a write)
        self.noise_floor = 0
        self._lo = 0
        self._hi = self.code_max
        self._settle = 1
        knee = self.knee
        sigma = knee.floor_sigma if knee is not None else None
        sw = self._sweep() if sigma is not None else None
        if sw is not None:
            # The breakdown sweep just measured the noise at the operating point: the
            # floor follows without a sweep of its own (DESIGN §3.5).
            p = self.ctx.params
            self.noise_floor, self._apriori = sw.noise_levels(
                sigma / self.dac.volts_per_code, p["comp_noise_max_hz"],
                p["comp_start_noise_hz"], self.code_max)
            self._drop_sweep()  # (loaded again when the light comes: WAIT_SIGNAL may last)
            self._wait_signal()
            return
        self.state = NOISE_SWEEP
        self._set(self._mid())

    def stop_session(self):
        self.state = OFF
        self._pending = -1
        self._drop_sweep()

    safe = stop_session

    def _sweep(self):
        """flight.comparator_sweep, loaded if it is not (None: no heap for it, reported
        by flight/lazy.py as MODULE_LOAD_FAILED)."""
        sw = self._sw
        if sw is None:
            try:
                sw = self._sw = lazy.load(_SWEEP, self.ctx.emit)
            except lazy.LoadFailed:
                return None
        return sw

    def _drop_sweep(self):
        """The level is chosen (or the session over): the sweep's code and state go."""
        self._sweep_codes = self._sweep_ber = self._coarse_codes = self._coarse_ber = ()
        self._acq = None
        if self._sw is not None:
            self._sw = None
            lazy.release(_SWEEP)
            lazy.done(_SWEEP_USES)  # (where frozen: the knee's owner loads it again)

    def _no_sweep(self, what):
        """No heap for the sweep's code: the level stays — tracked where it was, or
        tracked from the level in use (the a-priori one) with the calibration refused."""
        if self.state == TRACK:
            self._bad_windows = 0  # (a degraded BER asks again after as many windows)
            return
        self.cal_start_s = self.ctx.now()
        self._prior = self.code
        self.window_lo = self.window_hi = None
        self._enter_track(self.code, "level in use (no heap for the %s)" % what)

    def _mid(self):
        return (self._lo + self._hi) // 2

    def _set(self, code):
        code = 0 if code < 0 else (self.code_max if code > self.code_max else code)
        try:
            self.dac.set_code(code)
            self.code = code
            self._pending = -1
        except HalError as e:
            # The DAC keeps the last level it took (``code``): :meth:`update` retries and
            # judges no window until then (a sweep filed the old level's BER under the new).
            self._pending = code
            self.dac_errors += 1
            if self.dac_errors % _ERR_REPORT == 1:
                self.ctx.emit(EV_COMP_DAC_ERROR, [self.dac_errors], "DAC: %r" % (e,))

    # ------------------------------------------------------------------ 100 ms update
    def update(self):
        st = self.state
        fc = self.fc
        if st == OFF or (self.knee is not None and self.knee.state):
            return  # (a breakdown sweep holds the level meanwhile: flight/bias_knee.py)
        if not fc.window_valid:
            if self._sw is not None and self._sw.no_window(self):  # a choice blind 1 s: back
                self.ctx.emit(EV_COMP_BLIND, [self.sweeps_blind])
            return
        self._blind = 0
        if not fc.window_optical:
            return  # a loopback window (or one across a mode change): not the comparator's
        if self._pending >= 0:  # the next window counts as its caller asked (settling)
            self._set(self._pending)
            return
        w = fc.last_window
        packets = w[W_OK] + w[W_CRC]
        if self._settle > 0:  # the first window after a level change is mixed
            self._settle -= 1
            return
        if st == NOISE_SWEEP:
            self._noise_step(w, packets)
        elif st == WAIT_SIGNAL:
            # Packets at the a-priori level, or light the level does not decode.
            if packets >= _MIN_PACKETS or self._light(w):
                self._seen += 1
                if not self.ctx.params["comp_start_sweep"] and packets >= _MIN_PACKETS:
                    sw = self._sweep()
                    if sw is None:
                        self._no_sweep("acquisition")
                        return
                    if self._acq is None:
                        self._acq = [0, 0.0, 0.0, 0.0, 0]
                    sw.acquire(self, w, packets)
                elif self._seen >= self.ctx.params["comp_presweep_windows"]:
                    self._begin_sweep("signal")
            else:
                self._seen = 0
                if self._acq_n and self._sw is not None:  # the light went: start again
                    self._sw.back(self)
        elif st == SWEEP:
            self._sweep_step(w, packets)
        elif st == TRACK:
            self._track_step(w, packets)

    def _noise_step(self, w, packets):
        if packets > 0:  # signal already there: no noise measurement possible
            self.noise_floor = 0
            self._wait_signal()
            return
        rate = w[W_TRIG] * 1000000 / self.period_us
        p = self.ctx.params
        if rate > p["comp_noise_max_hz"] and self.code > p["comp_noise_floor_max"]:
            # Triggers above any plausible noise floor (the first probe is mid-scale):
            # the uplink is already on.  No noise measurement is possible; wait for
            # packets at the a-priori level at once instead of finishing the search.
            self._floor_unknown(self.code, "at level")
            return
        if rate > p["comp_noise_max_hz"]:
            self._lo = self.code + 1
        else:
            self._hi = self.code
        if self._lo >= self._hi:
            floor = self._hi
            if floor > self.ctx.params["comp_noise_floor_max"]:
                # Noise alone does not trigger that high: the uplink was already on (its
                # pulses counted as "noise").  The floor is unknown: sweep from 0.
                self._floor_unknown(floor, "with floor")
                return
            self.noise_floor = floor
            self._wait_signal()
            return
        self._set(self._mid())

    def _floor_unknown(self, level, what):
        self.floor_unknown += 1
        self.ctx.emit(EV_COMP_FLOOR_UNKNOWN, [level],
                      "noise sweep saw light %s %d: floor unknown" % (what, level))
        self.noise_floor = 0
        self._wait_signal()

    def _wait_signal(self):
        p = self.ctx.params
        self.state = WAIT_SIGNAL
        self._seen = 0
        self._acq_n = 0
        floor = self.noise_floor + p["comp_floor_margin_codes"]
        start = self._apriori if self._apriori is not None else p["comp_start_code"]
        self._set(start if start > floor else floor)

    def _begin_sweep(self, why, settle=0):
        p = self.ctx.params
        sweep = self._sweep()
        if sweep is None:
            self._no_sweep("sweep")
            return
        self._sweep_codes = sweep.levels(self.noise_floor, self.code_max, p["comp_coarse_steps"])
        self._sweep_ber = []
        self._sweep_i = 0
        self._fine = False
        # The level in use: the tie-break of a sweep without a clear optimum.
        self._prior = self._center if self.state == TRACK else self.code
        self.state = SWEEP
        self.cal_start_s = self.ctx.now()
        if why != "signal":
            self.ctx.emit(EV_COMP_RECAL, None, "calibration: " + why)
        self._set(self._sweep_codes[0])
        self._settle = settle

    def _light(self, w):
        return track.light(self, w)

    def _sweep_step(self, w, packets):
        if packets < _MIN_PACKETS and not self._light(w):
            # The light went (beacon/uplink lost): the sweep means nothing; start again
            # when it is back, from the level in use before the sweep.
            self.sweeps_abandoned += 1
            self.ctx.emit(EV_COMP_SWEEP_ABANDONED)
            self._sw.back(self)
            return
        p = self.ctx.params
        sweep = self._sw  # (loaded by _begin_sweep)
        self._sweep_ber.append(sweep.window_ber(w, packets) if packets >= _MIN_PACKETS else 0.5)
        self._sweep_i += 1
        if self._sweep_i < len(self._sweep_codes) and not (
                not self._fine and sweep.past_upper_edge(self._sweep_ber, p["comp_ber_target"])):
            self._set(self._sweep_codes[self._sweep_i])
            return
        codes = self._sweep_codes[:len(self._sweep_ber)]
        bers = self._sweep_ber
        if not self._fine:
            self._coarse_codes = codes
            self._coarse_ber = bers
            nf = p["comp_fine_steps"]
            ib = sweep.best_index(bers, codes, self._prior)
            if nf > 0 and len(codes) > 1:
                lo = codes[ib - 1] if ib > 0 else codes[0]
                hi = codes[ib + 1] if ib + 1 < len(codes) else codes[-1]
                self._sweep_codes = sweep.levels(lo, hi, nf)
                self._sweep_ber = []
                self._sweep_i = 0
                self._fine = True
                self._set(self._sweep_codes[0])
                return
        self._choose(codes, bers)

    def _choose(self, codes, bers):
        p = self.ctx.params
        chosen, ib, self.window_lo, self.window_hi = self._sw.choose_level(
            codes, bers, p["comp_ber_target"], self._prior, self._coarse_codes,
            self._coarse_ber, p["comp_wide_codes"])
        self.best_code = codes[ib]
        self._enter_track(chosen, "level %d (window %r..%r, best %d)" % (
            chosen, self.window_lo, self.window_hi, codes[ib]))

    def _enter_track(self, chosen, how):
        self.calibrations += 1
        self.cal_duration_s = self.ctx.now() - self.cal_start_s
        self.state = TRACK
        self._drop_sweep()  # (also from inside the acquisition: the caller holds its code)
        track.enter(self, chosen)
        try:  # the next session (and a re-calibration) starts from here
            self.ctx.params.set("comp_start_code", chosen)
        except ValueError:
            pass
        self.ctx.emit(EV_COMP_CALIBRATED, [chosen, self.cal_duration_s],
                      "%s in %.1f s" % (how, self.cal_duration_s))

    def _track_step(self, w, packets):
        track.step(self, w, packets)

    def _reset_acc(self):
        track.reset_acc(self)

    def tracking_level(self):
        """The level the tracker is centred on (what the dither oscillates around)."""
        return self._center if self.state == TRACK else self.code

    # ------------------------------------------------------------------ telemetry
    def hk(self, values, i):
        values[i] = self.state
        values[i + 1] = self.code
        values[i + 2] = self.tracking_level()
        values[i + 3] = self.calibrations
        values[i + 4] = self.dac_errors

    def hk_diag(self, values, i):
        d = self.cal_duration_s
        values[i] = self.noise_floor
        values[i + 1] = self.window_lo if self.window_lo is not None else _NONE_U16
        values[i + 2] = self.window_hi if self.window_hi is not None else _NONE_U16
        values[i + 3] = self.best_code if self.best_code is not None else _NONE_U16
        values[i + 4] = int(d * 100 + 0.5) if d is not None else _NONE_U16
        values[i + 5] = self.dither_moves
        values[i + 6] = self.sweeps_abandoned
        values[i + 7] = self.floor_unknown

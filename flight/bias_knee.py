"""SiPM breakdown voltage from a bias sweep of the noise-trigger rate (DESIGN §3.4.1,
issue 14.3; operator procedure and figures in docs/calibration.md).

Why: a unit's V_br25 differs from the flight default by up to ±250 mV (onsemi J-series
24.2–24.7 V), an over-voltage error the temperature correction cannot see.  Physics
(σ² = σ_e² + σ_s², σ_s ∝ (V − V_br)^k, points referred to 25 °C): flight/bias_knee_fit.py.

Sweep (automatic at session start when ``bias_knee_auto``; BIAS_KNEE_CALIBRATE in
SESSION): the bias loop overridden, the comparator held at one level (a constant offset
scales every σ alike and leaves the knee where it is); one point at
``V_br,prior − bias_knee_below_v`` (σ_e), then points from ``+bias_knee_lo_v`` up; the
window after a step down (with light, back up) is skipped (mixed).  Dark (no packets):
the TRIGGERS at ``bias_knee_level_codes``.  Light (``bias_knee_light``, the uplink on):
the code violations (off-chips read high by noise) at ``bias_knee_light_codes``, σ_e from
the triggers below breakdown at that level; each light window costs the link its BER
(~p/2), so it ends at ``bias_knee_light_points`` points above the noise (or at no lock).
Light during a dark sweep ends it on the dark points when they are that many, else
restarts it in the light mode (once).  Aborted (event says why, parameters unchanged):
bias loop not ACTIVE, a failed write, the light going, the session's end; retried
(``bias_knee_retries``) at session start, then BIAS_KNEE_REUSED.  Refused (event):
outside ``bias_knee_vbr25_min/max`` or a poor fit.  Accepted: ``bias_vbr25_v`` set, k_T
tracked (flight/bias_kt.py; further knees from ``+bias_knee_track_lo_v`` when the die
moved — dark before the uplink, light with it: flight/bias_kt_due.py).
"""

import math

from flight.cmddict import Busy, WrongMode
from flight.events import SEV_INFO, SEV_WARN, Event
from flight import lazy
from flight.bias_knee_fit import (BIT_RATE_HZ, LIGHT_PARAMS, fit_knee, n_above,  # noqa: F401
                                   q_inv, q_tail, sigma_from_rate, sigma_from_violations)
from flight.bias_knee_fit import u16 as _u16
from flight.bias_knee_report import (EV_KNEE_DONE, EV_KNEE_REFUSED, R_ABORTED,  # noqa: F401
                                      R_NONE, R_OK, R_REFUSED, REPORT_EVENTS, RESULT_NAMES,
                                      report)
from flight.bias_kt import (EV_KNEE_HINDSIGHT, EV_KNEE_KT, EV_KNEE_LINE,  # noqa: F401
                            EV_KNEE_LINE_RESTART, KT_EVENTS, KT_PARAMS, MIN_PACKETS, KtTrack)
from flight.framer_ctl import W_CRC, W_CV, W_OK, W_TRIG
from flight.params import ParamDef
from flight.scheduler import Task
from flight.telemetry import HkField
from hal.compat import const
from hal.errors import HalError
from hal.interfaces import (BIAS_ACTIVE, COMP_OFF, COMP_SWEEP, COMP_TRACK, COMP_WAIT_SIGNAL,
                            MODE_LOOPBACK)

IDLE = const(0)
SWEEP = const(1)
STATE_NAMES = ("IDLE", "SWEEP")
_N_BELOW = const(3)  # windows measuring the electronics' noise below breakdown

EV_KNEE_ABORTED = const(0x69)
EV_KNEE_START = const(0x6F)
# The bias range 0x6_ is full: the knee's later events continue at 0x9_.
EV_KNEE_REUSED = const(0x90)

EVENTS = REPORT_EVENTS + (
    Event(EV_KNEE_ABORTED, "BIAS_KNEE_ABORTED", SEV_WARN,
          "knee sweep aborted (light, no lock, sensor fault, write error, session end, its task "
          "disabled)",
          (("why", "str"),)),
    Event(EV_KNEE_REUSED, "BIAS_KNEE_REUSED", SEV_WARN,
          "no breakdown sweep succeeded this session: the last accepted V_br is used, "
          "tracked against temperature with k_T (the default if never calibrated)",
          (("vbr25_v", "float"), ("last_t_c", "float"), ("why", "str"))),
    Event(EV_KNEE_START, "BIAS_KNEE_SWEEP", SEV_INFO,
          "breakdown sweep started: bias off its target until its end event",
          (("why", "str"),)),
) + KT_EVENTS

P = ParamDef
PARAMS = (
    P("bias_knee_auto", "int", 1, 0, 1, "", "knee sweep at every session start (0: off)"),
    P("bias_knee_level_codes", "int", 130, 1, 4095, "codes",
      "comparator level held during the sweep (~3.3 sigma of the electronics' noise, "
      "below 5 % occupancy up to ~2.0 V over; 150: 5x fewer counts near breakdown)"),
    P("bias_knee_retries", "int", 1, 0, 5, "",
      "automatic sweeps repeated after an abort while the session starts"),
    P("bias_knee_exponent", "float", 2.0, 0.5, 4.0, "",
      "k in sigma_sipm ~ (V - V_br)^k (receiver chain, engineering-model value)"),
    P("bias_knee_below_v", "float", 0.45, 0.3, 3.0, "V",
      "electronics-noise point below the prior breakdown (beyond its uncertainty)"),
    P("bias_knee_lo_v", "float", 0.9, 0.3, 3.0, "V", "first point above the prior breakdown"),
    P("bias_knee_hi_v", "float", 2.1, 0.5, 4.0, "V", "last point above the prior breakdown"),
    P("bias_knee_points", "int", 7, 3, 20, "", "points above the prior breakdown"),
    P("bias_knee_min_ratio", "float", 0.15, 0.01, 10.0, "",
      "a point counts when its SiPM noise variance exceeds this x the electronics'"),
    P("bias_knee_max_resid_v", "float", 0.03, 0.001, 1.0, "V",
      "largest RMS distance of the points from the fitted line (in volts)"),
    P("bias_knee_vbr25_min", "float", 24.15, 10.0, 80.0, "V",
      "plausible V_br at 25 degC, low: onsemi J-series 24.2 V less the 50 mV a sensor-to-"
      "die offset of 2 K adds to the value referred to the sensors"),
    P("bias_knee_vbr25_max", "float", 24.75, 10.0, 80.0, "V",
      "plausible V_br at 25 degC, high: J-series 24.7 V plus the same 50 mV"),
    # k_T tracked against temperature, the light sweep: declared with their code
) + KT_PARAMS + LIGHT_PARAMS

F = HkField
HK = (  # 1 Hz: 8 octets
    F("knee_state", "u8", enum=STATE_NAMES, description="breakdown sweep state"),
    F("knee_result", "u8", enum=RESULT_NAMES, warn=(0, 1), description="last sweep's outcome"),
    F("knee_vbr25", "u16", "V", 0.001, description="last knee's V_br at 25 degC (0: none)"),
    F("knee_resid", "u16", "mV", 0.1, description="its fit residual (quality)"),
    F("knee_kt_sigma", "u16", "mV/K", 0.01,
      description="standard error of the last fitted k_T (quality; 0: none)"),
)
HK_DIAG = (
    F("knee_sweeps", "u16", description="sweeps completed (accepted or refused)"),
    F("knee_aborts", "u16", description="sweeps aborted"),
    F("knee_points", "u8", description="points in the last fit"),
    F("knee_sigma_e", "u16", "mV", 0.01, description="electronics noise RMS at the comparator"),
    F("knee_kt_fit", "u16", "mV/K", 0.01, description="last fitted k_T, accepted or not (0: none)"),
    F("knee_tracks", "u8",
      description="knees started by the temperature this session (pre-link and tracking)"),
)


class BiasKnee:
    name = "bias_knee"

    def __init__(self, ctx, bias, framer_control, dac, comparator=None, period_us=100000):
        self.ctx = ctx
        self.bias = bias  # flight.bias.BiasControl (its override and temperature estimate)
        self.fc = framer_control
        self.dac = dac
        self.comparator = comparator  # paused during a commanded sweep
        self.period_us = period_us
        self.state = IDLE
        self.result = R_NONE
        self.vbr25 = None
        self.resid_v = None
        self.sweeps = self.aborts = self.n_fit = self._tries = 0
        self.sigma_e = None
        self.floor_sigma = None  # noise RMS at the operating point (comparator's floor)
        self.light = False  # the sweep reads the code violations (uplink on)
        self._switched = False  # a dark sweep restarted in the light mode
        self._auto = False  # started by the session start (retried, REUSED if it fails)
        self._plan = []
        self._i = self._settle = 0
        self._below = []
        self._v25 = []
        self._sig = []
        self._resume = False
        self.kt = KtTrack()  # this session's knees, k_T through them (flight/bias_kt.py)
        self._track = False  # the sweep is a tracking knee (started by the temperature)
        self._first = 0  # 1: no point below breakdown (σ_e known at this level)
        self._se_codes = -1  # the level σ_e was measured at (a comparator offset scales σ)
        self._codes = self._hi = 0  # this light sweep's level; the high one moved this session
        self._probe = self._norm = False  # probe window next; level to move (hi_level)
        self._job = None  # a report in progress (a generator: _finish, KtTrack.refine)

    # ------------------------------------------------------------------ commands
    def check_command(self, cmd, args):
        if self.state == SWEEP:
            raise Busy("knee sweep in progress")
        if self.bias.state != BIAS_ACTIVE:
            raise WrongMode("bias loop not ACTIVE")

    def cmd_knee_calibrate(self, args, tc):
        c = self.comparator
        self._resume = c is not None and c.state != 0
        if self._resume:
            c.stop_session()
        self._auto = False
        self._begin("TC", False)
        return None

    def tasks(self):
        return [Task("bias_knee", self.period_us, self.update, offset_us=3000,
                     budget_us=20000, critical=False, max_faults=5)]

    # ------------------------------------------------------------------ session hooks
    def start_session(self):
        self.floor_sigma = None
        self._resume = False
        self._auto = False
        self._tries = 0
        self._se_codes = -1  # σ_e measured anew each session
        self._hi = 0
        self.kt.start()
        if self.ctx.params["bias_knee_auto"]:
            if self.bias.state == BIAS_ACTIVE:
                self._auto = True
                self._begin("session start", False)
            else:  # HOLD or FAULT: no trusted temperature to refer a knee to
                self._reused("bias loop not ACTIVE")

    def session_ready(self):
        return self.state != SWEEP

    def stop_session(self):
        self._auto = False  # no retry, no REUSED: the session is over
        if self.state == SWEEP:
            self._abort("session end")

    def safe(self):
        self.stop_session()

    def _light_now(self):
        """The framer's last window had packets through the optics: the uplink is on."""
        w = self.fc.last_window
        return self.fc.window_valid and self.fc.window_optical \
            and w[W_OK] + w[W_CRC] >= MIN_PACKETS

    def _begin(self, why, track):
        p = self.ctx.params
        self._tries += 0 if track else 1
        self._track = track
        self.light = bool(p["bias_knee_light"]) and self._light_now()
        self._switched = False
        self.ctx.emit(EV_KNEE_START, [why], "breakdown sweep: %s%s"
                      % (why, " (uplink on)" if self.light else ""))
        self.state = SWEEP
        self._restart()

    def _level_codes(self):  # the level of the sweep's mode
        return self._codes if self.light else self.ctx.params["bias_knee_level_codes"]

    def _restart(self):
        """The plan: below breakdown (not in a tracking knee with σ_e known at this
        level), then up from ``+bias_knee_lo_v`` (``_track_lo_v``); with light, first a
        probe window at the operating bias chooses the level (``_probed``)."""
        p = self.ctx.params
        lo = p["bias_knee_lo_v"]
        hi = p["bias_knee_hi_v"]
        n = p["bias_knee_points"]
        step = (hi - lo) / (n - 1) if n > 1 else 0.0
        first = p["bias_knee_track_lo_v"] - 1e-6 if self._track else lo
        self._plan = plan = [-p["bias_knee_below_v"]]  # below breakdown, then above
        i = 0
        while lo + i * step <= hi + 1e-6 and (step > 0.0 or i == 0):
            if lo + i * step >= first:
                plan.append(lo + i * step)
            i += 1
        self._v25 = []
        self._sig = []
        self.kt.sweep_start()
        self._codes = p["bias_knee_light_codes"]
        self._norm = False
        self._probe = self.light and p["bias_knee_light_probe_max"] > 0.0
        if not self._probe:
            self._points()
        elif self._dac(p["bias_knee_light_probe_codes"]) and self._bias(p["bias_vov_v"]):
            self._settle = 1

    def _lt(self):
        """flight/bias_knee_light.py, loaded for a light sweep (None: no heap, aborted)."""
        try:
            return lazy.load("flight.bias_knee_light", self.ctx.emit)
        except lazy.LoadFailed:
            self._abort("light sweep code not loaded (heap)")

    def _points(self):
        self._first = 1 if self._track and self._se_codes == self._level_codes() else 0
        self._i = self._first
        self._below = [self.sigma_e] if self._first else []
        if self._dac(self._level_codes()):
            self._go()

    def _dac(self, code):
        """Set the comparator level; False (sweep aborted) on a failed write."""
        try:
            self.dac.set_code(code)
        except HalError as e:
            self._abort("comparator DAC: %r" % (e,))
            return False
        return True

    def _bias(self, dv):
        """Bias ``dv`` over the prior V_br at t_est; False (aborted) when refused."""
        why = self.bias.override(self._volts(self.ctx.params["bias_vbr25_v"], dv))
        if why:
            self._abort(why)
        return not why

    def _volts(self, vbr25, dv):
        """The bias ``dv`` over a breakdown of ``vbr25`` (at 25 degC) at t_est."""
        return vbr25 + dv + self.ctx.params["bias_kt_mv_per_k"] * 1e-3 * (self.bias.t_est - 25.0)

    def _go(self):
        """Bias to the next point.  The next window holds a few ms of the previous one:
        skipped after the step down (1000× the rate) and, with light, back up (the framer
        relocks); between rising points (rate ×2–3) it moves the knee a few mV only."""
        if not self._bias(self._plan[self._i]):
            return
        self._settle = 1 if self._i == 0 or ((self.light or self._first) and self._i == 1) else 0

    def update(self):
        fc = self.fc
        if not fc.window_valid:
            return
        if not fc.window_optical:
            # LOOPBACK's packets are the FPGA's own, not the uplink's light, and its code
            # violations not the SiPM's noise (a window across a mode change is both): no
            # knee's window.  A sweep in LOOPBACK ends, not retried: every window of the
            # session may be one (before stop 61 it read the packets as the uplink).
            if self.state == SWEEP and fc.mode == MODE_LOOPBACK:
                self._abort("framer in LOOPBACK: no optical window", False)
            return
        c = self.comparator  # (the uplink seen, by its packets or the comparator's light)
        self.kt.see(self.fc.last_window, c is not None and c.state >= COMP_SWEEP)
        self.kt.refine(self)  # (a knee's temperature in hindsight, 1 s after it)
        if self.state != SWEEP:
            b = self.bias  # (the comparator tracking or waiting, not in a sweep of its own)
            if b.state == BIAS_ACTIVE and self.kt.ready(self.fc.last_window, b.t_est_q) \
                    and self.sigma_e is not None \
                    and (c is None or c.state == COMP_TRACK or c.state == COMP_WAIT_SIGNAL):
                self._auto = False
                self._resume = False
                self._begin(self.kt.started(b.t_est), True)
            return
        if self.bias.state != BIAS_ACTIVE:
            self._abort("bias loop not ACTIVE (temperature)")
            return
        w = self.fc.last_window
        packets = w[W_OK] + w[W_CRC]
        if self._settle > 0:
            self._settle -= 1
            if self._i == 0 and not self.light and packets >= MIN_PACKETS \
                    and self.ctx.params["bias_knee_light"]:
                # The window before the step down (operating bias) had packets: the
                # uplink is on — the light level from the first point on.
                self._switched = True
                self.light = True
                self._dac(self._level_codes())
            return
        if self._probe:
            self._probe = False
            lt = self._lt()
            if lt is not None:
                lt.probed(self, w[W_CV], packets >= MIN_PACKETS and self.fc.locked_hw)
            return
        level = self._level_codes() * self.dac.volts_per_code
        if self._i == 0 or not self.light:
            if packets > 0:
                p = self.ctx.params
                if self._i > 0 and n_above(self._sig, self._se(), p["bias_knee_min_ratio"]) \
                        >= p["bias_knee_light_points"]:
                    # The uplink came on with enough dark points: fit them (a light sweep
                    # would cost the link its BER for what these points lack).
                    self._finish()
                    return
                if self._i > 0 and p["bias_knee_light"] and not self._switched:
                    # The uplink came on: the same sweep on the code violations.
                    self._switched = True
                    self.light = True
                    self._restart()
                    return
                self._abort("light: packets during the sweep")
                return
            s = sigma_from_rate(w[W_TRIG] * 1000000 / self.period_us, level)
            if s is None:
                if self._i > 0 and w[W_TRIG] > 0:
                    # Saturated: this point and the higher ones are beyond the relation
                    # (a breakdown lower than the prior); fit the points below it.
                    self._finish()
                    return
                self._abort("trigger rate %d per window outside the noise model" % w[W_TRIG])
                return
        else:
            if packets < MIN_PACKETS or not self.fc.locked_hw:
                if packets == 0 and w[W_TRIG] == 0:
                    self._abort("light: the uplink went during the sweep")
                    return
                # No lock: the noise at this over-voltage is too high for the framer at
                # this level, and at the higher points more so: fit the points below.
                self._finish()
                return
            s = sigma_from_violations(w[W_CV], self.period_us * 1e-6, level)
            if s is None:
                self._finish()
                return
        if self._i == 0:
            self._below.append(s)
            if len(self._below) < _N_BELOW or self._norm and self._lt().normalise(self, level):
                return
        else:
            self._add_point(s)
            lt = self._lt() if self.light else None
            if self.light and (lt is None or lt.light_enough(
                    self.ctx.params, w[W_CV], self._sig, self._se(), self.period_us,
                    self._codes)):
                if lt is not None:
                    self._finish()
                return
        self._i += 1
        if self._i < len(self._plan):
            self._go()
            return
        self._finish()

    def _se(self):  # the electronics' noise RMS from the points below breakdown
        return math.sqrt(sum(s * s for s in self._below) / len(self._below))

    def _add_point(self, s):
        """A point above breakdown: σ, and the bias referred to 25 °C."""
        b = self.bias
        self._v25.append(b.v_cmd - self.ctx.params["bias_kt_mv_per_k"] * 1e-3 * (b.t_est - 25.0))
        self._sig.append(s)
        self.kt.point(self)  # (referred again in hindsight, KtTrack.refine)

    def _release(self, bias=True):
        """The sweep's hold ends (``bias``: the bias back to its loop too; a report holds
        it at the knee's operating point until V_br25 is set: flight/bias_knee_report.py)."""
        lazy.release("flight.bias_knee_light")
        self.state = IDLE
        if bias:
            self.bias.override(None)
        c = self.comparator
        if self._track and c is not None and c.state != COMP_OFF:
            c._settle = 1  # it held meanwhile: its level back, the next window mixed
            try:
                self.dac.set_code(c.code)
            except HalError as e:
                self.ctx.emit(EV_KNEE_ABORTED, ["comparator DAC: %r" % (e,)])
        if self._resume:
            self._resume = False
            self.comparator.start_session()

    def _abort(self, why, retry=True):
        self.aborts += 1
        self.result = R_ABORTED
        self._release()
        self.ctx.emit(EV_KNEE_ABORTED, [why], "knee sweep aborted: " + why)
        if self._auto:
            if retry and self._tries <= self.ctx.params["bias_knee_retries"] \
                    and self.bias.state == BIAS_ACTIVE:
                self._begin("retry", False)
            else:
                self._reused(why)

    def _reused(self, why):
        """No sweep succeeded this session: say what the bias loop runs on."""
        self._auto = False
        p = self.ctx.params
        self.ctx.emit(EV_KNEE_REUSED, [p["bias_vbr25_v"], p["bias_knee_last_t_c"], why],
                      "V_br25 %.3f V kept (last knee at %.1f degC; -273: none): %s"
                      % (p["bias_vbr25_v"], p["bias_knee_last_t_c"], why))

    def _finish(self):
        """The fit and its report, a stage a framer window (flight/bias_knee_report.py)."""
        self._job = report(self)

    # ------------------------------------------------------------------ telemetry
    def hk(self, values, i):
        values[i] = self.state
        values[i + 1] = self.result
        values[i + 2] = _u16(self.vbr25, 1000)
        values[i + 3] = _u16(self.resid_v, 10000)
        values[i + 4] = _u16(self.kt.kt_sigma, 100)

    def hk_diag(self, values, i):
        values[i] = self.sweeps
        values[i + 1] = self.aborts
        values[i + 2] = self.n_fit
        values[i + 3] = _u16(self.sigma_e, 100000)
        values[i + 4] = _u16(self.kt.kt_fit, 100)
        values[i + 5] = self.kt.tracks


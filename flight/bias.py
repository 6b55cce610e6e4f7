"""SiPM bias correction (DESIGN §3.4, paper App. A): every 500 ms, temperature → bias.

``V_br(T) = V_br25 + k_T·(T − 25 °C)``; target ``V_bias = V_br(T_est) + V_ov``, clamped to
the supply's limits, slew-limited, written to the DAC and checked on the read-back monitor.

``T_est`` = sensor reading + ``bias_ff_tau_s``·dT/dt: the sensor sits on the board and
lags the die by a first-order time constant; adding τ·dT/dt (slope of the last readings,
low-pass filtered) cancels that lag — the correction leads instead of trailing a
power-on heating transient.

Which sensor is trusted (plausibility, the sensors cross-checked against each other and
their trend, the one that disagrees excluded) is flight/thermal_sensors.py's; with no
usable sensor the last good temperature is held (event); no usable sensor for
``bias_hold_max_s`` sets a safe bias below breakdown, the module to FAULT, and — thermal
knowledge lost — requests SAFE (THERMAL_LOST).
A read-back off by more than ``bias_readback_tol_v`` for 3 checks in a row raises an
event; for 10, FAULT.  A safe bias that cannot be written (FAULT) switches the supply
off, the session's end always (flight/bias_safe.py, the base class: BIAS_SUPPLY_CUT).

Fixed point (the 500 ms update allocates nothing, issue 11: MicroPython boxes every
float): the HAL's integer calls — ``TempSensor.read_q`` in, ``BiasSupply.set_uv`` and
``read_back_uv`` out and back (hal/interfaces.py) — temperatures in 1/4096 K (the TMP117
resolves 1/128 K: its readings are exact), the slope in 1/65536 K per update, volts in
µV; the parameters converted once, by the parameter listener.  Rounding stays below
2 µV, 1/500 of the DAC's 1 mV step.  The floats the ground and the knee read
(``v_cmd``, ``readback_v``, ``t_used``, ``t_est``) are made when read.
"""

from array import array

from hal.compat import const
from flight.events import SEV_ERROR, SEV_WARN, Event
from flight.params import ParamDef
from flight.scheduler import Task
# (the safe states are the base class's; the events it emits are declared here)
from flight.bias_safe import EV_BIAS_FAULT, EV_BIAS_SUPPLY_CUT, EV_BIAS_WRITE_ERROR, BiasSafe
from flight.telemetry import HkField
from flight.thermal_sensors import (EV_BIAS_HOLD, EV_BIAS_RECOVERED,  # noqa: F401
                                    EV_BIAS_SENSOR, SensorCheck, ThermalSensors)
from hal.errors import HalError
# (the states under their short names: an ``as`` import is one globals entry, not two;
# the sensor's limits under private ones: read only by the declarations, which the
# firmware freezes as constants, so they leave no global there: tools/freeze_trim.py)
from hal.interfaces import BIAS_ACTIVE as ACTIVE, BIAS_FAULT as FAULT, BIAS_HOLD as HOLD
from hal.interfaces import BIAS_OFF as OFF, BIAS_RAMP as RAMP, SW_SIPM_BIAS
from hal.interfaces import BIAS_STATE_NAMES as STATE_NAMES
from hal.interfaces import SIPM_VBR25_MAX_V as _VBR25_MAX_V, SIPM_VBR25_MIN_V as _VBR25_MIN_V

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any  # noqa: F401  (type comments)

T_Q = const(4096)  # temperature fixed point: 1/4096 K (the knee's due check uses it too)
_T25_Q = const(102400)  # 25 degC in 1/4096 K
_SQ = const(16)  # slope fixed point: 1/(4096 x 16) K per update
N_SENSORS = const(2)  # sensors in housekeeping (the board has a primary and a redundant one)
_ERR_REPORT = const(100)  # a repeated device error is reported on its 1st, 101st, ... time
# Readings kept for the hindsight estimate (:meth:`BiasControl.hindsight`): a knee sweep's
# points (~2 s of readings) and two on either side, until 2 s after its end (8 s).
_RING = const(16)

EV_BIAS_READBACK = const(0x63)
EV_BIAS_MONITOR_ERROR = const(0x66)

EVENTS = (
    Event(EV_BIAS_FAULT, "BIAS_FAULT", SEV_ERROR,
          "safe bias (below breakdown) set, module in FAULT until the next session"),
    Event(EV_BIAS_READBACK, "BIAS_READBACK_MISMATCH", SEV_WARN,
          "bias monitor disagrees with the command (3 checks in a row)",
          (("readback_v", "float"), ("command_v", "float"))),
    Event(EV_BIAS_WRITE_ERROR, "BIAS_WRITE_ERROR", SEV_WARN,
          "bias DAC write failed (retried next update; 1st, 101st, ... time)",
          (("count", "int"),)),
    Event(EV_BIAS_MONITOR_ERROR, "BIAS_MONITOR_ERROR", SEV_WARN,
          "bias read-back monitor failed (1st, 101st, ... time)", (("count", "int"),)),
    Event(EV_BIAS_SUPPLY_CUT, "BIAS_SUPPLY_CUT", SEV_ERROR,
          "the safe bias could not be written: the SiPM supply switched off (cut), or "
          "switching it off failed too", (("cut", "bool"),)),
)

P = ParamDef
PARAMS = (
    # The part's spread (hal/interfaces.py) widened by 1 V for calibration and ageing.
    P("bias_vbr25_v", "float", 24.55, _VBR25_MIN_V - 1.0, _VBR25_MAX_V + 1.0, "V",
      "SiPM breakdown voltage at 25 degC (calibration)"),
    P("bias_kt_mv_per_k", "float", 21.5, 10.0, 40.0, "mV/K",
      "breakdown temperature coefficient (onsemi J-series: 21.5, DESIGN §5; 10-40 "
      "brackets SiPMs)"),
    P("bias_vov_v", "float", 3.0, 0.5, 6.0, "V", "over-voltage target"),
    P("bias_ff_tau_s", "float", 3.0, 0.0, 60.0, "s",
      "sensor lag compensated by dT/dt feed-forward (0: off)"),
    P("bias_ff_filter", "float", 0.3, 0.01, 1.0, "",
      "low-pass weight of the dT/dt estimate per update"),
    P("bias_t_min_c", "float", -50.0, -60.0, 20.0, "degC", "plausible low"),
    P("bias_t_max_c", "float", 100.0, 30.0, 130.0, "degC", "plausible high"),
    P("bias_max_step_c", "float", 2.0, 0.05, 20.0, "K", "largest plausible change per update"),
    P("bias_stuck_n", "int", 8, 3, 1000, "updates",
      "identical readings that mean stuck (noise 0.01 K at 7.8 mK resolution: "
      "8 equal in a row by chance ~5e-6 per update)"),
    P("bias_hold_max_s", "float", 10.0, 0.5, 600.0, "s",
      "hold-last-good time before safe bias and FAULT"),
    P("bias_ramp_v_per_s", "float", 8.0, 0.1, 50.0, "V/s", "bias slew limit"),
    P("bias_readback_tol_v", "float", 0.05, 0.001, 2.0, "V", "read-back tolerance"),
    P("bias_safe_v", "float", 21.0, 0.0, _VBR25_MIN_V, "V",
      "safe bias, below breakdown at any plausible temperature "
      "(rule safe_bias_below_breakdown, flight/param_rules.py)"),
)

F = HkField
HK = (  # 1 Hz: 10 octets
    F("bias_state", "u8", enum=STATE_NAMES, alarm=(0, 3), description="bias control state"),
    F("bias_v_cmd", "u16", "V", 0.001, description="bias commanded to the supply"),
    F("bias_readback_err", "i16", "V", 0.001, warn=(-0.05, 0.05),
      description="monitor minus command (0 when unknown)"),
    F("bias_t", "i16", "degC", 0.01, description="die temperature in use (last good)"),
    F("bias_sensor", "i8", description="sensor in use (-1: none, holding)"),
    F("bias_faults", "u16", warn=(0, 0), description="write failures and FAULT entries"),
)
HK_DIAG = (
    F("bias_v_target", "u16", "V", 0.001, description="bias target before the slew limit"),
    F("bias_t_est", "i16", "degC", 0.01, description="die temperature estimate (feed-forward)"),
    F("bias_dtdt", "i16", "K/s", 0.0001, description="filtered temperature slope"),
    F("bias_hold", "u16", "s", 0.1, description="time without a valid temperature"),
    F("bias_updates", "u32", description="bias writes"),
    F("bias_monitor_errors", "u16", description="read-back monitor failures"),
) + tuple(F("bias_sensor%d_faults" % k, "u16", description="sensor %d faults" % k)
          for k in range(N_SENSORS))


class BiasControl(BiasSafe):
    """The 500 ms loop (the safe states, FAULT and the write errors: the base,
    flight/bias_safe.py)."""

    name = "bias"

    def __init__(self, ctx, supply, temps, power, period_us=500000):
        BiasSafe.__init__(self, ctx, supply, power)  # (state OFF, no command yet)
        self.sensors = ThermalSensors(ctx, temps)  # which sensor to trust
        self.checks = self.sensors.checks
        self.period_us = period_us
        self._dt = period_us * 1e-6  # the update's step, s (one float, made once)
        self._lim_uv(supply.limits())  # the supply's range: fixed, read once per session
        self._target_uv = None  # type: Any
        self._t_used_q = None  # type: Any  # the last good reading in use, 1/4096 K
        self.t_est_q = None  # type: Any  # die temperature estimate, 1/4096 K
        self.source = -1  # sensor index in use, -1 none
        self._dtdt_q = 0  # filtered slope, 1/65536 K per update
        self._t_prev = None  # type: Any  # last reading, 1/4096 K
        self._gap = 0
        self._ring = array("i", [0] * _RING)  # the last good readings, 1/4096 K
        self.readings = 0  # good readings this session (the ring's next index, mod _RING)
        self._run0 = 0  # the first reading of the current unbroken run (no hold, no switch)
        self.hold_s = 0.0
        self.readback_bad = 0
        self._rb_uv = None  # type: Any  # the last read-back, µV
        self.updates = 0
        self.monitor_errors = 0
        self._t_step = None  # onboard time (s) of the ramp's last step
        ctx.params.listeners.append(self._load_params)
        self._load_params()

    def _load_params(self, name=None, value=None):
        """The law's parameters in its integer units (also the parameter listener)."""
        if name is not None and (not name.startswith("bias_") or name.startswith("bias_knee")):
            return
        # One change reloads its own field only (a knee's report sets V_br25 and k_T:
        # the seven reloads were ~33 k instructions a change on the Cortex-M7).
        p = self.ctx.params
        every = name is None
        if every or name == "bias_vbr25_v":
            self._vbr25_uv = _r(p["bias_vbr25_v"] * 1e6)
        if every or name == "bias_kt_mv_per_k":
            self._kt_uv = _r(p["bias_kt_mv_per_k"] * 1e3)  # µV/K
        if every or name == "bias_vov_v":
            self._vov_uv = _r(p["bias_vov_v"] * 1e6)
        if every or name == "bias_ff_tau_s":
            self._ff8 = _r(p["bias_ff_tau_s"] / self._dt * 256)  # τ in updates, 1/256
        if every or name == "bias_ff_filter":
            self._a8 = _r(p["bias_ff_filter"] * 256)
        if every or name == "bias_ramp_v_per_s":
            self._ramp_uv = _r(p["bias_ramp_v_per_s"] * self._dt * 1e6)  # per update
        if every or name == "bias_readback_tol_v":
            self._tol_uv = _r(p["bias_readback_tol_v"] * 1e6)

    def _lim_uv(self, lim):
        self._lim = lim
        self._lo_uv = _r(lim[0] * 1e6)
        self._hi_uv = _r(lim[1] * 1e6)

    # The floats the ground, the tests and the knee read (made when read, not per update).
    @property
    def v_cmd(self):
        """Volts commanded (as the supply returned them), or None."""
        u = self._cmd_uv
        return None if u is None else u / 1000000

    @property
    def readback_v(self):
        """The last read-back, volts, or None."""
        u = self._rb_uv
        return None if u is None else u / 1000000

    @property
    def t_used(self):
        """The last good reading in use, degC, or None."""
        q = self._t_used_q
        return None if q is None else q / T_Q

    @property
    def t_est(self):
        q = self.t_est_q
        return None if q is None else q / T_Q

    @property
    def dtdt(self):
        """Filtered temperature slope, K/s."""
        return self._dtdt_q / (T_Q * _SQ * self._dt)

    def hindsight(self, n):
        """The die temperature at good reading ``n`` of this session (degC) in hindsight,
        once two more readings exist: ``T = s_n + τ·(s_(n+2) − s_(n−2)) / (4·dt)``, the
        sensor's first-order lag inverted with a centred slope (one-sided where the run
        starts after n − 2).  Why: :attr:`t_est` can only use a slope filtered from the
        past, so just after power-on, while the die's warming is still reaching the sensor
        and the filter, it lags the die by ~0.1 K (~3 mV of V_br; docs/calibration.md
        "The knee's temperature in hindsight").  None when reading ``n + 2`` does not
        exist yet or the run broke (a hold, a sensor switch) around ``n``."""
        hi = n + 2
        lo = n - 2
        if lo < self._run0:
            lo = self._run0
        if hi >= self.readings or lo < self.readings - _RING or n < lo:
            return None  # (the ring holds readings ``readings - _RING`` ... ``readings - 1``)
        r = self._ring
        # (τ in updates, as the loop's feed-forward holds it: ``_ff8`` / 256)
        lead = self._ff8 * (r[hi % _RING] - r[lo % _RING]) / (256 * (hi - lo))
        return (r[n % _RING] + lead) / T_Q

    @property
    def v_target(self):
        u = self._target_uv
        return None if u is None else u / 1000000

    def cmd_set_overvoltage(self, args, tc):
        self.ctx.params.set("bias_vov_v", args["volts"])
        return {"volts": args["volts"]}

    def override(self, v):
        """Hold the bias at ``v`` volts (a breakdown sweep, flight/bias_knee.py; the
        temperature is still tracked), or back to the loop with None.  Returns None, or
        why not (the sweep aborts)."""
        if v is None:  # back to the target at once (with the parameters just calibrated)
            if self._override is not None and self.state == ACTIVE and self.t_est_q is not None:
                self._override = None
                self._set_target(self.t_est_q)
            self._override = None
            return None
        lo, hi = self.supply.limits()
        if self.state != ACTIVE or not lo <= v <= hi:
            return "bias %.3f V refused in state %s" % (v, STATE_NAMES[self.state])
        try:
            self._cmd_uv = self.supply.set_uv(_r(v * 1e6))
        except HalError as e:
            self._write_error(e)
            return "bias write: %r" % (e,)
        self._v_uv = _r(v * 1e6)
        self._override = v
        return None

    def tasks(self):
        return [Task("sipm_bias", self.period_us, self.update, offset_us=1000,
                     budget_us=20000, critical=False, max_faults=5)]

    # ------------------------------------------------------------------ session hooks
    def start_session(self):
        self.power.set(SW_SIPM_BIAS, True)
        self.supply.init()  # output at its lowest code, below breakdown
        self._lim_uv(self.supply.limits())  # (read again: a session starts the supply anew)
        self._cmd_uv = self._lo_uv
        self._v_uv = self._lo_uv
        self._t_prev = None
        self._gap = 0
        self.readings = 0
        self._run0 = 0
        self._t_used_q = None  # never hold a temperature from an earlier session
        self.t_est_q = None
        self.source = -1
        self.sensors.start()
        self._dtdt_q = 0
        self.hold_s = 0.0
        self.readback_bad = 0
        self._override = None
        self.state = RAMP
        self._t_step = None
        self.update()

    def session_ready(self):
        return self.state in (ACTIVE, HOLD, FAULT)

    # (stop_session, safe: flight/bias_safe.py)

    # ------------------------------------------------------------------ 500 ms update
    def _temperature(self):
        t = self.sensors.select(self._t_used_q)  # 1/4096 K (flight/thermal_sensors.py)
        self.source = self.sensors.source
        if self.sensors.switched:
            self._t_prev = None  # no slope across two sensors' offsets
            self._run0 = self.readings
        return t

    def update(self):
        if self.state == OFF:
            return
        p = self.ctx.params
        self._gap += 1  # updates since the last good reading
        t = self._temperature()
        if t is None:
            if self.state == FAULT:
                return
            self.hold_s += self._dt
            self._run0 = self.readings  # (no hindsight across the gap)
            if self._t_used_q is None or self.hold_s >= p["bias_hold_max_s"]:
                self._fault("temperature unavailable for %.1f s" % self.hold_s)
                self.sensors.lost(self.hold_s)  # no thermal knowledge: SAFE
                return
            if self.state != RAMP:
                self.state = HOLD
            t_q = self.t_est_q  # hold the last good estimate, no extrapolation
        else:
            if self.state == FAULT:
                return  # FAULT is left only by a new session (or SAFE → STANDBY → SESSION)
            if self.hold_s:
                self.hold_s = 0.0
            t_q = t  # (1/4096 K from the HAL: no float made)
            prev = self._t_prev
            if prev is not None:
                slope = (t_q - prev) * _SQ // self._gap  # a hold spans several updates
                self._dtdt_q += (self._a8 * (slope - self._dtdt_q)) >> 8
            self._t_prev = t_q
            self._ring[self.readings % _RING] = t_q
            self.readings += 1
            self._gap = 0
            self._t_used_q = t
            t_q += (self._ff8 * self._dtdt_q) >> 12  # + τ·dT/dt (>> 8 of τ, >> 4 of slope)
            if self.state == HOLD:
                self.state = ACTIVE
        self.t_est_q = t_q
        if self._override is not None:
            self._check_readback()
            return
        if self._set_target(t_q):
            self.updates += 1
            if self.state == RAMP and -10000 < self._v_uv - self._target_uv < 10000:
                self.state = ACTIVE
            self._check_readback()

    def _set_target(self, t_q):
        """V_br(T_est) + V_ov, clamped and slew-limited (µV); False on a write error."""
        kt = self._kt_uv
        d = t_q - _T25_Q
        hi = d >> 5  # k_T·ΔT in two parts: each product stays a small int (< 2^30)
        target = self._vbr25_uv + ((kt * hi + ((kt * (d & 31)) >> 5)) >> 7) + self._vov_uv
        target = self._lo_uv if target < self._lo_uv else (
            self._hi_uv if target > self._hi_uv else target)
        self._target_uv = target
        v = target
        base = self._v_uv
        if base is not None:
            step = self._ramp_uv
            if self.state == RAMP:
                # The session's own step (start_session) and the next 500 ms update can
                # be any time apart: 8 V in 2 ms at a session start (stop 44).  So a ramp
                # step is the slew limit times the time since the last one, at most an
                # update's worth.  (Stop 44 skipped an update less than 0.9 periods after
                # a step instead: the ramp then took up to 1.95 s, not 1.5, and at such
                # phases of the session's TC the usual plan's knee met the uplink; stop
                # 54.)  Equal times: a clock that does not move, the kits' fakes, a whole
                # step.  Floats only while ramping.
                now = self.ctx.now()
                ts = self._t_step
                if ts is not None and ts < now < ts + self._dt:
                    step = int(step * (now - ts) / self._dt)
                if v != base:
                    self._t_step = now
            if v > base + step:
                v = base + step
            elif v < base - step:
                v = base - step
        try:
            self._cmd_uv = self.supply.set_uv(v)
        except HalError as e:
            self._write_error(e)
            return False
        self._v_uv = v
        self._write_run = 0
        return True

    def _check_readback(self):
        try:
            rb = self.supply.read_back_uv()
        except HalError as e:
            rb = None  # counts as a mismatch too (the bias is unverified)
            self.monitor_errors += 1
            if self.monitor_errors % _ERR_REPORT == 1:
                self.ctx.emit(EV_BIAS_MONITOR_ERROR, [self.monitor_errors], repr(e))
        self._rb_uv = rb
        if rb is not None:
            d = rb - self._v_uv
            if -self._tol_uv <= d <= self._tol_uv:
                self.readback_bad = 0
                return
        self.readback_bad += 1
        if self.readback_bad == 3 and rb is not None:  # (unreadable: its own events)
            v = self.readback_v
            self.ctx.emit(EV_BIAS_READBACK, [v, self.v_cmd],
                          "read-back %r V vs %.3f V commanded" % (v, self.v_cmd))
        if self.readback_bad >= 10:
            self._fault("read-back mismatch" if rb is not None else "read-back unreadable")

    # ------------------------------------------------------------------ telemetry
    def hk(self, values, i):  # (integers only: nothing allocated)
        v = self._cmd_uv
        rb = self._rb_uv
        t = self._t_used_q
        values[i] = self.state
        values[i + 1] = _div(v, 1000) if v is not None else 0
        values[i + 2] = _div(rb - v, 1000) if rb is not None and v is not None else 0
        values[i + 3] = _div(t * 100, T_Q) if t is not None else 0
        values[i + 4] = self.source
        values[i + 5] = self.faults

    def hk_diag(self, values, i):
        u = self._target_uv
        values[i] = (u + 500) // 1000 if u is not None else 0
        q = self.t_est_q
        values[i + 1] = (q * 100 + 2048) >> 12 if q is not None else 0
        values[i + 2] = _q(self.dtdt, 10000)
        values[i + 3] = _q(self.hold_s, 10)
        values[i + 4] = self.updates
        values[i + 5] = self.monitor_errors
        for k in range(N_SENSORS):
            values[i + 6 + k] = self.checks[k].faults if k < len(self.checks) else 0


def _r(x):
    """A float rounded to the nearest integer (half away from zero)."""
    return int(x + 0.5) if x >= 0 else -int(0.5 - x)


def _div(n, d):
    """``n / d`` rounded to the nearest integer, half away from zero (``d`` > 0)."""
    return (n + (d >> 1)) // d if n >= 0 else -((-n + (d >> 1)) // d)


def _q(x, per_unit):
    """A physical value as the raw integer of a field of scale 1/per_unit (rounded)."""
    x = x * per_unit
    return int(x + 0.5) if x >= 0 else -int(0.5 - x)

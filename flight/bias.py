"""SiPM bias correction (DESIGN §3.4, paper App. A): every 500 ms, temperature → bias.

``V_br(T) = V_br25 + k_T·(T − 25 °C)``; target ``V_bias = V_br(T_est) + V_ov``, clamped to
the supply's limits, slew-limited, written to the DAC and checked on the read-back monitor.

``T_est`` = sensor reading + ``bias_ff_tau_s``·dT/dt: the sensor sits on the board and
lags the die by a first-order time constant; adding τ·dT/dt (slope of the last readings,
low-pass filtered) cancels that lag — the correction leads instead of trailing a
power-on heating transient.

Sensor faults (read error, implausible value, step too large, stuck): the redundant
sensor takes over; if both are bad the last good temperature is held (event); a fault
persisting ``bias_hold_max_s`` sets a safe bias below breakdown and the module to FAULT.
A read-back off by more than ``bias_readback_tol_v`` for 3 checks in a row raises an
event; for 10, FAULT.
"""

from flight import events
from hal.compat import const

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any  # noqa: F401  (type comments)

OFF = const(0)
RAMP = const(1)
ACTIVE = const(2)
HOLD = const(3)
FAULT = const(4)
STATE_NAMES = ("OFF", "RAMP", "ACTIVE", "HOLD", "FAULT")

EV_BIAS_SENSOR = const(0x58)
EV_BIAS_HOLD = const(0x59)
EV_BIAS_FAULT = const(0x5A)
EV_BIAS_READBACK = const(0x5B)
EV_BIAS_RECOVERED = const(0x5C)
events.register(EV_BIAS_SENSOR, "BIAS_SENSOR_FAULT")
events.register(EV_BIAS_HOLD, "BIAS_HOLD_LAST_GOOD")
events.register(EV_BIAS_FAULT, "BIAS_FAULT")
events.register(EV_BIAS_READBACK, "BIAS_READBACK_MISMATCH")
events.register(EV_BIAS_RECOVERED, "BIAS_SENSOR_RECOVERED")

_SW_SIPM_BIAS = const(3)


class SensorCheck:
    """Plausibility of one temperature sensor: range, step, stuck.

    Step: the die cannot change by more than ``max_step`` per update, so a larger jump
    from the last accepted reading is a fault (a glitch, or an offset that persists).  The
    allowance grows with the updates the sensor had no plausible reading (an outage), not
    while it is rejected for a step — a persistent offset would otherwise be accepted
    after a few updates.  A stepped sensor (``suspect``) is re-accepted when its reading
    is back within the allowance, or when another sensor confirms it (:meth:`rebase`).
    """

    def __init__(self, sensor):
        self.sensor = sensor
        self.last = None
        self.age = 1  # updates since the last accepted reading, counting outages only
        self.same = 0
        self.faults = 0
        self.reason = ""
        self.raw = None  # the last plausible (in range) reading, accepted or not
        self.suspect = False

    def read(self, lo, hi, max_step, stuck_n):
        """The temperature, or None (``reason`` says why)."""
        self.raw = None
        try:
            t = self.sensor.read_c()
        except Exception as e:
            self.age += 1
            return self._bad("read error %r" % (e,))
        if t != t or t < lo or t > hi:  # NaN or out of range
            self.age += 1
            return self._bad("implausible %r" % (t,))
        self.raw = t
        prev = self.last
        if prev is not None and abs(t - prev) > max_step * self.age:
            self.suspect = True
            self.same = 0
            return self._bad("step %.2f K" % (t - prev))
        if prev is not None and t == prev:
            self.same += 1
            if self.same >= stuck_n:
                return self._bad("stuck at %.3f" % t)
        else:
            self.same = 0
        return self._accept(t)

    def rebase(self):
        """Accept the present (stepped) reading: another sensor agrees with it."""
        self.same = 0
        return self._accept(self.raw)

    def _accept(self, t):
        self.last = t
        self.age = 1
        self.suspect = False
        self.reason = ""
        return t

    def _bad(self, why):
        self.faults += 1
        self.reason = why
        return None


class BiasControl:
    name = "bias"

    def __init__(self, app, bias_supply, temps, power, period_us=500000):
        self.app = app
        self.supply = bias_supply
        self.checks = [SensorCheck(s) for s in temps]
        self.power = power
        self.period_us = period_us
        self.state = OFF
        self.handlers = {"BIAS_SET_OVERVOLTAGE": self.cmd_set_overvoltage}
        self.v_cmd = None  # type: Any
        self.v_target = None
        self.t_used = None  # type: Any
        self.t_est = None  # type: Any
        self.source = -1  # sensor index in use, -1 none
        self.dtdt = 0.0
        self._t_prev = None
        self._gap = 0
        self.hold_s = 0.0
        self.readback_bad = 0
        self.readback_v = None
        self.updates = 0
        self.faults = 0

    def define_params(self, p):
        p.define("bias_vbr25_v", "float", 24.55, 10.0, 80.0, "V",
                 "SiPM breakdown voltage at 25 degC (calibration)")
        p.define("bias_kt_mv_per_k", "float", 21.5, 0.0, 100.0, "mV/K",
                 "breakdown temperature coefficient (paper App. A)")
        p.define("bias_vov_v", "float", 3.0, 0.5, 6.0, "V", "over-voltage target")
        p.define("bias_ff_tau_s", "float", 3.0, 0.0, 60.0, "s",
                 "sensor lag compensated by dT/dt feed-forward (0: off)")
        p.define("bias_ff_filter", "float", 0.3, 0.01, 1.0, "",
                 "low-pass weight of the dT/dt estimate per update")
        p.define("bias_t_min_c", "float", -50.0, -60.0, 20.0, "degC", "plausible low")
        p.define("bias_t_max_c", "float", 100.0, 30.0, 130.0, "degC", "plausible high")
        p.define("bias_max_step_c", "float", 2.0, 0.05, 20.0, "K", "largest plausible change per update")
        p.define("bias_stuck_n", "int", 8, 3, 1000, "updates",
                 "identical readings that mean stuck (noise 0.01 K at 7.8 mK resolution: "
                 "8 equal in a row by chance ~5e-6 per update)")
        p.define("bias_hold_max_s", "float", 10.0, 0.5, 600.0, "s",
                 "hold-last-good time before safe bias and FAULT")
        p.define("bias_ramp_v_per_s", "float", 8.0, 0.1, 50.0, "V/s", "bias slew limit")
        p.define("bias_readback_tol_v", "float", 0.05, 0.001, 2.0, "V", "read-back tolerance")
        p.define("bias_safe_v", "float", 21.0, 0.0, 80.0, "V",
                 "safe bias, below breakdown at any plausible temperature")

    def cmd_set_overvoltage(self, args):
        self.app.params.set("bias_vov_v", args["volts"])
        return True, None, {"volts": args["volts"]}

    def tasks(self):
        from flight.scheduler import Task

        return [Task("sipm_bias", self.period_us, self.update, offset_us=1000,
                     budget_us=20000, critical=False, max_faults=5)]

    # ------------------------------------------------------------------ session hooks
    def start_session(self):
        self.power.set(_SW_SIPM_BIAS, True)
        self.supply.init()  # output at its lowest code, below breakdown
        self.v_cmd = self.supply.limits()[0]
        self._t_prev = None
        self._gap = 0
        self.t_used = None  # never hold a temperature from an earlier session
        self.t_est = None
        self.source = -1
        self.dtdt = 0.0
        self.hold_s = 0.0
        self.readback_bad = 0
        self.state = RAMP
        self.update()

    def session_ready(self):
        return self.state in (ACTIVE, HOLD, FAULT)

    def stop_session(self):
        self._safe_bias()
        try:
            self.power.set(_SW_SIPM_BIAS, False)
        finally:
            self.state = OFF

    def safe(self):
        self.stop_session()

    def _safe_bias(self):
        lo, hi = self.supply.limits()
        v = self.app.params["bias_safe_v"]
        v = lo if v < lo else (hi if v > hi else v)
        try:
            self.v_cmd = self.supply.set_volts(v)
        except Exception:
            self.faults += 1

    # ------------------------------------------------------------------ 500 ms update
    def _temperature(self):
        p = self.app.params
        lo = p["bias_t_min_c"]
        hi = p["bias_t_max_c"]
        step = p["bias_max_step_c"]
        stuck = p["bias_stuck_n"]
        checks = self.checks
        # Every sensor is read each update so its plausibility history stays current.
        vals = [chk.read(lo, hi, step, stuck) for chk in checks]
        # A stepped sensor that agrees with another sensor's reading is re-accepted
        # (after an outage the temperature may have moved on).
        for i, chk in enumerate(checks):
            if vals[i] is None and chk.suspect:
                for j, other in enumerate(checks):
                    if j != i and other.raw is not None and abs(chk.raw - other.raw) <= step:
                        vals[i] = chk.rebase()
                        break
        for i, t in enumerate(vals):
            if t is None:
                continue
            if self.source != i:
                if i > 0:
                    self.app.emit(events.SEV_WARN, EV_BIAS_SENSOR,
                                  "temperature from sensor %d (sensor 0: %s)" % (
                                      i, checks[0].reason), [i])
                elif self.source > 0 or self.hold_s > 0:
                    self.app.emit(events.SEV_INFO, EV_BIAS_RECOVERED,
                                  "temperature from sensor 0 again", [0])
                self.source = i
            return t
        if self.source != -1:
            self.app.emit(events.SEV_ERROR, EV_BIAS_HOLD,
                          "no valid temperature (%s): holding %.2f degC" % (
                              "; ".join(c.reason for c in checks), self.t_used
                              if self.t_used is not None else float("nan")))
            self.source = -1
        return None

    def update(self):
        if self.state == OFF:
            return
        p = self.app.params
        dt = self.period_us * 1e-6
        self._gap += 1  # updates since the last good reading
        t = self._temperature()
        if t is None:
            if self.state == FAULT:
                return
            self.hold_s += dt
            if self.t_used is None or self.hold_s >= p["bias_hold_max_s"]:
                self._fault("temperature unavailable for %.1f s" % self.hold_s)
                return
            if self.state != RAMP:
                self.state = HOLD
            t_est = self.t_est  # hold the last good estimate, no extrapolation
        else:
            if self.state == FAULT:
                return  # FAULT is left only by a new session (or SAFE → STANDBY → SESSION)
            self.hold_s = 0.0
            if self._t_prev is not None:
                slope = (t - self._t_prev) / (dt * self._gap)  # a hold spans several
                a = p["bias_ff_filter"]
                self.dtdt += a * (slope - self.dtdt)
            self._t_prev = t
            self._gap = 0
            self.t_used = t
            t_est = t + p["bias_ff_tau_s"] * self.dtdt
            if self.state == HOLD:
                self.state = ACTIVE
        self.t_est = t_est
        target = p["bias_vbr25_v"] + p["bias_kt_mv_per_k"] * 1e-3 * (t_est - 25.0) + p["bias_vov_v"]
        lo, hi = self.supply.limits()
        target = lo if target < lo else (hi if target > hi else target)
        self.v_target = target
        v = target
        if self.v_cmd is not None:
            max_dv = p["bias_ramp_v_per_s"] * dt
            if v > self.v_cmd + max_dv:
                v = self.v_cmd + max_dv
            elif v < self.v_cmd - max_dv:
                v = self.v_cmd - max_dv
        try:
            self.v_cmd = self.supply.set_volts(v)
        except Exception as e:
            self.faults += 1
            self.app.emit(events.SEV_WARN, EV_BIAS_FAULT, "bias write failed: %r" % (e,))
            return
        self.updates += 1
        if self.state == RAMP and abs(self.v_cmd - target) < 0.01:
            self.state = ACTIVE
        self._check_readback(p)

    def _check_readback(self, p):
        try:
            rb = self.supply.read_back_v()
        except Exception:
            rb = None
        self.readback_v = rb
        if rb is not None and abs(rb - self.v_cmd) <= p["bias_readback_tol_v"]:
            self.readback_bad = 0
            return
        self.readback_bad += 1
        if self.readback_bad == 3:
            self.app.emit(events.SEV_WARN, EV_BIAS_READBACK,
                          "read-back %r V vs %.3f V commanded" % (rb, self.v_cmd))
        if self.readback_bad >= 10:
            self._fault("read-back mismatch")

    def _fault(self, why):
        self.faults += 1
        self._safe_bias()
        self.state = FAULT
        self.app.emit(events.SEV_ERROR, EV_BIAS_FAULT, "safe bias: " + why)

    # ------------------------------------------------------------------ telemetry
    def hk(self, d):
        d["bias"] = {"state": STATE_NAMES[self.state], "v_cmd": self.v_cmd,
                     "v_target": self.v_target, "v_readback": self.readback_v,
                     "t_c": self.t_used, "t_est_c": self.t_est, "dtdt_k_s": self.dtdt,
                     "sensor": self.source, "sensor_faults": [c.faults for c in self.checks],
                     "faults": self.faults}

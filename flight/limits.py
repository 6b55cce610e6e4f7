"""The payload's own limit check (DESIGN §3.2, health task): board temperatures, tripped
load switches and switch currents against their parameters.  A violation that persists
``limit_persist`` checks in a row sends the payload to SAFE with its cause; a sensor
that cannot be read is the bias module's business (flight/thermal_sensors.py), not a
limit.  Its own module so the application stays a wiring of parts.

Temperatures: the limit trusts what the bias module's sensor selection trusts
(``thermal``, its :class:`flight.thermal_sensors.ThermalSensors`, wired by
flight/payload.py).  Doubtful, and not read while another sensor gives a reading: a
sensor the cross-check excluded (``excluded``), one whose reading the last bias update
rejected — out of range, a step, stuck (``rejected``, THERMAL_SENSOR_BAD) — and a
reading out of the plausible range (``lo_c``..``hi_c``) at once: the bias rejects it at
its next update, up to 500 ms later, when ``limit_persist`` checks of 100 ms could
already have tripped (half the phases of a sensor failing to 200 degC did).  A bad
sensor must neither trip SAFE (the session would be lost to it: one reading 200 degC
beside one at 25) nor hide a real over-temperature that the trusted sensor sees.  If no
trusted sensor gives a reading, the doubtful ones count after all (the cause says so): a
doubtful reading is better than none for a limit, and sensors that all read over it are
no bad sensor.  In an undecidable disagreement (THERMAL_SENSORS_DISAGREE) no sensor is
excluded, so every plausible one counts (fail safe; the bias then loses its thermal
knowledge anyway).  A sensor stepping within the plausible range is doubted from the
next bias update only; between sessions ``rejected`` is the last session's.

The power monitor (switch trips, currents) that cannot be read is no "all clear": each
failure is counted (``monitor_errors``) and said (LIMIT_MONITOR_ERROR at the 1st, 2nd,
4th ... time), and a check that could not read it counts as out of limits, so a monitor
unreadable ``limit_persist`` checks in a row sends the payload to SAFE ("power monitor
unreadable"): the over-current protection is never blind in silence (stop 58)."""

from flight.cmddict import SAFE
from flight.modes import EV_LIMIT_MONITOR_ERROR, EV_LIMIT_VIOLATION
from hal.interfaces import N_SWITCHES

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any  # noqa: F401  (type comments)


class LimitCheck:
    def __init__(self, board, params, modes, emit):
        self.board = board
        self.params = params
        self.modes = modes
        self.emit = emit
        self.violations = 0  # limit-triggered SAFE entries (core housekeeping)
        self.monitor_errors = 0  # power monitor reads that failed
        self._count = 0  # consecutive checks out of limits
        self._currents = [0] * N_SWITCHES  # filled in place by the power device
        self.thermal = None  # the sensor cross-check (flight/thermal_sensors.py), if any

    def _temperature_violation(self, params):
        """The first temperature out of limits, as text, or None.  Doubtful sensors
        (excluded, rejected, implausible now) count only when no other sensor gives a
        reading (module docstring)."""
        temps = self.board.temps
        thermal = self.thermal
        excluded = rejected = lo = hi = None  # type: Any
        if thermal is not None:  # (attributes and indexing: no call per sensor)
            excluded = thermal.excluded
            rejected = thermal.rejected
            lo = thermal.lo_c
            hi = thermal.hi_c
        bad = None
        read = 0
        odd = -1  # a sensor over the limit but out of the plausible range: its reading
        t_odd = 0.0
        t_max = params["temp_max_c"]  # (each lookup is a method call: once a check)
        t_min = params["temp_min_c"]
        for i in range(len(temps)):  # (no enumerate: its iterator is a heap object)
            if excluded is not None and (excluded[i] or rejected[i]):
                continue
            try:
                t = temps[i].read_c()
            except Exception:
                continue
            if t != t:  # NaN: no reading
                continue
            if lo is not None and (t < lo or t > hi):  # the bias's next update rejects it
                if t > t_max or t < t_min:
                    odd = i
                    t_odd = t
                continue
            read += 1
            if t > t_max or t < t_min:
                bad = "temperature %d: %.1f degC" % (i, t)
        if read or excluded is None:
            return bad
        if odd >= 0:  # (made here only: no text per check while a trusted sensor reads)
            bad = "temperature %d (implausible, no other reading): %.1f degC" % (odd, t_odd)
        for i in range(len(temps)):  # no trusted reading: the doubtful sensors after all
            if not (excluded[i] or rejected[i]):
                continue
            try:
                t = temps[i].read_c()
            except Exception:
                continue
            if t > t_max or t < t_min:
                bad = "temperature %d (%s, no other reading): %.1f degC" % (
                    i, "excluded" if excluded[i] else "rejected", t)
        return bad

    def _first_violation(self):
        """The first limit violated now, as text; None when every limit holds."""
        board = self.board
        params = self.params
        bad = self._temperature_violation(params)
        power = board.power
        if power is None or bad is not None:
            return bad
        try:  # (one call: a get and a fault a switch were ~30 k instructions a check)
            trips = power.trips() & ((1 << N_SWITCHES) - 1)  # (only switches that exist)
        except Exception as e:
            return self._monitor_failed("trips", e)
        if trips:
            sw = 0
            while not (trips >> sw) & 1:  # the first one tripped
                sw += 1
            return "switch %d tripped" % sw
        cur = self._currents
        try:
            power.currents(cur)
        except Exception as e:
            return self._monitor_failed("currents", e)
        i_max = params["current_max_ma"]
        for sw in range(N_SWITCHES):
            if cur[sw] > i_max:
                bad = "switch %d current %d mA" % (sw, cur[sw])
        return bad

    def _monitor_failed(self, what, e):
        """A power monitor read failed: counted, said; the check's violation text."""
        self.monitor_errors += 1
        n = self.monitor_errors
        if n & (n - 1) == 0:
            self.emit(EV_LIMIT_MONITOR_ERROR, [n], "power %s: %r" % (what, e))
        return "power monitor unreadable (%s)" % what

    def check(self):
        bad = self._first_violation()
        if bad is None:
            self._count = 0
            return
        self._count += 1
        if self._count >= self.params["limit_persist"] and self.modes.mode != SAFE:
            self.violations += 1
            self.emit(EV_LIMIT_VIOLATION, None, bad)
            self.modes.enter_safe("limit: " + bad)
            self._count = 0

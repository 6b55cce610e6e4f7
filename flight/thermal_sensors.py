"""Which temperature sensor the SiPM bias may trust (DESIGN §3.4; issue 12 findings 10-11).

Each 500 ms bias update reads every sensor (flight/bias.py ``BiasControl._temperature``
calls :meth:`ThermalSensors.select`):

1. **Plausibility, one sensor at a time** (:class:`SensorCheck`, flight/thermal_check.py):
   read error, NaN, out of the plausible range, a step larger than the die can make,
   stuck.  A sensor going from usable to rejected in an update (after a stepped one the
   other sensor confirms is re-accepted) is THERMAL_SENSOR_BAD with its reason, whichever
   sensor it is — the redundant one too, whose failure selects nothing else; accepted
   again, THERMAL_SENSOR_GOOD.  A flapping sensor is said at its 1st, 2nd, 4th, 8th ...
   rejection only, and GOOD only after a BAD that was said.  ``rejected`` holds which
   sensors the last update rejected, ``lo_c``..``hi_c`` the plausible range: the
   temperature limit distrusts them too (flight/limits.py).
2. **Cross-check, the sensors against each other and against their trend.**  Two healthy
   sensors on one board differ by their static offsets only.  The offset at the first
   agreeing reading of a session is the *baseline*; while the sensors keep to it (within
   ``_QUIET_K``) the *anchor* — each sensor's reading and the common slope of the
   temperature — follows them.  When the difference departs from the baseline by more
   than ``bias_xcheck_k`` the sensors disagree: each sensor's reading is compared with
   the anchor extrapolated along the slope (the die's temperature is smooth: time
   constants of minutes, docs/physics-platform.md §4), and the sensor that left its
   trend — by more than half the tolerance, and at least twice as far as the other — is
   **excluded** (THERMAL_SENSOR_EXCLUDED).  It is re-admitted after ``_READMIT_N``
   updates back in line with the trusted sensor (THERMAL_SENSOR_READMITTED).
   When the trend cannot tell which one drifted (both left it), neither is used
   (THERMAL_SENSORS_DISAGREE): that is no thermal knowledge.
3. **Selection**: the first sensor that passed both (the primary, then the redundant one).
   No usable sensor: the bias holds its last good estimate; after ``bias_hold_max_s``
   the thermal knowledge is lost: :meth:`ThermalSensors.lost` raises THERMAL_LOST and
   requests SAFE (lasers off), the bias having gone below breakdown.

A single remaining sensor is checked for plausibility only: with one sensor a slow drift
is not observable (docs/security.md, what software cannot protect).

Fixed point (issue 11: the update allocates nothing): every reading comes from the HAL
as an integer in 1/4096 K (``TempSensor.read_q``, hal/interfaces.py ``TEMP_Q``: the bias
law's unit; the TMP117's 1/128 K readings are exact in it; a sensor with only ``read_c``
is converted by decoding its IEEE 754 bits, :func:`to_q`), the limits converted once when
they change;
the comparisons, means, offsets and the slope are integers.  Floats are made only for an
event's arguments and text, when it is emitted.
"""

from hal.compat import const
from flight.cmddict import SAFE
from flight.events import SEV_CRITICAL, SEV_ERROR, SEV_INFO, SEV_WARN, Event
from flight.params import ParamDef
# Step 1, one sensor's plausibility, is flight/thermal_check.py's (re-exported: the tests
# and the bias module import SensorCheck and to_q from here).
from flight.thermal_check import SensorCheck, _ceil_q, to_q  # noqa: F401

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any  # noqa: F401  (type comments)

# The sensor events keep the bias module's id range (0x6_): the selection is the bias
# module's, in its own file.  That range is full: the plausibility edges take the
# overflow range 0x9_ (flight/events.py).
EV_BIAS_SENSOR = const(0x60)
EV_BIAS_HOLD = const(0x61)
EV_BIAS_RECOVERED = const(0x64)
EV_THERMAL_EXCLUDED = const(0x6A)
EV_THERMAL_READMITTED = const(0x6B)
EV_THERMAL_DISAGREE = const(0x6C)
EV_THERMAL_LOST = const(0x6D)
EV_THERMAL_BAD = const(0x92)
EV_THERMAL_GOOD = const(0x93)

EVENTS = (
    Event(EV_BIAS_SENSOR, "BIAS_SENSOR_FAULT", SEV_WARN,
          "primary temperature sensor bad: another one in use", (("sensor", "int"),)),
    Event(EV_BIAS_HOLD, "BIAS_HOLD_LAST_GOOD", SEV_ERROR,
          "no valid temperature: last good estimate held", (("t_c", "float"),)),
    Event(EV_BIAS_RECOVERED, "BIAS_SENSOR_RECOVERED", SEV_INFO,
          "temperature from the primary sensor again", (("sensor", "int"),)),
    Event(EV_THERMAL_EXCLUDED, "THERMAL_SENSOR_EXCLUDED", SEV_WARN,
          "a temperature sensor disagrees with the others and with the trend: excluded",
          (("sensor", "int"), ("disagreement_k", "float"))),
    Event(EV_THERMAL_READMITTED, "THERMAL_SENSOR_READMITTED", SEV_INFO,
          "an excluded temperature sensor agrees again: back in use", (("sensor", "int"),)),
    Event(EV_THERMAL_DISAGREE, "THERMAL_SENSORS_DISAGREE", SEV_ERROR,
          "temperature sensors disagree and the trend cannot tell which is wrong: "
          "neither used", (("disagreement_k", "float"),)),
    Event(EV_THERMAL_LOST, "THERMAL_LOST", SEV_CRITICAL,
          "no usable temperature sensor for bias_hold_max_s: SAFE requested",
          (("held_s", "float"),)),
    Event(EV_THERMAL_BAD, "THERMAL_SENSOR_BAD", SEV_WARN,
          "a temperature sensor fails its plausibility check (1st, 2nd, 4th ... time)",
          (("sensor", "int"), ("count", "int"))),
    Event(EV_THERMAL_GOOD, "THERMAL_SENSOR_GOOD", SEV_INFO,
          "a temperature sensor said bad passes its plausibility check again",
          (("sensor", "int"),)),
)

PARAMS = (
    # Two TMP117 (hal/interfaces.py TempSensor) on one board: each +-0.2 K over its full
    # range (datasheet), so two healthy sensors move apart by at most 0.4 K, plus 0.2 K
    # assumed for a gradient change between their positions.
    ParamDef("bias_xcheck_k", "float", 0.6, 0.2, 5.0, "K",
             "largest change of the difference between the temperature sensors before "
             "the one that left its trend is excluded"),
)

# Quiet band of the spread of the offset-corrected readings (K): the difference of two
# readings has 0.014 K RMS noise (sim/thermal.py SENSOR_NOISE_K x sqrt 2) plus 7.8 mK
# quantisation: 0.1 K is 7 sigma, so the anchor freezes only when the sensors part.
_QUIET_Q = const(409)  # 0.1 K in 1/4096 K (a spread is an integer: <= 409.6 is <= 409)
# Weight of the slope filter per update (500 ms): 1/20, ~10 s of memory, so the slope in
# the anchor is the temperature's, hardly the few updates of a starting drift.
_SLOPE_N = const(20)
_Q = const(4096)  # temperatures in 1/4096 K; the slope in 1/(4096 x 16) K per update
_SQ = const(16)
# Updates (500 ms) an excluded sensor must agree with the trusted one to be used again:
# 10 s, longer than any glitch the step check lets through.
_READMIT_N = const(20)


def _spread(vals, base, idx, n):
    """Largest minus smallest of ``vals[i] - base[i]`` (``base`` None: of ``vals[i]``)
    over the first ``n`` indices ``idx`` (integers; no generator: nothing allocated)."""
    i = idx[0]
    lo = hi = vals[i] if base is None else vals[i] - base[i]
    for k in range(1, n):
        i = idx[k]
        v = vals[i] if base is None else vals[i] - base[i]
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
    return hi - lo


class ThermalSensors:
    """The sensor selection of one bias module (``ctx``: flight.context.Context)."""

    def __init__(self, ctx, temps):
        self.ctx = ctx
        n = len(temps)
        self.checks = [SensorCheck(s) for s in temps]
        self.excluded = [False] * n
        self._agree = [0] * n
        # Per-update work lists, preallocated: the 500 ms update allocates nothing
        # (DESIGN §3.1, steady-state garbage; issue 11).
        self._vals = [None] * n  # type: list
        self._qs = [0] * n  # the plausible readings in 1/4096 K
        self._base = [0] * n  # offsets to the first sensor at the first agreement, 1/4096 K
        self._anchor = [0] * n  # readings at the last quiet update, 1/4096 K
        self._step_f = None  # type: Any  # the limits as last converted (float, 1/4096 K)
        # The plausible range, degC, as last read (None before the first update): public
        # for the limit check, which doubts a reading outside it at once — its checks
        # (100 ms) would otherwise trip SAFE before the next update rejects the sensor.
        self.lo_c = None  # type: Any
        self._lo_q = 0
        self.hi_c = None  # type: Any
        self._hi_q = 0
        self._step_q = 0
        self._tol_f = None  # type: Any
        self._tol_q = 0
        self._ok = bytearray(n)  # indices of the plausible readings (first _n_ok)
        self._trusted = bytearray(n)  # and of those not excluded (first _n_tr)
        self._n_ok = 0
        self._n_tr = 0
        self.exclusions = 0  # sensors excluded by the cross-check (all sessions)
        # The plausibility edges (THERMAL_SENSOR_BAD/GOOD), kept across sessions: an
        # edge is the sensor's change, and a GOOD owed is owed still.
        self.rejected = bytearray(n)  # 1: the last update rejected the sensor's reading
        self._rejections = [0] * n  # its usable → rejected edges (the 1, 2, 4 ... rule)
        self._said = bytearray(n)  # 1: its last rejection was said (a GOOD owed)
        self.source = -1  # sensor in use, -1 none
        self.switched = False  # the last select() changed to another sensor
        self.disagree = False  # in an undecidable disagreement
        self._last = -1  # the last sensor used (survives a hold)
        self._held = False
        self._has_base = False
        self._has_anchor = False
        self._age = 0  # updates since the anchor
        self._slope = 0  # 1/65536 K per update, of the trusted sensors' offset-corrected mean
        self._n_slopes = 0
        self._mean = None  # type: Any  # that mean at the last quiet update, 1/4096 K
        self.start()

    def start(self):
        """A new session: no baseline, no anchor, every sensor admitted again."""
        self.source = -1
        self._last = -1
        self._held = False
        self.disagree = False
        for i in range(len(self.checks)):
            self.excluded[i] = False
            self._agree[i] = 0
        self._has_base = False
        self._has_anchor = False
        self._age = 0
        self._slope = 0
        self._n_slopes = 0
        self._mean = None

    # ------------------------------------------------------------------ per update
    def select(self, held=None):
        """The temperature to use this update in 1/4096 K, or None (``held``: the
        estimate the bias then holds, 1/4096 K, for the event); sets ``source`` and
        ``switched``."""
        p = self.ctx.params
        lo = p["bias_t_min_c"]
        if lo is not self.lo_c:  # (each converted when its parameter changes only)
            self.lo_c = lo
            self._lo_q = _ceil_q(lo)  # (an integer reading is >= lo iff >= this)
        hi = p["bias_t_max_c"]
        if hi is not self.hi_c:
            self.hi_c = hi
            self._hi_q = -_ceil_q(-hi)
        step = p["bias_max_step_c"]
        if step is not self._step_f:
            self._step_f = step
            self._step_q = int(step * _Q)
        lo = self._lo_q
        hi = self._hi_q
        step = self._step_q
        tol = p["bias_xcheck_k"]
        if tol is not self._tol_f:  # floored: an integer spread is <= tol iff <= tol_q
            self._tol_f = tol
            self._tol_q = int(tol * _Q)
        stuck = p["bias_stuck_n"]
        checks = self.checks
        n = len(checks)
        # Every sensor is read each update so its plausibility history stays current.
        vals = self._vals
        qs = self._qs
        for i in range(n):
            vals[i] = checks[i].read(lo, hi, step, stuck)
            qs[i] = checks[i].last_q
        # A stepped sensor that agrees with another sensor's reading is re-accepted
        # (after an outage the temperature may have moved on).
        for i in range(n):
            chk = checks[i]
            if vals[i] is None and chk.suspect:
                for j in range(n):
                    other = checks[j]
                    if j != i and other.raw is not None and abs(chk.raw_q - other.raw_q) <= step:
                        vals[i] = chk.rebase()
                        qs[i] = chk.last_q
                        break
        self._edges(vals)  # (after the re-accept: a confirmed step is no rejection)
        self._cross_check(vals, qs, self._tol_q)
        self.switched = False
        for i in range(n):
            t = vals[i]
            if t is None or self.excluded[i] or self.disagree:
                continue
            if self.source != i:
                if i > 0:
                    self.ctx.emit(EV_BIAS_SENSOR, [i], "temperature from sensor %d "
                                  "(sensor 0: %s)" % (i, self._why(0)))
                elif self._last > 0 or self._held:
                    self.ctx.emit(EV_BIAS_RECOVERED, [0])
                self.source = i
            self.switched = self._last >= 0 and self._last != i
            self._last = i
            self._held = False
            return t
        if self.source != -1:
            t = held / _Q if held is not None else float("nan")
            self.ctx.emit(EV_BIAS_HOLD, [t], "no valid temperature (%s): holding %.2f degC"
                          % (self._whys(), t))
            self.source = -1
            self._held = True
        return None

    def _edges(self, vals):
        """Say a sensor's plausibility changing (integers and octets: nothing allocated
        unless an event is emitted).  A sensor flapping between good and bad would fill
        the event log: its rejections are said at the 1st, 2nd, 4th, 8th ... time, and
        its return only when that rejection was said."""
        rej = self.rejected
        said = self._said
        for i in range(len(vals)):
            if vals[i] is None:
                if rej[i]:
                    continue
                rej[i] = 1
                c = self._rejections[i] + 1
                self._rejections[i] = c
                if c & (c - 1) == 0:
                    said[i] = 1
                    self.ctx.emit(EV_THERMAL_BAD, [i, c], "sensor %d rejected: %s (rejection "
                                  "%d; said at the 1st, 2nd, 4th ...)"
                                  % (i, self.checks[i].reason, c))
            elif rej[i]:
                rej[i] = 0
                if said[i]:
                    said[i] = 0
                    self.ctx.emit(EV_THERMAL_GOOD, [i], "sensor %d plausible again" % i)

    def _why(self, i):
        if self.excluded[i]:
            return "excluded by the cross-check"
        if self.disagree and self.checks[i].reason == "":
            return "sensors disagree"
        return self.checks[i].reason

    def _whys(self):
        return "; ".join("sensor %d: %s" % (i, self._why(i)) for i in range(len(self.checks)))

    def _cross_check(self, vals, qs, tol):
        """Exclude a sensor that parted from the others and from the trend; re-admit one
        back in line (``vals``: plausible readings or None; ``qs`` the same in 1/4096 K,
        ``tol`` too)."""
        n = len(vals)
        self._age += 1
        ok = self._ok  # (index lists in preallocated octets: no list per update)
        n_ok = 0
        for i in range(n):
            if vals[i] is not None:
                ok[n_ok] = i
                n_ok += 1
        self._n_ok = n_ok
        if n_ok < 2:
            return
        base = self._base
        if not self._has_base:
            # The baseline: offsets to the first plausible sensor at the first reading
            # where the plausible ones agree within the tolerance.  Before it, sensors
            # that disagree cannot be told apart.
            r = qs[ok[0]]
            spread = _spread(qs, None, ok, n_ok)
            if spread > tol:
                self._undecided(spread, "at the start of the session")
                return
            for i in range(n):
                base[i] = 0
            for k in range(n_ok):
                i = ok[k]
                base[i] = qs[i] - r
            self._has_base = True
        trusted = self._trusted
        n_tr = 0
        for k in range(n_ok):
            i = ok[k]
            if not self.excluded[i]:
                trusted[n_tr] = i
                n_tr += 1
        self._n_tr = n_tr
        if not n_tr:
            return
        ref = 0
        for k in range(n_tr):
            i = trusted[k]
            ref += qs[i] - base[i]
        ref //= n_tr
        self._readmit(qs, ok, base, ref, tol)
        if n_tr < 2:
            return
        spread = _spread(qs, base, trusted, n_tr)
        if spread <= _QUIET_Q:
            self._quiet(vals, qs, base, ref)
            self.disagree = False
            return
        if spread <= tol:
            return
        if not self._has_anchor:
            self._undecided(spread, "no trend yet")
            return
        self._parted(qs, n_tr, spread, tol)

    def _parted(self, qs, n_tr, spread, tol):
        """The sensors parted: exclude the one that left its trend, or neither.  (Its own
        method: a comprehension's closure makes its variables cells, allocated at every
        entry of the function that holds it.)"""
        # Each sensor against its own reading at the anchor, moved along the slope (a
        # disagreement: rare, so the lists of this path are built here).
        anchor = self._anchor
        tr = list(self._trusted[:n_tr])
        drift = self._slope * self._age // _SQ
        off = [abs(qs[i] - anchor[i] - drift) for i in tr]
        k = 0
        for j in range(1, len(off)):
            if off[j] > off[k]:
                k = j
        second = 0
        for j in range(len(off)):
            if j != k and off[j] > second:
                second = off[j]
        if off[k] * 2 > tol and second * 2 <= off[k]:
            bad = tr[k]
            self.excluded[bad] = True
            self._agree[bad] = 0
            self.exclusions += 1
            self.checks[bad].faults += 1
            self.disagree = False
            self.ctx.emit(EV_THERMAL_EXCLUDED, [bad, spread / _Q],
                          "sensor %d excluded: the sensors parted by %.2f K beyond their "
                          "offset; sensor %d is %.2f K off the trend, the others <= %.2f K"
                          % (bad, spread / _Q, bad, off[k] / _Q, second / _Q))
        else:
            self._undecided(spread, "the trend cannot tell which (off by %s K)" % ", ".join(
                "%.2f" % (x / _Q) for x in off))

    def _quiet(self, vals, qs, base, ref):
        """The sensors keep their offsets: move the anchor and the slope on."""
        if self._mean is not None:
            s = (ref - self._mean) * _SQ // self._age  # per update, across skipped updates
            # A running mean over the first slopes of the session, then exponential.
            self._n_slopes += 1
            w = self._n_slopes if self._n_slopes < _SLOPE_N else _SLOPE_N
            self._slope += (s - self._slope) // w
        self._mean = ref
        anchor = self._anchor
        self._has_anchor = True
        for i in range(len(vals)):
            anchor[i] = qs[i] if vals[i] is not None else ref + base[i]
        self._age = 0

    def _undecided(self, spread, why):
        if not self.disagree:
            self.disagree = True
            self.ctx.emit(EV_THERMAL_DISAGREE, [spread / _Q],
                          "temperature sensors %.2f K apart beyond their offset, %s: "
                          "neither used" % (spread / _Q, why))

    def _readmit(self, qs, ok, base, ref, tol):
        for k in range(self._n_ok):
            i = ok[k]
            if not self.excluded[i]:
                continue
            if abs(qs[i] - base[i] - ref) * 2 <= tol:
                self._agree[i] += 1
                if self._agree[i] >= _READMIT_N:
                    self.excluded[i] = False
                    self._agree[i] = 0
                    self.ctx.emit(EV_THERMAL_READMITTED, [i],
                                  "sensor %d back in line for %d updates" % (i, _READMIT_N))
            else:
                self._agree[i] = 0

    # ------------------------------------------------------------------ loss
    def lost(self, held_s):
        """No usable sensor for ``bias_hold_max_s``: no thermal knowledge, so SAFE."""
        self.ctx.emit(EV_THERMAL_LOST, [held_s], "no usable temperature for %.1f s (%s): "
                      "SAFE" % (held_s, self._whys()))
        self.ctx.request_mode(SAFE, "thermal knowledge lost")

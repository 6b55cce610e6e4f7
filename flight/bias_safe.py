"""The SiPM bias module's ways below breakdown (DESIGN §3.4): the base of
:class:`flight.bias.BiasControl`, its own module so that the loop keeps to one file.

* **FAULT** (no temperature for ``bias_hold_max_s``, the read-back off or unreadable,
  bias writes failing in a row): the safe bias ``bias_safe_v`` — below breakdown at any
  plausible temperature — is written to the supply, the module stays in FAULT until the
  next session (BIAS_FAULT).
* **The safe bias cannot be written** (the DAC's HalError): the supply would stay at its
  last command, above breakdown while the session ran.  Its load switch is the only way
  left: it is opened (BIAS_SUPPLY_CUT, ``cut`` true; false when the switch failed too).
* **The session's end** (and SAFE): the safe bias, then the supply switched off.  A
  switch that fails is counted (``faults``, HK ``bias_faults``) and said
  (BIAS_SUPPLY_CUT, ``cut`` false), not raised: the module is OFF either way, and a
  raised error reached the mode change only as a generic MODULE_HOOK_FAILED, counted
  nowhere in the bias's telemetry.
* **A failed bias write** (the 500 ms update's too): counted, BIAS_WRITE_ERROR at the
  1st, 101st ... time; ``_WRITE_FAULT_RUN`` in a row, FAULT.

Rare paths: an event's text is made on an edge, never in the update's steady state.
"""

from hal.compat import const
from hal.errors import HalError
from hal.interfaces import BIAS_FAULT as FAULT, BIAS_OFF as OFF, SW_SIPM_BIAS

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any  # noqa: F401  (type comments)

# Declared in flight/bias.py's EVENTS (the component's), which imports them.
EV_BIAS_FAULT = const(0x62)
EV_BIAS_WRITE_ERROR = const(0x65)
# The bias range 0x6_ is full: the supply's cut takes the overflow range 0x9_
# (flight/events.py).
EV_BIAS_SUPPLY_CUT = const(0x94)

_ERR_REPORT = const(100)  # a repeated device error is reported on its 1st, 101st, ... time
_WRITE_FAULT_RUN = const(6)  # bias writes failing 6 updates (3 s) in a row: BIAS_FAULT


class BiasSafe:
    """The supply's safe states and the faults that lead there (module docstring)."""

    def __init__(self, ctx, supply, power):
        self.ctx = ctx
        self.supply = supply
        self.power = power
        self.state = OFF
        self._cmd_uv = None  # type: Any  # µV commanded (what the supply returned)
        self._v_uv = None  # type: Any  # the same requested, µV (the slew's base)
        self._override = None  # type: Any  # bias held by a knee sweep (flight/bias_knee.py)
        self.faults = 0  # bias writes that failed, FAULT entries, supply switch failures
        self.write_errors = self._write_run = 0  # (the run: consecutive failed writes)

    def stop_session(self):
        ok = self._safe_bias()
        try:
            self.power.set(SW_SIPM_BIAS, False)
        except HalError as e:
            self.faults += 1
            self.ctx.emit(EV_BIAS_SUPPLY_CUT, [False], "session end: the SiPM supply's switch "
                          "failed (%r), the supply stays on%s" % (
                              e, "" if ok else ", the safe bias unwritten too"))
        finally:
            self.state = OFF  # (whatever failed: nothing more this module can do)

    def safe(self):
        self.stop_session()

    def _safe_bias(self):
        """Write the safe bias (below breakdown); False when the write failed (counted)."""
        lo, hi = self.supply.limits()
        v = self.ctx.params["bias_safe_v"]
        v = lo if v < lo else (hi if v > hi else v)
        try:
            u = int(v * 1e6 + 0.5)  # µV, rounded (a supply's volts: >= 0)
            self._cmd_uv = self.supply.set_uv(u)
            self._v_uv = u
        except HalError as e:
            self._write_error(e)
            return False
        return True

    def _fault(self, why):
        self.faults += 1
        self._override = None
        # FAULT first: a failing safe write counts toward the write run, which must not
        # enter FAULT a second time from inside this one.
        self.state = FAULT
        ok = self._safe_bias()
        self.ctx.emit(EV_BIAS_FAULT, None, "safe bias: " + why)
        if not ok:
            self._cut_supply()

    def _cut_supply(self):
        """The safe bias could not be written: switch the supply off, the only way left
        to put the SiPM below breakdown (a new session switches it on again)."""
        try:
            self.power.set(SW_SIPM_BIAS, False)
        except HalError as e:
            self.faults += 1
            self.ctx.emit(EV_BIAS_SUPPLY_CUT, [False], "the safe bias write failed, and "
                          "switching the SiPM supply off failed too: %r" % (e,))
            return
        self.ctx.emit(EV_BIAS_SUPPLY_CUT, [True], "the safe bias write failed: the SiPM "
                      "supply switched off")

    def _write_error(self, e):
        self.faults += 1
        self.write_errors += 1
        if self.write_errors % _ERR_REPORT == 1:
            self.ctx.emit(EV_BIAS_WRITE_ERROR, [self.write_errors], "bias write: %r" % (e,))
        # failing update after update, the bias is frozen while the die's temperature moves
        self._write_run += 1
        if self._write_run == _WRITE_FAULT_RUN and self.state != FAULT:
            self._fault("%d bias writes in a row failed" % _WRITE_FAULT_RUN)

"""Named, typed, ranged parameters; set/get by TC; persisted power-safely (DESIGN §3.7).

Each parameter: name, type (``"int"``, ``"float"``, ``"bool"``), default, min, max, unit,
description.  Modules define their parameters at start-up (``define``), then ``load``
restores the persisted set: the newest valid slot of a :class:`SlotStore`; values that
are unknown or out of range are skipped with an event; no valid slot → defaults (and an
event saying whether the store was empty or corrupt).

Cross-parameter rules (flight/param_rules.py) hold on every change — a PARAM_SET or a
module's ``set`` that would break one is refused naming the rule — and at load: a stored
set that breaks a rule gets that rule's parameters back at their defaults (PARAM_INVALID
names the rule).
"""

from collections import namedtuple

from flight import cbor
from flight.cmddict import BadArg, CmdFailed
from hal.compat import const
from flight.events import SEV_ERROR, SEV_INFO, SEV_WARN, Event
from flight.param_rules import RULES
from flight.slotstore import SlotStore

EV_PARAMS_DEFAULTS = const(0x30)
EV_PARAMS_CORRUPT = const(0x31)
EV_PARAMS_SAVED = const(0x32)
EV_PARAM_INVALID = const(0x33)
EV_STORAGE_ERROR = const(0x34)
EV_REPLAY_STATE_CORRUPT = const(0x35)
EV_STORE_FALLBACK = const(0x36)

EVENTS = (
    Event(EV_PARAMS_DEFAULTS, "PARAMS_DEFAULTS", SEV_INFO, "no stored parameters: defaults"),
    Event(EV_PARAMS_CORRUPT, "PARAMS_CORRUPT", SEV_ERROR,
          "parameter store corrupt: defaults loaded"),
    Event(EV_PARAMS_SAVED, "PARAMS_SAVED", SEV_INFO, "parameters saved",
          (("generation", "int"),)),
    Event(EV_PARAM_INVALID, "PARAM_INVALID", SEV_WARN,
          "a stored parameter is unknown or out of range: skipped"),
    Event(EV_STORAGE_ERROR, "STORAGE_ERROR", SEV_ERROR, "a flash read or write failed",
          (("errors", "int"),)),
    Event(EV_REPLAY_STATE_CORRUPT, "REPLAY_STATE_CORRUPT", SEV_ERROR,
          "anti-replay state unreadable: counters below the lost mark could be replayed"),
    Event(EV_STORE_FALLBACK, "STORE_FALLBACK", SEV_WARN,
          "a stored record was damaged (torn write, bit flip): an older copy or fewer "
          "entries in use (which slot, why in the text)", (("store", "str"),)),
)

TYPES = ("int", "float", "bool")
_INF = float("inf")


class ParamError(BadArg):
    """A value that does not fit its parameter (a PARAM_SET of it is BAD_ARG)."""


APPLIES = ("now", "calibration", "session", "reboot")  # when a new value takes effect

# A parameter declaration is a record (a namedtuple: 48 B on the target, where a class
# instance with eight attributes costs 80 B); ~60 are declared.  Its strings are the
# frozen module's constants, in flash.
_ParamDef = namedtuple(  # type: ignore[name-match]  # shown as what it declares
    "ParamDef", ("name", "ptype", "default", "lo", "hi", "unit", "description", "applies"))


def ParamDef(name, ptype, default, lo, hi, unit, description, applies="now"):
    """One parameter declaration: a record read by attribute; ``default`` is checked
    against the type and range (ValueError / ParamError at import when it does not fit).

    ``applies``: when a change takes effect — "now" (the next use: every module reads
    its parameters live or through the params listener), "calibration" (the next
    calibration), "session" (the next session start), "reboot"; exported in the
    dictionary and in PARAM_SET's completion report."""
    if ptype not in TYPES:
        raise ValueError("parameter type must be one of %r" % (TYPES,))
    if applies not in APPLIES:
        raise ValueError("parameter applies must be one of %r" % (APPLIES,))
    d = _ParamDef(name, ptype, default, lo, hi, unit, description, applies)
    v = check(d, default)
    if v is default:
        return d
    return _ParamDef(name, ptype, v, lo, hi, unit, description, applies)


def check(d, value):
    """The value converted to the type of parameter ``d``; ParamError when it does not
    fit."""
    t = d.ptype
    if t == "bool":
        if value is True or value is False:
            return value
        raise ParamError("%s: expected bool" % d.name)
    if value is True or value is False or not isinstance(value, (int, float)):
        raise ParamError("%s: expected %s" % (d.name, t))
    # NaN and infinities first: int(inf) raises OverflowError, which is not a
    # ParamError and would make one bad stored value discard the whole set.
    if isinstance(value, float) and (value != value or value in (_INF, -_INF)):
        raise ParamError("%s: not a finite number" % d.name)
    if t == "int":
        if not isinstance(value, int):
            if int(value) != value:
                raise ParamError("%s: expected int" % d.name)
            value = int(value)
    else:
        value = float(value)
    if value < d.lo or value > d.hi:
        raise ParamError("%s: %r outside [%r, %r] %s" % (d.name, value, d.lo, d.hi, d.unit))
    return value


def param_map(d):
    """The exported dictionary's entry of one declaration (without its owner)."""
    return {"name": d.name, "type": d.ptype, "default": d.default,
            "min": d.lo, "max": d.hi, "unit": d.unit, "description": d.description,
            "applies": d.applies}


class Params:
    """The parameter table; owner of the PARAM_* commands.  ``emit(ev_id, args,
    detail)`` and ``storage_error(what, exc)`` are the app's (None in unit tests)."""

    def __init__(self, storage=None, name="params", emit=None, storage_error=None,
                 rules=RULES):
        self.emit = emit
        self.rules = rules  # flight/param_rules.py Rule tuple
        self.storage_error = storage_error
        self.defs = {}
        # [(component, its PARAMS tuple)]: the order and owners without a list and a dict
        # of ~100 entries each kept in RAM (read at boot, load and export only; issue 11)
        self._decls = []  # type: list
        self.values = {}
        self.store = SlotStore(storage, name) if storage is not None else None
        self.listeners = []  # fn(name, value) after a change

    def declare(self, defs, owner=""):
        """Add the ``PARAMS`` tuple of a component (ValueError on a name used twice)."""
        for d in defs:
            if d.name in self.defs:
                raise ValueError("parameter %s defined twice" % d.name)
            self.defs[d.name] = d
            self.values[d.name] = d.default
        self._decls.append((owner, defs if isinstance(defs, tuple) else tuple(defs)))

    @property
    def order(self):
        """The parameter names in declaration order (a list built on each read)."""
        return [d.name for _owner, defs in self._decls for d in defs]

    @property
    def owner(self):
        """{name: component} (a dict built on each read: the export, diagnostics)."""
        out = {}
        for owner, defs in self._decls:
            for d in defs:
                out[d.name] = owner
        return out

    def get(self, name):
        return self.values[name]

    def __getitem__(self, name):
        return self.values[name]

    def validate(self, name, value):
        d = self.defs.get(name)
        if d is None:
            raise ParamError("unknown parameter %r" % (name,))
        return check(d, value)

    def check_rules(self, name, value):
        """ParamError naming the first rule that ``name`` = ``value`` would break (the
        rules whose parameters are all declared)."""
        view = _With(self.values, name, value)
        for r in self.rules:
            if name in r.params and self._applies(r):
                why = r.check(view)
                if why:
                    raise ParamError("rule %s: %s" % (r.name, why))

    def _applies(self, rule):
        for n in rule.params:
            if n not in self.defs:
                return False
        return True

    def _enforce_rules(self, emit):
        """After a load: a broken rule's parameters back to their defaults (reported)."""
        for _ in range(len(self.rules) + 1):
            broken = None
            for r in self.rules:
                if self._applies(r):
                    why = r.check(self.values)
                    if why:
                        broken = (r, why)
                        break
            if broken is None:
                return
            r, why = broken
            for n in r.params:
                self.values[n] = self.defs[n].default
            if emit is not None:
                emit("rule %s: %s in the stored set: %s back to defaults"
                     % (r.name, why, ", ".join(r.params)))

    def set(self, name, value):
        v = self.validate(name, value)
        self.check_rules(name, v)
        self.values[name] = v
        for fn in self.listeners:
            fn(name, v)
        return v

    def load_defaults(self):
        for name in self.order:
            self.values[name] = self.defs[name].default
        for fn in self.listeners:
            fn(None, None)

    def snapshot(self):
        return dict(self.values)

    # ------------------------------------------------------------------ persistence
    def save(self):
        if self.store is None:
            raise ValueError("no storage")
        self.store.save(cbor.encode(self.values))

    def load(self, emit=None):
        """Restore the persisted set.  Returns "loaded", "empty" or "corrupt"."""
        if self.store is None:
            return "empty"
        raw = self.store.load()
        if raw is None:
            self.load_defaults()
            return "corrupt" if self.store.corrupt_slots else "empty"
        if self.store.fallback and self.emit is not None:  # the newest set may be lost
            self.emit(EV_STORE_FALLBACK, ["params"], self.store.describe())
        try:
            stored = cbor.decode(raw)
        except ValueError:
            stored = None
        if not isinstance(stored, dict):
            self.load_defaults()
            return "corrupt"
        for name in self.order:
            self.values[name] = self.defs[name].default
        for name, value in stored.items():
            try:
                self.values[name] = self.validate(name, value)
            except (ValueError, OverflowError) as e:  # ParamError is a ValueError
                if emit is not None:
                    emit(str(e))
        self._enforce_rules(emit)
        for fn in self.listeners:
            fn(None, None)
        return "loaded"

    def table(self):
        return [param_map(self.defs[n]) for n in self.order]

    # ------------------------------------------------------------------ commands
    def check_command(self, cmd, args):
        if cmd.name == "PARAM_SET":
            self.check_rules(args["name"], self.validate(args["name"], args["value"]))
        elif cmd.name == "PARAM_GET" and args["name"] not in self.defs:
            raise BadArg("name: unknown parameter %r" % (args["name"],))

    def cmd_param_set(self, args, tc):
        return {"name": args["name"], "value": self.set(args["name"], args["value"]),
                "applies": self.defs[args["name"]].applies}

    def cmd_param_get(self, args, tc):
        return {"name": args["name"], "value": self.get(args["name"])}

    def cmd_param_save(self, args, tc):
        try:
            self.save()
        except Exception as e:
            if self.storage_error is not None:
                self.storage_error("params save", e)
            raise CmdFailed("STORAGE", repr(e))
        gen = self.store.generation if self.store is not None else 0
        if self.emit is not None:
            self.emit(EV_PARAMS_SAVED, [gen], "")
        return {"generation": gen}

    def cmd_param_load_defaults(self, args, tc):
        self.load_defaults()
        return None


class _With:
    """The parameter values with one changed (what a rule sees for a proposed set)."""

    def __init__(self, values, name, value):
        self.values = values
        self.name = name
        self.value = value

    def __getitem__(self, k):
        return self.value if k == self.name else self.values[k]

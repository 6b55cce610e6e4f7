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
from flight.cmddict import C_NAME, BadArg, CmdFailed, Refused
from hal.compat import IS_MICROPYTHON, const
from flight.events import SEV_ERROR, SEV_INFO, SEV_WARN, Event
from flight import lazy
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


# A value that does not fit its parameter (a PARAM_SET of it is BAD_ARG): a
# cmddict.Refused, caught as one (the BAD_ARG constructor itself, not a class: issue 11).
ParamError = BadArg


APPLIES = ("now", "calibration", "session", "reboot")  # when a new value takes effect

# A parameter declaration is a record ``(name, ptype, default, lo, hi, unit, description,
# applies)``, read by position (P_*): in the firmware the declaration blocks are constant
# tuples in flash (tools/freeze_decl.py: no heap, where ~110 namedtuples cost ~5.8 KiB,
# issue 11); on MicroPython :func:`ParamDef` returns the same plain tuple, on CPython a
# namedtuple.  ``Params.defs[name]`` gives a namedtuple view on every interpreter (read
# by attribute: ``.lo``, ``.default``), built on each look-up; on MicroPython its type
# too (a namedtuple type is ~110 B of heap held for ever: issue 11; a look-up is rare).
P_NAME = const(0)
P_TYPE = const(1)
P_DEFAULT = const(2)
P_LO = const(3)
P_HI = const(4)
P_UNIT = const(5)
P_DESCRIPTION = const(6)
P_APPLIES = const(7)


def _view_type():
    return namedtuple(  # type: ignore[name-match]  # shown as what it declares
        "ParamDef", ("name", "ptype", "default", "lo", "hi", "unit", "description", "applies"))


_ParamDef = None if IS_MICROPYTHON else _view_type()


def _record(*fields):
    return fields if _ParamDef is None else _ParamDef(*fields)


def view(d):
    """Parameter record ``d`` readable by attribute (a namedtuple; ``d`` itself if it is
    one)."""
    t = _ParamDef if _ParamDef is not None else _view_type()
    return d if type(d) is t else t(*d)


def ParamDef(name, ptype, default, lo, hi, unit, description, applies="now"):
    """One parameter declaration: a record (P_* positions); ``default`` is checked
    against the type and range (ValueError / ParamError at import when it does not fit).

    ``applies``: when a change takes effect — "now" (the next use: every module reads
    its parameters live or through the params listener), "calibration" (the next
    calibration), "session" (the next session start), "reboot"; exported in the
    dictionary and in PARAM_SET's completion report."""
    if ptype not in TYPES:
        raise ValueError("parameter type must be one of %r" % (TYPES,))
    if applies not in APPLIES:
        raise ValueError("parameter applies must be one of %r" % (APPLIES,))
    d = _record(name, ptype, default, lo, hi, unit, description, applies)
    v = check(d, default)
    if v is default:
        return d
    return _record(name, ptype, v, lo, hi, unit, description, applies)


def check(d, value):
    """The value converted to the type of parameter ``d``; ParamError when it does not
    fit."""
    t = d[P_TYPE]
    name = d[P_NAME]
    if t == "bool":
        if value is True or value is False:
            return value
        raise ParamError("%s: expected bool" % name)
    if value is True or value is False or not isinstance(value, (int, float)):
        raise ParamError("%s: expected %s" % (name, t))
    # NaN and infinities first: int(inf) raises OverflowError, which is not a
    # ParamError and would make one bad stored value discard the whole set.
    if isinstance(value, float) and (value != value or value in (_INF, -_INF)):
        raise ParamError("%s: not a finite number" % name)
    if t == "int":
        if not isinstance(value, int):
            if int(value) != value:
                raise ParamError("%s: expected int" % name)
            value = int(value)
    else:
        value = float(value)
    lo = d[P_LO]
    hi = d[P_HI]
    if value < lo or value > hi:
        unit = d[P_UNIT]  # ("1": a ratio, no unit to show)
        raise ParamError("%s: %r outside [%r, %r]%s" % (
            name, value, lo, hi, " " + unit if unit and unit != "1" else ""))
    return value


def param_map(d):
    """The exported dictionary's entry of one declaration (without its owner)."""
    return {"name": d[P_NAME], "type": d[P_TYPE], "default": d[P_DEFAULT],
            "min": d[P_LO], "max": d[P_HI], "unit": d[P_UNIT], "description": d[P_DESCRIPTION],
            "applies": d[P_APPLIES]}



def _parse_set(raw):
    """A stored parameter set: a CBOR map (slotstore's parse: ValueError if not)."""
    d = cbor.decode(raw)
    if not isinstance(d, dict):
        raise ValueError("not a parameter map")
    return d

class Params:
    """The parameter table; owner of the PARAM_* commands.  ``emit(ev_id, args,
    detail)`` and ``storage_error(what, exc)`` are the app's (None in unit tests)."""

    def __init__(self, storage=None, name="params", emit=None, storage_error=None,
                 rules=None):
        self.emit = emit
        # A Rule tuple, or None: flight/param_rules.py's, loaded for each check
        # (flight/lazy.py) and released after it where the code is frozen (the
        # firmware: 0.8 kB of heap not held); held where it is loaded from a file (the
        # VM's .mpy loads left more behind than the module holds).
        self.rules = rules
        self._hold = False  # hold_rules: a batch of changes keeps the loaded rules
        self._held = None
        self.storage_error = storage_error
        # [(component, its PARAMS tuple)]: the declarations, searched in place (no
        # {name: ParamDef} dict of ~110 entries kept in RAM, ~1.2 KiB: issue 11; read at
        # PARAM_SET/GET, load and export only); ``values`` has exactly the declared names.
        self._decls = []  # type: list
        # One byte a declaration, in declaration order: its name's hash & 0xFF.  find()
        # scans it in C (``bytes.find``) and compares names only where a byte matches:
        # ~6 k instructions on the Cortex-M7 where the walk compared every name (6–53 k,
        # 30 k on average; a knee's report sets ~10 parameters in one run).  143 bytes.
        self._hashes = b""
        self._hkey = bytearray(1)
        self.defs = _Defs(self)
        self.values = {}
        self.store = SlotStore(storage, name) if storage is not None else None
        self.listeners = []  # fn(name, value) after a change

    def declare(self, defs, owner=""):
        """Add the ``PARAMS`` tuple of a component (ValueError on a name used twice)."""
        for d in defs:
            if d[P_NAME] in self.values:
                raise ValueError("parameter %s defined twice" % d[P_NAME])
            self.values[d[P_NAME]] = d[P_DEFAULT]
        self._decls.append((owner, defs if isinstance(defs, tuple) else tuple(defs)))
        self._hashes += bytes([hash(d[P_NAME]) & 0xFF for d in defs])

    @property
    def order(self):
        """The parameter names in declaration order (a list built on each read)."""
        return [d[P_NAME] for _owner, defs in self._decls for d in defs]

    @property
    def owner(self):
        """{name: component} (a dict built on each read: the export, diagnostics)."""
        out = {}
        for owner, defs in self._decls:
            for d in defs:
                out[d[P_NAME]] = owner
        return out

    def find(self, name):
        """The declaration record of parameter ``name`` (P_* positions), or None."""
        if not isinstance(name, str):  # (an argument off the bus: nothing to hash)
            return None
        key = self._hkey
        key[0] = hash(name) & 0xFF
        hs = self._hashes
        i = hs.find(key)
        while i >= 0:
            d = self._nth(i)
            if d[P_NAME] == name:
                return d
            i = hs.find(key, i + 1)
        # Not found by its byte: the name is not declared — confirmed by the full walk,
        # so that no hash the table was not built with (a pickled table, another
        # process's str hash) can hide a declaration.
        for _owner, defs in self._decls:
            for d in defs:
                if d[P_NAME] == name:
                    return d
        return None

    def _nth(self, i):
        """The i-th declaration in declaration order."""
        for _owner, defs in self._decls:
            n = len(defs)
            if i < n:
                return defs[i]
            i -= n
        return None

    def get(self, name):
        return self.values[name]

    def __getitem__(self, name):
        return self.values[name]

    def validate(self, name, value):
        d = self.find(name)
        if d is None:
            raise ParamError("unknown parameter %r" % (name,))
        return check(d, value)

    def check_rules(self, name, value):
        """ParamError naming the first rule that ``name`` = ``value`` would break (the
        rules whose parameters are all declared)."""
        view = _With(self.values, name, value)
        rules = self._load_rules()
        try:
            for r in rules:
                if name in r.params and self._applies(r):
                    why = r.check(view)
                    if why:
                        raise ParamError("rule %s: %s" % (r.name, why))
        finally:
            self._rules_done()

    def _load_rules(self):
        """The rules; a change checked while they cannot be loaded (heap exhausted:
        MODULE_LOAD_FAILED) is refused, since it could break one."""
        if self.rules is not None:
            return self.rules
        if self._held is not None:
            return self._held
        try:
            r = lazy.load("flight.param_rules", self.emit).RULES
        except lazy.LoadFailed:
            raise ParamError("rules unavailable (heap exhausted): not changed")
        if self._hold:
            self._held = r
        return r

    def hold_rules(self, on):
        """While ``on``, the rules a change loads stay loaded for the next: a batch of
        changes (a knee's report sets ~15 parameters in one run of its task, each an
        import of the rules on the board) loads them once; off, they go as after one
        change."""
        self._hold = on
        if not on and self._held is not None:
            self._held = None
            self._rules_done()

    def _applies(self, rule):
        for n in rule.params:
            if n not in self.values:
                return False
        return True

    def _enforce_rules(self, emit):
        """After a load: a broken rule's parameters back to their defaults (reported).
        Rules that cannot be loaded (MODULE_LOAD_FAILED, reported by lazy.load) leave the
        stored set as it is: every value is still within its own range."""
        try:
            rules = self._load_rules()
        except Refused:  # (ParamError)
            return
        try:
            self._enforce(rules, emit)
        finally:
            self._rules_done()

    def _rules_done(self):
        # Lazily loaded rules are released where their code is frozen (flight/lazy.py
        # done: a reload is only an import); held where a reload would load it again.
        if self.rules is None and not self._hold:
            lazy.done("flight.param_rules")

    def _enforce(self, rules, emit):
        for _ in range(len(rules) + 1):
            broken = None
            for r in rules:
                if self._applies(r):
                    why = r.check(self.values)
                    if why:
                        broken = (r, why)
                        break
            if broken is None:
                return
            r, why = broken
            for n in r.params:
                self.values[n] = self.find(n)[P_DEFAULT]
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

    def _defaults(self):
        for _owner, defs in self._decls:
            for d in defs:
                self.values[d[P_NAME]] = d[P_DEFAULT]

    def load_defaults(self):
        self._defaults()
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
        # A slot whose CRC checks but whose content is not a parameter map is rejected
        # like a damaged one, so the older valid set is used (STORE_FALLBACK), never the
        # defaults over it (their limits may be wider than the saved ones).
        stored = self.store.load(_parse_set)
        if stored is None:
            self.load_defaults()
            return "corrupt" if self.store.corrupt_slots else "empty"
        if self.store.fallback and self.emit is not None:  # the newest set may be lost
            self.emit(EV_STORE_FALLBACK, ["params"], self.store.describe())
        self._defaults()
        index = {}  # {name: record} while loading (garbage afterwards)
        for _owner, defs in self._decls:
            for d in defs:
                index[d[P_NAME]] = d
        for name, value in stored.items():
            try:
                d = index.get(name)
                if d is None:
                    raise ParamError("unknown parameter %r" % (name,))
                self.values[name] = check(d, value)
            except (ValueError, OverflowError) as e:  # ParamError is a ValueError
                if emit is not None:
                    emit(str(e))
        self._enforce_rules(emit)
        for fn in self.listeners:
            fn(None, None)
        return "loaded"

    def table(self):
        return [param_map(d) for _owner, defs in self._decls for d in defs]

    # ------------------------------------------------------------------ commands
    def check_command(self, cmd, args):
        if cmd[C_NAME] == "PARAM_SET":
            self.check_rules(args["name"], self.validate(args["name"], args["value"]))
        elif cmd[C_NAME] == "PARAM_GET" and args["name"] not in self.values:
            raise BadArg("name: unknown parameter %r" % (args["name"],))

    def cmd_param_set(self, args, tc):
        return {"name": args["name"], "value": self.set(args["name"], args["value"]),
                "applies": self.find(args["name"])[P_APPLIES]}

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


class _Defs:
    """``Params.defs``: {name: ParamDef} read in place (``defs[name]`` and ``get`` give a
    namedtuple :func:`view`, built on each look-up; ``in``, iteration and ``items`` as a
    dict's)."""

    def __init__(self, params):
        self._p = params

    def get(self, name, default=None):
        d = self._p.find(name)
        return default if d is None else view(d)

    def __getitem__(self, name):
        d = self._p.find(name)
        if d is None:
            raise KeyError(name)
        return view(d)

    def __contains__(self, name):
        return name in self._p.values

    def __iter__(self):
        return iter(self._p.order)

    def __len__(self):
        return len(self._p.values)

    def keys(self):
        return self._p.order

    def items(self):
        return [(d[P_NAME], view(d)) for _owner, defs in self._p._decls for d in defs]


class _With:
    """The parameter values with one changed (what a rule sees for a proposed set)."""

    def __init__(self, values, name, value):
        self.values = values
        self.name = name
        self.value = value

    def __getitem__(self, k):
        return self.value if k == self.name else self.values[k]

"""Commands from the flight dictionary (``flight/cmddict.py``) and ``name=value`` arguments.

Nothing here lists commands: names, opcodes, argument types, units, ranges and allowed
modes all come from :mod:`flight.cmddict`, and parameter types from the telemetry
dictionary (:mod:`ground_tools.dictionary`).  This module turns command-line text into
a checked ``(Command, {name: value})`` pair, or raises :class:`ArgError` with one line
that names the argument, its type and its range.

Value syntax by argument type:

==========  ===============================================================
int         decimal, ``0x..`` hex, ``0b..`` binary, ``_`` separators
float       any Python float literal (ints accepted): ``1.5``, ``2e-3``, ``7``
bool        ``true/false``, ``yes/no``, ``on/off``, ``1/0``
str         the text as given (quote it for the shell if it has spaces)
bytes       hex digits, optionally ``0x``-prefixed: ``0xdeadbeef``
scalar      a parameter value: ``true/false`` → bool, an int literal → int,
            otherwise a float; PARAM_SET converts it to the named parameter's type
map         a JSON object: ``args='{"name": "temp_max_c"}'``
==========  ===============================================================

``TIMETAG`` also takes ``opcode=PARAM_SET`` (a command name) and checks the inner
arguments against that command.
"""

import json

from flight import cmddict


class Relative(float):
    """A TIMETAG time given as ``+SECONDS``: resolved against the onboard clock (the
    newest housekeeping ``time``) when the command is sent."""


class ArgError(ValueError):
    """Bad command name or argument: the message is one line, ready for the user."""


def _commands():
    return cmddict.COMMANDS


def find_command(name_or_opcode):
    """The Command for a name (case-insensitive) or an opcode (int or ``0x..`` text)."""
    key = name_or_opcode
    if isinstance(key, str):
        c = cmddict.BY_NAME.get(key.upper())
        if c is not None:
            return c
        try:
            key = int(key, 0)
        except ValueError:
            close = [c.name for c in _commands() if key.upper()[:4] in c.name]
            hint = " (did you mean %s?)" % ", ".join(close[:3]) if close else ""
            raise ArgError("unknown command %r%s; `vector-tc list` shows them" % (
                name_or_opcode, hint)) from None
    c = cmddict.BY_OPCODE.get(key)
    if c is None:
        raise ArgError("unknown opcode %r; `vector-tc list` shows the commands" % (
            name_or_opcode,))
    return c


def _fmt_num(v):
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return "%.1f" % v
    return "%r" % (v,)


def describe(arg):
    """``float, 0.0..2.0 1/s`` — the type and range of an argument, for messages."""
    t = arg.atype
    parts = [t]
    if arg.choices is not None:
        parts.append("one of " + "|".join(arg.choices))
    elif arg.lo is not None or arg.hi is not None:
        lo = "" if arg.lo is None else _fmt_num(arg.lo)
        hi = "" if arg.hi is None else _fmt_num(arg.hi)
        if t in ("str", "bytes"):
            parts.append("length %s..%s" % (lo, hi))
        else:
            parts.append("%s..%s" % (lo, hi))
    s = ", ".join(parts)
    if arg.unit and arg.unit != "1" and t not in ("str", "bytes", "bool", "map"):
        s += " " + arg.unit
    return s


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _parse_int(text):
    return int(text.replace("_", ""), 0)


def _parse_bool(text):
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError("not a bool")


def _parse_float(text):
    v = float(text)
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError("not finite")
    return v


def _parse_scalar(text):
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    try:
        return _parse_int(t)
    except ValueError:
        return _parse_float(t)


def _parse_bytes(text):
    t = text.strip()
    if t[:2].lower() == "0x":
        t = t[2:]
    return bytes.fromhex(t)


def _parse_map(text):
    v = json.loads(text)
    if not isinstance(v, dict):
        raise ValueError("not a JSON object")
    return v


_PARSERS = {
    "int": _parse_int,
    "float": _parse_float,
    "bool": _parse_bool,
    "str": lambda s: s,
    "bytes": _parse_bytes,
    "scalar": _parse_scalar,
    "map": _parse_map,
}


def parameter_table():
    """{name: parameter definition map} from the exported dictionary (flight's table)."""
    from ground_tools.dictionary import parameters

    return parameters()


def parse_value(cmd, arg, text):
    """Convert ``text`` for argument ``arg`` of ``cmd``; ArgError on a bad literal."""
    parser = _PARSERS.get(arg.atype)
    if parser is None:
        raise ArgError("%s: argument %s has unsupported type %s" % (cmd.name, arg.name, arg.atype))
    try:
        return parser(text)
    except (ValueError, json.JSONDecodeError):
        raise ArgError("%s: bad argument %s=%s: expected %s" % (
            cmd.name, arg.name, text, describe(arg))) from None


def _check_param_name(cmd, name):
    """An unknown parameter is refused here, before a counter is spent on it."""
    table = parameter_table()
    if name in table:
        return
    import difflib

    close = difflib.get_close_matches(name, list(table), 3, 0.6)
    raise ArgError("%s: bad argument name=%s: unknown parameter%s; `vector-tc list --params` "
                   "shows them" % (cmd.name, name, (" (did you mean %s?)" % ", ".join(close))
                                   if close else ""))


def _coerce_param_value(name, value, text):
    """PARAM_SET: give ``value`` the named parameter's type and check its range."""
    p = parameter_table().get(name)
    if p is None:
        # Not in the dictionary (a typo, or a newer payload): sent as typed; the payload
        # checks it and answers BAD_ARG if unknown.
        return value
    t = p["type"]
    unit = p.get("unit") or ""
    rng = "%s..%s %s" % (_fmt_num(p["min"]), _fmt_num(p["max"]), "" if unit == "1" else unit)
    what = "parameter %s is %s, %s" % (name, t, rng.strip())
    if t == "bool":
        try:
            return _parse_bool(text)
        except ValueError:
            raise ArgError("PARAM_SET: bad argument value=%s: %s" % (text, what)) from None
    if isinstance(value, bool):
        raise ArgError("PARAM_SET: bad argument value=%s: %s" % (text, what))
    if t == "int":
        if isinstance(value, float):
            if not value.is_integer():
                raise ArgError("PARAM_SET: bad argument value=%s: %s" % (text, what))
            value = int(value)
    else:
        value = float(value)
    if value < p["min"] or value > p["max"]:
        raise ArgError("PARAM_SET: bad argument value=%s: %s" % (text, what))
    return value


def parse_assignments(cmd, items):
    """``["name=value", ...]`` → {name: text}; ArgError for malformed or unknown names."""
    out = {}
    known = {a.name: a for a in cmd.args}
    for item in items:
        if "=" not in item:
            raise ArgError("%s: argument %r is not name=value (arguments: %s)" % (
                cmd.name, item, ", ".join(known) or "none"))
        name, text = item.split("=", 1)
        name = name.strip()
        if name not in known:
            raise ArgError("%s: unknown argument %r (arguments: %s)" % (
                cmd.name, name, ", ".join(known) or "none"))
        if name in out:
            raise ArgError("%s: argument %s given twice" % (cmd.name, name))
        out[name] = text
    return out


def build_args(cmd, texts):
    """{name: text} → checked {name: value} in dictionary order (ArgError on any problem)."""
    values = {}
    for a in cmd.args:
        if a.name not in texts:
            continue
        text = texts[a.name]
        if cmd.name == "TIMETAG" and a.name == "time" and text.strip().startswith("+"):
            v = parse_value(cmd, a, text.strip()[1:])
            values[a.name] = Relative(v)
            continue
        if cmd.name == "TIMETAG" and a.name == "opcode":
            try:
                values[a.name] = find_command(text).opcode
            except ArgError:
                values[a.name] = parse_value(cmd, a, text)
            continue
        v = parse_value(cmd, a, text)
        if a.choices is not None and isinstance(v, str):
            # enumerations read like command names: case does not matter
            v = next((c for c in a.choices if c.upper() == v.upper()), v)
        values[a.name] = v
    if cmd.name in ("PARAM_SET", "PARAM_GET") and "name" in values:
        _check_param_name(cmd, values["name"])
    if cmd.name == "PARAM_SET" and "name" in values and "value" in values:
        values["value"] = _coerce_param_value(values["name"], values["value"], texts["value"])
    return check_args(cmd, values)


def check_args(cmd, values):
    """Check a value map against the dictionary; returns what goes on the wire.

    Only the arguments given are sent (the payload fills in defaults): the wire map is
    exactly what the operator asked for.
    """
    for a in cmd.args:
        if a.name in values:
            v = values[a.name]
            if a.atype in ("int", "float") and isinstance(v, (int, float)) \
                    and not isinstance(v, bool):
                if a.lo is not None and v < a.lo:
                    raise ArgError("%s: bad argument %s=%s: below the minimum (expected %s)" % (
                        cmd.name, a.name, _show(v), describe(a)))
                if a.hi is not None and v > a.hi:
                    raise ArgError("%s: bad argument %s=%s: above the maximum (expected %s)" % (
                        cmd.name, a.name, _show(v), describe(a)))
            try:
                cmddict.check_arg(a, values[a.name])
            except ValueError as e:
                raise ArgError("%s: bad argument %s=%s: %s (expected %s)" % (
                    cmd.name, a.name, _show(values[a.name]), _reason(e, a.name),
                    describe(a))) from None
        elif a.required:
            raise ArgError("%s: missing argument %s (%s)" % (cmd.name, a.name, describe(a)))
    for k in values:
        if k not in {a.name for a in cmd.args}:
            raise ArgError("%s: unknown argument %r" % (cmd.name, k))
    if cmd.name == "TIMETAG":
        inner = cmddict.BY_OPCODE.get(values.get("opcode"))
        if inner is None:
            raise ArgError("TIMETAG: bad argument opcode=%s: no such command" % values.get("opcode"))
        if inner.name in ("TIMETAG", "TIMETAG_CLEAR"):
            raise ArgError("TIMETAG: %s cannot be time-tagged" % inner.name)
        try:
            check_args(inner, values.get("args", {}))
        except ArgError as e:
            raise ArgError("TIMETAG: args: %s" % e) from None
    out = {a.name: values[a.name] for a in cmd.args if a.name in values}
    _check_length(cmd, out)
    return out


def _check_length(cmd, values):
    """The packet must fit the payload's TC deframer (``flight.tc.MAX_TC_LEN``): a longer
    one is dropped on board as oversize, with no verification to tell the operator."""
    from flight.tc import MAX_TC_LEN
    from ground_tools import wire

    n = wire.HEADER_LEN + len(wire.tc_body(cmd.opcode, values)) + wire.TRAILER_LEN \
        + wire.PEC_LEN
    if n > MAX_TC_LEN:
        raise ArgError("%s: the packet would be %d octets; the payload takes at most %d "
                       "(flight/tc.py MAX_TC_LEN)" % (cmd.name, n, MAX_TC_LEN))


def _show(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    if isinstance(v, dict):
        return json.dumps(v)
    return str(v)


def _reason(e, name):
    msg = str(e)
    if msg.startswith(name + ": "):
        msg = msg[len(name) + 2:]
    return msg


def parse_command(name, items):
    """Command name + ``name=value`` strings → (Command, wire argument map)."""
    cmd = find_command(name)
    return cmd, build_args(cmd, parse_assignments(cmd, items))


def usage_line(cmd):
    parts = [cmd.name]
    for a in cmd.args:
        s = "%s=<%s>" % (a.name, describe(a))
        parts.append(s if a.required else "[%s]" % s)
    return " ".join(parts)

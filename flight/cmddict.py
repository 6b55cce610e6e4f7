"""The command dictionary: the one table of telecommands (DESIGN §3.7).

The ground tool and the exported JSON dictionary are generated from this table; nothing
else lists commands.  Each command: opcode, name, arguments (name, type, unit, range,
required, description), the modes it is allowed in, and a description.  The handler is
the flight application's method ``cmd_<name in lower case>``.

Argument types: ``int``, ``float`` (ints accepted), ``bool``, ``str`` (min/max bound the
length; ``choices`` the values), ``bytes`` (min/max bound the length), ``scalar``
(int, float or bool: a parameter value), ``map`` (a nested argument map: TIMETAG).
"""

SAFE = "SAFE"
STANDBY = "STANDBY"
SESSION = "SESSION"
MODES = (SAFE, STANDBY, SESSION)
ALL_MODES = MODES


class BadArg(ValueError):
    reason = "BAD_ARG"


class WrongMode(ValueError):
    """A semantic check refusing a command in the current mode (e.g. SET_MODE SESSION
    from SAFE): the acceptance report says WRONG_MODE, like a mode not in ``modes``."""

    reason = "WRONG_MODE"


class Arg:
    def __init__(self, name, atype, unit="", lo=None, hi=None, description="",
                 required=True, default=None, choices=None):
        self.name = name
        self.atype = atype
        self.unit = unit
        self.lo = lo
        self.hi = hi
        self.description = description
        self.required = required
        self.default = default
        self.choices = choices

    def check(self, value):
        t = self.atype
        n = self.name
        if t == "bool":
            if value is not True and value is not False:
                raise BadArg("%s: expected bool" % n)
            return value
        if t in ("int", "float", "scalar"):
            if t == "scalar" and (value is True or value is False):
                return value
            if value is True or value is False or not isinstance(value, (int, float)):
                raise BadArg("%s: expected %s" % (n, "number" if t == "scalar" else t))
            if t == "int" and not isinstance(value, int):
                raise BadArg("%s: expected int" % n)
            if isinstance(value, float) and (value != value or value in (_INF, -_INF)):
                raise BadArg("%s: not a finite number" % n)
            if t == "float":
                value = float(value)
            if self.lo is not None and value < self.lo:
                raise BadArg("%s: %r below minimum %r %s" % (n, value, self.lo, self.unit))
            if self.hi is not None and value > self.hi:
                raise BadArg("%s: %r above maximum %r %s" % (n, value, self.hi, self.unit))
            return value
        if t in ("str", "bytes"):
            if t == "str" and not isinstance(value, str):
                raise BadArg("%s: expected text" % n)
            if t == "bytes" and not isinstance(value, (bytes, bytearray)):
                raise BadArg("%s: expected bytes" % n)
            if self.lo is not None and len(value) < self.lo:
                raise BadArg("%s: shorter than %d" % (n, self.lo))
            if self.hi is not None and len(value) > self.hi:
                raise BadArg("%s: longer than %d" % (n, self.hi))
            if self.choices is not None and value not in self.choices:
                raise BadArg("%s: %r not one of %s" % (n, value, ", ".join(self.choices)))
            return value
        if t == "map":
            if not isinstance(value, dict):
                raise BadArg("%s: expected map" % n)
            return value
        raise BadArg("%s: unsupported type %s" % (n, t))

    def to_map(self):
        d = {"name": self.name, "type": self.atype, "unit": self.unit, "min": self.lo,
             "max": self.hi, "description": self.description, "required": self.required}
        if self.default is not None:
            d["default"] = self.default
        if self.choices is not None:
            d["choices"] = list(self.choices)
        return d


_INF = float("inf")


class Command:
    def __init__(self, opcode, name, args, modes, description):
        self.opcode = opcode
        self.name = name
        self.args = args
        self.modes = modes
        self.description = description
        self.handler = "cmd_" + name.lower()

    def validate(self, args):
        """Checked and completed argument map; BadArg names the first bad argument."""
        if not isinstance(args, dict):
            raise BadArg("arguments must be a map")
        out = {}
        known = {}
        for a in self.args:
            known[a.name] = a
            if a.name in args:
                out[a.name] = a.check(args[a.name])
            elif a.required:
                raise BadArg("%s: required argument missing" % a.name)
            elif a.default is not None:
                out[a.name] = a.default
        for k in args:
            if k not in known:
                raise BadArg("%r: unknown argument" % (k,))
        return out

    def to_map(self):
        return {"name": self.name, "opcode": self.opcode, "description": self.description,
                "modes": list(self.modes), "args": [a.to_map() for a in self.args]}


def _c(opcode, name, args, modes, description):
    return Command(opcode, name, args, modes, description)


COMMANDS = [
    _c(0x01, "PING", [], ALL_MODES, "Liveness check: completes at once."),
    _c(0x02, "SET_TIME", [Arg("time", "float", "s", 0.0, 4294967295.0,
                              "onboard time to set (seconds since the mission epoch)")],
       ALL_MODES, "Set the onboard clock; time-tagged commands use it."),
    _c(0x03, "SET_MODE", [Arg("mode", "str", "", 1, 8, "target mode", choices=MODES)],
       ALL_MODES, "Change the payload mode (SAFE, STANDBY, SESSION) in the safe power order."),
    _c(0x10, "PARAM_SET", [Arg("name", "str", "", 1, 40, "parameter name"),
                           Arg("value", "scalar", "", None, None,
                               "new value (type and range of the parameter)")],
       ALL_MODES, "Set a parameter (in RAM; PARAM_SAVE persists it)."),
    _c(0x11, "PARAM_GET", [Arg("name", "str", "", 1, 40, "parameter name")],
       ALL_MODES, "Read a parameter; the completion report carries its value."),
    _c(0x12, "PARAM_SAVE", [], ALL_MODES,
       "Persist the current parameter set (two slots, generation counter, CRC)."),
    _c(0x13, "PARAM_LOAD_DEFAULTS", [], (SAFE, STANDBY),
       "Restore every parameter to its default (in RAM)."),
    _c(0x20, "EVENT_LOG_DUMP", [Arg("max", "int", "", 1, 256, "newest entries to send",
                                    required=False, default=32)],
       ALL_MODES, "Send the persistent event log as event TM packets."),
    _c(0x30, "REBOOT", [], (SAFE, STANDBY), "Restart the payload software (after the report)."),
    _c(0x31, "TIMETAG", [Arg("time", "float", "s", 0.0, 4294967295.0, "execution time (onboard)"),
                         Arg("opcode", "int", "", 1, 255, "opcode of the command to run"),
                         Arg("args", "map", "", None, None, "its arguments",
                             required=False, default={})],
       ALL_MODES, "Queue a command for time T (bounded queue: BUSY when full)."),
    _c(0x32, "TIMETAG_CLEAR", [], ALL_MODES, "Drop every queued time-tagged command."),
    _c(0x40, "KEY_ROTATE", [Arg("key_id", "int", "", 1, 255, "key id to make active")],
       ALL_MODES, "Switch the active authentication key to another key of the onboard ring."),
    # ---- payload control (DESIGN §3.3-3.6) ----
    _c(0x50, "SESSION_START", [], (STANDBY,),
       "Start a communication session: bias ramp, camera, framer; downlink laser once APT tracks."),
    _c(0x51, "SESSION_END", [], (SESSION,), "End the session: reverse power order, to STANDBY."),
    _c(0x52, "APT_SET_GAINS", [Arg("kp", "float", "1", 0.0, 2.0, "proportional gain per frame"),
                               Arg("ki", "float", "1/s", 0.0, 200.0, "integral gain")],
       ALL_MODES, "Set the fine-pointing PI gains (same as PARAM_SET of apt_kp / apt_ki)."),
    _c(0x53, "COMP_CALIBRATE", [], (SESSION,),
       "Re-calibrate the comparator level (noise sweep, then BER sweep with signal)."),
    _c(0x54, "FRAMER_SET_MODE", [Arg("mode", "str", "", 1, 8, "framer mode",
                                     choices=("DATA", "PRBS", "LOOPBACK"))],
       ALL_MODES, "Select framer data, PRBS test-pattern or loopback mode."),
    _c(0x55, "BIAS_SET_OVERVOLTAGE", [Arg("volts", "float", "V", 0.5, 6.0,
                                          "SiPM over-voltage above breakdown")],
       ALL_MODES, "Set the SiPM over-voltage target (same as PARAM_SET of bias_vov_v)."),
]

BY_OPCODE = {}
BY_NAME = {}


def add(command):
    """Control modules append their commands (one table, one place to look)."""
    if command.opcode in BY_OPCODE or command.name in BY_NAME:
        raise ValueError("command %s / 0x%02x defined twice" % (command.name, command.opcode))
    if command not in COMMANDS:
        COMMANDS.append(command)
    BY_OPCODE[command.opcode] = command
    BY_NAME[command.name] = command


for _cmd in list(COMMANDS):
    BY_OPCODE[_cmd.opcode] = _cmd
    BY_NAME[_cmd.name] = _cmd


def dictionary(tc_apid):
    return {"tc_apid": tc_apid, "commands": [c.to_map() for c in COMMANDS]}

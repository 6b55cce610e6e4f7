"""The command dictionary: the one table of telecommands (DESIGN §3.7), and its dispatcher.

Every telecommand is one :class:`Command` entry of :data:`COMMANDS`: opcode, name, the
**owner** (a component name: ``"core"``, ``"modes"``, ``"params"``, ``"timetag"``,
``"apt"``, ``"aptcal"``, ``"bias"``, ``"bias_knee"``, ``"comparator"``, ``"framer"``,
``"pointahead"``) and the
**handler** (a method name on the owner's object), arguments (name, type, unit, range,
required, description), the modes it is allowed in, a description and whether it is hazardous.  The ground tool and
the exported dictionary are generated from this table; nothing else lists commands.

One handler signature: ``def cmd_x(self, args, tc)`` returns a result map (or None);
a completion failure raises :class:`CmdFailed` with a reason of
:data:`COMPLETE_REASONS`.  Checks beyond the argument types and ranges live with the
owner, in an optional ``check_command(self, cmd, args)`` raising :class:`BadArg`,
:class:`WrongMode` or :class:`Busy`.

Owners bind their handlers with :meth:`Dispatcher.register`; at boot
:meth:`Dispatcher.verify` proves that every entry has its handler and every ``cmd_*``
method of a registered owner has its entry (F Prime asserts the same on its opcode
table: a mismatch is a build error, never a run-time surprise).

Argument types: ``int``, ``float`` (ints accepted), ``bool``, ``str`` (min/max bound the
length; ``choices`` the values), ``bytes`` (min/max bound the length), ``scalar``
(int, float or bool: a parameter value), ``map`` (a nested argument map: TIMETAG).
"""

from collections import namedtuple

from hal.compat import IS_MICROPYTHON, const

# Payload modes (DESIGN §3.2): part of the command language (SET_MODE, allowed modes),
# so they are declared here, once; flight.modes implements them.
SAFE = "SAFE"
STANDBY = "STANDBY"
SESSION = "SESSION"
MODES = (SAFE, STANDBY, SESSION)
ALL_MODES = MODES

# Verification reasons (APID 0x0A3).  Acceptance: why a TC was refused before it ran
# (a refused TC changes no state).  Completion: why an accepted TC failed; the last
# three are a time-tagged command's checks failing when it comes due.
ACCEPT_REASONS = ("CRC", "LENGTH", "HEADER", "AUTH", "REPLAY", "DECODE", "UNKNOWN_OPCODE",
                  "BAD_ARG", "WRONG_MODE", "BUSY")
COMPLETE_REASONS = ("EXEC", "UNAVAILABLE", "TRANSITION", "STORAGE", "HAL", "WRONG_MODE",
                    "BUSY", "BAD_ARG")


class Refused(ValueError):
    """A command refused at acceptance: ``reason`` (BAD_ARG, WRONG_MODE or BUSY, an
    ACCEPT_REASONS entry), ``str()`` the detail.  Raised through the three constructors
    below; one class where three cost ~128 B of heap each on the target (a type object
    and its dict; a function is 16 B: issue 11).  A ValueError, as BAD_ARG always was."""

    def __init__(self, reason, detail=""):
        super().__init__(detail)
        self.reason = reason


def BadArg(detail=""):
    """An argument fails its type, range or the owner's semantic check: BAD_ARG."""
    return Refused("BAD_ARG", detail)


def WrongMode(detail=""):
    """Not allowed in the current mode (by ``modes``, or by the owner's check, e.g.
    SET_MODE SESSION from SAFE): WRONG_MODE."""
    return Refused("WRONG_MODE", detail)


def Busy(detail=""):
    """The owner cannot take the command now (queue full, calibration running): BUSY."""
    return Refused("BUSY", detail)


class CmdFailed(Exception):
    """Raised by a handler: the command was accepted but failed (completion report)."""

    def __init__(self, reason, detail=""):
        if reason not in COMPLETE_REASONS:
            raise ValueError("completion reason %r not declared" % (reason,))
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


_INF = float("inf")


# Command and argument declarations are records, read by position (C_*, A_*): in the
# firmware :data:`COMMANDS` is a constant tuple in flash (tools/freeze_decl.py: no heap,
# where its ~60 namedtuples cost ~3.8 KiB, issue 11), and on MicroPython
# :func:`Command` and :func:`Arg` return the same plain tuples; on CPython namedtuples.
# A command handed to code outside this module (:meth:`Dispatcher.lookup`, BY_OPCODE,
# BY_NAME) is a namedtuple :func:`view` on every interpreter: ``cmd.name`` reads as ever.
C_OPCODE = const(0)
C_NAME = const(1)
C_OWNER = const(2)
C_HANDLER = const(3)
C_ARGS = const(4)
C_MODES = const(5)
C_DESCRIPTION = const(6)
C_HAZARDOUS = const(7)
A_NAME = const(0)
A_TYPE = const(1)
A_UNIT = const(2)
A_LO = const(3)
A_HI = const(4)
A_DESCRIPTION = const(5)
A_REQUIRED = const(6)
A_DEFAULT = const(7)
A_CHOICES = const(8)
_Arg = None if IS_MICROPYTHON else namedtuple(  # type: ignore[name-match]
    "Arg", ("name", "atype", "unit", "lo", "hi", "description", "required", "default",
            "choices"))
_Command = namedtuple(  # type: ignore[name-match]  # shown as what it declares
    "Command", ("opcode", "name", "owner", "handler", "args", "modes", "description",
                "hazardous"))


def Arg(name, atype, unit="", lo=None, hi=None, description="", required=True, default=None,
        choices=None):
    """One argument of a command: name, type, unit, range (lo/hi, None: open), ..."""
    if _Arg is None:
        return (name, atype, unit, lo, hi, description, required, default, choices)
    return _Arg(name, atype, unit, lo, hi, description, required, default, choices)  # type: ignore[call-arg]


def Command(opcode, name, owner, handler, args, modes, description, hazardous=False):
    """One entry of :data:`COMMANDS` (see the module docstring)."""
    if IS_MICROPYTHON:
        return (opcode, name, owner, handler, args, modes, description, hazardous)
    return _Command(opcode, name, owner, handler, args, modes, description, hazardous)


def view(c):
    """Command record ``c`` readable by attribute (a namedtuple; ``c`` itself if it is
    one): what the owners' ``check_command`` and handlers are given."""
    return c if type(c) is _Command else _Command(*c)


def check_arg(a, value):
    """The checked value of argument ``a``; BadArg names the argument."""
    t = a[A_TYPE]
    n = a[A_NAME]
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
        lo = a[A_LO]
        hi = a[A_HI]
        if lo is not None and value < lo:
            raise BadArg("%s: %r below minimum %r %s" % (n, value, lo, a[A_UNIT]))
        if hi is not None and value > hi:
            raise BadArg("%s: %r above maximum %r %s" % (n, value, hi, a[A_UNIT]))
        return value
    if t in ("str", "bytes"):
        if t == "str" and not isinstance(value, str):
            raise BadArg("%s: expected text" % n)
        if t == "bytes" and not isinstance(value, (bytes, bytearray)):
            raise BadArg("%s: expected bytes" % n)
        lo = a[A_LO]
        hi = a[A_HI]
        choices = a[A_CHOICES]
        if lo is not None and len(value) < lo:
            raise BadArg("%s: shorter than %d" % (n, lo))
        if hi is not None and len(value) > hi:
            raise BadArg("%s: longer than %d" % (n, hi))
        if choices is not None and value not in choices:
            raise BadArg("%s: %r not one of %s" % (n, value, ", ".join(choices)))
        return value
    if t == "map":
        if not isinstance(value, dict):
            raise BadArg("%s: expected map" % n)
        return value
    raise BadArg("%s: unsupported type %s" % (n, t))


def arg_map(a):
    d = {"name": a[A_NAME], "type": a[A_TYPE], "unit": a[A_UNIT], "min": a[A_LO],
         "max": a[A_HI], "description": a[A_DESCRIPTION], "required": a[A_REQUIRED]}
    if a[A_DEFAULT] is not None:
        d["default"] = a[A_DEFAULT]
    if a[A_CHOICES] is not None:
        d["choices"] = list(a[A_CHOICES])
    return d


def validate(cmd, args):
    """Checked and completed argument map of command ``cmd``; BadArg names the first bad
    argument."""
    if not isinstance(args, dict):
        raise BadArg("arguments must be a map")
    out = {}
    known = {}
    for a in cmd[C_ARGS]:
        n = a[A_NAME]
        known[n] = a
        if n in args:
            out[n] = check_arg(a, args[n])
        elif a[A_REQUIRED]:
            raise BadArg("%s: required argument missing" % n)
        elif a[A_DEFAULT] is not None:
            out[n] = a[A_DEFAULT]
    for k in args:
        if k not in known:
            raise BadArg("%r: unknown argument" % (k,))
    return out


def command_map(c):
    """The exported dictionary's entry of one command."""
    return {"opcode": c[C_OPCODE], "name": c[C_NAME], "owner": c[C_OWNER],
            "handler": c[C_HANDLER], "description": c[C_DESCRIPTION],
            "modes": list(c[C_MODES]), "hazardous": c[C_HAZARDOUS],
            "args": [arg_map(a) for a in c[C_ARGS]]}


C = Command
_TIME = (0.0, 4294967295.0)

COMMANDS = (
    # ---- core (flight/corecmds.py)
    C(0x01, "PING", "core", "cmd_ping", (), ALL_MODES, "Liveness check: completes at once."),
    C(0x02, "SET_TIME", "core", "cmd_set_time",
      (Arg("time", "float", "s", _TIME[0], _TIME[1],
           "onboard time to set (seconds since the mission epoch)"),),
      ALL_MODES, "Set the onboard clock; time-tagged commands use it."),
    C(0x20, "EVENT_LOG_DUMP", "core", "cmd_event_log_dump",
      (Arg("max", "int", "", 1, 256, "newest entries to send", required=False, default=32),),
      ALL_MODES, "Send the persistent event log as event TM packets."),
    C(0x21, "HK_DIAG_REQUEST", "core", "cmd_hk_diag_request", (), ALL_MODES,
      "Send one diagnostic housekeeping packet (APID 0x0A5: per-task scheduler stats...)."),
    C(0x30, "REBOOT", "core", "cmd_reboot", (), (SAFE, STANDBY),
      "Restart the payload software (after the report).", hazardous=True),
    C(0x40, "KEY_ROTATE", "core", "cmd_key_rotate",
      (Arg("key_id", "int", "", 1, 255, "key id to make active"),),
      ALL_MODES, "Switch the active authentication key to a higher key id of the onboard "
      "ring; every lower id is retired for ever.", hazardous=True),
    # ---- anti-replay (flight/replay.py; docs/security.md)
    C(0x41, "COUNTER_RESYNC", "replay", "cmd_counter_resync",
      (Arg("nonce", "int", "", 1, 0xFFFFFFFF, "the nonce published in housekeeping "
           "(replay_nonce) and in COUNTER_RESYNC_NEEDED"),
       Arg("floor", "int", "", 0, 0xFFFFFFFF, "new anti-replay mark: at least the highest "
           "counter the ground used with this key")),
      ALL_MODES, "Resynchronise the anti-replay mark after its state was lost: the only TC "
      "accepted in RESYNC (its counter is not checked; the nonce makes it fresh).",
      hazardous=True),
    # ---- modes (flight/modes.py)
    C(0x03, "SET_MODE", "modes", "cmd_set_mode",
      (Arg("mode", "str", "", 1, 8, "target mode", choices=MODES),),
      ALL_MODES, "Change the payload mode (SAFE, STANDBY, SESSION) in the safe power order."),
    C(0x50, "SESSION_START", "modes", "cmd_session_start", (), (STANDBY,),
      "Start a communication session: bias ramp, camera, framer; downlink laser once APT "
      "tracks.", hazardous=True),
    C(0x51, "SESSION_END", "modes", "cmd_session_end", (), (SESSION,),
      "End the session: reverse power order, to STANDBY."),
    # ---- parameters (flight/params.py)
    C(0x10, "PARAM_SET", "params", "cmd_param_set",
      (Arg("name", "str", "", 1, 40, "parameter name"),
       Arg("value", "scalar", "", None, None, "new value (type and range of the parameter)")),
      ALL_MODES, "Set a parameter (in RAM; PARAM_SAVE persists it)."),
    C(0x11, "PARAM_GET", "params", "cmd_param_get",
      (Arg("name", "str", "", 1, 40, "parameter name"),),
      ALL_MODES, "Read a parameter; the completion report carries its value."),
    C(0x12, "PARAM_SAVE", "params", "cmd_param_save", (), ALL_MODES,
      "Persist the current parameter set (two slots, generation counter, CRC)."),
    C(0x13, "PARAM_LOAD_DEFAULTS", "params", "cmd_param_load_defaults", (), (SAFE, STANDBY),
      "Restore every parameter to its default (in RAM)."),
    # ---- time-tagged commands (flight/timetag.py)
    C(0x31, "TIMETAG", "timetag", "cmd_timetag",
      (Arg("time", "float", "s", _TIME[0], _TIME[1], "execution time (onboard)"),
       Arg("opcode", "int", "", 1, 255, "opcode of the command to run"),
       Arg("args", "map", "", None, None, "its arguments", required=False, default={})),
      ALL_MODES, "Queue a command for time T (bounded queue: BUSY when full)."),
    C(0x32, "TIMETAG_CLEAR", "timetag", "cmd_timetag_clear", (), ALL_MODES,
      "Drop every queued time-tagged command."),
    # ---- payload control (DESIGN §3.3-3.6)
    C(0x52, "APT_SET_GAINS", "apt", "cmd_set_gains",
      (Arg("kp", "float", "1", 0.0, 2.0, "proportional gain per frame"),
       Arg("ki", "float", "1/s", 0.0, 200.0, "integral gain")),
      ALL_MODES, "Set the fine-pointing PI gains (same as PARAM_SET of apt_kp / apt_ki)."),
    C(0x53, "COMP_CALIBRATE", "comparator", "cmd_calibrate", (), (SESSION,),
      "Re-calibrate the comparator level (noise sweep, then BER sweep with signal)."),
    C(0x54, "FRAMER_SET_MODE", "framer", "cmd_set_mode",
      (Arg("mode", "str", "", 1, 8, "framer mode", choices=("DATA", "PRBS", "LOOPBACK")),),
      ALL_MODES, "Select framer data, PRBS test-pattern or loopback mode."),
    C(0x55, "BIAS_SET_OVERVOLTAGE", "bias", "cmd_set_overvoltage",
      (Arg("volts", "float", "V", 0.5, 6.0, "SiPM over-voltage above breakdown"),),
      ALL_MODES, "Set the SiPM over-voltage target (same as PARAM_SET of bias_vov_v).",
      hazardous=True),
    C(0x5B, "APT_FSM_CALIBRATE", "aptcal", "cmd_fsm_calibrate", (), (SESSION,),
      "Measure the FSM gains and the camera rotation by small mirror steps in TRACK (starts "
      "once TRACK has held apt_cal_settle_s; BUSY while one runs): APT_CAL_DONE / "
      "APT_CAL_REFUSED / APT_CAL_ABORTED (docs/fsm-calibration.md)."),
    C(0x5C, "BIAS_KNEE_CALIBRATE", "bias_knee", "cmd_knee_calibrate", (), (SESSION,),
      "Measure the SiPM breakdown from a bias sweep of the noise-trigger rate (the "
      "comparator pauses ~2 s; refused while the bias loop is not ACTIVE)."),
    # ---- point-ahead (flight/pointahead.py, DESIGN §3.8)
    C(0x60, "NAV_STATE", "pointahead", "cmd_nav_state",
      (Arg("t", "float", "s", _TIME[0], _TIME[1], "time of validity (onboard time)"),)
      + tuple(Arg("p" + a, "float", "m", -8.4e6, 8.4e6, "position, ECI (GCRF), " + a)
              for a in "xyz")
      + tuple(Arg("v" + a, "float", "m/s", -8500.0, 8500.0, "velocity, ECI (GCRF), " + a)
                for a in "xyz")
      + tuple(Arg("q" + a, "float", "", -1.001, 1.001,
                  "payload-frame attitude quaternion (scalar first, v_P = A(q) v_ECI), " + a)
              for a in "wxyz")
      + tuple(Arg(n, "float", "Hz", -250.0, 250.0, "reaction wheel speed, for the APT's "
                  "wheel-line canceller (docs/apt-loop.md §4)", required=False)
              for n in ("rw1_hz", "rw2_hz", "rw3_hz", "rw4_hz")),
      ALL_MODES, "OBC navigation state for the point-ahead: sent by the OBC at 1 Hz from 10 s "
      "before SESSION_START to SESSION_END (latency <= 0.5 s); refused BAD_ARG when not a "
      "plausible LEO state, |q| != 1, its line of sight (payload -z) off the Earth, its "
      "point-ahead jumping from the last state's, ahead of the onboard clock, stale or not "
      "newer (docs/point-ahead.md)."),
    C(0x61, "PA_PROFILE", "pointahead", "cmd_profile",
      (Arg("t0", "float", "s", _TIME[0], _TIME[1], "onboard time of the first sample"),
       Arg("dt", "float", "s", 1.0, 60.0, "sample step"),
       Arg("samples", "bytes", "", 8, 256,
           "2..64 (x, y) point-ahead pairs, payload axes, big-endian int16, 0.01 urad")),
      ALL_MODES, "Load the ground-computed point-ahead profile of the pass (used while the "
      "OBC state is stale; `vector-tc plan --pa-profile` computes it)."),
    C(0x62, "PA_PROFILE_CLEAR", "pointahead", "cmd_profile_clear", (), ALL_MODES,
      "Drop the point-ahead profile."),
    C(0x63, "PA_BORE_SCAN", "borescan", "cmd_scan",
      (Arg("step_urad", "float", "urad", 2.0, 40.0, "trial boresight step (20: -0.8 dB "
           "on the downlink while it lasts)"),
       Arg("dwell_s", "float", "s", 0.5, 10.0, "time on each trial"),
       Arg("cycles", "int", "", 2, 16, "cycles of 8 dwells (+x -x -x +x +y -y -y +y)")),
      (SESSION,), "Scan the transmitter boresight by trial steps while the station logs "
      "the downlink power (starts in TRACK; BUSY while one runs): PA_BORE_SCAN_STARTED "
      "gives the schedule, `vector-tc bore-fit` the correction (docs/point-ahead.md)."),
    C(0x64, "PA_BORE_SCAN_STOP", "borescan", "cmd_stop", (), ALL_MODES,
      "Stop a boresight scan (the trial back to zero at once: PA_BORE_SCAN_ABORTED)."),
)


def _check_unique(commands):
    """ValueError on an opcode or a name used twice (the sets are garbage afterwards)."""
    ops = set()
    names = set()
    for c in commands:
        if c[C_OPCODE] in ops or c[C_NAME] in names:
            raise ValueError("command %s / 0x%02x defined twice" % (c[C_NAME], c[C_OPCODE]))
        ops.add(c[C_OPCODE])
        names.add(c[C_NAME])


def _find(commands, key, k):
    """The record (not a view) of ``commands`` whose field ``key`` (C_OPCODE, C_NAME) is
    ``k``, or None: searched in place, no index dict kept in RAM (issue 11)."""
    for c in commands:
        if c[key] == k:
            return c
    return None


_check_unique(COMMANDS)


def __getattr__(name):
    """``BY_OPCODE`` and ``BY_NAME``: the commands by opcode and by name, read like dicts
    (flight/cmdindex.py ``ByKey``, loaded on first use: flight needs neither)."""
    if name == "BY_OPCODE" or name == "BY_NAME":
        from flight.cmdindex import ByKey

        return ByKey(COMMANDS, C_OPCODE if name == "BY_OPCODE" else C_NAME, view)
    raise AttributeError(name)


class Dispatcher:
    """Finds every entry of ``commands`` its owner's handler; checks and runs TCs."""

    def __init__(self, commands=COMMANDS):
        self.commands = commands
        if commands is not COMMANDS:  # (the module's own was checked at its import)
            _check_unique(commands)
        self.owners = {}  # owner name -> object
        # Handlers and owner checks are looked up when a TC runs (getattr: one bound
        # method per TC), not kept bound in dicts (~1 KiB of heap, issue 11).

    def register(self, owner, obj):
        """Bind the entries owned by ``owner`` to ``getattr(obj, entry.handler)``."""
        if owner in self.owners:
            raise ValueError("owner %s registered twice" % owner)
        self.owners[owner] = obj

    def handler(self, cmd):
        """The bound handler of command ``cmd`` (a record or view), or None (owner not
        registered on this board, or no such method)."""
        obj = self.owners.get(cmd[C_OWNER])
        return None if obj is None else getattr(obj, cmd[C_HANDLER], None)

    def verify(self, absent=()):
        """Boot check: every entry has its handler, every ``cmd_*`` method of a registered
        owner has its entry.  ``absent``: owners legitimately missing on this board (their
        commands complete UNAVAILABLE).  ValueError names the culprit."""
        for c in self.commands:
            if self.handler(c) is not None:
                continue
            if c[C_OWNER] not in self.owners:
                if c[C_OWNER] in absent:
                    continue
                raise ValueError("command %s (0x%02x): owner %r not registered"
                                 % (c[C_NAME], c[C_OPCODE], c[C_OWNER]))
            raise ValueError("command %s (0x%02x): %s has no handler %s()"
                             % (c[C_NAME], c[C_OPCODE], c[C_OWNER], c[C_HANDLER]))
        for owner, obj in self.owners.items():
            declared = [c[C_HANDLER] for c in self.commands if c[C_OWNER] == owner]
            for attr in dir(obj):
                if attr.startswith("cmd_") and attr not in declared:
                    raise ValueError("handler %s.%s has no command dictionary entry"
                                     % (owner, attr))

    def lookup(self, opcode):
        """The command (a namedtuple :func:`view`) of ``opcode``, or None."""
        c = _find(self.commands, C_OPCODE, opcode)
        return None if c is None else view(c)

    def check(self, cmd, args, mode, queued=False):
        """The validated argument map, or BadArg / WrongMode / Busy.

        ``queued``: the command is being time-tagged; its mode and busy checks are made
        when it comes due, not now.
        """
        args = validate(cmd, args)
        if not queued and mode not in cmd[C_MODES]:
            raise WrongMode("%s not allowed in %s" % (cmd[C_NAME], mode))
        obj = self.owners.get(cmd[C_OWNER])
        chk = getattr(obj, "check_command", None) if obj is not None else None
        if chk is not None:
            try:
                chk(cmd, args)
            except Refused as e:
                if not queued or e.reason == "BAD_ARG":  # (mode, busy: when it comes due)
                    raise
        return args

    def execute(self, cmd, args, tc):
        """Run the handler: its result map (or None); CmdFailed on a failure."""
        fn = self.handler(cmd)
        if fn is None:
            raise CmdFailed("UNAVAILABLE", "no %s on this board for %s"
                            % (cmd[C_OWNER], cmd[C_NAME]))
        return fn(args, tc)

"""Operator safety: which commands need a confirmation, and which counters are refused.

Hazardous commands come from the dictionary (``hazardous`` of a command entry, from the
flight table); a few cases depend on the arguments (SET_MODE to SESSION switches the laser
chain on; a TIMETAG inherits the hazard of the command it queues).  Until every flight
table carries the flag, the commands the ground-segment issue names are hazardous here too.
"""

from ground_tools import commands
from ground_tools.state import COUNTER_WINDOW

# Named by the ground-segment issue; the dictionary flag adds to these, never removes.
_ALWAYS = {"REBOOT": "restarts the payload software",
           "KEY_ROTATE": "switches the authentication key",
           "PARAM_LOAD_DEFAULTS": "discards every parameter change",
           "TIMETAG_CLEAR": "drops every queued time-tagged command"}



def checked_command(name, items):
    """(Command, args) from ``name=value`` texts with the CLI's checks; ValueError."""
    return commands.parse_command(name, items)


def hazard(cmd, args):
    """Why ``cmd`` with ``args`` needs confirmation, or None."""
    if getattr(cmd, "hazardous", False):
        return "marked hazardous in the dictionary"
    if cmd.name in _ALWAYS:
        return _ALWAYS[cmd.name]
    if cmd.name == "SET_MODE" and str(args.get("mode", "")).upper() == "SESSION":
        return "powers the laser chain"
    if cmd.name == "TIMETAG":
        from flight import cmddict

        inner = cmddict.BY_OPCODE.get(args.get("opcode"))
        if inner is not None:
            why = hazard(inner, args.get("args") or {})
            if why:
                return "queues %s: %s" % (inner.name, why)
    return None


def counter_jump(store, key, counter):
    """None, or why ``--counter N`` is refused without ``--force``."""
    if counter is None:
        return None
    last = store.last(key)
    if last is not None and counter > last + COUNTER_WINDOW:
        return ("--counter %d is %d above the last counter %d of key %d, beyond the "
                "payload's anti-replay window of %d: it would be rejected (REPLAY); give "
                "--force if that is what you want" % (
                    counter, counter - last, last, key.key_id, COUNTER_WINDOW))
    return None


def annotate(dictionary):
    """A copy of the dictionary whose commands all carry ``hazardous`` (for the web form)."""
    import copy

    from ground_tools.commands import find_command

    d = copy.deepcopy(dictionary)
    for c in d.get("commands", []):
        try:
            cmd = find_command(c["name"])
        except ValueError:
            continue
        c["hazardous"] = bool(c.get("hazardous")) or hazard(cmd, {}) is not None
    return d


def audit_log(port_label, path=None):
    """A ``GroundLink.audit`` callable appending one JSON line per command to the audit
    log (``audit.jsonl`` next to the counter state file, or $VECTOR_TC_AUDIT)."""
    import json
    import os
    import time

    from ground_tools import wire
    from ground_tools.gwclient import client_name
    from ground_tools.state import state_path

    path = path or os.environ.get("VECTOR_TC_AUDIT") or os.path.join(
        os.path.dirname(os.path.abspath(state_path())), "audit.jsonl")

    def write(res, args):
        rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "client": client_name(), "link": port_label, "name": res.name,
               "args": wire.jsonable(args), "seq": res.seq, "counter": res.counter,
               "status": res.status, "reason": res.reason}
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "a") as f:
                f.write(json.dumps(rec, sort_keys=True) + "\n")
        except OSError:
            pass  # the audit log never stops a command that is already sent

    return write


def preflight(args, store, key, cmds, ask=None):
    """Refuse hazardous commands without ``--yes`` (asking on a terminal) and counter
    jumps without ``--force``; ValueError with the one-line reason."""
    import sys

    why = counter_jump(store, key, getattr(args, "counter", None))
    if why and not getattr(args, "force", False):
        raise ValueError(why)
    hazards = [(c, w) for c, w in ((c, hazard(c, a)) for c, a in cmds) if w]
    if not hazards or getattr(args, "yes", False):
        return
    text = "; ".join("%s (%s)" % (c.name, w) for c, w in hazards)
    if ask is None and sys.stdin.isatty():
        def ask(q):
            return input(q)
    if ask is not None:
        if ask("hazardous: %s. Type yes to send: " % text).strip().lower() == "yes":
            return
        raise ValueError("not confirmed: %s" % text)
    raise ValueError("hazardous: %s: give --yes to send it" % text)

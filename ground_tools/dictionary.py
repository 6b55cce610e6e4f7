"""The exported dictionary (``vector-tc dict``), generated from the flight declarations.

Everything comes from module-level data of the flight modules that flight.components
lists — commands (flight.cmddict.COMMANDS, with owners and handlers), parameters
(``PARAMS``), events (``EVENTS``), housekeeping (``HK``, ``HK_DIAG``) and the ADCS
feedback (``ADCS``) — plus the APIDs (flight.tm), the verification reasons
(flight.cmddict) and the cross-parameter rules (flight.param_rules).  No flight object is
instantiated.  Format (version 2)::

    {"format": "vector-dictionary", "version": 2, "apids": {...},
     "commands": [...], "reasons": {"acceptance": [...], "completion": [...]},
     "telemetry": {"hk": {...}, "hk_diag": {...}, "adcs": {...}, "event": {...},
                   "verify": {...}},
     "events": [...], "severities": [...], "parameters": [...],
     "rules": [{"name", "params": [...], "text"}]}

``rules`` was added after version 2 was fixed: a reader of version 2 finds it or not
(an older export lacks it); every other key is unchanged.  A PARAM_SET that breaks a rule
is refused BAD_ARG ``rule <name>: ...``.

The ground decoders (ground_tools.tmdecode, listen, decode, script, the HIL helpers and
the simulator's report) read telemetry through this dictionary only.
"""

import json

from flight import cmddict, components, events, param_rules, telemetry, tm
from flight.params import param_map

FORMAT = "vector-dictionary"
VERSION = 2

_CACHE = []


def _packed(apid, attr):
    sections = components.declared(attr)
    fields = telemetry.layout(sections)
    return {"apid": apid, "encoding": "packed-be", "fields": fields,
            "size": sum(telemetry.TYPES[f["type"]][1] for f in fields)}


def build_dictionary():
    """The dictionary as a JSON-ready map (see the module docstring)."""
    evs = []
    for owner, decl in components.declared("EVENTS"):
        evs.extend(events.event_map(e, owner) for e in decl)
    evs.sort(key=lambda e: e["id"])
    params = []
    for owner, decl in components.declared("PARAMS"):
        for p in decl:
            m = param_map(p)
            m["owner"] = owner
            params.append(m)
    adcs = []
    for owner, decl in components.declared("ADCS"):
        adcs.extend(telemetry.field_map(f, owner, None) for f in decl)
    return {
        "format": FORMAT,
        "version": VERSION,
        "apids": {tm.APID_NAMES[a]: a for a in sorted(tm.APID_NAMES)},
        "commands": [cmddict.command_map(c) for c in sorted(cmddict.COMMANDS, key=lambda c: c.opcode)],
        "reasons": {"acceptance": list(cmddict.ACCEPT_REASONS),
                    "completion": list(cmddict.COMPLETE_REASONS)},
        "telemetry": {
            "hk": _packed(tm.APID_HK, "HK"),
            "hk_diag": _packed(tm.APID_HK_DIAG, "HK_DIAG"),
            "adcs": {"apid": tm.APID_ADCS, "encoding": "cbor-map", "fields": adcs},
            "event": {"apid": tm.APID_EVENT, "encoding": "cbor-map",
                      "keys": list(events.TM_KEYS)},
            "verify": {"apid": tm.APID_VERIFY, "encoding": "cbor-map",
                       "keys": list(tm.VERIFY_KEYS)},
        },
        "events": evs,
        "severities": list(events.SEVERITY_NAMES),
        "parameters": params,
        "rules": [{"name": r.name, "params": list(r.params), "text": r.text}
                  for r in param_rules.RULES],
    }


def default():
    """The dictionary of the flight software in this tree (built once per process)."""
    if not _CACHE:
        _CACHE.append(build_dictionary())
    return _CACHE[0]


def load(path):
    """A dictionary exported earlier (``vector-tc dict --out FILE``); ValueError if the
    file is not one."""
    with open(path) as f:
        d = json.load(f)
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ValueError("%s is not a %s file" % (path, FORMAT))
    if d.get("version") != VERSION:
        raise ValueError("%s: dictionary version %r, this tool reads %d"
                         % (path, d.get("version"), VERSION))
    return d


def parameters(dictionary=None):
    """{name: parameter map} of a dictionary (default: this tree's)."""
    d = dictionary if dictionary is not None else default()
    return {p["name"]: p for p in d["parameters"]}


def rules(dictionary=None):
    """The cross-parameter rules of a dictionary (an export older than them: none)."""
    d = dictionary if dictionary is not None else default()
    return list(d.get("rules", ()))


def hk_fields(dictionary=None, kind="hk"):
    """{name: field map} of a packed housekeeping set."""
    d = dictionary if dictionary is not None else default()
    return {f["name"]: f for f in d["telemetry"][kind]["fields"]}

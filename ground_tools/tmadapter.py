"""The one place where ground code turns a TM packet into archive/web values.

Everything that decodes telemetry for the gateway, the archive, the web page and the XTCE
cross-check calls :func:`decode_packet` with the exported dictionary
(:func:`load_dictionary`); the decoding itself is ``ground_tools.tmdecode.decode_tm`` (the
architecture contract's decoder, driven only by the dictionary).  There is no second
decoder: housekeeping is packed binary, so a guessed CBOR map would be wrong.  Result::

    {"apid", "kind", "seq", "ok", "error"?, "fields": {name: value}, "body"?}

``fields`` is flat so the archive and CSV export have one column per value: packed sets
give their declared field names; CBOR bodies (ADCS, events, verification) become dotted
names (``args.code``, ``result.value``).
"""

import json

from ground_tools import wire
from ground_tools.tmdecode import decode_tm

_DICT = None


def load_dictionary():
    """The exported dictionary (``vector-tc dict``), built once per process (JSON-clean,
    as a client that loaded the exported file sees it)."""
    global _DICT
    if _DICT is None:
        from ground_tools.dictionary import build_dictionary

        _DICT = json.loads(json.dumps(build_dictionary(), default=str))
    return _DICT


def kind_of(apid, dictionary=None):
    d = dictionary or load_dictionary()
    for k, v in d["apids"].items():
        if v == apid:
            return k
    return "apid_%03x" % apid


def flatten(obj, prefix="", out=None):
    """Nested CBOR values → {dotted name: scalar}; rows starting with a name use it."""
    out = {} if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, "%s%s." % (prefix, k), out)
        return out
    if isinstance(obj, (list, tuple)):
        if obj and all(isinstance(r, (list, tuple)) and r and isinstance(r[0], str)
                       for r in obj):
            for r in obj:
                for i, v in enumerate(r[1:]):
                    flatten(v, "%s%s.%d." % (prefix, r[0], i + 1), out)
            return out
        if all(not isinstance(v, (dict, list, tuple)) for v in obj) and len(obj) <= 16:
            for i, v in enumerate(obj):
                out["%s%d" % (prefix, i)] = wire.jsonable(v)
            return out
        out[prefix[:-1]] = json.dumps(wire.jsonable(obj))
        return out
    out[prefix[:-1]] = wire.jsonable(obj)
    return out


def _unknown(r):
    """A packet of an APID the dictionary does not declare: archived raw, flagged."""
    r = dict(r, ok=False, error="UNKNOWN_APID: APID 0x%03x is not in the dictionary" % r[
        "apid"])
    r.pop("fields", None)
    return r


def decode_packet(packet, dictionary=None):
    """One deframed TM packet (bytes) → the decoded map above; never raises."""
    d = dictionary or load_dictionary()
    r = dict(decode_tm(bytes(packet), d))
    if r.get("ok") and r.get("apid") not in set(d["apids"].values()) - {d["apids"]["tc"]}:
        return _unknown(r)
    if "fields" in r:  # packed set: already flat, physical values by declared name
        r["body"] = wire.jsonable(r["fields"])
        r["fields"] = dict(r["body"])
    elif "body" in r:
        r["body"] = wire.jsonable(r["body"])
        b = r["body"]
        r["fields"] = flatten(b) if isinstance(b, dict) else {"value": b}
    return r

"""The one place where ground code turns a TM packet into values.

Everything that decodes telemetry for the gateway, the archive, the web page and the XTCE
cross-check calls :func:`decode_packet` with the exported dictionary
(:func:`load_dictionary`).  When ``ground_tools/tmdecode.py`` (the dictionary-driven decoder
of the architecture contract) is present it is used; until then the CBOR decoder of
:mod:`ground_tools.wire`.  Both give the same shape::

    {"apid", "kind", "seq", "ok", "error"?, "fields": {name: value}}

``fields`` is flat: nested CBOR maps and rows become dotted names (``tc_rejected.AUTH``,
``sched.apt.runs``) so the archive and CSV export have one column per value.
"""

import json

from ground_tools import wire

try:  # the contract's decoder (branch `core`); absent on older trees
    from ground_tools.tmdecode import decode_tm as _decode_tm
except ImportError:  # pragma: no cover - depends on the tree
    _decode_tm = None

_DICT = None


def load_dictionary():
    """The exported dictionary (``vector-tc dict``), built once per process."""
    global _DICT
    if _DICT is None:
        from ground_tools.dictionary import build_dictionary

        _DICT = json.loads(json.dumps(build_dictionary(), default=str))
    return _DICT


def kind_of(apid, dictionary=None):
    d = dictionary or load_dictionary()
    apids = d.get("apids") or (d.get("telemetry") or {}).get("apids") or {}
    for k, v in apids.items():
        if v == apid:
            return {"verification": "verify"}.get(k, k)
    return wire.APID_NAMES.get(apid, "apid_%03x" % apid)


def flatten(obj, prefix="", out=None, sched_fields=None):
    """Nested CBOR values → {dotted name: scalar}; rows starting with a name use it."""
    out = {} if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, "%s%s." % (prefix, k), out, sched_fields)
        return out
    if isinstance(obj, (list, tuple)):
        if obj and all(isinstance(r, (list, tuple)) and r and isinstance(r[0], str)
                       for r in obj):
            for r in obj:
                names = sched_fields if (sched_fields and prefix == "sched.") else None
                for i, v in enumerate(r[1:]):
                    n = names[i] if names and i < len(names) else str(i + 1)
                    flatten(v, "%s%s.%s." % (prefix, r[0], n), out, sched_fields)
            return out
        if all(not isinstance(v, (dict, list, tuple)) for v in obj) and len(obj) <= 16:
            for i, v in enumerate(obj):
                out["%s%d" % (prefix, i)] = wire.jsonable(v)
            return out
        out[prefix[:-1]] = json.dumps(wire.jsonable(obj))
        return out
    out[prefix[:-1]] = wire.jsonable(obj)
    return out


def _known_apids(d):
    apids = d.get("apids") or (d.get("telemetry") or {}).get("apids") or {}
    return set(apids.values()) | set(wire.APID_NAMES) - {wire.APID_TC}


def _unknown(r):
    """A packet of an APID the dictionary does not declare: archived raw, flagged."""
    r = dict(r, ok=False, error="UNKNOWN_APID: APID 0x%03x is not in the dictionary" % r[
        "apid"])
    r.pop("fields", None)
    return r


def _plain(v):
    return v.get("value") if isinstance(v, dict) and "value" in v else v


def decode_packet(packet, dictionary=None):
    """One deframed TM packet (bytes) → the decoded map above; never raises."""
    d = dictionary or load_dictionary()
    if _decode_tm is not None:
        r = dict(_decode_tm(bytes(packet), d))
        if r.get("ok") and r.get("apid") not in _known_apids(d):
            return _unknown(r)
        vals = r.get("fields", r.get("body"))
        if isinstance(vals, dict):
            r["body"] = wire.jsonable(vals)
            r["fields"] = flatten({k: _plain(v) for k, v in vals.items()})
        elif "body" in r:
            r["body"] = wire.jsonable(r["body"])
        return r
    try:
        tm = wire.parse_tm(bytes(packet))
    except wire.WireError as e:
        apid = seq = None
        if len(packet) >= 4:
            apid = ((packet[0] << 8) | packet[1]) & 0x7FF
            seq = ((packet[2] << 8) | packet[3]) & 0x3FFF
        return {"apid": apid, "kind": kind_of(apid, d) if apid is not None else None,
                "seq": seq, "ok": False, "error": str(e)}
    from ground_tools.dictionary import SCHED_FIELDS

    body = wire.jsonable(tm.body)
    if tm.apid not in _known_apids(d):  # not in the dictionary: kept raw, flagged
        return _unknown({"apid": tm.apid, "kind": kind_of(tm.apid, d), "seq": tm.seq,
                         "body": body})
    fields = flatten(body, sched_fields=SCHED_FIELDS) if isinstance(body, dict) else {
        "value": body}
    return {"apid": tm.apid, "kind": kind_of(tm.apid, d), "seq": tm.seq, "ok": True,
            "fields": fields, "body": body}

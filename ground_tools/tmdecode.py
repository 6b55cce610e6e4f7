"""Decode any TM packet of the payload, driven only by the exported dictionary.

``decode_tm(packet, dictionary)`` checks the CCSDS primary header, the length and the
CRC-16 (ground_tools.tmcheck, with third-party codecs), finds the
APID's telemetry entry in the dictionary and decodes the body by its ``encoding``:

* ``packed-be``: the declared fields in order, big-endian (no key text on the wire);
  every value converted to its physical value (raw × scale + offset; ``enum`` fields
  give their name, or the raw number when out of range);
* ``cbor-map``: the CBOR map as sent.

Result::

    {"apid", "kind", "seq", "ok": True, "fields": {name: value}}     (packed sets)
    {"apid", "kind", "seq", "ok": True, "body": <CBOR value>}         (CBOR APIDs)
    {"apid", "kind", "seq", "ok": False, "error": "REASON: detail"}   (anything bad)

``apid``/``kind``/``seq`` are None when the header itself is unreadable.
"""

import struct

import cbor2

from ground_tools.tmcheck import WireError, check_tm

_CODES = {"u8": "B", "i8": "b", "u16": "H", "i16": "h", "u32": "I", "i32": "i", "f32": "f"}


def _kind(dictionary, apid):
    for name, a in dictionary["apids"].items():
        if a == apid:
            return name
    return "apid_%03x" % apid


def _entry(dictionary, kind):
    return dictionary["telemetry"].get(kind)


def fmt(fields):
    return ">" + "".join(_CODES[f["type"]] for f in fields)


def physical(field, raw):
    """The physical value of one raw field value."""
    enum = field.get("enum")
    if enum is not None:
        return enum[raw] if isinstance(raw, int) and 0 <= raw < len(enum) else raw
    scale = field.get("scale", 1)
    offset = field.get("offset", 0)
    if scale == 1 and offset == 0:
        return raw
    return raw * scale + offset


def decode_packed(fields, body):
    """{name: physical value}; ValueError if ``body`` is not exactly the set's size."""
    f = fmt(fields)
    n = struct.calcsize(f)
    if len(body) != n:
        raise ValueError("body of %d octets, the dictionary's set has %d" % (len(body), n))
    raw = struct.unpack(f, bytes(body))
    return {fd["name"]: physical(fd, v) for fd, v in zip(fields, raw, strict=True)}


def decode_body(apid, body, dictionary):
    """(kind, key, value) of a body already checked at the packet level; raises
    WireError("DECODE") on a body that does not match the dictionary."""
    kind = _kind(dictionary, apid)
    entry = _entry(dictionary, kind)
    if entry is not None and entry.get("encoding") == "packed-be":
        try:
            return kind, "fields", decode_packed(entry["fields"], body)
        except (ValueError, struct.error) as e:
            raise WireError("DECODE", "%s: %s" % (kind, e)) from None
    try:
        return kind, "body", cbor2.loads(bytes(body))
    except Exception as e:  # cbor2 raises several types
        raise WireError("DECODE", "CBOR body: %s" % e) from None


def decode_tm(packet, dictionary):
    """One deframed TM packet → result map (see the module docstring)."""
    out = {"apid": None, "kind": None, "seq": None, "ok": False}
    try:
        apid, seq, body = check_tm(packet)
        out["apid"] = apid
        out["seq"] = seq
        out["kind"] = _kind(dictionary, apid)
        kind, key, value = decode_body(apid, body, dictionary)
    except WireError as e:
        out["error"] = str(e)
        return out
    out[key] = value
    out["ok"] = True
    return out


def limit_state(field, value):
    """"alarm", "warn" or None: where a physical value stands against its limits."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    for level in ("alarm", "warn"):
        lim = field.get(level)
        if lim is not None and not lim[0] <= value <= lim[1]:
            return level
    return None


def format_value(field, value):
    """``value unit`` text of one field (floats to 4 significant digits)."""
    if isinstance(value, float):
        text = "%.4g" % value
    else:
        text = str(value)
    unit = field.get("unit") or ""
    return text + (" " + unit if unit else "")

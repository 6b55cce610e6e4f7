"""``vector-tc dict --xtce FILE``: the exported dictionary as XTCE 1.2 (yamcs-pymdb).

Generated from the dictionary JSON only (the contract shape of ``vector-tc dict``), so the
XTCE and the JSON cannot disagree:

* **Telemetry**: the abstract CCSDS space-packet container (pymdb's standard primary header)
  and one container per packed set (``telemetry.hk`` on APID 0x0A1, ``telemetry.hk_diag``
  on 0x0A5), restricted on the APID, with one parameter per declared field in declared
  order: big-endian integer / IEEE-754 encodings of the declared type, polynomial
  calibrator ``offset + scale·raw``, units, enumerations, warning / critical limits; then
  the packet error control (CRC-16/CCITT-FALSE).  The CBOR packets (events, verification
  reports, ADCS) get an identifying container each: XTCE has no CBOR encoding, so their
  bodies are one binary parameter (the JSON dictionary lists their keys).
* **Commands**: one meta-command per dictionary entry with its arguments (types, ranges,
  units, enumerations, defaults), the opcode as a fixed value, hazardous ones marked
  ``Critical``.  The TC body on the wire is CBOR ``[opcode, {args}]`` + key id, counter,
  MAC and CRC: a ground system needs this tool (or an equivalent post-processor) to sign
  it, which no XTCE describes.
"""

_INT = {"u8": (False, 8), "i8": (True, 8), "u16": (False, 16), "i16": (True, 16),
        "u32": (False, 32), "i32": (True, 32)}
_SETS = ("hk", "hk_diag")


def _name(text):
    """XTCE names: letters, digits, ``_`` (dotted or odd field names are mapped)."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in str(text))
    return out if out and not out[0].isdigit() else "_" + out


def _alarm(f):
    from yamcs.pymdb import ThresholdAlarm

    warn, alarm = f.get("warn"), f.get("alarm")
    if not warn and not alarm:
        return None
    kw = {}
    if warn:
        kw.update(warning_low=warn[0], warning_high=warn[1])
    if alarm:
        kw.update(critical_low=alarm[0], critical_high=alarm[1])
    return ThresholdAlarm(**kw)


def _parameter(system, f):
    import yamcs.pymdb as y

    name = _name(f["name"])
    unit = f.get("unit") or None
    desc = (f.get("description") or "")[:80] or None
    t = f["type"]
    scale, offset = f.get("scale", 1), f.get("offset", 0)
    cal = None
    if (scale, offset) != (1, 0) and t != "f32":
        cal = y.Polynomial([offset, scale])
    if f.get("enum"):
        signed, bits = _INT.get(t, (False, 8))
        return y.EnumeratedParameter(
            system, name, choices=[(i, _name(c)) for i, c in enumerate(f["enum"])],
            short_description=desc, units=unit,
            encoding=y.IntegerEncoding(bits=bits, little_endian=False, scheme=(
                y.IntegerEncodingScheme.TWOS_COMPLEMENT if signed else
                y.IntegerEncodingScheme.UNSIGNED)))
    if t == "f32":
        return y.FloatParameter(system, name, bits=32, units=unit, short_description=desc,
                                encoding=y.float32_t, alarm=_alarm(f), calibrator=(
                                    y.Polynomial([offset, scale])
                                    if (scale, offset) != (1, 0) else None))
    if t not in _INT:
        raise ValueError("field %s: type %r has no packed encoding" % (f["name"], t))
    signed, bits = _INT[t]
    enc = y.IntegerEncoding(bits=bits, little_endian=False, scheme=(
        y.IntegerEncodingScheme.TWOS_COMPLEMENT if signed else
        y.IntegerEncodingScheme.UNSIGNED))
    if cal is not None:  # engineering values are floats once calibrated
        return y.FloatParameter(system, name, bits=64, units=unit, short_description=desc,
                                encoding=enc, calibrator=cal, alarm=_alarm(f))
    return y.IntegerParameter(system, name, signed=signed, bits=max(bits, 8), units=unit,
                              short_description=desc, encoding=enc, alarm=_alarm(f))


def _argument(a):
    import yamcs.pymdb as y

    name, unit = _name(a["name"]), (a.get("unit") or None)
    if unit == "1":
        unit = None
    desc = (a.get("description") or "")[:80] or None
    t = a["type"]
    lo, hi = a.get("min"), a.get("max")
    default = a.get("default")
    if a.get("choices"):
        return y.EnumeratedArgument(name, choices=[(i, c) for i, c in enumerate(a["choices"])],
                                    default=default, short_description=desc,
                                    encoding=y.uint8_t)
    if t == "int":
        return y.IntegerArgument(name, signed=True, bits=64, minimum=lo, maximum=hi,
                                 default=default, units=unit, short_description=desc,
                                 encoding=y.IntegerEncoding(bits=64, scheme=(
                                     y.IntegerEncodingScheme.TWOS_COMPLEMENT)))
    if t in ("float", "scalar"):
        return y.FloatArgument(name, bits=64, minimum=lo, maximum=hi, default=default,
                               units=unit, short_description=desc, encoding=y.float64_t)
    if t == "bool":
        return y.BooleanArgument(name, default=default, short_description=desc,
                                 encoding=y.uint8_t)
    if t == "bytes":
        return y.BinaryArgument(name, min_length=lo, max_length=hi, short_description=desc,
                                encoding=y.BinaryEncoding(length_bits=16))
    # str, map (TIMETAG's inner arguments, JSON text on the ground)
    return y.StringArgument(name, min_length=lo, max_length=hi, short_description=desc,
                            encoding=y.StringEncoding(length_bits=16, termination=None))


def build_system(d, name="Vector"):
    import yamcs.pymdb as y
    from yamcs.pymdb.ccsds import add_ccsds_header

    system = y.System(name)
    header = add_ccsds_header(system)
    tel = d.get("telemetry") or {}
    apids = dict(d.get("apids") or tel.get("apids") or {})
    if "verification" in apids:  # the version-1 dictionary's name
        apids.setdefault("verify", apids["verification"])
    for s in _SETS:
        ts = tel.get(s)
        if not isinstance(ts, dict) or "fields" not in ts:
            continue
        sub = y.Subsystem(system, s)
        entries = [y.ParameterEntry(_parameter(sub, f)) for f in ts["fields"]]
        entries.append(y.ParameterEntry(y.IntegerParameter(
            sub, "packet_crc", signed=False, bits=16, encoding=y.uint16_t,
            short_description="CRC-16/CCITT-FALSE over the packet")))
        apid = ts.get("apid", apids.get(s))
        y.Container(sub, s, base=header.tm_container, entries=entries,
                    condition=y.eq(header.tm_apid, apid),
                    short_description="%s: packed big-endian, %s octets of values" % (
                        s, ts.get("size", "?")))
    for s in ("event", "verify", "adcs"):
        ts = tel.get(s) or {}
        apid = ts.get("apid", apids.get(s))
        if apid is None:
            continue
        sub = y.Subsystem(system, s)
        body = y.BinaryParameter(sub, "cbor_body", short_description="CBOR map (keys in the "
                                 "JSON dictionary)", encoding=y.BinaryEncoding(
                                     bits=None, decoder=y.remaining_binary_decoder))
        y.Container(sub, s, base=header.tm_container, entries=[y.ParameterEntry(body)],
                    condition=y.eq(header.tm_apid, apid))
    tc_apid = apids.get("tc", d.get("tc_apid", 160))
    cmds = y.Subsystem(system, "commands")
    for c in d.get("commands", []):
        args = [_argument(a) for a in c.get("args", [])]
        entries = [y.FixedValueEntry(binary=bytes([c["opcode"]]), name="opcode")]
        entries += [y.ArgumentEntry(a) for a in args]
        y.Command(cmds, _name(c["name"]), base=header.tc_command,
                  assignments={"ccsds_apid": tc_apid}, arguments=args, entries=entries,
                  short_description=(c.get("description") or "")[:80] or None,
                  long_description="%s\nAllowed modes: %s. Encoded as CBOR [opcode, {args}] "
                  "and signed by vector-tc." % (c.get("description", ""),
                                                ", ".join(c.get("modes", []))),
                  level=(y.CommandLevel.CRITICAL if c.get("hazardous") else y.CommandLevel.NORMAL))
    return system


def dumps(d):
    return build_system(d).dumps(format="xtce-1.2")

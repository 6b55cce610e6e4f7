"""A small independent XTCE 1.2 reader for the tests: follows SequenceContainer entries
(with their base containers and restriction criteria) over the raw octets of a packet,
using only what the XML says (parameter types, encodings and their sizes, byte order,
polynomial calibrators, enumerations).  It shares no code with the generator or with
the ground decoders."""

import struct
import xml.etree.ElementTree as ET

NS = "{http://www.omg.org/spec/XTCE/20180204}"


def _t(tag):
    return NS + tag


class System:
    def __init__(self, el, parent=None):
        self.el, self.parent = el, parent
        self.name = el.get("name")
        self.children = {}
        self.types, self.params, self.containers = {}, {}, {}
        tm = el.find(_t("TelemetryMetaData"))
        if tm is not None:
            ts = tm.find(_t("ParameterTypeSet"))
            for t in (ts if ts is not None else []):
                self.types[t.get("name")] = t
            ps = tm.find(_t("ParameterSet"))
            for p in (ps if ps is not None else []):
                self.params[p.get("name")] = p
            cs = tm.find(_t("ContainerSet"))
            for c in (cs if cs is not None else []):
                self.containers[c.get("name")] = c
        subs = el.find(_t("SpaceSystemSet"))
        for s in el.findall(_t("SpaceSystem")) + (list(subs) if subs is not None else []):
            self.children[s.get("name")] = System(s, self)

    def resolve(self, ref, table):
        """(system, element) for a reference like ``name`` or ``../name``."""
        sysm = self
        parts = ref.split("/")
        for p in parts[:-1]:
            sysm = sysm.parent if p == ".." else sysm.children[p]
        while sysm is not None:
            el = getattr(sysm, table).get(parts[-1])
            if el is not None:
                return sysm, el
            sysm = sysm.parent
        raise KeyError(ref)

    def find_container(self, name):
        if name in self.containers:
            return self, self.containers[name]
        for c in self.children.values():
            try:
                return c.find_container(name)
            except KeyError:
                continue
        raise KeyError(name)


def load(path_or_text):
    text = path_or_text
    if not text.lstrip().startswith("<"):
        with open(path_or_text) as f:
            text = f.read()
    return System(ET.fromstring(text))


def _bits(data, pos, n):
    """Unsigned big-endian bit field of ``n`` bits at bit ``pos``."""
    nbytes = (pos + n + 7) // 8 - pos // 8
    chunk = int.from_bytes(data[pos // 8: pos // 8 + nbytes], "big")
    shift = nbytes * 8 - (pos % 8) - n
    return (chunk >> shift) & ((1 << n) - 1)


def _calibrate(enc, raw):
    poly = enc.find("%s/%s" % (_t("DefaultCalibrator"), _t("PolynomialCalibrator")))
    if poly is None:
        return raw
    return sum(float(t.get("coefficient")) * raw ** int(t.get("exponent")) for t in poly)


def _decode_type(sysm, tel, data, pos, out, prefix):
    tag = tel.tag[len(NS):]
    if tag == "AggregateParameterType":
        for m in tel.find(_t("MemberList")):
            msys, mt = sysm.resolve(m.get("typeRef"), "types")
            pos = _decode_type(msys, mt, data, pos, out, prefix + "/" + m.get("name"))
        return pos
    ienc = tel.find(_t("IntegerDataEncoding"))
    fenc = tel.find(_t("FloatDataEncoding"))
    if ienc is not None:
        n = int(ienc.get("sizeInBits"))
        if n > 8:
            assert ienc.get("byteOrder", "mostSignificantByteFirst") == \
                "mostSignificantByteFirst"
        raw = _bits(data, pos, n)
        if ienc.get("encoding") == "twosComplement" and raw >> (n - 1):
            raw -= 1 << n
        if tag == "EnumeratedParameterType":
            labels = {int(e.get("value")): e.get("label")
                      for e in tel.find(_t("EnumerationList"))}
            val = labels.get(raw, raw)
        else:
            val = _calibrate(ienc, raw)
        out[prefix] = val
        return pos + n
    if fenc is not None:
        n = int(fenc.get("sizeInBits"))
        assert pos % 8 == 0 and fenc.get("encoding") == "IEEE754_1985"
        raw = struct.unpack(">f" if n == 32 else ">d", bytes(data[pos // 8: pos // 8 + n // 8]))[0]
        out[prefix] = _calibrate(fenc, raw)
        return pos + n
    raise ValueError("unsupported parameter type %s" % tag)


def units(sysm, pname):
    psys, p = sysm.resolve(pname, "params")
    _, t = psys.resolve(p.get("parameterTypeRef"), "types")
    u = t.find("%s/%s" % (_t("UnitSet"), _t("Unit")))
    return u.text if u is not None else ""


def _entries(sysm, cont, data, pos, out):
    for e in cont.find(_t("EntryList")):
        if e.tag != _t("ParameterRefEntry"):
            raise ValueError("unsupported entry %s" % e.tag)
        loc = e.find("%s/%s" % (_t("LocationInContainerInBits"), _t("FixedValue")))
        if loc is not None:
            pos += int(loc.text)
        psys, p = sysm.resolve(e.get("parameterRef"), "params")
        tsys, t = psys.resolve(p.get("parameterTypeRef"), "types")
        pos = _decode_type(tsys, t, data, pos, out, p.get("name"))
    return pos


def decode(root, container, data):
    """{parameter name: engineering value} of ``data`` read as ``container`` (with its
    base containers first); AssertionError when a restriction criterion does not hold."""
    sysm, cont = root.find_container(container)
    chain = [(sysm, cont)]
    while True:
        s, c = chain[-1]
        base = c.find(_t("BaseContainer"))
        if base is None:
            break
        chain.append(s.resolve(base.get("containerRef"), "containers"))
    out, pos = {}, 0
    for s, c in reversed(chain):
        pos = _entries(s, c, data, pos, out)
    for _s, c in chain:  # restriction criteria against the decoded header
        base = c.find(_t("BaseContainer"))
        if base is None:
            continue
        for cond in base.iter(_t("Condition")):
            ref = cond.find(_t("ParameterInstanceRef")).get("parameterRef").split("/")
            key = "/".join(ref[-2:]) if len(ref) > 1 else ref[-1]
            want = cond.find(_t("Value")).text
            assert str(out[key]) == want, (key, out[key], want)
    out["_bits"] = pos
    return out

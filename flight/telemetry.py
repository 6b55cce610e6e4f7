"""Declared housekeeping (DESIGN §3.7): fields, their encoding, the packer.

Each module declares its housekeeping as module-level data beside its code::

    HK = (HkField("tc_accepted", "u16", description="TCs accepted"), ...)

and implements ``def hk(self, values, i)``, writing exactly ``len(HK)`` raw values into
the preallocated list ``values`` from index ``i``.  Physical value = raw × scale +
offset; ``warn``/``alarm`` are (lo, hi) in physical units (or None); ``enum`` names raw
values 0..n-1.  flight/components.py gives the order of the modules in the packet.

On the wire (APID 0x0A1, diagnostic set 0x0A5): the raw values in declared order, packed
big-endian with no key text (``struct`` format built once from the types), in a buffer
allocated once.  Out-of-range integers saturate at their type's limits instead of
raising mid-packet (a counter that wraps a u16 reads 65535, not garbage).
"""

import struct

# type: (struct code, octets, lo, hi) — lo/hi of the raw integer (None: a float)
TYPES = {
    "u8": ("B", 1, 0, 0xFF),
    "i8": ("b", 1, -0x80, 0x7F),
    "u16": ("H", 2, 0, 0xFFFF),
    "i16": ("h", 2, -0x8000, 0x7FFF),
    "u32": ("I", 4, 0, 0xFFFFFFFF),
    "i32": ("i", 4, -0x80000000, 0x7FFFFFFF),
    "f32": ("f", 4, None, None),
}


# The big-endian struct code of each type, built once: every packer shares these strings
# (one ">B" per field would be ~200 small heap strings per packer).
BE_CODES = {}
for _t in TYPES:
    BE_CODES[_t] = ">" + TYPES[_t][0]


class HkField:
    # Defaults as class attributes; an instance stores only what differs.  ~200 fields
    # are declared and MicroPython has no __slots__: an instance's attribute map grows
    # with each attribute set (9 attributes: 96 B an instance in the VM), and most fields
    # only set name, type, unit and description.  Reading is the same either way.
    unit = ""
    scale = 1
    offset = 0
    warn = None
    alarm = None
    enum = None
    description = ""

    def __init__(self, name, type, unit="", scale=1, offset=0, warn=None, alarm=None,
                 enum=None, description=""):
        if type not in TYPES:
            raise ValueError("HK field %s: type %r not one of %s" % (
                name, type, " ".join(sorted(TYPES))))
        self.name = name
        self.type = type
        if unit:
            self.unit = unit
        if not (scale == 1 and isinstance(scale, int)):  # 1.0 is kept: the export shows it
            self.scale = scale
        if not (offset == 0 and isinstance(offset, int)):
            self.offset = offset
        if warn is not None:
            self.warn = warn
        if alarm is not None:
            self.alarm = alarm
        if enum is not None:
            self.enum = enum
        if description:
            self.description = description

    def to_map(self, owner, offset_bytes):
        return {"name": self.name, "owner": owner, "type": self.type, "unit": self.unit,
                "scale": self.scale, "offset": self.offset,
                "warn": list(self.warn) if self.warn is not None else None,
                "alarm": list(self.alarm) if self.alarm is not None else None,
                "enum": list(self.enum) if self.enum is not None else None,
                "description": self.description, "offset_bytes": offset_bytes}


def fmt(fields):
    """The ``struct`` format of a field list (big-endian, no padding)."""
    return ">" + "".join(TYPES[f.type][0] for f in fields)


def size(fields):
    n = 0
    for f in fields:
        n += TYPES[f.type][1]
    return n


def layout(sections):
    """Field maps of the export: ``sections`` is ``[(owner, fields), ...]`` in order."""
    out = []
    off = 0
    for owner, fields in sections:
        for f in fields:
            out.append(f.to_map(owner, off))
            off += TYPES[f.type][1]
    return out


class HkPacker:
    """Packs the raw values of ``sections`` — ``[(fields, fill or None), ...]`` in order,
    ``fill(values, i)`` the owner's hk method (None: owner absent on this board, its
    fields stay 0) — into one preallocated buffer."""

    def __init__(self, sections):
        self.sections = []  # type: list
        fields = []  # type: list
        for flds, fill in sections:
            self.sections.append((len(fields), len(flds), fill))
            fields.extend(flds)
        self.fields = fields
        self.n = len(fields)
        self.size = size(fields)
        self.values = [0] * self.n
        self.buf = bytearray(self.size)
        # Per field: struct code, byte offset, raw lo, raw hi (precomputed: pack() does
        # no lookups and allocates nothing).
        self._codes = []  # type: list
        self._off = []  # type: list
        self._lo = []  # type: list
        self._hi = []  # type: list
        self._float = []  # type: list
        off = 0
        for f in fields:
            code, n, lo, hi = TYPES[f.type]
            self._codes.append(BE_CODES[f.type])
            self._off.append(off)
            self._float.append(lo is None)
            self._lo.append(lo if lo is not None else 0)
            self._hi.append(hi if hi is not None else 0)
            off += n
        self.errors = 0  # fill methods that raised (their fields keep the last values)

    def collect(self):
        """Ask every owner for its raw values."""
        values = self.values
        for i, _n, fill in self.sections:
            if fill is None:
                continue
            try:
                fill(values, i)
            except Exception:  # one owner's bug must not cost the whole packet
                self.errors += 1

    def pack(self):
        """Collect and pack; returns the buffer (reused: send or copy it before the next
        call)."""
        self.collect()
        return self.encode()

    def encode(self):
        """Pack the current raw values into the buffer (no collection)."""
        values = self.values
        buf = self.buf
        codes = self._codes
        offs = self._off
        los = self._lo
        his = self._hi
        isf = self._float
        pack_into = struct.pack_into
        for k in range(self.n):
            v = values[k]
            if isf[k]:
                # (an int goes in as it is: struct converts it, float(v) would box it)
                pack_into(codes[k], buf, offs[k], v if v is not None else 0)
                continue
            v = int(v) if v is not None else 0
            if v < los[k]:
                v = los[k]
            elif v > his[k]:
                v = his[k]
            pack_into(codes[k], buf, offs[k], v)
        return buf


def unpack(fields, data):
    """Raw values of a packed set (ground side and tests)."""
    return list(struct.unpack_from(fmt(fields), data, 0))


def decode(fields, data):
    """{name: physical value} of a packed set; enum fields give their name (tests and
    on-board diagnostics; the ground decodes from the exported dictionary)."""
    raw = unpack(fields, data)
    out = {}
    for k in range(len(fields)):
        f = fields[k]
        v = raw[k]
        if f.enum is not None:
            out[f.name] = f.enum[v] if 0 <= v < len(f.enum) else v
        elif f.scale != 1 or f.offset != 0:
            out[f.name] = v * f.scale + f.offset
        else:
            out[f.name] = v
    return out

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
from array import array
from collections import namedtuple

from hal.compat import IS_MICROPYTHON, const

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


# The big-endian struct code of each type, literals (interned strings in flash on the
# firmware, where building them at import made heap strings): every packer shares
# them (one ">B" per field would be ~200 small heap strings per packer).
BE_CODES = {"u8": ">B", "i8": ">b", "u16": ">H", "i16": ">h", "u32": ">I", "i32": ">i",
            "f32": ">f"}


# A field declaration is a record of five: name, type, unit, description and ``more``,
# None or ``(scale, offset, warn, alarm, enum)`` for the few fields that have any of them
# (:func:`more`).  Flight code reads a record by position (F_*): in the firmware the
# declaration blocks are constant tuples in flash (tools/freeze_decl.py: no heap at all,
# where ~200 records cost ~8 KiB as namedtuples, issue 11), and on MicroPython
# :func:`HkField` returns the same plain tuple.  On CPython it returns a namedtuple, so
# the ground tools and tests also read ``f.name``.
F_NAME = const(0)
F_TYPE = const(1)
F_UNIT = const(2)
F_DESCRIPTION = const(3)
F_MORE = const(4)
_HkField = None if IS_MICROPYTHON else namedtuple(  # type: ignore[name-match]
    "HkField", ("name", "type", "unit", "description", "more"))
NO_MORE = (1, 0, None, None, None)  # scale, offset, warn, alarm, enum of a plain field


def _record(name, type, unit, description, more):
    if _HkField is None:
        return (name, type, unit, description, more)
    return _HkField(name, type, unit, description, more)  # type: ignore[call-arg]


def HkField(name, type, unit="", scale=1, offset=0, warn=None, alarm=None, enum=None,
            description=""):
    """One housekeeping field declaration (see the module docstring): a record
    ``(name, type, unit, description, more)`` (F_* positions; the rest with :func:`more`)."""
    if type not in TYPES:
        raise ValueError("HK field %s: type %r not one of %s" % (
            name, type, " ".join(sorted(TYPES))))
    # 1.0 is kept (the export shows it): only the int 1 and 0 are the plain defaults
    if (scale == 1 and isinstance(scale, int) and offset == 0 and isinstance(offset, int)
            and warn is None and alarm is None and enum is None):
        return _record(name, type, unit, description, None)
    return _record(name, type, unit, description, _shared((scale, offset, warn, alarm, enum)))


# The distinct ``more`` tuples declared so far: ~90 fields have one, ~30 of them differ
# (warn=(0, 0) alone is on ~30 counters), so a field shares an equal one (where records
# are built at run time: the tests' and generated declarations; the firmware's are
# constants).
_MORE = []  # type: list


def _same(a, b):
    """Equal and of the same types all the way down (1 and 1.0 export differently)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        if len(a) != len(b):
            return False
        for k in range(len(a)):
            if not _same(a[k], b[k]):
                return False
        return True
    return a == b


def _shared(m):
    for x in _MORE:
        if _same(x, m):
            return x
    _MORE.append(m)
    return m


def more(f):
    """``(scale, offset, warn, alarm, enum)`` of field ``f``."""
    m = f[F_MORE]
    return NO_MORE if m is None else m


def fmt(fields):
    """The ``struct`` format of a field list (big-endian, no padding)."""
    return ">" + "".join(TYPES[f[F_TYPE]][0] for f in fields)


# The ground's export of the declarations (ground_tools/dictionary.py): not defined on
# MicroPython, where three function objects and their globals slots would be heap held
# for nothing (issue 11).
if not IS_MICROPYTHON:
    def field_map(f, owner, offset_bytes):
        """The exported dictionary's entry of one field."""
        scale, offset, warn, alarm, enum = more(f)
        return {"name": f[F_NAME], "owner": owner, "type": f[F_TYPE], "unit": f[F_UNIT],
                "scale": scale, "offset": offset,
                "warn": list(warn) if warn is not None else None,
                "alarm": list(alarm) if alarm is not None else None,
                "enum": list(enum) if enum is not None else None,
                "description": f[F_DESCRIPTION], "offset_bytes": offset_bytes}

    def size(fields):
        n = 0
        for f in fields:
            n += TYPES[f[F_TYPE]][1]
        return n

    def layout(sections):
        """Field maps of the export: ``sections`` is ``[(owner, fields), ...]`` in order."""
        out = []
        off = 0
        for owner, fields in sections:
            for f in fields:
                out.append(field_map(f, owner, off))
                off += TYPES[f[F_TYPE]][1]
        return out


# The packer's per-type tables, indexed by a type's number (its position in _KINDS):
# one octet per field then says everything encode() needs (struct code, width, raw
# range), where six per-field lists cost ~25 B a field on the target (issue 11: ~250
# fields in the two sets).
# Literals, not built at import (constants in flash on the firmware; tests/test_crc16.py
# checks them against TYPES): _KINDS is sorted(TYPES).
_KINDS = ("f32", "i16", "i32", "i8", "u16", "u32", "u8")
_K_CODE = (">f", ">h", ">i", ">b", ">H", ">I", ">B")
_K_SIZE = b"\x04\x02\x04\x01\x02\x04\x01"
_K_FLOAT = b"\x01\x00\x00\x00\x00\x00\x00"
_K_LO = (0, -0x8000, -0x80000000, -0x80, 0, 0, 0)
_K_HI = (0, 0x7FFF, 0x7FFFFFFF, 0x7F, 0xFFFF, 0xFFFFFFFF, 0xFF)


_CHUNK = const(8)  # fields packed by one struct call (encode() names eight arguments)


class HkPacker:
    """Packs the raw values of ``sections`` — ``[(fields, fill or None), ...]`` in order,
    ``fill(values, i)`` the owner's hk method (None: owner absent on this board, its
    fields stay 0) — into one preallocated buffer.  With ``method`` ("hk" or "hk_diag")
    a section's ``fill`` is the owner itself and :meth:`collect` calls ``fill.hk(values,
    i)`` (resp. ``hk_diag``): a method call allocates nothing, where a bound method held
    per owner is 16 B (+ its slot) on the target (~30 in the two packers: issue 11)."""

    def __init__(self, sections, method=None):
        # The owners' fills (only those present) and the index of each one's first
        # field: a tuple and an array, not a (first, count, fill) tuple a section
        # (~32 B each on the target, ~30 sections in the two packers: issue 11).
        self._how = (None, "hk", "hk_diag").index(method)  # ValueError: another method
        at = []
        fills = []
        n = 0
        for flds, fill in sections:
            if fill is not None:
                at.append(n)
                fills.append(fill)
            n += len(flds)
        self._at = array("H", at)
        self._fills = tuple(fills)
        # The declarations, not a list of their fields: a generated declaration (the
        # scheduler's per-task set) then builds its records only when read.
        self._decls = tuple(flds for flds, _fill in sections)
        self.n = n
        # Per field, one octet: its type's number in the _K_* tables (encode() does no
        # lookups and allocates nothing; offsets follow from the widths).
        self._kind = bytearray(n)
        k = 0
        size = 0
        for flds in self._decls:
            for f in flds:
                t = _KINDS.index(f[F_TYPE])
                self._kind[k] = t
                size += _K_SIZE[t]
                k += 1
        self.size = size
        # encode() packs _CHUNK fields a call (one pack_into a field cost ~2 k instructions
        # on the target: hk's encode step 294 k): their formats, and what is left over.
        full = n - n % _CHUNK
        self._cfmt = tuple(">" + "".join(_K_CODE[t][1:] for t in self._kind[k:k + _CHUNK])
                           for k in range(0, full, _CHUNK))
        self._csize = bytes(struct.calcsize(f) for f in self._cfmt)
        self.values = [0] * n
        self.buf = bytearray(size)
        self.errors = 0  # fill methods that raised (their fields keep the last values)

    @property
    def fields(self):
        """Every field in packet order (tests and diagnostics: built on each read)."""
        out = []  # type: list
        for flds in self._decls:
            out.extend(flds)
        return out

    def collect(self, part=0, parts=1):
        """Ask every owner for its raw values (or the ``part``-th of ``parts`` shares of the
        owners: the hk task's steps, flight/app.py)."""
        values = self.values
        at = self._at
        fills = self._fills
        how = self._how
        n = len(fills)
        for j in range(n * part // parts, n * (part + 1) // parts):
            try:
                if how == 1:
                    fills[j].hk(values, at[j])
                elif how == 2:
                    fills[j].hk_diag(values, at[j])
                else:
                    fills[j](values, at[j])
            except Exception:  # one owner's bug must not cost the whole packet
                self.errors += 1

    def pack(self):
        """Collect and pack; returns the buffer (reused: send or copy it before the next
        call)."""
        self.collect()
        return self.encode()

    def encode(self, part=0, parts=1):
        """Pack the current raw values into the buffer (no collection; or the ``part``-th
        of ``parts`` shares of its chunks, the last with the fields left over).  Integer
        fields are clamped to their type's range in ``values`` itself, a None becomes 0
        (no list is made: the values go to one pack_into as its arguments)."""
        values = self.values
        kind = self._kind
        isf = _K_FLOAT
        los = _K_LO
        his = _K_HI
        sizes = self._csize
        nc = len(sizes)
        c0 = nc * part // parts
        c1 = nc * (part + 1) // parts
        end = self.n if part == parts - 1 else c1 * _CHUNK
        for k in range(c0 * _CHUNK, end):
            v = values[k]
            if v is None:
                values[k] = 0
                continue
            t = kind[k]
            if isf[t]:
                continue  # (an int goes in as it is: struct converts it)
            if v < los[t]:
                values[k] = los[t]
            elif v > his[t]:
                values[k] = his[t]
            elif v.__class__ is not int:
                values[k] = int(v)
        # Fixed arity (no argument list on the heap: the hk task runs with it locked).
        buf = self.buf
        pack_into = struct.pack_into
        off = 0
        for c in range(c0):
            off += sizes[c]
        k = c0 * _CHUNK
        for c in range(c0, c1):
            pack_into(self._cfmt[c], buf, off, values[k], values[k + 1], values[k + 2],
                      values[k + 3], values[k + 4], values[k + 5], values[k + 6],
                      values[k + 7])
            off += sizes[c]
            k += _CHUNK
        codes = _K_CODE
        while k < end:
            t = kind[k]
            pack_into(codes[t], buf, off, values[k])
            off += _K_SIZE[t]
            k += 1
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
        scale, offset, _w, _a, enum = more(f)
        if enum is not None:
            out[f[F_NAME]] = enum[v] if 0 <= v < len(enum) else v
        elif scale != 1 or offset != 0:
            out[f[F_NAME]] = v * scale + offset
        else:
            out[f[F_NAME]] = v
    return out

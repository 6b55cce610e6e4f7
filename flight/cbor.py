"""A strict CBOR (RFC 8949) subset for telecommand and telemetry bodies.

Data model (both directions):

=============  ==============================  ======================================
CBOR           Python                          notes
=============  ==============================  ======================================
major 0 / 1    int                             -2**64 .. 2**64-1
major 2        bytes                           encode also takes bytearray/memoryview
major 3        str                             UTF-8, validated on decode
major 4        list                            encode also takes tuple
major 5        dict (encode also takes Map)    keys: int or str only, no duplicates
0xF4/F5/F6     False / True / None
0xF9/FA/FB     float                           encode: always 64-bit (0xFB)
=============  ==============================  ======================================

Encoding matches ``cbor2.dumps`` byte for byte for this data model except for the
floats NaN and +-inf (cbor2 writes those as half floats): integers and lengths in the
shortest form, floats as doubles, maps in the order the ``dict`` iterates, which is
insertion order on CPython but *not* on MicroPython (its dicts are unordered): use
:class:`Map` (ordered pairs) where the octets must not depend on the interpreter.

The decoder is strict.  It rejects, with :class:`CborError` (a ``ValueError`` whose
message says what and at which offset, also in the ``offset`` attribute):
truncated input, trailing bytes, indefinite lengths, tags, reserved additional
information (28-30), a stray "break", simple values other than false/true/null
(undefined included), **non-minimal integer or length encodings** (e.g. 0x18 0x05
for 5; floats may be half, single or double whatever their value, since encoders differ
there), invalid UTF-8 (overlong, surrogates, > U+10FFFF, truncated sequences), map keys
other than int/str, duplicate map keys, and inputs over the limits ``max_depth``
(nested arrays/maps), ``max_items`` (elements of one array, pairs of one map) and
``max_str`` (octets of one byte or text string).  The total number of items is
bounded by the input length (each item takes at least one octet).

MicroPython notes: no ``int.to_bytes``/``from_bytes`` keywords, 64-bit values go
through two 32-bit struct fields, half floats are decoded by hand, UTF-8 is validated
here because MicroPython's ``bytes.decode`` may accept invalid sequences.
"""

import struct

from flight import lazy
from hal.compat import const

DEFAULT_MAX_DEPTH = const(16)
DEFAULT_MAX_ITEMS = const(1024)
DEFAULT_MAX_STR = const(4096)

_U64_MAX = 0xFFFFFFFFFFFFFFFF
_U32_LIMIT = 0x100000000


class Map:
    """A map encoded with its pairs in the given order.

    MicroPython's ``dict`` does not keep insertion order, so a ``dict`` is encoded in
    whatever order the running interpreter iterates it (insertion order on CPython).
    Wrap a list of ``(key, value)`` pairs in ``Map`` where the octets must be the same
    on every interpreter (test vectors, anything compared byte for byte).  Keys must be
    int or str and distinct.  Decoding always returns a ``dict``.
    """

    def __init__(self, pairs):
        self.pairs = pairs

    def __repr__(self):
        return "Map(%r)" % (self.pairs,)


class CborError(ValueError):
    """Malformed, unsupported or over-limit CBOR; ``offset`` is where (or None)."""

    def __init__(self, msg, offset=None):
        if offset is not None:
            msg = "%s at offset %d" % (msg, offset)
        super().__init__(msg)
        self.offset = offset


# --------------------------------------------------------------------------- encode


def _head(out, major, n):
    m = major << 5
    if n < 24:
        out.append(m | n)
    elif n < 0x100:
        out.append(m | 24)
        out.append(n)
    elif n < 0x10000:
        out.extend(struct.pack(">BH", m | 25, n))
    elif n < _U32_LIMIT:
        out.extend(struct.pack(">BI", m | 26, n))
    else:
        out.extend(struct.pack(">BII", m | 27, n >> 32, n & 0xFFFFFFFF))


def _type_name(obj):
    try:
        return type(obj).__name__
    except AttributeError:  # pragma: no cover - MicroPython builds without __name__
        return "?"


def _key(k):
    if k is True or k is False or not isinstance(k, (int, str)):
        raise CborError("map key of type %s (must be int or str)" % _type_name(k))


# The type tests of _enc as module constants: a tuple written in the call is built on the
# heap at every call.
_BYTES_TYPES = (bytes, bytearray, memoryview)
_SEQ_TYPES = (list, tuple)


def _enc(out, obj, depth):
    if obj is None:
        out.append(0xF6)
    elif obj is False:
        out.append(0xF4)
    elif obj is True:
        out.append(0xF5)
    elif isinstance(obj, int):
        if obj >= 0:
            if obj > _U64_MAX:
                raise CborError("integer %d above 2**64-1" % obj)
            _head(out, 0, obj)
        else:
            n = -1 - obj
            if n > _U64_MAX:
                raise CborError("integer %d below -2**64" % obj)
            _head(out, 1, n)
    elif isinstance(obj, str):
        try:
            b = obj.encode("utf-8")
        except UnicodeError:
            raise CborError("text not encodable as UTF-8") from None
        # MicroPython encodes lone surrogates without complaint: never emit what our
        # decoder would reject.
        if b and max(b) >= 0x80 and utf8_error(b, 0, len(b)) >= 0:
            raise CborError("text not encodable as UTF-8")
        _head(out, 3, len(b))
        out.extend(b)
    elif isinstance(obj, float):
        out.append(0xFB)
        out.extend(struct.pack(">d", obj))
    elif isinstance(obj, _BYTES_TYPES):
        _head(out, 2, len(obj))
        out.extend(obj)
    elif isinstance(obj, _SEQ_TYPES):
        if depth <= 0:
            raise CborError("nesting deeper than max_depth")
        _head(out, 4, len(obj))
        for x in obj:
            _enc(out, x, depth - 1)
    elif isinstance(obj, dict):
        if depth <= 0:
            raise CborError("nesting deeper than max_depth")
        _head(out, 5, len(obj))
        for k, v in obj.items():
            _key(k)
            _enc(out, k, depth - 1)
            _enc(out, v, depth - 1)
    elif isinstance(obj, Map):
        if depth <= 0:
            raise CborError("nesting deeper than max_depth")
        pairs = obj.pairs
        _head(out, 5, len(pairs))
        seen = set()
        for k, v in pairs:
            _key(k)
            if k in seen:
                raise CborError("duplicate map key %r" % (k,))
            seen.add(k)
            _enc(out, k, depth - 1)
            _enc(out, v, depth - 1)
    else:
        raise CborError("cannot encode type %s" % _type_name(obj))


_FLAT_MAX = const(256)  # encode()'s buffer for a flat map; a longer one: the general path


def encode(obj, max_depth=DEFAULT_MAX_DEPTH):
    """Encode ``obj`` to CBOR bytes; CborError for unsupported types/values."""
    if type(obj) is dict and max_depth >= 2:
        buf = bytearray(_FLAT_MAX)  # (one buffer, not one grown octet by octet)
        n = flat_into(buf, 0, obj, _FLAT_MAX)
        if n >= 0:
            return bytes(memoryview(buf)[:n])
    out = bytearray()
    _enc(out, obj, max_depth)
    return bytes(out)


def flat_into(buf, w, d, end):
    """Write the map ``d`` of scalars (and lists of them) — every TM report and event —
    into ``buf[w:end]``: the index after it, or -1 (``buf[w:end]`` then holds a partial
    encoding) for anything else: a long map or list, an int outside -24..2**32-1,
    non-ASCII or long text, bytes, a nested map, or a map longer than the room.  The
    same octets as :func:`encode`'s general path.

    One call for the whole map, without a call per item, and without allocating: the
    telemetry sender encodes events and verification reports straight into its frame
    buffer with the heap locked (flight/tm.py ``send``).  Issue 11: an event map was
    ~165 k instructions on the M7 through _enc (a Python call and heap-placed frame per
    item); stop 40: ~110 k through a bytearray grown octet by octet, 234 k with a dense
    heap below it (each growth a first-fit scan), and the tc task sends several a tick.
    """
    n = len(d)
    if n > 23 or w >= end:
        return -1
    buf[w] = 0xA0 | n
    w += 1
    for k in d:  # (not d.items(): a tuple per pair would be a heap object)
        tk = type(k)
        if tk is not str and tk is not int:
            return -1
        v = d[k]
        x = k
        lst = None  # the list being written (a value), and its index
        i = 0
        while True:
            if w >= end:  # (every item takes an octet; longer heads check their room)
                return -1
            t = type(x)
            if t is int:
                if 0 <= x < 24:
                    buf[w] = x
                    w += 1
                elif -24 <= x < 0:
                    buf[w] = 0x1F - x  # major 1, -1 - x
                    w += 1
                elif 0 <= x < 0x100 and w + 2 <= end:
                    buf[w] = 0x18
                    buf[w + 1] = x
                    w += 2
                elif 0 <= x < 0x10000 and w + 3 <= end:
                    buf[w] = 0x19
                    buf[w + 1] = x >> 8
                    buf[w + 2] = x & 0xFF
                    w += 3
                elif 0 <= x < _U32_LIMIT and w + 5 <= end:
                    struct.pack_into(">BI", buf, w, 0x1A, x)
                    w += 5
                else:  # (out of range, or no room)
                    return -1
            elif t is str:
                m = len(x)  # characters: the octets too if it is ASCII (_put_ascii checks)
                if m > 0xFF or w + (1 if m < 24 else 2) + m > end:
                    return -1
                if m < 24:
                    buf[w] = 0x60 | m
                    w += 1
                else:
                    buf[w] = 0x78
                    buf[w + 1] = m
                    w += 2
                if not _put_ascii(buf, w, x, m):  # non-ASCII: the general path
                    return -1
                w += m
            elif x is None:
                buf[w] = 0xF6
                w += 1
            elif x is True:
                buf[w] = 0xF5
                w += 1
            elif x is False:
                buf[w] = 0xF4
                w += 1
            elif t is float:
                if w + 9 > end:
                    return -1
                struct.pack_into(">Bd", buf, w, 0xFB, x)
                w += 9
            elif (t is list or t is tuple) and lst is None and x is v and len(x) < 24:
                buf[w] = 0x80 | len(x)
                w += 1
                lst = x
                i = 0
            else:
                return -1
            if lst is not None:
                if i >= len(lst):
                    break
                x = lst[i]
                i += 1
            elif x is v and i:
                break
            else:
                x = v
                i = 1
    return w


def put_ascii_py(dst, doff, text, n):
    """Write the ``n``-character ``text`` at ``dst[doff:]`` if it is ASCII (its octets
    are then its ``n`` characters): 1, else 0 and nothing promised about ``dst``.  The
    plain-Python twin of flight/buf_viper.put_ascii (which does it without a bytes
    object)."""
    try:
        b = text.encode()
    except UnicodeError:  # (CPython: a lone surrogate)
        return 0
    if len(b) != n:  # (UTF-8 takes two octets or more for any other character)
        return 0
    dst[doff:doff + n] = b
    return 1


# TEXT_IN_PLACE: flat_into allocates nothing (a port with the viper kernel: the firmware,
# the unix port); the twin makes a bytes object per text.
try:  # the viper kernel where the port compiles it (firmware, unix port), else the twin
    from flight.buf_viper import put_ascii as _put_ascii

    TEXT_IN_PLACE = True
except (ImportError, SyntaxError, ValueError):
    _put_ascii = put_ascii_py
    TEXT_IN_PLACE = False


# --------------------------------------------------------------------------- decode

# The decoder (flight/cbor_decode.py) is loaded on use: see :func:`decode` and :func:`done`.
_CBOR_DECODER = "flight.cbor_decode"


def utf8_error(b, start, end):
    """Offset of the first byte of an invalid UTF-8 sequence in ``b[start:end]``, or -1.

    RFC 3629 well-formedness: no overlong forms, no surrogates (U+D800..U+DFFF), nothing
    above U+10FFFF, no truncated sequence, no stray continuation octet.
    """
    i = start
    while i < end:
        c = b[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            need = 1
            lo = 0x80
            hi = 0xBF
        elif c == 0xE0:
            need = 2
            lo = 0xA0
            hi = 0xBF
        elif c == 0xED:
            need = 2
            lo = 0x80
            hi = 0x9F
        elif 0xE1 <= c <= 0xEF:
            need = 2
            lo = 0x80
            hi = 0xBF
        elif c == 0xF0:
            need = 3
            lo = 0x90
            hi = 0xBF
        elif c == 0xF4:
            need = 3
            lo = 0x80
            hi = 0x8F
        elif 0xF1 <= c <= 0xF3:
            need = 3
            lo = 0x80
            hi = 0xBF
        else:
            return i
        if i + need >= end:
            return i
        c = b[i + 1]
        if c < lo or c > hi:
            return i
        for k in range(i + 2, i + need + 1):
            c = b[k]
            if c < 0x80 or c > 0xBF:
                return i
        i += need + 1
    return -1


def decode(data, max_depth=DEFAULT_MAX_DEPTH, max_items=DEFAULT_MAX_ITEMS,
           max_str=DEFAULT_MAX_STR):
    """Decode exactly one CBOR item filling ``data`` (bytes-like); CborError if not.

    The decoder module is loaded if it is not (flight/lazy.py: a MemoryError there is
    LoadFailed, counted) and stays loaded until :func:`done`."""
    return lazy.load(_CBOR_DECODER).decode(data, max_depth, max_items, max_str)


def done():
    """The caller's decoding is over for now: the decoder is released where it is frozen
    (flight/lazy.py ``done``; a later :func:`decode` loads it again)."""
    lazy.done(_CBOR_DECODER)

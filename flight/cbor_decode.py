"""The CBOR decoder of flight/cbor.py (its data model and strictness are described there).

Flight decodes rarely: an authenticated telecommand, and the stored state at boot; it
encodes every report.  So the decoder is loaded when :func:`flight.cbor.decode` is
called and released where the callers' phase ends (flight/lazy.py ``done``: the tc
pipeline after each TC, the event log after its load): frozen in the firmware its ~0.5 kB
of classes and functions are then not held on the heap (issue 11).
"""

import math
import struct

from flight.cbor import CborError, utf8_error

_2_POW_32 = 0x100000000


def _half_to_float(h):
    e = (h >> 10) & 0x1F
    m = h & 0x3FF
    if e == 0:
        v = math.ldexp(m, -24)
    elif e == 31:
        v = float("inf") if m == 0 else float("nan")
    else:
        v = math.ldexp(m | 0x400, e - 25)
    return -v if h & 0x8000 else v



class _Decoder:
    def __init__(self, data, max_depth, max_items, max_str):
        self.b = data
        self.n = len(data)
        self.p = 0
        self.max_depth = max_depth
        self.max_items = max_items
        self.max_str = max_str

    def _need(self, p, k):
        if p + k > self.n:
            raise CborError("truncated: %d octet(s) needed, %d left" % (k, self.n - p), p)

    def item(self, depth):
        b = self.b
        p = self.p
        start = p
        self._need(p, 1)
        ib = b[p]
        p += 1
        major = ib >> 5
        ai = ib & 0x1F
        if major == 7:
            return self._simple(ai, start)
        if major == 6:
            raise CborError("tags not supported", start)
        # Argument (count, length or integer value), minimal encoding required.
        if ai < 24:
            arg = ai
        elif ai == 24:
            self._need(p, 1)
            arg = b[p]
            p += 1
            if arg < 24:
                raise CborError("non-minimal encoding of %d" % arg, start)
        elif ai == 25:
            self._need(p, 2)
            arg = (b[p] << 8) | b[p + 1]
            p += 2
            if arg < 0x100:
                raise CborError("non-minimal encoding of %d" % arg, start)
        elif ai == 26:
            self._need(p, 4)
            arg = struct.unpack_from(">I", b, p)[0]
            p += 4
            if arg < 0x10000:
                raise CborError("non-minimal encoding of %d" % arg, start)
        elif ai == 27:
            self._need(p, 8)
            hi, lo = struct.unpack_from(">II", b, p)
            arg = (hi << 32) | lo
            p += 8
            if arg < _2_POW_32:
                raise CborError("non-minimal encoding of %d" % arg, start)
        elif ai == 31:
            if major >= 2:
                raise CborError("indefinite length not supported", start)
            raise CborError("invalid additional information 31", start)
        else:
            raise CborError("reserved additional information %d" % ai, start)
        self.p = p
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major == 2 or major == 3:
            if arg > self.max_str:
                raise CborError(
                    "string of %d octets exceeds max_str %d" % (arg, self.max_str), start
                )
            self._need(p, arg)
            end = p + arg
            self.p = end
            s = bytes(b[p:end])
            if major == 2:
                return s
            # max() runs in C: pure-ASCII text (the usual case) skips the byte loop.
            if arg and max(s) >= 0x80:
                bad = utf8_error(s, 0, arg)
                if bad >= 0:
                    raise CborError("invalid UTF-8 in text string", p + bad)
            return str(s, "utf-8")
        # Arrays and maps.
        if depth >= self.max_depth:
            raise CborError("nesting deeper than max_depth %d" % self.max_depth, start)
        if arg > self.max_items:
            raise CborError(
                "%s of %d items exceeds max_items %d"
                % ("array" if major == 4 else "map", arg, self.max_items),
                start,
            )
        left = self.n - p
        if (arg if major == 4 else 2 * arg) > left:
            raise CborError("truncated: %d items announced, %d octet(s) left" % (arg, left), start)
        depth += 1
        if major == 4:
            lst = []
            for _ in range(arg):
                lst.append(self.item(depth))
            return lst
        d = {}
        for _ in range(arg):
            kp = self.p
            k = self.item(depth)
            if not isinstance(k, (int, str)) or isinstance(k, bool):
                raise CborError("map key must be int or text", kp)
            if k in d:
                raise CborError("duplicate map key %r" % (k,), kp)
            d[k] = self.item(depth)
        return d

    def _simple(self, ai, start):
        b = self.b
        p = start + 1
        if ai == 20:
            self.p = p
            return False
        if ai == 21:
            self.p = p
            return True
        if ai == 22:
            self.p = p
            return None
        if ai == 25:
            self._need(p, 2)
            self.p = p + 2
            return _half_to_float((b[p] << 8) | b[p + 1])
        if ai == 26:
            self._need(p, 4)
            self.p = p + 4
            return struct.unpack_from(">f", b, p)[0]
        if ai == 27:
            self._need(p, 8)
            self.p = p + 8
            return struct.unpack_from(">d", b, p)[0]
        if ai == 31:
            raise CborError("unexpected break (0xff)", start)
        if 28 <= ai <= 30:
            raise CborError("reserved additional information %d" % ai, start)
        if ai == 23:
            raise CborError("unsupported simple value undefined", start)
        if ai == 24:
            self._need(p, 1)
            raise CborError("unsupported simple value %d" % b[p], start)
        raise CborError("unsupported simple value %d" % ai, start)


def decode(data, max_depth, max_items, max_str):
    """flight.cbor.decode's work (the limits are its arguments' defaults there)."""
    d = _Decoder(data, max_depth, max_items, max_str)
    obj = d.item(0)
    if d.p != d.n:
        raise CborError("trailing %d octet(s) after the item" % (d.n - d.p), d.p)
    return obj

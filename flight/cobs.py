"""Consistent Overhead Byte Stuffing (COBS) and a streaming deframer.

Wire format (DESIGN §3.7): every packet is COBS-encoded, so it contains no 0x00
octet, and is followed by one 0x00 delimiter.  :func:`encode` returns the encoded
block *without* the delimiter; the sender appends it (``encode(p) + b"\\x00"``).
A receiver that loses or corrupts octets resynchronises at the next 0x00.

Encoding (Cheshire & Baker, 1999): the data is cut at its zero octets; each piece is
sent as a code octet ``len(piece) + 1`` followed by the piece, the code standing for
"this many octets, then an implied zero".  Pieces longer than 254 octets are split
into 254-octet blocks with code 0xFF, which carries no implied zero.  The implied zero
after the very last block is dropped.  The output is byte-for-byte that of the
``cobs`` package (``cobs.cobs.encode``): ``len(data) + len(data) // 254 + 1`` octets at
most, e.g. ``encode(b"") == b"\\x01"``, ``encode(b"\\x00") == b"\\x01\\x01"``, and 254
non-zero octets encode to 255 octets (no trailing empty block).

:func:`decode` rejects, with :class:`CobsError` (a ``ValueError``): empty input, a zero
octet anywhere in the input, and a block whose code announces more octets than remain.
Both live in flight/cobs_decode.py and are read here (``cobs.decode``), loaded on use.
"""

from flight import lazy
from hal.compat import const

_BLOCK = const(254)  # data octets in a full (code 0xFF) block
_ZERO = b"\x00"

DEFAULT_MAX_FRAME = const(1024)  # Deframer default bound on a decoded frame, octets


def max_encoded_len(n):
    """Longest encoding of an ``n``-octet packet (delimiter not counted)."""
    return n + n // _BLOCK + 1


def encode(data):
    """COBS-encode ``data`` (bytes-like); returns bytes without the 0x00 delimiter."""
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    n = len(data)
    out = bytearray(n + n // _BLOCK + 1)
    dst = memoryview(out)
    src = memoryview(data)
    w = 0
    i = 0
    while True:
        j = data.find(_ZERO, i)
        end = n if j < 0 else j
        seg_start = i
        while end - i >= _BLOCK:
            out[w] = 0xFF
            dst[w + 1 : w + 1 + _BLOCK] = src[i : i + _BLOCK]
            w += _BLOCK + 1
            i += _BLOCK
        k = end - i
        if j < 0 and k == 0 and end > seg_start:
            # The data ends with a full 0xFF block: no trailing empty block.
            break
        out[w] = k + 1
        if k:
            dst[w + 1 : w + 1 + k] = src[i:end]
        w += k + 1
        if j < 0:
            break
        i = j + 1
    return bytes(dst[:w])


SHORT_MAX = const(253)  # longest packet stuff_short() takes: its blocks need no split


def stuff_short(frame, n):
    """COBS-encode in place a packet of ``n`` <= SHORT_MAX octets held at ``frame[1:1+n]``.

    ``frame`` has ``n + 2`` octets: on return it is the whole frame, the encoded block in
    ``frame[0:n+1]`` and the 0x00 delimiter in ``frame[n+1]`` — the same octets as
    ``encode(packet) + b"\\x00"``.  A packet shorter than a full block always encodes to
    ``n + 1`` octets (each zero becomes the distance to the next one, the code octet in
    front covers the first stretch), so the sender can keep one frame buffer per packet
    length and encode without allocating.
    """
    if n > SHORT_MAX:
        raise ValueError("stuff_short: %d octets need block splitting" % n)
    end = n + 1
    last = 0
    i = frame.find(_ZERO, 1, end)
    while i >= 0:
        frame[last] = i - last
        last = i
        i = frame.find(_ZERO, i + 1, end)
    frame[last] = end - last
    frame[end] = 0


_COBS_DECODER = "flight.cobs_decode"


def __getattr__(name):
    """:func:`decode` and :class:`CobsError` (flight/cobs_decode.py), loaded on first use:
    the ground decodes whole blocks; flight only encodes and deframes (issue 11)."""
    if name == "decode" or name == "CobsError":
        return getattr(lazy.load(_COBS_DECODER), name)
    raise AttributeError(name)


class Deframer:
    """Streaming receiver: 0x00-delimited COBS frames in, decoded packets out.

    Incoming octets are accumulated in a buffer preallocated at construction (no
    allocation per octet).  At each 0x00 the accumulated block is decoded into a
    second preallocated buffer and the packet is returned as ``bytes``.

    - Empty blocks (consecutive 0x00, e.g. a leading delimiter sent for sync) are
      ignored and not counted.
    - A block longer than a ``max_frame``-octet packet can encode to, or one that
      decodes to more than ``max_frame`` octets, is dropped: counted in ``oversize``;
      the octets are discarded up to the next 0x00 (the buffer never grows).
    - A block that does not decode is dropped and counted in ``decode_errors``.
    - Good packets are counted in ``frames``; one the ``screen`` hook takes (rejected
      in place) is not returned.

    Any corrupted, lost or inserted octet therefore costs at most the frames it
    touches: reception restarts cleanly after the next 0x00.
    """

    def __init__(self, max_frame=DEFAULT_MAX_FRAME):
        if max_frame < 1:
            raise ValueError("max_frame must be >= 1")
        self.max_frame = max_frame
        self._cap = max_frame + max_frame // _BLOCK + 1
        self._enc = bytearray(self._cap)
        # Decoded in place, in the same buffer: a COBS block's data never lands after
        # where it was read (1 kB of heap less than a second buffer, issue 11).
        self._dec = self._enc
        self._dec_mv = memoryview(self._enc)
        self._len = 0
        self._drop = False
        self.frames = 0
        self.oversize = 0
        self.decode_errors = 0
        # screen(buf, n): a hook that may take a decoded packet still in the receive
        # buffer (True: taken, no ``bytes`` made).  The TC pipeline rejects garbage there
        # (flight/tc.py TcPipeline.screen), so a flood allocates nothing.
        self.screen = None

    def reset(self):
        """Discard any partial frame (counters are kept)."""
        self._len = 0
        self._drop = False

    def pending(self):
        """Octets of the current, not yet delimited frame held in the buffer."""
        return self._len

    def feed(self, data, n=None):
        """Consume ``data[0:n]`` (bytes-like; ``n`` default: all of it); return the
        packets it completed.

        bytes and bytearray are scanned in place and their octets copied without
        slicing: the receive path allocates nothing for octets that complete no good
        frame (line noise, a flood of garbage), nor for a frame that does not decode;
        other buffers (memoryview) are copied once, since they have no ``find``.

        The result is a list of ``bytes`` (one per good frame, in order), or an empty
        tuple when no frame was completed.  Bytes after the last 0x00 stay buffered
        for the next call.
        """
        # (two isinstance calls: a tuple of the types would be built on the heap per call)
        if not (isinstance(data, bytearray) or isinstance(data, bytes)):
            data = bytes(data)  # memoryview has no find(): one copy of the chunk
        if n is None:
            n = len(data)
        enc = self._enc
        cap = self._cap
        frames = None
        i = 0
        while i < n:
            j = data.find(_ZERO, i, n)
            end = n if j < 0 else j
            k = end - i
            if k and not self._drop:
                m = self._len
                if m + k > cap:
                    self._drop = True
                else:
                    _copy(enc, m, data, i, k)
                    self._len = m + k
            if j < 0:
                break
            # Delimiter at j.
            if self._drop:
                self.oversize += 1
            elif self._len:
                frame = self._finish()
                if frame is not None:
                    if frames is None:
                        frames = [frame]
                    else:
                        frames.append(frame)
            self._len = 0
            self._drop = False
            i = j + 1
        if frames is None:
            return ()
        return frames

    def _finish(self):
        # Decoded in place (no exception, no slice): a block that does not decode is
        # counted without allocating; only a good frame becomes a bytes object.  The
        # output goes to the same buffer: the write index never passes the read index
        # (each block writes code-1 octets after reading code of them), so the forward
        # copy reads every octet before it is overwritten.
        src = self._enc
        n = self._len
        dst = self._dec
        cap = self.max_frame
        r = 0
        w = 0
        while r < n:
            code = src[r]
            end = r + code
            if end > n:
                self.decode_errors += 1  # truncated block
                return None
            k = code - 1
            if k:
                if w + k > cap:
                    self.oversize += 1
                    return None
                _copy(dst, w, src, r + 1, k)
                w += k
            r = end
            if code != 0xFF and r < n:
                if w >= cap:
                    self.oversize += 1
                    return None
                dst[w] = 0
                w += 1
        self.frames += 1
        scr = self.screen
        if scr is not None and scr(dst, w):
            return None
        return bytes(self._dec_mv[:w])


def copy_py(dst, doff, src, soff, n):
    """dst[doff:doff+n] = src[soff:soff+n] (the plain-Python twin of
    flight/buf_viper.copy: octet by octet, since a slice would be a heap object)."""
    i = 0
    while i < n:
        dst[doff + i] = src[soff + i]
        i += 1


try:  # the viper kernel where the port compiles it (firmware, unix port), else the twin
    from flight.buf_viper import copy as _copy
except (ImportError, SyntaxError, ValueError):
    _copy = copy_py

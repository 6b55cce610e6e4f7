"""COBS block decoding (flight/cobs.py describes the format): ``cobs.decode`` and
``cobs.CobsError``, read through flight/cobs.py, which loads this module on first use.

The ground decodes whole blocks with it; flight's receiver (``cobs.Deframer``) decodes in
place without it, so frozen in the firmware it is not held on the heap (issue 11).
"""


class CobsError(ValueError):
    """Malformed COBS input."""


def _decode_into(src, n, dst, cap):
    """Decode ``src[0:n]`` (zero-free) into ``dst``; returns the decoded length.

    Returns -1 when the output would exceed ``cap`` octets.  Raises CobsError on a
    truncated block.  The caller guarantees ``src`` holds no 0x00 octet.
    """
    r = 0
    w = 0
    while r < n:
        code = src[r]
        end = r + code
        if end > n:
            raise CobsError(
                "truncated block at offset %d: code 0x%02x needs %d octets, %d left"
                % (r, code, code - 1, n - r - 1)
            )
        k = code - 1
        if k:
            if w + k > cap:
                return -1
            dst[w : w + k] = src[r + 1 : end]
            w += k
        r = end
        if code != 0xFF and r < n:
            if w >= cap:
                return -1
            dst[w] = 0
            w += 1
    return w


def decode(data):
    """Decode one COBS block (without its 0x00 delimiter); returns bytes.

    Raises :class:`CobsError` on empty input, on a 0x00 octet in the input, or on a
    truncated block.
    """
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    n = len(data)
    if n == 0:
        raise CobsError("empty input")
    z = data.find(b"\x00")
    if z >= 0:
        raise CobsError("zero octet at offset %d" % z)
    out = bytearray(n)
    dst = memoryview(out)
    w = _decode_into(memoryview(data), n, dst, n)
    return bytes(dst[:w])

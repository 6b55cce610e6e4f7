"""CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR.

Check value (CRC of ``b"123456789"``): 0x29B1.  Used for the CCSDS packet error
control field (DESIGN §3.7), the framer packet CRC (§3.6) and the parameter slots.

Table driven, one octet per step.  The 256-entry table is split into two 256-octet
``bytes`` objects (high and low octet of each entry), built once at import: 512 octets
of heap, and the inner loop is two indexings and two XORs with no shifts or masks,
which is what matters under MicroPython's bytecode interpreter.

Incremental use::

    c = crc16(header)
    c = crc16(body, c)       # == crc16(header + body)
"""

from hal.compat import const

POLY = const(0x1021)
INIT = const(0xFFFF)
CHECK = const(0x29B1)  # crc16(b"123456789")


def _build_tables():
    hi = bytearray(256)
    lo = bytearray(256)
    for i in range(256):
        c = i << 8
        for _ in range(8):
            if c & 0x8000:
                c = ((c << 1) ^ 0x1021) & 0xFFFF
            else:
                c = (c << 1) & 0xFFFF
        hi[i] = c >> 8
        lo[i] = c & 0xFF
    return bytes(hi), bytes(lo)


_T_HI, _T_LO = _build_tables()


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of ``data`` (bytes, bytearray or memoryview).

    ``crc`` is the running value from a previous call (default: the initial value
    0xFFFF), so a message can be processed in pieces.  Returns an int in 0..0xFFFF.
    """
    hi = (crc >> 8) & 0xFF
    lo = crc & 0xFF
    th = _T_HI
    tl = _T_LO
    for b in data:
        i = hi ^ b
        hi = lo ^ th[i]
        lo = tl[i]
    return (hi << 8) | lo


def crc16_range_py(buf, start, end, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of ``buf[start:end]`` without slicing ``buf`` (a slice is a new
    object on MicroPython's heap: the telemetry path computes packet CRCs in place).
    The plain-Python twin of flight/buf_viper.crc_range."""
    hi = (crc >> 8) & 0xFF
    lo = crc & 0xFF
    th = _T_HI
    tl = _T_LO
    i = start
    while i < end:
        j = hi ^ buf[i]
        hi = lo ^ th[j]
        lo = tl[j]
        i += 1
    return (hi << 8) | lo


try:  # the viper kernel where the port compiles it (firmware, unix port), else the twin
    from flight.buf_viper import crc_range as _crc_range

    def crc16_range(buf, start, end, crc=0xFFFF):
        """CRC-16/CCITT-FALSE of ``buf[start:end]``, in place (see crc16_range_py)."""
        return _crc_range(buf, start, end, crc, _T_HI, _T_LO)
except (ImportError, SyntaxError, ValueError):
    crc16_range = crc16_range_py

"""CCSDS Space Packet (CCSDS 133.0-B-2) primary header and packet error control.

Primary header, 6 octets, big-endian, most significant bit first::

    bits  0-2   packet version number        always 0
    bit   3     packet type                  0 = TM, 1 = TC
    bit   4     secondary header flag        0 in this project (no secondary header)
    bits  5-15  APID                         0..0x7FF
    bits 16-17  sequence flags               0b11 = unsegmented user data
    bits 18-31  packet sequence count        0..0x3FFF
    bits 32-47  packet data length           octets in the packet data field - 1

A full packet (DESIGN §3.7) is ``header || body || PEC`` where PEC is the 2-octet
CRC-16/CCITT-FALSE (big-endian) over header and body.  The PEC belongs to the packet
data field, so the data length field is ``len(body) + 2 - 1``.

Errors are :class:`CcsdsError` (a ``ValueError``) subclasses whose class attribute
``reason`` is the verification-report reason: :class:`LengthError` ("LENGTH"),
:class:`CrcError` ("CRC"), :class:`HeaderError` ("HEADER").  Messages start with the
reason and name the offending field.
"""

import struct

from hal.compat import const
from flight.crc16 import crc16, crc16_range

HEADER_LEN = const(6)
PEC_LEN = const(2)
MIN_PACKET_LEN = const(8)  # header + PEC, empty body
MAX_BODY_LEN = const(65534)  # data length field 0xFFFF = body + PEC - 1

TYPE_TM = const(0)
TYPE_TC = const(1)
SEQ_UNSEGMENTED = const(3)

MAX_APID = const(0x7FF)
MAX_SEQ_COUNT = const(0x3FFF)

# Indices into the tuple returned by unpack_header / parse_packet.
H_VERSION = const(0)
H_TYPE = const(1)
H_SEC_HDR = const(2)
H_APID = const(3)
H_SEQ_FLAGS = const(4)
H_SEQ_COUNT = const(5)
H_DATA_LEN = const(6)


class CcsdsError(ValueError):
    """Base of the packet errors; ``reason`` is the verification-report reason."""

    reason = "HEADER"


class HeaderError(CcsdsError):
    """A header field is out of range or not the expected value."""

    reason = "HEADER"


class LengthError(CcsdsError):
    """Packet too short/long, or its length disagrees with the data length field."""

    reason = "LENGTH"


class CrcError(CcsdsError):
    """The packet error control field does not match the packet."""

    reason = "CRC"


def _check(name, value, hi):
    # bool is accepted as 0/1 (on MicroPython bool is not an int subclass).
    if value is True or value is False:
        return
    if not isinstance(value, int) or value < 0 or value > hi:
        raise HeaderError("HEADER: %s out of range 0..%d: %r" % (name, hi, value))


def pack_header_into(buf, offset, ptype, apid, seq_count, data_len, sec_hdr=0,
                     seq_flags=SEQ_UNSEGMENTED, version=0):
    """Write a primary header into ``buf[offset:offset+6]``; validates every field."""
    _check("version", version, 7)
    _check("type", ptype, 1)
    _check("sec_hdr", sec_hdr, 1)
    _check("apid", apid, MAX_APID)
    _check("seq_flags", seq_flags, 3)
    _check("seq_count", seq_count, MAX_SEQ_COUNT)
    _check("data_len", data_len, 0xFFFF)
    if sec_hdr is True or sec_hdr is False:
        sec_hdr = 1 if sec_hdr else 0
    if ptype is True or ptype is False:
        ptype = 1 if ptype else 0
    struct.pack_into(
        ">HHH",
        buf,
        offset,
        (version << 13) | (ptype << 12) | (sec_hdr << 11) | apid,
        (seq_flags << 14) | seq_count,
        data_len,
    )


def pack_header(ptype, apid, seq_count, data_len, sec_hdr=0, seq_flags=SEQ_UNSEGMENTED,
                version=0):
    """Return the 6-octet primary header; ``data_len`` is the raw field value."""
    buf = bytearray(HEADER_LEN)
    pack_header_into(buf, 0, ptype, apid, seq_count, data_len, sec_hdr, seq_flags, version)
    return bytes(buf)


def unpack_header(buf, offset=0):
    """Decode the primary header at ``buf[offset:]``.

    Returns ``(version, type, sec_hdr, apid, seq_flags, seq_count, data_len)`` (see
    the ``H_*`` index constants).  Only the length is checked here (LengthError if
    fewer than 6 octets); field policy is :func:`parse_packet`'s job.
    """
    if len(buf) - offset < HEADER_LEN:
        raise LengthError(
            "LENGTH: primary header needs 6 octets, %d present" % (len(buf) - offset)
        )
    w0, w1, w2 = struct.unpack_from(">HHH", buf, offset)
    return (w0 >> 13, (w0 >> 12) & 1, (w0 >> 11) & 1, w0 & 0x7FF, w1 >> 14, w1 & 0x3FFF, w2)


def build_packet(ptype, apid, seq_count, body, sec_hdr=0, seq_flags=SEQ_UNSEGMENTED):
    """Return ``header || body || CRC-16`` as bytes.

    ``body`` is bytes-like (may be empty).  LengthError if it exceeds
    ``MAX_BODY_LEN``; HeaderError if a field is out of range.
    """
    n = len(body)
    if n > MAX_BODY_LEN:
        raise LengthError("LENGTH: body of %d octets exceeds %d" % (n, MAX_BODY_LEN))
    total = HEADER_LEN + n + PEC_LEN
    out = bytearray(total)
    pack_header_into(out, 0, ptype, apid, seq_count, n + PEC_LEN - 1, sec_hdr, seq_flags)
    mv = memoryview(out)
    if n:
        mv[HEADER_LEN : HEADER_LEN + n] = body
    struct.pack_into(">H", out, total - PEC_LEN, crc16(mv[: total - PEC_LEN]))
    return bytes(out)


def check_packet(packet, n, ptype=None, apid=None, sec_hdr=0, seq_flags=SEQ_UNSEGMENTED):
    """:func:`parse_packet`'s checks on ``packet[0:n]``, in its order, without allocating:
    the reason ("LENGTH", "CRC", "HEADER") of the first that fails, or None.

    The receive path screens every deframed frame with it, so line noise and a flood of
    garbage are counted without a heap object per frame (no header tuple, exception nor
    message); :func:`parse_packet` gives the detail for a rejection that is reported.
    """
    if n < MIN_PACKET_LEN or n != HEADER_LEN + ((packet[4] << 8) | packet[5]) + 1:
        return "LENGTH"
    if crc16_range(packet, 0, n - PEC_LEN) != (packet[n - 2] << 8) | packet[n - 1]:
        return "CRC"
    b0 = packet[0]
    if b0 >> 5 != 0:
        return "HEADER"
    if ptype is not None and (b0 >> 4) & 1 != ptype:
        return "HEADER"
    if apid is not None and ((b0 << 8) | packet[1]) & MAX_APID != apid:
        return "HEADER"
    if sec_hdr is not None and (b0 >> 3) & 1 != sec_hdr:
        return "HEADER"
    if seq_flags is not None and packet[2] >> 6 != seq_flags:
        return "HEADER"
    return None


def parse_packet(packet, ptype=None, apid=None, sec_hdr=0, seq_flags=SEQ_UNSEGMENTED):
    """Verify one complete packet; return ``(header_tuple, body_bytes)``.

    Checks, in this order (the first failure is raised):

    1. LENGTH: at least 8 octets, and exactly ``6 + data_len + 1`` octets.
    2. CRC: the last two octets equal the CRC-16 of everything before them.
    3. HEADER: version 0; and, unless the argument is None, packet type ``ptype``,
       APID ``apid``, secondary header flag ``sec_hdr`` (default 0) and sequence
       flags ``seq_flags`` (default 0b11).

    The CRC is checked before the header fields because it covers them: a header
    field can only be blamed once the CRC says the octets arrived as sent.
    """
    n = len(packet)
    if n < MIN_PACKET_LEN:
        raise LengthError("LENGTH: packet of %d octets, minimum %d" % (n, MIN_PACKET_LEN))
    h = unpack_header(packet)
    expect = HEADER_LEN + h[6] + 1
    if n != expect:
        raise LengthError(
            "LENGTH: data_len field %d implies %d octets, packet has %d" % (h[6], expect, n)
        )
    mv = memoryview(packet)
    calc = crc16(mv[: n - PEC_LEN])
    got = (packet[n - 2] << 8) | packet[n - 1]
    if calc != got:
        raise CrcError("CRC: packet error control 0x%04x, computed 0x%04x" % (got, calc))
    if h[0] != 0:
        raise HeaderError("HEADER: version %d, expected 0" % h[0])
    if ptype is not None and h[1] != ptype:
        raise HeaderError("HEADER: type %d, expected %d" % (h[1], ptype))
    if apid is not None and h[3] != apid:
        raise HeaderError("HEADER: apid 0x%03x, expected 0x%03x" % (h[3], apid))
    if sec_hdr is not None and h[2] != sec_hdr:
        raise HeaderError("HEADER: sec_hdr %d, expected %d" % (h[2], sec_hdr))
    if seq_flags is not None and h[4] != seq_flags:
        raise HeaderError("HEADER: seq_flags %d, expected %d" % (h[4], seq_flags))
    return h, bytes(mv[HEADER_LEN : n - PEC_LEN])

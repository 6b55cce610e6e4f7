"""The CCSDS packet codec of flight/ccsds.py: its errors, header packing and parsing.

Read as attributes of flight.ccsds (``ccsds.parse_packet``, ``ccsds.LengthError``: the
module's ``__getattr__`` loads this one), so the ground, the tests and flight code use
one name for each.  Flight's steady state needs none of it: the receive path screens
with :func:`flight.ccsds.check_packet` and telemetry writes its headers in place
(flight/tm.py), so frozen in the firmware these classes and functions are not held on
the heap (issue 11): a rejection's detail text is ccsds.reject_detail's, resident.
"""

import struct

from flight.ccsds import (HEADER_LEN, MAX_APID, MAX_BODY_LEN, MAX_SEQ_COUNT, PEC_LEN,
                          SEQ_UNSEGMENTED, reject_detail)
from flight.crc16 import crc16
from hal.compat import const


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
    msg = reject_detail(packet, ptype, apid, sec_hdr, seq_flags)
    if msg:  # (the reason heads the message)
        raise (LengthError if msg[0] == "L" else CrcError if msg[0] == "C" else HeaderError)(msg)
    return unpack_header(packet), bytes(memoryview(packet)[HEADER_LEN:len(packet) - PEC_LEN])

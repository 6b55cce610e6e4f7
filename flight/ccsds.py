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

The errors, the header packing and :func:`parse_packet` live in flight/ccsds_codec.py and
are read here as attributes (``ccsds.parse_packet``), loaded on first use: flight's
steady state needs only the constants and :func:`check_packet` (issue 11).
"""

from flight import lazy
from flight.crc16 import crc16_range
from hal.compat import const

HEADER_LEN = const(6)
PEC_LEN = const(2)
MIN_PACKET_LEN = const(8)  # header + PEC, empty body
MAX_BODY_LEN = const(65534)  # data length field 0xFFFF = body + PEC - 1

TYPE_TM = const(0)
TYPE_TC = const(1)
SEQ_UNSEGMENTED = const(3)

MAX_APID = const(0x7FF)
MAX_SEQ_COUNT = const(0x3FFF)

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



_CODEC = "flight.ccsds_codec"


def __getattr__(name):
    """The codec's names (flight/ccsds_codec.py: errors, pack_header*, unpack_header,
    build_packet, parse_packet, the H_* indices of its header tuple), loaded on first use
    (flight/lazy.py)."""
    if name.startswith("__"):  # (the interpreter's own look-ups: __file__, __path__, ...)
        raise AttributeError(name)
    v = getattr(lazy.load(_CODEC), name, None)
    if v is None:
        raise AttributeError(name)
    return v


def reject_detail(packet, ptype=None, apid=None, sec_hdr=0, seq_flags=SEQ_UNSEGMENTED):
    """The message of :func:`parse_packet`'s rejection of ``packet`` (its checks, in its
    order), or "" if it passes.  Resident and without an exception: the receive path
    builds the text of a rejection it reports with it (flight/tc.py) and needs no codec
    for it (a frozen module's import is ~0.1 M instructions on the target: a flood would
    pay it per report); parse_packet raises with this text (one home of the messages)."""
    n = len(packet)
    if n < MIN_PACKET_LEN:
        return "LENGTH: packet of %d octets, minimum %d" % (n, MIN_PACKET_LEN)
    dl = (packet[4] << 8) | packet[5]
    expect = HEADER_LEN + dl + 1
    if n != expect:
        return "LENGTH: data_len field %d implies %d octets, packet has %d" % (dl, expect, n)
    calc = crc16_range(packet, 0, n - PEC_LEN)
    got = (packet[n - 2] << 8) | packet[n - 1]
    if calc != got:
        return "CRC: packet error control 0x%04x, computed 0x%04x" % (got, calc)
    b0 = packet[0]
    if b0 >> 5 != 0:
        return "HEADER: version %d, expected 0" % (b0 >> 5)
    if ptype is not None and (b0 >> 4) & 1 != ptype:
        return "HEADER: type %d, expected %d" % ((b0 >> 4) & 1, ptype)
    a = ((b0 << 8) | packet[1]) & MAX_APID
    if apid is not None and a != apid:
        return "HEADER: apid 0x%03x, expected 0x%03x" % (a, apid)
    if sec_hdr is not None and (b0 >> 3) & 1 != sec_hdr:
        return "HEADER: sec_hdr %d, expected %d" % ((b0 >> 3) & 1, sec_hdr)
    if seq_flags is not None and packet[2] >> 6 != seq_flags:
        return "HEADER: seq_flags %d, expected %d" % (packet[2] >> 6, seq_flags)
    return ""

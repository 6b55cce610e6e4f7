"""The packet-level checks of a TM packet (DESIGN §3.7), below both the wire module and
the dictionary-driven decoder: the CCSDS primary header with ``spacepackets``, the
length, and the packet error control with ``crcmod`` (``crc-ccitt-false``).

ground_tools.wire (framing, TC encoding) and ground_tools.tmdecode (bodies from the
exported dictionary) both build on it; neither imports the other's internals.
"""

import struct

import crcmod.predefined
from spacepackets.ccsds.spacepacket import PacketType, SpacePacketHeader

HEADER_LEN = 6
PEC_LEN = 2

crc16 = crcmod.predefined.mkCrcFun("crc-ccitt-false")


class WireError(ValueError):
    """A TM packet that does not parse; ``reason`` says which check failed."""

    def __init__(self, reason, message):
        ValueError.__init__(self, "%s: %s" % (reason, message))
        self.reason = reason


def check_tm(packet):
    """(apid, seq, body octets) of one deframed TM packet after the header, length and
    CRC checks; WireError names the failing check."""
    n = len(packet)
    if n < HEADER_LEN + PEC_LEN:
        raise WireError("LENGTH", "packet of %d octets, minimum %d" % (n, HEADER_LEN + PEC_LEN))
    try:
        h = SpacePacketHeader.unpack(bytes(packet[:HEADER_LEN]))
    except ValueError as e:
        raise WireError("HEADER", str(e)) from None
    if n != HEADER_LEN + h.data_len + 1:
        raise WireError("LENGTH", "data length field says %d octets, packet has %d"
                        % (HEADER_LEN + h.data_len + 1, n))
    if crc16(bytes(packet)) != 0:  # CRC over data + its own big-endian CRC leaves 0
        raise WireError("CRC", "packet error control 0x%04x, computed 0x%04x"
                        % (struct.unpack(">H", packet[-2:])[0], crc16(bytes(packet[:-2]))))
    if h.ccsds_version != 0 or h.packet_type != PacketType.TM:
        raise WireError("HEADER", "not a version-0 TM packet (version %d, type %d)"
                        % (h.ccsds_version, int(h.packet_type)))
    return h.apid, h.seq_count, bytes(packet[HEADER_LEN:-PEC_LEN])

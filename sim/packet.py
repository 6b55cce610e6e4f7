"""Bit-exact telecom packet of the optical link (paper §2.5, DESIGN §3.6).

    preamble  8 octets  0x55 x 7, 0xD5 (as IEEE 802.3)
    serial    4 octets  big-endian
    frame   321 octets  payload
    crc       2 octets  CRC-16/CCITT-FALSE over serial + frame, big-endian
    ---------------------------------------------------------------- 335 octets
    gap      12 octets  0x00 between packets

On the wire every octet goes most-significant bit first, each bit as two Manchester
chips; paper §2.5: low->high = logic 0, high->low = logic 1, i.e. 0 -> (0, 1), 1 -> (1, 0).

Pure Python (struct only), MicroPython-clean; used by tests and the ground decoder.
"""

import struct

PREAMBLE = b"\x55" * 7 + b"\xd5"
PREAMBLE_OCTETS = 8
SERIAL_OCTETS = 4
FRAME_OCTETS = 321
CRC_OCTETS = 2
PACKET_OCTETS = PREAMBLE_OCTETS + SERIAL_OCTETS + FRAME_OCTETS + CRC_OCTETS  # 335
GAP_OCTETS = 12
GAP = b"\x00" * GAP_OCTETS


def _make_crc_table():
    # CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected, no final XOR.
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE = _make_crc_table()


def crc16_ccitt_false(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of ``data``; pass the previous value as ``crc`` to continue."""
    t = _CRC_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ t[((crc >> 8) ^ b) & 0xFF]
    return crc


def build_packet(serial, frame):
    """335-octet packet for ``serial`` (0..2^32-1) and a 321-octet ``frame``."""
    if len(frame) != FRAME_OCTETS:
        raise ValueError("frame must be %d octets, got %d" % (FRAME_OCTETS, len(frame)))
    if not 0 <= serial <= 0xFFFFFFFF:
        raise ValueError("serial out of range")
    body = struct.pack(">I", serial) + bytes(frame)
    return PREAMBLE + body + struct.pack(">H", crc16_ccitt_false(body))


def parse_packet(packet):
    """(serial, frame, crc_ok, preamble_bit_errors) of a 335-octet packet."""
    if len(packet) != PACKET_OCTETS:
        raise ValueError("packet must be %d octets, got %d" % (PACKET_OCTETS, len(packet)))
    packet = bytes(packet)
    body = packet[PREAMBLE_OCTETS:PACKET_OCTETS - CRC_OCTETS]
    serial = struct.unpack(">I", body[:SERIAL_OCTETS])[0]
    (crc_rx,) = struct.unpack(">H", packet[PACKET_OCTETS - CRC_OCTETS:])
    return (serial, body[SERIAL_OCTETS:], crc16_ccitt_false(body) == crc_rx,
            preamble_bit_errors(packet[:PREAMBLE_OCTETS]))


def _popcount8(x):
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n


def preamble_bit_errors(preamble):
    """Number of the 64 preamble bits that differ from 0x55 x 7, 0xD5."""
    # indexed loop: MicroPython's zip() has no strict= and ruff wants it spelled out
    n = 0
    for i in range(PREAMBLE_OCTETS):
        n += _popcount8(preamble[i] ^ PREAMBLE[i])
    return n


def build_stream(frames, first_serial=0):
    """Packets for consecutive serials, each followed by the 12-octet gap."""
    out = bytearray()
    for i, frame in enumerate(frames):
        out += build_packet((first_serial + i) & 0xFFFFFFFF, frame)
        out += GAP
    return bytes(out)


# Chip pairs of one data octet: each bit b (MSB first) -> (b, not b); packed MSB first,
# so one octet becomes two chip octets.  0xFF -> 0xAA 0xAA, 0x00 -> 0x55 0x55.
def _make_manchester_table():
    table = []
    for byte in range(256):
        word = 0
        for i in range(7, -1, -1):
            bit = (byte >> i) & 1
            word = (word << 2) | (0b10 if bit else 0b01)
        table.append(word)
    return table


_MANCHESTER = _make_manchester_table()


def manchester_encode(data):
    """Chips of ``data`` packed 8 per octet (2 output octets per input octet)."""
    out = bytearray(2 * len(data))
    j = 0
    for b in data:
        w = _MANCHESTER[b]
        out[j] = w >> 8
        out[j + 1] = w & 0xFF
        j += 2
    return bytes(out)


def manchester_decode(chips):
    """(data, violations) from packed chips (even length).

    A chip pair (1,0) is 1, (0,1) is 0.  (0,0) and (1,1) are code violations: counted,
    and decoded from the first chip (as a sampling receiver would).
    """
    if len(chips) % 2:
        raise ValueError("chip octets come in pairs")
    out = bytearray(len(chips) // 2)
    bad = 0
    for k in range(len(out)):
        word = (chips[2 * k] << 8) | chips[2 * k + 1]
        byte = 0
        for i in range(7, -1, -1):
            pair = (word >> (2 * i)) & 0b11
            if pair == 0b00 or pair == 0b11:
                bad += 1
            byte = (byte << 1) | (pair >> 1)
        out[k] = byte
    return bytes(out), bad


def bits_msb_first(data):
    """List of the bits of ``data``, most significant bit of each octet first."""
    return [(b >> i) & 1 for b in data for i in range(7, -1, -1)]


def chips_of_bits(bits):
    """Manchester chip list of a bit list: 0 -> 0, 1 ; 1 -> 1, 0 (paper §2.5)."""
    out = []
    for b in bits:
        out.append(1 if b else 0)
        out.append(0 if b else 1)
    return out

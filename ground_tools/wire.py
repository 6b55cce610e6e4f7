"""The ground side of the TC/TM wire format (DESIGN §3.7), built on third-party codecs.

This is deliberately an *independent* implementation of what ``flight/`` does with its
own MicroPython codecs: CBOR bodies with ``cbor2``, the CCSDS primary header with
``spacepackets`` (``SpacePacketHeader``), the packet error control with ``crcmod``
(``crc-ccitt-false``), COBS with the ``cobs`` package and the MAC with the standard
library's ``hmac``.  Tests cross-check the two byte for byte, so a mistake on one side
cannot hide behind the same mistake on the other.  Only the *dictionaries* (commands,
APIDs, reasons) come from ``flight/``: one source of truth for what a command is, two
implementations of how it is put on the wire.

TC packet::

    primary header (6) | CBOR [opcode, {name: value}] | key id (1) | counter (4, BE)
    | HMAC-SHA256(header || body || key id || counter)[:16] | CRC-16/CCITT-FALSE (2, BE)

TM packets: primary header (type TM) | body | CRC; on the wire every packet is
COBS-encoded and followed by one 0x00 octet.  The body is decoded as the exported
dictionary says (ground_tools.tmdecode): housekeeping packed big-endian, the rest CBOR.
"""

import hashlib
import hmac
import struct

import cbor2
from cobs import cobs
from spacepackets.ccsds.spacepacket import PacketType, SequenceFlags, SpacePacketHeader

from flight import tm as _tm  # APID numbers only (the dictionary), no codec
from ground_tools import tmdecode
# The packet-level checks live below the decoder (ground_tools.tmcheck); their names
# stay part of this module's interface.
from ground_tools.tmcheck import HEADER_LEN, PEC_LEN, WireError, check_tm, crc16  # noqa: F401

APID_TC = _tm.APID_TC
APID_HK = _tm.APID_HK
APID_EVENT = _tm.APID_EVENT
APID_VERIFY = _tm.APID_VERIFY
APID_ADCS = _tm.APID_ADCS
APID_HK_DIAG = _tm.APID_HK_DIAG
APID_NAMES = dict(_tm.APID_NAMES)

MAC_LEN = 16
TRAILER_LEN = 1 + 4 + MAC_LEN
MAX_SEQ = 0x3FFF
MAX_COUNTER = 0xFFFFFFFF

# ---------------------------------------------------------------------- telecommands
def tc_body(opcode, args):
    """CBOR body ``[opcode, {name: value}]`` (cbor2; map in the order given)."""
    return cbor2.dumps([opcode, args])


def tc_mac(key, header, body, key_id, counter):
    trailer = bytes([key_id]) + struct.pack(">I", counter)
    return hmac.new(key, header + body + trailer, hashlib.sha256).digest()[:MAC_LEN]


def encode_tc(key, key_id, counter, opcode, args, seq=0, apid=APID_TC):
    """One authenticated TC packet (no COBS framing).

    No dictionary check here: this is the raw encoder (the HIL suite uses it to build
    deliberately bad TCs); :mod:`ground_tools.commands` checks arguments first.
    """
    if not 1 <= key_id <= 255:
        raise ValueError("key id %r outside 1..255" % (key_id,))
    if not 0 <= counter <= MAX_COUNTER:
        raise ValueError("counter %r outside 0..%d" % (counter, MAX_COUNTER))
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError("sequence count %r outside 0..%d" % (seq, MAX_SEQ))
    body = tc_body(opcode, args)
    data_len = len(body) + TRAILER_LEN + PEC_LEN - 1
    header = bytes(SpacePacketHeader(packet_type=PacketType.TC, apid=apid, seq_count=seq,
                                     data_len=data_len,
                                     seq_flags=SequenceFlags.UNSEGMENTED).pack())
    trailer = bytes([key_id]) + struct.pack(">I", counter)
    tag = tc_mac(key, header, body, key_id, counter)
    pkt = header + body + trailer + tag
    return pkt + struct.pack(">H", crc16(pkt))


def frame(packet):
    """COBS-encode one packet and append the 0x00 delimiter."""
    return cobs.encode(bytes(packet)) + b"\x00"


# ---------------------------------------------------------------------- telemetry
class Tm:
    """One decoded TM packet."""

    __slots__ = ("apid", "seq", "body", "raw", "index")

    def __init__(self, apid, seq, body, raw=b""):
        self.index = 0  # arrival number, set by a receiver
        self.apid = apid
        self.seq = seq
        self.body = body
        self.raw = raw

    @property
    def kind(self):
        return APID_NAMES.get(self.apid, "apid_%03x" % self.apid)

    def to_json(self):
        return {"apid": self.apid, "kind": self.kind, "seq": self.seq,
                "body": jsonable(self.body)}

    def __repr__(self):
        return "Tm(%s, seq=%d, %r)" % (self.kind, self.seq, self.body)


def parse_tm(packet, dictionary=None):
    """Check and decode one deframed TM packet (body as the dictionary says: a packed
    housekeeping set gives {field: physical value}); WireError names the failing check."""
    from ground_tools import dictionary as _dictionary

    apid, seq, body = check_tm(packet)
    d = dictionary if dictionary is not None else _dictionary.default()
    _kind, _key, value = tmdecode.decode_body(apid, body, d)
    return Tm(apid, seq, value, bytes(packet))


class TmDeframer:
    """0x00-delimited COBS stream → :class:`Tm` objects and errors.

    ``feed(data)`` returns a list of ``Tm`` or ``WireError`` items in stream order; the
    counters ``packets`` and ``errors`` (per reason in ``error_reasons``) keep score.
    A damaged frame costs only itself: decoding restarts after the next 0x00.
    """

    def __init__(self, max_frame=65536, dictionary=None):
        self.max_frame = max_frame
        self.dictionary = dictionary
        self._buf = bytearray()
        self._drop = False
        self.packets = 0
        self.errors = 0
        self.error_reasons = {}

    def _error(self, reason, msg):
        self.errors += 1
        self.error_reasons[reason] = self.error_reasons.get(reason, 0) + 1
        return WireError(reason, msg)

    def feed(self, data):
        out = []
        parts = bytes(data).split(b"\x00")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if not self._drop:
                self._buf += part
                if len(self._buf) > self.max_frame + self.max_frame // 254 + 2:
                    self._drop = True
                    self._buf = bytearray()
            if last:
                break
            # a delimiter follows this part
            if self._drop:
                out.append(self._error("OVERSIZE", "frame longer than %d octets" % self.max_frame))
            elif self._buf:
                block = bytes(self._buf)
                try:
                    pkt = cobs.decode(block)
                except cobs.DecodeError as e:
                    out.append(self._error("COBS", str(e)))
                else:
                    try:
                        out.append(parse_tm(pkt, self.dictionary))
                        self.packets += 1
                    except WireError as e:
                        self.errors += 1
                        self.error_reasons[e.reason] = self.error_reasons.get(e.reason, 0) + 1
                        out.append(e)
            self._buf = bytearray()
            self._drop = False
        return out

    def pending(self):
        return len(self._buf)


def jsonable(obj):
    """A JSON-serialisable copy of a CBOR-decoded value (bytes → hex text)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex()
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return repr(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return repr(obj)

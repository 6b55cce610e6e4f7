"""Telemetry out: CCSDS TM packets, COBS-framed on the bus link.

APIDs (DESIGN §3.7; defined here and nowhere else): housekeeping 0x0A1 and diagnostic
housekeeping 0x0A5 (packed big-endian, flight.telemetry), events 0x0A2, verification
reports 0x0A3, ADCS feedback 0x0A4 (CBOR maps).  Each APID has its own 14-bit sequence
count.

Frames go to a bounded output queue drained to the link as fast as it accepts bytes;
when the queue is full a frame is dropped and counted (``dropped``) — never silently,
never blocking the scheduler.  The last ``reserve_bytes`` of the queue are kept for
verification reports: an event burst or an EVENT_LOG_DUMP on a slow link fills the queue
only up to the reserve, so the acceptance and completion reports still get out.
"""

import struct

from flight import cbor, ccsds, cobs
from flight.crc16 import crc16_range
from hal.compat import const

try:
    from micropython import heap_lock, heap_unlock  # type: ignore[import-not-found]
except ImportError:  # CPython: nothing to lock

    def heap_lock():  # type: ignore[no-redef,misc]
        pass

    def heap_unlock():  # type: ignore[no-redef,misc]
        pass
from flight.events import SEV_WARN, Event
from flight.telemetry import F_NAME, F_TYPE, HkField

APID_TC = const(0x0A0)
APID_HK = const(0x0A1)
APID_EVENT = const(0x0A2)
APID_VERIFY = const(0x0A3)
APID_ADCS = const(0x0A4)
APID_HK_DIAG = const(0x0A5)
APID_NAMES = {APID_TC: "tc", APID_HK: "hk", APID_EVENT: "event", APID_VERIFY: "verify",
              APID_ADCS: "adcs", APID_HK_DIAG: "hk_diag"}

# Keys of a verification report map (APID 0x0A3).
VERIFY_KEYS = ("stage", "ok", "reason", "tc_apid", "tc_seq", "detail", "name", "result",
               "timetag")

EV_TM_OVERFLOW = const(0x44)

_BODY_AT = const(7)  # a short frame's body: after the COBS code octet and the header
_SHORT_BODY_MAX = const(245)  # cobs.SHORT_MAX less the header and the PEC

EVENTS = (
    Event(EV_TM_OVERFLOW, "TM_OVERFLOW", SEV_WARN,
          "the TM output queue was full: packets dropped (once per overflow episode)",
          (("dropped", "int"),)),
)

HK = (
    HkField("tm_sent_packets", "u32", description="TM packets written to the link"),
    HkField("tm_dropped", "u16", warn=(0, 0), description="TM packets dropped: queue full"),
    HkField("tm_queued", "u16", "B", warn=(0, 4096), description="octets waiting for the link"),
    HkField("tm_link_errors", "u16", alarm=(0, 0), description="link write failures"),
)


class TmSender:
    def __init__(self, link, max_queue_bytes=8192, reserve_bytes=1024, emit=None):
        self.link = link
        self.emit = emit  # emit(ev_id, args, detail): TM_OVERFLOW
        self._overflowing = False
        self.max_queue_bytes = max_queue_bytes
        self.reserve_bytes = reserve_bytes  # only verification reports may use it
        self._queue = []
        self._queued = 0
        self._seq = {}
        self.sent_packets = 0
        self.sent_bytes = 0
        self.dropped = 0
        self.link_errors = 0
        self.per_apid = {}
        # Every short frame is built here (send, send_raw): one buffer for every APID,
        # free again when the send returns (a frame the link does not take at once is
        # copied to the queue).  Per APID, the view of it at that APID's last length.
        self._shared = bytearray(cobs.SHORT_MAX + 2)
        self._shared_mv = memoryview(self._shared)
        self._views = {}

    def next_seq(self, apid):
        s = self._seq.get(apid, 0)
        self._seq[apid] = (s + 1) & ccsds.MAX_SEQ_COUNT
        return s

    def send(self, apid, body_obj):
        """Queue one packet with a CBOR body; False (counted) when the queue is full.

        A flat map short enough for one COBS block (every event and verification report:
        cbor.flat_into) is encoded, framed and stuffed in the shared frame buffer with
        the heap locked, and written through a view of it: no bytes object of the body,
        packet or frame (stop 40: an event's send was ~150 k instructions on the M7
        image, ~315 k with a dense heap below it, each of its allocations a first-fit
        scan).  Anything else is encoded the general way (:meth:`send_raw`).
        """
        if type(body_obj) is dict:
            size = self._frame_map(apid, body_obj)
            if size:
                return self._send_frame(apid, self._view(apid, size), False)
        return self.send_raw(apid, cbor.encode(body_obj))

    def _frame_map(self, apid, d):
        """The frame of the map ``d`` built in the shared buffer: its length, or 0 when
        the map is not flat or does not fit a short packet (nothing consumed then)."""
        buf = self._shared
        lock = cbor.TEXT_IN_PLACE  # (a port without the viper kernel allocates its texts)
        if lock:
            heap_lock()
        try:
            end = cbor.flat_into(buf, _BODY_AT, d, _BODY_AT + _SHORT_BODY_MAX)
        except MemoryError:  # (an object of a kind flat_into does not expect)
            end = -1
        finally:
            if lock:
                heap_unlock()
        if end < 0:
            return 0
        return self._build_short(apid, None, end - _BODY_AT)

    def _build_short(self, apid, body, n):
        """The short frame of the ``n`` octets ``body`` (None: already in place) built in
        the shared buffer, delimiter included: its length.  With the heap locked: it
        allocates nothing, and an allocation slipped in would fail in every test
        (without the firmware's Python stack the lock also put the calls' state on the
        C stack instead of each through a first-fit scan of the heap, issue 11)."""
        plen = ccsds.HEADER_LEN + n + ccsds.PEC_LEN
        seq = self.next_seq(apid)  # (unlocked: an APID's first packet adds its count)
        heap_lock()
        try:
            _packet(self._shared, 1, apid, seq, body, n)
            cobs.stuff_short(self._shared, plen)
        finally:
            heap_unlock()
        return plen + 2

    def send_raw(self, apid, body):
        """Queue one packet around the octets ``body``; False when the queue is full.

        Packets shorter than a COBS block (housekeeping, ADCS feedback, most reports) are
        built and stuffed in place in the shared frame buffer and written straight to
        the link, through a view of it kept per APID (:meth:`_view`), when nothing waits
        before them: the steady-state path allocates nothing (DESIGN §3.1).  Only a frame
        the link does not take at once is copied into the queue.
        """
        n = len(body)
        plen = ccsds.HEADER_LEN + n + ccsds.PEC_LEN
        if not 0 <= apid <= ccsds.MAX_APID:
            raise ValueError("APID out of range")
        if plen > cobs.SHORT_MAX:  # long packets (diagnostic HK, dumps): built apart
            if n > ccsds.MAX_BODY_LEN:
                raise ValueError("TM body of %d octets" % n)
            pkt = bytearray(plen)
            _packet(pkt, 0, apid, self.next_seq(apid), body, n)
            return self._send_frame(apid, cobs.encode(pkt) + b"\x00", True)
        # (sending, which may queue a copy, is unlocked)
        size = self._build_short(apid, body, n)
        return self._send_frame(apid, self._view(apid, size), False)

    def _view(self, apid, size):
        """The shared frame buffer's first ``size`` octets, as a view kept per APID: an
        APID whose packets keep their length (housekeeping, ADCS feedback) reuses its
        view and allocates nothing; a new length costs one small view object, where it
        cost a frame buffer of its own until stop 40."""
        v = self._views.get(apid)
        if v is None or len(v) != size:
            v = self._shared_mv[:size]
            self._views[apid] = v
        return v

    def _send_frame(self, apid, frame, owned):
        """``frame`` (delimiter included) to the link, or to the queue behind the frames
        waiting there; ``owned``: the frame is ours to keep (else it is copied first)."""
        limit = self.max_queue_bytes
        if apid != APID_VERIFY:
            limit -= self.reserve_bytes
        size = len(frame)
        if self._queued + size > limit:
            self.dropped += 1
            if not self._overflowing:
                self._overflowing = True
                if self.emit is not None:
                    self.emit(EV_TM_OVERFLOW, [self.dropped], "APID 0x%03X" % apid)
            return False
        self._overflowing = False
        self.per_apid[apid] = self.per_apid.get(apid, 0) + 1
        w = 0
        link = self.link
        if not self._queue and link is not None:
            try:
                w = link.write(frame)
            except Exception:
                self.link_errors += 1
                w = 0
            if w >= size:
                self.sent_packets += 1
                self.sent_bytes += size
                return True
            if w > 0:
                self.sent_bytes += w
        # The link is busy: the rest waits in the queue (a copy: the buffer is reused; a
        # view of the shared buffer is copied through bytes, its slice being a view too).
        if not owned:
            rest = bytes(frame[w:])
        else:
            rest = frame[w:] if w else frame
        self._queue.append(rest)
        self._queued += len(rest)
        if w == 0:
            self.pump()  # frames queued earlier may go now (then this one behind them)
        return True

    def pump(self):
        """Offer queued frames to the link until it stops accepting."""
        link = self.link
        if link is None:
            return
        q = self._queue
        while q:
            frame = q[0]
            try:
                n = link.write(frame)
            except Exception:
                self.link_errors += 1
                return
            if n >= len(frame):
                q.pop(0)
                self._queued -= len(frame)
                self.sent_packets += 1
                self.sent_bytes += len(frame)
            else:
                if n > 0:
                    q[0] = frame[n:]
                    self._queued -= n
                    self.sent_bytes += n
                return

    def queued_bytes(self):
        return self._queued

    def hk(self, values, i):
        values[i] = self.sent_packets
        values[i + 1] = self.dropped
        values[i + 2] = self._queued
        values[i + 3] = self.link_errors


def _packet(buf, o, apid, seq, body, n):
    """The TM packet of the ``n`` octets ``body`` (None: already in place after the
    header) written at ``buf[o:]``: primary header
    (TM, no secondary header, unsegmented, version 0: ccsds.pack_header_into's fields,
    written straight, the values are ours and in range), body, CRC-16.  Allocates
    nothing, and needs no codec (flight/ccsds_codec.py stays unloaded)."""
    dl = n + ccsds.PEC_LEN - 1
    buf[o] = apid >> 8
    buf[o + 1] = apid & 0xFF
    buf[o + 2] = 0xC0 | (seq >> 8)
    buf[o + 3] = seq & 0xFF
    buf[o + 4] = dl >> 8
    buf[o + 5] = dl & 0xFF
    h = o + ccsds.HEADER_LEN
    if n and body is not None:
        buf[h:h + n] = body
    crc = crc16_range(buf, o, h + n)
    buf[h + n] = crc >> 8
    buf[h + n + 1] = crc & 0xFF


class MapPacker:
    """The CBOR map of a fixed, declared set of fields (ADCS feedback, APID 0x0A4), kept
    encoded in one buffer whose values are rewritten in place: the keys are written once,
    ``f32`` fields are doubles (0xFB + 8 octets, as flight.cbor encodes every float) and
    integer fields one octet (0..23).  :meth:`pack` returns None for a value that does
    not fit its slot (the caller then encodes the map the general way); the octets decode
    exactly as ``cbor.encode`` of the same map, in the declared key order.
    """

    def __init__(self, fields):
        out = bytearray([0xA0 | len(fields)])  # map header (< 24 entries)
        self.names = []  # type: list
        self._off = []  # type: list
        self._float = []  # type: list
        for f in fields:
            key = f[F_NAME].encode()  # records are read by position (flight.telemetry)
            out.append(0x60 | len(key))  # text header (< 24 octets)
            out.extend(key)
            self.names.append(f[F_NAME])
            self._off.append(len(out))
            isf = f[F_TYPE] == "f32"
            self._float.append(isf)
            if isf:
                out.append(0xFB)
                out.extend(bytes(8))
            else:
                out.append(0)
        self.buf = out

    def set_q(self, k, q, shift):
        """Field ``k`` (f32) = ``q / 2**shift`` from the integer ``q``, without a float
        object: struct writes the double of the int exactly (|q| < 2**53), then the
        exponent field drops by ``shift`` (a power-of-two scaling is exact)."""
        buf = self.buf
        off = self._off[k] + 1
        struct.pack_into(">d", buf, off, q)
        if q:
            e = (((buf[off] & 0x7F) << 4) | (buf[off + 1] >> 4)) - shift
            buf[off] = (buf[off] & 0x80) | (e >> 4)
            buf[off + 1] = ((e & 0x0F) << 4) | (buf[off + 1] & 0x0F)

    def set_small(self, k, v):
        """Integer field ``k`` = ``v`` (0..23)."""
        self.buf[self._off[k]] = v

    # Read back like the map it encodes (the OBC's relay in the simulator, tests).
    def __getitem__(self, name):
        k = self.names.index(name)
        if self._float[k]:
            return struct.unpack_from(">d", self.buf, self._off[k] + 1)[0]
        return self.buf[self._off[k]]

    def get(self, name, default=None):
        return self[name] if name in self.names else default

    def __iter__(self):
        return iter(self.names)

    def pack(self, values):
        buf = self.buf
        names = self.names
        offs = self._off
        isf = self._float
        for k in range(len(names)):
            v = values[names[k]]
            if isf[k]:
                struct.pack_into(">d", buf, offs[k] + 1, v)
            else:
                if v is True or v is False:
                    v = 1 if v else 0
                if not (isinstance(v, int) and 0 <= v < 24):
                    return None
                buf[offs[k]] = v
        return buf

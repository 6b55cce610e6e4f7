"""An event or verification map is encoded, framed and stuffed in place (flight/tm.py
``send``, flight/cbor.py ``flat_into``, stop 40), on CPython and every MicroPython the
suite runs (the VM, the unix port, the Cortex-M7 image: there the text goes through the
viper kernel flight/buf_viper.put_ascii).

The frame is the general encoding's octets exactly; building it allocates nothing (under
``micropython.heap_lock()``, where the port has the viper kernel); a map the in-place path does not take (non-ASCII text, a
nested map, a body longer than a short packet) goes the general way with the same
octets; a frame the link does not take at once is queued as a copy, so the next map
built in the same buffer does not change it.
"""

from flight import cbor, ccsds, cobs
from flight.tm import APID_EVENT, APID_HK, APID_VERIFY, TmSender
from hal.sim.link import MemLink
from heaplock import locked


def _event(seq, text="the TM output queue was full: packets dropped"):
    # (the expected octets come from the same dict: its order is the interpreter's)
    return {"seq": seq, "time": 1234.5 + seq, "severity": "WARNING", "id": 0x44,
            "name": "TM_OVERFLOW", "text": text, "args": [seq, -3, "x"]}


def _frame(apid, seq, d):
    body = bytearray()
    cbor._enc(body, d, 16)  # the general encoder, item by item (not flat_into)
    return cobs.encode(ccsds.build_packet(ccsds.TYPE_TM, apid, seq, body)) + b"\x00"


def test_an_event_map_is_the_general_encoding_framed():
    link = MemLink()
    tm = TmSender(link)
    for seq in range(5):
        d = _event(seq * 997)
        assert tm.send(APID_EVENT, d)
        assert link.take() == _frame(APID_EVENT, seq, d)
    # Verification reports share the buffer, each APID its own count.
    v = {"stage": "completion", "ok": True, "reason": "", "tc_apid": 0xA0, "tc_seq": 7,
         "detail": "", "name": "NOOP", "result": None, "timetag": 0}
    assert tm.send(APID_VERIFY, v) and link.take() == _frame(APID_VERIFY, 0, v)
    assert tm.sent_packets == 6


def test_building_an_event_frame_allocates_nothing():
    tm = TmSender(MemLink())
    d = _event(3)
    size = tm._frame_map(APID_EVENT, d)  # (an APID's first packet adds its count)
    assert size > 0
    sizes = []

    def build():
        sizes.append(tm._frame_map(APID_EVENT, d))

    sizes.append(0)  # (the list grown before the lock)
    sizes.pop()
    if cbor.TEXT_IN_PLACE:  # the viper kernel: the firmware, the unix port
        locked(build, 1)
    else:  # the WebAssembly VM has no native emitter: its texts are bytes objects
        build()
    assert sizes == [size]
    seq = tm.next_seq(APID_EVENT) - 1  # the frame just built used the one before
    assert bytes(tm._shared[:size]) == _frame(APID_EVENT, seq, d)


def test_maps_the_in_place_path_does_not_take_go_the_general_way():
    link = MemLink()
    tm = TmSender(link)
    maps = [_event(1, "température hors limites"),  # non-ASCII text
            {"a": {"b": 1}},  # a nested map
            _event(2, "x" * 200),  # a body over a short packet's 245 octets
            {"n": 2 ** 40}]  # an int over 32 bits
    for seq, d in enumerate(maps):
        assert tm._frame_map(APID_EVENT, d) == 0
        assert tm.send(APID_EVENT, d)
        assert link.take() == _frame(APID_EVENT, seq, d), d
    assert tm.next_seq(APID_EVENT) == len(maps)  # a refused map consumed no count


def test_a_queued_frame_is_a_copy_the_next_map_does_not_change():
    link = MemLink()
    link.tx_capacity = 10  # takes 10 octets, then nothing until read
    tm = TmSender(link)
    a, b = _event(1), _event(2, "another text, another length")
    assert tm.send(APID_EVENT, a) and tm.send(APID_EVENT, b)
    got = link.take()
    link.tx_capacity = 1 << 20
    tm.pump()
    got += link.take()
    assert got == _frame(APID_EVENT, 0, a) + _frame(APID_EVENT, 1, b)
    assert tm.queued_bytes() == 0 and tm.sent_packets == 2


class RecordingLink:
    """A UART that keeps every octet in a buffer made beforehand: its writes allocate
    nothing (MemLink makes a bytes object per write), so a heap-locked send can run."""

    def __init__(self, cap=4096):
        self.buf = bytearray(cap)
        self.n = 0

    def write(self, data):
        buf = self.buf
        o = self.n
        m = len(data)
        for i in range(m):
            buf[o + i] = data[i]
        self.n = o + m
        return m

    def take(self):
        out = bytes(self.buf[:self.n])
        self.n = 0
        return out


def test_short_packets_of_every_apid_share_one_buffer_each_apid_its_view():
    """Housekeeping-like fixed-length packets between events of changing lengths: every
    frame right, and the fixed-length APID's send allocates nothing once its view is
    made (its length unchanged by the events built in the same buffer between)."""
    link = RecordingLink()
    tm = TmSender(link)
    hk = bytes(range(1, 150))
    seq_hk = 0
    for k in range(4):
        assert tm.send_raw(APID_HK, hk)
        assert link.take() == cobs.encode(
            ccsds.build_packet(ccsds.TYPE_TM, APID_HK, seq_hk, hk)) + b"\x00"
        seq_hk += 1
        d = _event(k, "x" * (10 + 17 * k))
        assert tm.send(APID_EVENT, d) and link.take() == _frame(APID_EVENT, k, d)
    locked(lambda: tm.send_raw(APID_HK, hk), 3)
    want = b""
    for s in range(seq_hk, seq_hk + 3):
        want += cobs.encode(ccsds.build_packet(ccsds.TYPE_TM, APID_HK, s, hk)) + b"\x00"
    assert link.take() == want and tm.link_errors == 0 and tm.queued_bytes() == 0

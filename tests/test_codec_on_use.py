"""Code flight runs rarely is loaded on use and released (issue 11): the CBOR decoder
(flight/cbor_decode.py), the CCSDS codec (flight/ccsds_codec.py) and the command index
(flight/cmdindex.py).  On CPython flight/lazy.py keeps a module loaded from a file, so
these tests make it treat the codecs as frozen (as in the firmware) and check that the
TC path leaves none of them loaded, and that what moved reads and behaves as before."""

import sys

import pytest

from flight import cbor, ccsds, cmddict, lazy, tm
from flight.cmddict import COMMANDS, Dispatcher
from flight.tm import APID_HK, APID_HK_DIAG, APID_TC
from tests.mpy.obc import Obc, fix_crc, ok_pair

ON_USE = ("flight.cbor_decode", "flight.ccsds_codec", "flight.cmdindex")
# (by the namedtuple view: a test naming a record position constant would keep it a global
# of the firmware's cmddict, tools/freeze_trim.py)
PING = next(c.opcode for c in map(cmddict.view, COMMANDS) if c.name == "PING")


@pytest.fixture
def frozen(monkeypatch):
    """flight/lazy.py as in the firmware: a module released after use."""
    monkeypatch.setattr(lazy, "frozen", lambda name: True)
    for m in ON_USE:
        monkeypatch.delitem(sys.modules, m, raising=False)


def _unload():
    for m in ON_USE:
        sys.modules.pop(m, None)


def _flight_only(o, packet):
    """Run the app on ``packet`` (the harness's own decoding of the TM apart): the
    on-use modules the flight left loaded, then the reports."""
    _unload()  # (the harness reads TM with the codecs: they are the test's, not flight's)
    o.send_raw(packet)
    o.app.run_for(40000)
    held = [m for m in ON_USE if m in sys.modules]
    o.collect()
    return held, o.reports()


def test_a_tc_and_a_reported_rejection_leave_no_codec_loaded(frozen):
    o = Obc()
    held, reps = _flight_only(o, o.packet(PING, {}))
    assert held == [] and ok_pair(reps)["ok"] is True
    bad = bytearray(o.packet(PING, {}))
    bad[-1] ^= 1  # a CRC rejection: reported, with the codec's detail text
    held, reps = _flight_only(o, bytes(bad))
    assert held == []
    assert [r["reason"] for r in reps] == ["CRC"]
    assert reps[0]["detail"].startswith("CRC: packet error control")


def test_a_rejections_detail_needs_no_codec(monkeypatch):
    """The detail text of a reported rejection is built by the resident
    ccsds.reject_detail: no module load (a frozen import per report would cost a flood
    ~0.1 M instructions each), whatever the heap."""
    def no_load(name, emit=None):
        raise AssertionError("loaded %s" % name)

    o = Obc()
    bad = bytearray(o.packet(PING, {}))
    bad[-1] ^= 1
    want = ccsds.reject_detail(bytes(bad), ccsds.TYPE_TC, APID_TC)
    monkeypatch.setattr(lazy, "load", no_load)
    o.send_raw(bytes(bad))
    o.app.run_for(40000)
    monkeypatch.undo()
    o.collect()
    reps = o.reports()
    assert [(r["reason"], r["detail"]) for r in reps] == [("CRC", want)]
    assert want.startswith("CRC: packet error control") and o.app.tc.rejected["CRC"] == 1


def test_reject_detail_is_parse_packets_message():
    pkt = ccsds.build_packet(ccsds.TYPE_TC, APID_TC, 1, b"abc")
    assert ccsds.reject_detail(pkt, ccsds.TYPE_TC, APID_TC) == ""
    crc_bad = bytearray(pkt)
    crc_bad[-1] ^= 1
    cases = [(pkt[:-1], {}, ccsds.LengthError, "LENGTH: data_len field 4 implies 11 octets, "
              "packet has 10"),
             (pkt[:5], {}, ccsds.LengthError, "LENGTH: packet of 5 octets, minimum 8"),
             (bytes(crc_bad), {}, ccsds.CrcError, "CRC: packet error control"),
             (pkt, {"apid": APID_HK}, ccsds.HeaderError,
              "HEADER: apid 0x%03x, expected 0x%03x" % (APID_TC, APID_HK)),
             (pkt, {"ptype": 0}, ccsds.HeaderError, "HEADER: type 1, expected 0"),
             (pkt, {"sec_hdr": 1}, ccsds.HeaderError, "HEADER: sec_hdr 0, expected 1"),
             (pkt, {"seq_flags": 1}, ccsds.HeaderError, "HEADER: seq_flags 3, expected 1")]
    for bad, kw, exc, text in cases:
        kw.setdefault("ptype", ccsds.TYPE_TC)
        with pytest.raises(exc) as e:
            ccsds.parse_packet(bad, **kw)
        assert str(e.value).startswith(text) and e.value.reason == text.split(":")[0]
        assert ccsds.reject_detail(bad, **kw) == str(e.value)
    assert ccsds.check_packet(pkt, len(pkt), ccsds.TYPE_TC, APID_HK) == "HEADER"


def test_codec_names_read_through_the_module():
    assert issubclass(ccsds.LengthError, ccsds.CcsdsError)
    assert ccsds.CrcError.reason == "CRC" and ccsds.HeaderError.reason == "HEADER"
    from flight.ccsds import unpack_header  # (an import reads them the same way)

    assert unpack_header(ccsds.pack_header(1, APID_TC, 5, 9))[5] == 5
    with pytest.raises(AttributeError):
        ccsds.no_such_name  # noqa: B018
    with pytest.raises(AttributeError):
        cmddict.NO_SUCH_NAME  # noqa: B018


def test_dispatcher_lookup_needs_no_index(frozen):
    d = Dispatcher()
    c = d.lookup(PING)
    assert (c.name, c.opcode) == ("PING", PING) and d.lookup(0x100) is None
    assert "flight.cmdindex" not in sys.modules
    assert cmddict.BY_NAME["PING"] == c and cmddict.BY_OPCODE.get(PING) == c
    assert "PING" in cmddict.BY_NAME and 0x100 not in cmddict.BY_OPCODE
    assert len(cmddict.BY_NAME) == len(COMMANDS)


def test_dispatcher_refuses_a_table_with_a_duplicate():
    twice = (COMMANDS[0], COMMANDS[0])
    with pytest.raises(ValueError, match="defined twice"):
        Dispatcher(twice)


@pytest.mark.parametrize("n", [0, 1, 244, 245, 246, 300, 2000])
def test_tm_packets_are_build_packets_octets(n):
    """Short and long TM packets, written in place by tm.py, are the codec's packets."""
    body = bytes((i * 7 + 1) & 0xFF for i in range(n))
    out = []

    class Link:
        def write(self, frame):
            out.append(bytes(frame))
            return len(frame)

    s = tm.TmSender(Link())
    assert s.send_raw(APID_HK_DIAG, body)
    from flight import cobs

    assert cobs.decode(out[0][:-1]) == ccsds.build_packet(ccsds.TYPE_TM, APID_HK_DIAG, 0, body)
    with pytest.raises(ValueError):
        s.send_raw(0x800, body)


def test_decode_loads_the_decoder_until_done(frozen):
    assert cbor.decode(cbor.encode({"a": [1, 2.5, None]})) == {"a": [1, 2.5, None]}
    assert "flight.cbor_decode" in sys.modules
    cbor.done()
    assert "flight.cbor_decode" not in sys.modules
    with pytest.raises(cbor.CborError, match="trailing"):
        cbor.decode(b"\x01\x02")
    cbor.done()


def test_fix_crc_helper_still_builds_header_rejections():
    """(tests/mpy/obc.py's helpers read the codec through flight.ccsds too)"""
    pkt = bytearray(ccsds.build_packet(ccsds.TYPE_TC, APID_TC, 1, b"xy"))
    pkt[0] |= 0x20  # version 1
    assert ccsds.check_packet(fix_crc(pkt), len(pkt), ccsds.TYPE_TC, APID_TC) == "HEADER"

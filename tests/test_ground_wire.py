"""The ground wire format (cbor2, spacepackets, crcmod, cobs, hmac) against flight's own
codecs, byte for byte, and the flight pipeline accepting ground-encoded telecommands."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight import cbor, ccsds, cmddict, cobs, mac
from flight.keys import DEV_KEY, DEV_KEY_ID
from flight.tc import TRAILER_LEN
from flight.tc import encode_tc as flight_encode_tc
from flight.tm import APID_ADCS, APID_TC, APID_EVENT, APID_HK, APID_VERIFY, TmSender
from ground_tools import commands, wire
from hal.sim.link import MemLink
from tests.mpy.obc import Obc

# ----------------------------------------------------------------------- strategies
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
scalar = st.one_of(st.integers(-2 ** 63, 2 ** 64 - 1), finite, st.booleans())


def value_for(arg):
    t = arg.atype
    if t == "int":
        return st.integers(arg.lo if arg.lo is not None else -2 ** 63,
                           arg.hi if arg.hi is not None else 2 ** 63)
    if t == "float":
        lo = arg.lo if arg.lo is not None else -1e300
        hi = arg.hi if arg.hi is not None else 1e300
        return st.one_of(st.floats(lo, hi, allow_nan=False),
                         st.integers(int(lo), min(int(hi), 2 ** 53)).filter(
                             lambda v: lo <= v <= hi))
    if t == "bool":
        return st.booleans()
    if t == "str":
        if arg.choices is not None:
            return st.sampled_from(list(arg.choices))
        return st.text(min_size=arg.lo or 0, max_size=arg.hi or 40)
    if t == "bytes":
        return st.binary(min_size=arg.lo or 0, max_size=arg.hi or 64)
    if t == "scalar":
        return scalar
    if t == "map":
        return st.dictionaries(st.text(max_size=12), scalar, max_size=4)
    raise AssertionError("no strategy for %s" % t)


@st.composite
def command_and_args(draw):
    cmd = draw(st.sampled_from(cmddict.COMMANDS))
    args = {}
    for a in cmd.args:
        if a.required or draw(st.booleans()):
            args[a.name] = draw(value_for(a))
    return cmd, args


keys = st.binary(min_size=32, max_size=32)


# ----------------------------------------------------------------------- encoder
@settings(max_examples=1000, deadline=None)
@given(ca=command_and_args(), key=keys, kid=st.integers(1, 255),
       counter=st.integers(0, 0xFFFFFFFF), seq=st.integers(0, 0x3FFF),
       apid=st.integers(0, 0x7FF))
def test_ground_encoder_equals_flight_encoder_byte_for_byte(ca, key, kid, counter, seq, apid):
    cmd, args = ca
    g = wire.encode_tc(key, kid, counter, cmd.opcode, args, seq=seq, apid=apid)
    f = flight_encode_tc(key, kid, counter, cmd.opcode, args, seq=seq, apid=apid)
    assert g == f
    assert wire.frame(g) == cobs.encode(f) + b"\x00"


@settings(max_examples=500, deadline=None)
@given(ca=command_and_args(), key=keys, counter=st.integers(0, 0xFFFFFFFF),
       seq=st.integers(0, 0x3FFF))
def test_flight_decoders_read_back_what_the_ground_encoded(ca, key, counter, seq):
    cmd, args = ca
    pkt = wire.encode_tc(key, 9, counter, cmd.opcode, args, seq=seq)
    # flight's deframer, CCSDS parser, MAC and CBOR decoder (the pipeline's own steps)
    frames = cobs.Deframer(max_frame=4096).feed(wire.frame(pkt))
    assert frames == [pkt]
    h, data = ccsds.parse_packet(pkt, ptype=ccsds.TYPE_TC, apid=APID_TC)
    assert h[ccsds.H_SEQ_COUNT] == seq
    end = len(data) - TRAILER_LEN
    assert data[end] == 9 and struct.unpack(">I", data[end + 1:end + 5])[0] == counter
    assert mac.verify(key, [pkt[:6], data[:end], data[end:end + 5]], data[end + 5:])
    obj = cbor.decode(data[:end])
    assert obj[0] == cmd.opcode and obj[1] == args
    assert cmddict.validate(cmd, dict(obj[1])) is not None


def test_known_vector():
    pkt = wire.encode_tc(DEV_KEY, DEV_KEY_ID, 1, 0x01, {}, seq=0)
    assert pkt[:6] == bytes.fromhex("10a0c0000019")  # TC, APID 0x0A0, flags 11, len 26-1
    assert pkt[6:9] == bytes.fromhex("8201a0")  # [1, {}]
    assert len(pkt) == 6 + 3 + TRAILER_LEN + 2
    assert pkt == flight_encode_tc(DEV_KEY, DEV_KEY_ID, 1, 0x01, {}, seq=0)


def test_encoder_refuses_out_of_range_fields():
    for kw in ({"key_id": 0}, {"key_id": 256}, {"counter": -1}, {"counter": 1 << 32},
               {"seq": 0x4000}):
        a = {"key_id": 1, "counter": 1, "seq": 0}
        a.update(kw)
        with pytest.raises(ValueError):
            wire.encode_tc(DEV_KEY, a["key_id"], a["counter"], 1, {}, seq=a["seq"])


# ----------------------------------------------------------------------- pipeline
ACCEPTED = [
    ("PING", []),
    ("SET_TIME", ["time=123456.5"]),
    ("PARAM_SET", ["name=temp_max_c", "value=42"]),  # an int typed to the float parameter
    ("PARAM_SET", ["name=limit_persist", "value=7"]),
    ("PARAM_GET", ["name=temp_max_c"]),
    ("EVENT_LOG_DUMP", ["max=0x3"]),
    ("SET_MODE", ["mode=STANDBY"]),
    ("FRAMER_SET_MODE", ["mode=PRBS"]),
    ("TIMETAG", ["time=1e6", "opcode=PARAM_GET", 'args={"name": "temp_min_c"}']),
    ("TIMETAG_CLEAR", []),
]


@pytest.mark.parametrize("name,items", ACCEPTED)
def test_flight_pipeline_accepts_ground_encoded_tc(name, items):
    h = Obc()
    cmd, args = commands.parse_command(name, items)
    h.counter += 1
    pkt = wire.encode_tc(DEV_KEY, DEV_KEY_ID, h.counter, cmd.opcode, args, seq=77)
    h.send_raw(wire.frame(pkt), framed=True)
    h.run(60000)
    reps = h.reports()
    acc = [r for r in reps if r["stage"] == "accept"]
    assert len(acc) == 1 and acc[0]["ok"] is True and acc[0]["tc_seq"] == 77, reps
    assert acc[0]["name"] == cmd.name
    if name == "PARAM_SET":
        comp = [r for r in reps if r["stage"] == "complete"][0]
        assert comp["ok"] and comp["result"]["value"] == args["value"]
        assert type(comp["result"]["value"]) is type(args["value"])


def test_flight_pipeline_rejects_ground_packets_signed_with_another_key():
    h = Obc()
    pkt = wire.encode_tc(bytes(32), DEV_KEY_ID, 5, 0x01, {}, seq=1)
    h.send_raw(wire.frame(pkt), framed=True)
    h.run(40000)
    (r,) = h.reports()
    assert r["ok"] is False and r["reason"] == "AUTH"


# ----------------------------------------------------------------------- telemetry
tm_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2 ** 63, 2 ** 64 - 1), finite,
              st.text(max_size=20), st.binary(max_size=20)),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(bodies=st.lists(st.tuples(st.sampled_from([APID_EVENT, APID_VERIFY, APID_ADCS]),
                                 tm_values),
                       min_size=1, max_size=6),
       junk=st.binary(max_size=30))
def test_ground_tm_decoder_reads_flight_tm_stream(bodies, junk):
    link = MemLink()
    tm = TmSender(link, max_queue_bytes=1 << 20)
    for apid, body in bodies:
        assert tm.send(apid, body)
    stream = link.take()
    d = wire.TmDeframer()
    # junk first (ended by a delimiter), then the flight's stream in two pieces
    items = d.feed(junk.replace(b"\x00", b"") + b"\x00")
    cut = len(stream) // 2
    items += d.feed(stream[:cut]) + d.feed(stream[cut:])
    good = [i for i in items if isinstance(i, wire.Tm)]
    assert [(t.apid, t.body) for t in good] == [(a, b) for a, b in bodies]
    seqs = {}
    for t in good:
        assert t.seq == seqs.get(t.apid, 0)
        seqs[t.apid] = t.seq + 1


def test_tm_decoder_names_each_failure():
    pkt = ccsds.build_packet(ccsds.TYPE_TM, APID_EVENT, 3, cbor.encode({"mode": "SAFE"}))
    assert wire.parse_tm(pkt).body == {"mode": "SAFE"}
    bad_crc = pkt[:-1] + bytes([pkt[-1] ^ 1])
    tc_type = ccsds.build_packet(ccsds.TYPE_TC, APID_EVENT, 3, cbor.encode({}))
    bad_cbor = ccsds.build_packet(ccsds.TYPE_TM, APID_EVENT, 3, b"\xff\xff")
    short_hk = ccsds.build_packet(ccsds.TYPE_TM, APID_HK, 3, b"\x00" * 11)  # not its size
    cases = {"CRC": bad_crc, "LENGTH": pkt[:-3], "HEADER": tc_type, "DECODE": bad_cbor}
    cases["DECODE "] = short_hk
    for reason, p in cases.items():
        with pytest.raises(wire.WireError) as e:
            wire.parse_tm(p)
        assert e.value.reason == reason.strip()
    d = wire.TmDeframer(max_frame=64)
    out = d.feed(b"\x05ab\x00" + cobs.encode(pkt) + b"\x00" + b"\x01" * 200 + b"\x00")
    assert [getattr(x, "reason", "ok") for x in out] == ["COBS", "ok", "OVERSIZE"]
    assert d.packets == 1 and d.errors == 2


def test_jsonable_turns_bytes_into_hex():
    assert wire.jsonable({1: b"\x01\xff", "x": [b"", 1.5]}) == {"1": "01ff", "x": ["", 1.5]}

"""Property-based interoperability of the flight codecs with the reference libraries.

ours <-> cbor2 (CBOR), crcmod 'crc-ccitt-false' (CRC), cobs (COBS), spacepackets
(CCSDS primary header), hmac (HMAC-SHA256).  Each property runs 1,000 examples.
"""

import hashlib
import hmac
import math
import struct

import cbor2
import cobs.cobs as ref_cobs
import crcmod.predefined
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from spacepackets.ccsds.spacepacket import PacketType, SequenceFlags, SpacePacketHeader

from flight import cbor, ccsds, cobs, crc16, mac

SETTINGS = settings(
    max_examples=1000,
    deadline=None,
    database=None,  # keep the tree clean; failures print their reproducer anyway
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ref_crc = crcmod.predefined.mkCrcFun("crc-ccitt-false")

# ---------------------------------------------------------------------------- CBOR

U64 = 2**64 - 1
ints = st.integers(min_value=-(2**64), max_value=U64)
# Bias towards the head-size boundaries (23/24, 255/256, 65535/65536, 2**32).
edge_ints = st.sampled_from(
    [0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, U64, -1, -24, -25, -256, -257,
     -65536, -65537, -(2**32), -(2**32) - 1, -(2**64)]
)
floats = st.floats(allow_nan=True, allow_infinity=True)
leaves = st.one_of(
    ints,
    edge_ints,
    st.binary(max_size=300),
    st.text(max_size=40),
    st.booleans(),
    st.none(),
    floats,
)
keys = st.one_of(ints, st.text(max_size=12))
values = st.recursive(
    leaves,
    lambda ch: st.one_of(
        st.lists(ch, max_size=6),
        st.dictionaries(keys, ch, max_size=6),
    ),
    max_leaves=24,
)


def norm(v):
    """Comparable form: floats by their bit pattern (NaN as one value, -0.0 != 0.0)."""
    if isinstance(v, float):
        if math.isnan(v):
            return ("float", "nan")
        return ("float", struct.pack(">d", v))
    if isinstance(v, (list, tuple)):
        return ["list"] + [norm(x) for x in v]
    if isinstance(v, dict):
        # Key order matters for our encodings; compare as ordered pairs.
        return ["map"] + [(norm(k), norm(x)) for k, x in v.items()]
    if isinstance(v, (bytes, bytearray)):
        return ("bytes", bytes(v))
    return (type(v).__name__, v)


def norm_unordered(v):
    if isinstance(v, dict):
        return ("map", sorted((repr(norm(k)), repr(norm_unordered(x))) for k, x in v.items()))
    if isinstance(v, list):
        return ["list"] + [norm_unordered(x) for x in v]
    return norm(v)


def has_nonfinite(v):
    if isinstance(v, float):
        return not math.isfinite(v)
    if isinstance(v, list):
        return any(has_nonfinite(x) for x in v)
    if isinstance(v, dict):
        return any(has_nonfinite(x) for x in v.values())
    return False


@SETTINGS
@given(values)
def test_cbor_ours_to_cbor2(v):
    enc = cbor.encode(v)
    assert norm(cbor2.loads(enc)) == norm(v)
    if not has_nonfinite(v):
        # cbor2 writes NaN/inf as half floats; everything else must be identical.
        assert enc == cbor2.dumps(v)


@SETTINGS
@given(values, st.booleans())
def test_cbor_cbor2_to_ours(v, canonical):
    # canonical=True makes cbor2 use the shortest float (half/single/double) and sort
    # map keys: exercises our half/single decoding on arbitrary values.
    enc = cbor2.dumps(v, canonical=canonical)
    got = cbor.decode(enc)
    if canonical:
        assert norm_unordered(got) == norm_unordered(v)
    else:
        assert norm(got) == norm(v)
        if not has_nonfinite(v):
            assert cbor.encode(got) == enc


@SETTINGS
@given(values, st.data())
def test_cbor_mutated_accepted_implies_cbor2_agrees(v, data):
    # Our decoder is stricter than cbor2: whatever it accepts, cbor2 must read alike.
    enc = bytearray(cbor2.dumps(v))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(enc) - 1))
        enc[i] = data.draw(st.integers(0, 255))
    enc = bytes(enc)
    try:
        ours = cbor.decode(enc)
    except cbor.CborError:
        event("rejected by ours")
        return
    event("accepted by ours")
    assert norm(cbor2.loads(enc)) == norm(ours)


# ---------------------------------------------------------------------------- CRC


@SETTINGS
@given(st.binary(max_size=1024), st.data())
def test_crc_matches_crcmod(data, d):
    assert crc16.crc16(data) == ref_crc(data)
    cut = d.draw(st.integers(0, len(data)))
    assert crc16.crc16(memoryview(data)[cut:], crc16.crc16(bytearray(data[:cut]))) == ref_crc(data)


# ---------------------------------------------------------------------------- COBS

# Zero-rich and zero-free data both matter (block boundaries at 254).
cobs_data = st.one_of(
    st.binary(max_size=1200),
    st.lists(st.sampled_from([0, 1, 0xFF]), max_size=600).map(bytes),
    st.integers(0, 800).map(lambda n: bytes([1]) * n),
)


@SETTINGS
@given(cobs_data)
def test_cobs_encode_matches_reference(data):
    enc = cobs.encode(data)
    assert enc == ref_cobs.encode(data)
    assert len(enc) <= cobs.max_encoded_len(len(data))
    assert ref_cobs.decode(enc) == data


@SETTINGS
@given(cobs_data)
def test_cobs_decode_reference_encodings(data):
    assert cobs.decode(ref_cobs.encode(data)) == data


# Arbitrary input is almost never valid COBS; small code octets and mutated valid
# encodings give both outcomes in good proportion.
cobs_blobs = st.one_of(
    st.binary(min_size=1, max_size=600),
    st.lists(st.sampled_from([1, 2, 3, 5, 0x41, 0xFE, 0xFF]), min_size=1, max_size=600).map(bytes),
    st.tuples(cobs_data, st.integers(0, 2**16), st.integers(0, 255)).map(
        lambda t: (lambda e: e[: t[1] % len(e)] + bytes([t[2]]) + e[t[1] % len(e) + 1 :])(
            ref_cobs.encode(t[0])
        )
    ),
)


@SETTINGS
@given(cobs_blobs)
def test_cobs_decode_agrees_on_arbitrary_input(blob):
    # Same accept/reject decision and same output on any non-empty input (the
    # reference also accepts b"" as the empty packet; we reject it, tested elsewhere).
    try:
        want = ref_cobs.decode(blob)
    except ref_cobs.DecodeError:
        event("invalid")
        with pytest.raises(cobs.CobsError):
            cobs.decode(blob)
    else:
        event("valid")
        assert cobs.decode(blob) == want


@SETTINGS
@given(st.lists(st.binary(max_size=80), max_size=8), st.data())
def test_deframer_reassembles_reference_stream(packets, d):
    stream = b"".join(ref_cobs.encode(p) + b"\x00" for p in packets)
    df = cobs.Deframer(80)
    got = []
    i = 0
    while i < len(stream):
        k = d.draw(st.integers(1, 40))
        got.extend(df.feed(stream[i : i + k]))
        i += k
    assert got == packets
    assert (df.frames, df.oversize, df.decode_errors, df.pending()) == (len(packets), 0, 0, 0)


# ---------------------------------------------------------------------------- CCSDS

fields = st.tuples(
    st.sampled_from([ccsds.TYPE_TM, ccsds.TYPE_TC]),
    st.integers(0, ccsds.MAX_APID),
    st.integers(0, ccsds.MAX_SEQ_COUNT),
    st.integers(0, 0xFFFF),
    st.integers(0, 1),
    st.integers(0, 3),
)


@SETTINGS
@given(fields)
def test_ccsds_pack_matches_spacepackets(f):
    ptype, apid, count, dlen, sec, flags = f
    ref = SpacePacketHeader(
        packet_type=PacketType(ptype), apid=apid, seq_count=count, data_len=dlen,
        sec_header_flag=bool(sec), seq_flags=SequenceFlags(flags),
    )
    ours = ccsds.pack_header(ptype, apid, count, dlen, sec_hdr=sec, seq_flags=flags)
    assert ours == ref.pack()


@SETTINGS
@given(fields)
def test_ccsds_unpack_matches_spacepackets(f):
    ptype, apid, count, dlen, sec, flags = f
    raw = SpacePacketHeader(
        packet_type=PacketType(ptype), apid=apid, seq_count=count, data_len=dlen,
        sec_header_flag=bool(sec), seq_flags=SequenceFlags(flags),
    ).pack()
    h = ccsds.unpack_header(raw)
    assert h == (0, ptype, sec, apid, flags, count, dlen)
    ref = SpacePacketHeader.unpack(ccsds.pack_header(ptype, apid, count, dlen, sec, flags))
    assert (ref.ccsds_version, int(ref.packet_type), int(ref.sec_header_flag), ref.apid,
            int(ref.seq_flags), ref.seq_count, ref.data_len) == h


@SETTINGS
@given(st.sampled_from([0, 1]), st.integers(0, 0x7FF), st.integers(0, 0x3FFF),
       st.binary(max_size=300))
def test_ccsds_packet_layout_and_pec(ptype, apid, count, body):
    pkt = ccsds.build_packet(ptype, apid, count, body)
    hdr = SpacePacketHeader.unpack(pkt[:6])
    assert hdr.packet_len == len(pkt)  # data_len = body + PEC - 1
    assert int.from_bytes(pkt[-2:], "big") == ref_crc(pkt[:-2])
    h, got = ccsds.parse_packet(pkt, ptype=ptype, apid=apid)
    assert got == body and h[ccsds.H_SEQ_COUNT] == count


# ---------------------------------------------------------------------------- HMAC


@SETTINGS
@given(st.binary(max_size=200), st.lists(st.binary(max_size=100), max_size=4))
def test_hmac_matches_stdlib(key, parts):
    msg = b"".join(parts)
    want = hmac.new(key, msg, hashlib.sha256).digest()
    assert mac.hmac_sha256(key, msg) == want
    assert mac.hmac_sha256(key, parts) == want
    assert mac.mac(key, tuple(parts)) == want[:16]
    assert mac.verify(key, msg, want[:16])

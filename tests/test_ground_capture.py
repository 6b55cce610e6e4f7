"""`vector-tc capture-decode`: 50 Mbit/s link captures built with sim/packet.py (the
bit-exact packet builder) — clean, with garbage, truncation, CRC errors, serial gaps,
bit and chip slips, in octets and in Manchester chips, in any chunking."""

import json
import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ground_tools.capture import CaptureDecoder, decode_bytes
from sim import packet as P
from tests.procutil import GUARD_S, ROOT

SLOT = P.PACKET_OCTETS + P.GAP_OCTETS  # 347


def frames(n, seed=1):
    rng = random.Random(seed)
    return [bytes(rng.getrandbits(8) for _ in range(P.FRAME_OCTETS)) for _ in range(n)]


def stream(n, first=1000, seed=1):
    return P.build_stream(frames(n, seed), first_serial=first)


def chips(octets):
    """One Manchester chip per octet, from sim/packet.py's own encoder."""
    return bytes(P.bits_msb_first(P.manchester_encode(octets)))


def garbage(n, seed=5):
    rng = random.Random(seed)
    g = bytes(rng.getrandbits(8) for _ in range(n))
    assert P.PREAMBLE[-4:] not in g
    return g


def core(s):
    return {k: v for k, v in s.items() if k not in ("decode_seconds", "mbps")}


def test_clean_stream_octets():
    s = decode_bytes(stream(40, first=7))
    assert s["packets_ok"] == 40 and s["crc_errors"] == 0 and s["truncated"] == 0
    assert s["serial_gaps"] == 0 and s["first_serial"] == 7 and s["last_serial"] == 46
    assert s["resyncs"] == 0 and s["skipped_octets"] == 0 and s["preamble_bit_errors"] == 0
    assert s["link_seconds"] == pytest.approx(40 * SLOT * 8 / 50e6)


def test_manchester_chips_decode_like_octets():
    data = stream(25, first=3)
    c = chips(data)
    # sim/packet's chip list and the packed encoder agree: 0 -> (0, 1), 1 -> (1, 0)
    assert c[:32] == bytes(P.chips_of_bits(P.bits_msb_first(data[:2])))
    s = decode_bytes(c, manchester=True)
    o = decode_bytes(data)
    for k in ("packets_ok", "crc_errors", "first_serial", "last_serial", "serial_gaps"):
        assert s[k] == o[k]
    assert s["packets_ok"] == 25 and s["manchester_violations"] == 0
    assert s["link_seconds"] == pytest.approx(o["link_seconds"])


def test_garbage_before_between_and_after():
    data = stream(30)
    cap = garbage(1000) + data[:10 * SLOT] + garbage(777, 6) + data[10 * SLOT:] + garbage(500, 7)
    s = decode_bytes(cap)
    assert s["packets_ok"] == 30 and s["crc_errors"] == 0 and s["serial_gaps"] == 0
    assert s["resyncs"] == 1 and s["skipped_octets"] == 777


def test_truncated_packet_followed_by_the_next():
    data = stream(20, first=100)
    cap = data[:5 * SLOT] + data[5 * SLOT:5 * SLOT + 150] + data[6 * SLOT:]
    s = decode_bytes(cap)
    assert s["truncated"] == 1 and s["crc_errors"] == 0 and s["packets_ok"] == 19
    assert s["serial_gaps"] == 1 and s["missing_packets"] == 1
    assert (s["first_serial"], s["last_serial"]) == (100, 119)


def test_capture_cut_in_the_middle_of_a_packet():
    data = stream(10)
    s = decode_bytes(data[:-SLOT + 100])
    assert s["packets_ok"] == 9 and s["truncated"] == 1


def test_crc_error_and_lost_packets_give_gaps():
    data = bytearray(stream(30, first=0))
    data[4 * SLOT + 100] ^= 0x10  # bit error in frame 4
    cap = bytes(data[:10 * SLOT]) + bytes(data[13 * SLOT:])  # packets 10..12 lost
    s = decode_bytes(cap)
    assert s["crc_errors"] == 1 and s["packets_ok"] == 26
    assert s["serial_gaps"] == 2 and s["missing_packets"] == 1 + 3
    assert s["last_serial"] == 29


def test_preamble_bit_errors_counted_and_packet_kept():
    data = bytearray(stream(5))
    data[SLOT + 0] ^= 0x01
    data[SLOT + 2] ^= 0x81
    s = decode_bytes(bytes(data))
    assert s["packets_ok"] == 5 and s["preamble_bit_errors"] == 3


def test_damaged_sync_word_loses_only_that_packet():
    data = bytearray(stream(8))
    data[3 * SLOT + 7] ^= 0x02  # the 0xD5 of packet 3
    s = decode_bytes(bytes(data))
    assert s["packets_ok"] == 7 and s["serial_gaps"] == 1 and s["missing_packets"] == 1


def test_repeated_packet_counts_backwards():
    data = stream(6)
    s = decode_bytes(data[:4 * SLOT] + data[2 * SLOT:3 * SLOT] + data[4 * SLOT:])
    assert s["packets_ok"] == 7 and s["serial_backwards"] == 1


def test_serial_wraps_around_without_a_gap():
    s = decode_bytes(stream(4, first=0xFFFFFFFE))
    assert s["serial_gaps"] == 0 and s["first_serial"] == 0xFFFFFFFE and s["last_serial"] == 1


@pytest.mark.parametrize("shift,chunk", [(1, 4096), (3, 17), (7, 100000)])
def test_octet_capture_with_a_bit_slip_is_realigned(shift, chunk):
    data = stream(40, first=50)
    head, tail = data[:15 * SLOT - 5], data[15 * SLOT - 5:]  # slip in a gap
    # the deserializer slipped: everything after `head` is `shift` bits late
    shifted = (int.from_bytes(tail, "big") << (8 - shift)).to_bytes(len(tail) + 1, "big")
    s = decode_bytes(head + shifted, chunk=chunk)
    assert s["packets_ok"] == 40 and s["crc_errors"] == 0 and s["serial_gaps"] == 0
    assert s["bit_realigned_packets"] == 25


@pytest.mark.parametrize("slip", [-1, 1, 3])
def test_manchester_chip_slips_between_packets(slip):
    c = chips(stream(20))
    cut = 8 * SLOT * 16 + 60  # inside the gap after packet 7
    if slip < 0:
        cap = c[:cut] + c[cut - slip:]
    else:
        cap = c[:cut] + b"\x01" * slip + c[cut:]
    s = decode_bytes(cap, manchester=True, chunk=10007)
    assert s["packets_ok"] == 20 and s["serial_gaps"] == 0 and s["resyncs"] == 1


def test_manchester_code_violations_counted():
    c = bytearray(chips(stream(3)))
    pos = SLOT * 16 + 20 * 16 + 1  # second chip of a pair in packet 1's frame
    c[pos] ^= 1  # (b, b): violation; the first chip still gives the right bit
    s = decode_bytes(bytes(c), manchester=True)
    assert s["packets_ok"] == 3 and s["manchester_violations"] == 1
    c[pos - 1] ^= 1  # now the pair is inverted: a bit error, CRC fails
    s = decode_bytes(bytes(c), manchester=True)
    assert s["crc_errors"] == 1 and s["manchester_violations"] == 0


def test_text_chips_are_accepted():
    c = chips(stream(3))
    text = "".join("01"[b] for b in c)
    lines = "\n".join(text[i:i + 80] for i in range(0, len(text), 80)).encode()
    assert decode_bytes(lines, manchester=True, chunk=999)["packets_ok"] == 3


def test_pure_garbage_and_empty_input():
    assert decode_bytes(garbage(20000))["packets_ok"] == 0
    s = decode_bytes(b"")
    assert s["packets_ok"] == 0 and s["first_serial"] is None


def _messy_capture(seed):
    rng = random.Random(seed)
    data = bytearray(stream(25, first=rng.randrange(1 << 32), seed=seed))
    for _ in range(3):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    i = rng.randrange(len(data))
    return bytes(garbage(rng.randrange(1, 400), seed) + data[:i] + garbage(50, seed + 1)
                 + data[i + rng.randrange(200):])


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 10 ** 6), chunk=st.integers(1, 20000), man=st.booleans())
def test_any_chunking_gives_the_same_result(seed, chunk, man):
    cap = _messy_capture(seed)
    if man:
        cap = chips(cap)
        chunk *= 16
    whole = decode_bytes(cap, manchester=man)
    parts = decode_bytes(cap, manchester=man, chunk=chunk)
    assert core(parts) == core(whole)
    assert whole["packets_ok"] + whole["crc_errors"] + whole["truncated"] <= 27
    assert whole["packets_ok"] >= 20  # at most a handful of packets damaged


def test_on_packet_reports_each_packet():
    got = []
    dec = CaptureDecoder(on_packet=got.append)
    data = bytearray(stream(4, first=9))
    data[2 * SLOT + 50] ^= 4
    dec.feed(bytes(data))
    dec.finish()
    assert [g["status"] for g in got] == ["ok", "ok", "crc_error", "ok"]
    assert [g["serial"] for g in got if g["status"] == "ok"] == [9, 10, 12]
    assert got[1]["offset_bits"] == SLOT * 8


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ground_tools", *args], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=GUARD_S)


def test_cli_json_and_text(tmp_path):
    data = stream(12, first=77)
    f = tmp_path / "cap.bin"
    f.write_bytes(garbage(100) + data[:5 * SLOT] + data[6 * SLOT:])
    p = _cli("capture-decode", str(f), "--json")
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    for k in ("packets_ok", "crc_errors", "serial_gaps", "first_serial", "last_serial"):
        assert k in s
    assert (s["packets_ok"], s["serial_gaps"], s["first_serial"], s["last_serial"]) == (11, 1, 77, 88)
    fm = tmp_path / "cap.chips"
    fm.write_bytes(chips(data))
    p = _cli("capture-decode", str(fm), "--manchester", "--packets", "--json")
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    assert len(lines) == 13 and lines[-1]["packets_ok"] == 12
    assert lines[0]["serial"] == 77 and lines[0]["status"] == "ok"
    p = _cli("capture-decode", str(f))
    assert p.returncode == 0 and "packets ok        11" in p.stdout
    p = _cli("capture-decode", str(tmp_path / "missing.bin"))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "cannot read" in p.stderr

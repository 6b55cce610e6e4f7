"""Telecommand pipeline (DESIGN §3.7, issue 3): every rejection reason.

Each rejection case is sent through the whole stack (MemLink → tc task → deframer →
pipeline → TM on the link) of a booted FlightApp, and checked for: exactly one
verification report, on APID 0x0A3, ``stage == "accept"``, ``ok is False``, the reason
as text, ``tc_apid``/``tc_seq`` of the packet; no completion report; the matching
rejection counter +1; and **no state change** but the anti-replay mark of an authentic
TC (CCSDS SDLS, issue 12 item 3): ``app.snapshot()`` (mode, parameters, anti-replay marks,
key id, time, time-tag queue, reboot flag, power switches, every storage blob) is equal
before and after, with the scheduler run past a housekeeping tick so anything the TC
could have caused to be written to flash has been written.  For a TC rejected after its
authentication (DECODE, UNKNOWN_OPCODE, BAD_ARG, WRONG_MODE, BUSY) the mark of its key id
is its counter, and the anti-replay slots are the only other change.

A rejection persists nothing, not even in the event log: unauthenticated input must not
be able to flush it (issue 12 item 9: TC_REJECTED_AUTH is INFO, a flood leaves one
TC_FLOOD an hour).  Also here: the housekeeping rejection counters, and a burst of
garbage around a valid TC.  The checks themselves: tests/tc_helpers.py.
"""

import struct

import pytest

from flight import cbor, ccsds
from flight.cmddict import ACCEPT_REASONS as REASONS
from flight.keys import DEV_KEY, DEV_KEY_ID
from flight.tc import encode_tc
from flight.tm import APID_HK, APID_TC
from tests.mpy.obc import Obc, fix_crc, sign_body
from tests.tc_helpers import (AUTHENTIC, EVENT_LOG_DUMP, FAR, KEY2, KEY_ROTATE, PARAM_GET,
                              PARAM_LOAD_DEFAULTS, PARAM_SET, PING, REBOOT, SESSION_END,
                              SESSION_START, SET_MODE, SET_TIME, TIMETAG, TIMETAG_CLEAR,
                              accepted, check_rejected, fill_timetags, flip, to_mode)

KEY3 = bytes(range(100, 132))


# --------------------------------------------------------------------------- cases
# (id, reason, setup(h) or None, make(h) -> packet, fresh): ``fresh`` says the packet
# carries the harness's next, never used counter — reusing it afterwards must work.
def _raw_len_short(h):
    return b"\x18\xa0\xc0"


def _no_room_for_trailer(h):
    h.seq += 1
    return ccsds.build_packet(ccsds.TYPE_TC, APID_TC, h.seq, cbor.encode([PING, {}]))


def _set_header_bits(packet, word, mask, value):
    p = bytearray(packet)
    w = struct.unpack_from(">H", p, word * 2)[0]
    struct.pack_into(">H", p, word * 2, (w & ~mask) | value)
    return fix_crc(p)


def _signed(h, body):
    return h.body_packet(body)


def _mac_over(h, opcode, args, key_id, key):
    h.counter += 1
    h.seq += 1
    return encode_tc(key, key_id, h.counter, opcode, args, seq=h.seq)


def _bump_counter(h):
    p = bytearray(h.packet(PING))
    off = len(p) - 2 - 16 - 4
    struct.pack_into(">I", p, off, struct.unpack_from(">I", p, off)[0] + 1)
    return fix_crc(p)


def _replay_same(h):
    p = h.packet(PING)
    h.send_raw(p)
    h.run(40000)
    accepted(h.reports(), "PING")
    return p


def _replay_lower(h):
    accepted(h.send(PING, counter=h.counter + 10))
    h.counter += 10
    return h.packet(PING, counter=h.counter - 5)


def _deep(n):
    v = 1
    for _ in range(n):
        v = [v]
    return v


CASES = [
    # ---- CRC
    ("crc_last_octet", "CRC", None, lambda h: flip(h.packet(PING), -1, 3), True),
    ("crc_body_bit", "CRC", None, lambda h: flip(h.packet(PING), 8, 0), True),
    ("crc_header_bit", "CRC", None, lambda h: flip(h.packet(PING), 1, 1), True),
    ("crc_mac_bit", "CRC", None, lambda h: flip(h.packet(PING), -5, 7), True),
    # ---- LENGTH
    ("length_truncated", "LENGTH", None, lambda h: h.packet(PING)[:-1], True),
    ("length_extended", "LENGTH", None, lambda h: h.packet(PING) + b"\x01", True),
    ("length_field_lie_up", "LENGTH", None,
     lambda h: _set_header_bits(h.packet(PING), 2, 0xFFFF, len(h.packet(PING)) - 6), True),
    ("length_field_lie_down", "LENGTH", None,
     lambda h: _set_header_bits(h.packet(PING), 2, 0xFFFF, 0), True),
    ("length_shorter_than_header", "LENGTH", None, _raw_len_short, False),
    ("length_no_room_for_trailer", "LENGTH", None, _no_room_for_trailer, False),
    ("length_empty_body", "LENGTH", None, lambda h: _signed(h, b""), True),
    # ---- HEADER (CRC valid, and even the MAC is valid: the header is checked first)
    ("header_wrong_apid", "HEADER", None,
     lambda h: sign_body(DEV_KEY, DEV_KEY_ID, h.counter + 1, cbor.encode([PING, {}]),
                         apid=APID_HK), False),
    ("header_tm_type", "HEADER", None,
     lambda h: sign_body(DEV_KEY, DEV_KEY_ID, h.counter + 1, cbor.encode([PING, {}]),
                         ptype=ccsds.TYPE_TM), False),
    ("header_version_1", "HEADER", None,
     lambda h: _set_header_bits(h.packet(PING), 0, 0xE000, 0x2000), True),
    ("header_sec_hdr_flag", "HEADER", None,
     lambda h: _set_header_bits(h.packet(PING), 0, 0x0800, 0x0800), True),
    ("header_seq_flags_first", "HEADER", None,
     lambda h: _set_header_bits(h.packet(PING), 1, 0xC000, 0x4000), True),
    # ---- AUTH
    ("auth_bad_mac", "AUTH", None, lambda h: fix_crc(flip(h.packet(PING), -3, 0)), True),
    ("auth_zero_mac", "AUTH", None,
     lambda h: fix_crc(h.packet(PING)[:-18] + bytes(16) + b"\0\0"), True),
    ("auth_unknown_key_id", "AUTH", None, lambda h: _mac_over(h, PING, {}, 7, KEY3), True),
    ("auth_inactive_key_id", "AUTH", None,  # authentic, held: its counter spent (O1)
     lambda h: _mac_over(h, PING, {}, 2, KEY2), True),
    ("auth_held_key_id_forged", "AUTH", None, lambda h: _mac_over(h, PING, {}, 2, KEY3), True),
    ("auth_held_key_id_signed_by_active", "AUTH", None,
     lambda h: _mac_over(h, PING, {}, 2, DEV_KEY), True),
    ("auth_forged_with_active_id", "AUTH", None,
     lambda h: _mac_over(h, PING, {}, DEV_KEY_ID, KEY2), True),
    ("auth_header_seq_changed", "AUTH", None,
     lambda h: _set_header_bits(h.packet(PING), 1, 0x3FFF, 0x1234), True),
    ("auth_counter_changed", "AUTH", None, _bump_counter, False),
    ("auth_body_changed", "AUTH", None,
     lambda h: fix_crc(h.packet(SET_MODE, {"mode": "SAFE"}).replace(b"SAFE", b"SAFF")), True),
    # ---- REPLAY
    ("replay_same_counter_twice", "REPLAY", None, _replay_same, False),
    ("replay_lower_counter", "REPLAY", None, _replay_lower, False),
    ("replay_counter_zero", "REPLAY", None, lambda h: h.packet(PING, counter=0), False),
    # ---- DECODE (authentic, fresh counter, body not a valid command)
    ("decode_not_cbor", "DECODE", None, lambda h: _signed(h, b"\xff\xff"), True),
    ("decode_trailing_octet", "DECODE", None,
     lambda h: _signed(h, cbor.encode([PING, {}]) + b"\x00"), True),
    ("decode_truncated", "DECODE", None,
     lambda h: _signed(h, cbor.encode([SET_MODE, {"mode": "SAFE"}])[:-1]), True),
    ("decode_indefinite_array", "DECODE", None, lambda h: _signed(h, b"\x9f\x01\xa0\xff"), True),
    ("decode_non_minimal_int", "DECODE", None, lambda h: _signed(h, b"\x82\x18\x01\xa0"), True),
    ("decode_bad_utf8", "DECODE", None,
     lambda h: _signed(h, b"\x82\x03\xa1\x64mode\x62\xc3\x28"), True),
    ("decode_tag", "DECODE", None, lambda h: _signed(h, b"\xc1\x82\x01\xa0"), True),
    ("decode_map_not_list", "DECODE", None, lambda h: _signed(h, cbor.encode({"op": 1})), True),
    ("decode_three_items", "DECODE", None, lambda h: _signed(h, cbor.encode([1, {}, 0])), True),
    ("decode_one_item", "DECODE", None, lambda h: _signed(h, cbor.encode([1])), True),
    ("decode_opcode_text", "DECODE", None, lambda h: _signed(h, cbor.encode(["PING", {}])), True),
    ("decode_opcode_bool", "DECODE", None, lambda h: _signed(h, cbor.encode([True, {}])), True),
    ("decode_opcode_float", "DECODE", None, lambda h: _signed(h, cbor.encode([1.0, {}])), True),
    ("decode_args_list", "DECODE", None, lambda h: _signed(h, cbor.encode([1, []])), True),
    ("decode_too_deep", "DECODE", None,
     lambda h: _signed(h, cbor.encode([TIMETAG, {"args": {"a": _deep(3)}}])), True),
    ("decode_too_many_items", "DECODE", None,
     lambda h: _signed(h, cbor.encode([PING, {"k%d" % i: i for i in range(33)}])), True),
    ("decode_text_too_long", "DECODE", None,
     lambda h: _signed(h, cbor.encode([PARAM_GET, {"name": "x" * 257}])), True),
    # ---- UNKNOWN_OPCODE
    ("opcode_0x7f", "UNKNOWN_OPCODE", None, lambda h: h.packet(0x7F), True),
    ("opcode_zero", "UNKNOWN_OPCODE", None, lambda h: h.packet(0), True),
    ("opcode_negative", "UNKNOWN_OPCODE", None, lambda h: h.packet(-1), True),
    ("opcode_huge", "UNKNOWN_OPCODE", None, lambda h: h.packet(2 ** 64 - 1), True),
    # ---- BAD_ARG: type
    ("arg_type_time_text", "BAD_ARG", None, lambda h: h.packet(SET_TIME, {"time": "soon"}), True),
    ("arg_type_mode_int", "BAD_ARG", None, lambda h: h.packet(SET_MODE, {"mode": 2}), True),
    ("arg_type_int_given_float", "BAD_ARG", None,
     lambda h: h.packet(KEY_ROTATE, {"key_id": 1.5}), True),
    ("arg_type_int_given_bool", "BAD_ARG", None,
     lambda h: h.packet(EVENT_LOG_DUMP, {"max": True}), True),
    ("arg_type_value_text", "BAD_ARG", None,
     lambda h: h.packet(PARAM_SET, {"name": "limit_persist", "value": "5"}), True),
    ("arg_type_param_int_given_2_5", "BAD_ARG", None,
     lambda h: h.packet(PARAM_SET, {"name": "limit_persist", "value": 2.5}), True),
    ("arg_type_param_float_given_bool", "BAD_ARG", None,
     lambda h: h.packet(PARAM_SET, {"name": "temp_max_c", "value": True}), True),
    ("arg_type_timetag_args_list", "BAD_ARG", None,
     lambda h: h.packet(TIMETAG, {"time": FAR, "opcode": PING, "args": [1]}), True),
    # ---- BAD_ARG: range
    ("arg_range_time_negative", "BAD_ARG", None, lambda h: h.packet(SET_TIME, {"time": -1.0}),
     True),
    ("arg_range_time_nan", "BAD_ARG", None,
     lambda h: h.packet(SET_TIME, {"time": float("nan")}), True),
    ("arg_range_dump_max_0", "BAD_ARG", None, lambda h: h.packet(EVENT_LOG_DUMP, {"max": 0}),
     True),
    ("arg_range_dump_max_257", "BAD_ARG", None,
     lambda h: h.packet(EVENT_LOG_DUMP, {"max": 257}), True),
    ("arg_range_key_id_0", "BAD_ARG", None, lambda h: h.packet(KEY_ROTATE, {"key_id": 0}), True),
    ("arg_range_param_above_max", "BAD_ARG", None,
     lambda h: h.packet(PARAM_SET, {"name": "limit_persist", "value": 51}), True),
    ("arg_range_param_below_min", "BAD_ARG", None,
     lambda h: h.packet(PARAM_SET, {"name": "temp_max_c", "value": -41.0}), True),
    ("arg_range_param_inf", "BAD_ARG", None,
     lambda h: h.packet(PARAM_SET, {"name": "temp_max_c", "value": float("inf")}), True),
    ("arg_range_mode_choice", "BAD_ARG", None,
     lambda h: h.packet(SET_MODE, {"mode": "STANDBYX"}), True),
    ("arg_range_name_too_long", "BAD_ARG", None,
     lambda h: h.packet(PARAM_GET, {"name": "n" * 41}), True),
    ("arg_range_name_empty", "BAD_ARG", None, lambda h: h.packet(PARAM_GET, {"name": ""}), True),
    # ---- BAD_ARG: missing / unknown
    ("arg_missing_mode", "BAD_ARG", None, lambda h: h.packet(SET_MODE, {}), True),
    ("arg_missing_value", "BAD_ARG", None,
     lambda h: h.packet(PARAM_SET, {"name": "limit_persist"}), True),
    ("arg_missing_time", "BAD_ARG", None, lambda h: h.packet(TIMETAG, {"opcode": PING}), True),
    ("arg_unknown_name", "BAD_ARG", None, lambda h: h.packet(PING, {"x": 1}), True),
    ("arg_unknown_extra", "BAD_ARG", None,
     lambda h: h.packet(SET_MODE, {"mode": "SAFE", "force": True}), True),
    ("arg_unknown_int_key", "BAD_ARG", None, lambda h: h.packet(PING, {1: 2}), True),
    # ---- BAD_ARG: semantics
    ("arg_unknown_parameter_set", "BAD_ARG", None,
     lambda h: h.packet(PARAM_SET, {"name": "nope", "value": 1}), True),
    ("arg_unknown_parameter_get", "BAD_ARG", None,
     lambda h: h.packet(PARAM_GET, {"name": "nope"}), True),
    ("arg_key_not_in_ring", "BAD_ARG", None, lambda h: h.packet(KEY_ROTATE, {"key_id": 9}), True),
    ("arg_timetag_in_past", "BAD_ARG", None,
     lambda h: h.packet(TIMETAG, {"time": 0.5, "opcode": PING}), True),
    ("arg_timetag_unknown_opcode", "BAD_ARG", None,
     lambda h: h.packet(TIMETAG, {"time": FAR, "opcode": 0x7F}), True),
    ("arg_timetag_of_timetag", "BAD_ARG", None,
     lambda h: h.packet(TIMETAG, {"time": FAR, "opcode": TIMETAG,
                                  "args": {"time": FAR + 1, "opcode": PING}}), True),
    ("arg_timetag_of_clear", "BAD_ARG", None,
     lambda h: h.packet(TIMETAG, {"time": FAR, "opcode": TIMETAG_CLEAR}), True),
    ("arg_timetag_inner_bad", "BAD_ARG", None,
     lambda h: h.packet(TIMETAG, {"time": FAR, "opcode": PARAM_SET,
                                  "args": {"name": "limit_persist", "value": 99}}), True),
    ("arg_timetag_inner_missing", "BAD_ARG", None,
     lambda h: h.packet(TIMETAG, {"time": FAR, "opcode": SET_MODE}), True),
    # ---- WRONG_MODE
    ("mode_session_start_in_safe", "WRONG_MODE", None, lambda h: h.packet(SESSION_START), True),
    ("mode_set_session_from_safe", "WRONG_MODE", None,
     lambda h: h.packet(SET_MODE, {"mode": "SESSION"}), True),
    ("mode_session_end_in_standby", "WRONG_MODE", lambda h: to_mode(h, "STANDBY"),
     lambda h: h.packet(SESSION_END), True),
    ("mode_reboot_in_session", "WRONG_MODE", lambda h: to_mode(h, "SESSION"),
     lambda h: h.packet(REBOOT), True),
    ("mode_load_defaults_in_session", "WRONG_MODE", lambda h: to_mode(h, "SESSION"),
     lambda h: h.packet(PARAM_LOAD_DEFAULTS), True),
    # ---- BUSY
    ("busy_timetag_queue_full", "BUSY", fill_timetags,
     lambda h: h.packet(TIMETAG, {"time": FAR + 100, "opcode": PING}), True),
]


def test_cases_cover_every_reason():
    assert {c[1] for c in CASES} == set(REASONS)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rejection(case):
    _, reason, setup, make, fresh = case
    h = Obc(keys={DEV_KEY_ID: DEV_KEY, 2: KEY2})
    if setup is not None:
        setup(h)
    packet = make(h)
    r = check_rejected(h, packet, reason, held=case[0] == "auth_inactive_key_id")
    if reason == "AUTH":
        assert not r.get("detail"), r  # nothing that helps a forger (issue 12 item 15)
    else:
        assert r.get("detail"), r  # a rejection says why, for the operator
    if fresh and reason in AUTHENTIC:
        # The authentic TC consumed its counter (SDLS): the same counter is a replay,
        # the next one works.
        check_rejected(h, h.packet(PING, counter=h.counter), "REPLAY")
        accepted(h.send(PING), "PING")
    elif fresh:
        # The rejected TC did not consume its counter: the same counter, genuine, works.
        accepted(h.send(PING, counter=h.counter), "PING")


def test_rejection_sets_housekeeping_counters():
    h = Obc()
    h.send_raw(flip(h.packet(PING), -1))
    h.send_raw(h.packet(0x7F))
    h.send_raw(h.packet(0x7F))
    h.run(1100000)
    hk = h.of(APID_HK)[-1]
    assert hk["tc_rej_crc"] == 1
    assert hk["tc_rej_unknown_opcode"] == 2
    assert hk["tc_accepted"] == 0
    assert {k for k in hk if k.startswith("tc_rej_")} == {"tc_rej_" + r.lower() for r in REASONS}
    assert sum(hk["tc_rej_" + r.lower()] for r in REASONS) == 3


def test_interleaved_garbage_does_not_disturb_a_valid_tc():
    """Noise, bad frames and a good one in one burst: each frame gets its own outcome."""
    from flight import cobs

    h = Obc()
    good = h.packet(PING)
    burst = (b"\x00\x00"  # sync delimiters: ignored
             + b"\x03\x11\x22\x00"  # decodes to 2 octets: LENGTH
             + b"\x05\x11\x22\x00"  # bad COBS (block runs past the frame): dropped, counted
             + cobs.encode(flip(good, 3)) + b"\x00"  # CRC
             + cobs.encode(good) + b"\x00")
    h.send_raw(burst, framed=True)
    h.run(40000)
    reps = h.reports()
    assert [(r["stage"], r["ok"], r["reason"]) for r in reps] == [
        ("accept", False, "LENGTH"), ("accept", False, "CRC"),
        ("accept", True, None), ("complete", True, None)]
    d = h.app.deframer
    assert (d.frames, d.decode_errors, d.oversize) == (3, 1, 0)
    assert h.app.tc.accepted + h.app.tc.rejected_total() == d.frames

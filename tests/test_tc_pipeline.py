"""Telecommand pipeline (DESIGN §3.7, issue 3): every rejection reason, every core command.

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
TC_FLOOD an hour).
"""

import struct

import pytest

from flight import cbor, ccsds, events
from flight.corecmds import EV_REBOOT_REQUESTED
from flight.keys import DEV_KEY, DEV_KEY_ID
from flight.replay import RESERVE
from flight.cmddict import ACCEPT_REASONS as REASONS
from flight.cmddict import COMMANDS
from flight.tc import encode_tc
from flight.tclimit import EV_TC_FLOOD
from flight.tm import APID_EVENT, APID_HK, APID_TC, APID_VERIFY
from tests.mpy.obc import Obc, fix_crc, sign_body

OP = {c.name: c.opcode for c in COMMANDS}
PING, SET_TIME, SET_MODE = OP["PING"], OP["SET_TIME"], OP["SET_MODE"]
PARAM_SET, PARAM_GET, PARAM_SAVE = OP["PARAM_SET"], OP["PARAM_GET"], OP["PARAM_SAVE"]
PARAM_LOAD_DEFAULTS, EVENT_LOG_DUMP = OP["PARAM_LOAD_DEFAULTS"], OP["EVENT_LOG_DUMP"]
REBOOT, TIMETAG, TIMETAG_CLEAR = OP["REBOOT"], OP["TIMETAG"], OP["TIMETAG_CLEAR"]
KEY_ROTATE, SESSION_START, SESSION_END = OP["KEY_ROTATE"], OP["SESSION_START"], OP["SESSION_END"]

REPORT_KEYS = {"stage", "ok", "reason", "tc_apid", "tc_seq"}
KEY2 = bytes(range(32))
KEY3 = bytes(range(100, 132))
EVLOG_BLOBS = ("evlog0", "evlog1", "evlog2")
FAR = 1.0e6  # a time-tag execution time far in the future, s


# --------------------------------------------------------------------------- helpers
def state(app):
    """(snapshot without the event-log blobs, the event-log blobs)."""
    snap = app.snapshot()
    st = dict(snap["storage"])
    ev = {k: st.pop(k, None) for k in EVLOG_BLOBS}
    snap["storage"] = st
    return snap, ev


def accepted(reps, name=None):
    """Assert ``reps`` is exactly accept-ok then complete-ok; return the completion."""
    assert [(r["stage"], r["ok"]) for r in reps] == [("accept", True), ("complete", True)], reps
    for r in reps:
        assert REPORT_KEYS <= set(r)
        assert r["reason"] is None
        assert r["tc_apid"] == APID_TC
        if name is not None:
            assert r["name"] == name
    assert reps[0]["tc_seq"] == reps[1]["tc_seq"]
    return reps[1]


# Rejected after successful authentication: the anti-replay mark moves (SDLS; issue 12
# item 3), nothing else does.
AUTHENTIC = ("DECODE", "UNKNOWN_OPCODE", "BAD_ARG", "WRONG_MODE", "BUSY")


def without_replay(snap):
    snap = dict(snap)
    snap.pop("replay")
    snap["storage"] = {k: v for k, v in snap["storage"].items() if not k.startswith("replay.")}
    return snap


def check_rejected(h, packet, reason):
    """Send ``packet``; assert one rejection report with ``reason`` and no state change
    (but the anti-replay mark, for a TC rejected after authentication)."""
    app = h.app
    h.settle()
    before, ev_before = state(app)
    log_before = app.events.persistent_log()
    counts = dict(app.tc.rejected)
    n_acc = app.tc.accepted
    n_done = app.tc.completed_ok + app.tc.completed_fail
    h.send_raw(packet)
    h.run(1100000)  # past a housekeeping tick: anything to persist has been written
    reps = h.reports()
    assert len(reps) == 1, reps
    r = reps[0]
    assert REPORT_KEYS <= set(r)
    assert r["stage"] == "accept" and r["ok"] is False and r["reason"] == reason, r
    if len(packet) >= ccsds.HEADER_LEN:
        hdr = ccsds.unpack_header(packet)
        assert (r["tc_apid"], r["tc_seq"]) == (hdr[ccsds.H_APID], hdr[ccsds.H_SEQ_COUNT])
    else:
        assert (r["tc_apid"], r["tc_seq"]) == (-1, -1)
    after, ev_after = state(app)
    if reason in AUTHENTIC:
        assert without_replay(after) == without_replay(before)
        kid, counter = packet[-23], struct.unpack(">I", packet[-22:-18])[0]
        assert after["replay"][kid] == counter  # the authentic TC is spent
    else:
        assert after == before
    expect = dict(counts)
    expect[reason] += 1
    assert app.tc.rejected == expect
    assert app.tc.accepted == n_acc
    assert app.tc.completed_ok + app.tc.completed_fail == n_done
    log_after = app.events.persistent_log()
    assert ev_after == ev_before  # a rejection persists nothing (issue 12 item 9)
    assert log_after == log_before
    return r


def flip(packet, i, bit=0):
    p = bytearray(packet)
    p[i] ^= 1 << bit
    return bytes(p)


def to_mode(h, mode):
    path = {"SAFE": ["SAFE"], "STANDBY": ["STANDBY"], "SESSION": ["STANDBY", "SESSION"]}
    for m in path[mode]:
        accepted(h.send(SET_MODE, {"mode": m}), "SET_MODE")
    assert h.app.modes.mode == mode


def fill_timetags(h):
    n = h.app.timetags.capacity
    for i in range(n):
        accepted(h.send(TIMETAG, {"time": FAR + i, "opcode": PING}), "TIMETAG")
    assert len(h.app.timetags) == n


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
    ("auth_inactive_key_id", "AUTH", None,
     lambda h: _mac_over(h, PING, {}, 2, KEY2), True),
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
    r = check_rejected(h, packet, reason)
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


# --------------------------------------------------------------------------- commands
def test_ping():
    h = Obc()
    c = accepted(h.send(PING), "PING")
    assert c["result"]["version"]
    assert c["tc_seq"] == h.seq


def test_reports_in_order_with_their_own_sequence_count():
    h = Obc()
    h.send_raw(h.packet(PING))
    h.send_raw(h.packet(0x7F))
    h.run(40000)
    verify = [(s, b) for a, s, b in h.tm if a == APID_VERIFY]
    assert [(b["stage"], b["ok"], b["tc_seq"]) for s, b in verify] == [
        ("accept", True, 1), ("complete", True, 1), ("accept", False, 2)]
    assert [s for s, b in verify] == [0, 1, 2]  # the verification APID's own count


def test_set_time():
    h = Obc()
    h.settle()
    accepted(h.send(SET_TIME, {"time": 1.0e8}), "SET_TIME")
    assert abs(h.app.now_s() - 1.0e8) < 0.1
    h.run(1000000)
    hk = h.of(APID_HK)[-1]
    assert 1.0e8 < hk["time"] + hk["time_ms"] / 1000 < 1.0e8 + 1.1
    assert "TIME_SET" in [e["name"] for e in h.of(APID_EVENT)]


def test_set_mode_transitions_and_refusals():
    h = Obc()
    assert h.app.modes.mode == "SAFE"
    # SAFE -> SESSION refused (acceptance), nothing changes.
    r = check_rejected(h, h.packet(SET_MODE, {"mode": "SESSION"}), "WRONG_MODE")
    assert "STANDBY" in r["detail"]
    c = accepted(h.send(SET_MODE, {"mode": "STANDBY"}))
    assert c["result"]["mode"] == h.app.modes.mode == "STANDBY"
    c = accepted(h.send(SET_MODE, {"mode": "STANDBY"}))  # same mode: no-op, succeeds
    assert c["result"]["mode"] == "STANDBY"
    accepted(h.send(SET_MODE, {"mode": "SESSION"}))
    assert h.app.modes.mode == "SESSION"
    accepted(h.send(SET_MODE, {"mode": "STANDBY"}))
    assert h.app.modes.mode == "STANDBY"
    accepted(h.send(SET_MODE, {"mode": "SESSION"}))
    accepted(h.send(SET_MODE, {"mode": "SAFE"}))
    assert h.app.modes.mode == "SAFE"
    assert h.app.modes.last_safe_cause == "TC"
    accepted(h.send(SET_MODE, {"mode": "STANDBY"}))
    accepted(h.send(SESSION_START))
    assert h.app.modes.mode == "SESSION"
    accepted(h.send(SESSION_END))
    assert h.app.modes.mode == "STANDBY"
    h.run(1000000)
    changes = [e["text"] for e in h.of(APID_EVENT) if e["name"] == "MODE_CHANGE"]
    assert changes[0].startswith("SAFE -> STANDBY")
    assert changes[-1].startswith("SESSION -> STANDBY")


def test_param_set_get_save_load_defaults():
    h = Obc()
    accepted(h.send(PARAM_SET, {"name": "limit_persist", "value": 7}), "PARAM_SET")
    c = accepted(h.send(PARAM_GET, {"name": "limit_persist"}), "PARAM_GET")
    assert c["result"] == {"name": "limit_persist", "value": 7}
    accepted(h.send(PARAM_SET, {"name": "temp_max_c", "value": 55}))  # int given to a float
    assert h.app.params["temp_max_c"] == 55.0 and isinstance(h.app.params["temp_max_c"], float)
    c = accepted(h.send(PARAM_SAVE), "PARAM_SAVE")
    gen = c["result"]["generation"]
    assert gen >= 1
    accepted(h.send(PARAM_SET, {"name": "limit_persist", "value": 9}))  # RAM only
    accepted(h.send(PARAM_LOAD_DEFAULTS), "PARAM_LOAD_DEFAULTS")
    assert h.app.params["limit_persist"] == 3
    assert h.app.params["temp_max_c"] == 60.0
    # Reboot: the saved set (7, 55.0) comes back, not the unsaved 9 nor the defaults.
    h2 = h.reboot()
    assert h2.app.params["limit_persist"] == 7
    assert h2.app.params["temp_max_c"] == 55.0
    c = accepted(h2.send(PARAM_GET, {"name": "limit_persist"}))
    assert c["result"]["value"] == 7
    c = accepted(h2.send(PARAM_SAVE))
    assert c["result"]["generation"] == gen + 1


def test_param_load_defaults_refused_in_session():
    h = Obc()
    to_mode(h, "SESSION")
    accepted(h.send(PARAM_SET, {"name": "limit_persist", "value": 7}))
    check_rejected(h, h.packet(PARAM_LOAD_DEFAULTS), "WRONG_MODE")
    assert h.app.params["limit_persist"] == 7


def test_event_log_dump():
    h = Obc()
    accepted(h.send(REBOOT))  # a WARN event: goes to the persistent log
    h2 = h.reboot()
    h2.settle()
    c = accepted(h2.send(EVENT_LOG_DUMP, {"max": 256}), "EVENT_LOG_DUMP")
    h2.run(100000)
    dumped = [e for e in h2.of(APID_EVENT) if e.get("dump")]
    assert c["result"]["entries"] == len(dumped) == c["result"]["total"]
    names = [e["name"] for e in dumped]
    # Both boots' warnings, oldest first: the first boot's survive the reboot.
    assert names.count("DEV_KEY_IN_USE") == 2
    assert names.index("REBOOT_REQUESTED") < len(names) - 1
    ns = [e["n"] for e in dumped]
    assert ns == sorted(ns) and len(set(ns)) == len(ns)
    # ``max`` bounds the dump to the newest entries.
    c = accepted(h2.send(EVENT_LOG_DUMP, {"max": 1}))
    h2.run(100000)
    assert c["result"]["entries"] == 1
    assert [e for e in h2.of(APID_EVENT) if e.get("dump")][-1]["n"] == ns[-1]


def test_reboot_sets_flag_and_stops_after_report():
    h = Obc()
    h.send_raw(h.packet(REBOOT))
    h.app.run_for(5000000)
    # The scheduler stopped at the first tc tick after the TC: report out, queue empty.
    assert h.app.reboot_requested is True
    assert h.app.sched.running is False
    assert h.app.clock.now_us() < 100000
    assert h.app.tm.queued_bytes() == 0
    h.collect()
    accepted(h.reports(), "REBOOT")
    assert "REBOOT_REQUESTED" in [e["name"] for e in h.of(APID_EVENT)]
    h2 = h.reboot()
    assert h2.app.boot_count == h.app.boot_count + 1
    assert h2.app.reboot_requested is False


def test_reboot_waits_for_a_congested_link():
    h = Obc()
    h.board.link.tx_capacity = 0  # the OBC is not reading
    h.send_raw(h.packet(REBOOT))
    h.app.run_for(200000)
    assert h.app.reboot_requested and h.app.tm.queued_bytes() > 0
    assert h.app.clock.now_us() >= 200000  # still running: the report is not out yet
    h.board.link.tx_capacity = 1 << 20
    h.app.run_for(200000)
    assert h.app.tm.queued_bytes() == 0
    assert h.app.clock.now_us() < 200000 + 40000
    h.collect()
    accepted(h.reports(), "REBOOT")


def test_timetag_executes_at_time_with_marked_completion():
    h = Obc()
    h.settle()
    t = h.app.now_s() + 2.0
    reps = h.send(TIMETAG, {"time": t, "opcode": PARAM_SET,
                            "args": {"name": "limit_persist", "value": 11}})
    c = accepted(reps, "TIMETAG")
    assert c["result"]["queued"] == 1
    seq = c["tc_seq"]
    h.run(1500000)
    assert h.app.params["limit_persist"] == 3  # not yet
    assert h.reports() == []
    h.run(1000000)
    assert h.app.params["limit_persist"] == 11
    reps = h.reports()
    assert len(reps) == 1
    r = reps[0]
    assert r["stage"] == "complete" and r["ok"] is True and r["timetag"] is True
    assert r["tc_seq"] == seq and r["name"] == "PARAM_SET"
    assert r["result"]["value"] == 11
    assert len(h.app.timetags) == 0
    assert "TIMETAG_EXECUTED" in [e["name"] for e in h.of(APID_EVENT)]


def test_timetag_order_and_mode_checked_at_execution():
    h = Obc()
    h.settle()
    now = h.app.now_s()
    # Queued in SAFE: STANDBY at +2 s, then SESSION at +3 s (needs STANDBY when it runs).
    accepted(h.send(TIMETAG, {"time": now + 3.0, "opcode": SET_MODE,
                              "args": {"mode": "SESSION"}}))
    accepted(h.send(TIMETAG, {"time": now + 2.0, "opcode": SET_MODE,
                              "args": {"mode": "STANDBY"}}))
    # SESSION_END is only allowed in SESSION: at +1 s (SAFE) it fails, WRONG_MODE.
    accepted(h.send(TIMETAG, {"time": now + 1.0, "opcode": SESSION_END}))
    h.run(3500000)
    reps = h.reports()
    assert [(r["name"], r["ok"], r["reason"]) for r in reps] == [
        ("SESSION_END", False, "WRONG_MODE"), ("SET_MODE", True, None),
        ("SET_MODE", True, None)]
    assert all(r["timetag"] for r in reps)
    assert h.app.modes.mode == "SESSION"


def test_timetag_queue_bounded_busy_and_clear():
    h = Obc()
    fill_timetags(h)
    check_rejected(h, h.packet(TIMETAG, {"time": FAR, "opcode": PING}), "BUSY")
    c = accepted(h.send(TIMETAG_CLEAR), "TIMETAG_CLEAR")
    assert c["result"]["dropped"] == h.app.timetags.capacity
    assert len(h.app.timetags) == 0
    accepted(h.send(TIMETAG, {"time": FAR, "opcode": PING}))


def test_timetag_clear_drops_pending_commands():
    h = Obc()
    h.settle()
    t = h.app.now_s() + 1.0
    accepted(h.send(TIMETAG, {"time": t, "opcode": PARAM_SET,
                              "args": {"name": "limit_persist", "value": 12}}))
    accepted(h.send(TIMETAG_CLEAR))
    h.run(2000000)
    assert h.reports() == []
    assert h.app.params["limit_persist"] == 3


def test_key_rotate():
    keys = {DEV_KEY_ID: DEV_KEY, 2: KEY2}
    h = Obc(keys=keys)
    c = accepted(h.send(KEY_ROTATE, {"key_id": 2}), "KEY_ROTATE")
    assert c["result"]["key_id"] == 2
    assert h.app.keyring.active == 2
    # Old key id: AUTH; new one: accepted.
    check_rejected(h, h.packet(PING, key_id=DEV_KEY_ID, key=DEV_KEY), "AUTH")
    accepted(h.send(PING, key_id=2))
    # Survives a reboot.
    h2 = h.reboot()
    assert h2.app.keyring.active == 2
    check_rejected(h2, h2.packet(PING, key_id=DEV_KEY_ID, key=DEV_KEY), "AUTH")
    accepted(h2.send(PING, key_id=2))
    # Never back: the old key is retired for ever (issue 12 item 5).
    r = check_rejected(h2, h2.packet(KEY_ROTATE, {"key_id": DEV_KEY_ID}, key_id=2), "BAD_ARG")
    assert "retired" in r["detail"]
    assert h2.app.keyring.active == 2 and h2.app.keyring.key(DEV_KEY_ID) is None


def test_anti_replay_high_water_mark_survives_reboot():
    h = Obc()
    old = h.packet(PING, counter=500)
    h.send_raw(old)
    h.run(40000)
    accepted(h.reports())
    h2 = h.reboot()  # new FlightApp, same flash and backup registers
    assert h2.app.replay.last(DEV_KEY_ID) == 500  # exact: the backup registers' mark
    check_rejected(h2, old, "REPLAY")
    check_rejected(h2, h2.packet(PING, counter=499), "REPLAY")
    check_rejected(h2, h2.packet(PING, counter=500), "REPLAY")
    accepted(h2.send(PING, counter=501))
    # the backup domain cleared as well: the flash reservation, never below 501
    h3 = Obc(storage=h.board.storage)
    assert h3.app.replay.last(DEV_KEY_ID) == 500 + RESERVE
    for c in (500, 501, 500 + RESERVE):
        check_rejected(h3, h3.packet(PING, counter=c), "REPLAY")
    accepted(h3.send(PING, counter=501 + RESERVE))


def test_anti_replay_mark_survives_a_torn_write():
    """Power lost while the reservation is written: the exact mark went to the backup
    registers first, so even the TC whose flash write was torn is a replay after reboot."""
    from hal.sim.storage import PowerLoss  # noqa: F401  (the exception the tear raises)

    h = Obc()
    accepted(h.send(PING, counter=10))  # reserves up to 10 + RESERVE (one flash write)
    accepted(h.send(PING, counter=20))  # inside the reservation: no flash write
    replay_twenty = h.packet(PING, counter=20)
    top = 11 + RESERVE
    replay_top = h.packet(PING, counter=top)
    h.board.storage.tear_after = 5
    accepted(h.send(PING, counter=top))  # past the reservation: its flash write is torn
    assert h.app.storage_errors == 1
    h2 = h.reboot()
    assert h2.app.replay.last(DEV_KEY_ID) == top
    check_rejected(h2, replay_twenty, "REPLAY")
    check_rejected(h2, replay_top, "REPLAY")
    accepted(h2.send(PING, counter=top + 1))


def test_authenticated_tcs_at_1_hz_write_the_flash_once_an_hour():
    """Issue 10 review: NAV_STATE (0x60) is authenticated at 1 Hz through a session and
    each one moved the anti-replay mark.  Flash writes of the mark, per TC: before, one
    per TC (3,600 an hour); now one per RESERVE (3,600) counters.  Through the whole TC
    path: 300 TCs, one write; the next one past the reservation, the second."""
    h = Obc()
    writes = []
    store = h.board.storage
    write = store.write

    def counting(name, data):
        if name.startswith("replay."):
            writes.append(name)
        return write(name, data)

    store.write = counting
    for k in range(300):
        h.send_raw(h.packet(PING, counter=1000 + k))
        h.run(20000)
    assert h.app.tc.accepted == 300 and len(writes) == 1
    h.reports()
    accepted(h.send(PING, counter=1000 + RESERVE + 1))
    assert len(writes) == 2


def test_accepted_report_names_every_core_command():
    """Accept + complete (ok) for every core command of the dictionary in a valid mode."""
    h = Obc(keys={DEV_KEY_ID: DEV_KEY, 2: KEY2})
    h.settle()
    now = h.app.now_s()
    todo = [
        (PING, {}), (SET_TIME, {"time": 1000.0}), (SET_MODE, {"mode": "STANDBY"}),
        (PARAM_SET, {"name": "limit_persist", "value": 4}), (PARAM_GET, {"name": "limit_persist"}),
        (PARAM_SAVE, {}), (PARAM_LOAD_DEFAULTS, {}), (EVENT_LOG_DUMP, {}),
        (TIMETAG, {"time": now + 2000.0, "opcode": PING}), (TIMETAG_CLEAR, {}),
        (KEY_ROTATE, {"key_id": 2}), (REBOOT, {}),
    ]
    for op, args in todo:
        accepted(h.send(op, args))
    assert h.app.tc.accepted == len(todo)
    assert h.app.tc.rejected_total() == 0
    assert h.app.tc.completed_ok == len(todo)


def test_handler_exception_is_a_completion_failure_not_a_crash(monkeypatch):
    from flight.corecmds import CoreCommands

    def boom(self, args, tc):
        raise RuntimeError("handler bug")

    monkeypatch.setattr(CoreCommands, "cmd_ping", boom)
    h = Obc()
    reps = h.send(PING)
    assert [(r["stage"], r["ok"], r["reason"]) for r in reps] == [
        ("accept", True, None), ("complete", False, "EXEC")]
    assert h.app.tc.completed_fail == 1
    accepted(h.send(SET_MODE, {"mode": "STANDBY"}))


def test_storage_failure_on_param_save_is_reported():
    h = Obc()
    h.board.storage.fail_writes = True
    reps = h.send(PARAM_SAVE)
    assert [(r["stage"], r["ok"], r["reason"]) for r in reps] == [
        ("accept", True, None), ("complete", False, "STORAGE")]
    h.run(1000000)
    assert "STORAGE_ERROR" in [e["name"] for e in h.of(APID_EVENT)]


def test_auth_failure_events_are_rate_limited():
    h = Obc()
    h.settle()
    log0 = h.app.events.persistent_log()
    for _ in range(50):  # 250 forged TCs, 5 a tc tick (about the line rate at 115,200 Bd)
        for _ in range(5):
            h.send_raw(h.packet(PING, key=KEY2))
        h.run(20000)
    h.run(2000000)
    assert h.app.tc.rejected["AUTH"] == 250
    n = [e for e in h.of(APID_EVENT) if e["name"] == "TC_REJECTED_AUTH"]
    assert len(n) == 12  # the first ten, then one every hundredth
    # Reports of unauthenticated rejections are budgeted (flight/tclimit.py): a few
    # individual ones per housekeeping interval, the rest summarised by one event.
    reps = h.reports()
    assert 0 < len(reps) <= 4 * 3 and all(r["reason"] == "AUTH" for r in reps)
    summ = [e for e in h.of(APID_EVENT) if e["name"] == "TC_REJECTIONS"]
    assert sum(e["args"][0] for e in summ) + len(reps) == 250
    assert "AUTH" in summ[0]["text"] and "first: AUTH" in summ[0]["text"]
    # persisted: one TC_FLOOD (at most one an hour), nothing else (item 9)
    log = h.app.events.persistent_log()
    assert log[:len(log0)] == log0
    assert [e["id"] for e in log[len(log0):]] == [EV_TC_FLOOD]


def test_encode_tc_layout():
    """The wire layout DESIGN §3.7 gives: CBOR body, key id, counter BE, 16-octet MAC."""
    pkt = encode_tc(DEV_KEY, DEV_KEY_ID, 0x01020304, PING, {}, seq=5)
    h = ccsds.unpack_header(pkt)
    assert h[ccsds.H_TYPE] == ccsds.TYPE_TC and h[ccsds.H_APID] == APID_TC
    assert h[ccsds.H_SEQ_FLAGS] == 3 and h[ccsds.H_SEQ_COUNT] == 5
    body = cbor.encode([PING, {}])
    assert pkt[6:6 + len(body)] == body
    assert pkt[6 + len(body)] == DEV_KEY_ID
    assert pkt[7 + len(body):11 + len(body)] == b"\x01\x02\x03\x04"
    import hashlib
    import hmac

    tag = hmac.new(DEV_KEY, pkt[:6] + body + pkt[6 + len(body):11 + len(body)],
                   hashlib.sha256).digest()[:16]
    assert pkt[11 + len(body):-2] == tag
    assert len(pkt) == 6 + len(body) + 21 + 2


def test_event_ids_used_by_the_pipeline_are_declared():
    from flight import tc, timetag

    decl = Obc(boot=False).app.events.decl
    for ev in (tc.EV_TC_REJECTED_AUTH, tc.EV_KEY_ROTATED, tc.EV_UART_ERROR,
               timetag.EV_TIMETAG_EXECUTED, timetag.EV_TIMETAG_DROPPED):
        assert decl[ev].severity in (events.SEV_INFO, events.SEV_WARN)


def test_completion_report_survives_a_dump_larger_than_the_tm_queue():
    """An EVENT_LOG_DUMP on a slow link fills the TM queue; the queue's reserve keeps
    room for the verification reports, so the completion still gets out."""
    h = Obc()
    for i in range(120):
        h.app.emit(EV_REBOOT_REQUESTED, [i, 2 * i], "warning number %d, some text" % i)
    h.settle()
    link = h.board.link
    link.tx_capacity = 1500  # the OBC reads slowly: 1.5 kB of room on the wire
    reps = h.send(EVENT_LOG_DUMP, {"max": 256}, run_us=20000)
    assert [r["stage"] for r in reps] == ["accept"]
    assert h.app.tm.dropped > 0  # the dump did not fit
    link.tx_capacity = 1 << 20
    h.run(100000)
    c = h.reports()
    assert len(c) == 1 and c[0]["stage"] == "complete" and c[0]["ok"] is True
    r = c[0]["result"]
    assert 0 < r["entries"] < r["total"]
    assert len([e for e in h.of(APID_EVENT) if e.get("dump")]) == r["entries"]
    # A rejection in the same congested state is reported too.
    link.tx_capacity = 0
    for _ in range(3):
        h.app.tm.send(APID_EVENT, {"filler": "x" * 3000})
    assert h.app.tm.queued_bytes() > h.app.tm.max_queue_bytes - h.app.tm.reserve_bytes - 3100
    h.send_raw(h.packet(0x7F))
    h.run(40000)
    link.tx_capacity = 1 << 20
    h.run(40000)
    assert [r["reason"] for r in h.reports()] == ["UNKNOWN_OPCODE"]


def test_bench_workload_accepts_and_completes_every_tc():
    import time

    from bench import tc as bench_tc

    r = bench_tc.workload(lambda: time.perf_counter() * 1e6)
    assert r["ok"] and r["n"] == bench_tc.N_MEASURE
    assert r["us"] > 0  # the figure itself is `make bench`'s (no host-speed bound here)


def test_key_file_parsing_and_dev_key_marking():
    from flight.keys import KeyFileError, Keyring, parse_key_file

    keys = parse_key_file("# ring\n1 " + "00" * 31 + "ff\n\n 7 " + "Ab" * 32 + " # spare\n")
    assert sorted(keys) == [1, 7] and keys[1][-1] == 0xFF and keys[7][0] == 0xAB
    ring = Keyring(keys)
    assert ring.active == 1 and not ring.is_dev()
    assert Keyring().is_dev() and Keyring().key(DEV_KEY_ID) == DEV_KEY
    for bad in ("", "1 00", "0 " + "00" * 32, "x " + "00" * 32, "1 " + "zz" * 32,
                "1 " + "00" * 32 + "\n1 " + "11" * 32, "1 2 3", "256 " + "00" * 32):
        with pytest.raises(KeyFileError):
            parse_key_file(bad)
    with pytest.raises(ValueError):
        Keyring({1: b"short"})
    with pytest.raises(ValueError):
        Keyring({1: DEV_KEY}, active=2)

"""Telecommand pipeline (DESIGN §3.7, issues 3 and 12): authentication and anti-replay.

The TC wire layout (CBOR body, key id, counter, 16-octet MAC), the key file and the
keyring (development key marked), KEY_ROTATE (the old key refused, across a reboot, never
back); the anti-replay high-water mark across reboots (backup registers, then the flash
reservation), across a torn flash write, and its flash wear (one write per reservation at
1 Hz); forged TCs' events and reports rate-limited, one TC_FLOOD persisted.  The checks:
tests/tc_helpers.py.
"""

import pytest

from flight import cbor, ccsds
from flight.keys import DEV_KEY, DEV_KEY_ID
from flight.replay import RESERVE
from flight.tc import encode_tc
from flight.tclimit import EV_TC_FLOOD
from flight.tm import APID_EVENT, APID_TC
from tests.mpy.obc import Obc
from tests.tc_helpers import KEY2, KEY_ROTATE, PING, accepted, check_rejected


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

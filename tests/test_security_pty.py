"""Issue 12 attacks over the pty, as they were made: against the simulated payload process
(`python -m flight --board sim --uart PTY --state-dir DIR`), through the UART, the state
directory and the ground tool only.  The in-process versions: tests/test_security_tc.py.

Waits count the payload's own housekeeping (1 Hz of payload time, tests/procutil.py), never
the host's wall clock.
"""

import os
import shutil
import threading
import time

from flight import cbor, cobs
from flight.cmddict import BY_NAME
from flight.keys import DEV_KEY, DEV_KEY_ID
from flight.replay import RESERVE
from flight.slotstore import encode_slot
from flight.tc import encode_tc
from flight.tm import APID_EVENT, APID_HK, APID_VERIFY
from ground_tools.__main__ import main as vector_tc
from tests.hil.simbench import SimBench
from tests.procutil import WALL_GUARD_S, SimPayload, poll_tm

PING = BY_NAME["PING"].opcode
SET_MODE = BY_NAME["SET_MODE"].opcode
SESSION_START = BY_NAME["SESSION_START"].opcode
KEY_ROTATE = BY_NAME["KEY_ROTATE"].opcode
EVENT_LOG_DUMP = BY_NAME["EVENT_LOG_DUMP"].opcode
KEY1 = bytes(range(0x40, 0x60))
KEY2 = bytes(range(0x60, 0x80))
LINE_BPS = 11520  # 115,200 Bd 8N1


class Wire:
    """The attacker's (or the OBC's) end of a ground-side pty: raw frames out, TM in."""

    def __init__(self, port):
        import tty

        self.fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        os.set_blocking(self.fd, False)
        self.deframer = cobs.Deframer(max_frame=16384)
        self.tm = []

    def send(self, *packets):
        os.write(self.fd, b"".join(cobs.encode(p) + b"\x00" for p in packets))

    def poll(self):
        poll_tm(self.fd, self.deframer, self.tm)

    def collect(self, hk_packets=2, guard_s=WALL_GUARD_S, reports=0, until=None):
        """TM until ``hk_packets`` housekeeping packets (payload seconds) went by and, if
        ``reports``, at least that many verification reports arrived, and ``until(tm)``
        holds (or 15 more payload seconds passed: a loaded host leaves older TM queued in
        the relay, so housekeeping that arrives may predate what was just sent).  Only a
        payload silent for ``guard_s`` of wall time fails the wait (the guard restarts at
        every packet: a slow host is progress, not a failure)."""
        out = []
        seen = 0
        end = time.monotonic() + guard_s
        while True:
            if seen >= hk_packets and (seen >= hk_packets + 15 or (
                    len(verify(out)) >= reports and (until is None or until(out)))):
                return out
            if time.monotonic() > end:
                raise TimeoutError("no telemetry for %.0f s of wall time (%d housekeeping "
                                   "packets, %d reports so far)"
                                   % (guard_s, seen, len(verify(out))))
            self.poll()
            if self.tm:
                end = time.monotonic() + guard_s
            for t in self.tm:
                out.append(t)
                seen += t[0] == APID_HK
            self.tm = []

    def close(self):
        os.close(self.fd)


def verify(tm):
    return [(b["stage"], b["ok"], b["reason"], b.get("detail")) for a, b in tm
            if a == APID_VERIFY]


def events(tm, name):
    return [b for a, b in tm if a == APID_EVENT and b.get("name") == name]


def tc(counter, opcode=PING, args=None, key=DEV_KEY, kid=DEV_KEY_ID, seq=1):
    return encode_tc(key, kid, counter, opcode, args or {}, seq=seq)


def test_lost_and_rolled_back_anti_replay_state_needs_the_ground_tools_resync(tmp_path):
    """Items 2 and 4 over the pty, and the operator's `vector-tc resync`."""
    state = tmp_path / "state"
    sf = str(tmp_path / "counters.json")
    bench = SimBench(state, speed=4.0)
    w = None
    try:
        w = Wire(bench.port)
        w.collect(1)
        recorded = [tc(c, seq=c) for c in (1, 2, 3)]  # the attacker records these
        w.send(*recorded)
        assert [v[:3] for v in verify(w.collect(2, reports=6))] == [("accept", True, None),
                                                                    ("complete", True, None)] * 3
        assert (tmp_path / "state.backup").exists()  # beside the state directory
        assert not any("backup" in n for n in os.listdir(state))  # not inside it
        # both anti-replay slots deleted
        bench.stop_payload()
        for n in ("replay.a", "replay.b"):
            if (state / n).exists():
                (state / n).unlink()
        bench.start()
        tm = w.collect(3, until=lambda t: events(t, "COUNTER_RESYNC_NEEDED") and
                      [b for a, b in t if a == APID_HK][-1]["replay_nonce"])
        hk = [b for a, b in tm if a == APID_HK][-1]
        nonce = hk["replay_nonce"]
        assert nonce != 0
        assert [e["args"] for e in events(tm, "COUNTER_RESYNC_NEEDED")] == [[nonce]]
        # authentic, refused "resync needed": each still spends its counter (audit A2)
        in_resync = tc(0x10000, opcode=SET_MODE, args={"mode": "STANDBY"}, seq=5)
        w.send(*(recorded + [tc(4, seq=4), in_resync]))
        tm = w.collect(2, reports=4,
                       until=lambda t: any(a == APID_HK and b["tc_rej_replay"] == 5
                                           for a, b in t))
        # individual reports: the first 4 of an interval (the rest summarised)
        v = verify(tm)
        assert 4 <= len(v) <= 5 and set(v) == {("accept", False, "REPLAY", "resync needed")}
        hk = [b for a, b in tm if a == APID_HK][-1]
        assert hk["tc_rej_replay"] == 5 and hk["tc_accepted"] == 0 and hk["mode"] == "SAFE"
        w.close()
        w = None
        # the operator: vector-tc resync (nonce from housekeeping, floor from the state file)
        assert vector_tc(["resync", "--port", bench.port, "--state-file", sf,
                          "--floor", "3"]) == 0
        w = Wire(bench.port)
        w.collect(1)
        # still refused: below the new mark — the SET_MODE refused in RESYNC too, though
        # the floor given was 3 (the mark is its counter, 0x10000)
        w.send(*(recorded + [in_resync]))
        tm = w.collect(2, reports=4)
        assert [v[:3] for v in verify(tm)] == [("accept", False, "REPLAY")] * 4
        assert verify(tm)[-1][3] == "counter 65536 not above 65536"
        assert [b["replay_nonce"] for a, b in tm if a == APID_HK][-1] == 0
        w.close()
        w = None
        assert vector_tc(["send", "PING", "--port", bench.port, "--state-file", sf]) == 0
        # rolled back: a copy of the state directory taken now, restored later
        bench.stop_payload()
        shutil.copytree(state, tmp_path / "copy")
        bench.start()
        w = Wire(bench.port)
        w.collect(1)
        # recorded after the copy, past the flash reservation (flight/replay.py RESERVE)
        # so the record on the flash moves on: the restored copy is then older
        later = [tc(c + 0x10000 + RESERVE, seq=c) for c in (20, 21)]
        w.send(*later)
        assert [v[:3] for v in verify(w.collect(2, reports=4))] == [("accept", True, None),
                                                                    ("complete", True, None)] * 2
        bench.stop_payload()
        shutil.rmtree(state)
        shutil.copytree(tmp_path / "copy", state)  # the backup file is not rolled back
        bench.start()
        tm = w.collect(3, until=lambda t: [b for a, b in t if a == APID_HK][-1]["replay_nonce"])
        assert [b["replay_nonce"] for a, b in tm if a == APID_HK][-1] != 0
        w.send(*later)
        assert verify(w.collect(2, reports=2)) == \
            [("accept", False, "REPLAY", "resync needed")] * 2
    finally:
        if w is not None:
            w.close()
        bench.close()


def test_rejected_authentic_tc_window_auth_and_records_over_the_pty(tmp_path):
    """Items 3, 4, 15, 5, 6 against the process."""
    state = tmp_path / "s"
    kf = tmp_path / "keys.txt"
    kf.write_text("1 %s\n2 %s\n" % (KEY1.hex(), KEY2.hex()))
    state.mkdir()
    # item 6: a CRC-valid boot record with a wrong type (was: a boot loop)
    (state / "boot.a").write_bytes(encode_slot(9, cbor.encode({"boot_count": "x"})))
    p = SimPayload(state_dir=state, speed=4.0, extra=["--key-file", str(kf)])
    try:
        hk = p.wait_for(lambda a, b: a == APID_HK)
        assert hk["boot_count"] == 1 and hk["key_id"] == 1 and hk["key_state"] == "OK"
        p.key, p.key_id, p.counter = KEY1, 1, 100
        # item 3: SESSION_START refused in SAFE (WRONG_MODE), replayed in STANDBY
        raw = encode_tc(KEY1, 1, 101, SESSION_START, {}, seq=50)
        os.write(p.master, cobs.encode(raw) + b"\0")
        assert p.report(50, stage="accept")["reason"] == "WRONG_MODE"
        p.counter = 101
        assert p.report(p.send(SET_MODE, {"mode": "STANDBY"}))["ok"]
        os.write(p.master, cobs.encode(raw) + b"\0")
        r = p.report(50, stage="accept")
        assert r["reason"] == "REPLAY" and "not above" in r["detail"]
        # item 4: an authentic counter 0xFFFFFFFF does not lock the link
        r = p.report(p.send(PING, counter=0xFFFFFFFF), stage="accept")
        assert r["reason"] == "REPLAY" and "window" in r["detail"]
        assert p.report(p.send(PING))["ok"]
        # item 15: wrong key id and wrong MAC give the same AUTH report, no detail (the
        # first, signed with held key 2, is authentic: its counter is spent, audit O1)
        a = p.report(p.send(PING, key=KEY2, key_id=2), stage="accept")
        held = p.counter
        b = p.report(p.send(PING, key=bytes(32), key_id=1), stage="accept")
        strip = lambda r: {k: v for k, v in r.items() if k != "tc_seq"}  # noqa: E731
        assert strip(a) == strip(b) and a["reason"] == "AUTH" and "detail" not in a
        # item 5: rotate, lose the boot record, restart: key 2 stays, key 1 is retired
        assert p.report(p.send(KEY_ROTATE, {"key_id": 2}))["ok"]
        counter = p.counter
    finally:
        p.stop()
    for n in ("boot.a", "boot.b"):
        if (state / n).exists():
            (state / n).unlink()
    p = SimPayload(state_dir=state, speed=4.0, extra=["--key-file", str(kf)])
    try:
        hk = p.wait_for(lambda a, b: a == APID_HK)
        assert hk["key_id"] == 2
        p.key, p.key_id, p.counter = KEY1, 1, counter
        assert p.report(p.send(PING), stage="accept")["reason"] == "AUTH"
        p.key, p.key_id = KEY2, 2
        # key 2's mark after the boot: the flash reservation of the held TC's counter
        # (its exact mark was never in the backup registers): refused once, "not above"
        r = p.report(p.send(PING), stage="accept")
        assert r["reason"] == "REPLAY" and "not above %d" % (held + RESERVE) in r["detail"]
        p.counter = held + RESERVE
        assert p.report(p.send(PING))["ok"]
    finally:
        p.stop()


def test_flood_over_the_pty_keeps_housekeeping_and_the_event_log(tmp_path):
    """Items 7-9: empty frames, forged and replayed TCs at line rate with the TM line at
    115,200 Bd: housekeeping keeps its 1 Hz, a genuine TC gets through, the persistent
    event log keeps its key change."""
    kf = tmp_path / "keys.txt"
    kf.write_text("1 %s\n2 %s\n" % (KEY1.hex(), KEY2.hex()))
    speed = 2.0
    p = SimPayload(state_dir=tmp_path / "s", speed=speed,
                   extra=["--key-file", str(kf), "--baud", "115200"])
    stop = threading.Event()
    try:
        p.wait_for(lambda a, b: a == APID_HK)
        p.key, p.key_id, p.counter = KEY1, 1, 1
        assert p.report(p.send(KEY_ROTATE, {"key_id": 2}))["ok"]
        p.key, p.key_id = KEY2, 2
        recorded = encode_tc(KEY2, 2, p.counter + 1, PING, {}, seq=99)
        os.write(p.master, cobs.encode(recorded) + b"\0")
        p.counter += 1
        assert p.report(99)["ok"]
        first = p.wait_for(lambda a, b: a == APID_HK)
        kinds = [b"\x01\x00",  # empty frames
                 cobs.encode(encode_tc(bytes(32), 2, 5, PING, {}, seq=7)) + b"\0",  # forged
                 cobs.encode(recorded) + b"\0"]  # replayed

        def flood():
            rate = LINE_BPS * speed  # octets per wall second = the line rate in payload time
            t0 = time.monotonic()
            sent = 0
            while not stop.is_set():
                k = kinds[int((time.monotonic() - t0) * speed / 4) % 3]  # 4 s of each
                due = int((time.monotonic() - t0) * rate) - sent
                n = max(1, due // len(k))
                try:
                    os.write(p.master, k * n)
                except (BlockingIOError, OSError):
                    pass
                sent += n * len(k)
                time.sleep(0.01)

        th = threading.Thread(target=flood, daemon=True)
        th.start()
        hks = [first]
        while len(hks) < 13:
            hks.append(p.wait_for(lambda a, b: a == APID_HK))
        assert p.report(p.send(PING))["ok"]  # an operator's TC, the flood still on
        stop.set()
        th.join(5)
        last = hks[-1]
        # housekeeping kept its 1 Hz over the flood: 12 s of payload time, none dropped
        assert abs((last["time"] - first["time"]) - (len(hks) - 1)) <= 1, \
            [h["time"] for h in hks]
        assert last["tm_dropped"] == 0
        rej = last["tc_rej_length"] + last["tc_rej_auth"] + last["tc_rej_replay"]
        assert last["tc_rej_length"] > 1000 and last["tc_rej_auth"] > 100 \
            and last["tc_rej_replay"] > 100, last
        assert rej + last["tc_frames_dropped"] > 2000
        # the event log: the key change survived, the flood left at most one entry
        dump = []
        seq = p.send(EVENT_LOG_DUMP, {"max": 256})

        def until_done(a, b):
            if a == APID_EVENT and b.get("dump"):
                dump.append(b["name"])
            return a == APID_VERIFY and b.get("tc_seq") == seq and b["stage"] == "complete"

        assert p.wait_for(until_done)["ok"]
        assert "KEY_ROTATED" in dump, dump
        assert dump.count("TC_FLOOD") <= 1 and "TC_REJECTED_AUTH" not in dump, dump
    finally:
        stop.set()
        p.stop()

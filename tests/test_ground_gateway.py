"""`vector-tc serve` against the simulated payload on a pty: two clients at once (listen +
send), a gateway restart mid-stream, a corrupt and an unknown packet, the archive and its
exports, the exclusive port, the command history.  Servers bind 127.0.0.1; every wait is
bounded."""

import csv
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
import sys
import time

import pytest

from ground_tools import archive, gwclient, wire
from ground_tools.state import CounterStore, load_key
from tests.hil.simbench import SimBench
from tests.gwutil import Served, free_port, wait_until
from tests.procutil import GUARD_S, ROOT
from flight.cmddict import MODES


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gw")
    env = dict(os.environ, VECTOR_TC_STATE=str(tmp / "counters.json"), PYTHONPATH=str(ROOT))
    env.pop("VECTOR_TC_GATEWAY", None)
    env.pop("VECTOR_TC_GATEWAY_STATE", None)
    bench = SimBench(str(tmp / "state"), speed=5.0)
    served = None
    try:
        served = Served(bench.port, tmp / "archive.db", env, free_port())
        yield {"bench": bench, "served": served, "env": env, "tmp": tmp}
    finally:
        if served is not None:
            served.stop()
        bench.close()


def cli(env, *argv, timeout=GUARD_S):
    return subprocess.run([sys.executable, "-m", "ground_tools", *argv], cwd=str(ROOT),
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_listen_and_send_at_the_same_time(rig):
    env, port = rig["env"], rig["bench"].port
    listener = subprocess.Popen(
        [sys.executable, "-m", "ground_tools", "listen", "--port", port, "--json"],
        cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The listener's output is read as it comes: left in the pipe, a full pipe stalls the
    # listener (a slow host makes the sends take long), and what it had not printed yet
    # when interrupted would be lost.
    lines = []
    pump = threading.Thread(target=lambda: lines.extend(listener.stdout), daemon=True)
    pump.start()

    def printed():
        return [json.loads(ln) for ln in list(lines) if ln.startswith("{")]

    def completions():
        return {p["body"]["tc_seq"] for p in printed()
                if p["kind"] == "verify" and p["body"]["stage"] == "complete"}

    try:
        # the listener is connected (it prints telemetry) before the commands go out
        assert wait_until(printed, GUARD_S, 0.1), "listen printed no telemetry: %s" % lines
        sends = [cli(env, "send", "PING", "--port", port, "--json") for _ in range(2)]
        other = cli(env, "send", "PARAM_GET", "name=temp_max_c", "--gateway",
                    rig["served"].url)
        for s in sends + [other]:
            assert s.returncode == 0, s.stderr
        seqs = {json.loads(ln)["tc_seq"] for s in sends for ln in s.stdout.splitlines()}
        # the listener saw both commands complete (waited for: it may run behind)
        assert wait_until(lambda: seqs <= completions(), GUARD_S, 0.1), (seqs, completions())
    finally:
        listener.send_signal(signal.SIGINT)
        try:
            listener.wait(GUARD_S)  # a guard: it exits at once
        finally:
            if listener.poll() is None:
                listener.kill()
            pump.join(10)
    err = listener.stderr.read()
    assert "using the gateway" in sends[0].stderr
    assert any(p["kind"] == "hk" for p in printed())
    assert listener.returncode == 130 and "Traceback" not in err


def test_a_second_program_on_the_port_is_refused(rig):
    env = dict(rig["env"], VECTOR_TC_GATEWAY_STATE=str(rig["tmp"] / "nogw.json"))
    r = cli(env, "listen", "--port", rig["bench"].port, "--count", "1")
    assert r.returncode == 6 and "in use by another program" in r.stderr


def test_corrupt_and_unknown_packets_are_archived_raw_and_flagged(rig):
    bench, served = rig["bench"], rig["served"]
    good = bytearray(wire.encode_tc(bytes(32), 1, 1, 1, {}))  # any CCSDS packet ...
    good[0] &= 0xEF  # ... made a TM (type bit 0)
    body = bytes(good[:-2])
    bad_crc = body + b"\x00\x00"
    unknown = bytearray(body)
    unknown[1] = 0x77  # APID 0x077: in no dictionary
    unknown = bytes(unknown) + wire.crc16(bytes(unknown)).to_bytes(2, "big")
    not_cobs = b"\x09\x01\x02"  # code byte runs past the frame
    os.write(bench.bridge.g_master, b"\x00" + wire.frame(bad_crc) + not_cobs + b"\x00"
             + wire.frame(unknown))
    db = sqlite3.connect(str(served.db))

    def flagged():
        rows = db.execute("SELECT raw, error, apid FROM packets WHERE ok = 0").fetchall()
        return rows if len(rows) >= 3 else None

    rows = wait_until(flagged, GUARD_S, 0.2)
    assert rows, "flagged packets not archived"
    by_raw = {bytes(r[0]): r for r in rows}
    assert by_raw[bad_crc][1].startswith("CRC")
    assert by_raw[not_cobs][1].startswith("COBS")
    assert by_raw[unknown][1].startswith("UNKNOWN_APID") and by_raw[unknown][2] == 0x77
    # and decoding goes on: housekeeping after the corrupt frames
    last = db.execute("SELECT max(id) FROM packets").fetchone()[0]
    assert wait_until(lambda: db.execute(
        "SELECT count(*) FROM packets WHERE id > ? AND kind = 'hk' AND ok = 1",
        (last,)).fetchone()[0] > 0, GUARD_S, 0.2)
    st = gwclient.status(served.url)
    assert st["link"]["bad_frames"] >= 3
    db.close()


def test_gateway_restart_mid_stream(rig):
    served, env = rig["served"], rig["env"]
    key = load_key(None, None)
    store = CounterStore(env["VECTOR_TC_STATE"])
    glink = gwclient.GatewayLink(served.url, key, store, client="test")
    try:
        assert glink.wait_for(lambda tm: tm.apid == wire.APID_HK, GUARD_S) is not None
        before = glink.events.last_id
        out = served.stop()
        m = re.search(r"gateway stopped: (\d+) packet\(s\) in, (\d+) bad frame\(s\), "
                      r"(\d+) TC\(s\) out, (\d+) archived", out)
        assert m, out
        pin, bad, tcs, archived = map(int, m.groups())
        assert archived == pin + bad + tcs > 0  # every packet it received is in the archive
        served.start()
        hk = glink.wait_for(lambda tm: tm.apid == wire.APID_HK, GUARD_S, after=glink.mark())
        assert hk is not None and glink.events.reconnects >= 1
        assert glink.events.last_id > before
        from flight import cmddict

        res = glink.command(cmddict.BY_NAME["PING"], {}, timeout=GUARD_S)
        assert res.status == "completed"
    finally:
        glink.close()
    db = sqlite3.connect(str(served.db))
    ids = [r[0] for r in db.execute("SELECT id FROM packets ORDER BY t, id")]
    db.close()
    assert ids == sorted(ids) and len(ids) == len(set(ids))  # one sequence across runs


def test_archive_exports_and_command_history(rig):
    served, env = rig["served"], rig["env"]
    r = cli(env, "send", "SESSION_END", "--gateway", served.url)
    assert r.returncode == 3 and "WRONG_MODE" in r.stdout  # refused by the payload, archived
    # The gateway commits its archive in batches: wait until the rejection is in it (a
    # slow host delays the commit; no fixed sleep)
    db = sqlite3.connect(str(served.db))
    try:
        assert wait_until(lambda: db.execute(
            "SELECT status FROM commands ORDER BY id DESC LIMIT 1").fetchone() == ("rejected",),
            GUARD_S, 0.1), "SESSION_END's rejection not archived"
    finally:
        db.close()
    r = cli(env, "archive", "--db", str(served.db), "commands", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    cmds = [json.loads(ln) for ln in r.stdout.splitlines()]
    names = [c["name"] for c in cmds]
    assert names.count("PING") >= 3 and "PARAM_GET" in names and names[-1] == "SESSION_END"
    assert all(c["client"] for c in cmds)
    ping = next(c for c in cmds if c["name"] == "PING")
    assert ping["status"] == "completed" and ping["accepted"] and ping["completed"]
    last = cmds[-1]
    assert last["status"] == "rejected" and last["accept_reason"] == "WRONG_MODE"
    # an hour of housekeeping as CSV: one row per HK packet, one column per value
    now = time.time()
    frm = archive.iso(now - 3600)
    r = cli(env, "archive", "--db", str(served.db), "params", "--from", frm, "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) >= 3 and "mode" in rows[0] and "ground_time" in rows[0]
    assert {row["mode"] for row in rows} <= set(MODES)
    r = cli(env, "archive", "--db", str(served.db), "params", "--to", frm)
    assert r.returncode == 0 and len(r.stdout.splitlines()) <= 1  # nothing before the hour
    r = cli(env, "archive", "--db", str(served.db), "packets", "--apid", "0xa3", "--format",
            "jsonl")
    pk = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert pk and all(p["apid"] == 0xA3 for p in pk)
    r = cli(env, "archive", "--db", str(served.db), "packets", "--format", "jsonl")
    tcs = [json.loads(ln) for ln in r.stdout.splitlines() if '"dir": "tc"' in ln]
    assert len(tcs) == len(cmds)  # every command sent is also a raw TC packet

"""`vector-tc send / listen / decode / run` against the simulated payload
(`python -m flight --board sim`) on a pty, end to end through the console script."""

import io
import json
import re
import os
import subprocess
import sys
import time

import pytest
import serial

from flight import cmddict
from flight.tm import APID_HK
from ground_tools import dictionary, wire
from ground_tools.link import GroundLink
from ground_tools.listen import listen
from ground_tools.state import CounterStore, load_key
from tests.hil.simbench import SimBench
from tests.procutil import GUARD_S, ROOT

VTC = [sys.executable, "-m", "ground_tools"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim")
    b = SimBench(d / "state", speed=5.0)
    b.state_file = str(d / "counters.json")
    env = dict(os.environ, VECTOR_TC_STATE=b.state_file)
    env.pop("VECTOR_TC_KEY_FILE", None)
    b.env = env
    end = time.time() + GUARD_S  # guard: the flight process needs a moment to start (longer
    while time.time() < end:  # on a busy host); the loop ends at its first answer
        p = vtc(b, "send", "PING", "--port", b.port, "--timeout", "2")
        if p.returncode == 0:
            break
    else:
        raise AssertionError("simulated payload does not answer")
    yield b
    b.close()


def vtc(bench, *argv, env=None):
    return subprocess.run(VTC + list(argv), cwd=str(ROOT), capture_output=True, text=True,
                          timeout=GUARD_S, env=env or bench.env)


def test_send_ping_and_parameter_round_trip(bench):
    p = vtc(bench, "send", "PING", "--port", bench.port)
    assert p.returncode == 0, p.stderr
    assert "accept    ok" in p.stdout and "complete  ok" in p.stdout and '"version"' in p.stdout
    p = vtc(bench, "send", "PARAM_SET", "--port", bench.port, "name=temp_max_c", "value=51.5")
    assert p.returncode == 0, p.stderr
    p = vtc(bench, "send", "PARAM_GET", "name=temp_max_c", "--port", bench.port, "--json")
    reps = [json.loads(x) for x in p.stdout.splitlines()]
    assert p.returncode == 0 and reps[-1]["result"] == {"name": "temp_max_c", "value": 51.5}


def test_send_rejected_exit_3(bench):
    p = vtc(bench, "send", "SESSION_END", "--port", bench.port)
    assert p.returncode == 3
    assert "FAILED WRONG_MODE" in p.stdout and "TC rejected: WRONG_MODE" in p.stderr


def test_a_stale_counter_file_learns_the_payloads_mark(bench, tmp_path):
    env = dict(bench.env, VECTOR_TC_STATE=str(tmp_path / "fresh.json"))
    p = vtc(bench, "send", "PING", "--port", bench.port, env=env)
    assert p.returncode == 3 and "REPLAY" in p.stdout
    p = vtc(bench, "send", "PING", "--port", bench.port, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    # That station spent a counter the module's store has not seen: the stores are shared
    # again, as two stations commanding one payload must (the next tests use bench's).
    key = load_key(None)
    CounterStore(bench.state_file).raise_to(key, CounterStore(env["VECTOR_TC_STATE"]).last(key))


def test_listen_json_one_object_per_packet(bench):
    p = vtc(bench, "listen", "--port", bench.port, "--json", "--count", "3")
    assert p.returncode == 0, p.stderr
    objs = [json.loads(x) for x in p.stdout.splitlines()]
    assert len(objs) == 3
    hk = [o for o in objs if o["kind"] == "hk"]
    assert hk and hk[0]["apid"] == APID_HK and hk[0]["body"]["mode"] in ("SAFE", "STANDBY")


def test_listen_plain_lines_when_not_a_terminal(bench):
    p = vtc(bench, "listen", "--port", bench.port, "--count", "2")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 2
    hk = [x for x in lines if x.startswith("HK ")]
    assert hk and " mode=" in hk[0]
    for f in dictionary.default()["telemetry"]["hk"]["fields"]:  # every field, with unit
        assert " %s=" % f["name"] in hk[0]
    assert " uptime=" in hk[0] and re.search(r" uptime=[0-9.]+s ", hk[0])


def test_listen_live_table_and_coloured_events(bench):
    glink = GroundLink(bench.port, load_key(None), CounterStore(bench.state_file))
    try:
        glink.send_nowait(cmddict.BY_NAME["SET_MODE"], {"mode": "STANDBY"})
        glink.send_nowait(cmddict.BY_NAME["HK_DIAG_REQUEST"], {})  # the task table
        out = io.StringIO()
        n = listen(glink, duration=2.5, out=out, tty=True)
        guard = time.time() + GUARD_S  # a busy host slows the payload: listen on until it acts
        while ("SAFE -> STANDBY" not in out.getvalue() or "tasks" not in out.getvalue()) \
                and time.time() < guard:  # (the mode change and the diagnostic task table)
            n += listen(glink, duration=2.5, out=out, tty=True)
        glink.send_nowait(cmddict.BY_NAME["SET_MODE"], {"mode": "SAFE"})
        glink.poll(0.5)
    finally:
        glink.close()
    text = out.getvalue()
    assert n >= 3
    assert "housekeeping" in text and "tasks" in text and "misses" in text
    assert "MODE_CHANGE" in text and "SAFE -> STANDBY" in text
    assert "\x1b[" in text  # coloured


def test_decode_a_recorded_tm_capture(bench, tmp_path):
    ser = serial.serial_for_url(bench.port, timeout=0.1)
    data = b""
    deframer = wire.TmDeframer()
    hk_seen = 0
    t_end = time.time() + GUARD_S  # guard only: a loaded host slows the payload down
    try:
        ser.reset_input_buffer()
        # Record until two housekeeping packets are complete (not for a fixed wall time).
        while hk_seen < 2 and time.time() < t_end:
            chunk = ser.read(4096)
            data += chunk
            hk_seen += sum(1 for t in deframer.feed(chunk)
                           if isinstance(t, wire.Tm) and t.apid == wire.APID_HK)
    finally:
        ser.close()
    f = tmp_path / "tm.bin"
    f.write_bytes(b"\x07\x01garbage\x00" + data)
    p = vtc(bench, "decode", str(f))
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    assert lines[0]["error"] in ("COBS", "LENGTH", "CRC")
    hk = [x for x in lines if x.get("kind") == "hk"]
    assert hk and all(set(x) == {"apid", "kind", "seq", "body", "units"} for x in hk)
    assert len(hk[0]["body"]) == len(dictionary.default()["telemetry"]["hk"]["fields"])
    assert hk[0]["units"]["uptime"] == "s"
    assert "packet(s)" in p.stderr


SCRIPT_OK = """\
# bring the payload to STANDBY and back, checking telemetry on the way
echo start
send SET_MODE mode=STANDBY
wait 5 hk mode == STANDBY and tc_rej_auth >= 0     # housekeeping follows
wait 3 event name == MODE_CHANGE
send PARAM_SET name=temp_min_c value=-12.5
send PARAM_GET name=temp_min_c
reject WRONG_MODE SESSION_END
sleep 0.2
send SET_MODE mode=SAFE
wait 5 hk mode == "SAFE"
send HK_DIAG_REQUEST
wait 3 hk_diag tc_deadline_misses == 0 and tc_runs > 0
"""


def test_run_script_passes(bench, tmp_path):
    f = tmp_path / "ok.tc"
    f.write_text(SCRIPT_OK)
    p = vtc(bench, "run", str(f), "--port", bench.port)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "line 3: send SET_MODE mode=STANDBY: completed" in p.stdout
    assert "line 8: reject WRONG_MODE SESSION_END: rejected as expected" in p.stdout
    assert "11 step(s) passed" in p.stdout or "12 step(s) passed" in p.stdout


def test_run_script_stops_at_first_failure_with_its_line(bench, tmp_path):
    f = tmp_path / "fail.tc"
    f.write_text("send PING\n\n# never true\nwait 1.5 hk mode == SESSION\nsend PING\n")
    p = vtc(bench, "run", str(f), "--port", bench.port)
    assert p.returncode == 5
    assert "%s:4: wait 1.5 hk mode == SESSION: timed out after 1.5 s (last hk: mode = " % f in p.stderr
    assert "line 5" not in p.stdout
    f.write_text("send PING\nsend SESSION_END\nsend PING\n")
    p = vtc(bench, "run", str(f), "--port", bench.port)
    assert p.returncode == 3 and ":2: send SESSION_END: rejected: WRONG_MODE" in p.stderr


def test_run_script_syntax_errors_before_anything_is_sent(bench, tmp_path):
    f = tmp_path / "bad.tc"
    for text, msg in [("send PING\nwait 5 hk mode = SAFE\n", ":2: unknown operator '='"),
                      ("send PING\nsend APT_SET_GAINS kp=9 ki=1\n",
                       ":2: APT_SET_GAINS: bad argument kp=9.0: above the maximum"),
                      ("sleep forever\n", ":1: sleep: 'forever' is not a number"),
                      ("launch\n", ":1: unknown step 'launch'"),
                      ("wait 5 telemetry mode == SAFE\n", ":1: unknown telemetry kind")]:
        f.write_text(text)
        p = vtc(bench, "run", str(f), "--port", bench.port)
        assert p.returncode == 2, p.stderr
        assert msg in p.stderr and p.stderr.count("\n") == 1, p.stderr
        assert p.stdout == ""  # nothing ran


def test_send_during_payload_restart_keeps_the_port(bench):
    bench.restart()
    end = time.time() + GUARD_S  # guard: ends at the first answer of the restarted payload
    while True:
        p = vtc(bench, "send", "PING", "--port", bench.port, "--timeout", "2")
        if p.returncode == 0 or time.time() > end:
            break
    assert p.returncode == 0, p.stdout + p.stderr


def test_wire_tm_kinds_cover_flight_apids():
    from flight import tm

    assert wire.APID_NAMES == tm.APID_NAMES and wire.APID_VERIFY == tm.APID_VERIFY

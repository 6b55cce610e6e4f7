"""`vector-tc` command line: list, dict, encode, argument errors, key files, counters,
the development-key rule, and the exit code of every `send` outcome (against a scripted
responder on a pty and loop://)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flight import cmddict
from flight.keys import DEV_KEY
from flight.tc import encode_tc as flight_encode_tc
from ground_tools import wire
from ground_tools.__main__ import main
from ground_tools.link import is_simulated_port
from ground_tools.state import CounterStore, load_key
from tests.hil.simbench import FakePayload
from tests.procutil import GUARD_S, ROOT

KEY = bytes(range(1, 33))


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("VECTOR_TC_STATE", str(tmp_path / "counters.json"))
    monkeypatch.delenv("VECTOR_TC_KEY_FILE", raising=False)
    return tmp_path / "counters.json"


@pytest.fixture
def keyfile(tmp_path):
    f = tmp_path / "keys.txt"
    f.write_text("# test keys\n3 %s\n9 %s\n" % (KEY.hex(), bytes(32).hex()))
    f.chmod(0o600)  # as a key file is kept (others' read: a warning, test_security_ground)
    return f


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def cli(*argv, env=None):
    return subprocess.run([sys.executable, "-m", "ground_tools", *argv], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=GUARD_S, env=env)


# ----------------------------------------------------------------------- list / dict
def test_list_shows_every_command_with_types_ranges_and_modes(capsys):
    rc, out, _ = run(capsys, "list")
    assert rc == 0
    for c in cmddict.COMMANDS:
        assert c.name in out
    assert "float, 0.0..2.0" in out  # APT_SET_GAINS kp
    assert "one of SAFE|STANDBY|SESSION" in out
    rc, out, _ = run(capsys, "list", "bias_set_overvoltage")
    assert rc == 0 and out.startswith("BIAS_SET_OVERVOLTAGE") and "0.5..6.0 V" in out
    assert "PING" not in out
    rc, out, _ = run(capsys, "list", "--params")
    assert "temp_max_c" in out and "apt_kp" in out


def test_dict_json_keys(tmp_path, capsys):
    rc, out, _ = run(capsys, "dict")
    d = json.loads(out)
    assert d["format"] == "vector-dictionary" and d["version"] == 2
    assert d["apids"]["tc"] == 0x0A0 and d["apids"]["verify"] == 0x0A3
    c = d["commands"][0]
    assert set(c) >= {"name", "opcode", "owner", "handler", "description", "modes", "args"}
    a = next(c for c in d["commands"] if c["args"])["args"][0]
    assert set(a) >= {"name", "type", "unit", "min", "max", "description"}
    assert any(p["name"] == "apt_kp" and p["owner"] == "apt" for p in d["parameters"])
    rc, _, _ = run(capsys, "dict", "--out", str(tmp_path / "d.json"))
    assert rc == 0 and json.loads((tmp_path / "d.json").read_text()) == d


def test_dict_exports_the_cross_parameter_rules(capsys):
    """flight/param_rules.py in the export (a key of its own, after the keys of the
    contract, which stay as they were) and where operators read the parameters."""
    from flight.param_rules import RULES

    rc, out, _ = run(capsys, "dict")
    d = json.loads(out)
    assert list(d) == ["format", "version", "apids", "commands", "reasons", "telemetry",
                       "events", "severities", "parameters", "rules"]
    assert d["rules"] == [{"name": r.name, "params": list(r.params), "text": r.text}
                          for r in RULES]
    declared = {p["name"] for p in d["parameters"]}
    assert all(set(r["params"]) <= declared for r in d["rules"]) and len(d["rules"]) >= 5
    rc, out, _ = run(capsys, "list", "--params")
    assert rc == 0 and "cross-parameter rules" in out
    for r in RULES:
        assert "%s: %s" % (r.name, r.text) in out


# ----------------------------------------------------------------------- encode
def test_encode_matches_flight_encoder_and_counts_up(capsys, keyfile):
    rc, out, err = run(capsys, "encode", "PARAM_SET", "name=temp_max_c", "value=42.5",
                       "--key-file", str(keyfile), "--counter", "1000", "--seq", "5")
    assert rc == 0 and err == ""
    want = flight_encode_tc(KEY, 3, 1000, 0x10, {"name": "temp_max_c", "value": 42.5}, seq=5)
    assert bytes.fromhex(out.strip()) == want
    # next one without --counter continues above the explicit one, never reusing it
    rc, out, _ = run(capsys, "encode", "PING", "--key-file", str(keyfile))
    assert bytes.fromhex(out.strip()) == flight_encode_tc(KEY, 3, 1001, 0x01, {}, seq=6)
    rc, out, _ = run(capsys, "encode", "PING", "--key-file", str(keyfile), "--key-id", "9")
    assert bytes.fromhex(out.strip()) == flight_encode_tc(bytes(32), 9, 1, 0x01, {}, seq=7)


def test_encode_framed_to_file_and_dev_key_note(tmp_path, capsys):
    f = tmp_path / "tc.bin"
    rc, out, err = run(capsys, "encode", "SET_MODE", "mode=STANDBY", "--framed", "--out", str(f),
                       "--counter", "7", "--seq", "1")
    assert rc == 0 and "DEVELOPMENT" in err
    assert f.read_bytes() == wire.frame(flight_encode_tc(DEV_KEY, 1, 7, 0x03,
                                                         {"mode": "STANDBY"}, seq=1))


def test_counters_are_never_reused_across_runs(state, keyfile, capsys):
    seen = set()
    for _ in range(5):
        rc, out, _ = run(capsys, "encode", "PING", "--key-file", str(keyfile))
        c = int.from_bytes(bytes.fromhex(out.strip())[-18 - 4:-18], "big")
        assert c not in seen
        seen.add(c)
    assert sorted(seen) == [1, 2, 3, 4, 5]
    run(capsys, "encode", "PING", "--key-file", str(keyfile), "--counter", "3")  # explicit
    rc, out, _ = run(capsys, "encode", "PING", "--key-file", str(keyfile))
    assert int.from_bytes(bytes.fromhex(out.strip())[-22:-18], "big") == 6
    data = json.loads(state.read_text())
    assert list(data["counters"].values()) == [6]


def test_state_file_option_beats_environment(tmp_path, capsys):
    alt = tmp_path / "alt" / "c.json"
    rc, _, _ = run(capsys, "encode", "PING", "--state-file", str(alt))
    assert rc == 0 and alt.exists()


def test_concurrent_tools_never_share_a_counter(tmp_path):
    env = dict(__import__("os").environ, VECTOR_TC_STATE=str(tmp_path / "c.json"))
    code = ("from ground_tools.state import CounterStore, load_key\n"
            "s = CounterStore(); k = load_key(None)\n"
            "print(' '.join(str(s.reserve(k, apid=160)[0]) for _ in range(40)))\n")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=str(ROOT), env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    got = []
    for p in procs:
        out, _ = p.communicate(timeout=GUARD_S)
        got += [int(x) for x in out.split()]
    assert sorted(got) == list(range(1, 161))


def test_reserve_block_and_replay_learning(tmp_path):
    s = CounterStore(str(tmp_path / "c.json"))
    k = load_key(None)
    assert s.reserve_block(k, 100, 160) == (1, 0)
    assert s.reserve(k, apid=160) == (101, 100)
    s.raise_to(k, 5000)
    assert s.reserve(k, apid=160)[0] == 5001
    s.raise_to(k, 10)  # never goes down
    assert s.last(k) == 5001


# ----------------------------------------------------------------------- bad input
BAD = [
    (["encode", "FROB"], "unknown command 'FROB'"),
    (["encode", "SET_TIME"], "missing argument time (float, 0.0..4294967295.0 s)"),
    (["encode", "SET_TIME", "time=-1"], "time=-1.0: below the minimum (expected float, 0.0..4294967295.0 s)"),
    (["encode", "SET_TIME", "time=soon"], "bad argument time=soon: expected float"),
    (["encode", "EVENT_LOG_DUMP", "max=300"], "max=300: above the maximum (expected int, 1..256)"),
    (["encode", "SET_MODE", "mode=PARTY"], "not one of SAFE, STANDBY, SESSION"),
    (["encode", "PING", "x=1"], "PING: unknown argument 'x'"),
    (["encode", "PARAM_GET", "temp_max_c"], "is not name=value"),
    (["encode", "PARAM_SET", "name=temp_max_c", "value=900"], "parameter temp_max_c is float, -40.0..125.0 degC"),
    (["encode", "PARAM_SET", "name=limit_persist", "value=2.5"], "parameter limit_persist is int, 1..50"),
    (["encode", "TIMETAG", "time=5", "opcode=TIMETAG"], "cannot be time-tagged"),
    (["encode", "TIMETAG", "time=5", "opcode=SET_TIME", "args={}"], "TIMETAG: args: SET_TIME: missing argument time"),
    (["encode", "PING", "--key-file", "/nonexistent/keys"], "cannot read key file /nonexistent/keys"),
    (["encode", "PING", "--key-id", "4"], "development key has id 1"),
    (["send", "PING", "--port", "/dev/ttyUSB97"], "refusing the public DEVELOPMENT key on a real device"),
]


@pytest.mark.parametrize("argv,msg", BAD)
def test_bad_input_is_one_clear_line_and_exit_2(capsys, argv, msg):
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    assert msg in err, err
    assert err.count("\n") == 1 and err.startswith("vector-tc: error: ")


def test_bad_key_files(tmp_path, capsys):
    f = tmp_path / "k"
    for text, msg in [("3 abcd\n", "line 1: key must be 64 hex chars"),
                      ("x %s\n" % KEY.hex(), "line 1: key id 'x'"),
                      ("", "no key in key file"),
                      ("3 %s\n" % KEY.hex(), None)]:
        f.write_text(text)
        rc, out, err = run(capsys, "encode", "PING", "--key-file", str(f), "--key-id", "5")
        assert rc == 2
        assert (msg or "has no key id 5 (it has 3)") in err
        assert err.count("\n") == 1


def test_corrupt_state_file_is_refused(state, capsys):
    state.write_text("{not json")
    rc, _, err = run(capsys, "encode", "PING")
    assert rc == 2 and "unreadable" in err and "--counter" in err


def test_port_that_does_not_open_is_a_link_error(capsys):
    rc, _, err = run(capsys, "send", "PING", "--port", "/dev/ttyUSB97", "--dev-key")
    assert rc == 6 and "cannot open port /dev/ttyUSB97" in err.splitlines()[-1]
    rc, _, err = run(capsys, "listen", "--port", "socket://127.0.0.1:1")
    assert rc == 6 and "cannot open port socket://127.0.0.1:1" in err
    rc, _, err = run(capsys, "send", "PING", "--port", "nosuch://x", "--dev-key")
    assert rc == 6 and "protocol 'nosuch' not known" in err


def test_no_traceback_from_the_console_script(tmp_path):
    exe = Path(sys.executable).with_name("vector-tc")
    assert exe.exists(), "pyproject's console script is installed"
    env = dict(__import__("os").environ, VECTOR_TC_STATE=str(tmp_path / "c.json"))
    for argv in (["encode", "NOPE"], ["send", "PING", "--port", "/dev/ttyUSB97", "--dev-key"],
                 ["decode", str(tmp_path / "missing")], ["run", str(tmp_path / "none.tc"),
                                                          "--port", "loop://"]):
        p = subprocess.run([str(exe), *argv], capture_output=True, text=True, timeout=GUARD_S, env=env)
        assert p.returncode in (2, 6) and "Traceback" not in p.stderr
        assert p.stderr.count("\n") == 1, p.stderr
    p = cli("encode")  # argparse: usage + one error line
    assert p.returncode == 2 and "Traceback" not in p.stderr


def test_simulated_port_classification():
    for url in ("loop://", "socket://localhost:7777", "socket://127.0.0.1:1",
                "socket://[::1]:5", "spy://loop://"):
        assert is_simulated_port(url), url
    for url in ("/dev/ttyUSB0", "/dev/ttyACM0", "COM3", "socket://10.1.2.3:4000",
                "rfc2217://localhost:2217", "socket://bench-pc:4000"):
        assert not is_simulated_port(url), url
    fp = FakePayload()
    try:
        assert is_simulated_port(fp.port)  # a pty
    finally:
        fp.close()


# ----------------------------------------------------------------------- send outcomes
@pytest.mark.parametrize("behaviour,code,word", [
    ("ok", 0, "complete  ok"),
    ("reject", 3, "FAILED AUTH"),
    ("complete_fail", 4, "FAILED EXEC"),
    ("accept_only", 5, "accept    ok"),
    ("silent", 5, ""),
])
def test_send_exit_codes(capsys, behaviour, code, word):
    fp = FakePayload(behaviour)
    try:
        rc, out, err = run(capsys, "send", "PARAM_GET", "name=temp_max_c", "--port", fp.port,
                           "--timeout", "1.5")
    finally:
        fp.close()
    assert rc == code, (out, err)
    assert word in out
    assert len(fp.received) == 1 and fp.received[0][1:] == (0x11, {"name": "temp_max_c"})
    if code == 5:
        assert "within 1.5 s" in err


def test_send_json_reports(capsys):
    fp = FakePayload("ok")
    try:
        rc, out, _ = run(capsys, "send", "PING", "--port", fp.port, "--json")
    finally:
        fp.close()
    reps = [json.loads(x) for x in out.splitlines()]
    assert rc == 0 and [r["stage"] for r in reps] == ["accept", "complete"]
    assert reps[1]["result"] == {"n": 1}


def test_send_on_loop_times_out_on_its_own_echo(capsys):
    # loop:// echoes the TC: a TC packet is not telemetry, so no report ever comes.
    rc, out, err = run(capsys, "send", "PING", "--port", "loop://", "--timeout", "0.5")
    assert rc == 5 and "no acceptance report" in err

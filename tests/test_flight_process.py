"""`python -m flight --board sim --uart PTY`: TC/TM over a serial device; state survives a
restart through --state-dir."""

import subprocess
import sys

from flight.cmddict import BY_NAME
from flight.tm import APID_EVENT, APID_HK
from tests.procutil import GUARD_S, ROOT, SimPayload

PING = BY_NAME["PING"].opcode
PARAM_SET = BY_NAME["PARAM_SET"].opcode
PARAM_GET = BY_NAME["PARAM_GET"].opcode
PARAM_SAVE = BY_NAME["PARAM_SAVE"].opcode
REBOOT = BY_NAME["REBOOT"].opcode


def test_ping_param_persistence_and_replay_across_restart(tmp_path):
    state = tmp_path / "state"
    p = SimPayload(state_dir=state, speed=5.0)
    try:
        seq = p.send(PING)
        r = p.report(seq)
        assert r["ok"] and r["name"] == "PING"
        seq = p.send(PARAM_SET, {"name": "temp_max_c", "value": 42.5})
        assert p.report(seq)["ok"]
        seq = p.send(PARAM_SAVE)
        assert p.report(seq)["ok"]
        replayed_counter = p.counter
        hk = p.wait_for(lambda a, b: a == APID_HK)
        assert hk["mode"] == "SAFE" and hk["boot_count"] == 1
    finally:
        p.stop()
    p = SimPayload(state_dir=state, speed=5.0)
    try:
        p.counter = replayed_counter
        seq = p.send(PARAM_GET, {"name": "temp_max_c"})
        r = p.report(seq)
        assert r["ok"] and r["result"]["value"] == 42.5
        seq = p.send(PING, counter=replayed_counter)  # the high-water mark survived
        r = p.report(seq, stage="accept")
        assert r["ok"] is False and r["reason"] == "REPLAY"
        hk = p.wait_for(lambda a, b: a == APID_HK)
        assert hk["boot_count"] == 2
    finally:
        p.stop()


def test_reboot_telecommand_restarts_in_process(tmp_path):
    p = SimPayload(state_dir=tmp_path / "s", speed=5.0)
    try:
        seq = p.send(REBOOT)
        assert p.report(seq)["ok"]
        ev = p.wait_for(lambda a, b: a == APID_EVENT and b["name"] == "BOOT" and b["args"] == [2])
        assert "reset cause SOFT" in ev["text"]
        hk = p.wait_for(lambda a, b: a == APID_HK)
        assert hk["reset_cause"] == "SOFT"
    finally:
        p.stop()


def test_bad_command_line_is_one_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "flight", "--board", "sim", "--uart",
                           str(tmp_path / "nope")], cwd=str(ROOT), capture_output=True,
                          text=True, timeout=GUARD_S)
    assert proc.returncode == 2
    assert "cannot open" in proc.stderr and "Traceback" not in proc.stderr
    kf = tmp_path / "keys"
    kf.write_text("1 abcd\n")
    proc = subprocess.run([sys.executable, "-m", "flight", "--board", "sim", "--uart",
                           "/dev/null", "--key-file", str(kf)], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=GUARD_S)
    assert proc.returncode == 2 and "line 1" in proc.stderr and "Traceback" not in proc.stderr

"""Issue 12 item 4, ground side: the ground tool refuses an explicit counter it already
used and one beyond the payload's anti-replay window, unless forced."""

import os

import pytest

from flight.replay import WINDOW
from ground_tools.__main__ import main
from ground_tools.state import CounterStore, StateError, load_key


def test_reserve_refuses_reuse_and_jumps(tmp_path):
    s = CounterStore(str(tmp_path / "c.json"))
    k = load_key(None)
    assert s.reserve(k)[0] == 1
    assert s.reserve(k, explicit=10)[0] == 10
    with pytest.raises(StateError, match="already used"):
        s.reserve(k, explicit=10)
    with pytest.raises(StateError, match="already used"):
        s.reserve(k, explicit=3)
    with pytest.raises(StateError, match="window"):
        s.reserve(k, explicit=11 + WINDOW)
    assert s.last(k) == 10
    assert s.reserve(k, explicit=10 + WINDOW)[0] == 10 + WINDOW  # the window's edge
    assert s.reserve(k, explicit=3, record=False)[0] == 3  # a test's deliberate replay
    assert s.reserve(k, explicit=0xFFFFFFFF, force=True)[0] == 0xFFFFFFFF
    assert CounterStore(str(tmp_path / "c.json"), force=True).reserve(k, explicit=5)[0] == 5


def test_cli_encode_refuses_a_used_counter_unless_forced(tmp_path, capsys):
    st = str(tmp_path / "c.json")
    assert main(["encode", "PING", "--counter", "7", "--state-file", st]) == 0
    capsys.readouterr()
    assert main(["encode", "PING", "--counter", "7", "--state-file", st]) != 0
    assert "already used" in capsys.readouterr().err
    assert main(["encode", "PING", "--counter", str(8 + WINDOW), "--state-file", st]) != 0
    assert "window" in capsys.readouterr().err
    assert main(["encode", "PING", "--counter", "7", "--state-file", st,
                 "--force"]) == 0


def test_first_counter_limit_is_the_payloads(tmp_path):
    from flight.replay import FIRST_MAX
    from ground_tools import state

    assert state.FIRST_MAX == FIRST_MAX
    s = CounterStore(str(tmp_path / "c.json"))
    k = load_key(None)
    with pytest.raises(StateError, match="window"):
        s.reserve(k, explicit=FIRST_MAX + 1)  # the payload would refuse it: REPLAY
    assert s.reserve(k, explicit=FIRST_MAX)[0] == FIRST_MAX  # a bench's time-based start


def test_resync_command_is_in_the_tool_and_does_nothing_when_synced(tmp_path, capsys):
    """`vector-tc resync` against a payload whose mark is current: replay_nonce 0, no TC."""
    from tests.hil.simbench import SimBench

    bench = SimBench(tmp_path / "state", speed=4.0)
    try:
        st = str(tmp_path / "c.json")
        assert main(["resync", "--port", bench.port, "--state-file", st]) == 0
        assert "no resync needed" in capsys.readouterr().err
        assert CounterStore(st).last(load_key(None)) == 0  # no counter spent
    finally:
        bench.close()


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX's")
def test_a_key_or_token_file_others_can_read_is_said(tmp_path, capsys, monkeypatch):
    from ground_tools import webguard

    monkeypatch.delenv(webguard.TOKEN_ENV, raising=False)
    key = tmp_path / "keys.txt"
    key.write_text("7 " + "ab" * 32 + "\n")
    st = str(tmp_path / "c.json")
    for mode, said in ((0o644, True), (0o640, True), (0o600, False)):
        os.chmod(key, mode)
        assert main(["encode", "PING", "--key-file", str(key), "--state-file", st]) == 0
        err = capsys.readouterr().err
        assert ("readable by other users" in err and "chmod 600" in err) == said, (mode, err)
        assert (load_key(str(key)).warning is not None) == said
    tok = tmp_path / "token"
    tok.write_text("t" * 20 + "\n")
    os.chmod(tok, 0o604)
    assert "mode 604" in webguard.token_warning(str(tok))
    os.chmod(tok, 0o600)
    assert webguard.token_warning(str(tok)) is None
    assert webguard.token_warning(None) is None

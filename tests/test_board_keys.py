"""Issue 12 item 1, attacked at the board entry: a damaged, truncated, empty, garbage or
missing key file never makes the payload accept the public development key; with no
usable key it boots SAFE and accepts no TC.  tools/deploy.py checks a key file the same
way before copying it."""

import runpy
import sys
import types

import pytest

from flight import cobs
from flight.app import FlightApp
from flight.keys import DEV_KEY, DEV_KEY_ID
from flight.keystore import check_key_file
from flight.tc import encode_tc
from flight.tm import APID_VERIFY
from ground_tools.wire import TmDeframer
from hal.sim.backup import MemBackup
from hal.sim.storage import MemStorage
from tests.procutil import ROOT
from tests.mpy.obc import core_board
from tools import deploy

KEY = bytes(range(0x40, 0x60))
GOOD = ("7 %s\n" % KEY.hex()).encode()
PING = 0x01


@pytest.fixture
def bm(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "machine", types.ModuleType("machine"))
    monkeypatch.chdir(tmp_path)
    return types.SimpleNamespace(**runpy.run_path(str(ROOT / "board" / "main.py"),
                                                  run_name="board_main"))


VARIANTS = {
    "corrupted": GOOD.replace(b"4", b"z", 1),
    "truncated": GOOD[:40],
    "zero-length": b"",
    "garbage": bytes((i * 151 + 7) & 0xFF for i in range(300)),
    "missing": None,
}


def boot(bm, tmp_path, content, storage=None, flag=False):
    kf = tmp_path / "keys.txt"
    if content is not None:
        kf.write_bytes(content)
    elif kf.exists():
        kf.unlink()
    fl = tmp_path / "devkey.flag"
    if flag:
        fl.write_text("1\n")
    board = core_board(storage=storage)
    board.backup = MemBackup()
    ks = bm.load_keystore(board, [str(kf)], [str(fl)])
    app = FlightApp(board, keyring=ks)
    app.boot()
    return app, board


def reports(board):
    return [t.body for t in TmDeframer().feed(board.link.take()) if t.apid == APID_VERIFY]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_damaged_key_file_never_enables_the_dev_key(bm, tmp_path, variant):
    app, board = boot(bm, tmp_path, VARIANTS[variant])
    assert not app.keyring.usable() and not app.keyring.is_dev()
    board.link.inject(cobs.encode(encode_tc(DEV_KEY, DEV_KEY_ID, 1, PING, {}, seq=5)) + b"\0")
    board.link.inject(cobs.encode(encode_tc(KEY, 7, 2, PING, {}, seq=6)) + b"\0")
    app.run_for(200000)
    reps = reports(board)
    assert [(r["tc_seq"], r["ok"], r["reason"]) for r in reps] == [
        (5, False, "AUTH"), (6, False, "AUTH")]
    assert app.modes.mode == "SAFE"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_damaged_key_file_keeps_the_stored_keys(bm, tmp_path, variant):
    s = MemStorage()
    boot(bm, tmp_path, GOOD, storage=s)  # provisioned once
    app, board = boot(bm, tmp_path, VARIANTS[variant], storage=s)
    assert app.keyring.active == 7 and not app.keyring.is_dev()
    board.link.inject(cobs.encode(encode_tc(DEV_KEY, DEV_KEY_ID, 1, PING, {}, seq=5)) + b"\0")
    board.link.inject(cobs.encode(encode_tc(KEY, 7, 2, PING, {}, seq=6)) + b"\0")
    app.run_for(200000)
    got = [(r["tc_seq"], r["stage"], r["ok"]) for r in reports(board)]
    assert got == [(5, "accept", False), (6, "accept", True), (6, "complete", True)]


def test_dev_key_only_with_the_bench_flag_and_no_key_file(bm, tmp_path):
    app, _ = boot(bm, tmp_path, None, flag=True)
    assert app.keyring.is_dev() and app.keyring.active == DEV_KEY_ID
    app, _ = boot(bm, tmp_path, b"garbage", flag=True)
    assert not app.keyring.usable()


def test_deploy_and_flight_check_a_key_file_the_same_way(tmp_path, capsys):
    build = tmp_path / "build"
    for d in ("flight", "hal", "board"):
        (build / d).mkdir(parents=True)
    (build / "board" / "main.py").write_text("")
    for name, content in list(VARIANTS.items()) + [("zzzz", b"1 zzzz\n"),
                                                    ("dev", ("1 %s\n" % DEV_KEY.hex()).encode())]:
        kf = tmp_path / ("k-%s.txt" % name)
        if content is not None:
            kf.write_bytes(content)
        assert check_key_file(content or b"")[0] is None
        for dry in ([], ["--dry-run"]):
            rc = deploy.main(["--port", "X", "--build", str(build), "--key-file", str(kf)] + dry)
            assert rc == 2, (name, dry)
            assert "key file" in capsys.readouterr().err
    kf = tmp_path / "good.txt"
    kf.write_bytes(GOOD)
    assert deploy.main(["--port", "X", "--build", str(build), "--key-file", str(kf),
                        "--dry-run"]) == 0
    assert ":keys.txt" in capsys.readouterr().out


def test_deploy_dev_key_writes_the_bench_flag(tmp_path, capsys):
    steps = deploy.plan("COM4", "build", dev_key=True, maintenance=False)
    cp = steps[0][1]
    assert cp[-4:] == ["fs", "cp", str(deploy.DEV_FLAG_SRC), ":devkey.flag"]
    assert deploy.DEV_FLAG_SRC.read_text().strip() != ""
    # and a flight deploy removes a flag left over from the bench
    steps = deploy.plan("COM4", "build", key_file="k.txt", maintenance=False)
    assert any(a[-2:] == ["rm", ":devkey.flag"] for _, a, _ in steps)
    assert deploy.main(["--port", "X", "--build", "b", "--dev-key", "--key-file", "k"]) == 2
    assert "either" in capsys.readouterr().err

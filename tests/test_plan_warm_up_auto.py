"""`vector-tc plan --warm-up auto --db ARCHIVE` (ground_tools/warmup.py): the warm-up
planned unless the gateway's archive shows the unit's V_br(T) line kept and saved, and not
lost since.  The archives are written as the gateway writes them: the payload's event
packets (flight/events.py's TM body, CBOR in a CCSDS packet) decoded by the ground's
decoder and archived by ground_tools/archive.py; the commands with their verification."""

import time

import pytest

from flight import cbor, ccsds
from flight.tm import APID_EVENT
from ground_tools import archive, dictionary, tmdecode, warmup
from ground_tools.__main__ import main
from tests.test_ground_plan import START, TLE, _tags, _unix

_DICT = dictionary.default()


class _Unit:
    """An archive that hears a unit's events and commands, in order."""

    def __init__(self, path):
        self.path = str(path)
        self.ar = archive.Archive(self.path, flush_s=0.01)
        self.seq = 0

    def event(self, name, args=()):
        self.seq += 1
        body = {"seq": self.seq, "time": 100.0 + self.seq, "severity": 0, "id": 0,
                "name": name, "text": "", "args": list(args)}
        raw = ccsds.build_packet(ccsds.TYPE_TM, APID_EVENT, self.seq & 0x3FFF,
                                 cbor.encode(body))
        dec = tmdecode.decode_tm(raw, _DICT)
        assert dec["ok"] and dec["kind"] == "event", dec
        pid, t = self.ar.stamp()
        self.ar.add_packet({"id": pid, "t": t, "dir": "tm", "apid": dec["apid"],
                            "seq": dec["seq"], "kind": "event", "ok": True, "error": None,
                            "raw": raw, "decoded": {"fields": None, "body": dec["body"]}})
        time.sleep(0.002)  # (distinct ground times)
        return self

    def command(self, name, status="completed"):
        cid = self.ar.next_command_id()
        t = time.time()
        self.ar.add_command({"id": cid, "t": t, "name": name, "args": {}, "status": "sent"})
        self.ar.update_command(cid, {"status": status, "complete_t": t + 0.001})
        time.sleep(0.002)
        return self

    def close(self):
        self.ar.flush()
        self.ar.close()
        return self.path


LINE_KEPT = ("BIAS_KNEE_LINE", [2, True])


@pytest.mark.parametrize("story, need, why", [
    ([], True, "no V_br(T) line kept"),
    ([("BIAS_KNEE_LINE", [1, True]), ("PARAMS_SAVED", [3])], True, "no V_br(T) line kept"),
    ([("BIAS_KNEE_LINE", [3, False]), ("PARAMS_SAVED", [3])], True, "no V_br(T) line kept"),
    ([("PARAMS_SAVED", [3]), LINE_KEPT], True, "was not saved"),
    ([LINE_KEPT, ("PARAMS_SAVED", [4])], False, "the unit's line kept"),
    ([("BIAS_KNEE_LINE_RESTART", [5, 3]), ("PARAMS_SAVED", [4])], False, "the unit's line"),
    ([LINE_KEPT, ("PARAMS_SAVED", [4]), ("BIAS_KNEE_LINE", [3, False])], False, "saved at"),
    ([LINE_KEPT, ("PARAMS_SAVED", [4]), ("PARAMS_CORRUPT", [])], True, "PARAMS_CORRUPT"),
    ([LINE_KEPT, ("PARAMS_SAVED", [4]), ("PARAMS_DEFAULTS", [])], True, "PARAMS_DEFAULTS"),
    ([LINE_KEPT, ("PARAMS_SAVED", [4]), ("STORE_FALLBACK", ["params"])], True,
     "STORE_FALLBACK"),
    ([LINE_KEPT, ("PARAMS_SAVED", [4]), ("STORE_FALLBACK", ["timetag"])], False, "saved at"),
    # lost, then kept and saved again: the latest story counts
    ([LINE_KEPT, ("PARAMS_SAVED", [4]), ("PARAMS_CORRUPT", []), LINE_KEPT,
      ("PARAMS_SAVED", [5])], False, "the unit's line kept"),
])
def test_the_decision_follows_the_archives_story(tmp_path, story, need, why):
    u = _Unit(tmp_path / "a.sqlite")
    for name, args in story:
        u.event(name, args)
    got, text = warmup.decide(u.close())
    assert got is need and why in text, text


def test_parameters_reset_by_command_after_the_save_need_the_warm_up(tmp_path):
    u = _Unit(tmp_path / "a.sqlite").event(*LINE_KEPT).event("PARAMS_SAVED", [4])
    u.command("PARAM_LOAD_DEFAULTS", status="failed")  # failed: nothing lost
    assert warmup.decide(u.close())[0] is False
    u = _Unit(tmp_path / "b.sqlite").event(*LINE_KEPT).event("PARAMS_SAVED", [4])
    u.command("PARAM_LOAD_DEFAULTS")
    need, why = warmup.decide(u.close())
    assert need is True and "PARAM_LOAD_DEFAULTS" in why


def test_a_missing_or_foreign_file_is_an_error_not_a_decision(tmp_path):
    with pytest.raises(warmup.ArchiveError, match="no such file"):
        warmup.decide(str(tmp_path / "typo.sqlite"))
    assert not (tmp_path / "typo.sqlite").exists()  # read, never created
    other = tmp_path / "other.sqlite"
    other.write_bytes(b"not a database at all" * 100)
    with pytest.raises(warmup.ArchiveError, match="not readable as an archive"):
        warmup.decide(str(other))


def _plan(tmp_path, *extra):
    script = tmp_path / "pass.tc"
    rc = main(["plan", "--tle", str(TLE), "--from", START, "--hours", "12", "--json",
               "--script", str(script)] + list(extra))
    return rc, script


def test_plan_warm_up_auto_plans_by_the_archive(tmp_path, capsys):
    import json

    first = _Unit(tmp_path / "first.sqlite").close()
    rc, script = _plan(tmp_path, "--warm-up", "auto", "--db", first)
    out, err = capsys.readouterr()
    assert rc == 0 and "--warm-up auto: the warm-up (no V_br(T) line kept" in err, err
    passes = json.loads(out)
    text = script.read_text()
    assert "# --warm-up auto: the warm-up" in text and "(--warm-up)" in text
    starts = [t for t, r in _tags(text) if r.startswith("opcode=SESSION_START")]
    assert starts[0] == pytest.approx(_unix(passes[0]["beacon_on"]) - 100.0, abs=0.1)
    assert sum(r.startswith("opcode=PARAM_SAVE") for _t, r in _tags(text)) == len(passes)

    kept = _Unit(tmp_path / "kept.sqlite").event(*LINE_KEPT).event("PARAMS_SAVED", [4]).close()
    rc, script = _plan(tmp_path, "--warm-up", "auto", "--db", kept)
    out, err = capsys.readouterr()
    assert rc == 0 and "--warm-up auto: the usual plan (the unit's line kept" in err, err
    passes = json.loads(out)
    text = script.read_text()
    starts = [t for t, r in _tags(text) if r.startswith("opcode=SESSION_START")]
    assert starts[0] == pytest.approx(_unix(passes[0]["beacon_on"]) - 2.9, abs=0.1)
    assert not any(r.startswith("opcode=PARAM_SAVE") for _t, r in _tags(text))


@pytest.mark.parametrize("argv, msg", [
    (["--warm-up", "auto"], "--warm-up auto: give --db ARCHIVE"),
    (["--warm-up", "maybe"], "--warm-up maybe: give no value"),
    (["--db", "x.sqlite"], "--db: only with --warm-up auto"),
    (["--warm-up", "auto", "--db", "nope.sqlite"], "no such file"),
])
def test_plan_warm_up_auto_refuses_clearly(tmp_path, capsys, argv, msg):
    rc, _ = _plan(tmp_path, *argv)
    err = capsys.readouterr().err
    assert rc != 0 and msg in err, err
    assert len(err.strip().splitlines()) == 1, err

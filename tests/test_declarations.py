"""The architecture contract (issue 10): one dictionary entry and one handler per command,
declared events/HK/parameters, the exported dictionary, compact housekeeping."""

import ast
import re
import sys
from pathlib import Path

import pytest

from flight import cmddict, components, events, telemetry
from flight.cmddict import BY_NAME, CmdFailed, Command, Dispatcher
from flight.scheduler import Task
from hal.interfaces import APT_SEARCH, APT_STATE_NAMES, APT_TRACK
from flight.tm import APID_EVENT, APID_HK, APID_HK_DIAG, APID_VERIFY
from ground_tools import dictionary, tmdecode
from tests.mpy.obc import Obc, ok_pair

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------- TC walk
def test_tc_walk_stays_within_app_tc_cmddict_owner_tm():
    """A TC from UART octets to its effect and its reports touches app.py (tc task),
    tc.py (verify), cmddict.py (check, execute), the owner module and tm.py (reports),
    besides the codecs: the modules imported along the way say so."""
    codecs = {"cbor", "ccsds", "cobs", "mac", "crc16", "compat", "slotstore"}
    walk = {"app": "flight/app.py", "tc": "flight/tc.py", "cmddict": "flight/cmddict.py",
            "tm": "flight/tm.py"}
    src = (ROOT / "flight/tc.py").read_text()
    used = {n.module.split(".")[-1] for n in ast.walk(ast.parse(src))
            if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("flight.")}
    used |= {a.name for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ImportFrom)
             and n.module == "flight" for a in n.names}
    assert used - codecs <= {"cmddict", "tm", "events", "telemetry"}, used
    # The PARAM_SET walk: its owner is params.py, the handler one method there.
    c = BY_NAME["PARAM_SET"]
    assert (c.owner, c.handler) == ("params", "cmd_param_set")
    o = Obc()
    assert o.app.dispatch.owners["params"] is o.app.params
    rep = ok_pair(o.send(c.opcode, {"name": "limit_persist", "value": 7}))
    assert rep["result"] == {"name": "limit_persist", "value": 7, "applies": "now"}
    assert len(walk) + 1 <= 5  # app, tc, cmddict, params (owner), tm


# --------------------------------------------------------------------- boot check
class _Owner:
    def cmd_ping(self, args, tc):
        return None


def test_boot_check_names_a_command_without_a_handler():
    cmds = (Command(0x01, "PING", "x", "cmd_ping", (), cmddict.ALL_MODES, ""),
            Command(0x02, "LOST", "x", "cmd_lost", (), cmddict.ALL_MODES, ""))
    d = Dispatcher(cmds)
    d.register("x", _Owner())
    with pytest.raises(ValueError, match=r"LOST \(0x02\): x has no handler cmd_lost"):
        d.verify()


def test_boot_check_names_a_handler_without_an_entry():
    class Extra(_Owner):
        def cmd_orphan(self, args, tc):
            return None

    d = Dispatcher((Command(0x01, "PING", "x", "cmd_ping", (), cmddict.ALL_MODES, ""),))
    d.register("x", Extra())
    with pytest.raises(ValueError, match="handler x.cmd_orphan has no command dictionary entry"):
        d.verify()


def test_boot_check_owner_missing_duplicates_and_the_app_boot(monkeypatch):
    d = Dispatcher((Command(0x01, "PING", "nobody", "cmd_ping", (), cmddict.ALL_MODES, ""),))
    with pytest.raises(ValueError, match="owner 'nobody' not registered"):
        d.verify()
    d.verify(absent=("nobody",))  # a payload owner absent on this board: fine
    with pytest.raises(CmdFailed) as e:
        d.execute(d.lookup(0x01), {}, (0, 0))
    assert e.value.reason == "UNAVAILABLE"
    with pytest.raises(ValueError, match="defined twice"):
        Dispatcher((Command(1, "A", "x", "cmd_a", (), (), ""),
                    Command(1, "B", "x", "cmd_b", (), (), "")))
    # The app runs the check at boot: a core owner that lost its handler fails the boot.
    from flight.corecmds import CoreCommands

    monkeypatch.delattr(CoreCommands, "cmd_ping")
    o = Obc(boot=False)
    with pytest.raises(ValueError, match=r"PING \(0x01\): core has no handler cmd_ping"):
        o.app.boot()


def test_every_declared_command_has_its_handler_on_a_full_board():
    from tests.mpy.kit import app_rig

    r = app_rig("bias", "apt", "comparator")
    d = r.app.dispatch
    for c in cmddict.COMMANDS:
        assert d.handler(c) is not None, c.name
    assert set(d.owners) >= {c.owner for c in cmddict.COMMANDS}
    assert sorted(set(c.owner for c in cmddict.COMMANDS)) == sorted(
        {"core", "modes", "params", "timetag", "replay", "apt", "aptcal", "bias", "bias_knee",
         "comparator", "framer", "pointahead", "borescan"})


def test_reasons_are_declared_once():
    assert len(set(cmddict.ACCEPT_REASONS)) == 10
    for r in ("EXEC", "UNAVAILABLE", "TRANSITION", "STORAGE", "HAL"):
        assert r in cmddict.COMPLETE_REASONS
    with pytest.raises(ValueError):
        CmdFailed("NOT_A_REASON")


# --------------------------------------------------------------------- housekeeping
def _full_app():
    from tests.mpy.kit import app_rig

    r = app_rig("bias", "apt", "comparator")
    r.app.modes.request("STANDBY")
    r.app.modes.request("SESSION")
    r.app.run_for(3000000)
    return r


def test_hk_packet_fits_256_octets_on_the_wire_and_decodes_against_the_app():
    r = _full_app()
    app = r.app
    o = Obc(board=app.board, app=app, boot=False)
    o.settle(0)
    r.link.take()
    o.run(1000000)
    hk = o.raw_hk[-1]
    assert hk[0] == APID_HK
    body = hk[1]
    packet = 6 + len(body) + 2
    # The aim was 160 (issue 10); security (nonce, key state) and point-ahead (issue 14)
    # fields made it 166.  Hold the growth here: a new 1 Hz field needs a reason.
    assert packet <= 176
    assert packet + 2 <= 256  # COBS (1 octet per 254) and the delimiter
    # Field by field, against the app's own state (ground decoder, exported dictionary).
    f = tmdecode.decode_packed(dictionary.default()["telemetry"]["hk"]["fields"], body)
    assert f["mode"] == app.modes.mode == "SESSION"
    assert f["boot_count"] == app.boot_count
    assert f["tc_accepted"] == app.tc.accepted
    assert f["tc_rej_crc"] == app.tc.rejected["CRC"]
    assert f["safe_entries"] == app.modes.safe_entries
    assert f["timetags_queued"] == len(app.timetags)
    assert f["tm_dropped"] == app.tm.dropped
    assert f["key_id"] == app.keyring.active
    assert abs(f["uptime"] - app.uptime_s()) < 1.1
    assert f["apt_state"] in APT_STATE_NAMES[APT_SEARCH:APT_TRACK + 1]
    assert f["bias_state"] != "OFF" or f["bias_v_cmd"] == 0
    assert f["events_undeclared"] == 0 and f["hk_errors"] == 0
    assert abs(f["bias_v_cmd"] - r.bias.v_cmd) < 0.002
    # Every field decodes to its declared set, in declared order.
    names = [x.name for _, decl in components.declared("HK") for x in decl]
    assert list(f) == names and len(set(names)) == len(names)


def test_diagnostic_hk_only_on_request_or_at_its_period():
    o = Obc()
    o.run(3000000)
    assert o.of(APID_HK) and not o.of(APID_HK_DIAG)
    rep = ok_pair(o.send(BY_NAME["HK_DIAG_REQUEST"].opcode))
    (d,) = o.of(APID_HK_DIAG)
    assert rep["result"]["octets"] == len([b for a, b in o.raw_hk if a == APID_HK_DIAG][0])
    assert d["tc_runs"] == o.app.sched.task("tc").runs or d["tc_runs"] > 0
    assert d["hk_enabled"] == 1 and d["apt_runs"] == 0  # no APT task on a core board
    o.app.params.set("hk_diag_period_s", 2)
    o.tm = []
    o.run(6100000)
    assert 2 <= len(o.of(APID_HK_DIAG)) <= 4


def test_hk_packer_saturates_and_survives_a_failing_owner():
    fields = (telemetry.HkField("a", "u8"), telemetry.HkField("b", "i16"),
              telemetry.HkField("c", "f32"))

    def fill(values, i):
        values[i] = 300
        values[i + 1] = -40000
        values[i + 2] = 1.5

    def bad(values, i):
        raise RuntimeError("bug")

    p = telemetry.HkPacker([(fields, fill), ((telemetry.HkField("d", "u16"),), bad)])
    assert p.size == 1 + 2 + 4 + 2
    assert telemetry.decode(p.fields, bytes(p.pack())) == {"a": 255, "b": -32768, "c": 1.5,
                                                           "d": 0}
    assert p.errors == 1


# --------------------------------------------------------------------- events
def _declared_events():
    return [(owner, e) for owner, decl in components.declared("EVENTS") for e in decl]


def test_every_declared_event_is_emitted_in_flight_code_and_named_by_a_test():
    flight_src = "\n".join(p.read_text() for p in (ROOT / "flight").glob("*.py"))
    tests_src = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    missing_emit = []
    missing_test = []
    for owner, e in _declared_events():
        const = [k for m in _declaring_modules(owner, e) for k, v in vars(m).items()
                 if k.startswith("EV_") and v == e.id]
        assert const, "%s: no EV_ constant for %s" % (owner, e.name)
        if not re.search(r"(emit|_event)\([^\n]*\b(%s)\b" % "|".join(const), flight_src):
            missing_emit.append(e.name)
        if e.name not in tests_src and not any(re.search(r"\b%s\b" % c, tests_src)
                                               for c in const):
            missing_test.append(e.name)
    assert missing_emit == [] and missing_test == []


def components_module(owner):
    return dict(components.modules())[owner]


def _declaring_modules(owner, e):
    """The component's module and any flight module whose own EVENTS holds ``e`` (the
    core's commands declare theirs in flight/corecmds.py; flight/app.py gathers them)."""
    mods = [components_module(owner)]
    for name, m in sorted(sys.modules.items()):
        if name.startswith("flight.") and m is not None and m not in mods \
                and any(x is e for x in getattr(m, "EVENTS", ())):
            mods.append(m)
    return mods


def test_timetag_dropped_on_reboot_and_on_a_smaller_queue():
    o = Obc()
    t = o.app.now_s() + 1000
    for i in range(3):
        ok_pair(o.send(BY_NAME["TIMETAG"].opcode, {"time": t + i, "opcode": 1}))
    ok_pair(o.send(BY_NAME["PARAM_SET"].opcode, {"name": "timetag_capacity", "value": 1}))
    o.run(100000)
    ev = [e for e in o.of(APID_EVENT) if e["name"] == "TIMETAG_DROPPED"]
    assert ev and ev[0]["args"] == [2] and len(o.app.timetags) == 1
    ok_pair(o.send(BY_NAME["REBOOT"].opcode))
    o.run(100000)
    ev = [e for e in o.of(APID_EVENT) if e["name"] == "TIMETAG_DROPPED"]
    assert ev[-1]["args"] == [1] and o.app.timetags.dropped == 3


def test_tm_overflow_once_per_episode():
    o = Obc()
    o.settle()
    o.board.link.tx_capacity = 0
    for _ in range(20):
        o.app.tm.send(APID_EVENT, {"filler": "x" * 1000})
    assert o.app.tm.dropped > 0
    o.board.link.tx_capacity = 1 << 20
    o.run(1100000)
    ev = [e for e in o.of(APID_EVENT) if e.get("name") == "TM_OVERFLOW"]
    assert len(ev) == 1 and ev[0]["args"][0] >= 1


def test_uart_error_is_its_own_event_not_a_storage_error():
    o = Obc()
    o.settle()

    def broken(buf):
        raise OSError(5)

    o.board.link.read_into = broken
    o.run(200000)
    names = [e["name"] for e in o.of(APID_EVENT)]
    assert "UART_ERROR" in names and "STORAGE_ERROR" not in names
    assert o.app.tc.uart_errors >= 5


def test_watchdog_withheld_and_watchdog_fault_events():
    o = Obc()
    o.settle()
    o.app.sched.task("health").enabled = False  # a stalled critical task
    o.run(300000)
    ev = [e for e in o.of(APID_EVENT) if e["name"] == "WATCHDOG_WITHHELD"]
    assert len(ev) == 1 and ev[0]["args"] == ["health"]
    o2 = Obc(boot=False)

    def fail(*a):
        raise OSError("wdt")

    o2.board.watchdog.start = fail
    o2.app.boot()
    o2.board.watchdog.feed = fail
    o2.run(300000)
    ev = [e for e in o2.of(APID_EVENT) if e["name"] == "WATCHDOG_FAULT"]
    assert 1 <= len(ev) <= 3 and o2.app.sched.watchdog_faults > 3


def test_module_hook_failure_and_power_switch_fault_events():
    from hal.interfaces import SW_CAMERA

    o = Obc()

    class Bad:
        name = "bad"

        def safe(self):
            raise RuntimeError("hook")

    o.app.modes.add_module(Bad())
    p = o.board.power
    real = p.set

    def flaky(sw, on):
        if sw == SW_CAMERA:
            raise OSError("i2c")
        real(sw, on)

    p.set = flaky
    o.app.modes.enter_safe("test")
    o.run(100000)
    names = [e["name"] for e in o.of(APID_EVENT)]
    assert "MODULE_HOOK_FAILED" in names and "POWER_SWITCH_FAULT" in names


def test_critical_task_disabled_event():
    o = Obc()
    o.settle()

    def boom():
        raise ValueError("x")

    o.app.sched.task("health").fn = boom
    o.run(1000000)
    names = [e["name"] for e in o.of(APID_EVENT)]
    assert "CRITICAL_TASK_DISABLED" in names and "TASK_FAULT" in names


# --------------------------------------------------------------------- export
def test_export_has_commands_hk_events_adcs_parameters_and_reasons():
    d = dictionary.build_dictionary()
    assert d["format"] == "vector-dictionary" and d["version"] == 2
    assert d["apids"] == {"tc": 0xA0, "hk": 0xA1, "event": 0xA2, "verify": 0xA3,
                          "adcs": 0xA4, "hk_diag": 0xA5}
    assert {c["name"] for c in d["commands"]} == set(BY_NAME)
    for c in d["commands"]:
        assert c["owner"] and c["handler"].startswith("cmd_") and "hazardous" in c
    assert d["reasons"] == {"acceptance": list(cmddict.ACCEPT_REASONS),
                            "completion": list(cmddict.COMPLETE_REASONS)}
    hk = d["telemetry"]["hk"]
    assert hk["encoding"] == "packed-be" and hk["size"] + 8 <= 176
    off = 0
    for f in hk["fields"]:
        assert set(f) == {"name", "owner", "type", "unit", "scale", "offset", "warn", "alarm",
                          "enum", "description", "offset_bytes"}
        assert f["offset_bytes"] == off and f["description"]
        off += telemetry.TYPES[f["type"]][1]
    assert off == hk["size"]
    assert any(f["alarm"] for f in hk["fields"]) and any(f["unit"] for f in hk["fields"])
    assert {f["owner"] for f in hk["fields"]} >= {"core", "tc", "apt", "bias", "framer"}
    assert d["telemetry"]["hk_diag"]["apid"] == APID_HK_DIAG
    adcs = d["telemetry"]["adcs"]
    assert adcs["encoding"] == "cbor-map" and {f["name"] for f in adcs["fields"]} >= {
        "err_x_urad", "err_y_urad", "valid"}
    assert d["telemetry"]["verify"]["apid"] == APID_VERIFY
    assert "text" in d["telemetry"]["event"]["keys"]
    ids = [e["id"] for e in d["events"]]
    assert len(ids) == len(set(ids))
    for e in d["events"]:
        assert e["severity"] in d["severities"] and e["text"] and e["owner"]
        assert all(set(a) == {"name", "type"} for a in e["args"])
    names = {e["name"] for e in d["events"]}
    assert {"TIMETAG_DROPPED", "TM_OVERFLOW", "WATCHDOG_WITHHELD", "UART_ERROR",
            "WATCHDOG_FAULT"} <= names
    params = {p["name"]: p for p in d["parameters"]}
    assert params["apt_kp"]["owner"] == "apt" and params["temp_max_c"]["unit"] == "degC"


def test_export_is_generated_from_declarations_only():
    src = (ROOT / "ground_tools/dictionary.py").read_text()
    assert "define_params" not in src and "except Exception" not in src
    assert "FlightApp" not in src


def test_decode_tm_for_every_apid():
    o = Obc()
    o.run(1100000)
    ok_pair(o.send(BY_NAME["HK_DIAG_REQUEST"].opcode))
    d = dictionary.default()
    from flight import ccsds

    for apid, body in o.raw_hk:
        pkt = ccsds.build_packet(ccsds.TYPE_TM, apid, 5, body)
        r = tmdecode.decode_tm(pkt, d)
        assert r["ok"] and r["seq"] == 5 and "fields" in r
        assert r["kind"] == ("hk" if apid == APID_HK else "hk_diag")
    from flight import cbor

    r = tmdecode.decode_tm(ccsds.build_packet(ccsds.TYPE_TM, APID_EVENT, 1,
                                              cbor.encode({"name": "BOOT"})), d)
    assert r == {"apid": APID_EVENT, "kind": "event", "seq": 1, "ok": True,
                 "body": {"name": "BOOT"}}
    bad = tmdecode.decode_tm(b"\x08\xa1\xc0\x00\x00\x01\x00\x00", d)
    assert bad["ok"] is False and bad["error"].startswith("CRC")


def test_severity_comes_from_the_declaration():
    o = Obc()
    e = o.app.events.emit(0x34, [1], "flash")  # STORAGE_ERROR
    assert e[2] == events.SEV_ERROR


def test_task_overrun_deadline_miss_and_params_saved_events():
    o = Obc()
    o.settle()
    clock = o.clock

    def slow():
        clock.advance(150000)  # over its budget and past its next release

    o.app.sched.add(Task("slow", 100000, slow, budget_us=1000))
    o.run(400000)
    ok_pair(o.send(BY_NAME["PARAM_SAVE"].opcode))
    o.run(100000)
    names = [e["name"] for e in o.of(APID_EVENT)]
    assert names.count("TASK_OVERRUN") == 1  # first time only
    miss = [e["text"] for e in o.of(APID_EVENT) if e["name"] == "DEADLINE_MISS"]
    assert miss.count("slow") == 1  # once per task (the others it delayed report theirs)
    saved = [e for e in o.of(APID_EVENT) if e["name"] == "PARAMS_SAVED"]
    assert saved and saved[0]["args"] == [o.app.params.store.generation]


def test_equal_field_attributes_share_one_tuple_and_keep_their_types():
    # Fields with the same scale/offset/limits/enum share one tuple (heap on the target);
    # 1 and 1.0 export differently, so they never share.
    a = telemetry.HkField("a", "u16", warn=(0, 0))
    b = telemetry.HkField("b", "u8", warn=(0, 0), description="other")
    c = telemetry.HkField("c", "u16", scale=1.0, warn=(0, 0))
    assert a.more is b.more
    assert c.more is not a.more and telemetry.more(c)[0] == 1.0
    assert isinstance(telemetry.more(c)[0], float) and isinstance(telemetry.more(a)[0], int)


def test_diagnostic_hk_reports_the_event_logs_faults_each_of_its_own_kind():
    # The persistent event log's counters reach the ground (they were counted, unsent):
    # a copy found damaged (salvaged), failed writes (pending), a full backlog (lost).
    o = Obc()
    o.run(1000000)
    ev = o.app.events
    rep = ok_pair(o.send(BY_NAME["HK_DIAG_REQUEST"].opcode))
    assert rep["result"]["octets"] > 0
    (d,) = o.of(APID_HK_DIAG)
    assert (d["evlog_write_errors"], d["evlog_lost"], d["evlog_salvaged"]) == (0, 0, 0)
    ev.emit_sev(events.SEV_WARN, 0x02, None, "a")
    assert ev.flush() == 1
    name = ev._blob(ev._active)
    o.storage.blobs[name] = o.storage.blobs[name][:-2]  # flash lost its tail since
    ev.emit_sev(events.SEV_WARN, 0x02, None, "b")
    assert ev.flush() == 1
    o.storage.fail_writes = True
    for _ in range(ev.persist_capacity + 3):
        ev.emit_sev(events.SEV_WARN, 0x02, None, "c")
    o.run(1000000)  # the housekeeping's flush fails: kept pending, counted
    o.storage.fail_writes = False
    o.tm = []
    ok_pair(o.send(BY_NAME["HK_DIAG_REQUEST"].opcode))
    (d,) = o.of(APID_HK_DIAG)
    assert d["evlog_salvaged"] == 1
    assert d["evlog_write_errors"] == ev.persist_errors >= 1
    assert d["evlog_lost"] == ev.persist_dropped >= 3

"""`vector-tc run` scripts: parsing, conditions and paths (no payload needed)."""

import pytest

from flight.tm import APID_HK, APID_HK_DIAG
from ground_tools.script import Cond, ScriptError, parse_script, resolve

# A nested CBOR body (verification results, ADCS maps): dotted paths and named rows.
HK = {"mode": "SESSION", "apt": {"state": "TRACK", "res_x_urad": 1.5},
      "tc_rejected": {"AUTH": 2}, "sched": [["apt", 10, 0, 0, 0, 0, 5, 0, True],
                                            ["tc", 5, 0, 0, 0, 3, 5, 0, True]],
      "deframer": [7, 0, 1]}


def test_parse_every_step_kind():
    steps = parse_script("""
        # comment line
        echo hello world   # trailing comment
        send PARAM_SET name=temp_max_c value=41
        reject REPLAY PING
        wait 2.5 hk mode == SESSION and tc_rej_auth < 4
        sleep 0.25
        wait 1 any name contains MODE
    """)
    assert [s.kind for s in steps] == ["echo", "send", "reject", "wait", "sleep", "wait"]
    assert [s.lineno for s in steps] == [3, 4, 5, 6, 7, 8]
    assert steps[0].message == "hello world"
    assert steps[1].cmd.name == "PARAM_SET" and steps[1].args == {"name": "temp_max_c",
                                                                  "value": 41.0}
    assert steps[2].reason == "REPLAY"
    w = steps[3]
    assert w.seconds == 2.5 and w.apid == APID_HK and len(w.conds) == 2
    assert all(c.holds({"mode": "SESSION", "tc_rej_auth": 2}) for c in w.conds)
    assert not w.conds[1].holds({"mode": "SESSION", "tc_rej_auth": 4})
    assert steps[5].apid is None


def test_housekeeping_conditions_name_declared_fields():
    w = parse_script("wait 1 hk_diag tc_deadline_misses < 4")[0]
    assert w.apid == APID_HK_DIAG and w.conds[0].holds({"tc_deadline_misses": 3})
    with pytest.raises(ScriptError, match="line 1: hk has no field 'tc_rejected.AUTH'"):
        parse_script("wait 1 hk tc_rejected.AUTH > 1")
    with pytest.raises(ScriptError, match="did you mean"):
        parse_script("wait 1 hk tc_rej_authx > 1")


@pytest.mark.parametrize("cond,ok", [
    (("mode", "==", "SESSION"), True),
    (("mode", "!=", "SESSION"), False),
    (("apt.res_x_urad", "<", 2), True),
    (("apt.res_x_urad", ">=", 2), False),
    (("tc_rejected.AUTH", ">", 1), True),
    (("sched.apt.1", "==", 10), True),
    (("sched.1.5", "==", 3), True),
    (("deframer.2", "==", 1), True),
    (("apt.missing", "==", None), False),
    (("mode", "<", 3), False),  # type mismatch is simply false
    (("mode", "contains", "SESS"), True),
])
def test_conditions(cond, ok):
    assert Cond(cond[0].split("."), cond[1], cond[2]).holds(HK) is ok


def test_resolve_errors():
    with pytest.raises(LookupError):
        resolve(HK, ["sched", "nosuch"])
    with pytest.raises(LookupError):
        resolve(HK, ["mode", "x"])
    assert resolve(HK, ["sched", "tc", "0"]) == "tc"


@pytest.mark.parametrize("text,msg", [
    ("send", "line 1: send needs a command"),
    ("\nsend NOPE", "line 2: unknown command 'NOPE'"),
    ("reject PING", "reject needs REASON and a command"),
    ("wait 5", "wait needs SECONDS KIND CONDITION"),
    ("wait 5 hk", "wait needs a condition"),
    ("wait 5 hk mode ==", "condition needs PATH OP VALUE"),
    ("wait 5 hk mode == SAFE or x == 1", "expected 'and'"),
    ("wait 5 hk mode == SAFE and", "condition expected after 'and'"),
    ("wait -1 hk mode == SAFE", "out of range"),
    ("sleep 1 2", "sleep takes one number"),
    ("echo 'unterminated", "cannot split line"),
])
def test_syntax_errors_name_the_line(text, msg):
    with pytest.raises(ScriptError) as e:
        parse_script(text)
    assert msg in str(e.value)

"""The longest legal telecommand fits the payload's TC deframer (flight/tc.py MAX_TC_LEN).

The deframer's decode buffer is flight heap (issue 11), so its bound is the longest TC
the dictionary allows, not a round number: every command is built with each argument at
its longest legal encoding (strings and byte strings at their maximum length, the
longest choice, integers at the bound of the larger magnitude, floats as CBOR float64)
and TIMETAG around the longest of them.  That packet must pass the deframer on a booted
payload; one octet over the bound is dropped as oversize; and the ground encoder refuses
a command that would not fit, with a message that names the bound.
"""

import pytest

from flight import cmddict
from flight.cmddict import COMMANDS
from flight.tc import MAX_TC_LEN
from ground_tools import commands, wire
from tests.mpy.obc import Obc

NOT_WRAPPED = ("TIMETAG", "TIMETAG_CLEAR")  # what TIMETAG refuses to carry


def longest_value(a):
    """The legal value of argument ``a`` with the longest CBOR encoding."""
    if a.atype == "bool":
        return True
    if a.atype == "str":
        return max(a.choices, key=len) if a.choices else "x" * a.hi
    if a.atype == "bytes":
        return b"\xff" * a.hi
    if a.atype == "int":
        return a.lo if a.lo is not None and -a.lo > a.hi else a.hi
    if a.atype in ("float", "scalar"):
        return (a.lo + (a.hi - a.lo) / 3.0) if a.lo is not None else 1.0 / 3.0
    raise AssertionError("no longest value for %s of type %s" % (a.name, a.atype))


def longest_args(cmd):
    if cmd.name == "TIMETAG":
        inner = longest_command(exclude=NOT_WRAPPED)
        args = {a.name: longest_value(a) for a in cmd.args if a.atype != "map"}
        args["opcode"] = inner.opcode
        args["args"] = longest_args(inner)
        return args
    return {a.name: longest_value(a) for a in cmd.args}


def packet_len(cmd, args):
    return len(wire.encode_tc(bytes(32), 1, 1, cmd.opcode, args))


def longest_command(exclude=()):
    cands = [c for c in COMMANDS if c.name not in exclude]
    return max(cands, key=lambda c: packet_len(c, longest_args(c)))


def test_longest_values_are_legal():
    """The worst case is built from legal values only (else the bound would be loose)."""
    for c in COMMANDS:
        for name, v in longest_args(c).items():
            a = next(x for x in c.args if x.name == name)
            cmddict.check_arg(a, v)  # raises on an illegal value


def test_longest_legal_tc_fits_the_bound():
    c = longest_command()
    args = longest_args(c)
    n = packet_len(c, args)
    assert c.name == "TIMETAG"  # it can carry any other command's arguments
    assert n <= MAX_TC_LEN, "longest legal TC %s: %d octets > MAX_TC_LEN %d" % (
        c.name, n, MAX_TC_LEN)
    # The ground's checked path accepts it as it is.
    assert commands.check_args(c, dict(args)) == args


def test_longest_legal_tc_passes_the_deframer_on_board():
    h = Obc()
    c = longest_command()
    pkt = h.packet(c.opcode, longest_args(c))
    d = h.app.deframer
    assert len(pkt) <= MAX_TC_LEN
    h.send_raw(pkt)
    h.run(40000)
    rep = h.reports()
    assert (d.frames, d.oversize) == (1, 0)
    assert rep and rep[0]["stage"] == "accept" and rep[0]["reason"] != "LENGTH"


@pytest.mark.parametrize("extra", [0, 1])
def test_deframer_bound_is_max_tc_len(extra):
    """A frame of MAX_TC_LEN octets is deframed; one more octet is oversize."""
    h = Obc()
    d = h.app.deframer
    h.send_raw(b"\x01" * (MAX_TC_LEN + extra))
    h.run(20000)
    assert (d.frames, d.oversize) == ((1, 0) if extra == 0 else (0, 1))
    # reported as its own kind in the diagnostic set (flight/tc.py HK_DIAG), not as bad COBS
    v = [None, None]
    h.app.tc.hk_diag(v, 0)
    assert v == [extra, 0]


def test_ground_refuses_a_command_over_the_bound(monkeypatch):
    import flight.tc

    c = cmddict.BY_NAME["PA_PROFILE"]
    args = longest_args(c)
    n = packet_len(c, args)
    monkeypatch.setattr(flight.tc, "MAX_TC_LEN", n - 1)
    with pytest.raises(commands.ArgError, match=r"PA_PROFILE: the packet would be %d octets; "
                       r"the payload takes at most %d" % (n, n - 1)):
        commands.check_args(c, args)
    monkeypatch.setattr(flight.tc, "MAX_TC_LEN", n)
    assert commands.check_args(c, args) == args

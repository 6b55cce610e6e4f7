"""The flight declarations cost no heap in the firmware (issue 11).

On the QEMU image (``sys.platform == "qemu"``) the flight modules are frozen with their
declaration blocks (HK, HK_DIAG, ADCS, PARAMS, EVENTS, COMMANDS) written as constant
tuples, which the freezer puts in flash (tools/freeze_decl.py): importing a module again
gives the very same objects, where records built by calls at import would be new heap
objects each time.  On every MicroPython the records are plain tuples, read by position
(flight.telemetry F_*, flight.params P_*, flight.eventdecl E_*, flight.cmddict C_*/A_*),
with namedtuple views where code outside the declaring helpers reads them by attribute.
"""

import sys

from flight import cmddict, components

FROZEN = sys.platform == "qemu"  # the firmware image: flight code frozen
ATTRS = ("HK", "HK_DIAG", "ADCS", "PARAMS", "EVENTS")
# Records that may still be built at import in the firmware: a float the freezer cannot
# store exactly (it writes %.16g) is made from its bits (apt_fsm_x/y: FSM_LSB_RAD * 1e6).
MAX_HEAP_RECORDS = 4


def _declarations():
    """[(where, declaration tuple)] of every component and the command dictionary."""
    out = [("flight.cmddict.COMMANDS", cmddict.COMMANDS)]
    for name, mod in components.modules():
        for attr in ATTRS:
            decl = getattr(mod, attr, None)
            if isinstance(decl, tuple):  # (the scheduler's per-task set is generated)
                out.append(("%s.%s" % (name, attr), decl))
    return out


def _reimport(path):
    del sys.modules[path]
    __import__(path)
    return sys.modules[path]


def test_records_are_plain_tuples_on_micropython():
    if sys.implementation.name != "micropython":
        return  # CPython: namedtuples (the ground tools read them by attribute)
    n = 0
    for where, decl in _declarations():
        for r in decl:
            assert type(r) is tuple, where  # a namedtuple costs its type and, built, heap
            n += 1
    assert n > 300


def test_declarations_are_constants_in_flash_on_the_firmware():
    if not FROZEN:
        return  # compiled from source here: constants are heap objects
    before = _declarations()
    again = {"flight.cmddict.COMMANDS": _reimport("flight.cmddict").COMMANDS}
    for name, path in components.COMPONENTS:
        mod = _reimport(path)
        for attr in ATTRS:
            decl = getattr(mod, attr, None)
            if isinstance(decl, tuple):
                again["%s.%s" % (name, attr)] = decl
    built = []
    for where, decl in before:
        new = again[where]
        assert len(new) == len(decl), where
        if new is decl:
            continue
        for k in range(len(decl)):
            if new[k] is not decl[k]:
                built.append("%s[%d] %s" % (where, k, decl[k][1] if where.endswith(
                    "COMMANDS") else decl[k][0]))
    assert len(built) <= MAX_HEAP_RECORDS, built


def test_commands_handed_out_read_by_attribute():
    c = cmddict.BY_NAME["PARAM_SET"]
    assert c.name == "PARAM_SET" and c.owner == "params" and c.opcode == c[0]
    assert cmddict.Dispatcher().lookup(c.opcode).handler == "cmd_param_set"
    assert cmddict.BY_OPCODE.get(0x100) is None and "PING" in cmddict.BY_NAME

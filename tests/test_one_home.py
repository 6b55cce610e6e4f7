"""Issue 10 "Done when": no copied hardware constant remains.

Every hardware fact has one home (hal/interfaces.py for switches, FSM range, framer
counters/modes, state numbers and names; flight/tm.py for APIDs; flight/modes.py for the
safe power-off order; flight/cmddict.py for opcodes and mode names; flight/eventdecl.py for
severity names).  This test reads the code of every scanned tree token by token (comments
and docstrings are prose and do not count) and fails with ``file:line`` for each literal
copy of such a fact outside its home.  The patterns are derived from the homes' values, so
a fact that changes at home is still found where it was copied.

Documented exceptions (``EXCEPTIONS``) are files that pin a wire format or a chip's
register layout byte for byte: there the literal *is* the thing under test, and importing
it from the home would make the test agree with any change.
"""

import io
import os
import tokenize

from flight import cmddict, events, modes, tm
from hal import interfaces as hi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCANNED = ("flight", "hal", "sim", "ground_tools", "bench", "board", "tests")
THIS = "tests/test_one_home.py"

# rule -> {path: why the literal stays there}
EXCEPTIONS = {
    "counter_mask": {
        "tests/mpy/test_hal_interfaces_mpy.py": "pins the home's COUNTER_MASK value itself",
        "tests/mpy/test_sim_rng_mpy.py": "PRNG seed edge cases: the small-int maximum, not a mask",
        "tests/procutil.py": "TC anti-replay counter kept a small int, not the framer mask",
    },
    "apid": {
        "tests/test_codecs_ccsds.py": "CCSDS header vectors pin the wire format byte for byte",
        "tests/mpy/test_codecs_mpy.py": "CCSDS header/packet vectors pin the wire format",
        "tests/test_ground_cli.py": "pins the exported dictionary's APIDs to DESIGN 3.7",
    },
    "opcode": {
        "tests/test_ground_wire.py": "TC wire vectors: the encoder is compared octet by octet",
        "tests/test_ground_cli.py": "the CLI's encoded TC hex compared with a fixed encoding",
        "tests/test_ground_board_main.py": "raw TC octets injected into the board main loop",
    },
}

HOMES = {
    "apid": ("flight/tm.py",),
    "counter_mask": ("hal/interfaces.py", "hal/compat.py"),
    "names": ("hal/interfaces.py", "flight/cmddict.py", "flight/eventdecl.py"),
    "safe_off_order": ("flight/modes.py",),
    "fsm_range": ("hal/interfaces.py",),
    "opcode": ("flight/cmddict.py",),
}

# Name tuples whose copies are looked for (3 or more of them in declared order, as
# adjacent string literals of one tuple/list).
NAME_TUPLES = {
    "APT_STATE_NAMES": hi.APT_STATE_NAMES,
    "LINK_STATE_NAMES": hi.LINK_STATE_NAMES,
    "COMP_STATE_NAMES": hi.COMP_STATE_NAMES,
    "BIAS_STATE_NAMES": hi.BIAS_STATE_NAMES,
    "FRAMER_MODE_NAMES": hi.FRAMER_MODE_NAMES,
    "SWITCH_NAMES": hi.SWITCH_NAMES,
    "cmddict.MODES": cmddict.MODES,
    "SEVERITY_NAMES": events.SEVERITY_NAMES,
}
FSM_LITERALS = {str(hi.FSM_CODE_MAX), str(-hi.FSM_CODE_MIN)}
FSM_TREES = ("flight/", "sim/", "hal/sim/")  # hal/real/fsm.py: the AD5664's offset binary
APIDS = {tm.APID_TC, tm.APID_HK, tm.APID_EVENT, tm.APID_VERIFY, tm.APID_ADCS, tm.APID_HK_DIAG}
SEND_CALLS = {"send", "valid", "encode_tc"}


def _files():
    for top in SCANNED:
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", "node_modules"))
            for name in sorted(filenames):
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    yield os.path.relpath(path, ROOT).replace(os.sep, "/"), path


def code_tokens(text):
    """The tokens that are code: no comments, no docstrings, no layout tokens."""
    toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER)
    out = []
    prev = tokenize.NEWLINE
    for i, t in enumerate(toks):
        if t.type in skip:
            continue
        if t.type == tokenize.STRING and prev in (tokenize.NEWLINE, tokenize.INDENT,
                                                   tokenize.DEDENT):
            nxt = next((u for u in toks[i + 1:] if u.type not in skip), None)
            if nxt is None or nxt.type == tokenize.NEWLINE:
                prev = t.type
                continue  # a docstring / bare string statement: prose
        prev = t.type
        if t.type not in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            out.append(t)
    return out


def _int(tok):
    try:
        return int(tok.string, 0)
    except ValueError:
        return None


def _string_runs(toks):
    """Runs of string literals separated by commas: (line, [values])."""
    run, line = [], 0
    for i, t in enumerate(toks):
        if t.type == tokenize.STRING:
            try:
                val = eval(t.string, {})  # noqa: S307 - a literal from our own tree
            except Exception:
                val = None
            if not run:
                line = t.start[0]
            run.append(val)
            continue
        if t.string == "," and run and i and toks[i - 1].type == tokenize.STRING:
            continue
        if len(run) >= 2:
            yield line, run
        run = []
    if len(run) >= 2:
        yield line, run


def _in_order(run, names, need):
    """True when ``need`` or more of ``names`` appear in ``run`` in their declared order."""
    pos = [names.index(v) for v in run if isinstance(v, str) and v in names]
    best = cur = 1 if pos else 0
    for a, b in zip(pos, pos[1:], strict=False):
        cur = cur + 1 if b > a else 1
        best = max(best, cur)
    return best >= need


def copies(rel, text):
    """(rule, line, what) for each literal copy of a fact in one file's code."""
    toks = code_tokens(text)
    found = []
    for i, t in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        nxt2 = toks[i + 2] if i + 2 < len(toks) else None
        if t.type == tokenize.NUMBER:
            v = _int(t)
            low = t.string.lower()
            # APIDs are written 0x0A0..0x0A5 (three hex digits); a bare 0xA0 is CBOR.
            if v in APIDS and low.startswith("0x0a") and len(low) == 5:
                found.append(("apid", t.start[0], t.string))
            if v == hi.COUNTER_MASK:  # 0x3FFFFFFF / 1073741823 spelt out
                found.append(("counter_mask", t.start[0], t.string))
            # (1 << 30) - 1 / 2 ** 30 - 1: the mask computed (1 << 30 alone is MicroPython's
            # small-int bound or a ticks period, not the counter mask)
            nxt3 = toks[i + 3] if i + 3 < len(toks) else None
            nxt4 = toks[i + 4] if i + 4 < len(toks) else None
            if (t.string in ("1", "2") and nxt is not None and nxt.string in ("<<", "**")
                    and nxt2 is not None and nxt2.string == str(hi.COUNTER_BITS)
                    and nxt3 is not None and nxt4 is not None
                    and (nxt3.string, nxt4.string) in ((")", "-"), ("-", "1"))):
                found.append(("counter_mask", t.start[0], "2**%d - 1" % hi.COUNTER_BITS))
            if t.string in FSM_LITERALS and rel.startswith(FSM_TREES):
                found.append(("fsm_range", t.start[0], t.string))
            # an opcode literal given to a TC sender: send(0x12), valid(0x31, {...}),
            # encode_tc(key, id, counter, 0x01, {}, ...)
            prev2 = toks[i - 2] if i >= 2 else None
            prev1 = toks[i - 1] if i >= 1 else None
            if low.startswith("0x") and rel.startswith("tests/") and (
                    (prev1 is not None and prev1.string == "(" and prev2 is not None
                     and prev2.string in SEND_CALLS)
                    or (nxt is not None and nxt.string == "," and nxt2 is not None
                        and nxt2.string == "{" and v in cmddict.BY_OPCODE)):
                found.append(("opcode", t.start[0], t.string))
    # the safe power-off order as digits: 0, 1, 4, 2, 3
    order = [str(s) for s in modes.SAFE_OFF_ORDER]
    for i in range(len(toks) - 2 * len(order) + 2):
        window = toks[i:i + 2 * len(order) - 1]
        if [w.string for w in window[::2]] == order and all(w.string == "," for w in window[1::2]):
            found.append(("safe_off_order", window[0].start[0], ", ".join(order)))
    for line, run in _string_runs(toks):
        for label, names in NAME_TUPLES.items():
            if _in_order(run, names, min(3, len(names))):
                found.append(("names", line, label))
    return found


def test_no_copied_hardware_constant():
    bad = []
    for rel, path in _files():
        if rel == THIS:
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for rule, line, what in copies(rel, text):
            if rel in HOMES[rule] or rel in EXCEPTIONS.get(rule, {}):
                continue
            bad.append("%s:%d: %s copy (%s), home: %s" % (rel, line, rule, what,
                                                         " or ".join(HOMES[rule])))
    assert not bad, "literal copies of facts outside their home:\n" + "\n".join(bad)


def test_the_scanner_finds_each_kind_of_copy():
    # Each rule catches a planted copy; comments and docstrings do not count.
    code = (
        '"""APID 0x0A1 and 32767 in prose."""\n'
        "X = 0x0A1  # 0x0A2\n"
        "M = (1 << 30) - 1\n"
        "N = 0x3FFFFFFF\n"
        "S = ('IDLE', 'SEARCH', 'ACQUIRE')\n"
        "O = (0, 1, 4, 2, 3)\n"
        "F = 32767\n"
        "h.send(0x12)\n"
        "p.valid(0x03, {'mode': 'SAFE'})\n"
    )
    got = sorted((rule, line) for rule, line, _ in copies("tests/x.py", code))
    assert got == [("apid", 2), ("counter_mask", 3), ("counter_mask", 4), ("names", 5),
                   ("opcode", 8), ("opcode", 9), ("safe_off_order", 6)]
    got = sorted(rule for rule, _, _ in copies("flight/x.py", code))
    assert "fsm_range" in got and "opcode" not in got


def test_every_exception_still_holds_a_copy():
    # An exception that no longer matches anything is stale: drop it from the list.
    for rule, files in EXCEPTIONS.items():
        for rel in files:
            with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
                hits = [r for r, _, _ in copies(rel, f.read()) if r == rule]
            assert hits, "%s: no %s literal left, remove the exception" % (rel, rule)

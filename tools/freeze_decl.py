"""The flight declarations as constants in the firmware's flash (issue 11).

Each flight module declares its housekeeping fields, parameters, events and commands as
module-level data built by calls (``HK = (F("x", "u8", ...), ...)``,
``PARAMS = (P(...), ...)``, ``EVENTS``, ``COMMANDS``): readable, one home per fact, but on
the board every record would be a heap object made at import (~21 KiB for ~450 records,
measured by ``python -m tools.decl_heap``).  A tuple *literal* of constants (str, int,
float, None, bool, nested tuples) is one constant object for MicroPython's compiler
(``MICROPY_COMP_CONST_TUPLE``, on in mpy-cross) and the freezer puts it in flash
(mpy-tool's ``mp_rom_obj_tuple_t``): no heap at all.

So the firmware build freezes a *staged copy* of the sources (:func:`stage`) in which
every top-level assignment of a flight module whose value holds declaration records is
replaced by that value written as a literal, computed by importing the module on
CPython: the source stays the one home, written as calls, and the board gets the same
values as constants.  Records become plain tuples (flight code reads them by position:
flight.telemetry F_*, flight.params P_*, flight.eventdecl E_*, flight.cmddict C_*/A_*);
a replaced block keeps its line count, so line numbers in tracebacks still match the
repository's file.  A value that is not all constants (an argument's ``default={}``)
keeps that part as an expression: the compiler folds every constant sub-tuple anyway.

    python -m tools.freeze_decl [DEST]   # stage the sources; print what became constant
"""

import ast
import importlib
import math
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the manifests read (board/manifest.py, tests/manifest.py), relative to the root.
STAGED = ("flight", "hal", "sim", "board", "tests/manifest.py")
STAGED_SUFFIXES = (".py",)
STAGED_NAMES = ("MPY_MODULES",)


class NotLiteral(Exception):
    """A value that cannot be written as source text."""


def record_types():
    """The declaration record types (CPython namedtuples)."""
    from flight import cmddict, eventdecl, params, telemetry

    return tuple(t for t in (telemetry._HkField, params._ParamDef, eventdecl._Event,
                             cmddict._Command, cmddict._Arg) if t is not None)


def holds_record(v, types):
    if isinstance(v, types):
        return True
    if isinstance(v, tuple):
        return any(holds_record(x, types) for x in v)
    return False


def float_text(v):
    """Source text of float ``v`` that the freezer stores exactly (it prints floats with
    ``%.16g``: a value needing 17 digits would change by an ulp, so it is built from
    its bits)."""
    if not math.isfinite(v):
        raise NotLiteral("%r: not finite" % v)
    t = "%.16g" % v
    if float(t) != v or math.copysign(1.0, float(t)) != math.copysign(1.0, v):
        # Built from its bits at import instead (exact on every build; a heap float and
        # the tuples holding it: a computed scale such as FSM_LSB_RAD * 1e6)
        return '__import__("struct").unpack(">d", %r)[0]' % struct.pack(">d", v)
    if "." not in t and "e" not in t and "n" not in t:
        t += ".0"
    return t


def literal(v):
    """Source text evaluating to ``v`` (records as plain tuples); NotLiteral if none."""
    if v is None or v is True or v is False:
        return repr(v)
    if isinstance(v, int):
        return repr(int(v))
    if isinstance(v, float):
        return float_text(v)
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, tuple):
        items = [literal(x) for x in v]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    if type(v) is dict:
        return "{" + ", ".join("%s: %s" % (literal(k), literal(x)) for k, x in v.items()) + "}"
    raise NotLiteral("%r: type %s" % (v, type(v).__name__))


def _plain(v):
    """``v`` with namedtuples as plain tuples (what the literal gives back)."""
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if type(v) is dict:
        return {k: _plain(x) for k, x in v.items()}
    return v


def _same(a, b):
    """Equal and of the same types all the way down (1 and 1.0, 0.0 and -0.0 differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


def _top_assignments(tree):
    """{name: node} of the names assigned exactly once at the top level (a plain
    ``NAME = value``)."""
    count = {}
    nodes = {}
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name):
                    count[n.id] = count.get(n.id, 0) + 1
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            nodes[node.targets[0].id] = node
    return {k: v for k, v in nodes.items() if count[k] == 1}


def transform(source, module, types=None):
    """(new source, [names made constant]) of module ``module``'s ``source``."""
    types = record_types() if types is None else types
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    done = []
    # Bottom-up, so earlier line numbers stay valid while lines are replaced.
    for name, node in sorted(_top_assignments(tree).items(), key=lambda kv: -kv[1].lineno):
        value = getattr(module, name, None)
        if not isinstance(value, tuple) or not holds_record(value, types):
            continue
        text = literal(value)
        if not _same(eval(text, {}), _plain(value)):  # our own text
            raise NotLiteral("%s.%s: the literal does not give the value back" % (
                module.__name__, name))
        first, last = node.lineno - 1, node.end_lineno - 1
        tail = lines[last][node.end_col_offset:].strip()
        if node.col_offset != 0 or (tail and not tail.startswith("#")):
            raise NotLiteral("%s.%s: not alone on its lines" % (module.__name__, name))
        newline = "\n"
        lines[first:last + 1] = ["%s = %s%s" % (name, text, newline)] + [newline] * (last - first)
        done.append(name)
    return "".join(lines), sorted(done)


def module_name(rel):
    """``flight/apt.py`` -> ``flight.apt`` (None for a file that is no flight module)."""
    parts = Path(rel).with_suffix("").parts
    if len(parts) != 2 or parts[0] != "flight" or parts[1] in ("__init__", "__main__"):
        return None
    return ".".join(parts)


def _files(root):
    for top in STAGED:
        p = root / top
        if p.is_file():
            yield p.relative_to(root)
            continue
        for f in sorted(p.rglob("*")):
            if "__pycache__" in f.parts or not f.is_file():
                continue
            if f.suffix in STAGED_SUFFIXES or f.name in STAGED_NAMES:
                yield f.relative_to(root)


def _write(path, text):
    """Write only on a change (the freezer recompiles by modification time)."""
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


def stage(dest, root=ROOT, trimmed=None):
    """Copy what the manifests read to ``dest``, the flight modules' declaration blocks as
    constants and their globals trimmed (tools/freeze_trim.py: what each dropped or
    renamed goes to ``trimmed``, {module: {kind: [names]}}, when given).  Returns
    {module: [names made constant]}."""
    from tools import freeze_trim

    dest = Path(dest)
    types = record_types()
    staged = {}
    flight = {}  # the flight modules' texts, trimmed together (what one folds, another loses)
    report = {}
    for rel in _files(root):
        text = (root / rel).read_text()
        name = module_name(rel)
        if name is not None:
            try:
                mod = importlib.import_module(name)
            except ImportError:  # a MicroPython-only module (viper kernels): as it is
                mod = None
            if mod is not None:
                text, names = transform(text, mod, types)
                if names:
                    report[name] = names
            flight[rel.as_posix()] = text
        staged[rel] = text
    texts, cuts = freeze_trim.trim_modules(flight, freeze_trim.Refs(root), root)
    for rel, text in staged.items():
        cut = cuts.get(rel.as_posix())
        if cut is not None:
            text = texts[rel.as_posix()]
            if trimmed is not None and any(cut.values()):
                trimmed[module_name(rel)] = cut
        _write(dest / rel, text)
    wanted = set(staged)
    for f in sorted(dest.rglob("*"), reverse=True):  # a module deleted in the repository
        if f.is_file() and f.relative_to(dest) not in wanted:
            f.unlink()
    return report


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if any(a.startswith("-") for a in args) or len(args) > 1:
        # Only DEST is accepted: an option must not become a folder named after it.
        print(__doc__.strip().splitlines()[-1].strip())
        return 0 if args in (["-h"], ["--help"]) else 2
    dest = Path(args[0]) if args else ROOT / ".micropython" / "build" / "src"
    trimmed = {}
    report = stage(dest, trimmed=trimmed)
    for name in sorted(report):
        print("%-28s %s" % (name, " ".join(report[name])))
    for name in sorted(trimmed):
        cut = trimmed[name]
        print("%-28s %s" % (name, "; ".join("%s: %s" % (k, " ".join(v))
                                            for k, v in cut.items() if v)))
    print("staged in %s" % dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())


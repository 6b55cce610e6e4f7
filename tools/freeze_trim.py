"""Globals the frozen flight modules need not hold (issue 11), trimmed in the staged copy.

A MicroPython module's globals dict is a hash table on the heap, 8 octets a slot, grown
to the next size of ``py/map.c`` (…, 12, 17, 23, 29, 37, 47, 59, 73) when full: every
name a module binds costs its slot, and a name more can cost a whole step.  Two kinds of
names are bound on the board for nothing once :mod:`tools.freeze_decl` has written the
declaration blocks as literals:

* **imported names nothing reads** — the declaration vocabulary (``Event``,
  ``ParamDef``, ``HkField``, ``Command``, ``Arg``, the ``SEV_*`` levels, and short aliases
  such as ``F = HkField``) imported only to write the blocks, which are constants now;
  ``const``, where every ``NAME = const(v)`` is folded by the compiler (py/parse.c: the
  name is never looked up); other imports the module no longer reads.  A name is dropped
  where the module does not read it and no other file reads it from this module (the
  vocabulary: ``from flight.m import Event`` or ``m.Event``; any other name: no other
  file mentions it at all); a statement left with no name becomes ``__import__("m")``,
  so the modules are still imported in the same order.
* **public constants nobody else reads** — ``NAME = const(v)`` is a globals entry as well
  as folded by the compiler; ``_NAME = const(v)`` is folded only.  A ``NAME`` that no other
  file of the repository mentions (flight, hal, sim, tools, tests, ground_tools, bench,
  board: any text, scripts sent to the target included) is renamed ``_NAME`` in its own
  module, where every use follows the definition (a use above it would be a run-time
  global lookup).

The repository's sources keep their names (the ground tools and the tests read them on
CPython); line counts are kept, so tracebacks still point at the repository's lines.
"""

import ast
import io
import re
import tokenize
from pathlib import Path

# Where a name may be read from outside its module.
SCANNED = ("flight", "hal", "sim", "tools", "tests", "ground_tools", "bench", "board")
VOCAB = frozenset(("Event", "ParamDef", "HkField", "Command", "Arg", "SEV_DEBUG",
                   "SEV_INFO", "SEV_WARN", "SEV_ERROR", "SEV_CRITICAL"))


class Refs:
    """What the repository's files read of the flight modules: ``(module, name)`` pairs
    imported or read as an attribute of the module, and every file's text."""

    def __init__(self, root):
        root = Path(root)
        self.root = root
        self.texts = {}
        self.pairs = set()
        self.unparsed = []  # files no ast reads: every word of them counts (textual)
        for top in SCANNED:
            base = root / top
            if not base.exists():
                continue
            for f in sorted(base.rglob("*.py")):
                if "__pycache__" in f.parts:
                    continue
                rel = f.relative_to(root).as_posix()
                text = f.read_text(errors="replace")
                self.texts[rel] = text
                try:
                    tree = ast.parse(text)
                except SyntaxError:
                    self.unparsed.append(rel)
                    continue
                self._pairs(tree)

    def _pairs(self, tree):
        alias = {}  # local name -> flight module
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.module:
                for a in n.names:
                    if n.module == "flight":
                        alias[a.asname or a.name] = "flight." + a.name
                    else:
                        self.pairs.add((n.module, a.name))
            elif isinstance(n, ast.Import):
                for a in n.names:
                    if a.asname and a.name.startswith("flight."):
                        alias[a.asname] = a.name
        for n in ast.walk(tree):
            if isinstance(n, ast.Attribute):
                v = n.value
                if isinstance(v, ast.Name) and v.id in alias:
                    self.pairs.add((alias[v.id], n.attr))
                elif (isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name)
                      and v.value.id == "flight"):
                    self.pairs.add(("flight." + v.attr, n.attr))

    def read_elsewhere(self, module, name):
        """``name`` of ``module`` imported or read as its attribute by some file."""
        if (module, name) in self.pairs:
            return True
        word = re.compile(r"\b%s\b" % re.escape(name))
        return any(word.search(self.texts[r]) for r in self.unparsed)

    def assigned_anywhere(self, name):
        """Some file assigns an attribute ``name`` (``m.NAME = ...``: a patched value)."""
        pat = re.compile(r"\.%s\s*(=[^=]|\+=|-=)" % re.escape(name))
        return any(pat.search(t) for t in self.texts.values())

    def mentioned_elsewhere(self, rel, name):
        """``name`` written anywhere in a file other than ``rel``."""
        word = re.compile(r"\b%s\b" % re.escape(name))
        return any(word.search(t) for r, t in self.texts.items() if r != rel)


def _loads(tree, skip=()):
    """Names read anywhere in ``tree``, the nodes in ``skip`` left out."""
    out = set()
    stack = [n for n in tree.body if n not in skip]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store):
            out.add(n.id)
        stack.extend(ast.iter_child_nodes(n))
    return out


def _alone(lines, node):
    tail = lines[node.end_lineno - 1][node.end_col_offset:].strip()
    return node.col_offset == 0 and (not tail or tail.startswith("#"))


def _blank(lines, node, first=""):
    a, b = node.lineno - 1, node.end_lineno - 1
    lines[a:b + 1] = [first + "\n"] + ["\n"] * (b - a)


def _const_folded(tree):
    """Every ``const(...)`` of the module is the value of a ``NAME = const(...)``, which
    the compiler folds (py/parse.c): the name ``const`` is then never looked up."""
    folded = set()  # the ``const`` names of folded calls
    for n in ast.walk(tree):
        if (isinstance(n, ast.Assign) and len(n.targets) == 1
                and isinstance(n.targets[0], ast.Name) and isinstance(n.value, ast.Call)
                and isinstance(n.value.func, ast.Name)):
            folded.add(id(n.value.func))
    return all(id(n) in folded for n in ast.walk(tree) if isinstance(n, ast.Name)
               and n.id == "const" and not isinstance(n.ctx, ast.Store))


def _unread(name, real, skip, tree, bound_twice, folded, module, rel, refs):
    """Bound name ``name`` (of imported ``real``) is read neither by the module (the nodes
    in ``skip`` apart) nor from it by any other file."""
    if name in bound_twice or _in_code_string(tree, name):
        return False
    if real == "const" and name == "const":
        return folded
    if name in _loads(tree, skip):
        return False
    if real in VOCAB:
        return not refs.read_elsewhere(module, name)
    return not refs.mentioned_elsewhere(rel, name)


def drop_unread(text, module, rel, refs):
    """(text, [names dropped]): the imported names (and aliases of them) ``module`` no
    longer reads and nothing else reads from it: the declaration vocabulary (no other
    file imports it from this module), ``const`` where every use is folded, any other
    name no other file mentions at all."""
    dropped = []
    while True:
        tree = ast.parse(text)
        lines = text.splitlines(keepends=True)
        bound_twice = _bound_more_than_once(tree)
        folded = _const_folded(tree)

        def unread(name, real, skip=(), tree=tree, twice=bound_twice, folded=folded):
            return _unread(name, real, skip, tree, twice, folded, module, rel, refs)

        imports = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module
                   and n.level == 0]
        bound = {a.asname or a.name: a.name for n in imports for a in n.names}
        # top-level aliases of an imported name: F = HkField
        aliases = [n for n in tree.body if isinstance(n, ast.Assign) and len(n.targets) == 1
                   and isinstance(n.targets[0], ast.Name) and isinstance(n.value, ast.Name)
                   and n.value.id in bound and _alone(lines, n)
                   and unread(n.targets[0].id, bound[n.value.id], skip=(n,))]
        if aliases:
            for n in sorted(aliases, key=lambda n: -n.lineno):
                _blank(lines, n)
                dropped.append(n.targets[0].id)
            text = "".join(lines)
            continue
        changed = False
        for n in sorted(imports, key=lambda n: -n.lineno):
            if n.module == "__future__" or not _alone(lines, n):
                continue
            keep = [a for a in n.names if not unread(a.asname or a.name, a.name)]
            if len(keep) == len(n.names):
                continue
            dropped.extend(a.asname or a.name for a in n.names if a not in keep)
            if keep:
                names = ", ".join(a.name + (" as " + a.asname if a.asname else "")
                                  for a in keep)
                _blank(lines, n, "from %s import %s" % (n.module, names))
            else:  # imported still, in the same order: binding nothing
                _blank(lines, n, "__import__(%r)" % n.module)
            changed = True
        text = "".join(lines)
        if not changed:
            return text, sorted(dropped)


def _bound_more_than_once(tree):
    count = {}
    for n in ast.walk(tree):
        names = []
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names = [n.id]
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names = [(a.asname or a.name).split(".")[0] for a in n.names]
        elif isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            names = [n.name]
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            names = list(n.names) * 2
        for x in names:
            count[x] = count.get(x, 0) + 1
    return {k for k, v in count.items() if v > 1}


def _const_defs(tree):
    """{name: line} of the top-level ``NAME = const(...)`` of a public name."""
    out = {}
    for n in tree.body:
        if (isinstance(n, ast.Assign) and len(n.targets) == 1
                and isinstance(n.targets[0], ast.Name) and isinstance(n.value, ast.Call)
                and isinstance(n.value.func, ast.Name) and n.value.func.id == "const"
                and not n.targets[0].id.startswith("_")):
            out[n.targets[0].id] = n.lineno
    return out


def _uses(text, defs):
    """{name: [(row, col)] of its NAME tokens, or None where it cannot be renamed or
    folded: read as an attribute, passed as a keyword, or used above its definition
    (``defs``: {name: line}) — a run-time global lookup there."""
    toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    where = {}
    depth = 0
    for k, t in enumerate(toks):
        if t.type == tokenize.OP and t.string in "([{":
            depth += 1
        elif t.type == tokenize.OP and t.string in ")]}":
            depth -= 1
        if t.type != tokenize.NAME or t.string not in defs:
            continue
        spots = where.setdefault(t.string, [])
        if spots is None:
            continue
        prev = toks[k - 1].string if k else ""
        nxt = toks[k + 1].string if k + 1 < len(toks) else ""
        if prev == "." or (depth and nxt == "=") or t.start[0] < defs[t.string]:
            where[t.string] = None
        else:
            spots.append(t.start)
    return where


def _foldable(tree, name, rel, refs, bound_twice, text):
    return not (name in bound_twice or (not name.startswith("_") and "_" + name in text)
                or _in_code_string(tree, name) or refs.mentioned_elsewhere(rel, name))


def privatize_consts(text, rel, refs):
    """(text, [names renamed]): public constants no other file mentions, as ``_NAME``."""
    tree = ast.parse(text)
    defs = _const_defs(tree)
    bound_twice = _bound_more_than_once(tree)
    renamed = []
    edits = []
    for name, spots in _uses(text, defs).items():
        if spots is None or not _foldable(tree, name, rel, refs, bound_twice, text):
            continue
        renamed.append(name)
        edits.extend(spots)
    lines = text.splitlines(keepends=True)
    for row, col in sorted(edits, reverse=True):
        ln = lines[row - 1]
        lines[row - 1] = ln[:col] + "_" + ln[col:]
    return "".join(lines), sorted(renamed)


def _literal(v):
    """A value MicroPython's ``const()`` takes (py/parse.c mp_parse_node_is_const): a
    number, string, bytes, bool, None, or a tuple of them (folded to one constant)."""
    if isinstance(v, ast.Constant):
        return v.value is not Ellipsis
    if (isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.USub)
            and isinstance(v.operand, ast.Constant) and type(v.operand.value) is int):
        return True  # (the parser folds a negative int, not a negative float)
    if isinstance(v, ast.Tuple):
        return all(_literal(e) for e in v.elts)
    return False


def _char_col(line, col):
    """The character index of UTF-8 byte offset ``col`` (ast's) in ``line``."""
    return len(line.encode("utf-8")[:col].decode("utf-8", errors="ignore"))


def fold_literals(text, rel, refs):
    """(text, [names folded]): top-level names bound once to a literal (a table of
    numbers or strings) and read nowhere else, written ``NAME = const(literal)``: the
    compiler puts the value in the code's constants and, once the name is private
    (:func:`privatize_consts`), binds no global."""
    tree = ast.parse(text)
    bound_twice = _bound_more_than_once(tree)
    nodes = {n.targets[0].id: n for n in tree.body if isinstance(n, ast.Assign)
             and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
             and not n.targets[0].id.startswith("__") and _literal(n.value)}
    uses = _uses(text, {k: n.lineno for k, n in nodes.items()})
    lines = text.splitlines(keepends=True)
    folded = []
    for name, n in sorted(nodes.items(), key=lambda kv: -kv[1].lineno):
        if uses.get(name) is None or not _foldable(tree, name, rel, refs, bound_twice, text):
            continue
        v = n.value
        a, b = v.lineno - 1, v.end_lineno - 1
        end = _char_col(lines[b], v.end_col_offset)
        lines[b] = lines[b][:end] + ")" + lines[b][end:]
        start = _char_col(lines[a], v.col_offset)
        lines[a] = lines[a][:start] + "const(" + lines[a][start:]
        folded.append(name)
    return "".join(lines), sorted(folded)


def _in_code_string(tree, name):
    """``name`` inside a string constant other than a docstring (getattr(x, "NAME"))."""
    docs = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            b = n.body
            if b and isinstance(b[0], ast.Expr) and isinstance(b[0].value, ast.Constant):
                docs.add(id(b[0].value))
    word = re.compile(r"\b%s\b" % name)
    return any(isinstance(n, ast.Constant) and isinstance(n.value, str)
               and id(n) not in docs and word.search(n.value) for n in ast.walk(tree))


_INT_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
            ast.Mult: lambda a, b: a * b, ast.LShift: lambda a, b: a << b,
            ast.RShift: lambda a, b: a >> b, ast.BitOr: lambda a, b: a | b,
            ast.BitAnd: lambda a, b: a & b, ast.BitXor: lambda a, b: a ^ b,
            ast.FloorDiv: lambda a, b: a // b}


def _int_literal(v):
    """The value of an integer expression of literals (``(1 << 30) - 1``), else None."""
    if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "const" \
            and len(v.args) == 1 and not v.keywords:
        return _int_literal(v.args[0])
    if isinstance(v, ast.Constant):
        return v.value if type(v.value) is int else None
    if isinstance(v, ast.UnaryOp) and isinstance(v.op, (ast.USub, ast.Invert, ast.UAdd)):
        x = _int_literal(v.operand)
        if x is None:
            return None
        return -x if isinstance(v.op, ast.USub) else ~x if isinstance(v.op, ast.Invert) else x
    if isinstance(v, ast.BinOp) and type(v.op) in _INT_OPS:
        a, b = _int_literal(v.left), _int_literal(v.right)
        if a is None or b is None or (isinstance(v.op, ast.FloorDiv) and b == 0) \
                or (isinstance(v.op, (ast.LShift, ast.RShift)) and not 0 <= b < 64):
            return None
        return _INT_OPS[type(v.op)](a, b)
    return None


def int_constant(root, module, name, depth=0):
    """The integer ``module.name`` is defined as in the sources under ``root``: a single
    top-level ``name = <integer expression of literals>`` (or ``const(...)`` of one),
    followed through re-exports (``from m import name``); None when it is anything else
    (computed, bound twice, platform-dependent)."""
    if depth > 8:
        return None
    base = Path(root) / module.replace(".", "/")
    path = base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py"
    if not path.exists():
        return None
    tree = _parsed(path)
    if name in _bound_more_than_once(tree):
        return None
    for n in tree.body:
        if (isinstance(n, ast.Assign) and len(n.targets) == 1
                and isinstance(n.targets[0], ast.Name) and n.targets[0].id == name):
            return _int_literal(n.value)
        if isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
            for a in n.names:
                if (a.asname or a.name) == name:
                    return int_constant(root, n.module, a.name, depth + 1)
    return None


_PARSED = {}


def _parsed(path):
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _PARSED:
        _PARSED[key] = ast.parse(path.read_text())
    return _PARSED[key]


def inline_imported_ints(text, module, rel, refs, root):
    """(text, [names inlined]): integer constants imported from another module
    (``from hal.interfaces import CTR_LOCKED``) written as private constants of this one
    (``_CTR_LOCKED = const(7)``, on the import's line): the compiler folds every use, and
    the name is no global here.  Left alone: a name other files read from this module
    (a re-export), one assigned anywhere (``x.NAME = ...``), one used above the import."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    bound_twice = _bound_more_than_once(tree)
    modbase = module.rsplit(".", 1)[-1]
    found = {}  # bound name -> (import node, value)
    for n in tree.body:
        if not (isinstance(n, ast.ImportFrom) and n.module and n.level == 0
                and _alone(lines, n)):
            continue
        for a in n.names:
            name = a.asname or a.name
            if (name in bound_twice or "_" + name in text or _in_code_string(tree, name)
                    or refs.read_elsewhere(module, name)
                    or refs.assigned_anywhere(a.name)
                    or refs.mentioned_elsewhere(rel, "%s.%s" % (modbase, name))):
                continue
            v = int_constant(root, n.module, a.name)
            if v is not None:
                found[name] = (n, v)
    uses = _uses(text, {k: n.lineno for k, (n, _v) in found.items()})
    inlined = {k: x for k, x in found.items() if uses.get(k) is not None}
    edits = []
    for k, (n, _v) in inlined.items():
        edits.extend(p for p in uses[k] if not n.lineno <= p[0] <= n.end_lineno)
    for row, col in sorted(edits, reverse=True):
        ln = lines[row - 1]
        lines[row - 1] = ln[:col] + "_" + ln[col:]
    for n in sorted({id(n): n for n, _v in inlined.values()}.values(), key=lambda n: -n.lineno):
        keep = [a for a in n.names if (a.asname or a.name) not in inlined]
        if keep:
            head = "from %s import %s" % (n.module, ", ".join(
                a.name + (" as " + a.asname if a.asname else "") for a in keep))
        else:
            head = "__import__(%r)" % n.module
        consts = ["_%s = const(%d)" % (a.asname or a.name, inlined[a.asname or a.name][1])
                  for a in n.names if (a.asname or a.name) in inlined]
        _blank(lines, n, "; ".join([head] + consts))
    return "".join(lines), sorted(inlined)


def trim(text, module, rel, refs, root=None):
    """(text, {"unread": [...], "inlined": [...], "folded": [...], "private": [...]}) of
    flight module ``module`` (file ``rel``): the names dropped, the imported integers
    made constants of its own, the literals made constants, the constants made
    private."""
    text, dropped = drop_unread(text, module, rel, refs)
    text, inlined = inline_imported_ints(text, module, rel, refs, root or refs.root)
    text, folded = fold_literals(text, rel, refs)
    text, renamed = privatize_consts(text, rel, refs)
    return text, {"unread": dropped, "inlined": inlined, "folded": folded,
                  "private": renamed}

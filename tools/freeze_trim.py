"""Globals the frozen flight modules need not hold (issue 11), trimmed in the staged copy.

A MicroPython module's globals dict is a hash table on the heap, 8 octets a slot, grown
to the next size of ``py/map.c`` (…, 12, 17, 23, 29, 37, 47, 59, 73) when full: every
name a module binds costs its slot, and a name more can cost a whole step.  Names bound on
the board for nothing once :mod:`tools.freeze_decl` has written the declaration blocks as
literals:

* **imported names nothing reads** — the declaration vocabulary (``Event``,
  ``ParamDef``, ``HkField``, ``Command``, ``Arg``, the ``SEV_*`` levels, and short aliases
  such as ``F = HkField``) imported only to write the blocks, which are constants now;
  ``const``, where every ``NAME = const(v)`` is folded by the compiler (py/parse.c: the
  name is never looked up); other imports the module no longer reads.  A name is dropped
  where the module does not read it and nothing on the board reads it from this module
  (the vocabulary: ``from flight.m import Event`` or ``m.Event``; any other name: nothing
  on the board mentions it at all); a statement left with no name becomes
  ``__import__("m")``, so the modules are still imported in the same order.
* **imported integer constants** (cross-module folding) — ``from flight.m import NAME``
  is a run-time look-up in ``m``'s globals even where ``m`` wrote ``NAME = const(7)``
  (the compiler folds a constant inside its own module only).  Where the value is certain
  from the text (:mod:`tools.freeze_fold`: integer literals and expressions of ``m``'s
  own such constants, through re-exports) the importer gets it as a private constant on
  the import's line (``from flight.m import f; _NAME = const(7)``) and its uses are
  renamed ``_NAME``: folded, no global.  Left alone: a name bound again anywhere in the
  importer (a parameter, a local, ``global``: shadowing), read as an attribute
  (``x.NAME``), passed as a keyword, named in a code string or an f-string, used above
  the import, read from the importer by other board code (a re-export) or assigned
  (patched) by it; an import inside a function (it binds no global of the importer).
  An integer constant read as an attribute of an imported module (``ccsds.HEADER_LEN``)
  is written as its value (``6``) the same way, unless board code patches it.
* **public constants nobody else reads** — ``NAME = const(v)`` is a globals entry as well
  as folded by the compiler; ``_NAME = const(v)`` is folded only.  A ``NAME`` nothing else
  on the board mentions is renamed ``_NAME`` in its own module, where every use follows
  the definition (a use above it would be a run-time global lookup); literal tables read
  nowhere else become ``_NAME = const(literal)`` the same way.

**What reads on the board** (:mod:`tools.freeze_refs`): the code of the files the images
freeze (the manifests and tests/mpy), comments apart, the flight modules with their
*staged* text, and every string literal of the host files (the scripts tools/ and bench/
send to the image are strings); the host files' code runs on CPython with the
repository's sources and reads nothing of the image.  So an exporter loses ``NAME`` once
every flight importer has folded it and no tests/mpy module, hal or sim module or sent
script names it: :func:`trim_modules` trims every flight module, hands the staged texts
to the references and goes again until nothing changes (a pass only ever removes
mentions, so what an earlier pass decided still holds).

The repository's sources keep their names (the ground tools and the tests read them on
CPython); line counts are kept, so tracebacks still point at the repository's lines.
"""

import ast
import functools
import io
import re
import tokenize

from tools.freeze_fold import bound_more_than_once, int_constant
from tools.freeze_refs import SCANNED, Refs, string_text  # noqa: F401 (Refs re-exported)

# What inline_imported_ints writes after an import on its line (a later pass keeps it).
_CONST_TAIL = re.compile(r"((?:;\s*_\w+ = const\(-?\d+\))+)\s*(#.*)?$")
# Passes of trim_modules at most (two or three suffice: a re-export folded, then its home).
MAX_PASSES = 6
VOCAB = frozenset(("Event", "ParamDef", "HkField", "Command", "Arg", "SEV_DEBUG",
                   "SEV_INFO", "SEV_WARN", "SEV_ERROR", "SEV_CRITICAL"))
_FSTRING = re.compile(r"[rRbBuU]*[fF]")


# The steps parse the same text again and again (each pass of trim_modules, each step of
# trim): one tree a text, and what is read off a tree kept for the last tree asked about.
_parse = functools.lru_cache(maxsize=512)(ast.parse)
_LAST_BOUND = [None, frozenset()]


def _bound_twice(tree):
    if _LAST_BOUND[0] is not tree:
        _LAST_BOUND[:] = [tree, bound_more_than_once(tree)]
    return _LAST_BOUND[1]


_LAST_LOADS = [None, frozenset()]  # (tree, _loads(tree)): one tree at a time


def _loads(tree, skip=()):
    """Names read anywhere in ``tree``, the nodes in ``skip`` left out."""
    if not skip and _LAST_LOADS[0] is tree:
        return _LAST_LOADS[1]
    out = set()
    stack = [n for n in tree.body if n not in skip]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store):
            out.add(n.id)
        stack.extend(ast.iter_child_nodes(n))
    if not skip:
        _LAST_LOADS[:] = [tree, out]
    return out


def _tail(lines, node):
    """What must stay after ``node`` on its last line when it is rewritten: "" (nothing
    or a comment) or the constants :func:`inline_imported_ints` put there in an earlier
    pass; None when the line holds another statement (or ``node`` is indented)."""
    if node.col_offset != 0:
        return None
    tail = lines[node.end_lineno - 1][node.end_col_offset:].strip()
    if not tail or tail.startswith("#"):
        return ""
    m = _CONST_TAIL.match(tail)
    return m.group(1) if m else None


def _alone(lines, node):
    return _tail(lines, node) == ""


def _blank(lines, node, first=""):
    a, b = node.lineno - 1, node.end_lineno - 1
    lines[a:b + 1] = [first + "\n"] + ["\n"] * (b - a)


def _import_head(node, keep):
    """``from m import <keep>``; ``__import__("m")`` when nothing is kept: the module is
    still imported, in the same order, binding nothing."""
    if not keep:
        return "__import__(%r)" % node.module
    return "from %s import %s" % (node.module, ", ".join(
        a.name + (" as " + a.asname if a.asname else "") for a in keep))


def _word_in(name, text):
    return re.search(r"\b%s\b" % re.escape(name), text) is not None


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
        tree = _parse(text)
        lines = text.splitlines(keepends=True)
        bound_twice = _bound_twice(tree)
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
            tail = _tail(lines, n)
            if n.module == "__future__" or tail is None:
                continue
            keep = [a for a in n.names if not unread(a.asname or a.name, a.name)]
            if len(keep) == len(n.names):
                continue
            dropped.extend(a.asname or a.name for a in n.names if a not in keep)
            _blank(lines, n, _import_head(n, keep) + tail)
            changed = True
        text = "".join(lines)
        if not changed:
            return text, sorted(dropped)


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
    folded: read as an attribute, passed as a keyword, used above its definition
    (``defs``: {name: line}) — a run-time global lookup there — or in an f-string."""
    if not defs:
        return {}
    toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    where = {}
    depth = 0
    for k, t in enumerate(toks):
        if t.type == tokenize.OP and t.string in "([{":
            depth += 1
        elif t.type == tokenize.OP and t.string in ")]}":
            depth -= 1
        if t.type == tokenize.STRING and _FSTRING.match(t.string):
            # (before Python 3.12 an f-string is one token: a use inside it would not be
            # renamed)
            for name in defs:
                if _word_in(name, t.string):
                    where[name] = None
            continue
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
    return not (name in bound_twice or _word_in("_" + name, text)
                or _in_code_string(tree, name) or refs.mentioned_elsewhere(rel, name))


def privatize_consts(text, rel, refs):
    """(text, [names renamed]): public constants no other file mentions, as ``_NAME``."""
    tree = _parse(text)
    defs = _const_defs(tree)
    bound_twice = _bound_twice(tree)
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
    tree = _parse(text)
    bound_twice = _bound_twice(tree)
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


_LAST_STRINGS = [None, frozenset()]  # (tree, its code strings' words): one tree at a time


def _in_code_string(tree, name):
    """``name`` inside a string constant other than a docstring (getattr(x, "NAME"))."""
    if _LAST_STRINGS[0] is not tree:
        _LAST_STRINGS[:] = [tree, frozenset(re.findall(r"\w+", string_text(tree)))]
    return name in _LAST_STRINGS[1]


def _inlinable(name, real, text, tree, bound_twice, module, rel, refs):
    """Imported ``name`` (``real`` in its home) may become a constant of this module: not
    bound again here (shadowing), no ``_name`` here already, in no code string, not read
    from this module on the board (a re-export: imported from it, or any attribute
    ``.name`` elsewhere — ``lazy.load("flight.m").name`` reads it too) nor patched there."""
    return not (name in bound_twice or _word_in("_" + name, text)
                or _in_code_string(tree, name) or refs.read_elsewhere(module, name)
                or refs.assigned_anywhere(real) or refs.attribute_elsewhere(rel, name))


def inline_imported_ints(text, module, rel, refs, root):
    """(text, [names inlined]): integer constants imported from another module
    (``from hal.interfaces import CTR_LOCKED``) written as private constants of this one
    (``_CTR_LOCKED = const(7)``, on the import's line): the compiler folds every use, and
    the name is no global here (see :func:`_inlinable` and :func:`_uses` for what is left
    alone: shadowed, re-exported, patched, an attribute or keyword, used above the
    import).  Imports of the module's top level only: one in a function binds a local."""
    tree = _parse(text)
    lines = text.splitlines(keepends=True)
    bound_twice = _bound_twice(tree)
    found = {}  # bound name -> (import node, value)
    for n in tree.body:
        if not (isinstance(n, ast.ImportFrom) and n.module and n.level == 0
                and _tail(lines, n) is not None):
            continue
        for a in n.names:
            name = a.asname or a.name
            if not _inlinable(name, a.name, text, tree, bound_twice, module, rel, refs):
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
        tail = _tail(lines, n)  # the constants an earlier pass wrote stay
        keep = [a for a in n.names if (a.asname or a.name) not in inlined]
        consts = ["_%s = const(%d)" % (a.asname or a.name, inlined[a.asname or a.name][1])
                  for a in n.names if (a.asname or a.name) in inlined]
        _blank(lines, n, "; ".join([_import_head(n, keep) + tail] + consts))
    return "".join(lines), sorted(inlined)


def _module_aliases(tree, bound_twice):
    """{local name: module} of the module's top-level ``from P import m [as a]`` and
    ``import P.m as a`` (bound once; ``m`` may be no module: int_constant then finds
    nothing)."""
    alias = {}
    for n in tree.body:
        if isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
            alias.update({a.asname or a.name: n.module + "." + a.name for a in n.names})
        elif isinstance(n, ast.Import):
            alias.update({a.asname: a.name for a in n.names if a.asname})
    return {k: v for k, v in alias.items() if k not in bound_twice}


def fold_module_attributes(text, rel, refs, root):
    """(text, ["m.NAME" folded]): an integer constant read as an attribute of an imported
    module (``ccsds.HEADER_LEN``) written as its value, ``6``: no attribute look-up,
    and the home module's ``NAME`` no longer read from here.  Left alone: a name some
    board code assigns (``m.NAME = ...``: patched), a store, a read inside an f-string
    (its columns are not the source's before Python 3.12), one spread over lines."""
    tree = _parse(text)
    alias = _module_aliases(tree, _bound_twice(tree))
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute)
             and isinstance(n.value, ast.Name) and n.value.id in alias] if alias else []
    if not found:
        return text, []
    in_fstring = {id(x) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)
                  for x in ast.walk(n)}
    parent = {id(c): n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
    edits = []
    for n in found:
        if not (isinstance(n.ctx, ast.Load) and n.lineno == n.end_lineno
                and id(n) not in in_fstring):
            continue
        v = int_constant(root, alias[n.value.id], n.attr)
        if v is not None and not refs.assigned_anywhere(n.attr):
            edits.append((n.lineno, n.col_offset, n.end_col_offset,
                          _int_atom(v, n, parent.get(id(n))), "%s.%s" % (n.value.id, n.attr)))
    lines = text.splitlines(keepends=True)
    for row, a, b, v, _name in sorted(edits, reverse=True):
        ln = lines[row - 1]
        a, b = _char_col(ln, a), _char_col(ln, b)
        lines[row - 1] = ln[:a] + v + ln[b:]
    return "".join(lines), sorted({e[4] for e in edits})


def _int_atom(v, node, parent):
    """``v`` written where ``node`` was: bare where that means the same (``NAME = 6``
    stays a statement ``const()`` can fold), in parentheses where the attribute was an
    operand that binds tighter (``(6).bit_length()``, ``(-3) ** 2``, ``x * (-3)``)."""
    tight = isinstance(parent, (ast.Attribute, ast.Subscript, ast.Call)) and \
        getattr(parent, "value", getattr(parent, "func", None)) is node
    if tight or (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Pow)
                 and parent.left is node):
        return "(%d)" % v
    if v < 0 and isinstance(parent, (ast.BinOp, ast.UnaryOp)):
        return "(%d)" % v
    return "%d" % v


KINDS = ("unread", "inlined", "folded", "private", "attributes")


def trim(text, module, rel, refs, root=None):
    """(text, {"unread": [...], "inlined": [...], "folded": [...], "private": [...],
    "attributes": [...]}) of flight module ``module`` (file ``rel``): the names dropped,
    the imported integers made constants of its own, the literals made constants, the
    constants made private, the integer attributes of modules written as values."""
    root = root or refs.root
    text, dropped = drop_unread(text, module, rel, refs)
    text, inlined = inline_imported_ints(text, module, rel, refs, root)
    text, attrs = fold_module_attributes(text, rel, refs, root)
    text, folded = fold_literals(text, rel, refs)
    text, renamed = privatize_consts(text, rel, refs)
    return text, dict(zip(KINDS, (dropped, inlined, folded, renamed, attrs), strict=True))


def trim_modules(texts, refs, root=None):
    """({rel: text}, {rel: {kind: [names]}}) of the flight modules ``texts`` ({"flight/m.py":
    text}) trimmed together: ``refs`` learns each module's staged text and every module is
    trimmed again until none changes (a name one module folds or stops reading may leave
    its home module's globals in the next pass)."""
    texts = dict(texts)
    cuts = {rel: {k: [] for k in KINDS} for rel in texts}
    for rel, text in texts.items():
        refs.update(rel, text)  # (the declaration blocks written as literals read nothing)
    for _ in range(MAX_PASSES):
        changed = False
        for rel in sorted(texts):
            module = rel[:-len(".py")].replace("/", ".")
            text, cut = trim(texts[rel], module, rel, refs, root)
            for k in KINDS:
                cuts[rel][k] = sorted(cuts[rel][k] + cut[k])
            if text != texts[rel]:
                texts[rel] = text
                refs.update(rel, text)
                changed = True
        if not changed:
            break
    return texts, cuts

"""Who reads the frozen flight modules' globals on the board (for tools/freeze_trim.py).

A flight module's name can leave its globals dict in the staged copy the firmware freezes
only if no code that runs on the board reads it.  The files under :data:`SCANNED` are of
two kinds:

* **board files** — their code runs in an image built from the staged copy: what the
  manifests freeze (``tests/manifest.py``, which includes ``board/manifest.py``: flight,
  hal with hal/sim, the sim modules of ``sim/MPY_MODULES``, ``board/main.py``) and
  ``tests/mpy`` (the QEMU image freezes it too, tools/firmware.py).  Every word of their
  code and strings counts, not of their comments and docstrings; a flight module counts with its *staged* text once trimmed
  (:meth:`Refs.update`): a name it no longer looks up (an imported integer folded into a
  constant of its own) keeps nothing public in its home module.  When the manifests cannot
  be read, every file under flight, hal, sim, board and tests/mpy is a board file.
* **host files** — the rest: ground_tools, tools, the tests outside tests/mpy, bench, the
  host-only parts (``flight/__main__.py``, ``hal/sim/serial_link.py``, sim's plotting and
  campaign modules).  They run on CPython with the repository's sources, whose names are
  never trimmed; their code cannot read the image's globals.  What they send to the image
  (tools/target_bench*.py's script, tools/heap_map_script.py, tools/import_heap.py,
  tools/decl_heap.py, tools/target_hil.py's launcher, tools/mpyharness.py, the
  bench/*_m7.py guest scripts) is text in string literals, so every word of every string
  literal of a host file counts (docstrings apart), whichever file it is in: no list of
  the scripts to keep up to date.
* a file ast cannot parse: every word of it counts, as for a board file.

Not seen: code typed by hand on the image (``python -m tools.target --exec``): it must use
the names the staged copy keeps (``python -m tools.freeze_decl`` lists what was trimmed).
"""

import ast
import io
import re
import tokenize
from pathlib import Path

# Where a name may be read from outside its module.
SCANNED = ("flight", "hal", "sim", "tools", "tests", "ground_tools", "bench", "board")
# Frozen into the QEMU image besides the manifests (tools/firmware.py: TESTS_MPY).
FROZEN_TESTS = "tests/mpy"
_WORD = re.compile(r"\w+")
_NONE = frozenset()


def board_files(root):
    """The repository paths (``flight/app.py``) whose code runs on an image built from
    the staged copy; None when the manifests cannot be read (then all of flight, hal, sim,
    board and tests/mpy count)."""
    from tools import manifest

    root = Path(root).resolve()
    path = root / "tests" / "manifest.py"
    if not path.exists():
        return None
    try:
        entries = manifest.read(path)
    except manifest.ManifestError:
        return None
    out = set()
    for e in entries:
        try:
            out.add(e.source.resolve().relative_to(root).as_posix())
        except ValueError:  # outside the repository: nothing of ours
            continue
    for f in (root / FROZEN_TESTS).rglob("*.py"):
        out.add(f.relative_to(root).as_posix())
    return out


def _on_board(rel, board):
    if board is not None:
        return rel in board
    return rel.startswith(("flight/", "hal/", "sim/", "board/", FROZEN_TESTS + "/"))


def string_text(tree):
    """Every string literal of ``tree`` but the docstrings, NUL between two: what a host
    file can send to the image."""
    docs, strings = set(), []
    for n in ast.walk(tree):  # (one walk: the heaviest part of staging)
        if isinstance(n, ast.Constant):
            if isinstance(n.value, str):
                strings.append(n)
        elif isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            docs.update(id(d) for d in _docstrings_of(n))
    return "\0".join(n.value for n in strings if id(n) not in docs)


def _docstrings_of(n):
    b = n.body
    if b and isinstance(b[0], ast.Expr) and isinstance(b[0].value, ast.Constant) \
            and isinstance(b[0].value.value, str):
        return [b[0].value]
    return []


def _docstrings(tree):
    """The docstring constants of ``tree`` (a module's, a class's, a function's)."""
    return [d for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            for d in _docstrings_of(n)]


def code_text(text, tree):
    """``text`` with its comments and docstrings blanked: neither reads a global (the
    compiler drops both)."""
    lines = text.splitlines(keepends=True)
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return text
    docs = {(d.lineno, d.col_offset) for d in _docstrings(tree)}  # (indented: bytes = chars)
    for t in reversed(toks):
        if t.type == tokenize.COMMENT or (t.type == tokenize.STRING and t.start in docs):
            (r0, c0), (r1, c1) = t.start, t.end
            first, last = lines[r0 - 1], lines[r1 - 1]
            lines[r0 - 1:r1] = [first[:c0] + last[c1:]] + ["\n"] * (r1 - r0)
    return "".join(lines)


def _dotted(v, alias):
    """The module ``v`` (a name, ``a.b.c``) stands for through the file's imports, or None."""
    if isinstance(v, ast.Name):
        return alias.get(v.id)
    if isinstance(v, ast.Attribute):
        base = _dotted(v.value, alias)
        return None if base is None else base + "." + v.attr
    return None


def _module_reads(tree):
    """(pairs, loose) of a file's code: ``(module, name)`` it imports from a module or
    reads as an attribute of an imported one (``from flight import m`` … ``m.NAME``);
    the attribute names it reads of anything else (``lazy.load(x).NAME``, ``self.m.NAME``:
    maybe a module got at run time) and the strings that are a name (``getattr(m,
    "NAME")``)."""
    pairs = set()
    alias = {}  # local name -> the module (or module attribute) it was imported as
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
            for a in n.names:
                pairs.add((n.module, a.name))
                alias[a.asname or a.name] = n.module + "." + a.name  # (maybe a module)
        elif isinstance(n, ast.Import):
            for a in n.names:
                if a.asname:
                    alias[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    alias[top] = top
    loose = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute):
            base = _dotted(n.value, alias)
            if base is None:
                loose.add(n.attr)
            else:
                pairs.add((base, n.attr))
        elif isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.isidentifier():
            loose.add(n.value)
    return pairs, loose


class Refs:
    """What the code running on the board reads of the flight modules: ``texts``, {file:
    the text of it that runs there (a host file: its string literals)}, ``pairs``,
    ``(module, name)`` the board files' code imports or reads as a module attribute."""

    def __init__(self, root=None, texts=None, pairs=(), board=None):
        """``root``: scan the repository there; else the ``texts`` given (tests), every
        one a board file, with ``pairs`` besides the ones their code gives."""
        self.root = Path(root) if root is not None else None
        self.texts = {}
        self.host = set()  # files of which only the string literals count
        self.unparsed = set()  # files no ast reads: every word of them counts
        self._given = set(pairs)
        self.pairs = set(self._given)
        self._pairs = {}
        self._loose = {}  # board file -> attributes it reads of objects it got at run time
        self._words = {}
        self._strings = {}  # host file -> {word: the indexes of its strings holding it}
        if texts is not None:
            for rel, text in texts.items():
                self.update(rel, text)
            return
        if self.root is None or not self.root.exists():
            return
        board = board_files(self.root) if board is None else board
        for top in SCANNED:
            base = self.root / top
            if not base.exists():
                continue
            for f in sorted(base.rglob("*.py")):
                if "__pycache__" in f.parts:
                    continue
                rel = f.relative_to(self.root).as_posix()
                self.update(rel, f.read_text(errors="replace"), not _on_board(rel, board))

    def update(self, rel, text, host=False):
        """File ``rel`` runs ``text`` on the board (a flight module: its staged text)."""
        self.unparsed.discard(rel)
        self.host.discard(rel)
        try:
            tree = ast.parse(text)
        except SyntaxError:
            self.unparsed.add(rel)
            tree = None
        self._strings.pop(rel, None)
        if tree is not None and host:
            self.host.add(rel)
            text = string_text(tree)
            index = {}
            for i, x in enumerate(text.split("\0")):
                for w in _WORD.findall(x):
                    index.setdefault(w, set()).add(i)
            self._strings[rel] = index
        elif tree is not None:
            text = code_text(text, tree)
        self.texts[rel] = text
        pairs, loose = _module_reads(tree) if tree is not None and not host else (set(), set())
        self._pairs[rel] = pairs
        self._loose[rel] = loose
        self._words[rel] = frozenset(_WORD.findall(text))
        self.pairs = self._given.union(*self._pairs.values())

    def read_elsewhere(self, module, name):
        """``name`` of ``module`` imported or read as its attribute on the board: by a
        board file's code, in a string of a host file that names the module too (a
        script sent to the image: ``from flight.m import name``, ``m.name``), or in a
        file no ast reads."""
        if (module, name) in self.pairs:
            return True
        if any(name in self._words[r] for r in self.unparsed):
            return True
        base = module.rsplit(".", 1)[-1]
        return any(not index.get(name, _NONE).isdisjoint(index.get(base, _NONE))
                   for index in self._strings.values())

    def assigned_anywhere(self, name):
        """Some board code assigns an attribute ``name`` (``m.NAME = ...`` or
        ``setattr(m, "NAME", ...)``: a patched value)."""
        pat = re.compile(r"\.%s\s*(=[^=]|\+=|-=)|setattr\([^)]*['\"]%s['\"]" % (
            re.escape(name), re.escape(name)))
        return any(pat.search(t) for r, t in self.texts.items() if name in self._words[r])

    def attribute_elsewhere(self, rel, name):
        """Code on the board other than file ``rel`` may read ``name`` as an attribute of
        a module it got at run time (``lazy.load("flight.m").NAME``, ``getattr(m,
        "NAME")``), or in a file no ast reads; an attribute of an imported module is a
        pair (:meth:`read_elsewhere`)."""
        return any(name in loose for r, loose in self._loose.items() if r != rel) or \
            any(name in self._words[r] for r in self.unparsed if r != rel)

    def mentioned_elsewhere(self, rel, name):
        """``name`` written in what runs on the board of a file other than ``rel``."""
        if _WORD.fullmatch(name):
            return any(name in w for r, w in self._words.items() if r != rel)
        words = _WORD.findall(name)  # (a file lacking one of them cannot match)
        word = re.compile(r"\b%s\b" % re.escape(name))
        return any(word.search(t) for r, t in self.texts.items()
                   if r != rel and all(w in self._words[r] for w in words))

"""The integer a module's constant stands for, read from the sources (for
tools/freeze_trim.py, which folds it into the modules importing it).

On MicroPython ``from flight.m import NAME`` is a run-time look-up in ``m``'s globals even
when ``m`` wrote ``NAME = const(7)``: the compiler folds a constant only inside its own
module.  The importer gets the value as a constant of its own (``_NAME = const(7)``) only
where the value is certain from the text: an integer expression of literals and of other
such constants of the module (``MASK = const((1 << BITS) - 1)``), followed through
re-exports; anything else (a call, an attribute, a name bound twice or under an ``if`` or
``try``, a float) is not folded.
"""

import ast
from pathlib import Path

_INT_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
            ast.Mult: lambda a, b: a * b, ast.LShift: lambda a, b: a << b,
            ast.RShift: lambda a, b: a >> b, ast.BitOr: lambda a, b: a | b,
            ast.BitAnd: lambda a, b: a & b, ast.BitXor: lambda a, b: a ^ b,
            ast.FloorDiv: lambda a, b: a // b}
# How many names (re-exports, constants made of constants) one value may go through.
MAX_DEPTH = 8


def bound_more_than_once(tree):
    """Names bound more than once anywhere in ``tree`` (a function's parameter, a local,
    an ``except ... as``, ``global`` count too): a name that may be shadowed or rebound."""
    count = {}
    for n in ast.walk(tree):
        names = []
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names = [n.id]
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names = [(a.asname or a.name).split(".")[0] for a in n.names]
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [n.name]
        elif isinstance(n, ast.arg):
            names = [n.arg]
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names = [n.name]
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            names = list(n.names) * 2
        for x in names:
            count[x] = count.get(x, 0) + 1
    return {k for k, v in count.items() if v > 1}


def int_value(v, resolve=lambda name: None):
    """The value of integer expression ``v`` (``(1 << 30) - 1``, ``const(...)`` of one),
    its names given by ``resolve(name)`` (None: unknown); None when it is anything else."""
    if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "const" \
            and len(v.args) == 1 and not v.keywords:
        return int_value(v.args[0], resolve)
    if isinstance(v, ast.Constant):
        return v.value if type(v.value) is int else None  # (not a bool)
    if isinstance(v, ast.Name):
        return resolve(v.id)
    if isinstance(v, ast.UnaryOp) and isinstance(v.op, (ast.USub, ast.Invert, ast.UAdd)):
        x = int_value(v.operand, resolve)
        if x is None:
            return None
        return -x if isinstance(v.op, ast.USub) else ~x if isinstance(v.op, ast.Invert) else x
    if isinstance(v, ast.BinOp) and type(v.op) in _INT_OPS:
        a, b = int_value(v.left, resolve), int_value(v.right, resolve)
        if a is None or b is None or (isinstance(v.op, ast.FloorDiv) and b == 0) \
                or (isinstance(v.op, (ast.LShift, ast.RShift)) and not 0 <= b < 64):
            return None
        return _INT_OPS[type(v.op)](a, b)
    return None


def _source(root, module):
    base = Path(root) / module.replace(".", "/")
    path = base.with_suffix(".py")
    return path if path.exists() else base / "__init__.py"


def int_constant(root, module, name, depth=0):
    """The integer ``module.name`` is defined as in the sources under ``root``: a single
    top-level ``name = <integer expression>`` (or ``const(...)`` of one) whose names are
    such constants of the module too, followed through re-exports (``from m import
    name``); None when it is anything else (computed, bound twice, platform-dependent)."""
    if depth > MAX_DEPTH:
        return None
    path = _source(root, module)
    if not path.exists():
        return None
    tree, twice = _parsed(path)
    if name in twice:
        return None

    def resolve(other):
        return int_constant(root, module, other, depth + 1)

    for n in tree.body:
        if (isinstance(n, ast.Assign) and len(n.targets) == 1
                and isinstance(n.targets[0], ast.Name) and n.targets[0].id == name):
            return int_value(n.value, resolve)
        if isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
            for a in n.names:
                if (a.asname or a.name) == name:
                    return int_constant(root, n.module, a.name, depth + 1)
    return None


_PARSED = {}


def _parsed(path):
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _PARSED:
        tree = ast.parse(path.read_text())
        _PARSED[key] = (tree, bound_more_than_once(tree))
    return _PARSED[key]

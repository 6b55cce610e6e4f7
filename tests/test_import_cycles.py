"""No import cycle within flight/, hal/, sim/ and ground_tools/ (issue 10).

A cycle makes a module's meaning depend on which of its members is imported first (one
of them sees the other half-initialised), and it hides which module owns a fact: the
VERSION and two event ids of the core's commands lived in flight/app.py, which imports
flight/corecmds.py.  Every import statement counts, at module level or inside a function
(a deferred import is a cycle that is only postponed).  The one exception: statements
under ``if __name__ == "__main__":``, which never run when the module is imported (run as
a script it is the module ``__main__``, and importing its own name loads a second copy,
not a cycle).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("flight", "hal", "sim", "ground_tools")


def _modules():
    """{dotted name: path} of every module of PACKAGES."""
    out = {}
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            if "__pycache__" in p.parts:
                continue
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = p
    return out


def _is_main_guard(node):
    t = node.test
    return (isinstance(node, ast.If) and isinstance(t, ast.Compare)
            and isinstance(t.left, ast.Name) and t.left.id == "__name__"
            and len(t.comparators) == 1 and isinstance(t.comparators[0], ast.Constant)
            and t.comparators[0].value == "__main__")


def _imports(tree, name, is_pkg, known):
    """Modules of ``known`` that module ``name``'s import statements load."""
    found = set()

    def add(mod):
        # importing a.b.c runs a, a.b and a.b.c
        parts = mod.split(".")
        for i in range(1, len(parts) + 1):
            m = ".".join(parts[:i])
            if m in known and m != name:
                found.add(m)

    def visit(node):
        if isinstance(node, ast.If) and _is_main_guard(node):
            for sub in node.orelse:
                visit(sub)
            return
        if isinstance(node, ast.Import):
            for a in node.names:
                add(a.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            add(mod)
            for a in node.names:
                if mod + "." + a.name in known:  # from pkg import submodule
                    add(mod + "." + a.name)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph():
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = _imports(tree, name, path.name == "__init__.py", mods)
    return graph


def cycles(graph):
    """Every elementary cycle found by depth-first search, each as a list of names
    (one representative per strongly connected group is enough to fail)."""
    found = []
    state = {}  # name -> 1 on the stack, 2 done
    stack = []

    def dfs(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                found.append(stack[stack.index(m):] + [m])
            elif m not in state:
                dfs(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            dfs(n)
    return found


def test_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_check_sees_a_cycle_and_a_deferred_import():
    # The detector itself: a deferred (function-level) import closing a loop is found,
    # a relative import is resolved, and a __main__ block is not an import of the module.
    known = {"p": None, "p.a": None, "p.b": None, "p.c": None}
    a = ast.parse("from p import b\n")
    b = ast.parse("def f():\n    from . import a\n")
    c = ast.parse("if __name__ == '__main__':\n    import p.a\n")
    graph = {"p.a": _imports(a, "p.a", False, known), "p.b": _imports(b, "p.b", False, known),
             "p.c": _imports(c, "p.c", False, known)}
    assert graph["p.a"] == {"p", "p.b"} and graph["p.b"] == {"p", "p.a"}
    assert graph["p.c"] == set()
    assert cycles(graph) == [["p.a", "p.b", "p.a"]]


def test_the_graph_covers_the_packages():
    graph = import_graph()
    assert "flight.corecmds" in graph["flight.app"]
    assert "ground_tools.tmcheck" in graph["ground_tools.tmdecode"]
    assert "sim.linkbudget" in graph["sim.plots_linkbudget"]

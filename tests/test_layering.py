"""The import rules of the layers (README "Layout", docs/CONTRIBUTING.md).

From the bottom up: ``hal/`` (interfaces, compat, clocks, drivers) < the physics models
of ``sim/`` that the simulated board uses < ``hal/sim`` (simulated backend) and
``flight/`` (the application, which only sees the HAL's interfaces) < host tools.

* ``flight/`` imports only MicroPython's standard modules, ``flight`` and ``hal`` — never
  ``sim``, ``ground_tools`` or a third-party package — and not the backends
  ``hal.sim``/``hal.real`` either: ``board/main.py`` wires a board in.
* ``hal/`` never imports ``flight`` or ``ground_tools``; outside ``hal/sim`` only
  MicroPython's standard modules and ``hal``; ``hal/sim`` may add the ``sim`` physics models.
* ``machine`` is imported only in ``hal/real``, and lazily (inside a function), so the
  drivers import on the host.
* The ``sim`` physics models import only MicroPython's standard modules and each other.
* Host-only files (those of flight/ and hal/ that ``tests/manifest.py`` leaves out, i.e.
  ``flight/__main__.py`` and ``hal/sim/serial_link.py``) may use CPython's standard
  library, still within their layer.

Type-only imports (under ``if TYPE_CHECKING:``, and ``from typing import TYPE_CHECKING``
inside ``try/except ImportError``) are not imports at run time and are skipped.
A failure names the file, the line and the import.
"""

import ast
import functools
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: MicroPython's standard modules (docs "MicroPython libraries", 1.27), without ``machine``
#: (a port module, hal/real only) and the old u-prefixed aliases.
MPY_STDLIB = frozenset((
    "array", "asyncio", "binascii", "builtins", "cmath", "collections", "cryptolib",
    "deflate", "errno", "framebuf", "gc", "hashlib", "heapq", "io", "json", "math",
    "micropython", "os", "platform", "random", "re", "select", "socket", "ssl", "struct",
    "sys", "time", "uctypes", "vfs", "zlib", "_thread",
))

@functools.lru_cache(maxsize=None)
def _manifest_targets():
    from tools import manifest

    return set(manifest.targets(manifest.TEST))


@functools.lru_cache(maxsize=None)
def _host_only():
    """flight/ and hal/ files that never run on MicroPython: not in tests/manifest.py (the
    board manifest plus the simulated backend).  They may also use CPython's stdlib."""
    on_mpy = _manifest_targets()
    return frozenset(_rel(p) for p in _files("flight", "hal") if _rel(p) not in on_mpy)


def _sim_physics():
    """The sim/ modules that run under MicroPython below hal/sim (tests/manifest.py)."""
    # sim/NAME.py, or sim/NAME/__init__.py for a package (its model): NAME either way
    return {t[4:-3].split("/")[0] for t in _manifest_targets() if t.startswith("sim/")} \
        - {"__init__"}


def _rel(path):
    return path.relative_to(ROOT).as_posix()


def _type_only(tree):
    """ids of nodes that exist only for the type checker."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for sub in ast.walk(node):
                skip.add(id(sub))
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id == "ImportError" for h in node.handlers
        ):
            for sub in node.body:
                if isinstance(sub, ast.ImportFrom) and sub.module == "typing":
                    skip.add(id(sub))
    return skip


def _is_main_guard(node):
    t = getattr(node, "test", None)
    return (isinstance(node, ast.If) and isinstance(t, ast.Compare)
            and isinstance(t.left, ast.Name) and t.left.id == "__name__"
            and len(t.comparators) == 1 and isinstance(t.comparators[0], ast.Constant)
            and t.comparators[0].value == "__main__")


def imports(path):
    """[(line, dotted module, lazy)] of the run-time imports of one file (lazy: inside a
    function, so it runs only when called, or under ``if __name__ == "__main__":``).

    ``from pkg import name`` yields ``pkg.name`` as well as ``pkg`` so that
    ``from hal import sim`` is seen as an import of ``hal.sim``.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_only(tree)
    lazy = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lazy.update(id(sub) for sub in ast.walk(node))
        elif _is_main_guard(node):  # runs only as a script, never on import
            for stmt in node.body:
                lazy.update(id(sub) for sub in ast.walk(stmt))
    out = []
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        nested = id(node) in lazy
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, nested) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                out.append((node.lineno, "." * node.level + (node.module or ""), nested))
                continue
            out.append((node.lineno, node.module, nested))
            out += [(node.lineno, node.module + "." + a.name, nested) for a in node.names]
    return out


def _files(*dirs):
    files = []
    for d in dirs:
        files += [p for p in sorted((ROOT / d).rglob("*.py")) if "__pycache__" not in p.parts]
    return files


def _check(files, rule):
    """Apply ``rule(rel_path, module, nested) -> reason or None``; one line per breach."""
    bad = []
    for path in files:
        rel = _rel(path)
        for line, mod, nested in imports(path):
            why = rule(rel, mod, nested)
            if why:
                bad.append("%s:%d imports %s: %s" % (rel, line, mod, why))
    return bad


def _stdlib(rel, top):
    if top in MPY_STDLIB:
        return True
    return rel in _host_only() and top in sys.stdlib_module_names


def _flight_rule(rel, mod, nested):
    if mod.startswith("."):
        return "relative import (MicroPython's frozen modules need absolute ones)"
    top = mod.split(".")[0]
    if top in ("sim", "ground_tools"):
        return "flight/ must not import %s/ (it sits above flight)" % top
    if top == "machine":
        return "machine is for hal/real only"
    if top == "flight":
        return None
    if top == "hal":
        parts = mod.split(".")
        if len(parts) > 1 and parts[1] in ("sim", "real") and rel not in _host_only():
            return "flight/ sees the HAL's interfaces only; board/main.py picks the backend"
        return None
    if _stdlib(rel, top):
        return None
    return "not a MicroPython standard module (flight/ imports only those, flight and hal)"


def _hal_rule(rel, mod, nested):
    if mod.startswith("."):
        return "relative import (MicroPython's frozen modules need absolute ones)"
    top = mod.split(".")[0]
    if top in ("flight", "ground_tools"):
        return "hal/ must not import %s/ (it sits above hal)" % top
    if top == "machine":
        if not rel.startswith("hal/real/"):
            return "machine is imported only in hal/real"
        if not nested:
            return "import machine lazily (inside a function) so the drivers import on a host"
        return None
    if top == "hal":
        return None
    if top == "sim":
        if not rel.startswith("hal/sim/"):
            return "only hal/sim uses the sim physics models"
        leaf = mod.split(".")
        if len(leaf) > 1 and leaf[1] not in _sim_physics():
            return "hal/sim may import only the physics models listed in tests/manifest.py"
        return None
    if _stdlib(rel, top):
        return None
    return "not a MicroPython standard module (hal/ imports only those and hal)"


def _sim_physics_rule(rel, mod, nested):
    # Whether they run under MicroPython is the VM suites' job; here: no loop with hal/.
    parts = mod.split(".")
    if parts[0] in ("hal", "flight", "ground_tools"):
        return "a physics model (tests/manifest.py) sits below hal/sim: no %s/" % parts[0]
    if parts[0] == "sim" and len(parts) > 1 and parts[1] not in _sim_physics() and not nested:
        return "a physics model (tests/manifest.py) imports only other physics models " \
               "(a host-only helper lazily, inside a function)"
    return None


def _fail(bad):
    assert not bad, "layering broken:\n  " + "\n  ".join(bad)


def test_flight_imports_only_micropython_stdlib_flight_and_hal():
    _fail(_check(_files("flight"), _flight_rule))


def test_hal_never_imports_flight_or_ground_tools():
    _fail(_check(_files("hal"), _hal_rule))


def test_sim_physics_models_stay_below_hal_sim():
    files = [ROOT / "sim" / (name + ".py") if (ROOT / "sim" / (name + ".py")).is_file()
             else ROOT / "sim" / name / "__init__.py" for name in sorted(_sim_physics())]
    assert ROOT / "sim" / "linkbudget" / "__init__.py" in files
    assert ROOT / "sim" / "camera.py" in files
    _fail(_check(files, _sim_physics_rule))


def test_board_main_imports_only_flight_hal_and_stdlib():
    def rule(rel, mod, nested):
        top = mod.split(".")[0]
        if top in ("flight", "hal", "machine") or top in MPY_STDLIB:
            return None
        return "board/main.py runs on the payload computer: flight, hal, stdlib only"

    _fail(_check([ROOT / "board" / "main.py"], rule))


# ----------------------------------------------------------------- the checker itself


def _breaches(tmp_path, rel, source, rule):
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    bad = []
    for line, mod, nested in imports(path):
        why = rule(rel, mod, nested)
        if why:
            bad.append((line, mod, why))
    return bad


def test_checker_names_the_offending_import(tmp_path):
    src = "import struct\nfrom hal.compat import const\nfrom sim import rng\nimport cbor2\n"
    bad = _breaches(tmp_path, "flight/x.py", src, _flight_rule)
    assert [(line, mod) for line, mod, _ in bad] == [(3, "sim"), (3, "sim.rng"), (4, "cbor2")]
    bad = _breaches(tmp_path, "flight/x.py", "from hal import sim\n", _flight_rule)
    assert [mod for _, mod, _ in bad] == ["hal.sim"]


def test_checker_catches_hal_importing_flight_and_top_level_machine(tmp_path):
    bad = _breaches(tmp_path, "hal/x.py", "from flight.compat import const\n", _hal_rule)
    assert bad and "above hal" in bad[0][2]
    bad = _breaches(tmp_path, "hal/real/x.py", "import machine\n", _hal_rule)
    assert bad and "lazily" in bad[0][2]
    ok = "def f():\n    import machine\n    return machine\n"
    assert _breaches(tmp_path, "hal/real/y.py", ok, _hal_rule) == []
    assert _breaches(tmp_path, "hal/sim/z.py", ok, _hal_rule)  # machine outside hal/real
    assert _breaches(tmp_path, "hal/sim/w.py", "from sim import passsim\n", _hal_rule)
    assert _breaches(tmp_path, "sim/p.py", "from hal.compat import const\n", _sim_physics_rule)


def test_checker_skips_type_only_imports(tmp_path):
    src = (
        "try:\n    from typing import TYPE_CHECKING\nexcept ImportError:\n"
        "    TYPE_CHECKING = False\n"
        "if TYPE_CHECKING:\n    from typing import Any\n    from machine import Pin\n"
    )
    assert _breaches(tmp_path, "flight/t.py", src, _flight_rule) == []
    assert _breaches(tmp_path, "flight/u.py", "import typing\n", _flight_rule)

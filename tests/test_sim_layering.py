"""Layering of the simulator (issue 10 §4): physics below hal/sim, the runner above it.

    sim/*.py (physics models, MicroPython-clean)   imports: sim physics only
    hal/sim/                                        imports: flight, hal, sim physics
    sim/run/ (pass runner, metrics, report, ...)    imports: anything
    sim/__main__.py, sim/campaign.py                thin entry points into sim/run

so there is no folder-level import loop between sim/ and hal/.  Checked on the source
(every import statement, lazy ones inside functions included).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = {"__main__.py", "campaign.py"}


def _imports(path):
    """Every module name imported by ``path`` (absolute imports; relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "%s: relative import" % path
            mod = node.module or ""
            out.append(mod)
            out.extend("%s.%s" % (mod, a.name) for a in node.names)
    return out


def _top(name, *prefixes):
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _module_file(name):
    """sim/NAME.py, or a package's model sim/NAME/__init__.py (None: neither)."""
    for p in (ROOT / "sim" / (name + ".py"), ROOT / "sim" / name / "__init__.py"):
        if p.is_file():
            return p
    return None


def test_sim_physics_imports_neither_hal_nor_flight_nor_the_runner():
    # the modules of sim/ and the models of its packages (sim/linkbudget/__init__.py;
    # not a package's __main__.py, its command line); sim/run is the runner
    files = [p for p in sorted((ROOT / "sim").glob("*.py")) if p.name not in ENTRY_POINTS]
    files += [p for p in sorted((ROOT / "sim").glob("*/__init__.py")) if p.parent.name != "run"]
    assert len(files) > 10
    for p in files:
        bad = [m for m in _imports(p) if _top(m, "hal", "flight", "sim.run", "ground_tools")]
        assert not bad, "%s imports %s" % (p.relative_to(ROOT), bad)


def test_entry_points_are_thin():
    for name in ENTRY_POINTS:
        p = ROOT / "sim" / name
        mods = [m for m in _imports(p) if m != "sys"]
        assert mods and all(_top(m, "sim.run") for m in mods), (name, mods)
        assert len(p.read_text(encoding="utf-8").splitlines()) <= 15, name


def test_hal_never_imports_the_runner():
    files = sorted((ROOT / "hal").rglob("*.py"))
    assert any(p.parent.name == "sim" for p in files)
    for p in files:
        bad = [m for m in _imports(p) if _top(m, "sim.run")]
        assert not bad, "%s imports %s" % (p.relative_to(ROOT), bad)


def test_hal_sim_world_does_not_reach_into_the_flight_application():
    """The world knows the board, not the app: no ``app.payload`` / app internals."""
    src = (ROOT / "hal" / "sim" / "world.py").read_text(encoding="utf-8")
    for needle in (".payload", "app.", "adcs_hook", ".modes.", ".params"):
        assert needle not in src, needle
    for m in _imports(ROOT / "hal" / "sim" / "world.py"):
        assert not _top(m, "flight"), m


def test_the_mpy_module_list_is_the_physics_layer():
    listed = set()
    for line in (ROOT / "sim" / "MPY_MODULES").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            listed.add(line)
    for m in listed:
        assert _module_file(m) is not None, m
    # every physics module hal/sim imports is listed (it must run under MicroPython)
    needed = set()
    for p in sorted((ROOT / "hal" / "sim").glob("*.py")):
        for m in _imports(p):
            if _top(m, "sim") and not _top(m, "sim.run"):
                parts = m.split(".")
                if len(parts) >= 2 and _module_file(parts[1]) is not None:
                    needed.add(parts[1])
    assert needed and needed <= listed, needed - listed


def test_no_sim_file_over_500_lines():
    for p in sorted((ROOT / "sim").rglob("*.py")):
        n = len(p.read_text(encoding="utf-8").splitlines())
        assert n <= 500, "%s: %d lines" % (p.relative_to(ROOT), n)

"""The scripts the benches and tools send to a MicroPython (the VM job of
bench/flight_mpy.py, the QEMU image's scripts of tools/target_bench.py, bench/apt_tick_m7.py
...) are strings: no import checker reads them.  A name moved out of a module broke
`make bench`'s flight_mpy rows for six stops (``noise_table_bytes``, moved from
hal/sim/world.py to hal/sim/heap_est.py at stop 49: "ImportError: can't import name").
Every ``from flight|hal|sim.… import NAME`` line in those strings must name something
the module has."""

import ast
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FROM = re.compile(r"^\s*from ((?:flight|hal|sim)(?:\.\w+)*) import ([\w, ()]+?)\s*(?:#.*)?$")


def _script_imports():
    """(file, module, name) of each project import inside a string of bench/ and tools/."""
    found = []
    for top in ("bench", "tools"):
        for f in sorted((ROOT / top).rglob("*.py")):
            tree = ast.parse(f.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                    continue
                for line in node.value.splitlines():
                    m = FROM.match(line)
                    if m is None or "%" in line:
                        continue
                    for name in m.group(2).replace("(", "").replace(")", "").split(","):
                        name = name.split(" as ")[0].strip()
                        if name:
                            found.append((f.relative_to(ROOT).as_posix(), m.group(1), name))
    return found


IMPORTS = _script_imports()


def test_the_scripts_have_project_imports_to_check():
    files = {f for f, _, _ in IMPORTS}
    assert "bench/flight_mpy.py" in files and "tools/target_bench.py" in files, files
    assert ("bench/flight_mpy.py", "hal.sim.heap_est", "noise_table_bytes") in IMPORTS


@pytest.mark.parametrize("where,module,name", IMPORTS,
                         ids=["%s:%s.%s" % i for i in IMPORTS])
def test_every_import_in_a_script_names_what_its_module_has(where, module, name):
    mod = importlib.import_module(module)
    if name == "*":
        return
    assert hasattr(mod, name) or importlib.util.find_spec(module + "." + name) is not None, \
        "%s sends 'from %s import %s': %s has no %s" % (where, module, name, module, name)

"""`make mpy`: every flight/hal module compiles with mpy-cross and the .mpy files import in
the MicroPython VM."""

import json
import subprocess
import sys

from tools import build_mpy, mpyvm

ROOT = build_mpy.ROOT


def test_every_module_compiles_and_imports_in_the_vm(tmp_path):
    built, errors = build_mpy.build(tmp_path / "build")
    assert errors == []
    mpys = [p for p in built if p.suffix == ".mpy"]
    # Every flight/hal source has its .mpy.
    for pkg in ("flight", "hal"):
        for src in (ROOT / pkg).rglob("*.py"):
            if src.relative_to(ROOT).as_posix() in build_mpy.HOST_ONLY:
                continue
            rel = src.relative_to(ROOT).with_suffix(".mpy")
            assert (tmp_path / "build" / rel).exists(), rel
    files = [("/proj/" + p.relative_to(tmp_path / "build").as_posix(), p.read_bytes())
             for p in built]
    files.append(("/proj/machine.py", (ROOT / "tests/mpy_support/machine.py").read_bytes()))
    modules = []
    for p in mpys:
        rel = p.relative_to(tmp_path / "build").with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.append(".".join(parts))
    code = (
        "import sys, json\nsys.path.insert(0, '/proj')\n"
        "res = {}\n"
        "for m in %r:\n"
        "    try:\n"
        "        __import__(m)\n"
        "        res[m] = getattr(sys.modules[m], '__file__', '?')\n"
        "    except Exception as e:\n"
        "        res[m] = 'ERROR ' + repr(e)\n"
        "print('RESULT' + json.dumps(res))\n" % sorted(modules)
    )
    rc, out, err = mpyvm.run_job(code, files=files)
    assert rc == 0, err
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT")][0]
    res = json.loads(line[len("RESULT"):])
    bad = {m: v for m, v in res.items() if v.startswith("ERROR")}
    assert bad == {}
    # They really came from bytecode, not from a source file.
    assert all(v.endswith(".mpy") for m, v in res.items() if v != "?"), res
    assert "flight.scheduler" in res


def test_a_module_mpy_cross_rejects_fails_the_build(tmp_path):
    root = tmp_path / "proj"
    (root / "flight").mkdir(parents=True)
    (root / "flight" / "__init__.py").write_text("")
    (root / "flight" / "bad.py").write_text("def f(:\n    pass\n")
    built, errors = build_mpy.build(tmp_path / "out", root=root)
    assert len(errors) == 1 and "flight/bad.py" in errors[0]


def test_make_mpy_cli_reports_count(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tools.build_mpy", "--out", str(tmp_path / "b")],
                          capture_output=True, text=True, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    assert "mpy:" in proc.stdout and "FAILED" not in proc.stdout

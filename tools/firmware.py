"""`make firmware`: the flight software frozen into MicroPython v1.27.0 firmware.

Builds, from the project's manifests (MicroPython manifest form):

* the QEMU image — ``ports/qemu`` board ``MPS2_AN500`` (Cortex-M7, run by
  ``qemu-system-arm -machine mps2-an500``) with the test manifest frozen (flight, hal
  with hal/sim, the sim physics modules) plus the ``tests/mpy`` modules, on a fixed
  heap of :data:`QEMU_HEAP_BYTES` (see README "Firmware": the heap MicroPython gets on the
  NUCLEO-H743ZI, rounded down);
* the payload-computer image — ``ports/stm32`` with the project's board definition
  ``board/stm32/VECTOR_PCU`` (STM32H743: the NUCLEO-H743ZI's MCU settings plus the
  payload's four SPI buses, no SD card; docs/firmware.md §1) and the board manifest (the
  flight application only).  It runs on a NUCLEO-H743ZI too (HIL).

Both freeze a staged copy of the sources (``.micropython/build/src``) in which the flight
modules' declaration blocks (HK, PARAMS, EVENTS, COMMANDS...) are written as constant
tuples, which the freezer puts in flash instead of the heap (tools/freeze_decl.py).

MicroPython's source: ``MICROPY_DIR`` (a v1.27.0 tree, used as is) or else the trimmed
archive ``MICROPY_ARCHIVE`` (default ``../shared/micropython/micropython-1.27.0.tar.xz``
relative to the repository), checked against its pinned sha256 and unpacked into the
ignored folder ``.micropython/``.  Build products go to ``.micropython/build/``; sizes
(text/data/bss, frozen share) are printed and written to ``out/firmware.json``.

    python -m tools.firmware [--only qemu|stm32] [--heap BYTES] [--json out/firmware.json]
"""

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".micropython"
BUILD_ROOT = WORK / "build"
VERSION = "1.27.0"
ARCHIVE_NAME = "micropython-%s.tar.xz" % VERSION
# sha256 of the trimmed archive (shared/micropython/*.sha256): a different file is refused.
ARCHIVE_SHA256 = "a109297fa6ed6b8f13afbd15c687a5b6e98cf94af17bc2b7638eb101f3f530e5"
# BUILDING.md: the version string would otherwise come from *this* repository's git.
BUILD_ENV = {
    "MICROPY_GIT_TAG": "v1.27.0",
    "MICROPY_GIT_HASH": "78ff170de9",
    "SOURCE_DATE_EPOCH": "1765291456",
}
QEMU_BOARD = "MPS2_AN500"
STM32_BOARD = "VECTOR_PCU"
# The payload computer's board definition (out of MicroPython's tree: BOARD_DIR=).
STM32_BOARD_DIR = ROOT / "board" / "stm32" / STM32_BOARD
# The QEMU image's GC heap, sized like the payload computer's: on the VECTOR_PCU image
# MicroPython's heap is the STM32H743's 512 KiB AXI SRAM less .data/.bss (~19 KiB, the
# Python stack's 8 KiB and the port's own 1.5 KiB one among them) and the 16 KiB stack:
# 487128 bytes (`heap_of_stm32_elf`, printed by every build; 487408 on the NUCLEO's
# image, without SPI1, SPI2 and SPI4; 497152 before the Python stack, stop 40).  Rounded down to
# 472 KiB so nothing passes on the emulator that would lack memory on the board (the QEMU
# image also carries the simulated world, which the board does not).
QEMU_HEAP_BYTES = 472 * 1024
BOARD_HEAP_BYTES = 487128  # the board image's heap as built (the build warns below it)
# The board's port leaves MICROPY_MEM_STATS off (py/mpconfig.h default; the qemu port's
# mpconfigport.h turns it on): without it ``micropython.mem_current`` does not exist and
# the scheduler's O(1) heap estimate falls back to a heap walk at every idle check
# (flight/scheduler.py; 1.16 M instructions each on a 480 KiB heap).  MEM_STATS needs the
# allocated size passed to free/realloc (py/malloc.c refuses it otherwise).
STM32_CFLAGS_EXTRA = "-DMICROPY_MEM_STATS=1 -DMICROPY_MALLOC_USES_ALLOCATED_SIZE=1"
TESTS_MPY = ROOT / "tests" / "mpy"
# The firmware's own C (USER_C_MODULES): the Python stack apart from the GC heap
# (board/cmodules/vector_pystack, docs/firmware.md "The Python stack"), in both images.
USER_C_MODULES = ROOT / "board" / "cmodules"
# Manifests: the project's one board manifest (what ships) and the test manifest (that
# plus the simulated backend and the sim physics), both in MicroPython's manifest form.
BOARD_MANIFESTS = (ROOT / "board" / "manifest.py",)
TEST_MANIFESTS = (ROOT / "tests" / "manifest.py",)
TOOLS = {
    "arm-none-eabi-gcc": "gcc-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
    "make": "make",
    "cc": "build-essential",
}


class FirmwareError(RuntimeError):
    """The firmware cannot be built here (toolchain or MicroPython source missing)."""


def first_existing(paths):
    for p in paths:
        if Path(p).exists():
            return Path(p)
    raise FirmwareError("none of these manifests exists: %s" % ", ".join(map(str, paths)))


def board_manifest():
    return first_existing(BOARD_MANIFESTS)


# The sources a build freezes: a staged copy of what the manifests read, the flight
# declaration blocks written as constants (tools/freeze_decl.py: in flash, not the heap).
STAGE_DIR = BUILD_ROOT / "src"


def staged(manifest, log=print):
    """``manifest`` (a repository path) in the staged copy, staged now."""
    from tools import freeze_decl

    trimmed = {}
    report = freeze_decl.stage(STAGE_DIR, trimmed=trimmed)
    log("firmware: declarations frozen as constants in %d modules" % len(report))
    # (tools/freeze_trim.py: the globals entries the flight modules no longer bind; a
    # public literal folded is counted as made private)
    cut = sum(len([n for n in v if k != "folded" or n.startswith("_")])
              for kinds in trimmed.values() for k, v in kinds.items() if k != "attributes")
    log("firmware: globals trimmed: %d names in %d modules" % (cut, len(trimmed)))
    return STAGE_DIR / Path(manifest).resolve().relative_to(ROOT)


def test_manifest():
    return first_existing(TEST_MANIFESTS)


def missing_tools():
    """Debian package names of the build/run tools not on PATH (empty: all there)."""
    missing = [pkg for exe, pkg in TOOLS.items() if shutil.which(exe) is None]
    # newlib's headers (libnewlib-arm-none-eabi) are not an executable: look for one.
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc and not _newlib_present():
        missing.append("libnewlib-arm-none-eabi")
    return missing


def _newlib_present():
    for d in ("/usr/lib/arm-none-eabi/include", "/usr/arm-none-eabi/include"):
        if Path(d, "stdlib.h").exists():
            return True
    return False


def archive_path(env=None):
    env = os.environ if env is None else env
    if env.get("MICROPY_ARCHIVE"):
        return Path(env["MICROPY_ARCHIVE"]).resolve()
    # CI clones the repository into some folder with shared/ beside it; a git worktree
    # one level deeper (wt/NAME) finds it beside an ancestor folder.
    for base in ROOT.parents:
        cand = base / "shared" / "micropython" / ARCHIVE_NAME
        if cand.exists():
            return cand
    return ROOT.parent / "shared" / "micropython" / ARCHIVE_NAME


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def micropython_dir(env=None, log=print):
    """The MicroPython tree to build from: ``MICROPY_DIR``, or the archive unpacked."""
    env = os.environ if env is None else env
    if env.get("MICROPY_DIR"):
        d = Path(env["MICROPY_DIR"]).resolve()
        if not (d / "py" / "mpconfig.h").exists():
            raise FirmwareError("MICROPY_DIR=%s is not a MicroPython source tree" % d)
        return d
    dest = WORK / ("micropython-" + VERSION)
    stamp = WORK / (".unpacked-" + VERSION)
    if stamp.exists() and stamp.read_text().strip() == ARCHIVE_SHA256 and dest.is_dir():
        return dest
    arc = archive_path(env)
    if not arc.exists():
        raise FirmwareError(
            "MicroPython source not found: %s does not exist. Set MICROPY_ARCHIVE to the "
            "trimmed archive, or MICROPY_DIR to a MicroPython v%s tree (git clone "
            "--branch v%s https://github.com/micropython/micropython, then "
            "`make -C ports/stm32 submodules BOARD=NUCLEO_H743ZI`)." % (arc, VERSION, VERSION))
    digest = sha256_of(arc)
    if digest != ARCHIVE_SHA256:
        raise FirmwareError("%s: sha256 %s, expected %s" % (arc, digest, ARCHIVE_SHA256))
    log("firmware: unpacking %s (sha256 ok)" % arc)
    tmp = WORK / ".unpack-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(arc) as tf:
        tf.extractall(tmp, filter="data")
    shutil.rmtree(dest, ignore_errors=True)
    (tmp / ("micropython-" + VERSION)).rename(dest)
    shutil.rmtree(tmp, ignore_errors=True)
    stamp.write_text(ARCHIVE_SHA256 + "\n")
    return dest


def build_env():
    env = dict(os.environ)
    env.update(BUILD_ENV)
    return env


def jobs():
    return str(min(2, os.cpu_count() or 1))


def qemu_build_dir(heap=QEMU_HEAP_BYTES):
    # make does not notice a changed -DMICROPY_HEAP_SIZE: one build folder per heap.
    return BUILD_ROOT / ("qemu-%s-heap%d" % (QEMU_BOARD, heap))


def stm32_build_dir():
    return BUILD_ROOT / ("stm32-" + STM32_BOARD)


def qemu_elf(heap=QEMU_HEAP_BYTES):
    return qemu_build_dir(heap) / "firmware.elf"


def qemu_manifest_text(test_manifest_path, tests_dir=TESTS_MPY):
    """The QEMU image's manifest: the test manifest plus the tests/mpy modules, frozen as
    top-level modules (imported by name, as the VM runner imports them)."""
    return (
        "# Generated by tools/firmware.py: do not edit.\n"
        "include(%r)\n"
        "freeze(%r)\n" % (str(Path(test_manifest_path).resolve()),
                          str(Path(tests_dir).resolve()))
    )


def qemu_make_command(mpy_dir, manifest, heap=QEMU_HEAP_BYTES):
    return ["make", "-C", str(Path(mpy_dir) / "ports" / "qemu"), "-j" + jobs(),
            "BOARD=" + QEMU_BOARD, "BUILD=" + str(qemu_build_dir(heap)),
            "MICROPY_HEAP_SIZE=%d" % heap, "FROZEN_MANIFEST=" + str(Path(manifest).resolve()),
            "USER_C_MODULES=" + str(USER_C_MODULES),
            "MICROPY_MPYCROSS=" + str(Path(mpy_dir) / "mpy-cross" / "build" / "mpy-cross")]


def stm32_make_command(mpy_dir, manifest):
    return ["make", "-C", str(Path(mpy_dir) / "ports" / "stm32"), "-j" + jobs(),
            "BOARD_DIR=" + str(STM32_BOARD_DIR), "BUILD=" + str(stm32_build_dir()),
            "CFLAGS_EXTRA=" + STM32_CFLAGS_EXTRA,
            "FROZEN_MANIFEST=" + str(Path(manifest).resolve()),
            "USER_C_MODULES=" + str(USER_C_MODULES),
            "MICROPY_MPYCROSS=" + str(Path(mpy_dir) / "mpy-cross" / "build" / "mpy-cross")]


def _run(cmd, log, what):
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=build_env(), capture_output=True, text=True)
    dt = time.monotonic() - t0
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise FirmwareError("%s failed (%s):\n%s" % (what, " ".join(cmd), tail))
    log("firmware: %s built in %.1f s" % (what, dt))
    return dt


@contextmanager
def build_lock():
    """One build at a time (pytest workers may ask for the image together)."""
    WORK.mkdir(parents=True, exist_ok=True)
    with open(WORK / ".build.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def check_toolchain(need_qemu=False):
    missing = missing_tools()
    if not need_qemu and "qemu-system-arm" in missing:
        missing.remove("qemu-system-arm")
    if missing:
        raise FirmwareError(
            "firmware toolchain missing (%s): run `make setup-target` (as root, apt-get) or "
            "install these Debian packages" % " ".join(missing))


def build_qemu(heap=QEMU_HEAP_BYTES, log=print):
    """Build (incrementally) the QEMU image; returns (elf path, seconds)."""
    check_toolchain()
    with build_lock():
        mpy = micropython_dir(log=log)
        _mpy_cross(mpy, log)
        bdir = qemu_build_dir(heap)
        _flags_stamp(bdir, c_modules_digest(), log)
        manifest = bdir / "vector_manifest.py"
        text = qemu_manifest_text(staged(test_manifest(), log))
        if not manifest.exists() or manifest.read_text() != text:
            manifest.write_text(text)
        dt = _run(qemu_make_command(mpy, manifest, heap), log, "qemu %s" % QEMU_BOARD)
        return qemu_elf(heap), dt


def build_stm32(log=print):
    check_toolchain()
    with build_lock():
        mpy = micropython_dir(log=log)
        _mpy_cross(mpy, log)
        # (the board definition's headers in the stamp too: make tracks mpconfigboard.h
        # for the qstrs alone, not every object that includes it)
        _flags_stamp(stm32_build_dir(), STM32_CFLAGS_EXTRA + " " + c_modules_digest(
            (USER_C_MODULES, STM32_BOARD_DIR)), log)
        dt = _run(stm32_make_command(mpy, staged(board_manifest(), log)), log,
                  "stm32 %s" % STM32_BOARD)
        return stm32_build_dir() / "firmware.elf", dt


def c_modules_digest(roots=(USER_C_MODULES,)):
    """sha256 over the firmware's C modules (names and contents): make does not rebuild
    the port's objects when the header force-included into all of them changes."""
    h = hashlib.sha256()
    for root in roots:
        for f in sorted(Path(root).rglob("*")):
            if f.is_file():
                h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return "cmodules " + h.hexdigest()


def _flags_stamp(bdir, flags, log):
    """make does not notice changed CFLAGS_EXTRA: a build folder made with other flags
    (or C modules) is emptied first (its stamp file names what it was built with)."""
    stamp = bdir / "vector_cflags.txt"
    if bdir.exists() and (not stamp.exists() or stamp.read_text() != flags):
        log("firmware: %s built with other flags: rebuilt from clean" % bdir.name)
        shutil.rmtree(bdir)
    bdir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(flags)


def _mpy_cross(mpy, log):
    if not (mpy / "mpy-cross" / "build" / "mpy-cross").exists():
        _run(["make", "-C", str(mpy / "mpy-cross"), "-j" + jobs()], log, "mpy-cross")


def parse_size_output(text):
    """`arm-none-eabi-size` (Berkeley format) output → {"text", "data", "bss"} of line 2."""
    lines = [ln.split() for ln in text.strip().splitlines()]
    if len(lines) < 2 or lines[0][:3] != ["text", "data", "bss"]:
        raise ValueError("unexpected size output: %r" % text)
    t, d, b = (int(x) for x in lines[1][:3])
    return {"text": t, "data": d, "bss": b}


def sizes(elf):
    out = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    s = parse_size_output(out)
    # Everything the manifest froze (bytecode, constants, qstrs) is in frozen_content.o.
    frozen = Path(elf).parent / "frozen_content.o"
    if frozen.exists():
        fz = parse_size_output(subprocess.run(["arm-none-eabi-size", str(frozen)],
                                              capture_output=True, text=True,
                                              check=True).stdout)
        s["frozen"] = fz["text"] + fz["data"]
        s["frozen_share"] = round(s["frozen"] / s["text"], 4)
    return s


def parse_nm_symbols(text, names):
    """`nm` output → {name: address} for the wanted symbol names."""
    found = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in names:
            found[parts[2]] = int(parts[0], 16)
    return found


def heap_of_stm32_elf(elf):
    """The GC heap MicroPython gets on the board: `_heap_end - _heap_start` of the ELF."""
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    sym = parse_nm_symbols(out, ("_heap_start", "_heap_end"))
    if len(sym) != 2:
        return None
    return sym["_heap_end"] - sym["_heap_start"]


def rel(p):
    try:
        return Path(p).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(p)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.firmware",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("qemu", "stm32"), help="build one image only")
    ap.add_argument("--heap", type=int, default=QEMU_HEAP_BYTES,
                    help="QEMU image GC heap in bytes (default %(default)s)")
    ap.add_argument("--json", default=str(ROOT / "out" / "firmware.json"))
    args = ap.parse_args(argv)
    try:
        out = Path(args.json)
        data = json.loads(out.read_text()) if out.exists() else {}
        if args.only in (None, "qemu"):
            elf, dt = build_qemu(args.heap)
            s = sizes(elf)
            data.update({"qemu_elf": rel(elf), "qemu_board": QEMU_BOARD,
                         "qemu_heap_bytes": args.heap, "qemu_sizes": s,
                         "qemu_manifest": rel(test_manifest()), "qemu_build_s": round(dt, 1)})
            print("qemu  %-22s text %7d data %5d bss %7d  frozen %7d (%.0f %% of text)" % (
                QEMU_BOARD, s["text"], s["data"], s["bss"], s.get("frozen", 0),
                100 * s.get("frozen_share", 0)))
        if args.only in (None, "stm32"):
            elf, dt = build_stm32()
            s = sizes(elf)
            heap = heap_of_stm32_elf(elf)
            data.update({"board_image": rel(elf.with_suffix(".bin")), "board_elf": rel(elf),
                         "board": STM32_BOARD, "board_sizes": s, "board_heap_bytes": heap,
                         "board_manifest": rel(board_manifest()),
                         "board_build_s": round(dt, 1)})
            print("stm32 %-22s text %7d data %5d bss %7d  frozen %7d (%.0f %% of text)"
                  "  heap %s" % (STM32_BOARD, s["text"], s["data"], s["bss"],
                                 s.get("frozen", 0), 100 * s.get("frozen_share", 0), heap))
            if heap is not None and heap < QEMU_HEAP_BYTES:
                print("warning: the board's heap (%d) is below the QEMU image's (%d): the "
                      "target tests run on more heap than the board has" % (heap,
                                                                         QEMU_HEAP_BYTES))
            elif heap is not None and heap != BOARD_HEAP_BYTES:
                print("note: the board's heap is %d, BOARD_HEAP_BYTES says %d: update it"
                      % (heap, BOARD_HEAP_BYTES))
        data["micropython"] = VERSION
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        print("firmware: sizes -> %s" % rel(out))
    except FirmwareError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

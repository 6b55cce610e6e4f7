"""`make mpy`: compile the flight software to MicroPython bytecode (.mpy) with mpy-cross.

Every module of flight/, hal/ and board/ (and the pure-Python sim/ modules that hal/sim
imports, so the simulated board also runs from .mpy) is compiled into build/, keeping the
package layout.  board/main.py stays source: MicroPython boots main.py, not main.mpy.
A module mpy-cross cannot compile fails the build with its message.
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("flight", "hal", "board")
SOURCE_ONLY = {"board/main.py", "board/boot.py"}
# Host-only entry points (argparse, termios): never on the payload computer.
HOST_ONLY = {"flight/__main__.py", "hal/sim/serial_link.py"}


def sim_modules_for_board(root=ROOT):
    """sim/*.py files that hal/sim needs under MicroPython (listed in sim/MPY_MODULES)."""
    listing = root / "sim" / "MPY_MODULES"
    if not listing.exists():
        return []
    names = [ln.split("#")[0].strip() for ln in listing.read_text().splitlines()]
    return [root / "sim" / (n + ".py") for n in names if n]


def sources(root=ROOT):
    files = []
    for pkg in PACKAGES:
        base = root / pkg
        if base.is_dir():
            files.extend(p for p in sorted(base.rglob("*.py")) if "__pycache__" not in p.parts)
    sim = sim_modules_for_board(root)
    if sim:
        files.append(root / "sim" / "__init__.py")
        files.extend(sim)
    return files


def mpy_cross_binary():
    exe = Path(sys.executable).with_name("mpy-cross")
    if exe.exists():
        return str(exe)
    found = shutil.which("mpy-cross")
    if not found:
        raise SystemExit("mpy-cross not found: run `make setup`")
    return found


def build(out_dir, root=ROOT, verbose=False):
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    mpyc = mpy_cross_binary()
    built = []
    errors = []
    for src in sources(root):
        rel = src.relative_to(root).as_posix()
        if rel in HOST_ONLY:
            continue
        if rel in SOURCE_ONLY:
            dst = out_dir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            built.append(dst)
            continue
        dst = (out_dir / rel).with_suffix(".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        # -s sets the source name in tracebacks to the repo-relative path.
        proc = subprocess.run([mpyc, "-s", rel, "-o", str(dst), str(src)],
                              capture_output=True, text=True, cwd=str(root))
        if proc.returncode != 0:
            errors.append("%s: %s" % (rel, (proc.stderr or proc.stdout).strip()))
            continue
        built.append(dst)
        if verbose:
            print("mpy-cross %s -> %s" % (rel, dst.relative_to(out_dir.parent)))
    return built, errors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "build"), help="output folder (default build/)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    built, errors = build(args.out, verbose=args.verbose)
    for e in errors:
        print("error:", e, file=sys.stderr)
    total = sum(p.stat().st_size for p in built)
    print("mpy: %d file(s), %d bytes in %s%s" % (len(built), total, args.out,
                                                 ", %d FAILED" % len(errors) if errors else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

"""`make mpy`: compile what the board manifest lists to MicroPython bytecode (.mpy).

The file list comes from ``board/manifest.py`` (MicroPython's manifest form, read by
tools/manifest.py): flight/ and hal/ without the simulated backend and the host-only
entry points, and board/main.py.  Each file lands in build/ at its board path
(``build/flight/app.mpy``); ``main.py``/``boot.py`` stay source, since MicroPython boots
``main.py``, not ``main.mpy``.  ``--manifest tests/manifest.py`` builds the test set
(adds hal/sim and the sim physics, so the simulated board also runs from .mpy).
A module mpy-cross cannot compile fails the build with its message.
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from tools import manifest as manifest_mod

ROOT = Path(__file__).resolve().parents[1]
SOURCE_ONLY = {"main.py", "boot.py"}


def sources(root=ROOT, manifest=None):
    """[Entry(source, target)] of the manifest (default: root/board/manifest.py)."""
    root = Path(root)
    if manifest is None:
        manifest = root / "board" / "manifest.py"
    return manifest_mod.read(manifest)


def built_name(target):
    """Where a manifest target lands in build/: ``x/y.py`` -> ``x/y.mpy``; main.py as is."""
    return target if target in SOURCE_ONLY else target[:-3] + ".mpy"


def mpy_cross_binary():
    exe = Path(sys.executable).with_name("mpy-cross")
    if exe.exists():
        return str(exe)
    found = shutil.which("mpy-cross")
    if not found:
        raise SystemExit("mpy-cross not found: run `make setup`")
    return found


def build(out_dir, root=ROOT, verbose=False, manifest=None):
    out_dir = Path(out_dir)
    root = Path(root)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    mpyc = mpy_cross_binary()
    built = []
    errors = []
    for src, target in sources(root, manifest):
        dst = out_dir / built_name(target)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if target in SOURCE_ONLY:
            shutil.copyfile(src, dst)
            built.append(dst)
            continue
        try:
            shown = src.relative_to(root.resolve()).as_posix()
        except ValueError:
            shown = target
        # -s sets the source name in tracebacks to the repo-relative path.
        # Viper/native code is machine code for the payload computer (STM32H743).
        arch = ["-march=armv7emdp"] if "@micropython.viper" in src.read_text() else []
        proc = subprocess.run([mpyc, "-s", shown] + arch + ["-o", str(dst), str(src)],
                              capture_output=True, text=True, cwd=str(root))
        if proc.returncode != 0:
            errors.append("%s: %s" % (shown, (proc.stderr or proc.stdout).strip()))
            continue
        built.append(dst)
        if verbose:
            print("mpy-cross %s -> %s" % (shown, dst.relative_to(out_dir.parent)))
    return built, errors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "build"), help="output folder (default build/)")
    ap.add_argument("--manifest", default=str(manifest_mod.BOARD),
                    help="manifest to build (default board/manifest.py)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    try:
        built, errors = build(args.out, verbose=args.verbose, manifest=args.manifest)
    except manifest_mod.ManifestError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    for e in errors:
        print("error:", e, file=sys.stderr)
    total = sum(p.stat().st_size for p in built)
    print("mpy: %d file(s), %d bytes in %s%s" % (len(built), total, args.out,
                                                 ", %d FAILED" % len(errors) if errors else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

"""`make deploy PORT=...`: copy the `make mpy` build to the payload computer with mpremote.

    python -m tools.deploy --port /dev/ttyACM0 [--build build] [--key-file keys.txt]
                           [--dev-key] [--dry-run] [--no-maintenance]

Steps (each one ``mpremote`` command; ``--dry-run`` prints them and runs nothing):

1. *maintenance* — ``mpremote connect PORT exec "..."``: if the flight application is
   running, mpremote's Ctrl-C makes board/main.py reboot into a maintenance boot (the
   started watchdog cannot be stopped, see board/main.py); this step may then fail while
   the USB port re-enumerates, which is expected: the tool waits and goes on.
2. *copy* — ``mpremote connect PORT fs cp -r build/flight build/hal : + fs cp
   build/main.py :main.py`` (mpremote skips files whose hash is unchanged), plus
   ``keys.txt`` when ``--key-file`` is given (provisioning; the file is first checked
   exactly as the payload checks it, flight.keystore.check_key_file, also by
   ``--dry-run``: a bad file stops the deploy with status 2), or the bench flag
   ``devkey.flag`` with ``--dev-key`` (the only way the payload accepts the public
   development key, docs/security.md).  A deploy with ``--key-file`` removes a flag
   left from the bench (step *unflag*, may fail when there is none).  What is copied
   comes from the board manifest (board/manifest.py, the list `make mpy` built): its
   top-level packages recursively, its top-level modules one by one.
3. *reset* — ``mpremote connect PORT reset``: the board boots the new software.

Exit status: 0, or the first failing step's mpremote status (1 when mpremote is missing
or the build folder lacks a file the manifest lists).
"""

import argparse
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tools import build_mpy
from tools import manifest as manifest_mod

ROOT = Path(__file__).resolve().parents[1]
MAINT_CODE = "pass"
REENUMERATE_S = 3.0
DEV_FLAG_SRC = ROOT / "tools" / "devkey.flag"


def mpremote_binary():
    exe = Path(sys.executable).with_name("mpremote")
    if exe.exists():
        return str(exe)
    return shutil.which("mpremote") or "mpremote"


def board_layout(manifest=None):
    """(packages, modules, files) of the board manifest, as `make mpy` builds them:
    top-level package folders, top-level modules, and every built file (build/-relative)."""
    targets = manifest_mod.targets(manifest_mod.BOARD if manifest is None else manifest)
    files = [build_mpy.built_name(t) for t in targets]
    packages = sorted({f.split("/")[0] for f in files if "/" in f})
    modules = [f for f in files if "/" not in f]
    return packages, modules, files


def plan(port, build, key_file=None, maintenance=True, mpremote="mpremote", manifest=None,
         dev_key=False):
    """[(label, argv, may_fail)] — the mpremote commands of a deploy, in order."""
    b = Path(build)
    packages, modules, _ = board_layout(manifest)
    steps = []
    if maintenance:
        steps.append(("maintenance", [mpremote, "connect", port, "exec", MAINT_CODE], True))
    cp = [mpremote, "connect", port, "fs", "cp", "-r"]
    cp += [str(b / p) for p in packages] + [":"]
    for m in modules:
        cp += ["+", "fs", "cp", str(b / m), ":" + m]
    if key_file:
        cp += ["+", "fs", "cp", str(key_file), ":keys.txt"]
    if dev_key:
        cp += ["+", "fs", "cp", str(DEV_FLAG_SRC), ":devkey.flag"]
    steps.append(("copy", cp, False))
    if key_file:  # flight keys: a bench flag left on the board must go
        steps.append(("unflag", [mpremote, "connect", port, "fs", "rm", ":devkey.flag"], True))
    steps.append(("reset", [mpremote, "connect", port, "reset"], False))
    return steps


def check_key(path):
    """None, or why the key file at ``path`` would be refused by the payload."""
    from flight.keystore import check_key_file

    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        return "cannot read: %s" % (e.strerror or e)
    return check_key_file(raw)[1]


def check_build(build, manifest=None):
    """The files of the manifest missing from the build folder (build/-relative paths)."""
    b = Path(build)
    return [f for f in board_layout(manifest)[2] if not (b / f).is_file()]


def _summary(missing):
    more = len(missing) - 3
    return ", ".join(missing[:3]) + (" and %d more" % more if more > 0 else "")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True, help="the board's USB serial port (mpremote device)")
    ap.add_argument("--build", default=str(ROOT / "build"), help="output of `make mpy` (build/)")
    ap.add_argument("--key-file", help="also provision this TC key file as :keys.txt")
    ap.add_argument("--dev-key", action="store_true",
                    help="bench board: write devkey.flag so the payload may use the public "
                         "development key (never with --key-file)")
    ap.add_argument("--dry-run", action="store_true", help="print the mpremote commands only")
    ap.add_argument("--no-maintenance", action="store_true",
                    help="skip step 1 (the board already sits in its REPL)")
    args = ap.parse_args(argv)
    if args.dev_key and args.key_file:
        print("deploy: error: give either --key-file or --dev-key", file=sys.stderr)
        return 2
    if args.key_file:
        why = check_key(args.key_file)
        if why:
            print("deploy: error: key file %s: %s" % (args.key_file, why), file=sys.stderr)
            return 2
    build = Path(args.build)
    try:
        shown = build.relative_to(Path.cwd())
    except ValueError:
        shown = build
    steps = plan(args.port, shown, args.key_file, not args.no_maintenance,
                 "mpremote" if args.dry_run else mpremote_binary(), dev_key=args.dev_key)
    missing = check_build(build)
    if args.dry_run:
        if missing:
            print("# note: %s missing in %s: run `make mpy` first" % (_summary(missing), shown))
        for label, argv_, may_fail in steps:
            print("%s   # %s%s" % (" ".join(shlex.quote(a) for a in argv_), label,
                                   " (may fail: the board reboots into maintenance)"
                                   if may_fail else ""))
        return 0
    if missing:
        print("deploy: error: %s missing in %s: run `make mpy` first"
              % (_summary(missing), shown),
              file=sys.stderr)
        return 1
    for label, argv_, may_fail in steps:
        print("deploy: %s: %s" % (label, " ".join(shlex.quote(a) for a in argv_)), flush=True)
        try:
            rc = subprocess.call(argv_)
        except OSError as e:
            print("deploy: error: cannot run mpremote: %s" % e, file=sys.stderr)
            return 1
        if rc != 0:
            if may_fail and label != "maintenance":
                print("deploy: %s step ended with status %d: ignored" % (label, rc), flush=True)
                continue
            if may_fail:
                print("deploy: %s step ended with status %d (expected if the application "
                      "was running); waiting %.0f s for the board" % (label, rc, REENUMERATE_S),
                      flush=True)
                time.sleep(REENUMERATE_S)
                continue
            print("deploy: error: %s step failed (mpremote status %d)" % (label, rc),
                  file=sys.stderr)
            return rc
        if label == "maintenance":
            continue
    print("deploy: done; the board boots the new software")
    return 0


if __name__ == "__main__":
    sys.exit(main())

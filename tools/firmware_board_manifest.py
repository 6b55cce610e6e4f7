# TEMPORARY board manifest (MicroPython manifest form), used by `make firmware` only until
# `board/manifest.py` exists (issue 10/11: one board manifest, written by the `infra`
# branch); tools/firmware.py prefers that file as soon as it is there.
# What ships to the payload computer: flight/ and hal/ without the simulated board and
# without the host-only entry points.  Executed by MicroPython's makemanifest with the
# current directory set to this file's folder, so paths are relative to tools/.
import os

_HOST_ONLY = ("flight/__main__.py", "hal/sim/serial_link.py")


def _tree(pkg, skip=()):
    for dirpath, dirnames, filenames in os.walk(os.path.join("..", pkg)):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        rel_dir = os.path.relpath(dirpath, "..").replace(os.sep, "/")
        if any(rel_dir == s or rel_dir.startswith(s + "/") for s in skip):
            continue
        for name in sorted(filenames):
            rel = rel_dir + "/" + name
            if name.endswith(".py") and rel not in _HOST_ONLY:
                module(rel, base_path="..")  # noqa: F821 (manifest API)


_tree("flight")
_tree("hal", skip=("hal/sim",))

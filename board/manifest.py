# What goes on the payload computer, in MicroPython's manifest form: a firmware build
# freezes it (FROZEN_MANIFEST=/abs/path/board/manifest.py); `make mpy`, `make deploy` and
# the test VM read it through tools/manifest.py, which needs no MicroPython tree.
#
# Paths are relative to this file (MicroPython's tools run a manifest from its folder).
# All of flight/ and hal/ ships, so a new module needs no edit here, except what never
# runs on the board: the host-only entry point and the simulated backend (the tests add
# it back in tests/manifest.py).  board/main.py becomes the board's main.py.
import os

NOT_ON_BOARD = (
    "flight/__main__.py",  # `python -m flight --board sim`: argparse, host only
    "hal/sim",  # the simulated backend and its physics
)


def _board_files(pkg):
    """pkg's .py files, relative to pkg, in a stable order, without NOT_ON_BOARD."""
    found = []
    for dirpath, dirnames, filenames in os.walk(os.path.join("..", pkg)):
        rel = os.path.relpath(dirpath, "..").replace(os.sep, "/")
        dirnames[:] = sorted(d for d in dirnames
                             if d != "__pycache__" and rel + "/" + d not in NOT_ON_BOARD)
        for name in sorted(filenames):
            if name.endswith(".py") and rel + "/" + name not in NOT_ON_BOARD:
                found.append((rel + "/" + name)[len(pkg) + 1:])
    return found


package("flight", files=_board_files("flight"), base_path="..")
package("hal", files=_board_files("hal"), base_path="..")
module("main.py")

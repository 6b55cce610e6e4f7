# TEMPORARY test manifest (MicroPython manifest form) for the QEMU image, used by
# `make firmware` only until the `infra` branch's test manifest lands (board manifest +
# hal/sim + the sim physics modules).  Paths relative to tools/ (makemanifest runs it
# with this folder as the current directory).
import os

include("firmware_board_manifest.py")  # noqa: F821 (manifest API)

for _dirpath, _dirs, _files in os.walk(os.path.join("..", "hal", "sim")):
    for _name in sorted(_files):
        if _name.endswith(".py") and _name != "serial_link.py":  # host-only (termios)
            module("hal/sim/" + _name, base_path="..")  # noqa: F821

# sim/MPY_MODULES lists the physics modules hal/sim imports under MicroPython.
module("sim/__init__.py", base_path="..")  # noqa: F821
with open(os.path.join("..", "sim", "MPY_MODULES")) as _f:
    for _line in _f:
        _n = _line.split("#")[0].strip()
        if _n:
            module("sim/" + _n + ".py", base_path="..")  # noqa: F821

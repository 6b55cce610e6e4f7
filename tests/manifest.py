# What the MicroPython test runs need: the board manifest plus the simulated backend
# (hal/sim) and the sim/ physics models it runs on.  The MicroPython VM runner
# (tools/mpyvm) loads these files; a test firmware freezes this manifest
# (FROZEN_MANIFEST=/abs/path/tests/manifest.py).  Same form as board/manifest.py; paths
# are relative to this file.
import os

include("../board/manifest.py")

# Host-only parts of hal/sim (termios pty link for `python -m flight`): never in a VM.
HOST_ONLY = ("serial_link.py",)

package("hal", base_path="..", files=sorted(
    "sim/" + name for name in os.listdir("../hal/sim")
    if name.endswith(".py") and name not in HOST_ONLY))

# The physics models below hal/sim: one name a line in sim/MPY_MODULES (owned by sim/).
with open("../sim/MPY_MODULES") as _f:
    _names = [ln.split("#")[0].strip() for ln in _f]
# A name is a module (sim/NAME.py) or a package's model (sim/NAME/__init__.py, e.g.
# linkbudget, whose __main__.py is its CPython command line and does not ship).
package("sim", base_path="..", files=["__init__.py"] + [
    n + ".py" if os.path.isfile("../sim/" + n + ".py") else n + "/__init__.py"
    for n in _names if n])

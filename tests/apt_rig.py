"""The APT test rig (flight/apt.py) on the kit (tests/mpy/kit.py), shared by
tests/test_apt_pixels.py, test_apt_states.py and test_apt_control.py: a sim.camera.Camera
renders the beacon spot at (pointing error - mirror deflection), a fake mirror records its
commands, a FakeCtx records events.

No pass world: the fake plant is the ideal one-frame-latency loop the APT is designed for
(the frame read at tick k shows the mirror commanded at tick k-1).
"""

import math

from flight import apt as A
from hal.interfaces import FSM_LSB_RAD
from tests.mpy.kit import rig

LSB = FSM_LSB_RAD  # rad per FSM code
DEG = math.pi / 180.0


def Rig(err=(0.004, -0.003), params=None, **kw):
    r = rig("apt", err=err, params=params, **kw)
    assert r.apt.state == (A.SEARCH if kw.get("session", True) else A.IDLE)
    return r

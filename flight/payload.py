"""Install the payload control modules on a flight application (DESIGN §3.3–3.6).

Session start order (flight.modes): SiPM bias ramp → APT (camera, mirror, beacon laser;
the downlink laser and the framer's transmitter once APT tracks) → framer → comparator.
Modules whose devices the board lacks are left out (a core board runs TC/TM only).
"""

from flight.apt import Apt
from flight.bias import BiasControl
from flight.comparator import ComparatorControl
from flight.framer_ctl import FramerControl


def install(app):
    b = app.board
    mods = {}  # type: dict
    if b.bias is not None and b.temps:
        mods["bias"] = BiasControl(app, b.bias, b.temps, b.power)
        app.add_module(mods["bias"])
    fc = None
    if b.framer is not None:
        fc = FramerControl(app, b.framer, b.power)
    if b.camera is not None and b.fsm is not None:
        apt = Apt(app, b.camera, b.fsm, b.power)
        if fc is not None:
            apt.on_laser = fc.enable_tx
        mods["apt"] = apt
        app.add_module(apt)
    if fc is not None:
        mods["framer"] = fc
        app.add_module(fc)
        if b.comparator is not None:
            mods["comparator"] = ComparatorControl(app, b.comparator, fc)
            app.add_module(mods["comparator"])
    app.payload = mods
    return mods

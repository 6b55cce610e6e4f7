"""Install the payload control modules on a flight application (DESIGN §3.3–3.6).

Session start order (flight.modes): SiPM bias ramp → APT (camera, mirror, beacon laser;
the downlink laser and the framer's transmitter once APT tracks) → framer → SiPM
breakdown sweep (flight.bias_knee, held only while it is needed: flight.knee_owner)
→ comparator.
Modules whose devices the board lacks are left out (a core board runs TC/TM only; their
commands then complete UNAVAILABLE).  Each module gets the app's narrow context
(flight.context.Context), never the app.
"""

from flight.apt import Apt
from flight.apt_calib import FsmCalOwner
from flight.bore_scan import BoreScan
from flight.bias import BiasControl
from flight.comparator import ComparatorControl
from flight.framer_ctl import FramerControl
from flight.knee_owner import KneeOwner
from flight.pointahead import PointAhead


def install(app):
    b = app.board
    ctx = app.ctx
    bias = None
    if b.bias is not None and b.temps:
        bias = BiasControl(ctx, b.bias, b.temps, b.power)
        app.add_module("bias", bias)
        app.limit_check.thermal = bias.sensors  # limits trust what the cross-check trusts
    fc = None
    if b.framer is not None:
        fc = FramerControl(ctx, b.framer, b.power)
    if b.camera is not None and b.fsm is not None:
        apt = Apt(ctx, b.camera, b.fsm, b.power)
        if fc is not None:
            apt.on_laser = fc.enable_tx
        app.add_module("apt", apt)
        pa = PointAhead(ctx)  # point-ahead + TX boresight: the APT's reference offset
        apt.ref_off = pa.offset
        pa.lines = apt.law.lines  # the OBC's wheel speeds to the APT's line canceller
        app.add_module("pointahead", pa)
        pa.scan = BoreScan(ctx, apt)  # on-orbit TX boresight scan: trials on the boresight
        app.add_module("borescan", pa.scan)
        app.add_module("aptcal", FsmCalOwner(ctx, apt))  # FSM calibration (apt.cal while armed)
    if fc is not None:
        app.add_module("framer", fc)
        if b.camera is not None and b.fsm is not None:  # the survey's cadence (apt_survey.py)
            apt.search.survey.framer = fc
        if b.comparator is not None:
            comp = ComparatorControl(ctx, b.comparator, fc)
            if bias is not None:  # the breakdown sweep precedes the comparator's start
                comp.knee = KneeOwner(ctx, bias, fc, b.comparator, comp)  # (flight.bias_knee)
                app.add_module("bias_knee", comp.knee)
            app.add_module("comparator", comp)
    return app.payload

